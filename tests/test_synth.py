"""The synthetic history generator (spec 5.7): realistic, deterministic, never overlapping."""

from __future__ import annotations

import math
from collections import Counter
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.activity import ActivityRecord, validate_record
from engine.labels import CORE_LABEL_SET, HUMAN_PROVENANCES
from trainer.synth import SynthConfig, generate, generate_day, make_users


def _day(cfg: SynthConfig, user_idx: int = 0, day_idx: int = 0):
    users = make_users(cfg)
    return generate_day(cfg, users[user_idx], day_idx, cfg.working_days()[day_idx])


def test_same_seed_same_day_is_identical() -> None:
    cfg = SynthConfig(users=2, days=3, seed=7)
    a, b = _day(cfg, 1, 2), _day(cfg, 1, 2)
    assert [r.to_json() for r in a.records] == [r.to_json() for r in b.records]
    assert a.spans == b.spans
    assert a.truth == b.truth


def test_a_day_does_not_depend_on_how_many_days_or_users_are_generated() -> None:
    small = _day(SynthConfig(users=2, days=3, seed=3), 1, 2)
    big = _day(SynthConfig(users=2, days=9, seed=3), 1, 2)
    assert [r.to_json() for r in small.records][:50] == [r.to_json() for r in big.records][:50]


def test_other_seed_gives_other_history() -> None:
    a = _day(SynthConfig(users=1, days=1, seed=1))
    b = _day(SynthConfig(users=1, days=1, seed=2))
    assert [r.to_json() for r in a.records] != [r.to_json() for r in b.records]


def test_working_days_skip_weekends() -> None:
    cfg = SynthConfig(users=1, days=7, start=date(2026, 3, 6))  # a Friday
    days = cfg.working_days()
    assert len(days) == 7 and all(d.weekday() < 5 for d in days)
    assert days[0] == date(2026, 3, 6) and days[1] == date(2026, 3, 9)


def test_records_are_valid_buckets_on_the_grid() -> None:
    day = _day(SynthConfig(users=3, days=2, seed=0), 2, 1)
    assert 300 < len(day.records) < 700
    starts = [r.bucket_start for r in day.records]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    for r in day.records:
        validate_record(r)
        assert r.bucket_start.timestamp() % 60 == 0
        assert sum(s.seconds for s in r.segments) <= r.observed_seconds + 1e-6


def test_all_labels_occur_with_imbalance_and_realistic_structure() -> None:
    cfg = SynthConfig(users=5, days=4, seed=0)
    truth = Counter(lab for d in generate(cfg) for _, lab in d.truth)
    assert set(truth) == CORE_LABEL_SET
    counts = sorted(truth.values())
    assert counts[-1] > 3 * counts[0]  # imbalanced


def test_lunch_is_a_gap_and_breaks_lock_the_screen() -> None:
    day = _day(SynthConfig(users=1, days=1, seed=0))
    gaps = [(b.bucket_start - a.bucket_start) for a, b in zip(day.records, day.records[1:], strict=False)]
    assert max(gaps) >= timedelta(minutes=30)  # the laptop slept over lunch
    locked = [r for r in day.records if r.locked_seconds > 0]
    assert locked and all(r.active_seconds_any == 0 for r in locked)


