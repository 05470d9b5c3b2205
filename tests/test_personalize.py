"""Per-user calibration against the deployed bundle: eligibility, shrinkage, the command."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
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
    shrink_temperature,
    shrink_threshold,
    shrink_weight,
)
from engine.personalize import Figures, verdict

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


@given(st.floats(0.2, 5.0), st.floats(0.2, 5.0), st.floats(0, 1e5))
def test_shrunk_temperature_lies_between_the_shared_and_the_users(own: float, shared: float, n: float) -> None:
    t = shrink_temperature(own, shared, n)
    assert min(own, shared) - 1e-4 <= t <= max(own, shared) + 1e-4


@given(st.floats(0, 1e5), st.floats(0, 1e5))
def test_more_data_moves_the_user_further_from_the_shared_value(n1: float, n2: float) -> None:
    lo, hi = sorted((n1, n2))
    assert shrink_weight(lo, 100) <= shrink_weight(hi, 100)
    assert abs(shrink_threshold(0.8, 0.5, lo) - 0.8) >= abs(shrink_threshold(0.8, 0.5, hi) - 0.8) - 1e-4


def test_shrinkage_weights_documented_points() -> None:
    assert shrink_temperature(2.0, 1.0, 0) == 1.0
    assert shrink_temperature(2.0, 1.0, 500) == pytest.approx(2.0 ** (500 / 600), abs=1e-4)
    assert shrink_threshold(0.7, 0.5, 300) == pytest.approx(0.6)


@given(st.lists(st.floats(0.13, 1.0), min_size=20, max_size=300), st.floats(0.01, 0.99))
def test_bounded_threshold_rejects_five_to_thirty_percent(conf: list[float], t: float) -> None:
    c = np.asarray(conf)
    b = bound_reject_rate(t, c)
    rate = float((c < b).mean())
    # ties in the confidences can make the exact band unreachable; otherwise it holds
    if len(np.unique(c)) == len(c):
        assert 0.05 - 1 / len(c) <= rate <= 0.30 + 1e-9


# -- the decision --------------------------------------------------------------------------


def _fig(nll: float, acc: float, f1: float) -> Figures:
    return Figures(nll=nll, ece=0.1, brier=0.3, reject_rate=0.1, shown_accuracy=acc, shown_macro_f1=f1, n=100)


def test_kept_unless_nll_lower_and_shown_figures_hold() -> None:
    assert verdict(_fig(0.8, 0.70, 0.60), _fig(0.7, 0.695, 0.595)) is None
    assert "NLL not lower" in (verdict(_fig(0.7, 0.7, 0.6), _fig(0.7, 0.8, 0.7)) or "")
    assert "shown accuracy would drop" in (verdict(_fig(0.8, 0.70, 0.6), _fig(0.7, 0.68, 0.6)) or "")
    assert "macro-F1 would drop" in (verdict(_fig(0.8, 0.70, 0.6), _fig(0.7, 0.70, 0.58)) or "")


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


def test_user_threshold_moves_from_the_deployed_reject_rate_with_data() -> None:
    from engine.personal_fit import user_threshold

    rng = np.random.default_rng(3)
    z = rng.normal(size=(1000, 8)) * 2
    probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    y = probs.argmax(axis=1)
    y[:150] = (y[:150] + 1) % 8  # some errors, mostly on no particular confidence
    conf = probs.max(axis=1)
    for deployed in (0.02, 0.12, 0.5):
        t0 = user_threshold(probs, probs, y, 0.0, deployed)
        assert float((conf < t0).mean()) == pytest.approx(min(max(deployed, 0.05), 0.30), abs=0.002)
    far = user_threshold(probs, probs, y, 1e6, 0.25)
    near = user_threshold(probs, probs, y, 10.0, 0.25)
    assert abs(float((conf < near).mean()) - 0.25) < abs(float((conf < far).mean()) - 0.25) + 1e-9


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
