"""What it costs to keep LightGBM from crashing on a bad model.txt, and whether it does.

    python3 benchmarks/bundle_load_bench.py [--repeat 5] [--fuzz 400] [--json]

On the seed fixture bundle (2.4 MB, 800 trees), the median of ``--repeat`` runs of:

- ``lightgbm parse``: LightGBM's own ``LGBM_BoosterLoadModelFromString`` (the reference);
- ``check_model_text``: the gate every command runs before it (on a model in LightGBM's own
  layout, its vectorised fast path);
- ``check_model_text (reference)``: the same gate through its reference checks only (one regex
  and a Python walk per array: what a model in an unusual layout, or a refused one, costs);
- ``load_bundle``: the whole in-process load (metadata, sha256, gate, parse, checks);
- ``probe (subprocess)``: the agent's extra step, the same load plus four predictions in a
  short-lived child process (what routing every command through the probe would add).

``--fuzz N`` then loads N one-line mutations of the model (tests/model_mutations.py) in child
processes and counts how they end: loaded, refused with one line, or crashed (a signal, a
timeout or a traceback). Every command loads bundles through the same ``load_bundle``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from engine.bundle import load_bundle  # noqa: E402
from engine.bundle_probe import probe_bundle  # noqa: E402
from engine.lgbm_c import CBooster  # noqa: E402
from engine.model_text import check_model_text  # noqa: E402

BUNDLE = ROOT / "tests" / "fixtures" / "seed-project-v2" / "models" / "2026-11-27_025714_run-2318"
CHILD = """
import sys
from pathlib import Path
import numpy as np
from engine.bundle import load_bundle
from engine.errors import TaskclfError
try:
    b = load_bundle(Path(sys.argv[1]))
    rows = np.vstack([b.encode({}), np.zeros(38), np.full(38, np.nan), np.linspace(-5, 500, 38)])
    b.predict_raw(rows)
    print("loaded")
except TaskclfError as exc:
    print("refused", str(exc))
"""


def _median(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def timings(repeat: int) -> dict[str, float]:
    text = (BUNDLE / "model.txt").read_text()

    def parse() -> None:
        CBooster(text).close()

    def load() -> None:
        load_bundle(BUNDLE).booster.close()

    return {
        "lightgbm parse": _median(parse, repeat),
        "check_model_text": _median(lambda: check_model_text(text), repeat),
        "check_model_text (reference)": _median(lambda: check_model_text(text, fast=False), repeat),
        "load_bundle": _median(load, repeat),
        "probe (subprocess)": _median(lambda: probe_bundle(BUNDLE, timeout=120), repeat),
    }


def fuzz(count: int, seed: int) -> dict[str, Any]:
    from model_mutations import mutations, write_bundle

    text = (BUNDLE / "model.txt").read_text()
    out: dict[str, Any] = {"mutations": count, "loaded": 0, "refused": 0, "crashed": 0, "crashes": []}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmp:
        for desc, mutated in mutations(text, count, seed):
            b = write_bundle(BUNDLE, Path(tmp) / BUNDLE.name, mutated)
            try:
                proc = subprocess.run([sys.executable, "-c", CHILD, str(b)], capture_output=True, text=True,
                                      errors="replace", timeout=120, env=env, cwd=ROOT)
                status: Any = proc.returncode
                verdict = proc.stdout.split(" ", 1)[0].strip() if status == 0 else ""
            except subprocess.TimeoutExpired:
                status, verdict = "timeout", ""
            if verdict in ("loaded", "refused"):
                out[verdict] += 1
            else:
                out["crashed"] += 1
                out["crashes"].append({"mutation": desc, "status": status})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--fuzz", type=int, default=0, metavar="N", help="also load N mutated models")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    result: dict[str, Any] = {"timings_s": timings(args.repeat)}
    if args.fuzz:
        result["fuzz"] = fuzz(args.fuzz, args.seed)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    ref = result["timings_s"]["lightgbm parse"]
    print(f"{'step':<30}{'median s':>10}{'x lightgbm':>12}")
    for name, secs in result["timings_s"].items():
        print(f"{name:<30}{secs:>10.3f}{secs / ref:>12.2f}")
    if args.fuzz:
        f = result["fuzz"]
        print(f"\nmutations {f['mutations']}: loaded {f['loaded']}, refused {f['refused']}, crashed {f['crashed']}")
        for c in f["crashes"]:
            print(f"  crashed ({c['status']}): {c['mutation']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
