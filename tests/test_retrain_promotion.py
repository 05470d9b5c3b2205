"""'Retrain now' / `train all` can only make things better (trainer/promotion.py, retrain_home)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from engine.frame import Frame
from trainer.promotion import reasons_against


def _f(acc: float, f1: float, nll: float, failed: tuple[str, ...] = ()) -> dict[str, object]:
    return {"shown_accuracy": acc, "shown_macro_f1": f1, "nll": nll, "failed_gates": list(failed)}


def test_promoted_only_when_at_least_as_good_on_every_shown_figure() -> None:
    dep = _f(0.80, 0.70, 0.60, ("calibration",))
    assert reasons_against(_f(0.80, 0.70, 0.60, ("calibration",)), dep, "model") == []
    assert reasons_against(_f(0.85, 0.75, 0.50), dep, "model") == []
    assert "shown accuracy 79.9% is below the deployed 80.0%" in reasons_against(_f(0.799, 0.8, 0.5), dep, "model")[0]
    assert "shown macro-F1" in reasons_against(_f(0.9, 0.69, 0.5), dep, "model")[0]
    assert "NLL 0.610 is worse" in reasons_against(_f(0.9, 0.8, 0.61), dep, "model")[0]
    assert reasons_against(_f(0.9, 0.8, 0.61), dep, "rules") == []  # rules' probabilities are no benchmark
    assert "fails gates the deployed engine passes: reject_rate" in reasons_against(
        _f(0.9, 0.8, 0.5, ("reject_rate", "calibration")), dep, "model")[0]


def _frame(users: dict[str, int]) -> Frame:
    ids, days = [], []
    for u, n in users.items():
        ids += [u] * n
        days += list(range(700_000, 700_000 + n))
    n = len(ids)
    return Frame.from_rows([{}] * n, user_ids=ids, bucket_starts=list(range(n)), local_days=days,
                           session_ids=[None] * n, labels=[1] * n, provenance=["manual"] * n)


def test_a_whole_model_needs_three_users_with_five_labelled_days() -> None:
    from trainer.workflow import whole_model_shortfall

    assert whole_model_shortfall(_frame({"a": 5, "b": 5, "c": 5})) is None
    assert whole_model_shortfall(_frame({"a": 30})) == (
        "1 of 3 users have 5 labelled days; a new model needs labelled history from several people")
    assert "2 of 3" in (whole_model_shortfall(_frame({"a": 9, "b": 9, "c": 4})) or "")


def test_too_little_data_and_nothing_deployed_is_refused(tmp_path: Path) -> None:
    from engine.errors import TaskclfError
    from trainer.workflow import retrain_home

    with pytest.raises(TaskclfError, match="too little labelled history for a model: 1 of 3 users"):
        retrain_home(tmp_path, _frame({"a": 30}))


@pytest.mark.slow
def test_one_users_home_is_personalised_instead_and_the_tray_can_say_so(demo_home: Path, tmp_path: Path) -> None:
    from agent.tray.app import retrain_outcome
    from engine.frame_loader import load_frame
    from engine.policy import load_policy
    from engine.store import Store
    from trainer.workflow import retrain_home

    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    bundle_before = load_policy(home).bundle.run_id
    with Store.open(home / "store.sqlite3", readonly=True) as st:
        frame, _ = load_frame([st], users=["user-02"])
    res = retrain_home(home, frame)
    assert res.result is None
    assert res.message.startswith("Too little labelled data for a new model (1 of 3 users have 5 labelled days")
    if res.outcome == "personalised":
        assert "; personalised instead: Personalised on " in res.message
    else:  # strictly: nothing that lowers a shown figure on held-out days
        assert res.outcome == "kept"
        assert "; tried personal tuning instead: Not personalised: " in res.message
    assert load_policy(home).bundle.run_id == bundle_before  # never a one-user model
    assert retrain_outcome(home) == res.message
    saved = json.loads((home / "artifacts" / "last_training.json").read_text())
    assert saved["promoted"] is False
    assert saved["report"] is None


@pytest.mark.slow
def test_a_worse_candidate_leaves_the_policy_untouched_and_says_where_the_report_is(
        demo_home: Path, tmp_path: Path) -> None:
    """A whole model trained (enough data) but worse than the deployed one: nothing is deployed."""
    from engine.frame_loader import load_frame
    from engine.paths import policy_path
    from engine.store import Store
    from trainer.train_lgbm import TrainParams
    from trainer.workflow import train_all

    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    before = policy_path(home).read_bytes()
    with Store.open(home / "store.sqlite3", readonly=True) as st:
        frame, _ = load_frame([st])
    weak = TrainParams(seed=0, num_leaves=2, learning_rate=0.01, max_rounds=2, early_stopping_rounds=1)
    res = train_all(home, frame, params=weak)
    assert not res.promoted and res.policy_path is None
    assert policy_path(home).read_bytes() == before
    assert res.message.startswith("Kept the current model: the new one is not better (")
    saved = json.loads((home / "artifacts" / "last_training.json").read_text())
    assert saved["promoted"] is False and saved["report"] == str(res.report_dir / "report.md")
    assert saved["message"].endswith(f"; report: {res.report_dir / 'report.md'}")
    assert (res.report_dir / "report.md").is_file()
