"""How cost grows with history: store size, batch inference, the agent's label path, training.

    python3 benchmarks/scale_bench.py [--days 1,30,90,365] [--size-days 10] [--train 10x30,30x90]
                                      [--cache DIR] [--json]

Figures, each measured in this run:
- store bytes per synthetic user-day: the compact store beside the same data written in the
  schema-2 layout (JSON text rows, the reference), with every feature row, with the agent's
  predictions added (the rules engine's, and apart the starter model's), and after retention
  dropped the unlabelled feature rows;
- ``taskclf infer batch`` wall time and peak RSS (its own process) over 1 / 30 / 90 ... days of
  one user's synthetic history (the starter bundle, so no training is needed), beside the
  reference: the time the engine's own ``step`` calls take over the same buckets, measured in
  this process in the same run;
- the agent's store work at start and on a label commit at each history length (wall time and
  SQLite virtual-machine steps, which grow with every row a read walks);
- ``taskclf train all`` wall time and peak RSS for users x days.
The histories come from ``taskclf synth`` (slow for long histories: minutes for a year);
``--cache DIR`` keeps them between runs (each run works on a copy).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.store import Store  # noqa: E402
from engine.store_schema import migrate  # noqa: E402

START = date(2024, 1, 1)  # long histories must end in the past
BUCKETS_PER_DAY_NOTE = "a synthetic desk day is ~482 one-minute buckets"


def _run(args: list[str], home: Path, timeout: float = 3600) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MiB of the child, stderr tail) of one taskclf command."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DISPLAY", None)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli.main", "--home", str(home), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    assert proc.stderr is not None
    err = proc.stderr.read().decode("utf-8", "replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"taskclf {' '.join(args)} failed ({proc.returncode}): {err[-400:]}")
    return wall, usage.ru_maxrss / 1024.0, err[-200:]


CACHE: Path | None = None


def _synth(home: Path, users: int, days: int) -> None:
    """A synthetic history in ``home``: copied from the cache when it holds one of that size."""
    cached = CACHE / f"h{users}x{days}" if CACHE is not None else None
    if cached is not None and (cached / "store.sqlite3").is_file() and (cached / "DONE").is_file():
        shutil.copytree(cached, home)
        with Store.open(home / "store.sqlite3"):  # an older layout is migrated here, untimed
            pass
        return
    _run(["synth", "--users", str(users), "--days", str(days), "--start", START.isoformat()], home)
    if cached is not None:
        shutil.copytree(home, cached, dirs_exist_ok=True)
        (cached / "DONE").touch()


def _v2_reference_bytes(src: Path, dst: Path) -> int:
    """The same records, feature rows and predictions written in the schema-2 layout."""
    conn = sqlite3.connect(dst, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    migrate(conn, target=2)
    with Store.open(src, readonly=True) as st:
        conn.execute("BEGIN")
        for rec in st.records():
            conn.execute("INSERT INTO records (user_id, device_id, bucket_start, record) VALUES (?, ?, ?, ?)",
                         (rec.user_id, rec.device_id, int(rec.bucket_start.timestamp()),
                          json.dumps(rec.to_json(), separators=(",", ":"))))
        for row in st.feature_rows():
            meta = (row.pop("_schema_hash"), row.pop("_feature_builder_version"))
            conn.execute("INSERT INTO feature_rows (device_id, bucket_start, user_id, schema_hash,"
                         " feature_builder_version, row, session_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (row["device_id"], int(datetime.fromisoformat(row["bucket_start"]).timestamp()),
                          row["user_id"], *meta, json.dumps(row, separators=(",", ":")), row.get("session_id")))
        for p in st.predictions():
            conn.execute("INSERT OR REPLACE INTO predictions (device_id, bucket_start, user_id, model_id,"
                         " core_label, accepted_label, confidence, rejected, record)"
                         " VALUES ('d', ?, ?, ?, ?, ?, ?, ?, ?)",
                         (int(datetime.fromisoformat(p.bucket_start).timestamp()), p.user_id, p.model_id,
                          p.core_label, p.accepted_label, p.confidence, int(p.rejected),
                          json.dumps(p.to_json(), separators=(",", ":"))))
        conn.execute("COMMIT")
    conn.execute("VACUUM")
    conn.close()
    return dst.stat().st_size


def _size(path: Path) -> int:
    with Store.open(path) as st:
        st.checkpoint()
        st._conn.execute("VACUUM")
    return path.stat().st_size


def _add_predictions(path: Path, model: str = "rules") -> None:
    """What the agent adds per bucket: the prediction of the rules engine, or of the starter
    model (eight long probabilities per bucket, as any trained model gives)."""
    from engine.features import FeatureBuilder
    from engine.pipeline import Engine

    def make() -> Engine:
        if model == "rules":
            return Engine.rules()
        from engine.bundle import load_bundle
        from engine.starter import bundle_dir

        return Engine.from_artifacts(load_bundle(bundle_dir()), None, smooth_window=3)

    with Store.open(path) as st:
        for user in st.users():
            builder, engine = FeatureBuilder(validate=False), make()
            for rec in st.records(user_id=user):
                row = builder.push(rec)
                if row is not None:
                    st.put_prediction(rec.device_id, engine.step(
                        row.model_features(), user_id=user, bucket_start=row.bucket_start,
                        session_id=row.session_id))


def store_sizes(days: int, tmp: Path) -> dict[str, Any]:
    home = tmp / "size"
    _synth(home, 1, days)
    path = home / "store.sqlite3"
    with Store.open(path, readonly=True) as st:
        buckets = st.count_records()
    compact = _size(path)
    starter = tmp / "starter.sqlite3"
    shutil.copy(path, starter)
    _add_predictions(path)
    with_preds = _size(path)
    reference = _v2_reference_bytes(path, tmp / "v2.sqlite3")
    _daily_pass(path)
    compacted = _size(path)
    _add_predictions(starter, "starter")
    with_starter = _size(starter)
    _daily_pass(starter)
    starter_compacted = _size(starter)
    mb = 1024 * 1024
    return {
        "user_days": days, "buckets": buckets,
        "v2_reference_mb_per_user_day": round(reference / days / mb, 3),
        "compact_rows_mb_per_user_day": round(compact / days / mb, 3),
        "compact_rows_preds_mb_per_user_day": round(with_preds / days / mb, 3),
        "compact_after_retention_mb_per_user_day": round(compacted / days / mb, 3),
        "compact_rows_starter_mb_per_user_day": round(with_starter / days / mb, 3),
        "compact_starter_after_retention_mb_per_user_day": round(starter_compacted / days / mb, 3),
        "load_1m": round(os.getloadavg()[0], 2),
    }


def _daily_pass(path: Path) -> None:
    """The agent's daily retention pass, a day after the history's last day (90-day window)."""
    with Store.open(path) as st:
        last = st.days(st.users()[0])[-1]
        st.apply_retention(datetime.combine(last + timedelta(days=1), datetime.min.time(), UTC), 90)


class _Work:
    """What a store connection does: SQLite virtual-machine steps (in thousands, through
    SQLite's progress handler) and wall time. Steps count every row an index or table walk
    touches inside SQLite, so a read that grows with the history shows here whatever it
    returns."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.ksteps = 0

    def _tick(self) -> int:
        self.ksteps += 1
        return 0

    def measure(self, fn: Any) -> tuple[float, int]:
        self.ksteps = 0
        self.store._conn.set_progress_handler(self._tick, 1000)
        t0 = time.perf_counter()
        try:
            fn()
        finally:
            wall = time.perf_counter() - t0
            self.store._conn.set_progress_handler(None, 0)
        return wall, self.ksteps


def _agent_paths(home: Path) -> dict[str, float]:
    """The agent's store work at start and on a label commit, on a writable store as the agent
    has it, the day after the history ends. Start (``AgentRuntime._restore`` and the first
    engine's ``catch_up``): this device's records since the day before today, retention, the
    unpredicted buckets, the pause state, the learning progress, the recent labels. The first
    start on this history (its retention pass lets go of everything beyond the window) is
    timed apart; the start measured is the next day's, the daily case. Label commit
    (``LabelService.commit`` then its refreshes): a correction of the last ten minutes with its
    feedback event, the learning progress, the recent labels."""
    from agent.labels_service import RECENT_LABELS_SECONDS
    from agent.learning import learning_progress
    from agent.pause import STATE_PAUSED_UNTIL
    from engine.spans import LabelSpan

    with Store.open(home / "store.sqlite3") as st:
        user = st.users()[0]
        device = st._sources(user)[0][2]
        last = max(r.bucket_start for r in st.records(user_id=user, start=datetime.combine(
            st.days(user)[-1], datetime.min.time(), UTC)))
        now = last + timedelta(minutes=1)
        work = _Work(st)

        def start(now: datetime = now) -> None:
            st.last_records(user, now - timedelta(days=2))
            st.apply_retention(now, 90)
            st.unpredicted_buckets(device)
            st.get_state(STATE_PAUSED_UNTIL)
            learning_progress(st, user)
            st.label_spans(user_id=user, start=now - timedelta(seconds=RECENT_LABELS_SECONDS))

        def commit() -> None:
            span = LabelSpan(now - timedelta(minutes=10), now, "Debug", user, "correction", None, now)
            st.add_label_with_feedback(span, kind="correction", shown_label="Build", answer_label="Debug",
                                       bucket_start=None, block_start=now - timedelta(minutes=10),
                                       confidence=0.5, at=now)
            learning_progress(st, user)
            st.label_spans(user_id=user, start=now - timedelta(seconds=RECENT_LABELS_SECONDS))

        first_s, _ = work.measure(lambda: start(now - timedelta(days=1)))
        start_s, start_k = work.measure(start)
        commit_s, commit_k = work.measure(commit)
    return {"first_start_s": round(first_s, 2), "start_s": round(start_s, 3), "start_ksteps": start_k,
            "label_commit_s": round(commit_s, 3), "label_commit_ksteps": commit_k}


class _TimedEngine:
    """An engine whose ``step`` calls are timed (the reference: the engine's own cost)."""

    total = 0.0

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def step(self, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        out = self.engine.step(*args, **kwargs)
        _TimedEngine.total += time.perf_counter() - t0
        return out


def _engine_only_s(home: Path, first: date, last: date) -> float:
    """Seconds the engine's ``step`` takes over the buckets ``infer batch`` predicts."""
    from engine.bundle import load_bundle
    from engine.pipeline import Engine
    from engine.starter import bundle_dir
    from trainer.infer_batch import batch_predictions

    bundle = load_bundle(bundle_dir())
    _TimedEngine.total = 0.0
    with Store.open(home / "store.sqlite3", readonly=True) as st:
        for _ in batch_predictions([st], lambda: _TimedEngine(Engine.from_artifacts(bundle, None, smooth_window=3)),
                                   first, last):
            pass
    return _TimedEngine.total


def batch_and_agent(days_list: list[int], tmp: Path) -> list[dict[str, Any]]:
    from engine.starter import bundle_dir

    home = tmp / "long"
    _synth(home, 1, max(days_list))
    with Store.open(home / "store.sqlite3", readonly=True) as st:
        all_days = st.days(st.users()[0])
    out = []
    for d in days_list:
        first, last = all_days[0], all_days[min(d, len(all_days)) - 1]
        wall, rss, _ = _run(["infer", "batch", "--from", first.isoformat(), "--to", last.isoformat(),
                             "--model-dir", str(bundle_dir()), "--output", str(tmp / "preds.jsonl")], home)
        lines = sum(1 for _ in (tmp / "preds.jsonl").open())
        engine_s = _engine_only_s(home, first, last)
        out.append({"days": d, "buckets": lines, "infer_batch_s": round(wall, 2),
                    "engine_only_s": round(engine_s, 2), "infer_batch_peak_mib": round(rss, 1)})
    return out


def agent_paths(days_list: list[int], tmp: Path) -> list[dict[str, Any]]:
    rows = []
    for d in days_list:
        home = tmp / f"agent{d}"
        _synth(home, 1, d)
        rows.append({"history_days": d, **_agent_paths(home)})
    return rows


def train(users: int, days: int, tmp: Path) -> dict[str, Any]:
    home = tmp / f"train{users}x{days}"
    _synth(home, users, days)
    wall, rss, _ = _run(["train", "all"], home)
    return {"users": users, "days": days, "train_all_s": round(wall, 1), "train_all_peak_mib": round(rss, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", default="1,30,90,365", help="history lengths for infer batch (comma separated)")
    ap.add_argument("--agent-days", default="30,90", help="history lengths for the agent's label path")
    ap.add_argument("--size-days", type=int, default=10, help="user-days for the store size figures")
    ap.add_argument("--train", default="10x30,30x90", help="users x days for train all (comma separated)")
    ap.add_argument("--cache", metavar="DIR", help="keep the synthetic histories here between runs")
    ap.add_argument("--skip", default="", help="parts to leave out: store,batch,agent,train (comma separated)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    global CACHE
    CACHE = Path(args.cache).resolve() if args.cache else None
    skip = set(args.skip.split(","))
    days_list = [int(x) for x in args.days.split(",") if x]
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        result: dict[str, Any] = {"note": BUCKETS_PER_DAY_NOTE}
        result["store"] = store_sizes(args.size_days, tmp) if "store" not in skip else {}
        result["infer_batch"] = batch_and_agent(days_list, tmp) if "batch" not in skip else []
        result["agent"] = (agent_paths([int(x) for x in args.agent_days.split(",") if x], tmp)
                           if "agent" not in skip else [])
        result["train_all"] = ([train(*map(int, spec.split("x")), tmp) for spec in args.train.split(",") if spec]
                               if "train" not in skip else [])
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    s = result["store"]
    if s:
        print(f"store, {s['user_days']} synthetic user-days ({s['buckets']} buckets), MB per user-day")
        print(f"  schema 2 reference (rows + predictions) {s['v2_reference_mb_per_user_day']:>8}")
        print(f"  compact, records + every feature row    {s['compact_rows_mb_per_user_day']:>8}")
        print(f"  compact, + the agent's predictions      {s['compact_rows_preds_mb_per_user_day']:>8}")
        print(f"  compact, after retention (7 d rows)     {s['compact_after_retention_mb_per_user_day']:>8}")
        print(f"  compact, + the starter model's instead  {s['compact_rows_starter_mb_per_user_day']:>8}")
        print(f"  the same after retention (7 d rows)     {s['compact_starter_after_retention_mb_per_user_day']:>8}")
        print(f"  (load average {s['load_1m']})")
    print("infer batch (starter bundle)   days  buckets   wall s  engine only s  peak MiB")
    for r in result["infer_batch"]:
        print(f"{'':31}{r['days']:>4} {r['buckets']:>8} {r['infer_batch_s']:>8} {r['engine_only_s']:>14}"
              f" {r['infer_batch_peak_mib']:>9}")
    print("agent (store work)     history days  first start s  start s  start ksteps  label commit s"
          "  commit ksteps")
    for r in result["agent"]:
        print(f"{'':23}{r['history_days']:>12} {r['first_start_s']:>14} {r['start_s']:>8} {r['start_ksteps']:>13}"
              f" {r['label_commit_s']:>15} {r['label_commit_ksteps']:>14}")
    print("train all                 users  days   wall s  peak MiB")
    for r in result["train_all"]:
        print(f"{'':26}{r['users']:>5} {r['days']:>5} {r['train_all_s']:>8} {r['train_all_peak_mib']:>9}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
