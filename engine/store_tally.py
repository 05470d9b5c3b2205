"""The learning tally: per user, UTC day, local day and label, how many recorded buckets a
person's label span covers completely (schema 5).

The agent shows learning progress at start and after every label commit; counting it from the
history would cost a join of every label with every record. The tally is kept up to date by
the writes instead:
- a record inserted or deleted under a person's span moves its count by one (triggers: one
  index probe of ``label_spans (user_id, start_us)``, since a user's spans are disjoint and only
  the last span starting before a bucket can cover it);
- a span added, cut, or deleted recounts the UTC days it touches (:func:`retally`, inside the
  same transaction), reading only those days' records and spans.
A bucket recorded on two devices of a user counts once. Reading the tally is one small row
per labelled day and label.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from engine.labels import HUMAN_PROVENANCES

DAY = 86400
#: a bucket starting this long before a span can still end inside it (buckets are 60 s; up to
#: 10 minutes are allowed for)
_MARGIN_S = 600

_HUMAN = "(" + ", ".join(f"'{p}'" for p in sorted(HUMAN_PROVENANCES)) + ")"
_USER = "(SELECT user_id FROM sources WHERE src = {r}.src)"
# the label of the person's span covering bucket {r} completely, else NULL
_COVERING_LABEL = (
    "(SELECT CASE WHEN s.end_us >= ({r}.bucket_start + {r}.seconds) * 1000000"
    f" AND s.provenance IN {_HUMAN} THEN s.label END"
    " FROM label_spans s WHERE s.user_id = " + _USER + " AND s.start_us <= {r}.bucket_start * 1000000"
    " ORDER BY s.start_us DESC LIMIT 1)"
)
# another source of the same user has this bucket (it is counted there)
_TWIN = (
    "EXISTS (SELECT 1 FROM records x WHERE x.bucket_start = {r}.bucket_start AND x.src != {r}.src"
    " AND x.src IN (SELECT src FROM sources WHERE user_id = " + _USER + "))"
)
_KEY = ("SELECT " + _USER + ", {r}.bucket_start / 86400,"
        " ({r}.bucket_start + COALESCE({r}.utc_offset, 0) * 60) / 86400, " + _COVERING_LABEL)

SCHEMA: tuple[str, ...] = (
    """CREATE TABLE labelled_days (
        user_id TEXT NOT NULL,
        utc_day INTEGER NOT NULL,
        local_day INTEGER NOT NULL,
        label TEXT NOT NULL,
        buckets INTEGER NOT NULL,
        PRIMARY KEY (user_id, utc_day, local_day, label)
    ) WITHOUT ROWID""",
    f"""CREATE TRIGGER records_tally_insert AFTER INSERT ON records
    WHEN {_COVERING_LABEL.format(r="NEW")} IS NOT NULL AND NOT {_TWIN.format(r="NEW")}
    BEGIN
        INSERT INTO labelled_days (user_id, utc_day, local_day, label, buckets)
        {_KEY.format(r="NEW")}, 1 WHERE true
        ON CONFLICT (user_id, utc_day, local_day, label) DO UPDATE SET buckets = buckets + 1;
    END""",
    f"""CREATE TRIGGER records_tally_delete AFTER DELETE ON records
    WHEN {_COVERING_LABEL.format(r="OLD")} IS NOT NULL AND NOT {_TWIN.format(r="OLD")}
    BEGIN
        UPDATE labelled_days SET buckets = buckets - 1
        WHERE (user_id, utc_day, local_day, label) = ({_KEY.format(r="OLD")});
        DELETE FROM labelled_days WHERE (user_id, utc_day, local_day, label) = ({_KEY.format(r="OLD")})
            AND buckets <= 0;
    END""",
)

_RANGE_BUCKETS = (
    "SELECT r.bucket_start, r.utc_offset, s.label FROM label_spans s JOIN records r"
    " ON r.src = ? AND r.bucket_start >= MAX((s.start_us + 999999) / 1000000, ?)"
    " AND r.bucket_start < MIN(s.end_us / 1000000, ?)"
    " AND (r.bucket_start + r.seconds) * 1000000 <= s.end_us"
    f" WHERE s.user_id = ? AND s.provenance IN {_HUMAN}"
    " AND s.start_us >= COALESCE((SELECT MAX(start_us) FROM label_spans"
    " WHERE user_id = ? AND start_us <= ?), ?) AND s.start_us < ?"
)


def day_runs(days: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted runs [first, last] of consecutive days."""
    runs: list[tuple[int, int]] = []
    for d in sorted(set(days)):
        if runs and d == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], d)
        else:
            runs.append((d, d))
    return runs


