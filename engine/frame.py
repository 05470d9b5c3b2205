"""A compact, columnar table of feature rows with their labels (the trainer's working set).

Rows are kept as a float32 matrix of the 35 numeric model columns plus three string columns for
the categoricals, instead of one dict per row, so a quarter of thirty users (~1.3 million rows)
stays within a few hundred MB (``engine.frame_build`` fills it chunk by chunk). float32 is
what LightGBM bins anyway; a value differs from the builder's float64 by at most one part in
16 million. ``features(i)`` gives a row back in the mapping form the engine consumes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np

from engine.labels import LABEL_ORDER
from engine.schema import BOOLEAN_COLUMNS, CATEGORICAL_COLUMNS, MODEL_COLUMNS, NUMERIC_MODEL_COLUMNS
from engine.stream import StreamRow

NUMERIC_INDEX = {c: i for i, c in enumerate(NUMERIC_MODEL_COLUMNS)}
LABEL_INDEX = {lab: i for i, lab in enumerate(LABEL_ORDER)}
UNLABELLED = -1


def _num(v: Any) -> float:
    if v is None:
        return math.nan
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def numeric_matrix(rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """(N, 35) float64; None -> NaN, booleans -> 1.0/0.0 (numpy converts both itself)."""
    cols = NUMERIC_MODEL_COLUMNS
    if not rows:
        return np.zeros((0, len(cols)), dtype=np.float64)
    try:
        return np.array([[row.get(c) for c in cols] for row in rows], dtype=np.float64)
    except (TypeError, ValueError):  # an odd value somewhere: convert one by one
        return np.array([[_num(row.get(c)) for c in cols] for row in rows], dtype=np.float64)


@dataclass
class Frame:
    """Rows in (user, bucket_start) order. ``y`` is the label index or -1 (unlabelled)."""

    numeric: np.ndarray  # (N, 35) float32, NaN = missing
    categorical: dict[str, list[str | None]]  # the 3 categorical columns
    user_ids: list[str]
    bucket_start: np.ndarray  # (N,) int64 epoch seconds
    local_day: np.ndarray  # (N,) int32 proleptic ordinal of the local date
    session_ids: list[str | None]
    y: np.ndarray  # (N,) int64
    provenance: list[str | None]

    def __len__(self) -> int:
        return int(self.numeric.shape[0])

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_rows(
        cls,
        rows: Sequence[Mapping[str, Any]],
        *,
        user_ids: Sequence[str],
        bucket_starts: Sequence[int],
        local_days: Sequence[int],
        session_ids: Sequence[str | None],
        labels: Sequence[int] | None = None,
        provenance: Sequence[str | None] | None = None,
    ) -> Frame:
        n = len(rows)
        numeric = numeric_matrix(rows).astype(np.float32)
        cats: dict[str, list[str | None]] = {}
        for col in CATEGORICAL_COLUMNS:
            vals = [row.get(col) for row in rows]
            cats[col] = [v if isinstance(v, str) else None for v in vals]
        return cls(
            numeric=numeric,
            categorical=cats,
            user_ids=list(user_ids),
            bucket_start=np.asarray(bucket_starts, dtype=np.int64),
            local_day=np.asarray(local_days, dtype=np.int32),
            session_ids=list(session_ids),
            y=np.asarray(labels if labels is not None else [UNLABELLED] * n, dtype=np.int64),
            provenance=list(provenance if provenance is not None else [None] * n),
        )

    @classmethod
    def concat(cls, frames: Iterable[Frame]) -> Frame:
        fs = [f for f in frames if len(f)]
        if not fs:
            return cls.empty()
        return cls(
            numeric=np.vstack([f.numeric for f in fs]),
            categorical={c: [v for f in fs for v in f.categorical[c]] for c in CATEGORICAL_COLUMNS},
            user_ids=[u for f in fs for u in f.user_ids],
            bucket_start=np.concatenate([f.bucket_start for f in fs]),
            local_day=np.concatenate([f.local_day for f in fs]),
            session_ids=[s for f in fs for s in f.session_ids],
            y=np.concatenate([f.y for f in fs]),
            provenance=[p for f in fs for p in f.provenance],
        )

    @classmethod
    def empty(cls) -> Frame:
        return cls.from_rows([], user_ids=[], bucket_starts=[], local_days=[], session_ids=[])

    def take(self, idx: np.ndarray | Sequence[int]) -> Frame:
        ix = np.asarray(idx, dtype=np.int64)
        il = ix.tolist()
        return Frame(
            numeric=self.numeric[ix],
            categorical={c: [v[i] for i in il] for c, v in self.categorical.items()},
            user_ids=[self.user_ids[i] for i in il],
            bucket_start=self.bucket_start[ix],
            local_day=self.local_day[ix],
            session_ids=[self.session_ids[i] for i in il],
            y=self.y[ix],
            provenance=[self.provenance[i] for i in il],
        )

    # -- views ----------------------------------------------------------------------------
    def features(self, i: int) -> dict[str, Any]:
        """Row ``i`` as the mapping of the 38 model columns the engine consumes."""
        row = self.numeric[i]
        out: dict[str, Any] = {}
        for col in MODEL_COLUMNS:
            if col in NUMERIC_INDEX:
                v = float(row[NUMERIC_INDEX[col]])
                if col in BOOLEAN_COLUMNS and not math.isnan(v):
                    out[col] = v != 0.0
                else:
                    out[col] = v
            else:
                out[col] = self.categorical[col][i]
        return out

    def bucket_datetime(self, i: int) -> datetime:
        return datetime.fromtimestamp(int(self.bucket_start[i]), tz=UTC)

    def stream_row(self, i: int) -> StreamRow:
        """Row ``i`` as ``engine.stream`` takes an already built row."""
        return StreamRow(self.user_ids[i], self.bucket_datetime(i), self.session_ids[i],
                         date.fromordinal(int(self.local_day[i])), self.features(i))

    def user_ranges(self) -> Iterator[tuple[str, int, int]]:
        """(user, first, stop) of each user's contiguous rows (rows are in (user, time) order)."""
        n = len(self)
        lo = 0
        while lo < n:
            u = self.user_ids[lo]
            hi = lo + 1
            while hi < n and self.user_ids[hi] == u:
                hi += 1
            yield u, lo, hi
            lo = hi

    def users(self) -> list[str]:
        return sorted(set(self.user_ids))

    def labelled_mask(self) -> np.ndarray:
        return self.y >= 0

    def user_mask(self, user_id: str) -> np.ndarray:
        return np.fromiter((u == user_id for u in self.user_ids), dtype=bool, count=len(self))

    def day_mask(self, user_days: Mapping[str, set[int]]) -> np.ndarray:
        """Rows whose (user, local day) is in ``user_days``."""
        out = np.zeros(len(self), dtype=bool)
        if not len(self):
            return out
        users = np.asarray(self.user_ids, dtype=object)
        for u, days in user_days.items():
            if days:
                out |= (users == u) & np.isin(self.local_day, np.fromiter(days, dtype=np.int64))
        return out


def local_date_from(bucket_start: datetime, day_of_week: int | None, utc_offset_minutes: int | None) -> date:
    """The local date of a bucket.

    With the record's offset it is exact; from a stored feature row it is the one date within
    one day of the UTC date whose weekday equals the row's local ``day_of_week`` (offsets are
    within +-18 h, so exactly one of the three candidates matches).
    """
    from datetime import timedelta

    if utc_offset_minutes is not None:
        return (bucket_start + timedelta(minutes=utc_offset_minutes)).date()
    d = bucket_start.astimezone(UTC).date()
    if day_of_week is None:
        return d
    for cand in (d, d - timedelta(days=1), d + timedelta(days=1)):
        if cand.weekday() == day_of_week:
            return cand
    return d
