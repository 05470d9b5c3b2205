"""One stream from activity records (or stored feature rows) through the feature builder and
the engine, with one warm-up rule, used by every consumer: the agent's restart and catch-up,
``infer batch``, the demo's replay and ``train evaluate``.

The warm-up rule: buckets before ``emit_from`` are not predicted for output; the engine is
warmed with those of them that belong to the session of the first emitted bucket (older ones
cannot change its predictions: smoothing starts over with each session). The feature builder
sees every record it is given, so a caller gives records from at least the last gap of
``BREAK_SECONDS`` before ``emit_from`` (``engine.sessions.resume_index``).

Generator in, generator out: records are read one at a time and predictions yielded as they
are made; the memory held is one session of warm-up rows at most. A source that already holds
its rows in chunks (``engine.store_rows``) may give whole lists of ``StreamRow``: each list is
predicted with one ``Engine.step_many`` call (one batch call to the model, identical records),
which is what lets a year of stored rows run at about the engine's own speed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from engine.activity import ActivityRecord
from engine.record import PredictionRecord

if TYPE_CHECKING:
    from engine.features import FeatureBuilder, FeatureRow
    from engine.pipeline import Engine

log = logging.getLogger("taskclf.engine.stream")


@dataclass(frozen=True, slots=True)
class StreamRow:
    """A feature row already built (e.g. read from the store), ready for the engine."""

    user_id: str
    bucket_start: datetime
    session_id: str | None
    local_day: date
    features: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Step:
    """One emitted bucket: its record and built row (None for a ``StreamRow`` input)."""

    record: ActivityRecord | None
    row: FeatureRow | None
    prediction: PredictionRecord
    local_day: date  #: the user's own date of the bucket


def local_day(record: ActivityRecord) -> date:
    """The user's own date of a bucket, from the UTC offset recorded with it."""
    return (record.bucket_start.astimezone(UTC)
            + timedelta(minutes=record.utc_offset_minutes)).date()


#: ``on_refused(record, error)``: a record the builder refused (out of order, invalid).
OnRefused = Callable[[ActivityRecord, Exception], None]


def _log_refused(record: ActivityRecord, exc: Exception) -> None:
    log.warning("bucket %s skipped: %s", record.bucket_start.isoformat(), exc)


def stream(
    source: Iterable[ActivityRecord | StreamRow | list[StreamRow]],
    engine: Engine,
    *,
    emit_from: datetime | None = None,
    emit_when: Callable[[StreamRow], bool] | None = None,
    builder: FeatureBuilder | None = None,
    on_refused: OnRefused = _log_refused,
) -> Iterator[Step]:
    """Predict ``source`` (one user, time order) with ``engine``; yield a ``Step`` per bucket at
    or after ``emit_from`` (all when None), or from the first bucket ``emit_when`` accepts (for a
    caller who knows the first bucket to emit only once it is read, e.g. by its local day).
    ``builder`` (a fresh one by default) keeps its state after the stream, so a live caller can
    continue with it."""
    from engine.features import FeatureBuilder, FeatureInputError

    if emit_when is None and emit_from is not None:
        start = emit_from

        def emit_when(r: StreamRow) -> bool:
            return r.bucket_start >= start

    b = builder if builder is not None else FeatureBuilder()
    warm: list[StreamRow] = []
    warmed = emit_when is None
    for item in source:
        rec: ActivityRecord | None = None
        row: FeatureRow | None = None
        if isinstance(item, list):  # a chunk of built rows: one batch through the engine
            batch, skip = item, 0
            if not warmed:
                assert emit_when is not None
                i = _first_emitted(item, emit_when, warm)
                if i == len(item):
                    continue
                warmed = True
                batch, skip = warm + item[i:], len(warm)  # the warm-up rows in the same call
                warm.clear()
            preds = _step_many(engine, batch)
            for k in range(skip, len(batch)):
                yield Step(None, None, preds[k], batch[k].local_day)
            continue
        if isinstance(item, ActivityRecord):
            rec = item
            try:
                row = b.push(item)
            except FeatureInputError as exc:
                on_refused(item, exc)
                continue
            if row is None:  # a second record of a bucket already built
                continue
            prepared = StreamRow(row.user_id, row.bucket_start, row.session_id, local_day(item),
                                 row.features)
        else:
            prepared = item
        if not warmed:
            assert emit_when is not None
            if _first_emitted([prepared], emit_when, warm):
                continue
            warmed = True
            for w in warm:
                _step(engine, w)
            warm.clear()
        yield Step(rec, row, _step(engine, prepared), prepared.local_day)


def _first_emitted(rows: list[StreamRow], emit_when: Callable[[StreamRow], bool],
                   warm: list[StreamRow]) -> int:
    """The index of the first row ``emit_when`` accepts; the rows before it are added to
    ``warm`` (which keeps only the latest session), as one at a time."""
    for i, r in enumerate(rows):
        if emit_when(r):
            return i
        if warm and warm[-1].session_id != r.session_id:
            warm.clear()
        warm.append(r)
    return len(rows)


def _step_many(engine: Engine, rows: list[StreamRow]) -> list[PredictionRecord]:
    return engine.step_many([r.features for r in rows], user_ids=[r.user_id for r in rows],
                            bucket_starts=[r.bucket_start for r in rows],
                            session_ids=[r.session_id for r in rows],
                            local_days=[r.local_day for r in rows])


def _step(engine: Engine, row: StreamRow) -> PredictionRecord:
    return engine.step(row.features, user_id=row.user_id, bucket_start=row.bucket_start,
                       session_id=row.session_id, local_day=row.local_day)


def drain(steps: Iterable[Step]) -> int:
    """Run a stream for its effect on the engine's state; returns how many buckets."""
    return sum(1 for _ in steps)
