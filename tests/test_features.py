"""Worked examples of every v2 feature (spec 2.5), each computed by hand in the test."""

from __future__ import annotations

import hashlib
import hmac
import math
from datetime import UTC, datetime, timedelta

import pytest
from features_helpers import (
    CLOCK,
    CODE,
    FIREFOX,
    KEY,
    SLACK,
    T0,
    ZOOM,
    active,
    isnan,
    rec,
    seg,
)

from engine.apps import LOCKSCREEN
from engine.features import FeatureBuilder, FeatureRow, build_rows
from engine.schema import MODEL_COLUMNS, SCHEMA_HASH_V2
from engine.sessions import session_id


def _hash(title: str) -> str:
    return hmac.new(KEY, title.encode(), hashlib.sha256).hexdigest()[:16]


def _rows(*records):  # type: ignore[no-untyped-def]
    return build_rows(list(records), clock=CLOCK)


def _entropy_bits(*secs: float) -> float:
    total = sum(secs)
    return -sum(s / total * math.log2(s / total) for s in secs if s > 0)


def test_quiet_minute() -> None:
    r = rec(0, [seg(0, 60, CODE, "main.py")], keys=0, backspaces=0, shortcuts=0, clicks=0,
            scrolls=0, mouse_px=0, active_kb=0, active_mouse=0, active_any=0, events=0)
    (row,) = _rows(r)
    f = row.model_features()
    assert list(f) == list(MODEL_COLUMNS)
    assert (f["app_id"], f["app_category"]) == ("com.microsoft.VSCode", "editor")
    assert (f["is_browser"], f["is_editor"], f["is_terminal"]) == (False, True, False)
    assert f["app_foreground_time_ratio"] == 1.0
    assert f["app_change_count"] == 0 and f["app_switch_count_last_5m"] == 0
    assert f["app_switch_count_last_15m"] == 0
    assert f["app_dwell_time_seconds"] == 60.0
    assert f["app_entropy_5m"] == 0.0 and f["app_entropy_15m"] == 0.0
    assert f["top2_app_concentration_15m"] == 1.0
    assert f["idle_return_indicator"] is True  # first bucket of a session
    assert f["keys_per_min"] == 0.0 and f["clicks_per_min"] == 0.0
    assert f["scroll_events_per_min"] == 0.0 and f["shortcut_rate"] == 0.0
    assert isnan(f["backspace_ratio"])  # no keys: a ratio of nothing
    assert f["mouse_distance"] == 0.0
    assert f["active_seconds_keyboard"] == 0.0 and f["active_seconds_any"] == 0.0
    assert f["max_idle_run_seconds"] == 60.0
    assert f["event_density"] == 0.0  # no active second
    assert f["domain_category"] == "non_browser"
    h = _hash("main.py")
    assert row.window_title_hash == h
    assert f["window_title_bucket"] == int(h, 16) % 256
    assert f["title_repeat_count_session"] == 1
    assert f["keys_per_min_rolling_5"] == 0.0 and f["mouse_distance_rolling_15"] == 0.0
    assert isnan(f["keys_per_min_delta"]) and isnan(f["mouse_distance_delta"])
    assert f["hour_of_day"] == 10 and f["day_of_week"] == 0  # Monday
    assert f["session_length_so_far"] == 0.0
    assert row.session_id == session_id("user-a", T0)
    assert row.session_start == T0 and row.bucket_start == T0
    assert row.schema_hash == SCHEMA_HASH_V2


def test_typing_minute() -> None:
    r = rec(0, [seg(0, 60, CODE, "main.py")], keys=240, backspaces=24, shortcuts=6, clicks=3,
            scrolls=2, mouse_px=500, active_kb=50, active_mouse=10, active_any=55, max_idle=5,
            leading=0, trailing=5, events=245)
    f = _rows(r)[0].model_features()
    assert f["keys_per_min"] == 240.0
    assert f["backspace_ratio"] == 24 / 240
    assert f["shortcut_rate"] == 6.0
    assert f["clicks_per_min"] == 3.0 and f["scroll_events_per_min"] == 2.0
    assert f["mouse_distance"] == 500.0
    assert (f["active_seconds_keyboard"], f["active_seconds_mouse"]) == (50.0, 10.0)
    assert f["active_seconds_any"] == 55.0 and f["max_idle_run_seconds"] == 5.0
    assert f["event_density"] == 245 / 55


