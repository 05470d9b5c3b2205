"""Migration 5 -> 6: smaller predictions and feature rows, losing nothing.

- Predictions written from now on leave out what they derive exactly from their
  probabilities (``engine.store_pack.compact_prediction``: calibrated probabilities that are
  the raw ones renormalised, a confidence that is the largest one, a taxonomy map that is them
  renormalised) and keep a model's long probabilities as float64 (codec 3,
  ``engine.store_codec``, whose dictionary this adds). Older versions would misread both,
  hence the new version. Stored predictions stay as they are (still read): retention lets
  every prediction go after 90 days, so re-packing them would buy little for minutes of
  upgrade on a year's store.
- A feature row's session, schema hash and builder version (two texts and an integer per row)
  become one small number into ``row_meta``: the table is rebuilt, every row copied as it is
  (one SQL statement).
- The mark of the daily pass that deflates rows the live path stored uncompressed
  (``engine.store_compact``): every row stored so far is compressed.

All of it inside the migration's one transaction: a failure leaves version 5 intact.
"""

from __future__ import annotations

import sqlite3

from engine.store_codec import FLOATS_APART
from engine.store_compact import MARK, TABLES
from engine.store_migrate3 import ONE_ROW_PER_DEVICE

ROW_META = """CREATE TABLE row_meta (
    meta INTEGER PRIMARY KEY,
    session_id TEXT,
    schema_hash TEXT NOT NULL,
    feature_builder_version INTEGER NOT NULL
)"""

FEATURE_ROWS = """CREATE TABLE feature_rows (
    src INTEGER NOT NULL,
    bucket_start INTEGER NOT NULL,
    meta INTEGER NOT NULL,
    shape INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (src, bucket_start)
) WITHOUT ROWID"""


def migrate_to_v6(conn: sqlite3.Connection) -> None:
    _feature_rows_meta(conn)
    (dictionary,) = conn.execute("SELECT zdict FROM dictionaries WHERE codec = 2").fetchone()
    conn.execute("INSERT INTO dictionaries (codec, zdict) VALUES (?, ?)", (FLOATS_APART, dictionary))
    # every row is compressed so far: the daily pass starts at the newest (engine.store_compact)
    newest = [int(n) for t in TABLES if (n := conn.execute(f"SELECT MAX(bucket_start) FROM {t}").fetchone()[0])
              is not None]
    if newest:
        conn.execute("INSERT OR REPLACE INTO state (key, value, updated_us) VALUES (?, ?, 0)",
                     (MARK, str(min(newest))))


def _feature_rows_meta(conn: sqlite3.Connection) -> None:
    conn.execute(ROW_META)  # one row per session: small enough to scan, no index
    conn.execute("INSERT INTO row_meta (session_id, schema_hash, feature_builder_version)"
                 " SELECT DISTINCT session_id, schema_hash, feature_builder_version FROM feature_rows"
                 " ORDER BY schema_hash, feature_builder_version, session_id")
    conn.execute("ALTER TABLE feature_rows RENAME TO feature_rows_v5")
    conn.execute(FEATURE_ROWS)
    conn.execute("INSERT INTO feature_rows (src, bucket_start, meta, shape, data)"
                 " SELECT f.src, f.bucket_start, m.meta, f.shape, f.data FROM feature_rows_v5 f"
                 " JOIN row_meta m ON m.session_id IS f.session_id AND m.schema_hash = f.schema_hash"
                 " AND m.feature_builder_version = f.feature_builder_version")
    conn.execute("DROP TABLE feature_rows_v5")  # its trigger goes with it
    for sql in ONE_ROW_PER_DEVICE:
        if " ON feature_rows" in sql:
            conn.execute(sql)
