"""One-line mutations of a real model.txt never crash a command (issue: 109 of 400 used to
abort or segfault ``infer rows``, ``infer batch``, ``train calibrate``/``tune-reject``/
``evaluate`` and ``demo``).

Every command loads bundles through ``engine.bundle.load_bundle``, whose model.txt gate is
``engine.model_text.check_model_text``. The fuzz runs that load (and a prediction) for many
mutations in ONE child process, so a crash ends the child, not the test run, and names the
mutation; then each command is run on mutations that used to crash it, for a one-line error.

CI runs ``TASKCLF_MODEL_FUZZ`` mutations (default 60); ``benchmarks/model_fuzz.py`` runs 400.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from engine_helpers import SEED_BUNDLE, STORE_TEMPERATURE
from model_mutations import mutations, with_consistent_tree_sizes, write_bundle

ROOT = Path(__file__).resolve().parent.parent
TEXT = (SEED_BUNDLE / "model.txt").read_text()
FUZZ_COUNT = int(os.environ.get("TASKCLF_MODEL_FUZZ", "60"))

#: Loads each bundle dir given on stdin and predicts; prints one JSON line per bundle.
CHILD = """
import json, sys
import numpy as np
from pathlib import Path
from engine.bundle import load_bundle
from engine.errors import TaskclfError
for line in sys.stdin:
    d = line.strip()
    print(json.dumps({"dir": d, "started": True}), flush=True)
    try:
        b = load_bundle(Path(d))
        rows = np.vstack([b.encode({}), np.zeros(38), np.full(38, np.nan), np.linspace(-5, 500, 38)])
        b.predict_raw(rows)
        for r in rows:
            b.predict_raw(r)
        b.booster.close()
        print(json.dumps({"dir": d, "result": "loaded"}), flush=True)
    except TaskclfError as exc:
        print(json.dumps({"dir": d, "result": "refused", "error": str(exc)}), flush=True)
"""


def run_fuzz(bundles: dict[Path, str], timeout: float) -> dict[str, dict[str, str]]:
    """Load every bundle in one child; a crash is reported with the mutation that caused it."""
    proc = subprocess.run(
        [sys.executable, "-c", CHILD], input="\n".join(str(b) for b in bundles) + "\n",
        capture_output=True, text=True, errors="replace", timeout=timeout, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    results: dict[str, dict[str, str]] = {}
    last_started = None
    for line in proc.stdout.splitlines():
        obj = json.loads(line)
        if obj.get("started"):
            last_started = obj["dir"]
        else:
            results[obj["dir"]] = obj
    if proc.returncode != 0:
        mutation = bundles.get(Path(last_started)) if last_started else None
        raise AssertionError(f"the child died (status {proc.returncode}) on {mutation!r}: {proc.stderr[-500:]}")
    return results


@pytest.mark.slow
def test_one_line_mutations_never_crash_the_bundle_loader(tmp_path: Path) -> None:
    bundles: dict[Path, str] = {}
    for i, (desc, text) in enumerate(mutations(TEXT, FUZZ_COUNT, seed=9)):
        bundles[write_bundle(SEED_BUNDLE, tmp_path / f"m{i}" / SEED_BUNDLE.name, text)] = desc
    results = run_fuzz(bundles, timeout=60 + 10 * FUZZ_COUNT)
    assert len(results) == len(bundles)
    refused = [r for r in results.values() if r["result"] == "refused"]
    for r in refused:
        assert "\n" not in r["error"] and "model.txt" in r["error"], r
    # Almost every mutation breaks the model; the few that do not (a changed split_gain, say)
    # load and predict. A gate that refused nothing would show here.
    assert len(refused) >= 0.8 * len(bundles)


# Mutations that aborted or segfaulted LightGBM before its gate read what LightGBM reads.
def _in_tree(key: str, new_value: str | None = None, *, tree: int = 3, consistent: bool = True) -> str:
    """TEXT with Tree=``tree``'s ``key`` line set to ``key=new_value`` (None: one value fewer)."""
    start = TEXT.index(f"\nTree={tree}\n")
    i = TEXT.index(f"\n{key}=", start) + 1
    j = TEXT.index("\n", i)
    value = TEXT[i + len(key) + 1:j]
    new = f"{key}={value.rsplit(' ', 1)[0] if new_value is None else new_value}"
    text = TEXT[:i] + new + TEXT[j:]
    return with_consistent_tree_sizes(text) if consistent else text


