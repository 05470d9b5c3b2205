"""Per-user calibration against the deployed bundle: eligibility, shrinkage, the command."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from engine.eligibility import (
    Eligibility,
    calibration_mask,
    eligibility,
    store_eligibility,
    trained_days,
)
from engine.errors import TaskclfError
from engine.personal_fit import (
    bound_reject_rate,
    evidence_weight,
    shrink_temperature,
    shrink_threshold,
    shrink_user_temperature,
    shrink_weight,
)
from engine.personal_reject import (
    RateSample,
    agreeing_threshold,
    reject_band,
    threshold_at_most,
    threshold_for_rate,
    typical_rate,
    user_threshold,
)
from engine.personalize import Figures, verdict
from engine.temperature_fit import fit_temperature, log_temperature_variance

ROOT = Path(__file__).resolve().parent.parent


# -- eligibility ---------------------------------------------------------------------------


def test_tray_line_says_what_is_missing_in_plain_words() -> None:
    assert Eligibility(120, 2, 3).line() == "Personal tuning: 120 of 200 labelled minutes, 2 of 3 days"
    assert Eligibility(250, 1, 2).line() == (
        "Personal tuning: 200 of 200 labelled minutes, 1 of 3 days, 2 of 3 kinds of work")
    assert Eligibility(240, 4, 5).line() == "Personal tuning: ready (240 labelled minutes on 4 days)"
    assert Eligibility(199, 3, 3).reason == "199 of 200 labelled minutes"
    assert Eligibility(200, 3, 3).eligible and not Eligibility(200, 3, 2).eligible


def test_calibration_rows_leave_out_machine_labels_and_trained_days() -> None:
    users = ["a", "a", "a", "a", "b", "b"]
    days = np.array([10, 11, 12, 12, 10, 11])
    y = np.array([0, 1, -1, 2, 3, 4])
    prov = ["manual", "synthetic", None, "correction", "rule", "prompt"]
    mask = calibration_mask(users, days, y, prov, {"a": {10}})
    assert mask.tolist() == [False, False, False, True, False, True]
    e = eligibility([u for u, k in zip(users, mask, strict=True) if k], days[mask], y[mask])
    assert e == {"a": Eligibility(1, 1, 1), "b": Eligibility(1, 1, 1)}


def test_trained_days_read_from_the_bundle_split() -> None:
    class B:
        split = {"users": {"u": {"train": ["2026-01-05", "2026-01-06"], "test": ["2026-01-09"]}}}

    got = trained_days(B())
    assert got == {"u": {datetime(2026, 1, 5).toordinal(), datetime(2026, 1, 6).toordinal()}}
    assert trained_days(object()) == {}


def test_store_eligibility_counts_recorded_buckets_fully_inside_human_spans(tmp_path: Path) -> None:
    from engine.spans import LabelSpan
    from engine.store import Store
    from tests.store_helpers import at, record

    base = 13 * 60  # 22:00 UTC = 23:00 local (+60): the labelled hours straddle local midnight
    t0 = at(base)
    with Store.open(tmp_path / "s.sqlite3") as store:
        store.put_records([record(base + i, user="u") for i in range(120)])
        made = datetime(2026, 3, 3, tzinfo=UTC)
        store.add_label_spans([
            LabelSpan(t0, t0 + timedelta(minutes=30, seconds=30), "Build", "u", "manual", None, made),
            LabelSpan(t0 + timedelta(minutes=60), t0 + timedelta(minutes=90), "Debug", "u", "correction", None, made),
            LabelSpan(t0 + timedelta(minutes=90), t0 + timedelta(minutes=120), "Write", "u", "rule", None, made),
        ])
        assert store_eligibility(store, "u") == Eligibility(60, 2, 2)
        next_day = (t0 + timedelta(minutes=60 + 60)).date().toordinal()
        assert store_eligibility(store, "u", exclude_days={next_day}) == Eligibility(30, 1, 1)
        assert store_eligibility(store, "nobody") == Eligibility()


# -- shrinkage -----------------------------------------------------------------------------


@given(st.floats(0.2, 5.0), st.floats(0.2, 5.0), st.floats(-1.0, 2.0))
def test_shrunk_temperature_lies_between_the_shared_and_the_users(own: float, shared: float, a: float) -> None:
    t = shrink_temperature(own, shared, a)
    assert min(own, shared) - 1e-4 <= t <= max(own, shared) + 1e-4


@given(st.floats(0, 1e5), st.floats(0, 1e5))
def test_more_data_moves_the_user_further_from_the_shared_value(n1: float, n2: float) -> None:
    lo, hi = sorted((n1, n2))
    assert shrink_weight(lo, 100) <= shrink_weight(hi, 100)
    assert abs(shrink_threshold(0.8, 0.5, lo) - 0.8) >= abs(shrink_threshold(0.8, 0.5, hi) - 0.8) - 1e-4


def test_shrinkage_documented_points() -> None:
    assert shrink_temperature(2.0, 1.0, 0.0) == 1.0
    assert shrink_temperature(2.0, 1.0, 1.0) == 2.0
    assert shrink_temperature(4.0, 1.0, 0.5) == pytest.approx(2.0)
    assert shrink_threshold(0.7, 0.5, 300) == pytest.approx(0.6)
    # evidence: the deviation's square against the sampling variance of log T
    assert evidence_weight(0.5, 0.05) == pytest.approx(0.8)
    assert evidence_weight(0.1, 0.05) == 0.0
    assert evidence_weight(0.0, 0.0) == 0.0
    assert evidence_weight(1.0, float("inf")) == 0.0


def _tempered_days(rng: np.random.Generator, temps: list[float], per_day: int) -> tuple[np.ndarray, ...]:
    """Rows whose labels follow softmax(log raw / T) with the day's true temperature T."""
    raws, ys, days = [], [], []
    for d, t in enumerate(temps):
        z = rng.normal(size=(per_day, 8)) * 2.5
        raw = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        p = np.exp(z / t) / np.exp(z / t).sum(axis=1, keepdims=True)
        ys.append(np.array([rng.choice(8, p=row) for row in p]))
        raws.append(raw)
        days.append(np.full(per_day, d))
    return np.concatenate(raws), np.concatenate(ys), np.concatenate(days)


