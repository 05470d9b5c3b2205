"""``taskclf train lgbm --dataset DIR --dask-workers N | --dask-scheduler ADDRESS``: the pooled
model trained with lightgbm.dask on a real 2-worker local cluster, and on a real external cluster
(scheduler and workers started as their own processes), is a bundle the engine loads, within a
point of macro-F1 of the in-process model of the same rows and seed, and the same model byte for
byte when trained twice on the same cluster; an unreachable scheduler, a scheduler without
workers and a dataset file a worker cannot read are one line each; the early-stopping rule is
LightGBM's own.

The cluster tests share one xdist group (``--dist loadgroup``): they run one after the other on
one test process, never two clusters at once on the machine, and share the in-process reference.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.bundle import load_bundle
from engine.cli.main import main
from engine.errors import TaskclfError
from engine.labels import LABEL_ORDER
from engine.metrics import classification_scores, confusion
from tests.conftest import in_ci
from tests.dask_helpers import dask_scheduler

try:
    import distributed  # noqa: F401
    import pyarrow  # noqa: F401
except ImportError:  # the [team] extra: CI installs it, so there a missing package fails
    if in_ci():
        raise
    pytest.skip("dask[distributed] / pyarrow are not installed (pip install -e '.[team]')",
                allow_module_level=True)

from trainer.train_dask import (  # noqa: E402
    OrderedWhoHas,
    best_iteration,
    scores_from_confusion,
    train_datasets_on_dask,
    without_network_params,
)
from trainer.train_lgbm import TrainParams  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bundle(out: str) -> Path:
    return Path(out.strip().splitlines()[-1])


def _taskclf(home: Path, *args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    """The command in its own process, as a user runs it (a cluster's processes, signal handlers
    and loggers never touch the test process)."""
    return subprocess.run([sys.executable, "-m", "engine.cli.main", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.fixture(scope="module")
def in_process_dir(exported: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The in-process model of ``exported`` with seed 5: the reference of both cluster tests."""
    home = tmp_path_factory.mktemp("in-process-home")
    proc = _taskclf(home, "train", "lgbm", "--dataset", str(exported), "--seed", "5")
    assert proc.returncode == 0, proc.stderr[-2000:]
    yield _bundle(proc.stdout)


def _test_f1(bundle_dir: Path) -> float:
    return float(json.loads((bundle_dir / "metrics.json").read_text())["test"]["macro_f1"])


@pytest.mark.slow
@pytest.mark.xdist_group("dask-cluster")
def test_a_two_worker_cluster_trains_a_loadable_bundle_as_good_as_in_process(
    home: Path, exported: Path, in_process_dir: Path
) -> None:
    proc = _taskclf(home, "train", "lgbm", "--dataset", str(exported), "--seed", "5", "--dask-workers", "2",
                    "--dask-timeout", "300")
    assert proc.returncode == 0, proc.stderr[-2000:]
    cluster_dir = _bundle(proc.stdout)
    local_dir = in_process_dir

    cluster, local = load_bundle(cluster_dir), load_bundle(local_dir)  # the engine's full gate
    meta = cluster.metadata
    assert meta["training"]["engine"] == "lightgbm.dask" and meta["training"]["workers"] == 2
    assert meta["data_provenance"] == "dataset"
    assert "window_title_bucket" in cluster.masked_columns
    # the same rows, split and prior correction as in-process training
    assert meta["split"] == local.metadata["split"]
    assert meta["n_train_rows"] == local.metadata["n_train_rows"]
    assert meta["prior_correction"] == local.metadata["prior_correction"]
    manifest = json.loads((exported / "manifest.json").read_text())
    assert sorted(meta["split"]["users"]) == sorted({f["user"] for f in manifest["files"]})
    # quality parity on the same test days
    f1_cluster, f1_local = _test_f1(cluster_dir), _test_f1(local_dir)
    assert f1_cluster > 0.5
    assert abs(f1_cluster - f1_local) <= 0.01, (f1_cluster, f1_local)
    # the engine predicts with it
    row = np.zeros((1, len(cluster.feature_names)))
    assert cluster.predict_raw(row).shape == (1, len(LABEL_ORDER))


@pytest.mark.slow
@pytest.mark.xdist_group("dask-cluster")
def test_an_external_scheduler_and_workers_train_the_same_model_each_time(
    home: Path, exported: Path, in_process_dir: Path, tmp_path: Path
) -> None:
    params = TrainParams(seed=5)
    with dask_scheduler(tmp_path / "cluster") as cluster:
        # reachable, but no worker yet: one line once --dask-timeout has passed
        with pytest.raises(TaskclfError, match=re.escape(
                f"--dask-scheduler {cluster.address}: no Dask worker joined the scheduler within 2 s "
                f"(start one with: dask worker {cluster.address})")):
            train_datasets_on_dask([exported], home / "models", params, scheduler=cluster.address, timeout=2)
        # the workers join in the reverse order of their names (the model must not depend on it)
        cluster.add_worker("w1")
        cluster.add_worker("w0")
        cluster.wait_for_workers(2)

        # a dataset file the workers cannot see (here: gone after the manifest was written)
        broken = tmp_path / "broken"
        shutil.copytree(exported, broken)
        missing = broken / json.loads((broken / "manifest.json").read_text())["files"][-1]["path"]
        missing.unlink()
        with pytest.raises(TaskclfError, match=re.escape(f"{missing}: file not found (read on Dask worker tcp://")
                           + r"127\.0\.0\.1:\d+: every worker must see the --dataset folders at the same paths"):
            train_datasets_on_dask([broken], home / "models", params, scheduler=cluster.address)
        assert not (home / "models").exists()

        # as a user runs it, then again (in this process) on the same cluster
        proc = _taskclf(home, "train", "lgbm", "--dataset", str(exported), "--seed", "5",
                        "--dask-scheduler", cluster.address)
        assert proc.returncode == 0, proc.stderr[-2000:]
        again = train_datasets_on_dask([exported], tmp_path / "again", params, scheduler=cluster.address)
    first = _bundle(proc.stdout)
    cluster_model = load_bundle(first)  # the engine's full gate
    training = cluster_model.metadata["training"]
    assert (training["engine"], training["workers"], training["partitions"]) == ("lightgbm.dask", 2, 4)
    assert cluster_model.metadata["split"] == load_bundle(in_process_dir).metadata["split"]
    # the same data, seed and workers: the same model, byte for byte, without the run's ports
    model_text = (first / "model.txt").read_text()
    assert model_text == (again.bundle_dir / "model.txt").read_text()
    assert "[machines:" not in model_text and "[local_listen_port:" not in model_text
    assert "127.0.0.1" not in model_text
    assert _test_f1(first) > 0.5
    assert abs(_test_f1(first) - _test_f1(in_process_dir)) <= 0.01, (_test_f1(first), _test_f1(in_process_dir))


