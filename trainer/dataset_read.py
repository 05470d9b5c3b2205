"""Exported datasets (``taskclf export dataset``) back into one training frame.

Every dataset is checked before a row is used: its manifest (format, version, schema hash and
feature-builder version of this taskclf), each listed file (a regular file at
``<pseudonym>/<YYYY-MM>.parquet`` inside the dataset, bounded, matching its SHA-256 and row
count), and the columns. A user-month present in two datasets is refused (the same export given
twice would double its weight). Columns a dataset never carries (the per-install title bucket)
reach the model as missing, as they do for every multi-user model.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import ArtifactError, TaskclfError
from engine.frame import LABEL_INDEX, NUMERIC_INDEX, Frame
from engine.frame_build import FrameBuilder
from engine.jsonio import read_bounded_bytes, read_json
from engine.schema import (
    CATEGORICAL_COLUMNS,
    FEATURE_BUILDER_VERSION,
    SCHEMA_HASH_V2,
    SCHEMA_VERSION,
)
from trainer.dataset_export import (
    COLUMNS,
    DATASET_FORMAT,
    DATASET_VERSION,
    EXPORTED_FEATURES,
    MANIFEST_FILE,
)

MAX_PARQUET_BYTES = 1024 * 1024 * 1024
_FILE_RE = re.compile(r"^[0-9a-f]{16}/[0-9]{4}-[0-9]{2}\.parquet$")


def _check_manifest(path: Path) -> dict[str, Any]:
    m = read_json(path, max_bytes=16 * 1024 * 1024)
    if not isinstance(m, dict):
        raise ArtifactError(path, None, "must be a JSON object")
    expected = {"format": DATASET_FORMAT, "version": DATASET_VERSION, "schema_version": SCHEMA_VERSION,
                "schema_hash": SCHEMA_HASH_V2, "feature_builder_version": FEATURE_BUILDER_VERSION}
    for key, want in expected.items():
        if m.get(key) != want:
            raise ArtifactError(path, key, f"{m.get(key)!r}, this taskclf reads {want!r}")
    if not isinstance(m.get("files"), list):
        raise ArtifactError(path, "files", "must be a list")
    return m


def _read_file(root: Path, manifest_path: Path, i: int, entry: Any) -> Any:
    import io

    import pyarrow.parquet as pq

    field = f"files[{i}]"
    if not isinstance(entry, dict):
        raise ArtifactError(manifest_path, field, "must be an object")
    rel = entry.get("path")
    if not isinstance(rel, str) or not _FILE_RE.match(rel):
        raise ArtifactError(manifest_path, f"{field}.path", "must be '<pseudonym>/<YYYY-MM>.parquet'")
    data = read_bounded_bytes(root / rel, MAX_PARQUET_BYTES)
    if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
        raise ArtifactError(root / rel, None, "sha256 does not match the manifest")
    try:
        table = pq.read_table(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises many types on a corrupt file
        raise ArtifactError(root / rel, None, f"not a readable Parquet file ({type(exc).__name__})") from None
    if tuple(table.schema.names) != COLUMNS:
        raise ArtifactError(root / rel, None, "columns are not those of this dataset format")
    if table.num_rows != entry.get("rows"):
        raise ArtifactError(root / rel, None, "row count does not match the manifest")
    if set(table.column("user").to_pylist()) != {rel.split("/")[0]}:
        raise ArtifactError(root / rel, "user", "rows of another user than the file's")
    return table


#: the columns read as Python values (the numeric ones go straight into the float32 block)
_OBJECT_COLUMNS = ("label", "user", "provenance", "bucket_start", "local_day", *CATEGORICAL_COLUMNS)


def _frame(table: Any, path: Path) -> Frame:
    cols = {c: table.column(c).to_pylist() for c in _OBJECT_COLUMNS}
    n = table.num_rows
    labels = [LABEL_INDEX.get(lab, -1) for lab in cols["label"]]
    if -1 in labels:
        raise ArtifactError(path, "label", "a label outside the v1 label set")
    numeric = np.full((n, len(NUMERIC_INDEX)), np.nan, dtype=np.float32)
    for col in EXPORTED_FEATURES:
        if col not in CATEGORICAL_COLUMNS:
            numeric[:, NUMERIC_INDEX[col]] = np.asarray(
                table.column(col).to_numpy(zero_copy_only=False), dtype=np.float32)
    cats = {c: [v if isinstance(v, str) else None for v in cols[c]] for c in CATEGORICAL_COLUMNS}
    starts = [int(t.timestamp()) for t in cols["bucket_start"]]
    days = [d.toordinal() if isinstance(d, date) else 0 for d in cols["local_day"]]
    return Frame(numeric=numeric, categorical=cats, user_ids=list(cols["user"]),
                 bucket_start=np.asarray(starts, dtype=np.int64), local_day=np.asarray(days, dtype=np.int32),
                 session_ids=[None] * n, y=np.asarray(labels, dtype=np.int64), provenance=list(cols["provenance"]))


@dataclass(frozen=True)
class DatasetFile:
    """One user-month file of a checked manifest (read later, possibly on another machine)."""

    root: Path
    index: int
    entry: dict[str, Any]

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST_FILE


def list_dataset_files(dirs: Sequence[Path]) -> list[DatasetFile]:
    """Every file of the datasets' manifests (checked), refusing a user-month given twice."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise TaskclfError("--dataset needs pyarrow: install taskclf[team]") from None
    out: list[DatasetFile] = []
    seen: dict[str, Path] = {}
    for d in dirs:
        root = Path(d).expanduser().resolve()
        mpath = root / MANIFEST_FILE
        manifest = _check_manifest(mpath)
        for i, entry in enumerate(manifest["files"]):
            rel = entry.get("path") if isinstance(entry, dict) else None
            if isinstance(rel, str) and rel in seen:
                raise ArtifactError(mpath, rel, f"user-month already read from {seen[rel]}")
            if isinstance(rel, str):
                seen[rel] = root
            out.append(DatasetFile(root, i, entry))
    return out