def test_a_user_whose_days_agree_gets_their_own_temperature() -> None:
    rng = np.random.default_rng(7)
    raw, y, days = _tempered_days(rng, [2.0] * 6, 90)  # 540 minutes, clearly over-confident model
    fit = shrink_user_temperature(raw, y, np.ones(len(y)), days, 1.0)
    assert 1.7 < fit.own < 2.4
    assert fit.weight > 0.9  # where a count rule (500 / (500 + 100)) would keep 17 % shared
    assert 1.0 < fit.temperature <= fit.own


def test_a_user_whose_days_disagree_stays_near_the_shared_temperature() -> None:
    rng = np.random.default_rng(11)
    raw, y, days = _tempered_days(rng, [0.6, 1.8, 0.6, 1.8, 0.6, 1.8], 90)
    fit = shrink_user_temperature(raw, y, np.ones(len(y)), days, 1.0)
    assert fit.weight < 0.5
    assert abs(math.log(fit.temperature)) < abs(math.log(fit.own)) * 0.5 + 1e-9


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0.4, 3.0), min_size=1, max_size=5), st.floats(0.5, 2.0), st.integers(5, 60),
       st.integers(0, 2**16))
def test_personal_temperature_lies_between_the_shared_and_the_fitted_one(
        temps: list[float], shared: float, per_day: int, seed: int) -> None:
    raw, y, days = _tempered_days(np.random.default_rng(seed), temps, per_day)
    fit = shrink_user_temperature(raw, y, np.ones(len(y)), days, shared)
    assert 0.0 <= fit.weight <= 1.0
    assert min(fit.own, shared) - 1e-4 <= fit.temperature <= max(fit.own, shared) + 1e-4
    if len(temps) == 1:  # one day says nothing about the next: the shared temperature stays
        assert fit.temperature == round(shared, 4)


def test_log_temperature_variance_counts_days_not_rows() -> None:
    rng = np.random.default_rng(5)
    raw, y, days = _tempered_days(rng, [0.7, 1.6, 0.7, 1.6], 150)
    w = np.ones(len(y))
    t = fit_temperature(raw, y, w)
    clustered = log_temperature_variance(raw, y, w, days, t)
    rows_as_days = log_temperature_variance(raw, y, w, np.arange(len(y)), t)
    assert clustered > 3 * rows_as_days  # the days disagree: far less evidence than 600 rows
    assert log_temperature_variance(raw, y, w, np.zeros(len(y)), t) == float("inf")


