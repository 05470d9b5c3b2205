"""Calibrator fitting, eligibility boundaries and reject tuning (spec 5.4, 5.5)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import metrics as M
from engine.batch import calibrate_rows, decide
from engine.calibration import IsotonicCalibrator, TemperatureCalibrator, calibrator_from_json
from engine.reject_sweep import candidates, choose, sweep
from trainer.calibrate import eligibility, fit_isotonic, fit_store_calibrators, fit_temperature
from trainer.reject import fold_ids, tune

C = 8


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _sample(n: int, true_t: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Model probabilities softmax(z) whose truth is softmax(z / true_t)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, C)) * 2.5
    p_true = _softmax(z / true_t)
    y = np.array([rng.choice(C, p=row) for row in p_true])
    return _softmax(z), y


def test_temperature_recovers_a_known_overconfidence() -> None:
    raw, y = _sample(6000, 1.8)
    t = fit_temperature(raw, y)
    assert 1.6 < t < 2.0
    after = TemperatureCalibrator(t).apply(raw)
    assert M.nll(after, y) < M.nll(raw, y)
    assert M.ece(after, y) < M.ece(raw, y)


def test_temperature_is_one_when_it_does_not_help() -> None:
    raw = np.full((50, C), 1 / C)
    y = np.arange(50) % C
    assert fit_temperature(raw, y) == 1.0
    assert fit_temperature(np.zeros((0, C)), np.zeros(0, dtype=int)) == 1.0


def test_isotonic_fit_is_a_valid_engine_calibrator() -> None:
    raw, y = _sample(2000, 1.5, seed=2)
    cal = fit_isotonic(raw, y)
    again = calibrator_from_json(cal.to_json(), n_classes=C)
    assert isinstance(again, IsotonicCalibrator)
    p = again.apply(raw)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)
    assert M.nll(p, y) < M.nll(raw, y)


def _user_rows(n: int, days: int, labels: int, user: str = "u") -> tuple[list[str], np.ndarray, np.ndarray]:
    return [user] * n, np.arange(n) % days + 700_000, np.arange(n) % labels


@pytest.mark.parametrize(
    ("n", "days", "labels", "eligible"),
    [(200, 3, 3, True), (199, 3, 3, False), (200, 2, 3, False), (200, 3, 2, False), (500, 10, 8, True)],
)
def test_eligibility_boundaries(n: int, days: int, labels: int, eligible: bool) -> None:
    users, d, y = _user_rows(n, days, labels)
    e = eligibility(users, d, y)["u"]
    assert e["eligible"] is eligible
    assert (e["buckets"], e["days"], e["labels"]) == (n, days, labels)
    raw = _softmax(np.random.default_rng(0).normal(size=(n, C)))
    fit = fit_store_calibrators("temperature", raw, y, users, d, ["manual"] * n)
    assert ("u" in fit.user_calibrators) is eligible


def test_machine_labels_never_count_for_calibration() -> None:
    users, d, y = _user_rows(300, 3, 3)
    raw = _softmax(np.random.default_rng(1).normal(size=(300, C)))
    prov = ["synthetic"] * 150 + ["manual"] * 150
    fit = fit_store_calibrators("temperature", raw, y, users, d, prov)
    assert fit.eligibility["u"]["buckets"] == 150 and "u" not in fit.user_calibrators
    fit_rule = fit_store_calibrators("temperature", raw, y, users, d, ["rule"] * 300)
    assert fit_rule.user_calibrators == {} and fit_rule.eligibility == {}
    mix = fit_store_calibrators("temperature", raw, y, users, d, ["correction", "confirmation", "manual"] * 100)
    assert mix.provenance_counts["correction_confirmation_ratio"] == 1.0
    assert mix.provenance_counts["buckets"] == {"confirmation": 100, "correction": 100, "manual": 100}


def test_per_user_calibrator_fixes_one_miscalibrated_user() -> None:
    raw_a, y_a = _sample(3000, 1.0, seed=3)  # calibrated user
    raw_b, y_b = _sample(3000, 2.2, seed=4)  # over-confident model for this user
    raw = np.vstack([raw_a, raw_b])
    y = np.concatenate([y_a, y_b])
    users = ["a"] * 3000 + ["b"] * 3000
    days = np.tile(np.arange(5) + 700_000, 1200)
    fit = fit_store_calibrators("temperature", raw, y, users, days, ["manual"] * 6000)
    tb = fit.user_calibrators["b"]
    assert isinstance(tb, TemperatureCalibrator) and tb.temperature > 1.8
    glob = calibrate_rows(raw_b, ["b"] * 3000, fit.global_calibrator, {})
    own = calibrate_rows(raw_b, ["b"] * 3000, fit.global_calibrator, fit.user_calibrators)
    assert M.nll(own, y_b) < M.nll(glob, y_b) and M.ece(own, y_b) < M.ece(glob, y_b)


def test_decide_breaks_ties_by_raw_then_label_order() -> None:
    probs = np.array([[0.4, 0.4, 0.2], [0.4, 0.4, 0.2], [0.5, 0.25, 0.25]])
    raw = np.array([[0.3, 0.5, 0.2], [0.4, 0.4, 0.2], [0.5, 0.25, 0.25]])
    pred, conf = decide(probs, raw)
    assert pred.tolist() == [1, 0, 0] and conf.tolist() == [0.4, 0.4, 0.5]


def test_chow_rule_on_a_calibrated_model_gives_the_seed_default() -> None:
    # a perfectly calibrated model: a bucket with confidence q is right with probability q;
    # rejecting it saves (1 - q) errors at cost c, so the best threshold is 1 - c = 0.55
    rng = np.random.default_rng(0)
    n = 40_000
    conf = rng.uniform(0.2, 1.0, size=n)
    y = np.zeros(n, dtype=np.int64)
    pred = np.where(rng.random(n) < conf, 0, 1)
    rows = sweep(conf, pred, y, cost=0.45)
    best = choose(rows, max_reject=1.0)
    assert best["threshold"] == pytest.approx(0.55, abs=0.02)


def test_reject_rate_is_capped_at_thirty_percent() -> None:
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.2, 0.5, size=5000)  # a bad model: Chow would reject everything
    pred = np.where(rng.random(5000) < conf, 0, 1)
    rows = sweep(conf, pred, np.zeros(5000, dtype=np.int64), cost=0.45)
    best = choose(rows)
    assert best["reject_rate"] <= 0.30 and best["reject_rate"] > 0.25


def test_confident_model_still_gets_a_useful_sweep() -> None:
    rng = np.random.default_rng(1)
    conf = rng.uniform(0.95, 0.999, size=3000)
    cands = candidates(conf)
    inside = cands[(cands > conf.min()) & (cands < conf.max())]
    assert len(inside) >= 50  # the quantiles fill the range the 0.01 grid barely touches
    assert not np.isin(inside, conf).any()  # midpoints: no candidate sits on a bucket's confidence


def test_folds_are_contiguous_per_user() -> None:
    f = fold_ids(["a"] * 10 + ["b"] * 5, k=5)
    assert f[:10].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert f[10:].tolist() == [0, 1, 2, 3, 4]


def test_tune_gives_per_user_thresholds_only_for_the_given_users() -> None:
    raw, y = _sample(1200, 1.4, seed=7)
    users = ["a"] * 600 + ["b"] * 600
    res = tune(raw, raw, y, users, {"b"})
    assert set(res.per_user) == {"b"}
    assert 0 < res.global_threshold < 1
    out = res.to_json()
    assert out["global"]["threshold"] == res.global_threshold and out["per_user"]["b"]["threshold"] > 0


@given(st.integers(0, 10_000))
def test_sweep_is_monotone_in_the_threshold(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    conf = rng.uniform(0.125, 1.0, size=n)
    pred = rng.integers(0, 3, size=n)
    y = rng.integers(0, 3, size=n)
    rows = sweep(conf, pred, y, cost=0.45)
    rates = [r["reject_rate"] for r in rows]
    assert rates == sorted(rates)
    for r in rows:
        assert 0 <= r["reject_rate"] <= 1 and r["coverage"] == pytest.approx(1 - r["reject_rate"])
        assert 0 < r["threshold"] < 1


def test_own_calibrator_only_when_it_helps_on_held_out_days() -> None:
    from trainer.calibrate import own_calibrator_helps

    glob_cal = TemperatureCalibrator(1.0)
    days = np.repeat(np.arange(4) + 700_000, 750)
    w = np.ones(3000)
    raw_b, y_b = _sample(3000, 2.0, seed=11)  # over-confident for this user: own fit helps
    assert own_calibrator_helps("temperature", raw_b, y_b, days, w, glob_cal) is True
    raw_a, y_a = _sample(3000, 1.0, seed=12)  # already calibrated: a per-day refit only adds noise
    fit = fit_store_calibrators("temperature", raw_a, y_a, ["a"] * 3000, days, ["manual"] * 3000)
    assert "a" in fit.user_calibrators  # eligible users always get a calibrator...
    assert fit.eligibility["a"]["own_fit"] == fit.own_choice["a"]
    if not fit.own_choice["a"]:  # ...which is the global one when their own does not generalise
        assert fit.user_calibrators["a"] == fit.global_calibrator
    forced = fit_store_calibrators("temperature", raw_b, y_b, ["b"] * 3000, days, ["manual"] * 3000,
                                   own_choice={"b": False})
    assert forced.user_calibrators["b"] == forced.global_calibrator
