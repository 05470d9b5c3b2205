"""``infer batch`` over a long range on several processes, with the output of one.

A user's range is cut at UTC midnights into parts of at least ``MIN_PART_DAYS`` days; each
part runs in its own process through the one ``batch_predictions`` (``engine.stream``, one
engine per part warmed up with the session of its first bucket, read again from further
back when that session may have begun before the rows read), writes its lines to a file of
its own, and the files are joined in order. Predictions depend only on the session a bucket
belongs to, so the lines are those of one process over the whole range (a test compares them
byte for byte). A user whose rows have to be rebuilt from the records is one part: the
feature builder's state is carried through the whole range, as in one pass.

Each process holds one chunk of rows, as a single run does; the work is CPU-bound Python, so
the gain is the number of idle cores (none on a loaded machine). A worker is a plain
``python -m trainer.infer_parts`` given its parts as JSON on stdin: nothing is pickled, and
no SQLite connection or LightGBM state crosses a fork.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from trainer.infer_batch import WARM_UP_MARGIN, Part, batch_predictions, engine_maker, run_window

#: shorter parts cost more warm-up reading and process start-up than they save: a worker's
#: start (interpreter, imports, the model) is ~0.5-1 s, a part of 45 days ~15,000 buckets
#: (1.5-2 s of work); with two-week parts a month ran slower on two processes than on one
MIN_PART_DAYS = 45
#: ``--jobs`` default: the cores this process may run on, at most this many (each process
#: holds ~50 MiB, so the default stays within ~0.5 GB on a big machine)
MAX_DEFAULT_JOBS = 8


def default_jobs() -> int:
    """The cores this process may use (its CPU affinity, else the machine's), at most
    ``MAX_DEFAULT_JOBS``: a long range is CPU-bound, and the lines are the same with any number."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on every platform
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_DEFAULT_JOBS))


@dataclass(frozen=True)
class PartTask:
    """One part for a worker process: everything it needs, as plain values."""

    home: str
    store_path: str
    user: str
    start: date
    end: date
    part: Part
    engine_args: dict[str, Any]
    out: str