@given(st.lists(st.floats(0.13, 1.0), min_size=20, max_size=300), st.floats(0.01, 0.99))
def test_bounded_threshold_rejects_five_to_thirty_percent(conf: list[float], t: float) -> None:
    c = np.asarray(conf)
    b = bound_reject_rate(t, c)
    rate = float((c < b).mean())
    # ties in the confidences can make the exact band unreachable; otherwise it holds
    if len(np.unique(c)) == len(c):
        assert 0.05 - 1 / len(c) <= rate <= 0.30 + 1e-9


# -- the decision --------------------------------------------------------------------------


def _fig(nll: float, acc: float, f1: float, reject: float = 0.1) -> Figures:
    return Figures(nll=nll, ece=0.1, brier=0.3, reject_rate=reject, shown_accuracy=acc, shown_macro_f1=f1, n=100)


def test_kept_unless_nll_lower_and_shown_figures_hold() -> None:
    assert verdict(_fig(0.8, 0.70, 0.60), _fig(0.7, 0.695, 0.595)) is None
    assert "NLL not lower" in (verdict(_fig(0.7, 0.7, 0.6), _fig(0.7, 0.8, 0.7)) or "")
    assert "shown accuracy would drop" in (verdict(_fig(0.8, 0.70, 0.6), _fig(0.7, 0.68, 0.6)) or "")
    assert "macro-F1 would drop" in (verdict(_fig(0.8, 0.70, 0.6), _fig(0.7, 0.70, 0.58)) or "")


def test_rejects_forced_by_the_band_floor_are_not_held_against_the_calibration() -> None:
    before = _fig(0.8, 0.70, 0.60, reject=0.03)
    after = _fig(0.7, 0.675, 0.58, reject=0.065)  # 3.5 points more rejected to reach the band
    assert verdict(before, after, floor=0.065) is None
    assert "shown accuracy would drop" in (verdict(before, after, floor=0.0) or "")
    # "Retrain now" may only make things better: no shown figure may drop, forced or not
    assert "shown accuracy would drop" in (verdict(before, after, floor=0.065, strict=True) or "")
    assert verdict(before, _fig(0.7, 0.70, 0.60, reject=0.065), floor=0.065, strict=True) is None
    # only up to the floor: rejecting more than the band asks is judged as usual
    assert "shown accuracy would drop" in (verdict(before, _fig(0.7, 0.64, 0.6, reject=0.12), floor=0.065) or "")


