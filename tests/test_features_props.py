"""Property tests of the feature builder over random record sequences (hypothesis)."""

from __future__ import annotations

import math
import random
from datetime import timedelta
from typing import Any

from features_helpers import CLOCK, KEY, T0, bits
from hypothesis import given
from hypothesis import strategies as st

from engine.activity import ActivityRecord, Segment
from engine.apps import identify_app
from engine.features import FeatureBuilder, build_rows
from engine.schema import MODEL_COLUMNS
from engine.titles import reduce_title

APPS = [identify_app(n) for n in ("code.exe", "firefox", "Slack", "zoom.exe", "Terminal",
                                  "LockApp.exe", "weird-tool")]
TITLES = [None, "main.py", "Inbox - Gmail", "PR 12 - GitHub", "Zoom Meeting", "notes"]

NAN_ALLOWED = {
    "app_foreground_time_ratio", "app_dwell_time_seconds", "app_entropy_5m", "app_entropy_15m",
    "top2_app_concentration_15m", "keys_per_min", "backspace_ratio", "shortcut_rate",
    "clicks_per_min", "scroll_events_per_min", "mouse_distance", "active_seconds_keyboard",
    "active_seconds_mouse", "event_density", "window_title_bucket", "title_repeat_count_session",
    "keys_per_min_rolling_5", "keys_per_min_rolling_15", "mouse_distance_rolling_5",
    "mouse_distance_rolling_15", "keys_per_min_delta", "clicks_per_min_delta",
    "mouse_distance_delta",
}
UNIT_RANGE = {"app_foreground_time_ratio", "top2_app_concentration_15m"}
NON_NEGATIVE = {
    "app_switch_count_last_5m", "app_switch_count_last_15m", "app_change_count",
    "app_dwell_time_seconds", "app_entropy_5m", "app_entropy_15m", "keys_per_min",
    "backspace_ratio", "shortcut_rate", "clicks_per_min", "scroll_events_per_min",
    "mouse_distance", "active_seconds_keyboard", "active_seconds_mouse", "active_seconds_any",
    "max_idle_run_seconds", "event_density", "title_repeat_count_session",
    "keys_per_min_rolling_5", "keys_per_min_rolling_15", "mouse_distance_rolling_5",
    "mouse_distance_rolling_15", "session_length_so_far",
}

def _record(minute: int, offset: int, rnd: random.Random, num: Any) -> ActivityRecord:
    """One valid record; ``num(limit)`` supplies the seconds and counts."""
    observed = rnd.choice([60.0, 60.0, 60.0, 45.5, 19.0, 0.0])
    nseg = rnd.randint(0, 4)
    cuts = sorted(num(observed) for _ in range(2 * nseg))
    segs = []
    for i in range(nseg):
        app = rnd.choice(APPS)
        h, d = reduce_title(KEY, rnd.choice(TITLES), app)
        a, b = cuts[2 * i], cuts[2 * i + 1]
        segs.append(Segment(a, b - a, app.app_id, app.category, app.is_browser,
                            app.is_editor, app.is_terminal, h, d))
    any_s = num(observed)
    kb = rnd.choice([float("nan"), any_s, any_s / 2])
    idle = observed - any_s

    def count() -> float:
        return float("nan") if rnd.random() < 0.2 else num(3000.0)

    return ActivityRecord(
        user_id="u", device_id="d", bucket_start=T0 + timedelta(minutes=minute),
        observed_seconds=observed, utc_offset_minutes=offset, segments=tuple(segs),
        keys=count(), backspaces=count(), shortcuts=count(), clicks=count(), scrolls=count(),
        mouse_px=count(), active_seconds_keyboard=kb, active_seconds_mouse=kb,
        active_seconds_any=any_s, max_idle_run_seconds=idle, leading_idle_seconds=num(idle),
        trailing_idle_seconds=num(idle), input_events=count(),
        locked_seconds=rnd.choice([0.0, 0.0, observed]),
    )


@st.composite
def records(draw: Any, max_len: int = 25, floats: bool = False) -> list[ActivityRecord]:
    """A time-ordered sequence of one user's records with gaps of every kind.

    Hypothesis draws the structure (length, gaps, offsets) and one seed per record; the
    record's values come from that seed, which keeps long sequences cheap to generate. With
    ``floats`` the seconds and counts are raw hypothesis floats (subnormals, huge values).
    """
    n = draw(st.integers(1, max_len))
    minute = draw(st.integers(0, 3000))
    offset = draw(st.sampled_from([0, 60, 120, -300, 330, 840]))
    out = []
    for _ in range(n):
        rnd = random.Random(draw(st.integers(0, 2**32 - 1)))
        if floats:
            def num(limit: float) -> float:
                return float(draw(st.floats(0, limit)))
        else:
            def num(limit: float, rnd: random.Random = rnd) -> float:
                return rnd.randint(0, int(limit * 10)) / 10
        out.append(_record(minute, offset, rnd, num))
        minute += draw(st.sampled_from([1, 1, 1, 1, 2, 3, 5, 6, 7, 20]))
    return out


