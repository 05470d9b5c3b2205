"""How cost grows with history: store size, batch inference, the agent's label path, training.

    python3 benchmarks/scale_bench.py [--days 1,30,90,365] [--size-days 10] [--train 10x30,30x90]
                                      [--eval-days 30,90] [--eval-history DAYS] [--skip PARTS]
                                      [--cache DIR] [--json]

Figures, each measured in this run:
- store bytes per synthetic user-day: the compact store beside the same data written in the
  schema-2 layout (JSON text rows, the reference), with every feature row, with the agent's
  predictions added (the rules engine's, and apart the starter model's), and after retention
  dropped the unlabelled feature rows;
- ``taskclf infer batch`` wall time and peak RSS (its own process) over 1 / 30 / 90 ... days of
  one user's synthetic history (the starter bundle, so no training is needed), beside the
  reference: the time the engine's own ``step`` calls take, bucket by bucket, over the same
  buckets, measured in this process in the same run (rows read untimed), their ratio and the
  1-minute load average at the end of the measurement (the machine may be shared); once per
  ``--jobs`` value (peak RSS is the largest process's; each of them holds about as much); the
  same in CPU seconds (the command with its workers; the engine's own step calls), which a
  loaded machine sways much less than wall time;
- the agent's store work at start and on a label commit at each history length (wall time and
  SQLite virtual-machine steps, which grow with every row a read walks);
- ``taskclf train all`` wall time and peak RSS for users x days;
- the evaluation replay (``train evaluate``'s path: test days read and replayed in chunks) wall
  time and peak RSS (its own process) at 30 / 90 test days, beside the reference measured in the
  same run: the same test days loaded as one frame and replayed whole, as evaluation worked
  before it streamed; both give the same figures (the shown macro-F1 is printed for each).
The machine's 1-minute load average is printed beside the train and evaluation figures.
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


def _spawn(argv: list[str], timeout: float = 3600) -> tuple[float, float, str, str]:
    """(wall seconds, peak RSS MiB, stdout, stderr) of one Python child running this checkout;
    the peak is the child's own (``wait4``), so each figure is one process's."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DISPLAY", None)
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as err_file:
        proc = subprocess.Popen([sys.executable, *argv], stdout=subprocess.PIPE, stderr=err_file, env=env,
                                cwd=ROOT)
        assert proc.stdout is not None
        out = proc.stdout.read().decode("utf-8", "replace")
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        err_file.seek(0)
        err = err_file.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {err[-400:]}")
    global LAST_CPU_S
    LAST_CPU_S = usage.ru_utime + usage.ru_stime  # with the child's own workers (reaped)
    return wall, usage.ru_maxrss / 1024.0, out, err


#: CPU seconds of the last child (``_spawn``): less swayed by the machine's load than wall time
LAST_CPU_S = 0.0


def _run(args: list[str], home: Path, timeout: float = 3600) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MiB of the child, stderr tail) of one taskclf command."""
    wall, rss, _, err = _spawn(["-m", "engine.cli.main", "--home", str(home), *args], timeout)
    return wall, rss, err[-200:]


def _load() -> float:
    """The machine's 1-minute load average when a figure is taken (the machine is shared)."""
    return round(os.getloadavg()[0], 1)


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
    """The file's size once the rows written one at a time are deflated (what the agent's
    daily pass does) and the free pages given back."""
    with Store.open(path) as st:
        st.compact_rows()
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


def _engine_only_s(home: Path, first: date, last: date) -> tuple[float, float]:
    """The reference: seconds the engine's own ``step`` takes, bucket by bucket, over the
    buckets ``infer batch`` predicts (rows read beforehand and not timed; the warm-up buckets
    of the first session are not counted). (wall s, CPU s)."""
    from engine.bundle import load_bundle
    from engine.pipeline import Engine
    from engine.starter import bundle_dir
    from engine.store_rows import user_rows
    from trainer.dataset import utc_bounds

    bundle = load_bundle(bundle_dir())
    lo, hi = utc_bounds(first, last)
    assert lo is not None and hi is not None
    total = cpu = 0.0
    clock, cpu_clock = time.perf_counter, time.process_time
    with Store.open(home / "store.sqlite3", readonly=True) as st:
        for user in st.users():
            engine = Engine.from_artifacts(bundle, None, smooth_window=3)
            rows = user_rows(st, user, start=lo - timedelta(hours=12), end=hi + timedelta(hours=12))
            for chunk in rows.chunks:
                for r in chunk:
                    if not first <= r.local_day <= last:
                        continue
                    t0, c0 = clock(), cpu_clock()
                    engine.step(r.features, user_id=r.user_id, bucket_start=r.bucket_start,
                                session_id=r.session_id, local_day=r.local_day)
                    total += clock() - t0
                    cpu += cpu_clock() - c0
    return total, cpu