def test_rates_scale_to_observed_time_and_need_20_seconds() -> None:
    half = rec(0, [seg(0, 30, CODE, "a")], observed=30, keys=60, clicks=4, scrolls=1,
               shortcuts=2, backspaces=6, active_any=20, events=65)
    f = _rows(half)[0].model_features()
    assert f["keys_per_min"] == 120.0 and f["clicks_per_min"] == 8.0
    assert f["scroll_events_per_min"] == 2.0 and f["shortcut_rate"] == 4.0
    assert f["backspace_ratio"] == 0.1  # a ratio, not a rate: no scaling
    assert f["app_foreground_time_ratio"] == 1.0  # 30 s of 30 s observed
    short = rec(0, [seg(0, 15, CODE, "a")], observed=15, keys=60, clicks=4, scrolls=1,
                shortcuts=2, active_any=10)
    g = _rows(short)[0].model_features()
    for name in ("keys_per_min", "clicks_per_min", "scroll_events_per_min", "shortcut_rate"):
        assert isnan(g[name]), name


def test_three_app_switches_in_one_minute() -> None:
    r = rec(0, [seg(0, 20, CODE, "main.py"), seg(20, 15, FIREFOX, "Issue 1 - GitHub - Mozilla Firefox"),
                seg(35, 10, SLACK, "general"), seg(45, 15, CODE, "test.py")], active_any=40)
    f = _rows(r)[0].model_features()
    assert f["app_change_count"] == 3  # code -> firefox -> slack -> code
    assert f["app_switch_count_last_5m"] == 3 and f["app_switch_count_last_15m"] == 3
    assert f["app_id"] == "com.microsoft.VSCode"  # 35 s of code beats 15 s and 10 s
    assert f["app_foreground_time_ratio"] == 35 / 60
    assert f["app_dwell_time_seconds"] == 35.0
    assert math.isclose(f["app_entropy_5m"], _entropy_bits(35, 15, 10), rel_tol=1e-12)
    assert f["app_entropy_15m"] == f["app_entropy_5m"]
    assert f["top2_app_concentration_15m"] == (35 + 15) / 60
    # the title is the dominant app's LONGEST segment: main.py (20 s) over test.py (15 s)
    assert _rows(r)[0].window_title_hash == _hash("main.py")


def test_change_from_previous_bucket_counts_at_start() -> None:
    rows = _rows(rec(0, [seg(0, 60, SLACK, "x")], active_any=10),
                 rec(1, [seg(0, 30, CODE, "a"), seg(30, 30, FIREFOX, "b")], active_any=10))
    f = rows[1].model_features()
    assert f["app_change_count"] == 2  # slack -> code at the boundary, code -> firefox
    assert f["app_switch_count_last_5m"] == 2
    assert f["app_id"] == "com.microsoft.VSCode"  # 30/30 tie: the one seen first
    assert math.isclose(f["app_entropy_5m"], _entropy_bits(60, 30, 30), rel_tol=1e-12)
    assert f["top2_app_concentration_15m"] == (60 + 30) / 120


def test_browser_dominant_gives_domain_category() -> None:
    r = rec(0, [seg(0, 40, FIREFOX, "Pull requests - GitHub - Mozilla Firefox"),
                seg(40, 20, CODE, "a")], active_any=30)
    f = _rows(r)[0].model_features()
    assert f["app_id"] == "org.mozilla.firefox" and f["is_browser"] is True
    assert f["domain_category"] == "code_hosting"


