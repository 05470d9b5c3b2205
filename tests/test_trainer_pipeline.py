"""The trained demo home: policy, leakage, per-user calibration, reject reproduction, batch = online."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.errors import TaskclfError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def report(demo_home: Path) -> dict[str, Any]:
    rdir = next((demo_home / "artifacts" / "reports").iterdir())
    return json.loads((rdir / "report.json").read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def loaded(demo_home: Path) -> Any:
    from engine.policy import load_policy

    return load_policy(demo_home)


def test_written_policy_is_accepted_by_engine_validation(loaded: Any, demo_home: Path) -> None:
    pol = loaded.policy
    assert pol.model_dir.startswith("models/") and pol.calibrator_store_dir.startswith("artifacts/")
    assert 0 < pol.reject_threshold < 1
    assert pol.per_user_reject_thresholds and set(pol.per_user_reject_thresholds) <= set(loaded.store.user_ids)
    assert loaded.store.model_bundle_id == loaded.bundle.run_id
    assert pol.source == "train all"


def test_no_leakage_between_train_calibration_and_test_days(loaded: Any, report: dict[str, Any]) -> None:
    split = loaded.bundle.split
    for user, parts in split["users"].items():
        train, cal, test = (set(parts[p]) for p in ("train", "calibration", "test"))
        assert train and cal and test, user
        assert not (train & cal) and not (train & test) and not (cal & test)
        assert max(train) < min(cal) <= max(cal) < min(test)  # whole days, in time order
        # the per-user calibrators were fitted on exactly the calibration days
        assert report["calibration"]["eligibility"][user]["days"] == len(cal)


def test_known_miscalibration_is_fixed_by_the_per_user_calibrator(demo_home: Path, report: dict[str, Any]) -> None:
    manifest = json.loads((demo_home / "artifacts" / "synth" / "manifest.json").read_text())
    mis = [u for u, p in manifest["personas"].items() if p["miscalibrated"]]
    assert mis
    per_user = report["evaluation"]["per_user"]
    for u in mis:
        pu = per_user[u]
        assert pu["calibrator"] == "user"
        # on the user's held-out test days, better than the global calibrator alone
        assert pu["after"]["nll"] < pu["global"]["nll"], u
        assert pu["after"]["ece"] < pu["global"]["ece"], u
    # the generator made them over-confident: their temperatures soften (T > 1)
    store_dir = demo_home / report["calibrator_store"].split(str(demo_home) + "/")[1]
    for u in mis:
        assert json.loads((store_dir / "users" / f"{u}.json").read_text())["temperature"] > 1.0


def test_reject_threshold_reproduces_through_the_engine(report: dict[str, Any]) -> None:
    chk = report["engine_check"]
    assert chk["identical"] is True
    assert chk["engine_reject_rate"] == chk["trainer_reject_rate"]
    # the out-of-fold sweep predicted (nearly) the rate the engine then produces
    assert abs(chk["engine_reject_rate"] - report["reject"]["global"]["reject_rate"]) < 0.05
    assert report["reject"]["global"]["reject_rate"] <= 0.30


@pytest.fixture(scope="module")
def demo_frame(demo_home: Path) -> Any:
    from engine.store import Store
    from trainer.dataset import load_frame

    with Store.open(demo_home / "store.sqlite3", readonly=True) as store:
        frame, stats = load_frame([store])
    assert stats.rebuilt_users == 6  # the demo stores records only: rows are rebuilt
    return frame


def test_calibrate_refuses_dates_that_include_training_days(demo_home: Path, demo_frame: Any, loaded: Any,
                                                            tmp_path: Path) -> None:
    from trainer.workflow import calibrate

    split = loaded.bundle.split["users"]
    first_train = min(date.fromisoformat(d) for p in split.values() for d in p["train"])
    last = max(date.fromisoformat(d) for p in split.values() for d in p["test"])
    with pytest.raises(TaskclfError, match="training day"):
        calibrate(demo_home, demo_frame, loaded.bundle, start=first_train, end=last, out_dir=tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_calibrate_and_tune_take_users_outside_the_split_and_name_every_user_left_out(
        demo_home: Path, demo_frame: Any, loaded: Any, tmp_path: Path) -> None:
    import dataclasses

    from engine.calibrator_store import load_calibrator_store
    from engine.frame import Frame
    from trainer.workflow import calibrate, tune_reject

    src = demo_frame.take(np.flatnonzero(np.asarray(demo_frame.user_ids) == demo_frame.user_ids[0]))
    newcomer = dataclasses.replace(src, user_ids=["newcomer"] * len(src))  # the bundle never saw them
    machine = dataclasses.replace(src, user_ids=["rules-only"] * len(src), provenance=["rule"] * len(src))
    frame = Frame.concat([demo_frame, newcomer, machine])
    said: list[str] = []
    out = calibrate(demo_home, frame, loaded.bundle, out_dir=tmp_path / "store", progress=said.append)
    assert "newcomer" in out.fit.user_calibrators  # every labelled day of theirs calibrates
    assert "rules-only: no human labels on days the bundle did not train on: global calibrator" in said
    store = load_calibrator_store(out.store_dir, bundle=loaded.bundle)
    said.clear()
    res = tune_reject(tmp_path / "home", frame, loaded.bundle, store, progress=said.append)
    assert "newcomer" in res.result.per_user
    assert "rules-only: no human labels on days the bundle did not train on: global reject threshold" in said


def test_infer_batch_equals_the_online_engine(demo_home: Path, loaded: Any, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.cli.main import main
    from trainer.demo import replay_day

    user = "user-01"
    day = date.fromisoformat(loaded.bundle.split["users"][user]["test"][0])
    monkeypatch.setenv("TASKCLF_HOME", str(demo_home))

    class NoWrite:
        """The demo store, read-only: the online replay would persist predictions."""

        def __init__(self, store: Any) -> None:
            self.store = store

        def records(self, **kw: Any) -> Any:
            return self.store.records(**kw)

        def put_prediction(self, *a: Any) -> None:
            return None

    from engine.store import Store

    with Store.open(demo_home / "store.sqlite3", readonly=True) as store:
        online, _ = replay_day(demo_home, NoWrite(store), loaded, user, day)
    assert main(["infer", "batch", "--from", day.isoformat(), "--to", day.isoformat(), "--user-id", user]) == 0
    batch = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(batch) == len(online) > 300
    assert batch == [r.to_json() for r in online]


def test_evaluate_command_writes_the_report_with_the_tuned_thresholds(demo_home: Path, loaded: Any, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.cli.main import main

    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    monkeypatch.setenv("TASKCLF_HOME", str(home))
    model = f"models/{loaded.bundle.run_id}"
    store = loaded.policy.calibrator_store_dir
    assert main(["train", "evaluate", "--model-dir", model, "--calibrator-store", store]) == 0
    rep = json.loads((home / "artifacts" / "reports" / loaded.bundle.run_id / "report.json").read_text())
    assert rep["reject"]["global"]["threshold"] == loaded.policy.reject_threshold
    assert (home / "artifacts" / "reports" / loaded.bundle.run_id / "reject_tuning.json").is_file()


def test_a_policy_written_while_another_process_reads_is_never_half_written(demo_home: Path, loaded: Any,
                                                                             tmp_path: Path) -> None:
    import subprocess
    import sys

    from engine.policy import write_policy

    home = tmp_path / "home"
    shutil.copytree(demo_home, home, ignore=shutil.ignore_patterns("store.sqlite3*"))
    target = home / "models" / "inference_policy.json"
    reader = subprocess.Popen(
        [sys.executable, "-c", (
            "import json,sys,time\n"
            "p=sys.argv[1]; n=0; t=time.time()\n"
            "while time.time()-t<3:\n"
            "    d=json.loads(open(p,'rb').read()); assert 0<d['reject_threshold']<1; n+=1\n"
            "print(n)\n"
        ), str(target)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    pol = loaded.policy
    k = 0
    while reader.poll() is None:
        thr = 0.3 + (k % 50) / 100
        write_policy(home, pol.model_copy(update={"reject_threshold": thr}), verify=False)
        k += 1
    out, err = reader.communicate()
    assert reader.returncode == 0, err[-500:]
    assert int(out) > 10 and k > 10


def test_infer_batch_with_no_policy_runs_day_one_and_says_when_there_is_nothing(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No policy is day one (the agent's engine, see test_first_day); no store says what to do."""
    from engine.cli.main import main

    assert main(["infer", "batch", "--from", "2026-03-02", "--to", "2026-03-03"]) == 1
    assert "no store here (run the agent, `taskclf synth` or pass --store)" in capsys.readouterr().err


