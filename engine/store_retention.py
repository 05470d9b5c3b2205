"""Activity retention (spec 6.1): what is deleted, when, and what is never deleted.

Rules (docs/store.md, "Retention"):
- Label spans are kept forever; so are the feature rows of labelled buckets (one span covers the
  whole bucket) and the *records* of every bucket a span touches plus the ``CONTEXT_SECONDS``
  before it, so a new feature builder can rebuild the training rows with their 5/15-minute
  windows from the records.
- The window counts back from each user's newest stored activity, never from later than ``now``:
  a store whose newest data is older than the window (an imported or synthetic history, a user
  back after a long break) loses nothing until newer activity of that user arrives, and a
  warning says so. Whatever is deleted is logged with its counts and cutoff date.
- Deletes run in short transactions of about ``batch`` rows, walking the time index, so a purge
  after a long break never holds the write lock for seconds.

Label spans of one user are disjoint (the store applies the overlap rule on every write), so
the one span that can overlap a time ``t`` is the last one starting before it: every test below
is one index probe on ``label_spans (user_id, start_us)``, whatever the number of spans.

Each table and owner remembers where its last complete pass ended (``state``,
``store.retention_done:<table>:<owner>``): the next pass starts there, so a daily pass walks a
day of rows, not every old row kept for its labels. A label span added, cut or deleted moves
the records' and feature rows' mark back before it (:func:`lower_marks`), since rows it kept
may now go.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.activity import BUCKET_SECONDS
from engine.errors import ArtifactError
from engine.store_migrate5 import unpredicted_mark_key
from engine.store_schema import from_s, to_s

_log = logging.getLogger("taskclf.store")

#: Records kept before a labelled stretch: the feature builder's longest window (15 minutes).
CONTEXT_SECONDS = 15 * 60

# the last span of the user (the first argument) starting before the bucket's end + ?
_LAST_SPAN_END = (
    "COALESCE((SELECT s.end_us FROM label_spans s WHERE s.user_id = ?"
    " AND s.start_us < ({t}.bucket_start + ?) * 1000000 ORDER BY s.start_us DESC LIMIT 1), 0)"
)
#: a span overlaps [bucket_start, bucket_end + CONTEXT): keep the record
_RECORD_KEPT = _LAST_SPAN_END.format(t="records") + " > records.bucket_start * 1000000"
#: one span covers [bucket_start, bucket_end): the bucket is labelled, keep its feature row
_ROW_LABELLED = (
    "COALESCE((SELECT s.end_us FROM label_spans s WHERE s.user_id = ?"
    " AND s.start_us <= feature_rows.bucket_start * 1000000 ORDER BY s.start_us DESC LIMIT 1), 0)"
    " >= (feature_rows.bucket_start + ?) * 1000000"
)
#: Feature rows of unlabelled buckets are rebuilt exactly from the records: kept this long only.
UNLABELLED_ROW_DAYS = 7

WriteFn = Callable[[Callable[[sqlite3.Connection], Any]], Any]
ReadFn = Callable[[str, tuple[Any, ...]], list[Any]]


@dataclass(frozen=True, slots=True)
class _Table:
    name: str
    time: str  # the time column
    scale: int  # units of that column per second
    keep: str  # SQL that is true for rows retention must keep ("" = none); first arg: the user
    keep_args: tuple[Any, ...]
    by_source: bool = True  # keyed by src (bucket tables) rather than user_id
    max_days: int | None = None  # kept at most this long whatever the setting


_TABLES = (
    _Table("records", "bucket_start", 1, _RECORD_KEPT, (BUCKET_SECONDS + CONTEXT_SECONDS,)),
    _Table("predictions", "bucket_start", 1, "", ()),
    _Table("feedback_events", "at_us", 1_000_000, "", (), by_source=False),
    _Table("feature_rows", "bucket_start", 1, _ROW_LABELLED, (BUCKET_SECONDS,),
           max_days=UNLABELLED_ROW_DAYS),
)


def check_days(activity_days: object) -> int:
    if isinstance(activity_days, bool) or not isinstance(activity_days, int) or activity_days < 1:
        raise ArtifactError(None, "activity_retention_days", "must be a whole number >= 1")
    return activity_days


def newest_activity(read: ReadFn) -> dict[str, int]:
    """Each user's newest stored activity, epoch seconds (the end of their newest bucket)."""
    newest: dict[str, int] = {}
    for src, user in read("SELECT src, user_id FROM sources", ()):
        for table in ("records", "feature_rows", "predictions"):
            last = read(f"SELECT MAX(bucket_start) FROM {table} WHERE src = ?", (src,))[0][0]
            if last is not None:
                newest[user] = max(newest.get(user, 0), int(last) + BUCKET_SECONDS)
    for user, last in read("SELECT user_id, MAX(at_us) FROM feedback_events GROUP BY user_id", ()):
        newest[user] = max(newest.get(user, 0), -(-int(last) // 1_000_000))
    return newest


def apply_retention(
    read: ReadFn, write: WriteFn, now: datetime, activity_days: int, batch: int
) -> dict[str, int]:
    """Delete what the rules above let go; returns the number of rows deleted per table."""
    days = check_days(activity_days)
    if batch < 1:
        raise ValueError("retention_batch must be >= 1")
    now_s = to_s(now, "now")
    window = days * 86400
    deleted = {t.name: 0 for t in _TABLES}
    marks: list[tuple[str, int]] = []  # (state key, value) written together at the end
    stale: list[int] = []
    for user, newest in sorted(newest_activity(read).items()):
        if newest < now_s - window:
            stale.append(newest)
        srcs = [int(r[0]) for r in read("SELECT src FROM sources WHERE user_id = ?", (user,))]
        for table in _TABLES:
            kept_days = min(days, table.max_days or days)
            cutoff = min(now_s, newest) - kept_days * 86400
            for owner in (srcs if table.by_source else [user]):
                deleted[table.name] += _purge(read, write, table, owner, user, cutoff, batch, marks)
                if table.name == "predictions":
                    # buckets older than this keep their record (for its labels) but lose their
                    # prediction by design: they are not "unpredicted"
                    (device,) = read("SELECT device_id FROM sources WHERE src = ?", (owner,))[0]
                    key = unpredicted_mark_key(str(device))
                    if (_mark(read, key) or -(1 << 62)) < cutoff:
                        marks.append((key, cutoff))
    if marks:
        write(_set_marks(marks))
    if stale:
        _log.warning(
            "retention: %d user(s) have no activity in the last %d days (newest %s); their "
            "activity is kept, since the %d days count back from a user's newest activity",
            len(stale), days, from_s(max(stale)).date().isoformat(), days,
        )
    if any(deleted.values()):
        _log.info("retention: deleted %s older than %d days (labels, and the records and "
                  "feature rows of labelled buckets, are kept)",
                  ", ".join(f"{n} {t}" for t, n in deleted.items() if n), days)
    return deleted


def mark_key(table: str, owner: Any) -> str:
    return f"store.retention_done:{table}:{owner}"


def lower_marks(conn: sqlite3.Connection, user_id: str, start_s: int) -> None:
    """Rows a span kept from ``start_s`` on may go now: the next pass looks at them again
    (inside the caller's transaction)."""
    back = start_s - BUCKET_SECONDS - CONTEXT_SECONDS
    srcs = [int(r[0]) for r in conn.execute("SELECT src FROM sources WHERE user_id = ?", (user_id,))]
    keys = [mark_key(t.name, src) for t in _TABLES if t.keep for src in srcs]
    if keys:
        conn.execute(f"UPDATE state SET value = ?, updated_us = 0 WHERE key IN ({','.join('?' * len(keys))})"
                     " AND CAST(value AS INTEGER) > ?", (str(back), *keys, back))


def _mark(read: ReadFn, key: str) -> int | None:
    got = read("SELECT value FROM state WHERE key = ?", (key,))
    return int(got[0][0]) if got and str(got[0][0]).lstrip("-").isdigit() else None


def _purge(read: ReadFn, write: WriteFn, table: _Table, owner: Any, user: str, cutoff_s: int,
           batch: int, marks: list[tuple[str, int]]) -> int:
    """Delete ``table``'s rows of ``owner`` (a source, or a user) older than ``cutoff_s`` not
    kept by ``table.keep``, in time slices of about ``batch`` rows, each its own transaction,
    from where the last complete pass ended (its new end goes to ``marks``)."""
    key = mark_key(table.name, owner)
    done = _mark(read, key)
    cutoff = cutoff_s * table.scale
    step = batch * BUCKET_SECONDS * table.scale  # about ``batch`` rows of one device
    column = "src" if table.by_source else "user_id"
    keep = f" AND NOT ({table.keep})" if table.keep else ""
    sql = (f"DELETE FROM {table.name} WHERE {column} = ? AND {table.time} >= ? AND {table.time} < ?"
           f"{keep}")
    first = f"SELECT MIN({table.time}) FROM {table.name} WHERE {column} = ? AND {table.time} >= ?"
    keep_args = (user, *table.keep_args) if table.keep else ()
    total = 0
    lo = read(first, (owner, -(1 << 62) if done is None else done * table.scale))[0][0]
    while lo is not None and lo < cutoff:
        hi = min(int(lo) + step, cutoff)
        total += int(write(_delete(sql, (owner, int(lo), hi, *keep_args))))
        lo = read(first, (owner, hi))[0][0]
    if done is None or done < cutoff_s:
        marks.append((key, cutoff_s))
    return total


def _set_marks(marks: list[tuple[str, int]]) -> Callable[[sqlite3.Connection], int]:
    """Raise the marks (never lower one: a span write may have moved it back meanwhile, and a
    later value means a pass already went that far)."""
    def run(conn: sqlite3.Connection) -> int:
        conn.executemany("INSERT INTO state (key, value, updated_us) VALUES (?, ?, 0) ON CONFLICT (key)"
                         " DO UPDATE SET value = excluded.value WHERE CAST(value AS INTEGER) < ?",
                         [(k, str(v), v) for k, v in marks])
        return 0

    return run


def _delete(sql: str, args: tuple[Any, ...]) -> Callable[[sqlite3.Connection], int]:
    def run(conn: sqlite3.Connection) -> int:
        return int(conn.execute(sql, args).rowcount)

    return run
