"""``taskclf export dataset``: what one user shares with their team, and nothing more.

Only labelled buckets leave the home, as Parquet files (one per pseudonymous user and local
month) of the model's feature columns minus those keyed per install, with the label, its
provenance, the local day and the bucket start. User ids are replaced by
``HMAC-SHA256(home salt, user id)`` (first 16 hex): the salt is created once per home
(``team_export_salt``, 0600) and never exported, so successive exports of one home agree (months
join into one user) while nobody holding the files can recover or test a user id. Titles,
title hashes, sessions, devices, activity records, predictions and unlabelled buckets are never
written. ``manifest.json`` lists every file with its row count and SHA-256.

pyarrow comes with the ``[team]`` extra; the agent and the engine never import it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import ArtifactError, TaskclfError
from engine.frame import NUMERIC_INDEX, Frame
from engine.jsonio import atomic_write_bytes, dumps, read_bounded_bytes
from engine.labels import LABEL_ORDER
from engine.schema import (
    CATEGORICAL_COLUMNS,
    FEATURE_BUILDER_VERSION,
    MODEL_COLUMNS,
    PER_INSTALL_COLUMNS,
    SCHEMA_HASH_V2,
    SCHEMA_VERSION,
)

DATASET_FORMAT = "taskclf-dataset"
DATASET_VERSION = 1
MANIFEST_FILE = "manifest.json"
SALT_FILE = "team_export_salt"
PSEUDONYM = "hmac-sha256(home salt, user_id)[:16]"
#: The feature columns a team sees: the model's, minus those keyed per install.
EXPORTED_FEATURES: tuple[str, ...] = tuple(c for c in MODEL_COLUMNS if c not in PER_INSTALL_COLUMNS)
#: Every column of an exported file, in order.
COLUMNS: tuple[str, ...] = ("user", "local_day", "bucket_start", "label", "provenance", "schema_hash",
                            "feature_builder_version", *EXPORTED_FEATURES)


def home_salt(home: Path) -> bytes:
    """This home's pseudonymisation salt (32 random bytes, created once, 0600, never exported)."""
    path = home / SALT_FILE
    if path.exists():
        data = read_bounded_bytes(path, 1024)
        if len(data) != 32:
            raise ArtifactError(path, None, "must hold 32 bytes (delete it to start new pseudonyms)")
        return data
    salt = secrets.token_bytes(32)
    atomic_write_bytes(path, salt, mode=0o600)
    return salt


