"""Personalisation quality on users the shared model never saw (issue 10's scenario).

A shared model is trained (``train all``) on 7 synthetic users. Two users it never saw get their
own home with that model deployed: one whose work is often ambiguous (the model is
over-confident on them: miscalibrated) and one regular persona. For N = 0, 50, 200, 500, 1000,
N labelled minutes of their early days go into their store through the store's label path,
``taskclf personalize`` runs, and their later days are replayed through the engine the policy
describes. Scored on the label the tray shows (smoothed, after reject): NLL, ECE, accuracy,
macro-F1, reject rate; next to the best single temperature fitted on the later days themselves
(the reference: what perfect knowledge of one temperature would give). Then "Retrain now" on the
regular user's home with 1000 labelled minutes: figures before and after.

    python3 benchmarks/personalization_bench.py [--json] [--days 14]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine import metrics as M  # noqa: E402
from engine.calibration import TemperatureCalibrator  # noqa: E402
from engine.labels import LABEL_ORDER  # noqa: E402

NS = (0, 50, 200, 500, 1000)
TRAIN_USERS = ("user-01", "user-02", "user-03", "user-04", "user-05", "user-07", "user-08")
HELD_OUT = {"miscalibrated": "user-09", "regular": "user-06"}
EARLY_DAYS = 6


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def generate(days: int, seed: int) -> dict[str, list[Any]]:
    from trainer.synth import SynthConfig, generate_day, make_users

    cfg = SynthConfig(users=9, days=days, seed=seed)
    dates = cfg.working_days()
    return {u.user_id: [generate_day(cfg, u, i, d) for i, d in enumerate(dates)] for u in make_users(cfg)}


def train_shared(home: Path, world: dict[str, list[Any]], seed: int) -> Any:
    from trainer.synth_store import frame_from_days
    from trainer.workflow import train_all

    frame = frame_from_days([d for u in TRAIN_USERS for d in world[u]])
    return train_all(home, frame, seed=seed)


def _spans_for(days: list[Any], minutes: int) -> list[Any]:
    """``minutes`` labelled minutes spread evenly over the early days, as manual labels.

    Within a day the user labels whole activity blocks at moments spread over the day (every
    k-th of the persona's spans, as the tray's confirm / correct of the current block do), not
    the first hours only; a span is clipped so that exactly the day's quota of *recorded*
    minutes is labelled (a span over a gap, e.g. lunch, labels minutes without a bucket).
    """
    from engine.spans import LabelSpan

    out: list[Any] = []
    if minutes <= 0:
        return out
    quota = [minutes // len(days) + (1 if i < minutes % len(days) else 0) for i in range(len(days))]
    made = datetime(2030, 1, 1, tzinfo=UTC)
    for day, q in zip(days, quota, strict=True):
        recorded = {t for t, _ in day.truth}
        spans = sorted(day.spans, key=lambda s: s.start_ts)
        total = sum(_recorded_minutes(s.start_ts, s.end_ts, recorded) for s in spans)
        stride = max(1, total // max(q, 1))
        order = [i for r in range(stride) for i in range(r, len(spans), stride)]
        left = q
        for i in order:
            if left <= 0:
                break
            s = spans[i]
            end, got = s.start_ts, 0
            while end < s.end_ts and got < left:
                got += end in recorded
                end += timedelta(minutes=1)
            if got:
                out.append(LabelSpan(s.start_ts, end, s.label, s.user_id, "manual", None, made))
                left -= got
    return out


def _recorded_minutes(start: datetime, end: datetime, recorded: set[datetime]) -> int:
    return sum(1 for k in range(int((end - start).total_seconds() // 60)) if start + timedelta(minutes=k) in recorded)


def user_history(base: Path, days: list[Any]) -> Path:
    """The user's recorded history (records and feature rows, no labels): built once per user."""
    from engine.features import FeatureBuilder
    from engine.store import Store

    path = base / f"{days[0].user.user_id}-history.sqlite3"
    records = [r for d in days for r in d.records]
    with Store.open(path) as store:
        store.put_records(records)
        b = FeatureBuilder(validate=False)
        store.put_feature_rows([row for row in (b.push(r) for r in records) if row is not None])
    return path


def user_home(base: Path, shared_home: Path, history: Path, days: list[Any], n: int) -> Path:
    """A home with the shared model deployed and the user's history plus N labelled minutes."""
    import sqlite3

    from engine.paths import calibrator_stores_dir
    from engine.store import Store

    home = base / f"{days[0].user.user_id}-{n}"
    home.mkdir(parents=True)
    shutil.copytree(shared_home / "models", home / "models")
    shutil.copytree(calibrator_stores_dir(shared_home), calibrator_stores_dir(home))
    src, dst = sqlite3.connect(history), sqlite3.connect(home / "store.sqlite3")
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    with Store.open(home / "store.sqlite3") as store:
        store.add_label_spans(_spans_for(days[:EARLY_DAYS], n))
    return home