CRASHERS = {
    "empty objective": (TEXT.replace("objective=multiclass num_class:8", "objective=", 1), "objective"),
    "stale tree_sizes": (_in_tree("shrinkage", "0.1000", consistent=False), "tree_sizes"),
    "negative shrinkage": (_in_tree("shrinkage", "-0.1"), "Tree=3.shrinkage: must be > 0"),
    "leaf_weight one short": (_in_tree("leaf_weight"), "Tree=3.leaf_weight"),
    "is_linear empty": (_in_tree("is_linear", ""), "Tree=3.is_linear"),
    "objective with 3 classes": (TEXT.replace("objective=multiclass num_class:8", "objective=multiclass num_class:3", 1),
                                 "objective"),
}


@pytest.mark.parametrize("name", sorted(CRASHERS))
def test_former_crashers_are_refused_by_name(name: str, tmp_path: Path) -> None:
    text, needle = CRASHERS[name]
    b = write_bundle(SEED_BUNDLE, tmp_path / SEED_BUNDLE.name, text)
    results = run_fuzz({b: name}, timeout=120)
    assert results[str(b)]["result"] == "refused"
    assert needle in results[str(b)]["error"]


def _home_with(tmp_path: Path, text: str) -> tuple[Path, Path]:
    home = tmp_path / "home"
    bundle = write_bundle(SEED_BUNDLE, home / "models" / SEED_BUNDLE.name, text)
    shutil.copytree(STORE_TEMPERATURE, home / "artifacts" / "calibrator_store" / "t")
    return home, bundle


COMMANDS = {
    "infer rows": ["infer", "rows", "--model-dir", "{bundle}", "--input", "{rows}"],
    "infer batch": ["infer", "batch", "--from", "2026-03-02", "--to", "2026-03-02", "--model-dir", "{bundle}"],
    "train calibrate": ["train", "calibrate", "--model-dir", "{bundle}"],
    "train tune-reject": ["train", "tune-reject", "--model-dir", "{bundle}", "--calibrator-store",
                          "artifacts/calibrator_store/t"],
    "train evaluate": ["train", "evaluate", "--model-dir", "{bundle}"],
}


@pytest.mark.slow
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_refuses_a_broken_model_in_one_line(command: str, tmp_path: Path) -> None:
    """The commands themselves, in a child process each: exit 1, one line naming model.txt."""
    text, _ = CRASHERS["negative shrinkage" if command.startswith("train") else "empty objective"]
    home, bundle = _home_with(tmp_path, text)
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"user_id": "u", "bucket_start": "2026-03-02T10:00:00Z"}\n')
    argv = [a.format(bundle=bundle, rows=rows) for a in COMMANDS[command]]
    proc = subprocess.run([sys.executable, "-m", "engine.cli.main", *argv, "--home", str(home)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-500:])
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("taskclf: error: ") and "model.txt" in lines[0]


@pytest.mark.slow
def test_the_policy_load_path_of_demo_and_infer_batch_refuses_a_broken_model(tmp_path: Path) -> None:
    """``demo`` replays through ``load_policy``; ``infer batch`` without --model-dir too."""
    from engine.policy import policy_for, write_policy

    good_home, good_bundle = _home_with(tmp_path / "good", TEXT)
    write_policy(good_home, policy_for(good_home, good_bundle, good_home / "artifacts" / "calibrator_store" / "t", 0.5))
    home = tmp_path / "bad"
    shutil.copytree(good_home, home)
    text, _ = CRASHERS["negative shrinkage"]
    write_bundle(SEED_BUNDLE, home / "models" / SEED_BUNDLE.name, text)
    proc = subprocess.run([sys.executable, "-m", "engine.cli.main", "infer", "batch", "--from", "2026-03-02",
                           "--to", "2026-03-02", "--home", str(home)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Tree=3.shrinkage: must be > 0" in proc.stderr, proc.stderr
