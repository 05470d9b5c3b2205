"""The SQLite store shared by the agent (the one writer) and the trainer/CLI (readers), spec 6.1.

Design, in short (details in docs/store.md):
- WAL journal, so readers never block the writer and the writer never blocks readers.
- ``synchronous=NORMAL`` for activity (a kill -9 loses nothing committed; a power cut may lose
  the last bucket), ``FULL`` around label writes (what the user said survives a power cut too).
- Every write is one short ``BEGIN IMMEDIATE`` transaction: a crash leaves either all of it or
  none of it.
- A ``schema_version`` table and forward migrations run when a writable store opens; a store
  written by a newer taskclf is refused rather than damaged.
- Times are integers: record/feature/prediction buckets in epoch seconds, label spans and
  events in epoch microseconds (exact round trip of any aware datetime).
"""

from __future__ import annotations

import json
import logging
import math
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

from engine import store_tally
from engine.errors import ArtifactError, TaskclfError
from engine.spans import LabelSpan, resolve
from engine.store_buckets import BucketTables, FeatureRowLike, ceil_s
from engine.store_coverage import CoverageReads
from engine.store_pack import Packer
from engine.store_retention import apply_retention, lower_marks
from engine.store_schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    current_version,
    from_s,
    from_us,
    migrate,
    opt_us,
    rollback,
    schema_problem,
    to_s,
    to_us,
)
from engine.store_sql import where_clause

__all__ = [
    "MIGRATIONS", "SCHEMA_VERSION", "FeedbackEvent", "FeatureRowLike", "Store", "from_s", "from_us",
    "migrate", "open_store", "to_s", "to_us",
]

T = TypeVar("T")
_log = logging.getLogger("taskclf.store")

DEFAULT_BUSY_TIMEOUT_MS = 5000
DEFAULT_RETENTION_DAYS = 90


# --- value objects ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedbackEvent:
    """What the tray showed and what the user answered (a confirmation, correction, prompt...)."""

    event_id: int
    user_id: str
    kind: str
    shown_label: str | None
    answer_label: str | None
    bucket_start: datetime | None
    block_start: datetime | None
    confidence: float | None
    at: datetime


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _span_from_row(row: Sequence[Any]) -> LabelSpan:
    span_id, user_id, start_us, end_us, label, provenance, confidence, created_us = row
    return LabelSpan(
        start_ts=from_us(start_us),
        end_ts=from_us(end_us),
        label=label,
        user_id=user_id,
        provenance=provenance,
        confidence=confidence,
        created_at=from_us(created_us),
        span_id=span_id,
    )


_SPAN_COLUMNS = "span_id, user_id, start_us, end_us, label, provenance, confidence, created_us"
#: A user's spans are disjoint (the overlap rule), so only the last one starting at or before a
#: time can reach over it: a lower bound for the index walk of spans overlapping [t, ...)
#: (arguments: user, t, t).
_FROM_LAST_BEFORE = (
    "start_us >= COALESCE((SELECT MAX(start_us) FROM label_spans WHERE user_id = ?"
    " AND start_us <= ?), ?)"
)


# --- the store ----------------------------------------------------------------------------


def _schema_damage(exc: sqlite3.OperationalError) -> bool:
    """An error the store's own fixed statements can only meet in a damaged schema (a trigger's
    text overwritten, say): the file is damaged, not busy or read-only at run time."""
    return str(exc).startswith(("no such column", "no such table", "malformed database schema"))


