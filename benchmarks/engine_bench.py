"""Engine speed and memory: the full per-bucket step against LightGBM's own floors.

    python3 benchmarks/engine_bench.py [--rows 100000] [--steps 1000000] [--json]

On the seed fixture bundle with its temperature calibrator store, per-user reject thresholds
and a three-bucket taxonomy, over ``--rows`` varied feature rows (the fixture's rows with
jittered numbers and shuffled categories):

- ``step``: the whole ``Engine.step`` (encode, predict, calibrate, decide, smooth, map, block,
  record);
- ``fast``: LightGBM's single-row fast C call (``LGBM_BoosterPredictForMatSingleRowFast``) on
  the already-encoded row: the floor of the model step;
- ``booster``: the ``lightgbm`` package's ``Booster.predict`` on one row (a reference; capped at
  20,000 rows because it is slow);
- the ratios of the medians, the time of a whole day (1,440 buckets) through a fresh engine
  (bucket by bucket, and with ``step_many``, which batches the model call) next to the same
  1,440 rows through the fast call alone,
  and the growth of resident memory over ``--steps`` buckets through one engine.

Everything runs with one OpenMP thread. Each timing loop runs on its own over the same rows (a
loop interleaving them would hand the second call a warm cache).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from engine.bundle import load_bundle  # noqa: E402
from engine.calibrator_store import load_calibrator_store  # noqa: E402
from engine.pipeline import Engine  # noqa: E402
from engine.schema import CATEGORICAL_COLUMNS, MODEL_COLUMNS  # noqa: E402
from engine.taxonomy import taxonomy_from_obj  # noqa: E402

SEED = ROOT / "tests" / "fixtures" / "seed-project-v2"
BUNDLE = SEED / "models" / "2026-11-27_025714_run-2318"
STORE = SEED / "calibrator_store_temperature"
T0 = datetime(2026, 2, 23, 0, 0, tzinfo=UTC)
USERS = ("user-a", "user-b", "user-c", "user-d")
THRESHOLDS = {"user-a": 0.6, "user-b": 0.45, "user-c": 0.5}
TAXONOMY = {
    "buckets": [
        {"name": "Deep Work", "core_labels": ["Build", "Debug", "Write"], "color": "#2E7D32"},
        {"name": "Meetings & Chat", "core_labels": ["Meet", "Communicate"], "color": "#1565C0"},
        {"name": "Research", "core_labels": ["ReadResearch", "Review"], "color": "#6A1B9A"},
    ],
    "reweight": {"Review": 1.2},
}


def _pct(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def _summary(ns: list[int]) -> dict[str, float]:
    us = sorted(v / 1000.0 for v in ns)
    return {"p50": _pct(us, 0.50), "p90": _pct(us, 0.90), "p99": _pct(us, 0.99)}


def varied_rows(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """``n`` feature rows: fixture rows with numbers jittered (+-30 %), sometimes missing, and
    categories sometimes swapped or unseen."""
    text = (SEED / "parity_vectors.jsonl").read_text(encoding="utf-8")
    base = [json.loads(line)["row"] for line in text.splitlines() if line.strip()]
    vocab = json.loads((BUNDLE / "categorical_encoders.json").read_text())
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        b = base[rng.randrange(len(base))]
        row: dict[str, Any] = {}
        for c in MODEL_COLUMNS:
            v = b.get(c)
            if c in CATEGORICAL_COLUMNS:
                r = rng.random()
                if r < 0.1:
                    v = rng.choice(vocab[c])
                elif r < 0.12:
                    v = f"unseen.{i % 50}"
            elif isinstance(v, bool):
                pass
            elif isinstance(v, int | float):
                v = None if rng.random() < 0.02 else v * rng.uniform(0.7, 1.3)
            row[c] = v
        rows.append(row)
    return rows


def _rss_kb() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
    except OSError:
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _engine() -> Engine:
    bundle = load_bundle(BUNDLE)
    store = load_calibrator_store(STORE, bundle=bundle)
    return Engine.from_artifacts(
        bundle, store, reject_threshold=0.5, per_user_thresholds=THRESHOLDS, smooth_window=3,
        taxonomy=taxonomy_from_obj(TAXONOMY),
    )


def bench(n_rows: int, n_steps: int) -> dict[str, Any]:
    rows = varied_rows(n_rows)
    engine = _engine()
    bundle = engine.bundle
    assert bundle is not None
    encoded = [bundle.encode_array(r) for r in rows]
    starts = [T0 + timedelta(minutes=i) for i in range(n_rows)]
    users = [USERS[i % len(USERS)] for i in range(n_rows)]
    sessions = [f"s{i // 240}" for i in range(n_rows)]
    perf = time.perf_counter_ns
    gc.collect()
    gc.disable()
    try:
        # warm up all three paths
        for i in range(200):
            bundle.booster.predict_row_into(encoded[i].buffer_info()[0])
        step = engine.step
        step_ns = []
        for row, ts, uid, sid in zip(rows, starts, users, sessions, strict=True):
            t = perf()
            step(row, user_id=uid, bucket_start=ts, session_id=sid)
            step_ns.append(perf() - t)
        fast = bundle.booster.predict_row_into
        fast_ns = []
        for arr in encoded:
            ptr = arr.buffer_info()[0]
            t = perf()
            fast(ptr)
            fast_ns.append(perf() - t)
    finally:
        gc.enable()
    booster_ns: list[int] = []
    try:
        import lightgbm as lgb

        booster = lgb.Booster(model_file=str(BUNDLE / "model.txt"))
        mats = [np.asarray(a, dtype=np.float64).reshape(1, -1) for a in encoded[: min(n_rows, 20_000)]]
        for m in mats[:100]:
            booster.predict(m, num_threads=1)
        gc.disable()
        for m in mats:
            t = perf()
            booster.predict(m, num_threads=1)
            booster_ns.append(perf() - t)
        gc.enable()
    except ImportError:
        pass

    # a whole day through a fresh engine (what `infer batch` does per day)
    day = _engine()
    t = perf()
    for i in range(1440):
        day.step(rows[i % n_rows], user_id="user-a", bucket_start=starts[i], session_id=sessions[i])
    day_s = (perf() - t) / 1e9
    # its floor: the same 1,440 rows through LightGBM's fast call alone (encoded beforehand)
    fast_call = day.bundle.booster.predict_row_into if day.bundle is not None else None
    assert fast_call is not None
    day_ptrs = [encoded[i % n_rows].buffer_info()[0] for i in range(1440)]
    t = perf()
    for ptr in day_ptrs:
        fast_call(ptr)
    day_fast_s = (perf() - t) / 1e9
    batch = _engine()
    t = perf()
    batch.step_many(
        [rows[i % n_rows] for i in range(1440)], user_ids=["user-a"] * 1440,
        bucket_starts=starts[:1440], session_ids=sessions[:1440],
    )
    day_batch_s = (perf() - t) / 1e9

    # memory over many buckets through one engine
    mem_engine = _engine()
    gc.collect()
    rss0 = _rss_kb()
    rss_10k = rss0
    t = perf()
    one_min = timedelta(minutes=1)
    ts = T0
    for i in range(n_steps):
        j = i % n_rows
        mem_engine.step(rows[j], user_id=USERS[(i // 97) % len(USERS)] if i % 1000 else f"guest-{i}", bucket_start=ts, session_id=f"s{i // 300}")
        ts += one_min
        if i + 1 == min(10_000, n_steps):
            gc.collect()
            rss_10k = _rss_kb()
    mem_s = (perf() - t) / 1e9
    gc.collect()
    rss_end = _rss_kb()

    s, f = _summary(step_ns), _summary(fast_ns)
    out: dict[str, Any] = {
        "rows": n_rows,
        "step_p50_us": s["p50"], "step_p90_us": s["p90"], "step_p99_us": s["p99"],
        "fast_p50_us": f["p50"], "fast_p90_us": f["p90"], "fast_p99_us": f["p99"],
        "ratio_step_to_fast_p50": s["p50"] / f["p50"],
        "ratio_step_to_fast_p99": s["p99"] / f["p99"],
        "day_1440_buckets_s": day_s,
        "day_1440_buckets_batch_s": day_batch_s,
        "day_1440_fast_calls_s": day_fast_s,
        "memory_steps": n_steps,
        "memory_run_s": mem_s,
        "rss_start_kb": rss0,
        "rss_growth_first_10k_kb": rss_10k - rss0,
        "rss_growth_after_10k_kb": rss_end - rss_10k,
        "blocks_kept": len(mem_engine.today_blocks()),
    }
    if booster_ns:
        bst = _summary(booster_ns)
        out.update(
            booster_rows=len(booster_ns),
            booster_p50_us=bst["p50"], booster_p90_us=bst["p90"], booster_p99_us=bst["p99"],
            ratio_step_to_booster_p50=s["p50"] / bst["p50"],
        )
    return out


def _table(r: dict[str, Any]) -> str:
    lines = [
        f"engine step on {r['rows']:,} varied rows (seed bundle, temperature store, per-user thresholds, taxonomy)",
        f"{'':32}{'p50 us':>10}{'p90 us':>10}{'p99 us':>10}",
        f"{'engine step (full)':32}{r['step_p50_us']:>10.1f}{r['step_p90_us']:>10.1f}{r['step_p99_us']:>10.1f}",
        f"{'LightGBM single-row fast C':32}{r['fast_p50_us']:>10.1f}{r['fast_p90_us']:>10.1f}{r['fast_p99_us']:>10.1f}",
    ]
    if "booster_p50_us" in r:
        lines.append(
            f"{'Booster.predict, one row':32}{r['booster_p50_us']:>10.1f}{r['booster_p90_us']:>10.1f}{r['booster_p99_us']:>10.1f}"
            f"   ({r['booster_rows']:,} rows)"
        )
    lines += [
        "",
        f"step / fast call (p50)          {r['ratio_step_to_fast_p50']:.2f} x   (target <= 2 x, stretch 1.5 x)",
    ]
    if "ratio_step_to_booster_p50" in r:
        lines.append(f"step / Booster.predict (p50)    {r['ratio_step_to_booster_p50']:.2f} x")
    lines += [
        f"whole day, 1,440 buckets        {r['day_1440_buckets_s']:.3f} s one step at a time, "
        f"{r['day_1440_buckets_batch_s']:.3f} s with step_many   (target < 0.2 s)",
        f"  the same day, fast C call only {r['day_1440_fast_calls_s']:.3f} s   (the floor: "
        f"{r['day_1440_buckets_s'] / r['day_1440_fast_calls_s']:.2f} x)",
        f"memory over {r['memory_steps']:,} buckets ({r['memory_run_s']:.0f} s): start {r['rss_start_kb'] / 1024:.1f} MB, "
        f"+{r['rss_growth_first_10k_kb']} kB over the first {min(10_000, r['memory_steps']):,}, "
        f"{r['rss_growth_after_10k_kb']:+d} kB after "
        f"(target < 1 MB, no growth); blocks kept {r['blocks_kept']}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=100_000, help="varied rows timed (default 100,000)")
    p.add_argument("--steps", type=int, default=1_000_000, help="buckets of the memory run (default 1,000,000)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    a = p.parse_args(argv)
    if a.rows < 1440 or a.steps < 1:
        p.error("--rows must be >= 1440 and --steps >= 1")
    r = bench(a.rows, a.steps)
    print(json.dumps(r) if a.json else _table(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