def test_ten_minute_stay_is_ten_buckets() -> None:
    recs = [active(i, keys=10 * i, mouse_px=100 * i, clicks=i, active_kb=10) for i in range(10)]
    rows = _rows(*recs)
    assert len(rows) == 10
    assert {r.session_id for r in rows} == {session_id("user-a", T0)}
    for i, row in enumerate(rows):
        f = row.model_features()
        assert f["app_dwell_time_seconds"] == 60.0 * (i + 1)
        assert f["title_repeat_count_session"] == i + 1
        assert f["session_length_so_far"] == float(i)
        assert f["idle_return_indicator"] is (i == 0)
        assert f["app_foreground_time_ratio"] == 1.0
        assert f["app_switch_count_last_15m"] == 0 and f["app_entropy_15m"] == 0.0
    last = rows[9].model_features()
    # 5-minute window = buckets starting in (t - 300 s, t] = minutes 5..9
    assert last["keys_per_min_rolling_5"] == (50 + 60 + 70 + 80 + 90) / 5
    assert last["keys_per_min_rolling_15"] == sum(10 * i for i in range(10)) / 10
    assert last["mouse_distance_rolling_5"] == (500 + 600 + 700 + 800 + 900) / 5
    assert last["keys_per_min_delta"] == 10.0
    assert last["clicks_per_min_delta"] == 1.0
    assert last["mouse_distance_delta"] == 100.0


def test_fifteen_minute_window_forgets_older_buckets() -> None:
    recs = [active(0, SLACK, "chat", keys=600)] + [active(i, keys=0) for i in range(1, 17)]
    rows = _rows(*recs)
    f14 = rows[14].model_features()  # minute 14: window (-60, 840] still holds minute 0
    assert f14["keys_per_min_rolling_15"] == 600 / 15
    assert f14["app_switch_count_last_15m"] == 1
    f15 = rows[15].model_features()  # minute 15: minute 0 has left the window
    assert f15["keys_per_min_rolling_15"] == 0.0
    assert f15["app_entropy_15m"] == 0.0
    # the slack -> code change happened at minute 1's start, still inside (0, 900]
    assert f15["app_switch_count_last_15m"] == 1
    assert f15["app_switch_count_last_5m"] == 0
    assert rows[16].model_features()["app_switch_count_last_15m"] == 0


def test_gap_of_four_minutes_keeps_the_session() -> None:
    # minute 0, then minute 5: four missing buckets = 240 s without a record
    rows = _rows(active(0, keys=30), active(5, keys=90))
    assert rows[0].session_id == rows[1].session_id
    f = rows[1].model_features()
    assert f["idle_return_indicator"] is False
    assert f["session_length_so_far"] == 5.0
    assert isnan(f["keys_per_min_delta"])  # t - 1 minute has no record
    assert f["keys_per_min_rolling_5"] == 90.0  # minute 0 is outside (t - 300, t]
    assert f["keys_per_min_rolling_15"] == (30 + 90) / 2  # gaps count as empty
    assert f["app_dwell_time_seconds"] == 60.0  # a gap interrupts the dwell
    assert f["title_repeat_count_session"] == 2


def test_gap_of_six_minutes_starts_a_new_session() -> None:
    rows = _rows(active(0, keys=30), active(7, keys=90))
    assert rows[1].session_id != rows[0].session_id
    assert rows[1].session_id == session_id("user-a", T0 + timedelta(minutes=7))
    f = rows[1].model_features()
    assert f["idle_return_indicator"] is True
    assert f["session_length_so_far"] == 0.0
    assert f["keys_per_min_rolling_15"] == 90.0  # windows never reach into the old session
    assert f["title_repeat_count_session"] == 1


def test_idle_run_of_five_minutes_starts_a_new_session_at_the_next_activity() -> None:
    recs = [active(0, trailing=30)]
    recs += [rec(i, [seg(0, 60, CODE, "main.py")]) for i in range(1, 5)]  # 4 idle buckets
    recs += [active(5, leading=30)]  # 30 + 240 + 30 = 300 s of idleness
    rows = _rows(*recs)
    assert len({r.session_id for r in rows[:5]}) == 1  # idle buckets stay in the old session
    assert [r.model_features()["idle_return_indicator"] for r in rows] == [
        True, False, False, False, False, True]
    assert rows[5].session_id == session_id("user-a", T0 + timedelta(minutes=5))


