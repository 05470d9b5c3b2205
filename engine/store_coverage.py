"""How completely a user's stored feature rows cover their records over a time range, from
the keys alone (``COUNT``/``MIN``/``MAX`` walks of the primary keys, nothing decoded).

Readers of a long history use it to choose, before streaming a single row, between the rows
the agent stored (exactly what it saw) and rebuilding them from the records, and to know the
time range to walk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.store_buckets import ceil_s
from engine.store_schema import to_s


@dataclass(frozen=True, slots=True)
class RowCoverage:
    """Counts of one user's buckets in a range, and the first and last bucket start (epoch s)
    of either table (None when both are empty)."""

    records: int
    feature_rows: int
    current_rows: int  #: feature rows of the given schema hash and builder version
    first: int | None
    last: int | None

    @property
    def stored_rows_usable(self) -> bool:
        """Every row of the current schema and at least one per record: read them as stored."""
        return 0 < self.feature_rows == self.current_rows and self.feature_rows >= self.records


class CoverageReads:
    """Mixin of ``Store``. Needs ``_read`` and ``_sources``."""

    _read: Callable[..., list[Any]]
    _sources: Callable[..., list[tuple[int, str, str]]]

    def row_coverage(self, user_id: str, schema_hash: str, feature_builder_version: int, *,
                     start: datetime | None = None, end: datetime | None = None) -> RowCoverage:
        """Records, feature rows and current-schema feature rows of ``user_id`` with
        ``start <= bucket_start < end``."""
        where, bounds = "src = ?", []
        if start is not None:
            where += " AND bucket_start >= ?"
            bounds.append(to_s(start, "start"))
        if end is not None:
            where += " AND bucket_start < ?"
            bounds.append(ceil_s(end))
        records = rows = current = 0
        starts: list[int] = []
        for src, _user, _device in self._sources(user_id):
            args = [src, *bounds]
            for table in ("records", "feature_rows"):
                n, lo, hi = self._read(f"SELECT COUNT(*), MIN(bucket_start), MAX(bucket_start)"
                                       f" FROM {table} WHERE {where}", args)[0]
                starts.extend(int(v) for v in (lo, hi) if v is not None)
                if table == "records":
                    records += int(n)
                else:
                    rows += int(n)
            current += int(self._read(
                f"SELECT COUNT(*) FROM feature_rows WHERE {where} AND meta IN (SELECT meta FROM row_meta"
                " WHERE schema_hash = ? AND feature_builder_version = ?)",
                [*args, schema_hash, int(feature_builder_version)])[0][0])
        return RowCoverage(records, rows, current, min(starts, default=None), max(starts, default=None))