def test_an_unreachable_scheduler_is_one_line(home: Path, exported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    address = f"tcp://127.0.0.1:{_closed_port()}"
    with pytest.raises(TaskclfError, match=r"--dask-scheduler tcp://127\.0\.0\.1:\d+: cannot reach the Dask scheduler"):
        train_datasets_on_dask([exported], home / "models", TrainParams(), scheduler=address, timeout=2)
    assert main(["train", "lgbm", "--dataset", str(exported), "--dask-scheduler", address,
                 "--dask-timeout", "2"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot reach the Dask scheduler" in err
    assert not (home / "models").exists()


def test_the_dask_options_need_a_dataset(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "lgbm", "--dask-workers", "2"]) == 1
    assert "give --dataset" in capsys.readouterr().err


def test_best_iteration_is_lightgbms_early_stopping() -> None:
    """The rule applied between fits picks the round LightGBM's own callback keeps."""
    import lightgbm as lgb

    rng = np.random.default_rng(3)
    x = rng.normal(size=(600, 4))
    y = (x[:, 0] + rng.normal(scale=2.0, size=600) > 0).astype(int)
    params = {"objective": "binary", "learning_rate": 0.3, "num_leaves": 15, "verbose": -1,
              "deterministic": True, "num_threads": 1, "min_data_in_leaf": 5}
    curve: dict[str, dict[str, list[float]]] = {}
    dtrain = lgb.Dataset(x[:400], label=y[:400])
    booster = lgb.train(params, dtrain, num_boost_round=300,
                        valid_sets=[lgb.Dataset(x[400:], label=y[400:], reference=dtrain)],
                        callbacks=[lgb.early_stopping(10, verbose=False), lgb.record_evaluation(curve)])
    losses = np.asarray(curve["valid_0"]["binary_logloss"])
    assert len(losses) < 300  # it did stop early
    assert best_iteration(losses, 10) == booster.best_iteration


@given(st.lists(st.floats(0.0, 10.0, allow_nan=False), min_size=1, max_size=60), st.integers(1, 20))
def test_best_iteration_is_the_lowest_loss_before_patience_runs_out(losses: list[float], patience: int) -> None:
    best = best_iteration(np.asarray(losses), patience)
    assert 1 <= best <= len(losses)
    seen = losses[: best + patience]  # what the rule looked at before stopping
    assert losses[best - 1] == min(seen)
    assert losses.index(min(seen)) == best - 1  # the first round reaching it


@given(st.lists(st.tuples(st.integers(0, 7), st.integers(0, 7)), min_size=1, max_size=200))
def test_scores_from_a_confusion_matrix_are_those_of_the_rows(pairs: list[tuple[int, int]]) -> None:
    y = np.asarray([t for t, _ in pairs])
    p = np.asarray([q for _, q in pairs])
    assert scores_from_confusion(confusion(y, p, len(LABEL_ORDER))) == classification_scores(y, p, LABEL_ORDER)


class _Future:
    def __init__(self, key: str) -> None:
        self.key = key


class _SetOrderClient:
    """``who_has`` in an order of its own, as ``distributed.Client`` (a set of keys) may give."""

    def __init__(self, permutation: list[int]) -> None:
        self.permutation = permutation

    def futures_of(self, futures: list[_Future]) -> list[_Future]:
        return list(futures)

    def who_has(self, futures: list[_Future]) -> dict[str, list[str]]:
        return {futures[i].key: [f"tcp://w{i % 2}"] for i in self.permutation}


@given(st.permutations(list(range(6))))
def test_lightgbm_sees_the_partitions_in_the_order_given(permutation: list[int]) -> None:
    futures = [_Future(f"part-{i}") for i in range(6)]
    who = OrderedWhoHas(_SetOrderClient(list(permutation))).who_has(futures)
    assert list(who) == [f"part-{i}" for i in range(6)]
    assert who["part-3"] == ["tcp://w1"]


def test_the_model_text_keeps_no_cluster_address() -> None:
    text = ("tree\nTree=0\n\nparameters:\n[num_leaves: 31]\n[num_machines: 2]\n[local_listen_port: 41231]\n"
            "[time_out: 120]\n[machine_list_filename: ]\n[machines: 10.0.0.5:41231,10.0.0.6:40000]\n"
            "[gpu_platform_id: -1]\n\nend of parameters\n")
    assert without_network_params(text) == ("tree\nTree=0\n\nparameters:\n[num_leaves: 31]\n[gpu_platform_id: -1]\n"
                                             "\nend of parameters\n")
