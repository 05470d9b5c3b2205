"""Label spans as CSV: ``taskclf labels export`` / ``import`` (spec 3.1, 6.1).

Columns: ``start_ts,end_ts,label,user_id,provenance,confidence,created_at``. Export writes
ISO-8601 UTC timestamps with microseconds when present and the shortest exact text of the
confidence, so export -> import gives back the very same spans.

Import is careful with hand-written files: the header may list the columns in any order and
omit the optional ones (``user_id`` falls back to a default user, ``provenance`` to ``import``,
``confidence`` to empty, ``created_at`` to the time of the import); labels match case-insensitively;
every timestamp needs an explicit UTC offset (``Z`` or ``+01:00``), because a bare local time
would silently shift labels. A bad line is reported as ``file:line N: field: reason``; by default
one bad line refuses the whole file (nothing is imported), with ``skip_bad_lines`` the good
lines are kept and the bad ones listed.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING

from engine.errors import ArtifactError
from engine.labels import CORE_LABELS, PROVENANCES
from engine.spans import LabelSpan
from engine.timebounds import to_utc

if TYPE_CHECKING:
    from engine.store import Store

COLUMNS: tuple[str, ...] = (
    "start_ts", "end_ts", "label", "user_id", "provenance", "confidence", "created_at",
)
REQUIRED_COLUMNS: frozenset[str] = frozenset({"start_ts", "end_ts", "label"})
DEFAULT_PROVENANCE = "import"
MAX_BYTES = 64 * 1024 * 1024

_LABELS_BY_LOWER = {name.lower(): name for name in CORE_LABELS}


@dataclass(frozen=True)
class ImportResult:
    """The spans read from a file, the bad lines (when skipped) and non-fatal notes."""

    spans: list[LabelSpan]
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class BadLinesError(ArtifactError):
    """A file with bad lines: the message names the first one, ``errors`` lists them all."""

    def __init__(self, first: ArtifactError, errors: list[str]) -> None:
        reason = first.reason
        if len(errors) > 1:
            reason = f"{reason} (and {len(errors) - 1} more bad line(s); nothing was imported)"
        else:
            reason = f"{reason} (nothing was imported)"
        super().__init__(first.path, first.field, reason)
        self.errors = list(errors)


# --- export ---------------------------------------------------------------------------------


def format_ts(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def format_confidence(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def export_spans(spans: Iterable[LabelSpan], fh: IO[str]) -> int:
    """Write ``spans`` as CSV (header first) to a text stream; returns the number of rows.

    Open files with ``newline=""`` so the csv module controls line endings.
    """
    fh.write(",".join(COLUMNS) + "\n")
    n = 0
    for s in spans:
        cells = (
            format_ts(s.start_ts), format_ts(s.end_ts), s.label, s.user_id, s.provenance,
            format_confidence(s.confidence), format_ts(s.created_at),
        )
        fh.write(",".join(_quote(c) for c in cells) + "\n")
        n += 1
    return n


def _quote(cell: str) -> str:
    """RFC 4180 quoting, also for a lone carriage return (the csv writer leaves it bare when
    lines end with "\n", and a reader would then split the row there)."""
    if any(ch in cell for ch in ',"\r\n') or cell != cell.strip():
        return '"' + cell.replace('"', '""') + '"'
    return cell


def spans_to_csv(spans: Iterable[LabelSpan]) -> str:
    buf = io.StringIO()
    export_spans(spans, buf)
    return buf.getvalue()


def export_spans_to_path(spans: Iterable[LabelSpan], path: Path) -> int:
    """Write the CSV atomically (temp file + rename), owner-only: labels are personal data."""
    from engine.jsonio import atomic_write_bytes

    spans = list(spans)
    atomic_write_bytes(path, spans_to_csv(spans).encode("utf-8"), mode=0o600)
    return len(spans)


# --- import ---------------------------------------------------------------------------------


def parse_ts(text: str, *, where: str, field_name: str) -> datetime:
    raw = text.strip()
    if not raw:
        raise ArtifactError(where, field_name, "missing")
    try:
        dt = datetime.fromisoformat(raw[:-1] + "+00:00" if raw[-1:] in ("Z", "z") else raw)
    except ValueError:
        raise ArtifactError(where, field_name, f"not an ISO-8601 timestamp: {raw[:40]!r}") from None
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ArtifactError(where, field_name, "needs a UTC offset (e.g. Z or +01:00)")
    return to_utc(dt, where=where, field=field_name)


def _parse_row(
    cells: dict[str, str], *, where: str, user_id_default: str | None, now: datetime
) -> LabelSpan:
    start = parse_ts(cells.get("start_ts", ""), where=where, field_name="start_ts")
    end = parse_ts(cells.get("end_ts", ""), where=where, field_name="end_ts")
    raw_label = cells.get("label", "").strip()
    label = _LABELS_BY_LOWER.get(raw_label.lower())
    if label is None:
        raise ArtifactError(
            where, "label",
            f"unknown label {raw_label[:40]!r} (expected one of {', '.join(CORE_LABELS)})",
        )
    user_id = cells.get("user_id", "")
    if not user_id.strip():
        if user_id_default is None:
            raise ArtifactError(where, "user_id", "missing (and no default user given)")
        user_id = user_id_default
    provenance = cells.get("provenance", "").strip().lower() or DEFAULT_PROVENANCE
    if provenance not in PROVENANCES:
        raise ArtifactError(
            where, "provenance",
            f"unknown provenance {provenance[:40]!r} (expected one of {', '.join(sorted(PROVENANCES))})",
        )
    raw_conf = cells.get("confidence", "").strip()
    confidence: float | None = None
    if raw_conf:
        try:
            confidence = float(raw_conf)
        except ValueError:
            raise ArtifactError(where, "confidence", f"not a number: {raw_conf[:40]!r}") from None
        if not math.isfinite(confidence) or not 0.0 <= confidence <= 1.0:
            raise ArtifactError(where, "confidence", "must be a number within 0..1 (or empty)")
    raw_created = cells.get("created_at", "")
    created = parse_ts(raw_created, where=where, field_name="created_at") if raw_created.strip() else now
    span = LabelSpan(start, end, label, user_id, provenance, confidence, created).validate(where=where)
    refuse_future(span, now, where=where, field="end_ts")
    return span


#: How far past "now" a span may end (the minute in progress, clocks a little apart).
FUTURE_SLACK = timedelta(minutes=1)


def refuse_future(span: LabelSpan, now: datetime, *, where: str | None, field: str) -> None:
    """A label says what the user *did*: a span ending in the future is a typo (a wrong year,
    AM/PM), refused rather than stored to silently label buckets that do not exist yet."""
    if span.end_ts > now + FUTURE_SLACK:
        raise ArtifactError(
            where, field, f"{span.end_ts.isoformat()} is in the future (now {now.replace(microsecond=0).isoformat()})"
        )


def _read_text(path: Path) -> str:
    from engine.jsonio import read_bounded_bytes

    data = read_bounded_bytes(path, MAX_BYTES)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ArtifactError(f"{path}:line {line}", None, "not UTF-8 text") from None


def import_spans(
    path: Path,
    *,
    user_id_default: str | None,
    skip_bad_lines: bool = False,
    now: datetime | None = None,
) -> ImportResult:
    """Read label spans from a CSV file (nothing is stored here; see ``Store.add_label_spans``).

    Without ``skip_bad_lines`` any bad line raises ``BadLinesError`` (an ``ArtifactError``:
    "file:line N: field: reason", with every bad line in ``.errors``); a bad header or an
    unreadable file always raises.
    """
    path = Path(path)
    return parse_spans_csv(
        _read_text(path), source=str(path), user_id_default=user_id_default,
        skip_bad_lines=skip_bad_lines, now=now,
    )


def parse_spans_csv(
    text: str,
    *,
    source: str = "<csv>",
    user_id_default: str | None,
    skip_bad_lines: bool = False,
    now: datetime | None = None,
) -> ImportResult:
    """:func:`import_spans` on text already read (``source`` names it in messages)."""
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        raise ArtifactError(None, "now", "must be timezone-aware")
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise ArtifactError(f"{source}:line {line}", None, "not valid CSV (contains a NUL byte)")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header = _read_header(reader, source)
    unknown = [h for h in header if h and h not in COLUMNS]
    warnings = [f"{source}:line 1: ignored unknown column {h!r}" for h in unknown]
    spans: list[LabelSpan] = []
    errors: list[str] = []
    first_error: ArtifactError | None = None
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise ArtifactError(f"{source}:line {reader.line_num}", None, f"not valid CSV ({exc})") from None
        where = f"{source}:line {reader.line_num}"
        if not row or all(not c.strip() for c in row):
            continue
        try:
            if len(row) > len(header):
                raise ArtifactError(where, None, f"{len(row)} cells but the header has {len(header)}")
            cells = dict(zip(header, row, strict=False))
            spans.append(_parse_row(cells, where=where, user_id_default=user_id_default, now=now))
        except ArtifactError as exc:
            errors.append(str(exc))
            if first_error is None:
                first_error = exc
    if first_error is not None and not skip_bad_lines:
        raise BadLinesError(first_error, errors)
    return ImportResult(spans=spans, errors=errors, warnings=warnings)


def _read_header(reader: Iterable[list[str]], source: str) -> list[str]:
    try:
        header = next(iter(reader))
    except StopIteration:
        raise ArtifactError(f"{source}:line 1", None, "empty file (expected a header row)") from None
    except csv.Error as exc:
        raise ArtifactError(f"{source}:line 1", None, f"not valid CSV ({exc})") from None
    names = [h.strip().lower() for h in header]
    missing = sorted(REQUIRED_COLUMNS - set(names))
    if missing:
        raise ArtifactError(
            f"{source}:line 1", "header",
            f"missing column(s) {', '.join(missing)} (expected {','.join(COLUMNS)})",
        )
    dupes = sorted({n for n in names if n and names.count(n) > 1})
    if dupes:
        raise ArtifactError(f"{source}:line 1", "header", f"duplicate column(s) {', '.join(dupes)}")
    return names


# --- helpers for the `taskclf labels` commands ---------------------------------------------------


@dataclass(frozen=True)
class StoredImport:
    """What ``import_file`` did: spans read, pieces stored, and the skipped lines."""

    read: int
    stored: int
    errors: list[str]
    warnings: list[str]


def import_file(
    store: Store,
    path: Path,
    *,
    user_id_default: str | None,
    skip_bad_lines: bool = False,
    now: datetime | None = None,
) -> StoredImport:
    """``taskclf labels import``: read the file, then store all its spans in ONE transaction
    (the overlap rule applies; a bad file stores nothing)."""
    result = import_spans(path, user_id_default=user_id_default, skip_bad_lines=skip_bad_lines, now=now)
    pieces = store.add_label_spans(result.spans) if result.spans else []
    return StoredImport(len(result.spans), len(pieces), result.errors, result.warnings)


def export_store(
    store: Store,
    fh: IO[str],
    *,
    user_id: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> int:
    """``taskclf labels export``: the store's spans (optionally one user / a window) as CSV."""
    return export_spans(store.label_spans(user_id=user_id, start=start, end=end), fh)