def test_idle_run_just_under_five_minutes_keeps_the_session() -> None:
    recs = [active(0, trailing=29)] + [rec(i, [seg(0, 60, CODE, "m")]) for i in range(1, 5)]
    recs += [active(5, leading=30)]  # 299 s
    rows = _rows(*recs)
    assert len({r.session_id for r in rows}) == 1


def test_silent_meeting_is_not_a_break() -> None:
    recs = [active(0, ZOOM, "Zoom Meeting", trailing=30)]
    recs += [rec(i, [seg(0, 60, ZOOM, "Zoom Meeting")]) for i in range(1, 8)]
    recs += [active(8, ZOOM, "Zoom Meeting", leading=30)]
    rows = _rows(*recs)
    assert len({r.session_id for r in rows}) == 1


def test_day_boundary_in_local_time() -> None:
    sunday = datetime(2026, 2, 22, 22, 59, tzinfo=UTC)  # 23:59 local at UTC+1, a Sunday
    rows = _rows(active(0, start=sunday, offset=60), active(1, start=sunday, offset=60))
    a, b = rows[0].model_features(), rows[1].model_features()
    assert (a["hour_of_day"], a["day_of_week"]) == (23, 6)
    assert (b["hour_of_day"], b["day_of_week"]) == (0, 0)
    assert rows[0].session_id == rows[1].session_id  # midnight is not a break
    assert b["session_length_so_far"] == 1.0


def test_dst_change_uses_each_records_offset() -> None:
    from zoneinfo import ZoneInfo

    from engine.activity import ActivityRecord

    berlin = ZoneInfo("Europe/Berlin")
    # 2026-03-29 01:00 UTC: Berlin jumps from 02:00 CET (+60) to 03:00 CEST (+120)
    start = datetime(2026, 3, 29, 0, 58, tzinfo=UTC)
    recs = []
    for i in range(3):
        obj = active(i, start=start).to_json()
        del obj["utc_offset_minutes"]  # filled from the zone, as `features build --tz` does
        recs.append(ActivityRecord.from_json(obj, default_tz=berlin))
    assert [r.utc_offset_minutes for r in recs] == [60, 60, 120]
    assert recs[0].tz_name == "Europe/Berlin"
    rows = _rows(*recs)
    assert [r.model_features()["hour_of_day"] for r in rows] == [1, 1, 3]
    assert [r.model_features()["session_length_so_far"] for r in rows] == [0.0, 1.0, 2.0]
    assert len({r.session_id for r in rows}) == 1
    # autumn: 2026-10-25 01:00 UTC, 03:00 CEST -> 02:00 CET: the hour 2 comes twice
    autumn = [active(i, start=datetime(2026, 10, 25, 0, 59, tzinfo=UTC),
                     offset=120 if i == 0 else 60) for i in range(2)]
    assert [r.model_features()["hour_of_day"] for r in _rows(*autumn)] == [2, 2]


def test_missing_counters_are_nan_not_zero() -> None:
    r = rec(0, [seg(0, 60, CODE, "a")], active_any=40, max_idle=20)  # all counters unknown
    f = _rows(r)[0].model_features()
    for name in ("keys_per_min", "backspace_ratio", "shortcut_rate", "clicks_per_min",
                 "scroll_events_per_min", "mouse_distance", "event_density",
                 "active_seconds_keyboard", "active_seconds_mouse", "keys_per_min_rolling_5",
                 "keys_per_min_rolling_15", "mouse_distance_rolling_5",
                 "mouse_distance_rolling_15"):
        assert isnan(f[name]), name
    assert f["active_seconds_any"] == 40.0  # from OS idle time