class Store(BucketTables, CoverageReads):
    """One connection to ``store.sqlite3``. Use one Store per thread; writes are serialised.

    The agent's writer thread owns the writable store; readers (trainer, CLI, tray menu) open
    their own with ``readonly=True``.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path, readonly: bool) -> None:
        self._conn = conn
        self.path = path
        self.readonly = readonly
        self._lock = threading.RLock()
        #: rows skipped because they no longer load (see ``records``)
        self.unreadable_rows = 0
        self._packer = Packer()
        #: the per-bucket writes' one cursor (SQLite's statement cache keeps them prepared)
        self._cursor = conn.cursor()

    # ---- opening / closing

    @classmethod
    def open(
        cls, path: Path, *, readonly: bool = False, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS
    ) -> Store:
        """Open (and, when writable, create and migrate) the store at ``path``.

        Raises ``ArtifactError`` naming the file when it is missing (readonly), not a database,
        written by a newer taskclf, or older than this version and opened read-only.
        """
        path = Path(path)
        try:
            conn = cls._connect(path, readonly, busy_timeout_ms)
        except sqlite3.Error as exc:
            raise ArtifactError(path, None, f"cannot open the store ({exc})") from None
        except OSError as exc:  # read-only folder, a directory in the way...
            raise ArtifactError(path, None, f"cannot create the store ({exc.strerror or exc})") from None
        store = cls(conn, path, readonly)
        try:
            store._init_schema()
        except sqlite3.OperationalError as exc:  # read-only folder, disk full, locked...
            conn.close()
            raise ArtifactError(path, None, f"cannot use the store ({exc})") from None
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:  # not a database, corrupt
            conn.close()
            raise ArtifactError(path, None, f"not a usable taskclf store ({_one_line(exc)})") from None
        except BaseException:
            conn.close()
            raise
        return store

    @staticmethod
    def _connect(path: Path, readonly: bool, busy_timeout_ms: int) -> sqlite3.Connection:
        timeout_s = max(busy_timeout_ms, 0) / 1000.0
        if readonly:
            if not path.exists():
                raise ArtifactError(path, None, "store not found")
            uri = f"file:{quote(str(path.resolve()))}?mode=ro"
            conn = sqlite3.connect(
                uri, uri=True, timeout=timeout_s, isolation_level=None, check_same_thread=False
            )
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                # create it owner-only before SQLite does (WAL/SHM files inherit the mode)
                fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
                os.close(fd)
            try:
                os.chmod(path, 0o600)
            except OSError:
                pass
            conn = sqlite3.connect(
                str(path), timeout=timeout_s, isolation_level=None, check_same_thread=False
            )
        conn.execute(f"PRAGMA busy_timeout = {int(max(busy_timeout_ms, 0))}")
        # Damaged text must not make whole queries fail: it decodes with U+FFFD and the row
        # is then refused (and skipped) by its own validation.
        conn.text_factory = _decode_text
        return conn

    def _init_schema(self) -> None:
        conn = self._conn
        if self.readonly:
            conn.execute("PRAGMA query_only = 1")
            version = current_version(conn)
            if version == 0:
                raise ArtifactError(self.path, None, "not a taskclf store (no schema_version)")
        else:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            if mode is None or str(mode[0]).lower() != "wal":
                # e.g. some network file systems: it works, but readers can block the writer
                _log.warning("%s: WAL journal not available (mode %s)", self.path, mode and mode[0])
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            before = current_version(conn)
            version = migrate(conn)  # a newer store is left as it is and refused below
            if 0 < before < 3 <= version:
                self._vacuum()  # the compact format frees most of the file: give it back
        if version > SCHEMA_VERSION:
            raise ArtifactError(
                self.path, "schema_version",
                f"written by a newer taskclf (store version {version}, this one knows "
                f"{SCHEMA_VERSION}); upgrade taskclf",
            )
        if version < SCHEMA_VERSION:
            raise ArtifactError(
                self.path, "schema_version",
                f"store version {version} is older than {SCHEMA_VERSION}; start the agent once "
                "(or open it writable) to upgrade it",
            )
        problem = schema_problem(conn)
        if problem:
            raise ArtifactError(self.path, None, f"the store is damaged ({problem})")

    def _vacuum(self) -> None:
        try:
            self._conn.execute("VACUUM")
        except sqlite3.OperationalError as exc:  # e.g. not enough disk for the copy: later
            _log.warning("%s: could not compact the file (%s)", self.path, _one_line(exc))

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ---- transactions

    def _write(self, fn: Callable[[sqlite3.Connection], Any], *, durable: bool = False) -> Any:
        """Run ``fn`` in one short IMMEDIATE transaction (all or nothing)."""
        if self.readonly:
            raise TaskclfError(f"{self.path}: the store is open read-only")
        with self._lock:
            conn = self._conn
            if durable:
                conn.execute("PRAGMA synchronous = FULL")
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = fn(conn)
                    conn.execute("COMMIT")
                    self._packer.committed()
                except BaseException:
                    rollback(conn)
                    self._packer.rolled_back()
                    raise
            except sqlite3.OperationalError as exc:
                if _schema_damage(exc):
                    raise self._damaged(exc) from None
                raise
            except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
                raise self._damaged(exc) from None
            finally:
                if durable:
                    conn.execute("PRAGMA synchronous = NORMAL")
            return result

    def _write_one(self, sql: str, args: Sequence[Any]) -> int:
        """One statement as its own transaction (SQLite's autocommit: the statement takes the
        write lock before it reads, commits at its end, all or nothing), the rows it changed.
        Saves the BEGIN and COMMIT round trips of :meth:`_write` on the agent's per-bucket
        writes; durability is the same (``synchronous=NORMAL``)."""
        if self.readonly:
            raise TaskclfError(f"{self.path}: the store is open read-only")
        with self._lock:
            try:
                return int(self._cursor.execute(sql, args).rowcount)
            except sqlite3.OperationalError as exc:
                if _schema_damage(exc):
                    raise self._damaged(exc) from None
                raise
            except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
                raise self._damaged(exc) from None

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            try:
                return self._conn.execute(sql, args).fetchall()
            except sqlite3.OperationalError as exc:
                if _schema_damage(exc):
                    raise self._damaged(exc) from None
                raise
            except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
                raise self._damaged(exc) from None

    def _damaged(self, exc: Exception) -> ArtifactError:
        """A corrupt file: one clear line instead of a sqlite3 traceback."""
        return ArtifactError(
            self.path, None, f"the store is damaged ({_one_line(exc)}); restore a backup or move it aside"
        )

    def schema_version(self) -> int:
        rows = self._read("SELECT MAX(version) FROM schema_version")
        return int(rows[0][0] or 0)

    def integrity_check(self) -> str:
        """``"ok"`` for a sound file, else SQLite's description of the damage."""
        try:
            rows = self._read("PRAGMA integrity_check")
        except ArtifactError as exc:
            return exc.reason
        return "; ".join(str(r[0]) for r in rows)

    # ---- label spans

    def add_label_span(self, span: LabelSpan) -> LabelSpan:
        """Store ``span`` applying the overlap rule (3.1) in one durable transaction.

        Returns the stored span with its ``span_id``. When higher-priority spans cut it into
        pieces, the first stored piece is returned (see :meth:`add_label_span_pieces`); when
        they hide it entirely, nothing is stored and the span comes back with ``span_id=None``.
        """
        pieces = self.add_label_span_pieces(span)
        return pieces[0] if pieces else span.normalized()

    def add_label_span_pieces(self, span: LabelSpan) -> list[LabelSpan]:
        """Like :meth:`add_label_span`, returning every stored piece of ``span``."""
        span = span.validate().normalized()
        return list(self._write(lambda conn: self._apply_spans(conn, [span]), durable=True))

    def add_label_spans(self, spans: Sequence[LabelSpan]) -> list[LabelSpan]:
        """Add several spans in order, in ONE transaction (an import is all or nothing)."""
        checked = [s.validate(where=f"span {i + 1}").normalized() for i, s in enumerate(spans)]
        return list(self._write(lambda conn: self._apply_spans(conn, checked), durable=True))

    def add_label_with_feedback(
        self,
        span: LabelSpan,
        *,
        kind: str,
        shown_label: str | None,
        answer_label: str | None,
        bucket_start: datetime | None,
        block_start: datetime | None,
        confidence: float | None,
        at: datetime,
    ) -> tuple[list[LabelSpan], int]:
        """A tray answer: the span and its feedback event in ONE durable transaction, so a
        crash never keeps one without the other. Returns (stored pieces, event id)."""
        span = span.validate().normalized()
        values = _feedback_values(span.user_id, kind, shown_label, answer_label, bucket_start,
                                  block_start, confidence, at)

        def tx(conn: sqlite3.Connection) -> tuple[list[LabelSpan], int]:
            pieces = self._apply_spans(conn, [span])
            return pieces, _insert_feedback(conn, values)

        result: tuple[list[LabelSpan], int] = self._write(tx, durable=True)
        return result

    def _apply_spans(self, conn: sqlite3.Connection, spans: Sequence[LabelSpan]) -> list[LabelSpan]:
        stored: list[LabelSpan] = []
        # the learning tally moves by what these spans change in the buckets they reach
        touched: dict[str, list[tuple[int, int]]] = {}
        for span in spans:
            touched.setdefault(span.user_id, []).append(
                store_tally.span_range(to_s(span.start_ts), _ceil_s(span.end_ts)))
        ranges = {user: store_tally.merge_ranges(r) for user, r in touched.items()}
        before = {user: store_tally.counts_of(conn, user, r) for user, r in ranges.items()}
        for span in spans:
            overlapping = [
                _span_from_row(r)
                for r in conn.execute(
                    f"SELECT {_SPAN_COLUMNS} FROM label_spans"
                    f" WHERE user_id = ? AND start_us < ? AND end_us > ? AND {_FROM_LAST_BEFORE}",
                    (span.user_id, to_us(span.end_ts), to_us(span.start_ts),
                     span.user_id, to_us(span.start_ts), to_us(span.start_ts)),
                ).fetchall()
            ]
            kept, pieces = resolve(overlapping, span)
            kept_by_id = {s.span_id: s for s in kept if s.span_id is not None}
            for old in overlapping:
                sid = old.span_id
                assert sid is not None  # rows read from the table always have an id
                now = kept_by_id.get(sid)
                if now is None:
                    conn.execute("DELETE FROM label_spans WHERE span_id = ?", (sid,))
                elif (now.start_ts, now.end_ts) != (old.start_ts, old.end_ts):
                    conn.execute(
                        "UPDATE label_spans SET start_us = ?, end_us = ? WHERE span_id = ?",
                        (to_us(now.start_ts), to_us(now.end_ts), sid),
                    )
            for extra in (s for s in kept if s.span_id is None):
                self._insert_span(conn, extra)
            stored.extend(self._insert_span(conn, p) for p in pieces)
        for user, r in ranges.items():
            store_tally.apply_delta(conn, user, before[user], store_tally.counts_of(conn, user, r))
            lower_marks(conn, user, r[0][0])
        return stored

    @staticmethod
    def _insert_span(conn: sqlite3.Connection, s: LabelSpan) -> LabelSpan:
        cur = conn.execute(
            "INSERT INTO label_spans (user_id, start_us, end_us, label, provenance, confidence,"
            " created_us) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (s.user_id, to_us(s.start_ts), to_us(s.end_ts), s.label, s.provenance,
             None if s.confidence is None else float(s.confidence), to_us(s.created_at)),
        )
        return LabelSpan(s.start_ts, s.end_ts, s.label, s.user_id, s.provenance, s.confidence,
                         s.created_at, int(cur.lastrowid or 0))

    def label_spans(
        self,
        *,
        user_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[LabelSpan]:
        """Spans overlapping ``[start, end)``, ordered by user, start."""
        where: list[str] = []
        args: list[Any] = []
        if user_id is not None:
            where.append("user_id = ?")
            args.append(user_id)
        if start is not None:
            where.append("end_us > ?")
            args.append(to_us(start, "start"))
            if user_id is not None:  # one user's spans are disjoint: bound the index walk
                where.append(_FROM_LAST_BEFORE)
                args.extend([user_id, to_us(start, "start"), to_us(start, "start")])
        if end is not None:
            where.append("start_us < ?")
            args.append(to_us(end, "end"))
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        rows = self._read(
            f"SELECT {_SPAN_COLUMNS} FROM label_spans{clause} ORDER BY user_id, start_us", args
        )
        try:
            return [_span_from_row(r) for r in rows]
        except _BAD_VALUE as exc:  # a damaged page can hold any integer: one line, no traceback
            raise self._damaged(exc) from None

    def delete_label_span(self, span_id: int) -> bool:
        def tx(conn: sqlite3.Connection) -> bool:
            got = conn.execute("SELECT user_id, start_us, end_us FROM label_spans WHERE span_id = ?",
                               (int(span_id),)).fetchone()
            if got is None:
                return False
            user, start_us, end_us = str(got[0]), int(got[1]), int(got[2])
            r = [store_tally.span_range(start_us // 1_000_000, -(-end_us // 1_000_000))]
            before = store_tally.counts_of(conn, user, r)
            conn.execute("DELETE FROM label_spans WHERE span_id = ?", (int(span_id),))
            store_tally.apply_delta(conn, user, before, store_tally.counts_of(conn, user, r))
            lower_marks(conn, user, start_us // 1_000_000)
            return True

        return bool(self._write(tx, durable=True))

    # ---- feedback events

    def add_feedback(
        self,
        *,
        user_id: str,
        kind: str,
        shown_label: str | None,
        answer_label: str | None,
        bucket_start: datetime | None,
        block_start: datetime | None,
        confidence: float | None,
        at: datetime,
    ) -> int:
        """Record what the tray showed and what the user answered; returns the event id."""
        values = _feedback_values(user_id, kind, shown_label, answer_label, bucket_start,
                                  block_start, confidence, at)
        return int(self._write(lambda conn: _insert_feedback(conn, values), durable=True))

    def feedback(
        self,
        *,
        user_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        kind: str | None = None,
    ) -> list[FeedbackEvent]:
        """Feedback events with ``start <= at < end``, oldest first."""
        where, args = where_clause(
            user_id=user_id, column="at_us", start=opt_us(start, "start"), end=opt_us(end, "end")
        )
        if kind is not None:
            where = (where + " AND" if where else " WHERE") + " kind = ?"
            args.append(kind)
        rows = self._read(
            "SELECT event_id, user_id, kind, shown_label, answer_label, bucket_start_us,"
            f" block_start_us, confidence, at_us FROM feedback_events{where} ORDER BY at_us, event_id",
            args,
        )
        try:
            return [
                FeedbackEvent(
                    event_id=r[0], user_id=r[1], kind=r[2], shown_label=r[3], answer_label=r[4],
                    bucket_start=None if r[5] is None else from_us(r[5]),
                    block_start=None if r[6] is None else from_us(r[6]),
                    confidence=r[7], at=from_us(r[8]),
                )
                for r in rows
            ]
        except _BAD_VALUE as exc:
            raise self._damaged(exc) from None

    # ---- small persistent state (pause until, last reload...)

    def get_state(self, key: str) -> str | None:
        rows = self._read("SELECT value FROM state WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def set_state(self, key: str, value: str | None) -> None:
        """Set (or, with None, delete) one key; durable, since pause state must survive."""
        def tx(conn: sqlite3.Connection) -> None:
            if value is None:
                conn.execute("DELETE FROM state WHERE key = ?", (key,))
            else:
                conn.execute(
                    "INSERT INTO state (key, value, updated_us) VALUES (?, ?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
                    " updated_us = excluded.updated_us",
                    (key, str(value), to_us(datetime.now(UTC))),
                )

        self._write(tx, durable=True)

    # ---- retention

    def apply_retention(
        self, now: datetime, activity_days: int = DEFAULT_RETENTION_DAYS, *, retention_batch: int = 5000
    ) -> dict[str, int]:
        """Delete activity, predictions and feedback older than ``activity_days`` before each
        user's newest activity (never later than ``now``); keep labels, the feature rows of
        labelled buckets and the records around labels (``engine.store_retention``). Then
        deflate the rows the live path stored uncompressed (``engine.store_compact``).

        Returns the number of rows deleted per table; what was deleted, or kept although old, is
        logged.
        """
        deleted = apply_retention(
            lambda sql, args: self._read(sql, args), self._write, now, activity_days, retention_batch
        )
        compacted = self.compact_rows()  # the day's rows, stored uncompressed by the live path
        if compacted:
            _log.info("%s: compressed %d row(s) of the last day", self.path, compacted)
        return deleted

    # ---- forgetting (privacy controls)

    def forget_between(
        self, start: datetime, end: datetime | None = None, *, user_id: str | None = None
    ) -> dict[str, int]:
        """Remove everything recorded in ``[start, end)`` (``end=None``: up to any time).

        Records, feature rows and predictions of buckets starting in the window, feedback
        events about it, and the part of every label span inside it (a span crossing an edge
        is cut there, so the user's labels outside the window stay as they were). One durable
        transaction. Run :meth:`scrub` afterwards so the bytes leave the file too.
        """
        start_s = to_s(start, "start")
        end_s = None if end is None else ceil_s(end)
        start_us = start_s * 1_000_000
        end_us = None if end_s is None else end_s * 1_000_000

        def tx(conn: sqlite3.Connection) -> dict[str, int]:
            counts: dict[str, int] = {}
            counts.update(self._delete_range(conn, start_s, end_s, user_id))
            counts["feedback_events"] = _forget_feedback(conn, start_us, end_us, user_id)
            counts["label_spans"] = _forget_spans(conn, start_us, end_us, user_id)
            _retally_window(conn, start_s, end_s, user_id)
            return counts

        result: dict[str, int] = self._write(tx, durable=True)
        return result

    def buckets_with_app(self, app_id: str) -> list[tuple[str, datetime]]:
        """(device_id, bucket_start) of every stored record in which ``app_id`` was in front."""
        return [
            (rec.device_id, rec.bucket_start)
            for rec in self.records()
            if any(seg.app_id == app_id for seg in rec.segments)
        ]

    def forget_buckets(self, buckets: Sequence[tuple[str, datetime]]) -> dict[str, int]:
        """Remove the records, feature rows and predictions of these (device, bucket) pairs."""
        keys = [(device, to_s(bucket, "bucket_start")) for device, bucket in buckets]
        result: dict[str, int] = self._write(lambda conn: self._delete_keys(conn, keys), durable=True)
        return result

    def scrub(self) -> bool:
        """Make deleted rows unrecoverable from the files: fold the WAL into the database,
        rebuild it without free pages (VACUUM) and empty the WAL again. False when a reader
        kept the WAL from being emptied (its old frames may still hold deleted rows)."""
        if self.readonly:
            raise TaskclfError(f"{self.path}: the store is open read-only")
        with self._lock:
            conn = self._conn
            conn.execute("PRAGMA secure_delete = ON")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("VACUUM")
            busy, _log_frames, _done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            wal = self.path.with_name(self.path.name + "-wal")
            emptied = not busy and (not wal.exists() or wal.stat().st_size == 0)
        if not emptied:
            _log.warning("%s: a reader kept the journal busy; scrub incomplete", self.path)
        return emptied

    def checkpoint(self) -> None:
        """Fold the WAL back into the main file (cheap housekeeping, e.g. after retention)."""
        if not self.readonly:
            with self._lock:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _feedback_values(
    user_id: str,
    kind: str,
    shown_label: str | None,
    answer_label: str | None,
    bucket_start: datetime | None,
    block_start: datetime | None,
    confidence: float | None,
    at: datetime,
) -> tuple[Any, ...]:
    if not isinstance(kind, str) or not kind.strip():
        raise ArtifactError(None, "kind", "must be a non-empty string")
    if not isinstance(user_id, str) or not user_id:
        raise ArtifactError(None, "user_id", "must be a non-empty string")
    if confidence is not None and not math.isfinite(float(confidence)):
        raise ArtifactError(None, "confidence", "must be finite")
    return (
        user_id, kind, shown_label, answer_label,
        opt_us(bucket_start, "bucket_start"), opt_us(block_start, "block_start"),
        None if confidence is None else float(confidence), to_us(at, "at"),
    )


def _insert_feedback(conn: sqlite3.Connection, values: tuple[Any, ...]) -> int:
    cur = conn.execute(
        "INSERT INTO feedback_events (user_id, kind, shown_label, answer_label,"
        " bucket_start_us, block_start_us, confidence, at_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        values,
    )
    return int(cur.lastrowid or 0)


def _forget_feedback(conn: sqlite3.Connection, start_us: int, end_us: int | None,
                     user_id: str | None) -> int:
    """Delete feedback events given, or about a bucket/block, inside the window."""
    def inside(col: str) -> str:
        return f"({col} >= ?" + (f" AND {col} < ?)" if end_us is not None else ")")

    bounds = [start_us] + ([end_us] if end_us is not None else [])
    cond = " OR ".join(inside(c) for c in ("at_us", "bucket_start_us", "block_start_us"))
    args: list[Any] = bounds * 3
    if user_id is not None:
        cond = f"user_id = ? AND ({cond})"
        args = [user_id, *args]
    return int(conn.execute(f"DELETE FROM feedback_events WHERE {cond}", args).rowcount)


def _forget_spans(conn: sqlite3.Connection, start_us: int, end_us: int | None,
                  user_id: str | None) -> int:
    """Cut the window out of every label span; returns how many spans were touched."""
    where = "end_us > ?" + (" AND start_us < ?" if end_us is not None else "")
    args: list[Any] = [start_us] + ([end_us] if end_us is not None else [])
    if user_id is not None:
        where += " AND user_id = ?"
        args.append(user_id)
    rows = conn.execute(f"SELECT {_SPAN_COLUMNS} FROM label_spans WHERE {where}", args).fetchall()
    for span_id, uid, s_us, e_us, label, provenance, confidence, created_us in rows:
        conn.execute("DELETE FROM label_spans WHERE span_id = ?", (span_id,))
        keep = [(s_us, min(e_us, start_us))]
        if end_us is not None:
            keep.append((max(s_us, end_us), e_us))
        for a, b in keep:
            if b > a:
                conn.execute(
                    "INSERT INTO label_spans (user_id, start_us, end_us, label, provenance,"
                    " confidence, created_us) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (uid, a, b, label, provenance, confidence, created_us),
                )
    return len(rows)


def _retally_window(conn: sqlite3.Connection, start_s: int, end_s: int | None,
                    user_id: str | None) -> None:
    """Recount the learning tally of a forgotten window (to the newest tallied day when it is
    open-ended)."""
    users = [user_id] if user_id is not None else [
        str(u) for (u,) in conn.execute("SELECT DISTINCT user_id FROM labelled_days").fetchall()]
    for user in users:
        lower_marks(conn, user, start_s)
        last = end_s
        if last is None:
            got = conn.execute("SELECT MAX(utc_day) FROM labelled_days WHERE user_id = ?", (user,)).fetchone()
            last = max(start_s, (int(got[0]) + 1) * store_tally.DAY if got[0] is not None else start_s)
        store_tally.retally_days(conn, user, store_tally.span_days(start_s, last))


def _executor(sql: str, params: tuple[Any, ...]) -> Callable[[sqlite3.Connection], int]:
    """A write step that runs one statement and returns how many rows it changed."""

    def run(conn: sqlite3.Connection) -> int:
        return int(conn.execute(sql, params).rowcount)

    return run


def _decode_text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


#: What decoding a stored value can raise when a damaged page holds an out-of-range integer
#: (``from_us`` of 2**62 is ``OverflowError``) or a value of the wrong type.
_BAD_VALUE = (OverflowError, ValueError, TypeError)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


def _ceil_s(value: datetime) -> int:
    us = to_us(value, "end")
    return -((-us) // 1_000_000)


def open_store(home: Path, *, readonly: bool = False) -> Store:
    """The store of a home directory (``<home>/store.sqlite3``)."""
    from engine.paths import store_path

    return Store.open(store_path(home), readonly=readonly)