def pseudonym(salt: bytes, user_id: str) -> str:
    return hmac.new(salt, user_id.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def _schema() -> Any:
    import pyarrow as pa

    fields = [
        pa.field("user", pa.string(), nullable=False),
        pa.field("local_day", pa.date32(), nullable=False),
        pa.field("bucket_start", pa.timestamp("s", tz="UTC"), nullable=False),
        pa.field("label", pa.dictionary(pa.int8(), pa.string()), nullable=False),
        pa.field("provenance", pa.string()),
        pa.field("schema_hash", pa.string(), nullable=False),
        pa.field("feature_builder_version", pa.int32(), nullable=False),
    ]
    for col in EXPORTED_FEATURES:
        fields.append(pa.field(col, pa.string() if col in CATEGORICAL_COLUMNS else pa.float64()))
    meta = {"format": DATASET_FORMAT, "version": str(DATASET_VERSION), "schema_version": SCHEMA_VERSION,
            "schema_hash": SCHEMA_HASH_V2, "feature_builder_version": str(FEATURE_BUILDER_VERSION),
            "pseudonym": PSEUDONYM}
    return pa.schema(fields, metadata=meta)


def _table(frame: Frame, idx: np.ndarray, user: str) -> Any:
    import pyarrow as pa

    il = idx.tolist()
    n = len(il)
    labels = pa.DictionaryArray.from_arrays(pa.array(frame.y[idx].astype(np.int8)), pa.array(list(LABEL_ORDER)))
    cols: dict[str, Any] = {
        "user": pa.array([user] * n, pa.string()),
        "local_day": pa.array([date.fromordinal(int(d)) for d in frame.local_day[idx]], pa.date32()),
        "bucket_start": pa.array(frame.bucket_start[idx], pa.timestamp("s", tz="UTC")),
        "label": labels,
        "provenance": pa.array([frame.provenance[i] for i in il], pa.string()),
        "schema_hash": pa.array([SCHEMA_HASH_V2] * n, pa.string()),
        "feature_builder_version": pa.array([FEATURE_BUILDER_VERSION] * n, pa.int32()),
    }
    for col in EXPORTED_FEATURES:
        if col in CATEGORICAL_COLUMNS:
            cols[col] = pa.array([frame.categorical[col][i] for i in il], pa.string())
        else:
            cols[col] = pa.array(frame.numeric[idx, NUMERIC_INDEX[col]], pa.float64())
    return pa.Table.from_pydict(cols, schema=_schema())


@dataclass
class ExportOutcome:
    out_dir: Path
    manifest: dict[str, Any]


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def export_dataset(
    home: Path,
    out_dir: Path,
    *,
    start: date | None = None,
    end: date | None = None,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> ExportOutcome:
    """Write this home's labelled buckets to ``out_dir`` (which must not exist or be empty)."""
    import pyarrow.parquet as pq

    from engine.frame_loader import load_frame
    from engine.paths import store_path
    from engine.store import Store

    home = Path(home).resolve()
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise TaskclfError(f"--out: {out_dir}: exists and is not an empty folder")
    spath = store_path(home)
    if not spath.is_file():
        raise TaskclfError(f"{spath}: no store yet (nothing to export)")
    with Store.open(spath, readonly=True) as store:
        frame, _ = load_frame([store], start=start, end=end, progress=progress)
    labelled = np.flatnonzero(frame.y >= 0)
    if len(labelled) == 0:
        raise TaskclfError("no labelled buckets in this home" + (" in that range" if start or end else ""))
    frame = frame.take(labelled)
    salt = home_salt(home)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        users = np.asarray([pseudonym(salt, u) for u in frame.user_ids], dtype=object)
        months = np.asarray([date.fromordinal(int(d)).strftime("%Y-%m") for d in frame.local_day], dtype=object)
        files = []
        for user in sorted(set(users.tolist())):
            for month in sorted(set(months[users == user].tolist())):
                idx = np.flatnonzero((users == user) & (months == month))
                rel = f"{user}/{month}.parquet"
                (tmp / user).mkdir(exist_ok=True)
                pq.write_table(_table(frame, idx, user), tmp / rel, compression="zstd")
                counts = np.bincount(frame.y[idx], minlength=len(LABEL_ORDER))
                files.append({"path": rel, "user": user, "month": month, "rows": len(idx),
                              "sha256": _sha256(tmp / rel),
                              "labels": {lab: int(c) for lab, c in zip(LABEL_ORDER, counts, strict=True) if c}})
        manifest = {
            "format": DATASET_FORMAT, "version": DATASET_VERSION,
            "schema_version": SCHEMA_VERSION, "schema_hash": SCHEMA_HASH_V2,
            "feature_builder_version": FEATURE_BUILDER_VERSION, "pseudonym": PSEUDONYM,
            "created_at": (now or datetime.now(UTC)).isoformat(),
            "from": start.isoformat() if start else None, "to": end.isoformat() if end else None,
            "columns": list(COLUMNS), "label_order": list(LABEL_ORDER),
            "users": len({f["user"] for f in files}), "rows": int(sum(f["rows"] for f in files)),
            "files": files,
        }
        atomic_write_bytes(tmp / MANIFEST_FILE, dumps(manifest).encode("utf-8"))
        if out_dir.exists():
            out_dir.rmdir()
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ExportOutcome(out_dir, manifest)