def _check_row_values(rows: list) -> None:  # type: ignore[type-arg]
    for row in rows:
        f = row.model_features()
        assert list(f) == list(MODEL_COLUMNS)
        for name, v in f.items():
            if isinstance(v, str | bool):
                continue
            if math.isnan(v):
                assert name in NAN_ALLOWED, name
                continue
            assert math.isfinite(v), name
            if name in UNIT_RANGE:
                assert 0.0 <= v <= 1.0, (name, v)
            if name in NON_NEGATIVE:
                assert v >= 0, (name, v)
        assert 0 <= f["hour_of_day"] <= 23 and 0 <= f["day_of_week"] <= 6
        assert math.isnan(f["window_title_bucket"]) or 0 <= f["window_title_bucket"] <= 255
        assert f["app_switch_count_last_5m"] <= f["app_switch_count_last_15m"]
        for w in ("app_entropy_5m", "app_entropy_15m"):
            assert math.isnan(f[w]) or f[w] <= math.log2(len(APPS)) + 1e-9
        assert f["idle_return_indicator"] == (row.session_start == row.bucket_start)


@given(records(max_len=3, floats=True))
def test_arbitrary_float_edges_stay_finite_and_in_range(recs: list[ActivityRecord]) -> None:
    _check_row_values(build_rows(recs, clock=CLOCK))


@given(records())
def test_features_are_finite_or_allowed_nan_and_in_range(recs: list[ActivityRecord]) -> None:
    rows = build_rows(recs, clock=CLOCK)
    assert len(rows) == len(recs)
    _check_row_values(rows)


@given(records())
def test_streaming_equals_batch_bit_for_bit(recs: list[ActivityRecord]) -> None:
    b = FeatureBuilder(clock=CLOCK)
    streamed = []
    for r in recs:
        row = b.push(r)
        assert row is not None
        streamed.append(bits(row))
    assert streamed == [bits(r) for r in build_rows(recs, clock=CLOCK)]
    # through JSON (the store and the CLI) the records give the same rows
    again = [ActivityRecord.from_json(r.to_json()) for r in recs]
    assert [bits(r) for r in build_rows(again, clock=CLOCK)] == streamed


@given(records(), st.data())
def test_dropping_a_record_never_changes_rows_before_it(recs: list[ActivityRecord],
                                                        data: Any) -> None:
    k = data.draw(st.integers(0, len(recs) - 1))
    full = [bits(r) for r in build_rows(recs, clock=CLOCK)]
    dropped = [bits(r) for r in build_rows(recs[:k] + recs[k + 1:], clock=CLOCK)]
    assert dropped[:k] == full[:k]


@given(records())
def test_resuming_at_a_session_start_reproduces_the_rows(recs: list[ActivityRecord]) -> None:
    """The agent restarts by pushing the records of the current session: same rows as batch."""
    rows = build_rows(recs, clock=CLOCK)
    starts = [i for i, r in enumerate(rows) if r.bucket_start == r.session_start]
    full = [bits(r) for r in rows]
    for i in starts:
        resumed = [bits(r) for r in build_rows(recs[i:], clock=CLOCK)]
        assert resumed == full[i:]


@given(records(max_len=30))
def test_state_stays_bounded(recs: list[ActivityRecord]) -> None:
    b = FeatureBuilder(max_titles=3, clock=CLOCK)
    for r in recs:
        b.push(r)
        ring, titles = b.state_size
        assert ring <= 15 and titles <= 3


@given(records())
def test_session_ids_and_starts_are_consistent(recs: list[ActivityRecord]) -> None:
    from engine.sessions import BREAK_SECONDS, session_id

    rows = build_rows(recs, clock=CLOCK)
    prev = None
    for rec, row in zip(recs, rows, strict=True):
        assert row.session_id == session_id(rec.user_id, row.session_start)
        assert row.session_start <= row.bucket_start
        if prev is not None:
            gap = (row.bucket_start - prev.bucket_end).total_seconds()
            if gap >= BREAK_SECONDS:
                assert row.session_start == row.bucket_start  # a gap always breaks
            if row.session_start == row.bucket_start and gap < BREAK_SECONDS:
                assert rec.active_seconds_any > 0  # an idle break ends at activity
            if row.session_start != row.bucket_start:
                assert row.session_start == prev.session_start
        prev = row


@given(records(), st.data())
def test_resume_index_after_any_history_prefix(recs: list[ActivityRecord], data: Any) -> None:
    """Pushing from ``resume_index`` of any stored prefix continues exactly like batch."""
    from engine.sessions import resume_index

    full = [bits(r) for r in build_rows(recs, clock=CLOCK)]
    k = data.draw(st.integers(1, len(recs)))
    i = resume_index(recs[:k])
    assert 0 <= i < k
    b = FeatureBuilder(clock=CLOCK)
    for r in recs[i:k]:
        b.push(r)  # the agent's warm-up after a restart
    rest = [bits(b.push(r)) for r in recs[k:]]  # type: ignore[arg-type]
    assert rest == full[k:]