def test_labels_are_partial_noisy_and_never_overlap() -> None:
    cfg = SynthConfig(users=3, days=5, seed=4)
    covered = total = 0
    mismatched = labelled = 0
    for d in generate(cfg):
        spans = sorted(d.spans, key=lambda s: s.start_ts)
        for a, b in zip(spans, spans[1:], strict=False):
            assert a.end_ts <= b.start_ts
        for s in spans:
            s.validate()
            assert s.provenance in HUMAN_PROVENANCES
        truth = dict(d.truth)
        total += len(d.truth)
        for s in spans:
            t = s.start_ts
            while t < s.end_ts:
                if t in truth:
                    labelled += 1
                    mismatched += truth[t] != s.label
                t += timedelta(minutes=1)
            covered += int((s.end_ts - s.start_ts).total_seconds() // 60)
    assert 0.5 < covered / total < 0.95  # partial coverage
    assert 0.0 < mismatched / labelled < 0.15  # boundary jitter + a few percent of noise


def test_some_users_are_miscalibrated_twins_of_regular_users() -> None:
    users = make_users(SynthConfig(users=6))
    mis = [u for u in users if u.miscalibrated]
    assert [u.user_id for u in mis] == ["user-05", "user-06"]
    assert all(u.ambiguity > 0 for u in mis)
    regular = {u.persona.name for u in users if not u.miscalibrated}
    assert len(regular) == 4 and {u.persona.name for u in mis} <= regular  # same persona as a regular user
    assert len({u.utc_offset_minutes for u in users}) == 6
    none = make_users(SynthConfig(users=6, miscalibrated_users=0))
    assert not any(u.miscalibrated for u in none)
    assert len({u.persona.name for u in none}) == 5


def test_missing_counter_days_are_nan_not_zero() -> None:
    cfg = SynthConfig(users=1, days=1, seed=0, missing_counter_day_rate=1.0)
    day = _day(cfg)
    assert all(math.isnan(r.keys) and math.isnan(r.mouse_px) for r in day.records)
    assert any(r.active_seconds_any > 0 for r in day.records)


@given(seed=st.integers(0, 10_000), user=st.integers(0, 7), day=st.integers(0, 30))
def test_any_seed_user_day_gives_valid_records_and_spans(seed: int, user: int, day: int) -> None:
    cfg = SynthConfig(users=8, days=31, seed=seed)
    d = generate_day(cfg, make_users(cfg)[user], day, cfg.working_days()[day])
    prev = None
    for r in d.records:
        validate_record(r)
        if prev is not None:
            assert r.bucket_start > prev
        prev = r.bucket_start
    spans = sorted(d.spans, key=lambda s: s.start_ts)
    for a, b in zip(spans, spans[1:], strict=False):
        assert a.end_ts <= b.start_ts
    for s in spans:
        s.validate()


def test_default_start_fits_the_requested_length() -> None:
    from trainer.synth import DEFAULT_START, MARGIN_DAYS, fit_start, working_days_from

    today = date(2026, 11, 27)
    assert fit_start(20, today) == DEFAULT_START  # short histories keep the fixed start
    start = fit_start(365, today)
    assert start.weekday() == 0
    end = working_days_from(start, 365)[-1]
    assert end <= today - timedelta(days=MARGIN_DAYS)
    assert working_days_from(start + timedelta(days=7), 365)[-1] > today - timedelta(days=MARGIN_DAYS)


def test_a_start_that_runs_into_the_future_is_refused_with_the_latest_that_fits() -> None:
    from engine.errors import TaskclfError
    from trainer.synth import fit_start

    today = date(2026, 11, 27)
    assert fit_start(5, today, date(2026, 11, 16)) == date(2026, 11, 16)
    with pytest.raises(TaskclfError, match=r"--start 2026-11-23: 5 working days would end on 2026-11-27.*use --start 2026-11-16 or earlier"):
        fit_start(5, today, date(2026, 11, 23))


def test_synth_writes_one_day_at_a_time() -> None:
    from trainer.synth_store import write_synthetic

    class CountingStore:
        def __init__(self) -> None:
            self.calls: list[set[tuple[str, date]]] = []

        def put_records(self, recs: list[ActivityRecord]) -> int:
            self.calls.append({(r.user_id, (r.bucket_start + timedelta(minutes=r.utc_offset_minutes)).date()) for r in recs})
            return len(recs)

        def put_feature_rows(self, rows: list[object]) -> None:
            assert len(rows) <= 1440

        def add_label_spans(self, spans: list[object]) -> list[object]:
            return spans

    store = CountingStore()
    totals = write_synthetic(store, SynthConfig(users=2, days=3, seed=1))
    assert len(store.calls) == 6 and all(len(c) == 1 for c in store.calls)
    assert totals["records"] > 0 and totals["feature_rows"] == totals["records"]


def test_counterless_sources_look_like_activitywatch() -> None:
    """No input counts; a minute is active all through or idle all through (AFK watcher)."""
    cfg = SynthConfig(users=8, days=2, seed=3, miscalibrated_users=0)
    users = make_users(cfg)
    aw = [u for u in users if not u.has_counters]
    assert {u.source for u in aw} == {"activitywatch", "wayland"}
    recs = [r for d in generate(cfg) if not d.user.has_counters for r in d.records]
    assert all(math.isnan(r.keys) and math.isnan(r.scrolls) for r in recs)
    assert {r.active_seconds_any for r in recs} <= {0.0, 60.0}
    share_all_minute = sum(r.active_seconds_any == 60.0 for r in recs) / len(recs)
    assert 0.7 < share_all_minute < 0.98
    # an import of aw-server's history: away only for quiet runs of at least the AFK timeout,
    # so never one idle minute between active ones
    assert {u.afk_view for u in aw} == {"live", "server"}
    for d in generate(cfg):
        if d.user.has_counters or d.user.afk_view != "server":
            continue
        act = [r.active_seconds_any == 60.0 for r in d.records]
        for k in range(1, len(act) - 1):
            gap = d.records[k + 1].bucket_start - d.records[k - 1].bucket_start
            if gap == timedelta(minutes=2) and d.records[k].locked_seconds == 0:
                assert not (act[k - 1] and not act[k] and act[k + 1]), d.records[k].bucket_start
    with_counts = [r for d in generate(cfg) if d.user.has_counters for r in d.records]
    assert sum(not math.isnan(r.keys) for r in with_counts) / len(with_counts) > 0.75  # a few days without


def test_users_have_their_own_apps_and_shifted_schedules() -> None:
    users = make_users(SynthConfig(users=12, seed=0))
    editors = {u.apps["Build"][0][0].app_id for u in users}
    assert len(editors) >= 3
    starts = [u.start_minute for u in users]
    assert min(starts) < 8 * 60 and max(starts) > 10 * 60
