"""Growing a ``Frame`` chunk by chunk: the numeric columns go straight into one preallocated
float32 block, strings are interned (a session id, an app id or a provenance is one object
however many rows share it), so reading a long history costs the frame itself and one chunk,
never a list of row dicts for the whole history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from engine.frame import Frame, numeric_matrix
from engine.schema import CATEGORICAL_COLUMNS, NUMERIC_MODEL_COLUMNS

WIDTH = len(NUMERIC_MODEL_COLUMNS)


class FrameBuilder:
    """Rows appended in order; ``build`` hands the arrays over (trimmed in place, no copy)."""

    def __init__(self, capacity: int = 0) -> None:
        cap = max(int(capacity), 16)
        self._n = 0
        self._numeric = np.empty((cap, WIDTH), dtype=np.float32)
        self._starts = np.empty(cap, dtype=np.int64)
        self._days = np.empty(cap, dtype=np.int32)
        self._y = np.empty(cap, dtype=np.int64)
        self._cats: dict[str, list[str | None]] = {c: [] for c in CATEGORICAL_COLUMNS}
        self._users: list[str] = []
        self._sessions: list[str | None] = []
        self._prov: list[str | None] = []
        self._strings: dict[str, str] = {}

    def __len__(self) -> int:
        return self._n

    def _reserve(self, k: int) -> None:
        cap = self._numeric.shape[0]
        if self._n + k <= cap:
            return
        new = max(self._n + k, cap + cap // 2)
        self._numeric.resize((new, WIDTH), refcheck=False)
        for arr in (self._starts, self._days, self._y):
            arr.resize(new, refcheck=False)

    def _intern(self, v: Any) -> str | None:
        if not isinstance(v, str):
            return None
        return self._strings.setdefault(v, v)

    def add(
        self,
        user: str,
        features: Sequence[Mapping[str, Any]],
        *,
        bucket_starts: Sequence[int],
        local_days: Sequence[int],
        session_ids: Sequence[str | None],
        labels: Sequence[int],
        provenance: Sequence[str | None],
    ) -> None:
        """Append one chunk of rows of ``user`` (all sequences aligned with ``features``)."""
        k = len(features)
        if k == 0:
            return
        self._reserve(k)
        a, b = self._n, self._n + k
        self._numeric[a:b] = numeric_matrix(features)
        self._starts[a:b] = bucket_starts
        self._days[a:b] = local_days
        self._y[a:b] = labels
        intern = self._intern
        for col, values in self._cats.items():
            values.extend(intern(f.get(col)) for f in features)
        u = intern(user)
        assert u is not None
        self._users.extend([u] * k)
        self._sessions.extend(intern(s) for s in session_ids)
        self._prov.extend(intern(p) for p in provenance)
        self._n = b

    def add_frame(self, frame: Frame) -> None:
        """Append every row of ``frame`` (e.g. one file's rows), so frames read one after
        another end up in one block without holding them all and their concatenation."""
        k = len(frame)
        if k == 0:
            return
        self._reserve(k)
        a, b = self._n, self._n + k
        self._numeric[a:b] = frame.numeric
        self._starts[a:b] = frame.bucket_start
        self._days[a:b] = frame.local_day
        self._y[a:b] = frame.y
        intern = self._intern
        for col, values in self._cats.items():
            values.extend(intern(v) for v in frame.categorical[col])
        self._users.extend(self._strings.setdefault(u, u) for u in frame.user_ids)
        self._sessions.extend(intern(s) for s in frame.session_ids)
        self._prov.extend(intern(p) for p in frame.provenance)
        self._n = b

    def build(self) -> Frame:
        n = self._n
        self._numeric.resize((n, WIDTH), refcheck=False)
        for arr in (self._starts, self._days, self._y):
            arr.resize(n, refcheck=False)
        return Frame(numeric=self._numeric, categorical=self._cats, user_ids=self._users,
                     bucket_start=self._starts, local_day=self._days, session_ids=self._sessions,
                     y=self._y, provenance=self._prov)