def plan_parts(stores: Sequence[Any], start: date, end: date, *, user_id: str | None, jobs: int,
               min_part_days: int = MIN_PART_DAYS) -> list[tuple[int, str, Part]]:
    """(store index, user, part) in output order: per store and user, parts in time order."""
    from engine.schema import FEATURE_BUILDER_VERSION, SCHEMA_HASH_V2

    run_from, run_to = run_window(start, end)
    days = (end - start).days + 1
    base = datetime(start.year, start.month, start.day, tzinfo=UTC)
    out = []
    for i, store in enumerate(stores):
        for user in store.users():
            if user_id not in (None, user):
                continue
            cov = store.row_coverage(user, SCHEMA_HASH_V2, FEATURE_BUILDER_VERSION, start=run_from, end=run_to)
            if cov.first is None:
                continue
            k = min(jobs, days // min_part_days) if cov.stored_rows_usable and jobs > 1 else 1
            k = max(k, 1)
            step = timedelta(days=math.ceil(days / k))
            cuts = [base + j * step for j in range(1, k)]
            bounds = [None, *cuts, None]
            for j in range(k):
                lo, hi = bounds[j], bounds[j + 1]
                read_from = run_from if lo is None else lo - WARM_UP_MARGIN
                out.append((i, user, Part(lo, hi, read_from, run_from)))
    return out


def _task_json(task: PartTask) -> dict[str, Any]:
    out = asdict(task)
    out["start"], out["end"] = task.start.isoformat(), task.end.isoformat()
    out["part"] = {k: None if v is None else v.isoformat() for k, v in asdict(task.part).items()}
    return out


def _task_from_json(obj: dict[str, Any]) -> PartTask:
    p = obj["part"]

    def when(v: str | None) -> datetime | None:
        return None if v is None else datetime.fromisoformat(v)

    part = Part(when(p["lo"]), when(p["hi"]), datetime.fromisoformat(p["read_from"]),
                datetime.fromisoformat(p["run_from"]))
    return PartTask(obj["home"], obj["store_path"], obj["user"], date.fromisoformat(obj["start"]),
                    date.fromisoformat(obj["end"]), part, dict(obj["engine_args"]), obj["out"])


def record_lines() -> Any:
    """The line writer, with orjson's float writer when it is installed (the trainer extra):
    the same text (``engine.record_line`` checks where), written several times faster."""
    from engine.record_line import RecordLines

    try:
        import orjson
    except ImportError:
        return RecordLines()
    return RecordLines(float_array=orjson.dumps)


def _run_part(task: PartTask) -> int:
    """One part's lines into ``task.out``; returns how many."""
    from engine.store import Store

    logging.disable(logging.WARNING)  # the parent has said what building the engine says
    try:
        make, _ = engine_maker(Path(task.home), **task.engine_args)
    finally:
        logging.disable(logging.NOTSET)
    line = record_lines().line
    n = 0
    with Store.open(Path(task.store_path), readonly=True) as st, \
            open(task.out, "w", encoding="utf-8", newline="\n") as fh:
        for rec in batch_predictions([st], make, task.start, task.end, user_id=task.user, part=task.part):
            fh.write(line(rec) + "\n")
            n += 1
    return n


def _start_worker(tasks: list[PartTask], err: Path) -> subprocess.Popen[bytes]:
    """A worker on ``tasks``; what it says goes to the file ``err`` (a pipe nobody reads
    while this process works on its own part could fill up and stop it)."""
    with open(err, "wb") as err_fh:
        proc = subprocess.Popen([sys.executable, "-m", "trainer.infer_parts"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=err_fh)
    assert proc.stdin is not None
    proc.stdin.write(json.dumps([_task_json(t) for t in tasks]).encode("utf-8"))
    proc.stdin.close()
    return proc


def _finish_worker(proc: subprocess.Popen[bytes], err: Path) -> list[int]:
    """The line counts of a worker's parts (what it said is passed on); its last error line
    when it failed."""
    from engine.errors import TaskclfError

    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.stdout.close()
    proc.wait()
    said = err.read_text(encoding="utf-8", errors="replace").strip()
    if proc.returncode != 0:
        lines = said.splitlines()
        raise TaskclfError(f"a part of the run failed: {lines[-1] if lines else f'exit {proc.returncode}'}")
    if said:
        print(said, file=sys.stderr)
    return [int(x) for x in json.loads(out)]


def write_lines(home: Path, stores: Sequence[Any], make_engine: Any, engine_args: dict[str, Any],
                start: date, end: date, out: IO[str], *, user_id: str | None, jobs: int,
                min_part_days: int = MIN_PART_DAYS) -> int:
    """Every line of the run into ``out``, in order; returns how many. One part in all (or
    ``jobs`` 1): in this process, as it goes; else the first part here, straight into ``out``,
    and the others on ``jobs - 1`` worker processes (dealt round), their files joined after it
    in order."""
    plan = plan_parts(stores, start, end, user_id=user_id, jobs=jobs, min_part_days=min_part_days)
    line = record_lines().line
    n = 0
    if jobs <= 1 or len(plan) <= 1:
        for rec in batch_predictions(stores, make_engine, start, end, user_id=user_id):
            out.write(line(rec) + "\n")
            n += 1
        return n
    with tempfile.TemporaryDirectory(prefix="taskclf-batch-") as tmp:
        tasks = [PartTask(str(home), str(stores[i].path), user, start, end, part, engine_args,
                          str(Path(tmp) / f"{k}.jsonl"))
                 for k, (i, user, part) in enumerate(plan)]
        rest = tasks[1:]
        workers = min(jobs - 1, len(rest))
        errs = [Path(tmp) / f"worker{w}.err" for w in range(workers)]
        procs = [_start_worker(rest[w::workers], errs[w]) for w in range(workers)]
        try:
            i, user, part = plan[0]
            for rec in batch_predictions([stores[i]], make_engine, start, end, user_id=user, part=part):
                out.write(line(rec) + "\n")
                n += 1
            n += sum(sum(_finish_worker(p, e)) for p, e in zip(procs, errs, strict=True))
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        for task in rest:
            with open(task.out, encoding="utf-8", newline="\n") as fh:
                shutil.copyfileobj(fh, out, 1 << 20)
        return n


def main() -> int:
    """A worker: the parts given as JSON on stdin, their line counts as JSON on stdout."""
    from engine.errors import TaskclfError

    try:
        tasks = [_task_from_json(obj) for obj in json.load(sys.stdin)]
        print(json.dumps([_run_part(t) for t in tasks]))
    except TaskclfError as exc:
        print(f"taskclf: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