def test_partial_counters_macos_fallback() -> None:
    # key downs and clicks counted; backspaces, shortcuts, scrolls and pointer unknown
    r = rec(0, [seg(0, 60, CODE, "a")], keys=120, clicks=6, active_any=40)
    f = _rows(r)[0].model_features()
    assert f["keys_per_min"] == 120.0 and f["clicks_per_min"] == 6.0
    assert isnan(f["backspace_ratio"]) and isnan(f["shortcut_rate"])
    assert isnan(f["scroll_events_per_min"]) and isnan(f["mouse_distance"])
    assert isnan(f["event_density"])  # keys + clicks + (unknown) scrolls
    g = _rows(rec(0, [seg(0, 60, CODE, "a")], keys=120, clicks=6, scrolls=4,
                  active_any=40))[0].model_features()
    assert g["event_density"] == (120 + 6 + 4) / 40  # input_events derived from the counters


def test_rolling_means_skip_missing_values() -> None:
    rows = _rows(active(0, keys=60), active(1), active(2, keys=120))
    f = rows[2].model_features()
    assert f["keys_per_min_rolling_5"] == 90.0
    assert isnan(rows[1].model_features()["keys_per_min_delta"])
    assert isnan(f["keys_per_min_delta"])  # t - 1 minute is missing


def test_locked_minute_is_the_lock_screen() -> None:
    r = rec(0, [seg(0, 10, CODE, "a")], locked=50)
    row = _rows(r)[0]
    f = row.model_features()
    assert (f["app_id"], f["app_category"]) == (LOCKSCREEN.app_id, "lockscreen")
    assert f["app_foreground_time_ratio"] == 50 / 60
    assert row.window_title_hash is None
    assert isnan(f["window_title_bucket"]) and isnan(f["title_repeat_count_session"])


def test_no_foreground_information() -> None:
    f = _rows(rec(0, [], active_any=30))[0].model_features()
    assert (f["app_id"], f["app_category"], f["domain_category"]) == ("unknown", "other", "non_browser")
    assert (f["is_browser"], f["is_editor"], f["is_terminal"]) == (False, False, False)
    for name in ("app_foreground_time_ratio", "app_dwell_time_seconds", "app_entropy_5m",
                 "app_entropy_15m", "top2_app_concentration_15m", "window_title_bucket"):
        assert isnan(f[name]), name
    assert f["app_change_count"] == 0


def test_dwell_resets_when_another_app_dominates() -> None:
    rows = _rows(active(0), active(1), active(2, SLACK, "x"), active(3))
    assert [r.model_features()["app_dwell_time_seconds"] for r in rows] == [60, 120, 60, 60]


def test_title_repeat_counts_the_session_and_is_capped() -> None:
    b = FeatureBuilder(max_titles=2, clock=CLOCK)
    titles = ["a", "b", "a", "c", "b", "a"]
    counts = [b.push(active(i, title=t)).model_features()["title_repeat_count_session"]  # type: ignore[union-attr]
              for i, t in enumerate(titles)]
    # LRU of two titles: "c" evicts "b" (a was used more recently), then "b" evicts "a"
    assert counts == [1, 1, 2, 1, 1, 1]
    assert b.state_size == (6, 2)


def test_row_json_round_trip_and_columns() -> None:
    from engine.schema import REGISTRY_V2

    rows = _rows(rec(0, [seg(0, 60, CODE, "a")], keys=10, active_any=20), active(1))
    for row in rows:
        obj = row.to_json()
        assert list(obj)[: len(REGISTRY_V2)] == [n for n, _ in REGISTRY_V2]
        assert obj["user_id"] == "user-a" and obj["feature_builder_version"] >= 1
        assert obj["bucket_start_ts"] == row.bucket_start.isoformat()
        assert obj["bucket_end_ts"] == (row.bucket_start + timedelta(seconds=60)).isoformat()
        assert obj["schema_hash"] == SCHEMA_HASH_V2 and obj["schema_version"] == "v2"
        back = FeatureRow.from_json(obj)
        assert back.to_json() == obj
        assert back.session_start == row.session_start
    assert rows[1].to_json()["keys_per_min"] is None  # NaN -> null