def batch_and_agent(days_list: list[int], tmp: Path, jobs_list: list[int]) -> list[dict[str, Any]]:
    from engine.starter import bundle_dir

    home = tmp / "long"
    _synth(home, 1, max(days_list))
    with Store.open(home / "store.sqlite3", readonly=True) as st:
        all_days = st.days(st.users()[0])
    out = []
    for d in days_list:
        first, last = all_days[0], all_days[min(d, len(all_days)) - 1]
        engine_s, engine_cpu = _engine_only_s(home, first, last)
        for jobs in jobs_list:
            wall, rss, _ = _run(["infer", "batch", "--from", first.isoformat(), "--to", last.isoformat(),
                                 "--model-dir", str(bundle_dir()), "--output", str(tmp / "preds.jsonl"),
                                 "--jobs", str(jobs)], home)
            lines = sum(1 for _ in (tmp / "preds.jsonl").open())
            out.append({"days": d, "buckets": lines, "jobs": jobs, "infer_batch_s": round(wall, 2),
                        "engine_only_s": round(engine_s, 2), "ratio": round(wall / engine_s, 2),
                        "infer_batch_cpu_s": round(LAST_CPU_S, 2), "engine_only_cpu_s": round(engine_cpu, 2),
                        "cpu_ratio": round(LAST_CPU_S / engine_cpu, 2),
                        "infer_batch_peak_mib": round(rss, 1), "load": round(os.getloadavg()[0], 1)})
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
    return {"users": users, "days": days, "train_all_s": round(wall, 1), "train_all_peak_mib": round(rss, 1),
            "load": _load()}


EVAL_MODES = ("streamed", "in-memory")


def _eval_child(mode: str, days: int, home: Path) -> dict[str, Any]:
    """One evaluation of the starter bundle on the first ``days`` local days of the history's
    user, as test days: ``streamed`` reads and replays them in chunks (``train evaluate``'s
    path); ``in-memory`` is the reference, the test part loaded as one frame and replayed whole
    (how evaluation worked before it streamed)."""
    import numpy as np

    from engine.bundle import load_bundle
    from engine.replay import replay
    from engine.starter import bundle_dir
    from trainer.dataset import load_frame
    from trainer.eval_stream import replay_evaluate, store_test_chunks
    from trainer.evaluate import EvalTally
    from trainer.workflow import engine_factory

    make = engine_factory(load_bundle(bundle_dir()), None, 0.55, None)
    tally = EvalTally.for_store(None, eligibility={}, holdout_users=[])
    with Store.open(home / "store.sqlite3", readonly=True) as st:
        user = st.users()[0]
        test_days = st.days(user)[:days]
        want = {user: {d.toordinal() for d in test_days}}
        if mode == "streamed":
            replay_evaluate(store_test_chunks([st], want), make, tally)
        else:
            frame, _ = load_frame([st], start=test_days[0], end=test_days[-1])
            part = frame.take(np.flatnonzero(frame.day_mask(want)))
            tally.add(part, replay(part, make))
    ev = tally.result()
    return {"test_days": len(test_days), "test_buckets": ev["test_buckets"],
            "shown_macro_f1": round(ev["scores_smoothed"]["macro_f1"], 6)}


