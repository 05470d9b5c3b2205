"""Reading feature rows given as JSON lines (``taskclf infer rows``).

One JSON object per line: the 38 model features by name (``null`` = missing; unknown keys such
as the other registry columns are ignored), ``user_id`` (required), and optionally
``bucket_start`` (ISO-8601) and ``session_id``. Every refusal is one ``ArtifactError`` naming
the line and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.errors import ArtifactError
from engine.jsonio import finite_float, loads_strict
from engine.pipeline import parse_bucket_start
from engine.schema import CATEGORICAL_COLUMNS, MODEL_COLUMNS

MAX_LINE_BYTES = 1024 * 1024
MAX_USER_ID_CHARS = 256
_CATS = frozenset(CATEGORICAL_COLUMNS)


@dataclass(frozen=True, slots=True)
class RowInput:
    features: dict[str, Any]
    user_id: str
    bucket_start: datetime | None
    session_id: str | None


def parse_row(obj: Any, *, where: str) -> RowInput:
    """Validate one decoded row; ``where`` names it in errors (e.g. ``"line 7"``)."""
    if not isinstance(obj, dict):
        raise ArtifactError(where, None, "expected a JSON object of feature values")
    uid = obj.get("user_id")
    if not isinstance(uid, str) or not uid:
        raise ArtifactError(where, "user_id", "required non-empty string")
    if len(uid) > MAX_USER_ID_CHARS:
        raise ArtifactError(where, "user_id", f"longer than {MAX_USER_ID_CHARS} characters")
    sid = obj.get("session_id")
    if sid is not None and not isinstance(sid, str):
        raise ArtifactError(where, "session_id", "must be a string or null")
    # ``bucket_start``, or the registry's own column name (feature rows written by the builder).
    bs_field = "bucket_start" if obj.get("bucket_start") is not None else "bucket_start_ts"
    bs_raw = obj.get(bs_field)
    bucket_start = None
    if bs_raw is not None:
        try:
            bucket_start = parse_bucket_start(bs_raw)
        except ArtifactError as exc:
            raise ArtifactError(where, bs_field, exc.reason) from None
    features: dict[str, Any] = {}
    for name in MODEL_COLUMNS:
        v = obj.get(name)
        if v is None:
            features[name] = None
        elif name in _CATS:
            if not isinstance(v, str):
                raise ArtifactError(where, name, "expected a string or null")
            features[name] = v
        else:
            if isinstance(v, bool):
                features[name] = v
            elif isinstance(v, int | float):
                if finite_float(v) is None:
                    raise ArtifactError(where, name, "must be finite")
                features[name] = v
            else:
                raise ArtifactError(where, name, "expected a number, a boolean or null")
    return RowInput(features=features, user_id=uid, bucket_start=bucket_start, session_id=sid)


def parse_row_line(line: str | bytes, *, line_no: int) -> RowInput | None:
    """One input line -> a row, or ``None`` for a blank line."""
    where = f"line {line_no}"
    if len(line) > MAX_LINE_BYTES:
        raise ArtifactError(where, None, f"longer than {MAX_LINE_BYTES} bytes")
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError:
            raise ArtifactError(where, None, "not UTF-8 text") from None
    if not line.strip():
        return None
    try:
        obj = loads_strict(line)
    except ArtifactError as exc:
        raise ArtifactError(where, None, exc.reason) from None
    return parse_row(obj, where=where)