def test_model_feature_types() -> None:
    from engine.schema import BOOLEAN_COLUMNS, CATEGORICAL_COLUMNS, REGISTRY_TYPES

    f = _rows(active(0, keys=5))[0].model_features()
    assert len(f) == 38
    for name, v in f.items():
        if name in CATEGORICAL_COLUMNS:
            assert type(v) is str
        elif name in BOOLEAN_COLUMNS:
            assert type(v) is bool
        elif REGISTRY_TYPES[name] == "int":
            assert type(v) is int or isnan(v), name
        else:
            assert type(v) is float, name


def test_from_json_refusals() -> None:
    from engine.errors import ArtifactError

    obj = _rows(active(0))[0].to_json()
    for key, value, field in [("schema_hash", "4077fe0dba70", "schema_hash"),
                              ("feature_builder_version", 999, "feature_builder_version"),
                              ("keys_per_min", "fast", "keys_per_min"),
                              ("is_browser", 1, "is_browser"),
                              ("app_id", None, "app_id"),
                              ("bucket_start_ts", "yesterday", "bucket_start_ts")]:
        bad = dict(obj, **{key: value})
        with pytest.raises(ArtifactError, match=rf"rows\.jsonl:3: {field}") as ei:
            FeatureRow.from_json(bad, where="rows.jsonl:3")
        assert ei.value.field == field and "rows.jsonl:3" in str(ei.value)
    missing = dict(obj)
    del missing["hour_of_day"]
    with pytest.raises(ArtifactError, match="hour_of_day"):
        FeatureRow.from_json(missing)


def test_model_features_is_a_fresh_dict() -> None:
    # model_features() is a fresh dict: callers may mutate it without touching the row
    row = _rows(active(0))[0]
    f = row.model_features()
    assert isnan(f["keys_per_min"])
    f["keys_per_min"] = 1.0
    assert row.model_features() is not f
    assert isnan(row.model_features()["keys_per_min"])


def test_rows_are_immutable_and_build_rows_drops_duplicates() -> None:
    import dataclasses

    rows = _rows(active(0), active(0, keys=50), active(1))
    assert [r.bucket_start for r in rows] == [T0, T0 + timedelta(minutes=1)]
    with pytest.raises(TypeError, match="does not support item assignment"):
        rows[0].values["keys_per_min"] = 1.0  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field"):
        rows[0].session_id = "x"  # type: ignore[misc]
    assert rows[0].values == rows[0].model_features()
    assert rows[0].bucket_end == T0 + timedelta(minutes=1)


def test_five_and_fifteen_minute_windows_differ() -> None:
    recs = [active(i, SLACK, "general") for i in range(5)]  # minutes 0-4 in Slack
    recs += [active(i, CODE, "main.py") for i in range(5, 11)]  # minutes 5-10 in the editor
    rows = _rows(*recs)
    f9 = rows[9].model_features()
    # 5 minutes = buckets starting in (t - 300 s, t] = minutes 5..9: only the editor
    assert f9["app_entropy_5m"] == 0.0
    # 15 minutes: 300 s of Slack and 300 s of the editor = exactly one bit
    assert f9["app_entropy_15m"] == 1.0
    assert f9["top2_app_concentration_15m"] == 1.0
    assert f9["app_switch_count_last_5m"] == 1  # the switch at minute 5's start
    assert f9["app_switch_count_last_15m"] == 1
    f10 = rows[10].model_features()
    assert f10["app_switch_count_last_5m"] == 0 and f10["app_switch_count_last_15m"] == 1
    assert math.isclose(f10["app_entropy_15m"], _entropy_bits(300, 360), rel_tol=1e-12)
    assert f10["app_dwell_time_seconds"] == 360.0


def test_rows_hash_by_user_device_and_bucket() -> None:
    a = _rows(active(0), active(1))
    b = _rows(active(0), active(1))
    assert [hash(r) for r in a] == [hash(r) for r in b] and len(set(a)) == 2
    assert a[0] in set(a) and a[0] == a[0]