def span_days(start_s: int, end_s: int) -> range:
    """The UTC days whose buckets a span [start_s, end_s) can cover or uncover."""
    return range((start_s - _MARGIN_S) // DAY, (end_s + _MARGIN_S) // DAY + 1)


Counts = dict[tuple[int, int, str], int]


def count(conn: sqlite3.Connection, user_id: str, lo: int, hi: int) -> Counts:
    """(utc day, local day, label) -> labelled buckets of ``user_id`` starting in [lo, hi)."""
    seen: dict[int, tuple[int | None, str]] = {}
    for (src,) in conn.execute("SELECT src FROM sources WHERE user_id = ? ORDER BY src", (user_id,)).fetchall():
        for b, off, label in conn.execute(_RANGE_BUCKETS, (src, lo, hi, user_id, user_id, lo * 1_000_000,
                                                            lo * 1_000_000, hi * 1_000_000)).fetchall():
            seen.setdefault(int(b), (None if off is None else int(off), str(label)))
    counts: Counts = {}
    for b, (off, label) in seen.items():
        key = (b // DAY, (b + (off or 0) * 60) // DAY, label)
        counts[key] = counts.get(key, 0) + 1
    return counts


def retally(conn: sqlite3.Connection, user_id: str, first_day: int, last_day: int) -> None:
    """Recount ``user_id``'s tally of the UTC days [first_day, last_day] from the records and
    spans of those days only (inside the caller's transaction)."""
    conn.execute("DELETE FROM labelled_days WHERE user_id = ? AND utc_day BETWEEN ? AND ?",
                 (user_id, first_day, last_day))
    counts = count(conn, user_id, first_day * DAY, (last_day + 1) * DAY)
    conn.executemany("INSERT INTO labelled_days (user_id, utc_day, local_day, label, buckets)"
                     " VALUES (?, ?, ?, ?, ?)", [(user_id, *k, n) for k, n in counts.items()])


def span_range(start_s: int, end_s: int) -> tuple[int, int]:
    """The bucket starts whose labelled state a span [start_s, end_s) can change."""
    return start_s - _MARGIN_S, end_s + 1


def merge_ranges(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def counts_of(conn: sqlite3.Connection, user_id: str, ranges: list[tuple[int, int]]) -> Counts:
    total: Counts = {}
    for lo, hi in ranges:
        for k, n in count(conn, user_id, lo, hi).items():
            total[k] = total.get(k, 0) + n
    return total


def apply_delta(conn: sqlite3.Connection, user_id: str, before: Counts, after: Counts) -> None:
    """Move the tally by what a span write changed in the ranges counted before and after."""
    delta = [(user_id, *k, after.get(k, 0) - before.get(k, 0)) for k in before.keys() | after.keys()]
    delta = [d for d in delta if d[-1]]
    if delta:
        conn.executemany("INSERT INTO labelled_days (user_id, utc_day, local_day, label, buckets)"
                         " VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, utc_day, local_day, label)"
                         " DO UPDATE SET buckets = buckets + excluded.buckets", delta)
        conn.executemany("DELETE FROM labelled_days WHERE user_id = ? AND utc_day = ? AND local_day = ?"
                         " AND label = ? AND buckets <= 0", [d[:4] for d in delta])


def retally_days(conn: sqlite3.Connection, user_id: str, days: Iterable[int]) -> None:
    for first, last in day_runs(days):
        retally(conn, user_id, first, last)


def rebuild(conn: sqlite3.Connection) -> None:
    """Migration 4 -> 5: the tally of every user, counted once from the whole history."""
    for table in SCHEMA:
        conn.execute(table)
    users = [str(u) for (u,) in conn.execute("SELECT DISTINCT user_id FROM label_spans").fetchall()]
    for user in users:
        got = conn.execute(
            "SELECT MIN(r.bucket_start), MAX(r.bucket_start) FROM records r"
            " WHERE r.src IN (SELECT src FROM sources WHERE user_id = ?)", (user,)).fetchone()
        if got[0] is not None:
            retally(conn, user, int(got[0]) // DAY, int(got[1]) // DAY)


def read(rows: list[Any]) -> list[tuple[int, str, int]]:
    return [(int(d), str(label), int(n)) for d, label, n in rows]
