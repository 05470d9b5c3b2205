"""Migration 2 -> 3: the bucket tables become compact (``engine.store_pack``), losing nothing.

Every row of ``records``, ``feature_rows`` and ``predictions`` is read in batches, packed and
written to its new table inside the migration's one transaction (a failure leaves version 2
intact). A row whose old text no longer parses is kept as it was in ``unreadable_rows``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any

from engine.store_codec import JSON_DEFLATE, dictionary_v1
from engine.store_pack import (
    Packer,
    derived_feature_row,
    derived_prediction,
    derived_record,
    dictionary_words,
    dictionary_words_v2,
)

_log = logging.getLogger("taskclf.store")

_BATCH = 2000

NEW_TABLES: tuple[str, ...] = (
    """CREATE TABLE sources (
        src INTEGER PRIMARY KEY,
        user_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        UNIQUE (user_id, device_id)
    )""",
    "CREATE TABLE shapes (shape INTEGER PRIMARY KEY, keys TEXT NOT NULL UNIQUE)",
    "CREATE TABLE dictionaries (codec INTEGER PRIMARY KEY, zdict BLOB NOT NULL)",
    """CREATE TABLE unreadable_rows (
        tbl TEXT NOT NULL, user_id TEXT, device_id TEXT, bucket_start INTEGER, payload TEXT
    )""",
)

BUCKET_TABLES: tuple[str, ...] = (
    """CREATE TABLE records (
        src INTEGER NOT NULL,
        bucket_start INTEGER NOT NULL,
        seconds INTEGER NOT NULL,
        utc_offset INTEGER,
        shape INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (src, bucket_start)
    ) WITHOUT ROWID""",
    """CREATE TABLE feature_rows (
        src INTEGER NOT NULL,
        bucket_start INTEGER NOT NULL,
        session_id TEXT,
        schema_hash TEXT NOT NULL,
        feature_builder_version INTEGER NOT NULL,
        shape INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (src, bucket_start)
    ) WITHOUT ROWID""",
    """CREATE TABLE predictions (
        src INTEGER NOT NULL,
        bucket_start INTEGER NOT NULL,
        shape INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (src, bucket_start)
    ) WITHOUT ROWID""",
)


def migrate_to_v3(conn: sqlite3.Connection) -> None:
    for sql in NEW_TABLES:
        conn.execute(sql)
    conn.execute("INSERT INTO dictionaries (codec, zdict) VALUES (1, ?)",
                 (dictionary_v1(dictionary_words()),))
    for index in ("records_user_time", "records_time", "feature_rows_user_time", "predictions_user_time"):
        conn.execute(f"DROP INDEX IF EXISTS {index}")
    for table in ("records", "feature_rows", "predictions"):
        conn.execute(f"ALTER TABLE {table} RENAME TO old_{table}")
    for sql in BUCKET_TABLES:
        conn.execute(sql)
    packer = Packer()
    counts = {
        "records": _copy(conn, packer, "SELECT user_id, device_id, bucket_start, record FROM old_records",
                         "records", _put_record),
        "feature_rows": _copy(conn, packer, "SELECT user_id, device_id, bucket_start, row, session_id,"
                              " schema_hash, feature_builder_version FROM old_feature_rows",
                              "feature_rows", _put_feature_row),
        "predictions": _copy(conn, packer, "SELECT user_id, device_id, bucket_start, record"
                             " FROM old_predictions", "predictions", _put_prediction),
    }
    for table in ("records", "feature_rows", "predictions"):
        conn.execute(f"DROP TABLE old_{table}")
    if any(counts.values()):
        _log.info("store upgraded to the compact format (%s)",
                  ", ".join(f"{n} {t}" for t, n in counts.items()))


_OTHER_SOURCES = ("SELECT b.src FROM sources a JOIN sources b ON b.device_id = a.device_id"
                  " AND b.src != a.src WHERE a.src = NEW.src")
#: A device's bucket is recorded once, whichever user it was recorded for (a renamed user):
#: the insert of a record the device's other source already has is ignored. One feature row
#: and one prediction per device and bucket, whichever user wrote it last: writing one deletes
#: the row of the same bucket under the device's other sources. Triggers, so that the writer's
#: statement stays a plain one (the check costs nothing while a device has one source).
ONE_ROW_PER_DEVICE: tuple[str, ...] = (
    f"""CREATE TRIGGER records_once_per_device BEFORE INSERT ON records
    WHEN EXISTS ({_OTHER_SOURCES})
    BEGIN
        SELECT RAISE(IGNORE) WHERE EXISTS (SELECT 1 FROM records x
            WHERE x.src IN ({_OTHER_SOURCES}) AND x.bucket_start = NEW.bucket_start);
    END""",
) + tuple(
    f"""CREATE TRIGGER {t}_one_per_device AFTER INSERT ON {t}
    WHEN EXISTS ({_OTHER_SOURCES})
    BEGIN
        DELETE FROM {t} WHERE bucket_start = NEW.bucket_start AND src IN ({_OTHER_SOURCES});
    END"""
    for t in ("feature_rows", "predictions"))


def migrate_to_v4(conn: sqlite3.Connection) -> None:
    """Migration 3 -> 4: new rows are written with codec 2 and its dictionary; one row per
    device and bucket is kept by triggers."""
    conn.execute("INSERT INTO dictionaries (codec, zdict) VALUES (?, ?)",
                 (JSON_DEFLATE, dictionary_v1(dictionary_words_v2())))
    for sql in ONE_ROW_PER_DEVICE:
        conn.execute(sql)


def _copy(conn: sqlite3.Connection, packer: Packer, select: str, table: str, put: Any) -> int:
    cur = conn.execute(select)
    n = 0
    while True:
        rows = cur.fetchmany(_BATCH)
        if not rows:
            return n
        for row in rows:
            user, device, start = str(row[0]), str(row[1]), int(row[2])
            try:
                obj = json.loads(row[3])
                if not isinstance(obj, dict):
                    raise ValueError("not an object")
            except (ValueError, TypeError):
                conn.execute("INSERT INTO unreadable_rows VALUES (?, ?, ?, ?, ?)",
                             (table, user, device, start, row[3]))
                continue
            put(conn, packer, packer.src(conn, user, device), user, device, start, obj, row)
            n += 1


def _put_record(conn: sqlite3.Connection, packer: Packer, src: int, user: str, device: str,
                start: int, obj: dict[str, Any], _row: Any) -> None:
    shape, data = packer.pack(conn, obj, derived_record(user, device, start))
    off = obj.get("utc_offset_minutes")
    secs = obj.get("bucket_seconds")
    conn.execute("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?)",
                 (src, start, secs if isinstance(secs, int) and not isinstance(secs, bool) else 60, off if isinstance(off, int) and not isinstance(off, bool) else None,
                  shape, data))


def _put_feature_row(conn: sqlite3.Connection, packer: Packer, src: int, user: str, device: str,
                     start: int, obj: dict[str, Any], row: Any) -> None:
    extra = (row[4], row[5], int(row[6]))
    shape, data = packer.pack(conn, obj, derived_feature_row(user, device, start, extra))
    conn.execute("INSERT INTO feature_rows VALUES (?, ?, ?, ?, ?, ?, ?)",
                 (src, start, *extra, shape, data))


def _put_prediction(conn: sqlite3.Connection, packer: Packer, src: int, user: str, device: str,
                    start: int, obj: dict[str, Any], _row: Any) -> None:
    shape, data = packer.pack(conn, obj, derived_prediction(user, device, start))
    conn.execute("INSERT INTO predictions VALUES (?, ?, ?, ?)", (src, start, shape, data))
