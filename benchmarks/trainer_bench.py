"""Trainer speed: ``taskclf train all`` on 10 users x 30 days and ``taskclf demo`` from nothing.

Targets (spec 7.2, 2 cores): train all < 60 s, demo < 90 s. Both are timed as a user runs them
(a fresh process, imports included). The synthetic history is written first (timed separately).

    python3 benchmarks/trainer_bench.py            # readable table
    python3 benchmarks/trainer_bench.py --json     # one JSON object with the same figures
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_TRAIN_ALL_S = 60.0
TARGET_DEMO_S = 90.0


def _taskclf(*argv: str, home: Path | None = None) -> tuple[float, subprocess.CompletedProcess[str]]:
    cmd = [sys.executable, "-m", "engine.cli.main", *argv]
    if home is not None:
        cmd += ["--home", str(home)]
    env = {k: v for k, v in os.environ.items() if k != "TASKCLF_HOME"}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"taskclf {' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall, proc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--records-only", action="store_true",
                    help="store records and labels only (train all then rebuilds the feature rows); "
                    "default: feature rows stored too, as the agent does")
    ap.add_argument("--skip-demo", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="taskclf-trainer-bench-"))
    try:
        home = work / "home"
        synth_args = ["synth", "--users", str(args.users), "--days", str(args.days)]
        if args.records_only:
            synth_args.append("--no-feature-rows")
        synth_s, synth = _taskclf(*synth_args, home=home)
        buckets = int(re.search(r"([\d,]+) buckets", synth.stdout).group(1).replace(",", ""))  # type: ignore[union-attr]
        train_s, train = _taskclf("train", "all", home=home)
        report = Path(train.stdout.strip().splitlines()[-1])
        rep = json.loads(report.with_name("report.json").read_text())
        failed = rep["evaluation"]["failed_gates"]
        demo_s = None
        if not args.skip_demo:
            demo_s, _ = _taskclf("demo", home=work / "demo")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    fig = {
        "users": args.users,
        "days": args.days,
        "buckets": buckets,
        "feature_rows_stored": not args.records_only,
        "synth_s": round(synth_s, 2),
        "train_all_s": round(train_s, 2),
        "train_all_target_s": TARGET_TRAIN_ALL_S,
        "train_all_us_per_bucket": round(train_s / buckets * 1e6, 1),
        "demo_s": None if demo_s is None else round(demo_s, 2),
        "demo_target_s": TARGET_DEMO_S,
        "macro_f1": round(rep["evaluation"]["scores"]["macro_f1"], 4),
        "failed_gates": failed,
        "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(fig))
        return 0
    rows = [
        ("history", f"{args.users} users x {args.days} working days = {buckets:,} buckets",
         "records only" if args.records_only else "with stored feature rows"),
        ("taskclf synth (write the store)", f"{synth_s:8.1f} s", ""),
        ("taskclf train all", f"{train_s:8.1f} s", f"target < {TARGET_TRAIN_ALL_S:.0f} s  "
         f"{'OK' if train_s < TARGET_TRAIN_ALL_S else 'OVER'}"),
        ("  per bucket", f"{train_s / buckets * 1e6:8.1f} us", ""),
        ("taskclf demo", "skipped" if demo_s is None else f"{demo_s:8.1f} s",
         "" if demo_s is None else f"target < {TARGET_DEMO_S:.0f} s  {'OK' if demo_s < TARGET_DEMO_S else 'OVER'}"),
        ("test macro F1 / failed gates", f"{fig['macro_f1']:.3f}", ", ".join(failed) or "none"),
    ]
    w = max(len(r[0]) for r in rows)
    print(f"trainer benchmark ({os.cpu_count()} CPUs)")
    for name, val, note in rows:
        print(f"  {name:<{w}}  {val:<18} {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
