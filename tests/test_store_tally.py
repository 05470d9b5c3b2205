"""The learning tally (labelled buckets per day and label) stays equal to a count from the
history whatever the writes, and the agent's label commit and start do work bounded by the
time they touch, not by the length of the history."""

from __future__ import annotations

import tempfile
from collections import Counter
from datetime import timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from store_helpers import at, prediction, record

from agent.learning import learning_progress
from engine.labels import HUMAN_PROVENANCES, LABEL_ORDER
from engine.spans import LabelSpan, label_for_bucket
from engine.store import Store

_DAY_MIN = 1440


def _counted_from_history(s: Store, user: str) -> list[tuple[int, str, int]]:
    """The tally computed independently: every distinct recorded bucket of the user that one
    span of a person covers completely, by the record's local day and the span's label."""
    spans = s.label_spans(user_id=user)
    seen: dict[int, tuple[int, str]] = {}
    for rec in s.records(user_id=user):
        span = label_for_bucket(spans, rec.bucket_start, rec.bucket_start + timedelta(seconds=60))
        if span is not None and span.provenance in HUMAN_PROVENANCES:
            start = int(rec.bucket_start.timestamp())
            seen.setdefault(start, ((start + rec.utc_offset_minutes * 60) // 86400, span.label))
    return sorted((d, lab, n) for (d, lab), n in Counter(seen.values()).items())


_MINUTE = st.integers(0, 2 * _DAY_MIN)  # two days and more: day edges matter
_OPS = st.lists(st.one_of(
    st.tuples(st.just("records"), _MINUTE, st.integers(1, 30), st.sampled_from(["d1", "d2"])),
    st.tuples(st.just("span"), _MINUTE, st.integers(1, 400), st.sampled_from(LABEL_ORDER[:3]),
              st.sampled_from(["manual", "correction", "rule", "synthetic", "import"])),
    st.tuples(st.just("delete_span"), st.integers(0, 10)),
    st.tuples(st.just("forget"), _MINUTE, st.integers(1, 200)),
    st.tuples(st.just("forget_open"), _MINUTE),
    st.tuples(st.just("forget_bucket"), _MINUTE),
), min_size=1, max_size=12)


@settings(max_examples=40, deadline=None)
@given(ops=_OPS)
def test_the_tally_equals_a_count_from_the_history_after_any_writes(ops: list[tuple]) -> None:  # type: ignore[type-arg]
    with tempfile.TemporaryDirectory() as d, Store.open(Path(d) / "s.sqlite3") as s:
        created = 0
        for op in ops:
            if op[0] == "records":
                _, m, n, device = op
                s.put_records([record(x, device=device) for x in range(m, m + n)])
            elif op[0] == "span":
                _, m, n, label, prov = op
                created += 1
                s.add_label_span(LabelSpan(at(m + 0.5 * (created % 2)), at(m + n), label, "u1", prov,
                                           None, at(10_000 + created)))
            elif op[0] == "delete_span":
                spans = s.label_spans(user_id="u1")
                if spans:
                    sid = spans[op[1] % len(spans)].span_id
                    assert sid is not None and s.delete_label_span(sid)
            elif op[0] == "forget":
                s.forget_between(at(op[1]), at(op[1] + op[2]))
            elif op[0] == "forget_open":
                s.forget_between(at(op[1]), None, user_id="u1")
            else:
                s.forget_buckets([("d1", at(op[1]))])
        assert s.labelled_days("u1") == _counted_from_history(s, "u1")
        s.apply_retention(at(2 * _DAY_MIN) + timedelta(days=200), activity_days=1)
        assert s.labelled_days("u1") == _counted_from_history(s, "u1")


class _Steps:
    """SQLite virtual-machine steps of a connection (every row a walk touches, whatever the
    query returns), counted through SQLite's progress handler."""

    def __init__(self, s: Store) -> None:
        self.s, self.n = s, 0

    def __enter__(self) -> _Steps:
        self.s._conn.set_progress_handler(self._tick, 100)
        return self

    def _tick(self) -> int:
        self.n += 100
        return 0

    def __exit__(self, *exc: object) -> None:
        self.s._conn.set_progress_handler(None, 0)


def _history(path: Path, days: int) -> Store:
    """``days`` days of an hour of activity each, labelled (manual) for half of it; the last
    day is 'today'."""
    s = Store.open(path)
    for day in range(days):
        base = day * _DAY_MIN
        s.put_records([record(base + m) for m in range(60)])
        s.add_label_span(LabelSpan(at(base), at(base + 30), "Build", "u1", "manual", None, at(base + 31)))
        for m in range(60):
            s.put_prediction("d1", prediction(base + m))
    return s


def _agent_work(s: Store, days: int) -> tuple[int, int]:
    """(start steps, label commit steps) of the agent's store work on the last day, after the
    previous day's start (its retention pass and look for unpredicted buckets)."""
    now = at((days - 1) * _DAY_MIN + 61)
    # a 5-day window: both histories have a day of rows to let go, as every day
    s.apply_retention(now - timedelta(days=1), 5)
    s.unpredicted_buckets("d1")
    with _Steps(s) as start:
        s.last_records("u1", now - timedelta(days=2))
        s.apply_retention(now, 5)
        s.unpredicted_buckets("d1")
        learning_progress(s, "u1")
        s.label_spans(user_id="u1", start=now - timedelta(hours=38))
    with _Steps(s) as commit:
        span = LabelSpan(now - timedelta(minutes=20), now, "Debug", "u1", "correction", None, now)
        s.add_label_with_feedback(span, kind="correction", shown_label="Build", answer_label="Debug",
                                  bucket_start=None, block_start=span.start_ts, confidence=0.5, at=now)
        learning_progress(s, "u1")
        s.label_spans(user_id="u1", start=now - timedelta(hours=38))
    return start.n, commit.n


def test_agent_start_and_label_commit_work_does_not_grow_with_the_history(tmp_path: Path) -> None:
    with _history(tmp_path / "short.sqlite3", 10) as short, _history(tmp_path / "long.sqlite3", 120) as long:
        short_start, short_commit = _agent_work(short, 10)
        long_start, long_commit = _agent_work(long, 120)
        # the tally is one row per labelled day: 110 more small rows, not 110 days of buckets
        assert len(long.labelled_days("u1")) == 120 + 1
        assert learning_progress(long, "u1").labelled_buckets == 120 * 30 + 19
    # 110 more days of history (6,600 records, predictions): a walk over them would cost
    # hundreds of thousands of steps; one tally row per labelled day costs a few dozen
    assert long_commit < short_commit + 110 * 60, (short_commit, long_commit)
    assert long_start < short_start + 110 * 60, (short_start, long_start)
