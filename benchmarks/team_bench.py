"""Pooled training cost as a team grows: in-process vs a local Dask cluster of 2 workers.

    python3 benchmarks/team_bench.py [--users 20,100,400] [--modes in-process,dask] [--estimate 400]
                                     [--workers 2] [--jobs 1] [--json]

For each team size (synthetic users x 30 working days, generated with ``trainer.synth`` and
written through ``taskclf export dataset``, 20 users per export: ``team_data.py``, cached under
the temp dir), both runs of ``taskclf train lgbm --dataset ... --holdout-users K`` (K = a tenth
of the users), one after the other in the same run:
- wall time, labelled training rows per second, and the peak RSS of every process of the run
  (the command's own, and each Dask worker's), sampled with psutil every 0.2 s, with the mean
  1-minute load average of the machine during the run (timings on a shared machine need it);
- quality on the same held-out users (never trained on): macro-F1 of the label the user would
  be shown (the engine replayed over their buckets: identity calibration, the default reject
  threshold, smoothing), and the raw-model test macro-F1 of metrics.json. A Dask model more than
  a point of macro-F1 from the in-process one is flagged ``PARITY`` (exit status 1).
``--modes`` runs one mode only (parity then needs both modes' rows: ``-``). ``--jobs N`` generates
missing team exports N at a time.
``--estimate N`` adds a row for N users extrapolated linearly in rows from the two largest
measured sizes, labelled as an estimate.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import psutil  # noqa: E402
from team_data import team  # noqa: E402

PARITY_POINTS = 0.01
MODES = ("in-process", "dask")


def _run(args: list[str], home: Path) -> dict[str, Any]:
    """Wall seconds, the peak RSS (MiB) of the command and of its busiest child, and its output."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DISPLAY", None)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli.main", "--home", str(home), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    peaks: dict[int, float] = {}
    loads: list[float] = []
    me = psutil.Process(proc.pid)
    while proc.poll() is None:
        loads.append(os.getloadavg()[0])
        try:
            for p in [me, *me.children(recursive=True)]:
                try:
                    peaks[p.pid] = max(peaks.get(p.pid, 0.0), p.memory_info().rss / 2**20)
                except psutil.Error:
                    pass
        except psutil.Error:
            pass
        time.sleep(0.2)
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"taskclf {' '.join(args[:3])} failed ({proc.returncode}): {err.decode()[-600:]}")
    others = [v for pid, v in peaks.items() if pid != proc.pid]
    return {"wall_s": wall, "peak_main_mib": peaks.get(proc.pid, 0.0),
            "peak_worker_mib": max(others) if others else None,
            "load_avg": sum(loads) / len(loads) if loads else os.getloadavg()[0],
            "bundle": Path(out.decode().strip().splitlines()[-1])}


def _holdout_quality(bundle_dir: Path, shares: list[Path]) -> dict[str, Any]:
    """Shown-label and raw macro-F1 of the bundle on its held-out users' buckets."""
    import numpy as np

    from engine.bundle import load_bundle
    from engine.frame import Frame
    from engine.labels import LABEL_ORDER
    from engine.metrics import classification_scores
    from engine.pipeline import Engine
    from engine.replay import replay
    from trainer.dataset_read import list_dataset_files, read_dataset_file

    bundle = load_bundle(bundle_dir)
    held = set(bundle.metadata["split"]["holdout_users"])
    files = [f for f in list_dataset_files(shares) if f.entry["user"] in held]
    frame = Frame.concat([read_dataset_file(f) for f in files])
    order = np.lexsort((frame.bucket_start, np.asarray(frame.user_ids, dtype=object)))
    frame = frame.take(order)
    rep = replay(frame, lambda: Engine.from_artifacts(bundle))
    index = {lab: i for i, lab in enumerate(LABEL_ORDER)}
    shown = np.asarray([index.get(lab, -1) for lab in rep.smoothed])
    metrics = json.loads((bundle_dir / "metrics.json").read_text())
    return {"holdout_users": len(held), "holdout_rows": len(frame),
            "shown_macro_f1": classification_scores(frame.y, shown, LABEL_ORDER)["macro_f1"],
            "raw_test_macro_f1": metrics["macro_f1"],
            "n_train_rows": json.loads((bundle_dir / "metadata.json").read_text())["n_train_rows"]}


