"""Migration 4 -> 5: what keeps the agent's start and label commit bounded by time.

- The learning tally (``engine.store_tally``), counted once from the history.
- The "unpredicted from" mark of each device (``Store.unpredicted_buckets``): set to a day
  before its newest record (an older version's crash could only leave the last buckets
  unpredicted, and its starts predicted the rest), and moved back by a trigger when a record
  is inserted before it (an import into the past).
"""

from __future__ import annotations

import sqlite3

from engine import store_tally


def unpredicted_mark_key(device_id: str) -> str:
    return f"store.unpredicted_from:{device_id}"


_MARK = "'store.unpredicted_from:' || (SELECT device_id FROM sources WHERE src = NEW.src)"

UNPREDICTED_MARK_TRIGGER = f"""CREATE TRIGGER records_unpredicted_mark AFTER INSERT ON records
    WHEN NEW.bucket_start < (SELECT CAST(value AS INTEGER) FROM state WHERE key = {_MARK})
    BEGIN
        UPDATE state SET value = CAST(NEW.bucket_start AS TEXT) WHERE key = {_MARK};
    END"""


def migrate_to_v5(conn: sqlite3.Connection) -> None:
    store_tally.rebuild(conn)
    conn.execute(UNPREDICTED_MARK_TRIGGER)
    for device, newest in conn.execute(
            "SELECT s.device_id, MAX(r.bucket_start) FROM sources s JOIN records r ON r.src = s.src"
            " GROUP BY s.device_id").fetchall():
        conn.execute("INSERT OR REPLACE INTO state (key, value, updated_us) VALUES (?, ?, 0)",
                     (unpredicted_mark_key(device), str(int(newest) - store_tally.DAY)))