def test_isotonic_without_the_trainer_says_what_to_install() -> None:
    code = ("import sys; sys.modules['trainer'] = None; sys.modules['sklearn'] = None\n"
            "from engine.fitters import fitter_for\n"
            "try:\n    fitter_for('isotonic')\nexcept Exception as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert "isotonic calibration needs the trainer: install taskclf[trainer]" in out.stdout
    from engine.fitters import fitter_for

    with pytest.raises(TaskclfError, match="unknown calibration method 'platt'"):
        fitter_for("platt")


# -- the command on a trained home --------------------------------------------------------------


@pytest.fixture
def personal_home(demo_home: Path, tmp_path: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    return home


@pytest.mark.slow
def test_personalize_writes_a_bound_store_and_policy_only_for_users_it_helps(personal_home: Path) -> None:
    from engine.personalize import personalize
    from engine.policy import load_policy

    before = load_policy(personal_home)
    out = personalize(personal_home, now=datetime(2026, 6, 1, tzinfo=UTC))
    statuses = {u.user_id: u.status for u in out.users}
    assert set(statuses.values()) <= {"personalised", "kept", "not_eligible"}
    for u in out.users:
        assert u.reason
        if u.status != "not_eligible":
            assert u.before is not None and u.after is not None
    after = load_policy(personal_home)
    assert after.bundle.run_id == before.bundle.run_id
    if not out.changed:
        assert after.content_sha256 == before.content_sha256
        return
    assert out.store_dir is not None and after.store is not None
    assert after.store.path == out.store_dir.resolve()
    assert after.policy.source == "personalize"
    for u in out.users:
        assert u.after is not None or u.status == "not_eligible"
        if u.status == "personalised":
            assert u.after is not None and u.before is not None
            assert u.after.nll < u.before.nll
            assert after.store.lookup(u.user_id)[1] == "user"
            assert after.store.user_calibrators[u.user_id] == u.calibrator
            assert (after.policy.per_user_reject_thresholds or {})[u.user_id] == u.threshold
        elif before.store is not None and u.user_id in before.store.user_calibrators:
            assert after.store.user_calibrators[u.user_id] == before.store.user_calibrators[u.user_id]


@pytest.mark.slow
def test_agent_only_install_personalises_without_scikit_learn(personal_home: Path) -> None:
    """The command through the dispatcher, with the trainer's heavy dependencies unavailable."""
    code = (
        "import sys\n"
        "sys.modules['sklearn'] = None; sys.modules['scipy'] = None\n"
        "import engine.cli.main as m\n"
        f"rc = m.main(['personalize', '--home', {str(personal_home)!r}, '--dry-run', '--json', '--user-id', 'user-05'])\n"
        "assert rc == 0, rc\n"
        "loaded = [k for k in sys.modules if k.split('.')[0] in ('sklearn', 'scipy') and sys.modules[k] is not None]\n"
        "print('HEAVY', loaded)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == "HEAVY []"
    out = json.loads(lines[0])
    assert out["dry_run"] is True and [u["user_id"] for u in out["users"]] == ["user-05"]
    assert out["users"][0]["before"]["shown_accuracy"] > 0
    from engine.paths import calibrator_stores_dir

    assert not list(calibrator_stores_dir(personal_home).glob("*_personal_*"))


def test_train_calibrate_takes_every_day_of_a_user_outside_the_bundle_split() -> None:
    from engine.frame import Frame
    from trainer.workflow import part_rows

    d = [datetime(2026, 1, k).date() for k in (5, 6, 7)]
    users = ["a", "a", "a", "b", "b", "b"]
    frame = Frame.from_rows([{}] * 6, user_ids=users, bucket_starts=list(range(6)),
                            local_days=[x.toordinal() for x in d + d], session_ids=[None] * 6,
                            labels=[0, 1, 2, 3, -1, 5], provenance=["manual"] * 6)

    class Bundle:
        run_id = "r"
        path = Path("bundle")
        split = {"users": {"a": {"train": [d[0].isoformat()], "calibration": [d[1].isoformat()],
                                 "test": [d[2].isoformat()]}}}

    rows = part_rows(frame, Bundle(), "calibration", None, None)
    assert list(zip(rows.user_ids, rows.y.tolist(), strict=True)) == [("a", 1), ("b", 3), ("b", 5)]
    test_rows = part_rows(frame, Bundle(), "test", None, None)
    assert test_rows.user_ids == ["a"]


def _rows(seed: int, n: int = 1000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 8)) * 2
    probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    y = probs.argmax(axis=1)
    y[:150] = (y[:150] + 1) % 8  # some errors, mostly on no particular confidence
    return probs, y, probs.max(axis=1)


def _sample(conf: np.ndarray, deployed_rate: float, days: int = 10) -> RateSample:
    order = np.argsort(conf)
    rejected = np.zeros(len(conf), dtype=bool)
    rejected[order[:int(round(deployed_rate * len(conf)))]] = True
    return RateSample(conf, np.arange(len(conf)) % days, rejected)


def test_user_threshold_moves_from_the_deployed_reject_rate_with_data() -> None:
    probs, y, conf = _rows(3)
    for deployed in (0.02, 0.12, 0.5):
        sample = _sample(conf, deployed)
        lo, hi = reject_band(sample)
        t0 = user_threshold(probs, probs, y, 0.0, sample)
        assert t0.rate == pytest.approx(min(max(deployed, lo), hi), abs=0.011)  # 100 buckets a day
    sample = _sample(conf, 0.25)
    far = user_threshold(probs, probs, y, 1e6, sample).rate
    near = user_threshold(probs, probs, y, 10.0, sample).rate
    assert abs(near - 0.25) < abs(far - 0.25) + 1e-9


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**16), st.floats(0.0, 0.6), st.floats(0, 5000), st.integers(2, 12))
@example(seed=4962, deployed=0.5, n=0.0, days=9)  # the median day's step overshot the upper edge
def test_user_reject_rate_lies_between_the_deployed_and_the_users_within_the_band(
        seed: int, deployed: float, n: float, days: int) -> None:
    from engine.batch import decide
    from engine.reject_sweep import choose, sweep

    probs, y, conf = _rows(seed, 400)
    sample = _sample(conf, deployed, days)
    lo, hi = reject_band(sample)
    assert 0.08 - 1e-9 <= lo <= 0.10 + 1e-9 and 0.25 - 1e-9 <= hi <= 0.27 + 1e-9
    own = choose(sweep(conf, decide(probs, probs)[0], y, 0.45))["reject_rate"]
    dep = float(np.median(sample.daily(sample.deployed_rejects)))
    got = user_threshold(probs, probs, y, n, sample)
    step = days / len(conf) + 1e-9  # one bucket of a typical day
    assert min(max(min(own, dep), lo), hi) - step <= got.rate <= min(max(max(own, dep), lo), hi) + step
    assert got.rate == typical_rate(sample, got.threshold)
    assert got.rate <= hi + 1e-9  # the upper edge is a limit, not a target to reach