def test_whole_chain_is_deterministic(tmp_path: Path) -> None:
    """Same data + seed: identical model.txt, calibrator files and policy (except timestamps)."""
    from trainer.synth import SynthConfig, generate
    from trainer.synth_store import frame_from_days
    from trainer.train_lgbm import TrainParams
    from trainer.workflow import train_all

    frame = frame_from_days(list(generate(SynthConfig(users=3, days=17, seed=9))))
    # 12 rounds: enough to find 90 % of the breaks, as the rules it must beat to be deployed do
    params = TrainParams(seed=1, max_rounds=12, num_leaves=7, num_threads=1)
    outs = []
    for name in ("a", "b"):
        home = tmp_path / name
        home.mkdir()
        outs.append(train_all(home, frame, seed=1, params=params))
    a, b = outs
    assert (a.bundle_dir / "model.txt").read_bytes() == (b.bundle_dir / "model.txt").read_bytes()
    files = sorted(p.relative_to(a.store_dir) for p in a.store_dir.rglob("*.json") if p.name != "store.json")
    assert len(files) >= 2
    for f in files:
        assert (a.store_dir / f).read_bytes() == (b.store_dir / f).read_bytes()
    assert a.policy_path is not None and b.policy_path is not None

    def policy(path: Path, out: Any) -> dict[str, Any]:
        d = json.loads(path.read_text())
        d.pop("created_at")
        assert d["model_dir"] == f"models/{out.bundle_dir.name}"
        d.pop("model_dir")
        d.pop("calibrator_store_dir")
        return d

    assert policy(a.policy_path, a) == policy(b.policy_path, b)
    assert np.isclose(a.report["reject"]["global"]["threshold"], b.report["reject"]["global"]["threshold"])


def test_holdout_users_appear_only_in_test_and_get_unseen_user_scores(tmp_path: Path) -> None:
    from trainer.synth import SynthConfig, generate
    from trainer.synth_store import frame_from_days
    from trainer.train_lgbm import TrainParams
    from trainer.workflow import train_all

    frame = frame_from_days(list(generate(SynthConfig(users=4, days=8, seed=2, miscalibrated_users=0))))
    out = train_all(tmp_path, frame, seed=5, holdout_users=1,
                    params=TrainParams(seed=5, max_rounds=10, num_leaves=7, num_threads=1))
    split = out.report["holdout_users"]
    assert len(split) == 1
    meta = json.loads((out.bundle_dir / "metadata.json").read_text())
    held = meta["split"]["users"][split[0]]
    assert held["train"] == [] and held["calibration"] == [] and len(held["test"]) == 8
    assert split[0] not in meta["users"]  # never trained on
    gates = out.report["evaluation"]["gates"]
    assert gates["seen_user_macro_f1"]["status"] in ("PASS", "FAIL")
    assert gates["unseen_user_macro_f1"]["value"] is not None