def score(home: Path, later: list[Any]) -> dict[str, float]:
    """Replay the later days through the deployed engine; figures of the shown label."""
    from engine.pipeline import Engine
    from engine.policy import load_policy
    from engine.replay import replay
    from trainer.synth_store import frame_from_days

    loaded = load_policy(home)
    frame = frame_from_days(later)
    truth = {int(t.timestamp()): lab for d in later for t, lab in d.truth}
    index = {lab: i for i, lab in enumerate(LABEL_ORDER)}
    y = np.array([index.get(truth.get(int(t), ""), -1) for t in frame.bucket_start], dtype=np.int64)
    rep = replay(frame, lambda: Engine.from_loaded_policy(loaded))
    m = y >= 0
    shown = np.array([index.get(s, M.REJECTED) for s in rep.smoothed], dtype=np.int64)
    sc = M.classification_scores(y[m], shown[m], LABEL_ORDER)
    from engine.temperature_fit import fit_temperature

    best_t = fit_temperature(rep.raw[m], y[m])
    best = TemperatureCalibrator(best_t).apply(rep.raw[m])
    return {
        "nll": M.nll(rep.probs[m], y[m]), "ece": M.ece(rep.probs[m], y[m]),
        "accuracy": sc["accuracy"], "macro_f1": sc["macro_f1"], "reject_rate": M.reject_rate(rep.rejected[m]),
        "best_t": best_t, "best_t_nll": M.nll(best, y[m]), "best_t_ece": M.ece(best, y[m]),
        "calibrator": rep.calibrator[-1] if rep.calibrator else "",
    }


def run(days: int, seed: int) -> dict[str, Any]:
    from engine.personalize import personalize

    base = Path(tempfile.mkdtemp(prefix="taskclf-personal-bench-"))
    try:
        t0 = time.perf_counter()
        world = generate(days, seed)
        shared = base / "shared"
        _say(f"training the shared model on {len(TRAIN_USERS)} users x {days} days")
        train_shared(shared, world, seed)
        rows: list[dict[str, Any]] = []
        histories: dict[str, Path] = {}
        for kind, uid in HELD_OUT.items():
            udays = world[uid]
            later = udays[EARLY_DAYS:]
            histories[uid] = user_history(base, udays)
            shared_score: dict[str, Any] | None = None  # the deployed policy's figures (N = 0)
            for n in NS:
                home = user_home(base, shared, histories[uid], udays, n)
                t1 = time.perf_counter()
                out = personalize(home) if n > 0 else None
                took = time.perf_counter() - t1
                u = out.users[0] if out is not None and out.users else None
                # personalize leaves the policy untouched unless it personalised: same figures
                if u is not None and u.status == "personalised" or shared_score is None:
                    s = score(home, later)
                else:
                    s = shared_score
                shared_score = shared_score or s
                rows.append({"user": kind, "n": n, **s, "outcome": (u.status if u else "-"),
                             "why": (u.reason if u else ""), "personalize_seconds": round(took, 2),
                             "user_temperature": _temperature(u), "user_threshold": u.threshold if u else None})
                _say(f"  {kind} N={n}: {rows[-1]['outcome']} ({rows[-1]['why']})")
        uid = HELD_OUT["regular"]
        retrain = retrain_now(base, shared, histories[uid], world[uid])
        return {"days": days, "seed": seed, "rows": rows, "retrain_now": retrain,
                "seconds": round(time.perf_counter() - t0, 1)}
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _temperature(u: Any) -> float | None:
    return float(u.calibrator.temperature) if u is not None and isinstance(u.calibrator, TemperatureCalibrator) \
        else None


def retrain_now(base: Path, shared: Path, history: Path, udays: list[Any]) -> dict[str, Any]:
    """What "Retrain now" does to a single user's home with 1000 labelled minutes."""
    from engine.frame_loader import load_frame
    from engine.store import Store
    from trainer.workflow import retrain_home

    (base / "retrain").mkdir()
    home = user_home(base / "retrain", shared, history, udays, 1000)
    later = udays[EARLY_DAYS:]
    before = score(home, later)
    with Store.open(home / "store.sqlite3", readonly=True) as store:
        frame, _ = load_frame([store])
    res = retrain_home(home, frame)
    after = score(home, later)
    return {"before": before, "after": after, "outcome": res.outcome, "message": res.message}


def _fmt(rows: list[dict[str, Any]]) -> str:
    head = (f"{'user':<14}{'N':>5}{'NLL':>8}{'bestT NLL':>10}{'gain %':>8}{'ECE':>7}{'acc':>7}{'F1':>7}"
            f"{'reject':>8}  outcome")
    out = [head, "-" * len(head)]
    base_nll: dict[str, float] = {}
    for r in rows:
        if r["n"] == 0:
            base_nll[r["user"]] = r["nll"]
        b = base_nll.get(r["user"], r["nll"])
        denom = b - r["best_t_nll"]
        gain = (b - r["nll"]) / denom * 100 if denom > 1e-9 else float("nan")
        out.append(f"{r['user']:<14}{r['n']:>5}{r['nll']:>8.3f}{r['best_t_nll']:>10.3f}{gain:>8.0f}"
                   f"{r['ece']:>7.3f}{r['accuracy']:>7.3f}{r['macro_f1']:>7.3f}{r['reject_rate']:>8.1%}"
                   f"  {r['outcome']}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--days", type=int, default=14, help="working days per synthetic user")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    res = run(args.days, args.seed)
    if args.json:
        print(json.dumps(res, indent=2, default=float))
        return 0
    print(_fmt(res["rows"]))
    rt = res["retrain_now"]
    print(f"\nRetrain now (regular user, 1000 labelled minutes): {rt['outcome']}: {rt['message']}")
    for k in ("nll", "ece", "accuracy", "macro_f1", "reject_rate"):
        print(f"  {k:<12}{rt['before'][k]:>8.3f} -> {rt['after'][k]:>8.3f}")
    print(f"\n({res['seconds']} s; gain % = share of the best single temperature's NLL gain over N = 0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
