"""The personalisation benchmark's label sample (benchmarks/personalization_bench.py): N labelled
minutes are exactly N recorded minutes, spread over each early day like tray labels."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import personalization_bench as bench  # noqa: E402


def _days(n: int) -> list[object]:
    from trainer.synth import SynthConfig, generate_day, make_users

    cfg = SynthConfig(users=9, days=n, seed=0)
    user = make_users(cfg)[5]
    return [generate_day(cfg, user, i, d) for i, d in enumerate(cfg.working_days())]


def test_n_labelled_minutes_are_n_recorded_minutes_spread_over_each_day() -> None:
    days = _days(3)
    spans = bench._spans_for(days, 200)
    assert all(s.provenance == "manual" for s in spans)
    for day, quota in zip(days, (67, 67, 66), strict=True):
        recorded = sorted(t for t, _ in day.truth)
        mine = [s for s in spans if s.end_ts > recorded[0] and s.start_ts <= recorded[-1]]
        covered = {t for t in recorded for s in mine if s.start_ts <= t < s.end_ts}
        assert len(covered) == quota
        # labels come from the whole working day, not its first hours only
        assert max(s.start_ts for s in mine) > recorded[len(recorded) // 2]
        truth = dict(day.truth)
        spans_of_day = {(s.start_ts, s.label) for s in day.spans}
        assert all((s.start_ts, s.label) in spans_of_day for s in mine)  # the persona's own blocks
        assert all(truth.get(t) is not None for t in covered)
    assert bench._spans_for(days, 0) == []