def test_the_upper_edge_is_never_overshot_by_a_coarse_median_day() -> None:
    # three days of 10 buckets: the median day's rate moves in steps of 10 %, so 25 % is not reachable
    conf = np.concatenate([np.linspace(0.1, 1.0, 10), np.linspace(0.12, 0.93, 10), np.linspace(0.15, 0.96, 10)])
    sample = RateSample(conf, np.repeat([0, 1, 2], 10), np.zeros(30, dtype=bool))
    assert typical_rate(sample, threshold_for_rate(sample, 0.25)) == pytest.approx(0.30)  # at least 25 %
    t = threshold_at_most(sample, 0.25)
    assert typical_rate(sample, t) == pytest.approx(0.20)  # at most 25 %
    next_up = float(conf[conf >= t].min()) + 1e-6
    assert typical_rate(sample, next_up) > 0.25  # and the highest such threshold


def test_the_typical_day_ignores_an_odd_day() -> None:
    conf = np.tile(np.linspace(0.3, 1.0, 100), 7)
    days = np.repeat(np.arange(7), 100)
    conf[days == 3] = 0.35  # a day without input counters: unsure all day
    sample = RateSample(conf, days, np.zeros(len(conf), dtype=bool))
    t = threshold_for_rate(sample, 0.10)
    assert typical_rate(sample, t) == pytest.approx(0.10)
    assert float((conf[days != 3] < t).mean()) == pytest.approx(0.10)  # the usual days reject 10 %


def test_reject_band_narrows_with_the_day_to_day_spread() -> None:
    conf = np.linspace(0.2, 1.0, 2000)
    steady = RateSample(conf, np.arange(2000) % 8, np.zeros(2000, dtype=bool))
    assert reject_band(steady) == pytest.approx((0.08, 0.27), abs=1e-9)  # three points: the least
    # the days' confidences shift: where the median day rejects 5 %, the days reject 0-17 %
    shifts = np.repeat([-0.1, -0.05, 0.0, 0.05, 0.1], 500)
    swing = RateSample(np.tile(np.linspace(0.2, 1.0, 500), 5) + shifts, np.repeat(np.arange(5), 500),
                       np.zeros(2500, dtype=bool))
    lo, _ = reject_band(swing)
    assert lo == pytest.approx(0.10)  # five points: the most


def test_keeping_the_rate_rejects_what_the_deployed_engine_rejects() -> None:
    conf = np.linspace(0.2, 1.0, 1000)
    same_order = _sample(conf, 0.12)
    t_lo, t_hi = threshold_for_rate(same_order, 0.08), threshold_for_rate(same_order, 0.27)
    t = agreeing_threshold(same_order, t_lo, t_hi)
    assert float((conf < t).mean()) == pytest.approx(0.12)
    assert agreeing_threshold(_sample(conf, 0.01), t_lo, t_hi) == t_lo  # kept within the band


def test_doctor_says_how_far_personal_tuning_is(tmp_path: Path) -> None:
    from agent.doctor import _personal_report
    from engine.spans import LabelSpan
    from engine.store import Store
    from tests.store_helpers import at, record

    home = tmp_path / "home"
    home.mkdir()
    assert _personal_report(home)["status"] == "no identity yet (start the agent once)"
    user = "0b6a1f3e-8c43-4d2a-9b41-6c0e5a0c2f11"
    (home / "identity.json").write_text(json.dumps({"user_id": user, "device_id": user}))
    with Store.open(home / "store.sqlite3") as store:
        store.put_records([record(i, user=user) for i in range(150)])
        store.add_label_spans([LabelSpan(at(0), at(120), "Write", user, "manual", None, at(200))])
    rep = _personal_report(home)
    assert rep["status"] == "Personal tuning: 120 of 200 labelled minutes, 1 of 3 days, 1 of 3 kinds of work"
    assert rep["eligible"] is False and rep["calibrator"] is None  # no model deployed yet