_CLI = "labels add"


def parse_cli_time(text: str, *, option: str) -> datetime:
    """A time typed on the command line: ISO-8601; without an offset it is local time (this
    machine's zone), which is what a person typing ``--start 2026-03-02T09:00`` means."""
    raw = text.strip()
    try:
        dt = datetime.fromisoformat(raw[:-1] + "+00:00" if raw[-1:] in ("Z", "z") else raw)
    except ValueError:
        raise ArtifactError(_CLI, option, f"not an ISO-8601 time: {raw[:40]!r} (e.g. 2026-03-02T09:00)") from None
    return to_utc(dt, where=_CLI, field=option)  # naive: local time


def span_from_cli(
    *,
    start: str,
    end: str,
    label: str,
    user_id: str,
    provenance: str = "manual",
    confidence: float | None = None,
    now: datetime | None = None,
) -> LabelSpan:
    """``taskclf labels add``: one validated span from option strings (errors name the option)."""
    canonical = _LABELS_BY_LOWER.get(label.strip().lower())
    if canonical is None:
        raise ArtifactError(_CLI, "--label", f"unknown label {label[:40]!r} (expected one of {', '.join(CORE_LABELS)})")
    now = now or datetime.now(UTC)
    span = LabelSpan(
        parse_cli_time(start, option="--start"), parse_cli_time(end, option="--end"), canonical,
        user_id, provenance, confidence, now,
    )
    try:
        span.validate()
    except ArtifactError as exc:
        option = {"end_ts": "--end", "start_ts": "--start", "user_id": "--user-id"}.get(exc.field or "", exc.field)
        raise ArtifactError(_CLI, option, exc.reason) from None
    refuse_future(span, now, where=_CLI, field="--end")
    return span
