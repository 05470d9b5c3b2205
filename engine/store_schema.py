"""The store's schema: forward migrations, the schema check at open, and exact time codecs.

``MIGRATIONS[i]`` brings a store from version ``i`` to ``i + 1``; append, never edit a released
one. Times are integers in the store: buckets in epoch seconds, spans and events in epoch
microseconds, so comparisons are exact and a label span round-trips to the microsecond.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from engine.errors import ArtifactError
from engine.store_migrate3 import migrate_to_v3, migrate_to_v4
from engine.store_migrate5 import migrate_to_v5
from engine.store_migrate6 import migrate_to_v6

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --- time helpers -------------------------------------------------------------------------


def _aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ArtifactError(None, name, "must be a timezone-aware datetime")
    return value


def to_us(value: datetime, name: str = "time") -> int:
    """Exact integer microseconds since the epoch (no float rounding)."""
    delta = _aware(value, name) - EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def to_s(value: datetime, name: str = "time") -> int:
    """Epoch seconds of a bucket start (floor; buckets sit on whole seconds)."""
    return to_us(value, name) // 1_000_000


def from_s(s: int) -> datetime:
    return EPOCH + timedelta(seconds=s)


def opt_us(value: datetime | None, name: str) -> int | None:
    return None if value is None else to_us(value, name)


# --- schema and migrations ----------------------------------------------------------------

#: One step of a migration: an SQL statement, or a function for what SQL alone cannot do.
Step = str | Callable[[sqlite3.Connection], None]

#: Forward migrations; MIGRATIONS[i] brings a store from version i to version i + 1.
MIGRATIONS: tuple[tuple[Step, ...], ...] = (
    # 1: activity, features, predictions, labels
    (
        """CREATE TABLE records (
            id INTEGER PRIMARY KEY,
            user_id TEXT NOT NULL,
            device_id TEXT NOT NULL,
            bucket_start INTEGER NOT NULL,
            record TEXT NOT NULL,
            UNIQUE (device_id, bucket_start)
        )""",
        "CREATE INDEX records_user_time ON records (user_id, bucket_start)",
        "CREATE INDEX records_time ON records (bucket_start)",
        """CREATE TABLE feature_rows (
            device_id TEXT NOT NULL,
            bucket_start INTEGER NOT NULL,
            user_id TEXT NOT NULL,
            schema_hash TEXT NOT NULL,
            feature_builder_version INTEGER NOT NULL,
            row TEXT NOT NULL,
            PRIMARY KEY (device_id, bucket_start)
        )""",
        "CREATE INDEX feature_rows_user_time ON feature_rows (user_id, bucket_start)",
        """CREATE TABLE predictions (
            device_id TEXT NOT NULL,
            bucket_start INTEGER NOT NULL,
            user_id TEXT NOT NULL,
            model_id TEXT NOT NULL,
            core_label TEXT NOT NULL,
            accepted_label TEXT NOT NULL,
            confidence REAL NOT NULL,
            rejected INTEGER NOT NULL,
            record TEXT NOT NULL,
            PRIMARY KEY (device_id, bucket_start)
        )""",
        "CREATE INDEX predictions_user_time ON predictions (user_id, bucket_start)",
        """CREATE TABLE label_spans (
            span_id INTEGER PRIMARY KEY AUTOINCREMENT,
            user_id TEXT NOT NULL,
            start_us INTEGER NOT NULL,
            end_us INTEGER NOT NULL,
            label TEXT NOT NULL,
            provenance TEXT NOT NULL,
            confidence REAL,
            created_us INTEGER NOT NULL,
            CHECK (end_us > start_us)
        )""",
        "CREATE INDEX label_spans_user_time ON label_spans (user_id, start_us)",
    ),
    # 2: what the tray showed and what the user answered; small persistent state
    (
        """CREATE TABLE feedback_events (
            event_id INTEGER PRIMARY KEY AUTOINCREMENT,
            user_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            shown_label TEXT,
            answer_label TEXT,
            bucket_start_us INTEGER,
            block_start_us INTEGER,
            confidence REAL,
            at_us INTEGER NOT NULL
        )""",
        "CREATE INDEX feedback_user_time ON feedback_events (user_id, at_us)",
        """CREATE TABLE state (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_us INTEGER NOT NULL
        )""",
        # feature rows remember the session they were built in (added after version 1)
        "ALTER TABLE feature_rows ADD COLUMN session_id TEXT",
    ),
    # 3: compact bucket tables (sources, shapes, packed blobs), everything copied over
    (migrate_to_v3,),
    # 4: codec 2 (plain JSON, deflated with a richer dictionary) for rows written from now on
    # (rows of codec 1 stay as they are and are still read); one row per device and bucket
    # kept by triggers
    (migrate_to_v4,),
    # 5: the learning tally (labelled buckets per user, day and label), kept by the writes;
    # the unpredicted-from mark per device
    (migrate_to_v5,),
    # 6: predictions leave out what they derive exactly from their probabilities and keep long
    # floats as float64 (markers and codec 3, which older versions would misread); a feature
    # row's session and schema become a number into row_meta
    (migrate_to_v6,),
)

SCHEMA_VERSION = len(MIGRATIONS)

def current_version(conn: sqlite3.Connection) -> int:
    row = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if row is None:
        return 0
    got = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(got[0] or 0)


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Bring the store forward to ``target``, one version per transaction; return the version."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, applied_us INTEGER NOT NULL)"
    )
    version = current_version(conn)
    while version < target:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # re-read under the write lock: another process may have migrated meanwhile
            version = current_version(conn)
            if version >= target:
                conn.execute("COMMIT")
                break
            for step in MIGRATIONS[version]:
                if isinstance(step, str):
                    conn.execute(step)
                else:
                    step(conn)
            version += 1
            conn.execute(
                "INSERT INTO schema_version (version, applied_us) VALUES (?, ?)",
                (version, to_us(datetime.now(UTC))),
            )
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)
            raise
    return version


def rollback(conn: sqlite3.Connection) -> None:
    """Roll back if a transaction is open, without hiding the error that caused it."""
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass


_Columns = dict[str, list[tuple[str, str, int, int]]]
_EXPECTED: list[_Columns] = []


def _columns(conn: sqlite3.Connection) -> _Columns:
    tables = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    return {
        t: [(r[0], str(r[1]).upper(), int(r[2]), int(r[3]))
            for r in conn.execute('SELECT name, type, "notnull", pk FROM pragma_table_info(?)', (t,))]
        for t in tables
    }


def schema_problem(conn: sqlite3.Connection) -> str | None:
    """Compare the tables with what the migrations create (a damaged schema is refused at
    open, instead of failing later with 'no such column')."""
    if not _EXPECTED:
        mem = sqlite3.connect(":memory:", isolation_level=None)
        migrate(mem)
        _EXPECTED.append(_columns(mem))
        mem.close()
    have = _columns(conn)
    for table, cols in _EXPECTED[0].items():
        if table not in have:
            return f"table {table} is missing"
        if have[table] != cols:
            return f"table {table} does not have the expected columns"
    return None