def measure(users: int, workers: int, modes: tuple[str, ...] = MODES, jobs: int = 1) -> list[dict[str, Any]]:
    shares = team(users, jobs)
    data = [a for s in shares for a in ("--dataset", str(s))]
    holdout = max(1, users // 10)
    rows = []
    runs = {"in-process": ("in-process", []), "dask": (f"dask x{workers}", ["--dask-workers", str(workers)])}
    with tempfile.TemporaryDirectory(prefix="team-bench-") as tmp:
        for mode, extra in (runs[m] for m in modes):
            home = Path(tmp) / mode.replace(" ", "_")
            home.mkdir()
            r = _run(["train", "lgbm", *data, "--holdout-users", str(holdout), "--seed", "0", *extra], home)
            print(f"  {users} users, {mode}: trained in {r['wall_s']:.1f} s, peak {r['peak_main_mib']:.0f} MiB"
                  f" (workers {_fmt(r['peak_worker_mib'], '.0f')} MiB), load {r['load_avg']:.1f};"
                  " scoring the held-out users ...", file=sys.stderr, flush=True)
            q = _holdout_quality(r.pop("bundle"), shares)
            rows.append({"users": users, "mode": mode, **r, **q,
                         "rows_per_s": q["n_train_rows"] / r["wall_s"], "estimate": False})
    gap = abs(rows[1]["shown_macro_f1"] - rows[0]["shown_macro_f1"]) if len(rows) == 2 else None
    for r in rows:
        r["parity_gap"] = gap
        r["parity_ok"] = None if gap is None else gap <= PARITY_POINTS
    return rows


def extrapolate(rows: list[dict[str, Any]], users: int) -> list[dict[str, Any]]:
    """Linear in training rows through the two largest measured sizes, per mode."""
    out = []
    for mode in dict.fromkeys(r["mode"] for r in rows):
        a, b = sorted((r for r in rows if r["mode"] == mode), key=lambda r: r["users"])[-2:]
        n = b["n_train_rows"] * users / b["users"]
        t = (n - a["n_train_rows"]) / (b["n_train_rows"] - a["n_train_rows"])

        def at(key: str, a: dict[str, Any] = a, b: dict[str, Any] = b, t: float = t) -> float | None:
            if a[key] is None or b[key] is None:
                return None
            return a[key] + (b[key] - a[key]) * t

        out.append({"users": users, "mode": mode, "estimate": True, "n_train_rows": int(n),
                    "wall_s": at("wall_s"), "peak_main_mib": at("peak_main_mib"),
                    "peak_worker_mib": at("peak_worker_mib"), "rows_per_s": n / at("wall_s"),  # type: ignore[operator]
                    "load_avg": None,
                    "shown_macro_f1": None, "raw_test_macro_f1": None, "parity_gap": None, "parity_ok": None})
    return out


def _fmt(v: Any, spec: str) -> str:
    width = int(re.match(r"\d*", spec).group() or 0)  # type: ignore[union-attr]
    return "-".rjust(width) if v is None else format(v, spec)


def table(rows: list[dict[str, Any]]) -> str:
    head = (f"{'users':>6} {'mode':<11} {'train rows':>11} {'wall s':>8} {'rows/s':>9} {'main MiB':>9} "
            f"{'worker MiB':>10} {'shown F1':>9} {'raw F1':>7} {'parity':>8} {'load':>5}")
    lines = [head, "-" * len(head)]
    for r in rows:
        if r["estimate"]:
            parity = "estimate"
        elif r["parity_gap"] is None:
            parity = "-"
        else:
            parity = f"{r['parity_gap']:.4f}" + ("" if r["parity_ok"] else " PARITY")
        lines.append(f"{r['users']:>6} {r['mode']:<11} {r['n_train_rows']:>11,} {_fmt(r['wall_s'], '8.1f')} "
                     f"{_fmt(r['rows_per_s'], '9,.0f')} {_fmt(r['peak_main_mib'], '9.0f')} "
                     f"{_fmt(r['peak_worker_mib'], '10.0f')} {_fmt(r['shown_macro_f1'], '9.4f')} "
                     f"{_fmt(r['raw_test_macro_f1'], '7.4f')} {parity:>8} {_fmt(r['load_avg'], '5.1f')}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", default="20,100,400", help="team sizes, multiples of 20 (default 20,100,400)")
    ap.add_argument("--estimate", default="", help="team sizes to extrapolate, labelled as estimates")
    ap.add_argument("--modes", default=",".join(MODES), help="in-process, dask or both (default both)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--jobs", type=int, default=1, help="team exports generated at once when missing")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    modes = tuple(m for m in args.modes.split(",") if m)
    if not modes or set(modes) - set(MODES):
        ap.error(f"--modes: a comma-separated choice of {', '.join(MODES)}, not {args.modes!r}")
    rows: list[dict[str, Any]] = []
    for n in (int(v) for v in args.users.split(",") if v):
        print(f"measuring {n} users ...", file=sys.stderr, flush=True)
        rows += measure(n, args.workers, modes, args.jobs)
    for n in (int(v) for v in args.estimate.split(",") if v):
        rows += extrapolate([r for r in rows if not r["estimate"]], n)
    print(json.dumps(rows, indent=2) if args.json else table(rows))
    return 0 if all(r["parity_ok"] is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