def evaluation(days_list: list[int], history: int, tmp: Path) -> list[dict[str, Any]]:
    """Evaluation wall time and peak RSS (its own process) at each number of test days."""
    home = tmp / "eval"
    _synth(home, 1, max(history, *days_list))
    rows = []
    for d in days_list:
        row: dict[str, Any] = {"test_days": d}
        for mode in EVAL_MODES:
            wall, rss, out, _ = _spawn([str(Path(__file__).resolve()), "--eval-child", mode, str(d), str(home)])
            got = json.loads(out)
            row.update({"test_buckets": got["test_buckets"], f"{mode}_s": round(wall, 1),
                        f"{mode}_peak_mib": round(rss, 1), f"{mode}_macro_f1": got["shown_macro_f1"]})
        row["load"] = _load()
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", default="1,30,90,365", help="history lengths for infer batch (comma separated)")
    ap.add_argument("--jobs", default="1,2", help="infer batch --jobs values to measure (comma separated)")
    ap.add_argument("--agent-days", default="30,90", help="history lengths for the agent's label path")
    ap.add_argument("--size-days", type=int, default=10, help="user-days for the store size figures")
    ap.add_argument("--train", default="10x30,30x90", help="users x days for train all (comma separated)")
    ap.add_argument("--eval-days", default="30,90", help="test days for the evaluation figures (comma separated)")
    ap.add_argument("--eval-history", type=int, default=0,
                    help="days of the evaluation's history (default: the largest --eval-days; a longer "
                         "one can come from the cache)")
    ap.add_argument("--eval-child", nargs=3, metavar=("MODE", "DAYS", "HOME"), help=argparse.SUPPRESS)
    ap.add_argument("--cache", metavar="DIR", help="keep the synthetic histories here between runs")
    ap.add_argument("--skip", default="", help="parts to leave out: store,batch,agent,train,eval (comma separated)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.eval_child:
        mode, days, home = args.eval_child
        print(json.dumps(_eval_child(mode, int(days), Path(home))))
        return 0
    global CACHE
    CACHE = Path(args.cache).resolve() if args.cache else None
    skip = set(args.skip.split(","))
    days_list = [int(x) for x in args.days.split(",") if x]
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        result: dict[str, Any] = {"note": BUCKETS_PER_DAY_NOTE}
        result["store"] = store_sizes(args.size_days, tmp) if "store" not in skip else {}
        jobs_list = [int(x) for x in args.jobs.split(",") if x]
        result["infer_batch"] = batch_and_agent(days_list, tmp, jobs_list) if "batch" not in skip else []
        result["agent"] = (agent_paths([int(x) for x in args.agent_days.split(",") if x], tmp)
                           if "agent" not in skip else [])
        result["train_all"] = ([train(*map(int, spec.split("x")), tmp) for spec in args.train.split(",") if spec]
                               if "train" not in skip else [])
        result["evaluation"] = (evaluation([int(x) for x in args.eval_days.split(",") if x], args.eval_history, tmp)
                                if "eval" not in skip else [])
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
    print("infer batch (starter bundle)   days  buckets  jobs   wall s  engine step s  ratio    cpu s"
          "  engine cpu s  cpu ratio  peak MiB  load")
    for r in result["infer_batch"]:
        print(f"{'':31}{r['days']:>4} {r['buckets']:>8} {r['jobs']:>5} {r['infer_batch_s']:>8}"
              f" {r['engine_only_s']:>14} {r['ratio']:>6} {r['infer_batch_cpu_s']:>8} {r['engine_only_cpu_s']:>13}"
              f" {r['cpu_ratio']:>10} {r['infer_batch_peak_mib']:>9} {r['load']:>5}")
    print("agent (store work)     history days  first start s  start s  start ksteps  label commit s"
          "  commit ksteps")
    for r in result["agent"]:
        print(f"{'':23}{r['history_days']:>12} {r['first_start_s']:>14} {r['start_s']:>8} {r['start_ksteps']:>13}"
              f" {r['label_commit_s']:>15} {r['label_commit_ksteps']:>14}")
    print("train all                 users  days   wall s  peak MiB  load")
    for r in result["train_all"]:
        print(f"{'':26}{r['users']:>5} {r['days']:>5} {r['train_all_s']:>8} {r['train_all_peak_mib']:>9}"
              f" {r['load']:>5}")
    print("evaluation (1 user)  test days  buckets  streamed s  peak MiB  in-memory s  peak MiB"
          "  shown macro-F1 (both)  load")
    for r in result["evaluation"]:
        same = "same" if r["streamed_macro_f1"] == r["in-memory_macro_f1"] else "DIFFER"
        print(f"{'':21}{r['test_days']:>9} {r['test_buckets']:>8} {r['streamed_s']:>11} {r['streamed_peak_mib']:>9}"
              f" {r['in-memory_s']:>12} {r['in-memory_peak_mib']:>9} {r['streamed_macro_f1']:>15.6f} {same:<6}"
              f" {r['load']:>5}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
