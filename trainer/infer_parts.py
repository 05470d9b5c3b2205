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
the gain is the number of idle cores (none on a loaded machine).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from trainer.infer_batch import WARM_UP_MARGIN, Part, batch_predictions, engine_maker, run_window

#: shorter parts cost more warm-up reading and process start-up than they save
MIN_PART_DAYS = 14
#: ``--jobs`` default: the machine's cores, at most this many (each process holds ~50 MiB)
MAX_DEFAULT_JOBS = 2


def default_jobs() -> int:
    return max(1, min(os.cpu_count() or 1, MAX_DEFAULT_JOBS))


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


def _run_part(task: PartTask) -> int:
    """A worker: one part's lines into ``task.out``; returns how many."""
    from engine.record_line import RecordLines
    from engine.store import Store

    logging.disable(logging.WARNING)  # the parent has said what building the engine says
    try:
        make, _ = engine_maker(Path(task.home), **task.engine_args)
    finally:
        logging.disable(logging.NOTSET)
    line = RecordLines().line
    n = 0
    with Store.open(Path(task.store_path), readonly=True) as st, \
            open(task.out, "w", encoding="utf-8", newline="\n") as fh:
        for rec in batch_predictions([st], make, task.start, task.end, user_id=task.user, part=task.part):
            fh.write(line(rec) + "\n")
            n += 1
    return n


def write_lines(home: Path, stores: Sequence[Any], make_engine: Any, engine_args: dict[str, Any],
                start: date, end: date, out: IO[str], *, user_id: str | None, jobs: int,
                min_part_days: int = MIN_PART_DAYS) -> int:
    """Every line of the run into ``out``, in order; returns how many. One part in all (or
    ``jobs`` 1): in this process, as it goes; else the first part here, straight into ``out``,
    and the others on ``jobs - 1`` processes, their files joined after it in order."""
    from engine.record_line import RecordLines

    plan = plan_parts(stores, start, end, user_id=user_id, jobs=jobs, min_part_days=min_part_days)
    line = RecordLines().line
    n = 0
    if jobs <= 1 or len(plan) <= 1:
        for rec in batch_predictions(stores, make_engine, start, end, user_id=user_id):
            out.write(line(rec) + "\n")
            n += 1
        return n
    import multiprocessing

    with tempfile.TemporaryDirectory(prefix="taskclf-batch-") as tmp:
        tasks = [PartTask(str(home), str(stores[i].path), user, start, end, part, engine_args,
                          str(Path(tmp) / f"{k}.jsonl"))
                 for k, (i, user, part) in enumerate(plan)]
        with ProcessPoolExecutor(max_workers=min(jobs - 1, len(tasks) - 1),
                                 mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(_run_part, t) for t in tasks[1:]]
            i, user, part = plan[0]
            for rec in batch_predictions([stores[i]], make_engine, start, end, user_id=user, part=part):
                out.write(line(rec) + "\n")
                n += 1
            for task, fut in zip(tasks[1:], futures, strict=True):
                n += fut.result()
                with open(task.out, encoding="utf-8", newline="\n") as fh:
                    shutil.copyfileobj(fh, out, 1 << 20)
                os.unlink(task.out)
        return n
