"""Session rules (spec 2.3) and session ids."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from features_helpers import SLACK, T0, ZOOM, active, rec, seg

from engine.sessions import BREAK_SECONDS, SessionTracker, session_id


def test_session_id_definition() -> None:
    start = datetime(2026, 2, 23, 10, 0, tzinfo=UTC)
    expected = hashlib.sha256(b"user-a:2026-02-23T10:00:00+00:00").hexdigest()[:12]
    assert session_id("user-a", start) == expected
    # other zones and sub-second parts give the same id for the same instant
    from datetime import timezone

    assert session_id("user-a", start.astimezone(timezone(timedelta(hours=-5)))) == expected
    assert session_id("user-a", start.replace(microsecond=999)) == expected
    assert session_id("user-b", start) != expected
    with pytest.raises(ValueError, match="must be timezone-aware"):
        session_id("user-a", datetime(2026, 2, 23, 10, 0))


def _starts(records) -> list[bool]:  # type: ignore[no-untyped-def]
    t = SessionTracker()
    return [t.advance(r) for r in records]


def test_break_seconds_is_five_minutes() -> None:
    assert BREAK_SECONDS == 300


def test_gaps() -> None:
    # 4 minutes without a record (240 s) vs 5 (300 s)
    assert _starts([active(0), active(5)]) == [True, False]
    assert _starts([active(0), active(6)]) == [True, True]


def test_first_record_after_a_gap_starts_a_session_even_when_idle() -> None:
    assert _starts([active(0), rec(10, [seg(0, 60, SLACK, "x")])]) == [True, True]


def test_idle_is_added_across_buckets() -> None:
    idle = [rec(i, [seg(0, 60, SLACK, "x")]) for i in range(1, 5)]
    assert _starts([active(0, trailing=30), *idle, active(5, leading=30)]) == [
        True, False, False, False, False, True]
    assert _starts([active(0, trailing=29), *idle, active(5, leading=30)]) == [
        True, False, False, False, False, False]


def test_a_long_idle_stretch_then_activity() -> None:
    idle = [rec(i, [seg(0, 60, SLACK, "x")]) for i in range(1, 30)]
    out = _starts([active(0), *idle, active(30)])
    assert out[0] and out[-1] and not any(out[1:-1])


def test_activity_in_between_resets_the_idle_count() -> None:
    recs = [active(0, trailing=50), rec(1, [seg(0, 60, SLACK, "x")]),
            rec(2, [seg(0, 60, SLACK, "x")]), active(3, leading=40, trailing=50),
            rec(4, [seg(0, 60, SLACK, "x")]), active(5, leading=40)]
    assert _starts(recs) == [True, False, False, False, False, False]


def test_meeting_in_front_suppresses_idle_breaks() -> None:
    quiet_call = [rec(i, [seg(0, 60, ZOOM, "Zoom Meeting")]) for i in range(1, 10)]
    assert _starts([active(0), *quiet_call, active(10, leading=30)]) == [True] + [False] * 10


def test_short_gap_is_not_counted_as_idleness() -> None:
    # 50 s trailing idle, 3 minutes without records, 30 s leading idle: not 5 minutes of idle
    assert _starts([active(0, trailing=50), active(4, leading=30)]) == [True, False]


def test_tracker_reset() -> None:
    t = SessionTracker()
    t.advance(active(0))
    t.reset()
    assert t.advance(active(1)) is True
    assert t.start_ts == (T0 + timedelta(minutes=1)).timestamp()


def test_resume_index_is_after_the_last_gap() -> None:
    from engine.sessions import resume_index

    recs = [active(0), active(1), active(10), active(11), active(14), active(15)]
    assert resume_index(recs) == 2  # minutes 1 -> 10: a gap; 11 -> 14 is only 120 s
    assert resume_index(recs[:2]) == 0 and resume_index([]) == 0
