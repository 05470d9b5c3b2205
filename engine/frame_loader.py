"""Store -> labelled feature rows of each user (spec 5.1), shared by the trainer and the
per-user calibration that runs in an agent-only install.

The stored feature rows (exactly what the agent saw) are used when every record of the user has
one of the current schema and builder version; otherwise the user's rows are rebuilt from the
activity records with the one feature builder (``engine.store_rows``). A bucket is labelled
when one label span of its user covers it completely; Mixed/Unknown is never a target. Days
are local days.

Rows are read a day at a time and written straight into the frame's float32 block
(``engine.frame_build``, sized up front from the store's key counts): the memory is the frame
itself plus one chunk, never a list of row dicts for the whole history.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np

from engine.frame import LABEL_INDEX, UNLABELLED, Frame
from engine.frame_build import FrameBuilder
from engine.spans import LabelSpan
from engine.store_rows import DEFAULT_SPAN, OnChunk, UserRows, user_rows

log = logging.getLogger(__name__)
BUCKET = 60


@dataclass
class LoadStats:
    users: int = 0
    rows: int = 0
    labelled: int = 0
    rebuilt_users: int = 0


class Labeller:
    """Label index and provenance per bucket, for bucket starts given in increasing order over
    successive calls (a sweep over the user's spans sorted by start)."""

    def __init__(self, spans: Sequence[LabelSpan]) -> None:
        ss = sorted(spans, key=lambda s: s.start_ts)
        self._bounds = [(int(s.start_ts.timestamp()), int(s.end_ts.timestamp()), s) for s in ss]
        self._j = 0

    def label(self, starts: Sequence[int]) -> tuple[list[int], list[str | None]]:
        out_y = [UNLABELLED] * len(starts)
        out_p: list[str | None] = [None] * len(starts)
        bounds, j = self._bounds, self._j
        for i, t in enumerate(starts):
            while j < len(bounds) and bounds[j][1] <= t:
                j += 1
            if j < len(bounds):
                a, b, s = bounds[j]
                if a <= t and t + BUCKET <= b and s.label in LABEL_INDEX:
                    out_y[i] = LABEL_INDEX[s.label]
                    out_p[i] = s.provenance
        self._j = j
        return out_y, out_p


def _label_rows(starts: Sequence[int], spans: Sequence[LabelSpan]) -> tuple[list[int], list[str | None]]:
    """Label index and provenance per bucket (rows sorted by start)."""
    return Labeller(spans).label(starts)


def _add_rows(out: FrameBuilder, store: Any, rows: UserRows, day_range: tuple[int, int] | None
              ) -> tuple[int, int]:
    """Append the user's rows (those of local days within ``day_range``), chunk by chunk;
    returns (rows, labelled rows) added."""
    labeller = Labeller(store.label_spans(user_id=rows.user_id))
    n = labelled = 0
    for chunk in rows.chunks:
        if day_range is not None:
            lo, hi = day_range
            chunk = [r for r in chunk if lo <= r.local_day.toordinal() <= hi]
        starts = [int(r.bucket_start.timestamp()) for r in chunk]
        y, prov = labeller.label(starts)
        out.add(rows.user_id, [r.features for r in chunk], bucket_starts=starts,
                local_days=[r.local_day.toordinal() for r in chunk],
                session_ids=[r.session_id for r in chunk], labels=y, provenance=prov)
        n += len(chunk)
        labelled += sum(1 for v in y if v >= 0)
    return n, labelled


def user_frame(store: Any, user: str, stats: LoadStats | None = None,
               window: tuple[datetime, datetime] | None = None, *, span: timedelta = DEFAULT_SPAN) -> Frame:
    """The buckets of one user in one store (all, or those starting in the UTC ``window``),
    labelled from that store's spans. With a window, rows are rebuilt from the window's records
    (sessions break overnight, so a window padded around local days starts a fresh session)."""
    lo, hi = window if window is not None else (None, None)
    rows = user_rows(store, user, start=lo, end=hi, span=span)
    out = FrameBuilder(rows.expected)
    n, _ = _add_rows(out, store, rows, None)
    if n and rows.rebuilt and stats is not None:
        stats.rebuilt_users += 1
    return out.build()


def load_frame(
    stores: Iterable[Any],
    *,
    start: date | None = None,
    end: date | None = None,
    users: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
    span: timedelta = DEFAULT_SPAN,
    on_chunk: OnChunk | None = None,
) -> tuple[Frame, LoadStats]:
    """Every bucket of the chosen users within [start, end] (local days, inclusive), sorted by
    (user, bucket_start). The users' key counts are read first, so the frame's arrays are
    allocated once at their final size."""
    stats = LoadStats()
    plans = [(store, user_rows(store, u, span=span, on_chunk=on_chunk))
             for store in stores for u in store.users() if users is None or u in users]
    out = FrameBuilder(sum(p.expected for _, p in plans))
    day_range = None
    if start is not None or end is not None:
        day_range = (start.toordinal() if start else -(10**9), end.toordinal() if end else 10**9)
    for store, rows in plans:
        n, labelled = _add_rows(out, store, rows, day_range)
        if n:
            stats.users += 1
        if rows.rebuilt and rows.expected:
            stats.rebuilt_users += 1
        if progress:
            progress(f"  {rows.user_id}: {n:,} buckets, {labelled:,} labelled")
    frame = out.build()
    if len(frame):
        order = np.lexsort((frame.bucket_start, np.asarray(frame.user_ids, dtype=object)))
        if not np.array_equal(order, np.arange(len(frame))):
            frame = frame.take(order)
    stats.rows = len(frame)
    stats.labelled = int((frame.y >= 0).sum())
    return frame, stats
