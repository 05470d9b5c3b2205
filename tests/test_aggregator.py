"""The bucket aggregator (spec 2.2): exactly one record per bucket, never over-full, never
overlapping, whatever the clocks do (jumps, sleep, DST)."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from agent.aggregator import Aggregator, Foreground, Observation
from agent.sampler import InputCounts

EDITOR = Foreground("com.microsoft.VSCode", "editor", False, True, False, "0123456789abcdef", "non_browser")
TERM = Foreground("org.gnome.Terminal", "terminal", False, False, True, "fedcba9876543210", "non_browser")
T0 = 1_800_000_000.0  # a multiple of 60


def agg(**kw: object) -> Aggregator:
    kw.setdefault("local_offset", lambda ts: (60, "CET"))
    return Aggregator(user_id="u", device_id="d", **kw)  # type: ignore[arg-type]


def obs(fg: Foreground | None = EDITOR, idle: float = 0.0, keys: float = 0, clicks: float = 0,
        locked: bool = False) -> Observation:
    counts = InputCounts(keys=keys, backspaces=0, shortcuts=0, clicks=clicks, scrolls=0,
                         mouse_px=0.0)
    return Observation(foreground=fg, idle_seconds=idle, locked=locked, counts=counts)


def run(a: Aggregator, ticks: list[tuple[float, float, Observation]]) -> list:
    out = []
    for mono, wall, o in ticks:
        out.extend(a.tick(mono, wall, o))
    return out


def test_ten_minutes_on_one_window_gives_ten_full_buckets() -> None:
    a = agg()
    recs = run(a, [(float(i), T0 + i, obs(keys=1)) for i in range(0, 601)])
    assert len(recs) == 10
    for i, r in enumerate(recs):
        assert r.bucket_start_ts == T0 + 60 * i
        assert r.observed_seconds == 60.0
        assert len(r.segments) == 1 and r.segments[0].seconds == 60.0
        assert r.keys == 60.0
        assert r.utc_offset_minutes == 60 and r.tz_name == "CET"
    assert a.flush() == []  # the open bucket at T0+600 has nothing in it yet


def test_tick_spanning_a_boundary_is_split_and_counts_stay_whole() -> None:
    a = agg()
    ticks = [(0.0, T0 + 58.5, obs()), (1.0, T0 + 59.5, obs()), (2.0, T0 + 60.5, obs(keys=3))]
    recs = run(a, ticks)
    assert len(recs) == 1
    first = recs[0]
    assert first.observed_seconds == 1.5  # 58.5 -> 60.0
    assert first.keys == 0.0  # the 3 keys went to the larger half (the next bucket)
    second = a.flush()[0]
    assert second.observed_seconds == 0.5
    assert second.keys == 3.0


def test_segments_follow_focus_changes_and_merge() -> None:
    a = agg()
    ticks = [(float(i), T0 + i, obs(EDITOR if i <= 20 or i > 40 else TERM)) for i in range(0, 61)]
    rec = run(a, ticks)[0]
    apps = [(s.app_id, s.offset_s, s.seconds) for s in rec.segments]
    assert apps == [("com.microsoft.VSCode", 0.0, 20.0), ("org.gnome.Terminal", 20.0, 20.0),
                    ("com.microsoft.VSCode", 40.0, 20.0)]
    assert rec.observed_seconds == 60.0


def test_sleep_gap_is_not_attributed() -> None:
    a = agg()
    ticks = [(float(i), T0 + i, obs()) for i in range(0, 11)]
    ticks += [(10.0 + 3600 + i, T0 + 10 + 3600 + i, obs()) for i in range(0, 11)]
    recs = run(a, ticks)
    assert [r.observed_seconds for r in recs] == [10.0]  # closed when the clock passed its end
    rest = a.flush()
    assert len(rest) == 1 and rest[0].observed_seconds == 10.0
    assert rest[0].bucket_start_ts == T0 + 3600


def test_wall_clock_jumping_back_never_reopens_a_bucket() -> None:
    a = agg()
    ticks = [(float(i), T0 + i, obs()) for i in range(0, 90)]  # bucket T0 closed, T0+60 open
    ticks += [(90.0 + i, T0 - 600 + i, obs()) for i in range(0, 700)]  # clock set back 11 min
    recs = run(a, ticks) + a.flush()
    starts = [r.bucket_start_ts for r in recs]
    assert starts == sorted(set(starts))
    for r in recs:
        assert r.observed_seconds <= 60.0
    assert starts[:2] == [T0, T0 + 60]
    assert recs[1].observed_seconds == 29.0  # finalised when the clock went back


def test_clock_jumping_forward_closes_the_bucket_without_overfilling() -> None:
    a = agg()
    ticks = [(float(i), T0 + i, obs()) for i in range(0, 31)]
    ticks += [(31.0 + i, T0 + 7200 + i, obs()) for i in range(0, 5)]
    recs = run(a, ticks) + a.flush()
    assert [r.bucket_start_ts for r in recs] == [T0, T0 + 7200 - 60, T0 + 7200]
    assert sum(r.observed_seconds for r in recs) == 30.0 + 5.0


def test_skip_until_starts_at_the_next_boundary() -> None:
    a = agg()
    a.skip_until(T0 + 60)
    recs = run(a, [(float(i), T0 + 30 + i, obs()) for i in range(0, 61)]) + a.flush()
    assert [r.bucket_start_ts for r in recs] == [T0 + 60]
    assert recs[0].observed_seconds == 30.0


def test_idle_runs_and_activity_seconds() -> None:
    a = agg()
    ticks = [(0.0, T0, obs())]
    for i in range(1, 61):
        active = 10 < i <= 20  # input in ticks 11..20, idle otherwise
        ticks.append((float(i), T0 + i, obs(idle=0.2 if active else 30.0, keys=1 if active else 0)))
    rec = run(a, ticks)[0]
    assert rec.active_seconds_any == 10.0
    assert rec.active_seconds_keyboard == 10.0
    assert rec.active_seconds_mouse == 0.0
    assert rec.leading_idle_seconds == 10.0
    assert rec.trailing_idle_seconds == 40.0
    assert rec.max_idle_run_seconds == 40.0
    assert rec.input_events == 10.0


def test_unknown_counters_are_nan_and_activity_comes_from_os_idle() -> None:
    a = agg()
    nocount = [Observation(foreground=None, idle_seconds=0.1 if i % 2 else 5.0)
               for i in range(0, 61)]
    rec = run(a, [(float(i), T0 + i, nocount[i]) for i in range(0, 61)])[0]
    assert math.isnan(rec.keys) and math.isnan(rec.mouse_px) and math.isnan(rec.input_events)
    assert math.isnan(rec.active_seconds_keyboard)
    assert rec.active_seconds_any == 30.0
    assert rec.segments == ()


def test_locked_seconds() -> None:
    a = agg()
    rec = run(a, [(float(i), T0 + i, obs(locked=i > 30, idle=100)) for i in range(0, 61)])[0]
    assert rec.locked_seconds == 30.0


def test_dst_change_keeps_buckets_and_changes_only_the_offset() -> None:
    switch = T0 + 120
    a = agg(local_offset=lambda ts: (120, "CEST") if ts < switch else (60, "CET"))
    recs = run(a, [(float(i), T0 + i, obs()) for i in range(0, 241)])
    assert [r.utc_offset_minutes for r in recs] == [120, 120, 60, 60]
    assert all(r.observed_seconds == 60.0 for r in recs)


@given(
    steps=st.lists(
        st.tuples(
            st.floats(min_value=0.05, max_value=3.0),  # monotonic step
            st.sampled_from([0.0] * 12 + [-3600.0, -30.0, -0.7, 0.9, 45.0, 3600.0]),  # wall jump
            st.sampled_from([0.0] * 20 + [120.0]),  # a sleep on both clocks
            st.booleans(),  # focus
        ),
        min_size=1, max_size=300,
    ),
    start=st.floats(min_value=0, max_value=120),
)
def test_property_no_duplicate_overlap_or_overfull_bucket(steps: list, start: float) -> None:
    a = agg(bucket_seconds=60)
    mono, wall = 0.0, T0 + start
    recs = list(a.tick(mono, wall, obs()))
    attributed_max = 0.0
    for dm, jump, sleep, focus in steps:
        mono += dm + sleep
        wall += dm + sleep + jump
        attributed_max += dm
        recs.extend(a.tick(mono, wall, obs(EDITOR if focus else TERM, keys=1)))
    recs.extend(a.flush())
    starts = [r.bucket_start_ts for r in recs]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    for r in recs:
        r.validate()
        assert 0 < r.observed_seconds <= 60.0
        assert sum(s.seconds for s in r.segments) <= r.observed_seconds + 1e-9
        assert r.active_seconds_any <= r.observed_seconds + 1e-9
        assert r.bucket_start_ts % 60 == 0
    assert sum(r.observed_seconds for r in recs) <= attributed_max + 0.001 * len(steps)  # ms grid


@given(st.lists(st.floats(min_value=0.2, max_value=2.0), min_size=1, max_size=200))
def test_property_steady_clocks_lose_no_time(steps: list) -> None:
    a = agg(bucket_seconds=10)
    mono = 0.0
    recs = list(a.tick(mono, T0 + mono, obs()))
    for dm in steps:
        mono += dm
        recs.extend(a.tick(mono, T0 + mono, obs(keys=2)))
    recs.extend(a.flush())
    assert abs(sum(r.observed_seconds for r in recs) - round(mono, 3)) < 0.01
    assert sum(r.keys for r in recs) == 2 * len(steps)