def read_dataset_file(f: DatasetFile, *, start: date | None = None, end: date | None = None) -> Frame:
    """The checked rows of one file, within local days [start, end]."""
    table = _read_file(f.root, f.manifest_path, f.index, f.entry)
    frame = _frame(table, f.root / f.entry["path"])
    if start is not None or end is not None:
        lo = start.toordinal() if start else -(10**9)
        hi = end.toordinal() if end else 10**9
        frame = frame.take(np.flatnonzero((frame.local_day >= lo) & (frame.local_day <= hi)))
    return frame


#: the most one-minute buckets a user-month can hold (31 days)
MAX_MONTH_ROWS = 31 * 1440


def _rows_hint(rows: Any) -> int:
    """A file's row count from its manifest, for sizing only (checked when the file is read)."""
    return min(rows, MAX_MONTH_ROWS) if isinstance(rows, int) and rows > 0 else 0


def load_datasets(dirs: Sequence[Path], *, start: date | None = None, end: date | None = None) -> Frame:
    """One frame of every exported dataset in ``dirs`` (local days within [start, end]).

    Files are read one user-month at a time, in (pseudonym, month) order, each appended to one
    float32 block sized from the manifests' row counts (``engine.frame_build``): the memory is
    the frame and one file, never every file's frame beside their concatenation."""
    files = sorted(list_dataset_files(dirs), key=lambda f: str(f.entry["path"]))
    out = FrameBuilder(sum(_rows_hint(f.entry.get("rows")) for f in files))
    for f in files:
        out.add_frame(read_dataset_file(f, start=start, end=end))
    frame = out.build()
    if len(frame):
        order = np.lexsort((frame.bucket_start, np.asarray(frame.user_ids, dtype=object)))
        if not np.array_equal(order, np.arange(len(frame))):
            frame = frame.take(order)
    return frame
