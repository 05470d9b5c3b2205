"""The evaluation replay in bounded chunks: test rows -> one engine per user -> ``EvalTally``.

The test days are replayed through ``engine.stream`` (``engine.replay.replay_chunk``) a chunk
at a time, each user's engine carried from chunk to chunk, and the report's figures are added
up as the chunks pass (``trainer.evaluate.EvalTally``). Neither the test rows nor the engine's
outputs are ever held for all test days at once, so memory does not grow with them.

Two sources of chunks, with the same rows in the same order as the in-memory frame's test part:

- ``frame_test_chunks``: a frame already in memory (``train all`` holds it for training), sliced
  ``CHUNK_ROWS`` rows of a user at a time, without a copy of its test part;
- ``store_test_chunks``: the stores read a day at a time (``engine.store_rows``: stored rows, or
  rebuilt from the records), labelled as ``engine.frame_loader`` labels them and packed into the
  same float32 frame (``engine.frame_build``), so the figures are those of a loaded frame.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any

import numpy as np

from engine.frame import Frame
from engine.frame_build import FrameBuilder
from engine.frame_loader import Labeller
from engine.replay import replay_chunk
from engine.store_rows import DEFAULT_SPAN, OnChunk, user_rows
from engine.stream import StreamRow
from trainer.evaluate import EvalTally

#: rows per chunk: about a working day and a half of one-minute buckets (a few hundred KB)
CHUNK_ROWS = 2048

#: (row, epoch seconds, label index, provenance) of one labelled bucket
_Labelled = tuple[StreamRow, int, int, str | None]


def frame_test_chunks(frame: Frame, days: Mapping[str, set[int]], *,
                      chunk_rows: int = CHUNK_ROWS) -> Iterator[Frame]:
    """The rows of ``frame`` on each user's ``days`` (local-day ordinals), in chunks of at most
    ``chunk_rows`` rows of one user, in the frame's (user, time) order."""
    for user, first, stop in frame.user_ranges():
        want = days.get(user)
        if not want:
            continue
        wanted = np.fromiter(want, dtype=np.int64, count=len(want))
        for a in range(first, stop, chunk_rows):
            b = min(a + chunk_rows, stop)
            idx = a + np.flatnonzero(np.isin(frame.local_day[a:b], wanted))
            if len(idx):
                yield frame.take(idx)


def _labelled_rows(store: Any, user: str, want: set[int], span: timedelta,
                   on_chunk: OnChunk | None) -> Iterator[_Labelled]:
    """The user's rows of this store on the wanted days, labelled from this store's spans."""
    labeller = Labeller(store.label_spans(user_id=user))
    last = max(want)
    for chunk in user_rows(store, user, span=span, on_chunk=on_chunk).chunks:
        if chunk[0].local_day.toordinal() > last:  # rows come in time order: none is wanted now
            break
        rows = [r for r in chunk if r.local_day.toordinal() in want]
        if not rows:
            continue
        starts = [int(r.bucket_start.timestamp()) for r in rows]
        y, prov = labeller.label(starts)
        yield from zip(rows, starts, y, prov, strict=True)


def _pack(user: str, items: Sequence[_Labelled]) -> Frame:
    out = FrameBuilder(len(items))
    out.add(user, [r.features for r, *_ in items], bucket_starts=[t for _, t, _, _ in items],
            local_days=[r.local_day.toordinal() for r, *_ in items],
            session_ids=[r.session_id for r, *_ in items], labels=[y for _, _, y, _ in items],
            provenance=[p for *_, p in items])
    return out.build()


def store_test_chunks(stores: Sequence[Any], days: Mapping[str, set[int]], *, chunk_rows: int = CHUNK_ROWS,
                      span: timedelta = DEFAULT_SPAN, on_chunk: OnChunk | None = None) -> Iterator[Frame]:
    """The rows of each user's ``days`` read from ``stores`` (users in order; a user in several
    stores merged by time, ties in store order, as the loader's stable sort leaves them), in
    chunks of at most ``chunk_rows`` rows of one user."""
    present = [set(st.users()) for st in stores]
    for user in sorted(u for u, want in days.items() if want):
        sources = [_labelled_rows(st, user, days[user], span, on_chunk)
                   for st, users in zip(stores, present, strict=True) if user in users]
        batch: list[_Labelled] = []
        for item in heapq.merge(*sources, key=lambda it: it[1]):
            batch.append(item)
            if len(batch) >= chunk_rows:
                yield _pack(user, batch)
                batch = []
        if batch:
            yield _pack(user, batch)


def replay_evaluate(chunks: Iterable[Frame], make_engine: Callable[[], Any], tally: EvalTally) -> EvalTally:
    """Replay ``chunks`` (one user each, in (user, time) order) through a fresh engine per user,
    carried across that user's chunks, adding each chunk to ``tally``."""
    user: str | None = None
    engine: Any = None
    for chunk in chunks:
        if chunk.user_ids[0] != user:
            user, engine = chunk.user_ids[0], make_engine()
        tally.add(chunk, replay_chunk(chunk, engine))
    return tally
