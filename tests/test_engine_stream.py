"""``engine.stream``: one stream records -> feature rows -> engine with one warm-up rule.

Warming up with the session of the first emitted bucket gives exactly the predictions of a
stream over the whole history; the stream is lazy (records in, predictions out); the day of a
block is the user's local day."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from features_helpers import CLOCK, CODE, FIREFOX, SLACK, ZOOM, active, rec
from hypothesis import given
from hypothesis import strategies as st

from engine.activity import ActivityRecord
from engine.features import FeatureBuilder
from engine.pipeline import Engine
from engine.stream import StreamRow, local_day, stream

APPS = [CODE, FIREFOX, SLACK, ZOOM, None]  # None: an idle minute


def _records(plan: list[tuple[int, int]]) -> list[ActivityRecord]:
    out = []
    minute = 0
    for gap, app in plan:
        minute += gap
        a = APPS[app]
        out.append(rec(minute) if a is None else active(minute, a))
    return out


def _preds(records: list[ActivityRecord], emit_from: datetime | None) -> list[dict[str, object]]:
    steps = stream(records, Engine.rules(), emit_from=emit_from, builder=FeatureBuilder(clock=CLOCK))
    return [s.prediction.to_json() for s in steps]


@given(st.lists(st.tuples(st.sampled_from([1, 1, 1, 1, 2, 7, 45]), st.integers(0, 4)),
                min_size=2, max_size=60), st.data())
def test_warm_up_gives_the_predictions_of_the_whole_history(plan: list[tuple[int, int]],
                                                            data: st.DataObject) -> None:
    records = _records(plan)
    k = data.draw(st.integers(0, len(records) - 1))
    whole = _preds(records, None)
    assert _preds(records, records[k].bucket_start) == whole[k:]


def test_only_the_first_emitted_buckets_session_warms_the_engine() -> None:
    # two sessions (a 45-minute gap), then emitting from the middle of the second one
    records = [active(m, SLACK) for m in range(5)] + [active(m, CODE) for m in range(50, 56)]
    warm_seen: list[datetime] = []

    class Spy(Engine):
        def step(self, features, *, user_id, bucket_start, session_id, local_day=None):  # type: ignore[no-untyped-def, override]
            warm_seen.append(bucket_start)
            return super().step(features, user_id=user_id, bucket_start=bucket_start,
                                session_id=session_id, local_day=local_day)

    eng = Spy.rules()
    out = list(stream(records, eng, emit_from=records[8].bucket_start,
                      builder=FeatureBuilder(clock=CLOCK)))
    assert [s.record.bucket_start for s in out if s.record] == [r.bucket_start for r in records[8:]]
    assert warm_seen == [r.bucket_start for r in records[5:]]  # not the first session's


def test_stream_is_lazy() -> None:
    def source() -> Iterator[ActivityRecord]:
        yield active(0)
        yield active(1)
        raise AssertionError("read past what was asked for")

    it = stream(source(), Engine.rules(), builder=FeatureBuilder(clock=CLOCK))
    first = next(it)
    assert first.prediction.bucket_start == active(0).bucket_start.isoformat()


def test_refused_records_are_reported_and_skipped() -> None:
    refused: list[str] = []
    records = [active(0), active(2), active(1), active(3)]  # 1 comes after 2: out of order
    out = list(stream(records, Engine.rules(), builder=FeatureBuilder(clock=CLOCK),
                      on_refused=lambda r, exc: refused.append(str(exc))))
    assert len(out) == 3
    assert len(refused) == 1 and "time order" in refused[0]


def test_stream_rows_are_predicted_like_records() -> None:
    records = [active(m, FIREFOX if m % 3 else CODE) for m in range(10)]
    from_records = list(stream(records, Engine.rules(), builder=FeatureBuilder(clock=CLOCK)))
    rows = [StreamRow(s.row.user_id, s.row.bucket_start, s.row.session_id,  # type: ignore[union-attr]
                      local_day(s.record), s.row.features)  # type: ignore[arg-type, union-attr]
            for s in from_records]
    from_rows = list(stream(rows, Engine.rules(), emit_from=rows[4].bucket_start))
    assert [s.prediction for s in from_rows] == [s.prediction for s in from_records[4:]]
    assert all(s.record is None and s.row is None for s in from_rows)


@pytest.mark.parametrize(("offset", "early", "late"), [
    (-8 * 60, date(2026, 3, 1), date(2026, 3, 2)),
    (0, date(2026, 3, 2), date(2026, 3, 2)),
    (13 * 60, date(2026, 3, 2), date(2026, 3, 3)),
])
def test_local_day_uses_the_recorded_offset(offset: int, early: date, late: date) -> None:
    assert local_day(rec(0, start=datetime(2026, 3, 2, 1, 30, tzinfo=UTC), offset=offset)) == early
    assert local_day(rec(0, start=datetime(2026, 3, 2, 11, 30, tzinfo=UTC), offset=offset)) == late


def _chunked(rows: list[StreamRow], cuts: list[int]) -> list[list[StreamRow]]:
    edges = sorted({0, len(rows), *(c % (len(rows) + 1) for c in cuts)})
    return [rows[a:b] for a, b in zip(edges, edges[1:], strict=False)]


@given(st.lists(st.tuples(st.sampled_from([1, 1, 1, 1, 2, 7, 45]), st.integers(0, 4)),
                min_size=2, max_size=60), st.lists(st.integers(0, 60), max_size=6), st.data())
def test_chunks_of_rows_are_predicted_like_one_row_at_a_time(
        plan: list[tuple[int, int]], cuts: list[int], data: st.DataObject) -> None:
    # chunks go through Engine.step_many; the warm-up may end inside a chunk or between two
    records = _records(plan)
    whole = list(stream(records, Engine.rules(), builder=FeatureBuilder(clock=CLOCK)))
    rows = [StreamRow(s.row.user_id, s.row.bucket_start, s.row.session_id,  # type: ignore[union-attr]
                      s.local_day, s.row.features) for s in whole]  # type: ignore[union-attr]
    k = data.draw(st.integers(0, len(rows) - 1))
    got = list(stream(_chunked(rows, cuts), Engine.rules(), emit_from=rows[k].bucket_start))
    assert [s.prediction for s in got] == [s.prediction for s in whole[k:]]
    assert [s.local_day for s in got] == [s.local_day for s in whole[k:]]


def test_a_chunk_is_one_batch_call_with_its_warm_up() -> None:
    records = [active(m, SLACK) for m in range(5)] + [active(m, CODE) for m in range(50, 56)]
    whole = list(stream(records, Engine.rules(), builder=FeatureBuilder(clock=CLOCK)))
    rows = [StreamRow(s.row.user_id, s.row.bucket_start, s.row.session_id,  # type: ignore[union-attr]
                      s.local_day, s.row.features) for s in whole]  # type: ignore[union-attr]
    calls: list[list[datetime]] = []

    class Spy(Engine):
        def step_many(self, rows, *, user_ids, bucket_starts, session_ids, local_days=None):  # type: ignore[no-untyped-def, override]
            calls.append(list(bucket_starts))
            return super().step_many(rows, user_ids=user_ids, bucket_starts=bucket_starts,
                                     session_ids=session_ids, local_days=local_days)

    out = list(stream([rows[:4], rows[4:8], rows[8:]], Spy.rules(), emit_from=rows[7].bucket_start))
    assert [s.prediction for s in out] == [s.prediction for s in whole[7:]]
    # the first session is not warm-up; the second's two buckets before the first emitted are,
    # in the same call as the rest of their chunk
    assert calls == [[r.bucket_start for r in rows[5:8]], [r.bucket_start for r in rows[8:]]]
