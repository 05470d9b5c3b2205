"""The store's per-bucket tables: activity records, feature rows, predictions (schema 3).

Each table is keyed by ``(src, bucket_start)`` where ``src`` numbers a (user, device) pair; a
range read walks each source's key range in pages and merges them by (bucket_start, device), so
reading a time range costs the rows in it, whatever the size of the history.
"""

from __future__ import annotations

import heapq
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

from engine import store_compact, store_tally
from engine.activity import ActivityRecord
from engine.errors import ArtifactError
from engine.record import PredictionRecord
from engine.store_migrate5 import unpredicted_mark_key
from engine.store_pack import (
    FEATURE_ROW_CONSTANTS,
    PREDICTION_CONSTANTS,
    RECORD_CONSTANTS,
    RECORD_NESTED,
    Packer,
    compact_prediction,
    derived_feature_row,
    derived_prediction,
    derived_record,
    expand_prediction,
)
from engine.store_schema import EPOCH, from_s, to_s, to_us

T = TypeVar("T")
_log = logging.getLogger("taskclf.store")

PAGE = 2000

# a record the device's other source already has is ignored (trigger, see store_migrate3)
_INSERT_RECORD = ("INSERT OR IGNORE INTO records (src, bucket_start, seconds, utc_offset, shape, data)"
                  " VALUES (?, ?, ?, ?, ?, ?)")
_UPSERT_FEATURE_ROW = "INSERT OR REPLACE INTO feature_rows (src, bucket_start, meta, shape, data) VALUES (?, ?, ?, ?, ?)"
_UPSERT_PREDICTION = "INSERT OR REPLACE INTO predictions (src, bucket_start, shape, data) VALUES (?, ?, ?, ?)"
# one device's bucket has one feature row and one prediction: triggers (store_migrate3)


class FeatureRowLike(Protocol):
    """What ``put_feature_rows`` needs of a row (``engine.features.FeatureRow`` fits)."""

    @property
    def user_id(self) -> str: ...

    @property
    def device_id(self) -> str: ...

    @property
    def bucket_start(self) -> datetime: ...

    @property
    def session_id(self) -> str | None: ...

    @property
    def schema_hash(self) -> str: ...

    @property
    def feature_builder_version(self) -> int: ...

    def to_json(self) -> dict[str, Any]: ...


def ceil_s(value: datetime) -> int:
    us = to_us(value, "end")
    return -((-us) // 1_000_000)


def _bounds(start: datetime | None, end: datetime | None) -> tuple[int | None, int | None]:
    return (None if start is None else to_s(start, "start"), None if end is None else ceil_s(end))


def _when(bucket: int) -> str:
    """A bucket's time for a warning; the raw number when a damaged row holds no date."""
    try:
        return from_s(bucket).isoformat()
    except (OverflowError, ValueError, TypeError):
        return f"{bucket!r} (not a date)"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


def _prediction_from_json(obj: dict[str, Any]) -> PredictionRecord:
    return PredictionRecord.from_json(expand_prediction(obj))


def _prediction_start(rec: PredictionRecord) -> int:
    try:
        bucket = datetime.fromisoformat(rec.bucket_start.replace("Z", "+00:00"))
    except ValueError:
        raise ArtifactError(None, "bucket_start", f"not an ISO timestamp: {rec.bucket_start!r}") from None
    return to_s(bucket, "bucket_start")


def _validated(rec: ActivityRecord) -> ActivityRecord:
    """``rec`` validated; the text naming it in an error is made only when it is refused."""
    try:
        return rec.validate()
    except ArtifactError:
        return rec.validate(where=f"record {rec.bucket_start.isoformat()}")


def _record_args(rec: ActivityRecord, start: int, src: int, packed: tuple[int, bytes]) -> tuple[Any, ...]:
    return (src, start, int(rec.bucket_seconds), rec.utc_offset_minutes, *packed)


def _record_parser(where: str) -> Callable[[dict[str, Any]], ActivityRecord]:
    def parse(obj: dict[str, Any]) -> ActivityRecord:
        return ActivityRecord.from_json(obj, where=where)

    return parse


class BucketTables:
    """Mixin of ``Store``: everything keyed by bucket. Needs ``_read``, ``_write``, ``path``."""

    path: Path
    unreadable_rows: int
    _packer: Packer
    _lock: threading.RLock
    _read: Callable[..., list[Any]]
    _write: Callable[..., Any]
    _write_one: Callable[[str, Sequence[Any]], int]

    def _rd(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        return self._read(sql, args)

    _plain_from: int | None = None

    def _live(self, start: int) -> bool:
        """Whether a bucket's row is written uncompressed, for the daily pass to deflate
        (``engine.store_compact``): the buckets from a day before that pass's mark on."""
        if self._plain_from is None:
            self._plain_from = store_compact.plain_floor(store_compact.read_mark(self._rd))
        return start >= self._plain_from

    def compact_rows(self) -> int:
        """Deflate the rows the live path stored uncompressed (the daily pass calls it)."""
        done = store_compact.compact_plain_rows(self._rd, self._write, self._packer)
        self._plain_from = None
        return done

    def _sources(self, user_id: str | None = None, device_id: str | None = None) -> list[tuple[int, str, str]]:
        return self._packer.sources(self._rd, user_id, device_id)

    def _scan(
        self,
        table: str,
        columns: str,
        *,
        user_id: str | None,
        device_id: str | None = None,
        start: int | None,
        end: int | None,
        page: int = PAGE,
    ) -> Iterator[tuple[Any, ...]]:
        """(bucket_start, user, device, *columns) of the rows in [start, end), ordered by
        (bucket_start, device): one keyset-paged range scan per source, merged."""

        def one(src: int, user: str, device: str) -> Iterator[tuple[Any, ...]]:
            lo = start
            while True:
                where, args = "src = ?", [src]
                if lo is not None:
                    where += " AND bucket_start >= ?"
                    args.append(lo)
                if end is not None:
                    where += " AND bucket_start < ?"
                    args.append(end)
                rows = self._read(f"SELECT bucket_start, {columns} FROM {table} WHERE {where}"
                                  f" ORDER BY bucket_start LIMIT {int(page)}", args)
                for r in rows:
                    yield (r[0], user, device, *r[1:])
                if len(rows) < page:
                    return
                lo = int(rows[-1][0]) + 1

        srcs = self._sources(user_id, device_id)
        if len(srcs) == 1:
            yield from one(*srcs[0])
            return
        yield from heapq.merge(*(one(*s) for s in srcs), key=lambda r: (r[0], r[2]))

    def _unpack(self, shape: int, data: bytes, derived: dict[str, Any], table: str, bucket: int,
                device: str, parse: Callable[[dict[str, Any]], T]) -> T | None:
        try:
            return parse(self._packer.unpack(self._rd, shape, data, derived))
        except (ValueError, KeyError, TypeError, AttributeError, ArtifactError) as exc:
            self._skip(table, bucket, device, exc)
            return None

    def _skip(self, table: str, bucket: int, device: str, exc: BaseException) -> None:
        self.unreadable_rows += 1
        _log.warning("%s: skipped an unreadable row of %s (bucket %s, device %s): %s",
                     self.path, table, _when(bucket), device, _one_line(exc))

    # ---- activity records

    def put_record(self, rec: ActivityRecord) -> bool:
        """Persist one finished bucket; False when that (device, bucket) is already stored."""
        _validated(rec)
        start = to_s(rec.bucket_start, "bucket_start")
        with self._lock:  # source and shape known: one statement, its own transaction
            src = self._packer.known_src(rec.user_id, rec.device_id)
            packed = None if src is None else self._packer.pack_known(
                rec.to_json(), derived_record(rec.user_id, rec.device_id, start), RECORD_CONSTANTS,
                nested=RECORD_NESTED, uncompressed=self._live(start))
            if src is not None and packed is not None:
                return self._write_one(_INSERT_RECORD, _record_args(rec, start, src, packed)) == 1
        return self._put_checked_records([(rec, start)], self._live(start)) == 1

    def put_records(self, recs: Sequence[ActivityRecord]) -> int:
        """Persist many records in one transaction (imports, synthetic data); returns inserted.
        A bucket its device already has is never overwritten."""
        checked = []
        for rec in recs:
            _validated(rec)
            checked.append((rec, to_s(rec.bucket_start, "bucket_start")))
        return self._put_checked_records(checked)

    def _put_checked_records(self, checked: Sequence[tuple[ActivityRecord, int]], live: bool = False) -> int:
        def tx(conn: sqlite3.Connection) -> int:
            return sum(self._insert_record(conn, rec, start, live) for rec, start in checked)

        return int(self._write(tx))

    def _insert_record(self, conn: sqlite3.Connection, rec: ActivityRecord, start: int,
                       plain: bool = False) -> bool:
        src = self._packer.src(conn, rec.user_id, rec.device_id)
        packed = self._packer.pack(conn, rec.to_json(), derived_record(rec.user_id, rec.device_id, start),
                                   RECORD_CONSTANTS, nested=RECORD_NESTED, uncompressed=plain)
        return conn.execute(_INSERT_RECORD, _record_args(rec, start, src, packed)).rowcount == 1

    def has_record(self, device_id: str, bucket_start: datetime) -> bool:
        start = to_s(bucket_start, "bucket_start")
        return any(self._read("SELECT 1 FROM records WHERE src = ? AND bucket_start = ?", (src, start))
                   for src, _, _ in self._sources(device_id=device_id))

    def records(
        self,
        *,
        user_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        device_id: str | None = None,
    ) -> Iterator[ActivityRecord]:
        """Records with ``start <= bucket_start < end``, ordered by bucket_start, then device.

        A stored record that no longer loads (damaged, or refused by a stricter validator of a
        later version) is skipped and counted in ``unreadable_rows``; one bad bucket must not
        stop the agent from starting or the trainer from training.
        """
        lo, hi = _bounds(start, end)
        for bucket, user, device, shape, data in self._scan(
                "records", "shape, data", user_id=user_id, device_id=device_id, start=lo, end=hi):
            rec = self._unpack(shape, data, derived_record(user, device, bucket), "records", bucket,
                               device, _record_parser(f"{self.path}: records {from_s(bucket).isoformat()}"))
            if rec is not None:
                yield rec

    def last_records(self, user_id: str, since: datetime) -> list[ActivityRecord]:
        return list(self.records(user_id=user_id, start=since))

    def labelled_buckets(
        self,
        user_id: str,
        provenances: frozenset[str],
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[tuple[int, int | None, str]]:
        """(bucket_start epoch s, utc offset minutes, label) of ``user_id``'s recorded buckets
        that one span of these provenances covers completely, for spans overlapping
        [start, end). Integers only, read from the keys: no record is decoded, so counting
        the labelled history costs an index walk (the agent's learning progress)."""
        where: list[str] = ["s.user_id = ?"]
        args: list[Any] = [user_id]
        if start is not None:
            where.append("s.end_us > ?")
            args.append(to_us(start, "start"))
        if end is not None:
            where.append("s.start_us < ?")
            args.append(to_us(end, "end"))
        provs = sorted(provenances)
        where.append(f"s.provenance IN ({','.join('?' * len(provs))})")
        args.extend(provs)
        out: dict[int, tuple[int, int | None, str]] = {}
        for src, _, _ in self._sources(user_id):
            rows = self._read(
                "SELECT r.bucket_start, r.utc_offset, s.label FROM label_spans s JOIN records r"
                " ON r.src = ? AND r.bucket_start >= (s.start_us + 999999) / 1000000"
                " AND r.bucket_start < s.end_us / 1000000"  # bounds the key range per span
                " AND (r.bucket_start + r.seconds) * 1000000 <= s.end_us"
                f" WHERE {' AND '.join(where)}", [src, *args])
            for b, off, label in rows:
                out.setdefault(int(b), (int(b), None if off is None else int(off), str(label)))
        return [out[k] for k in sorted(out)]

    def labelled_days(self, user_id: str) -> list[tuple[int, str, int]]:
        """(local day as days since 1970-01-01, label, buckets) of ``user_id``'s recorded buckets
        that one span given by a person covers completely: the learning tally, kept up to date
        by the writes (``engine.store_tally``), one row per labelled day and label."""
        return store_tally.read(self._read(
            "SELECT local_day, label, SUM(buckets) FROM labelled_days WHERE user_id = ?"
            " GROUP BY local_day, label HAVING SUM(buckets) > 0 ORDER BY local_day, label", (user_id,)))

    def count_records(self, *, user_id: str | None = None) -> int:
        return sum(int(self._read("SELECT COUNT(*) FROM records WHERE src = ?", (src,))[0][0])
                   for src, _, _ in self._sources(user_id))

    def users(self) -> list[str]:
        """Every user the store knows (with records, feature rows or label spans), sorted."""
        rows = self._read(
            "SELECT user_id FROM sources s WHERE EXISTS (SELECT 1 FROM records r WHERE r.src = s.src)"
            " OR EXISTS (SELECT 1 FROM feature_rows f WHERE f.src = s.src)"
            " UNION SELECT user_id FROM label_spans ORDER BY 1"
        )
        return [r[0] for r in rows]

    def days(self, user_id: str) -> list[date]:
        """The UTC dates on which ``user_id`` has records, ascending (one probe per day)."""
        out: set[int] = set()
        for src, _, _ in self._sources(user_id):
            sql = "SELECT MIN(bucket_start) FROM records WHERE src = ? AND bucket_start >= ?"
            args = (src, -(1 << 62))
            while True:
                got = self._read(sql, args)
                if not got or got[0][0] is None:
                    break
                day = int(got[0][0]) // 86400
                out.add(day)
                args = (src, (day + 1) * 86400)
        return [(EPOCH + timedelta(days=d)).date() for d in sorted(out)]

    # ---- feature rows

    def put_feature_row(
        self,
        *,
        user_id: str,
        device_id: str,
        bucket_start: datetime,
        session_id: str | None,
        schema_hash: str,
        feature_builder_version: int,
        row: dict[str, Any],
    ) -> None:
        """Store (or replace) the feature row of one bucket with the schema it was built for."""
        start = to_s(bucket_start, "bucket_start")
        meta = (session_id, schema_hash, int(feature_builder_version))
        with self._lock:  # source, meta and shape known: one statement, its own transaction
            src = self._packer.known_src(user_id, device_id)
            meta_no = self._packer.known_meta(meta)
            packed = None if src is None or meta_no is None else self._packer.pack_known(
                row, derived_feature_row(user_id, device_id, start, meta), FEATURE_ROW_CONSTANTS,
                uncompressed=self._live(start))
            if packed is not None:
                self._write_one(_UPSERT_FEATURE_ROW, (src, start, meta_no, *packed))
                return
        live = self._live(start)
        self._write(lambda conn: self._put_row(conn, user_id, device_id, start, meta, row, live))

    def _put_row(self, conn: sqlite3.Connection, user_id: str, device_id: str, start: int,
                 meta: tuple[str | None, str, int], row: dict[str, Any], plain: bool = False) -> None:
        src = self._packer.src(conn, user_id, device_id)
        meta_no = self._packer.meta(conn, meta)
        packed = self._packer.pack(conn, row, derived_feature_row(user_id, device_id, start, meta),
                                   FEATURE_ROW_CONSTANTS, uncompressed=plain)
        conn.execute(_UPSERT_FEATURE_ROW, (src, start, meta_no, *packed))

    def put_feature_rows(self, rows: Sequence[FeatureRowLike]) -> int:
        """Store (or replace) many feature rows in one transaction; returns how many."""
        values = [(r.user_id, r.device_id, to_s(r.bucket_start, "bucket_start"),
                   (r.session_id, r.schema_hash, int(r.feature_builder_version)), r.to_json())
                  for r in rows]

        def tx(conn: sqlite3.Connection) -> int:
            for v in values:
                self._put_row(conn, *v)
            return len(values)

        return int(self._write(tx))

    def feature_rows(
        self,
        *,
        user_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Stored rows (ordered by bucket, device) with ``_schema_hash`` and
        ``_feature_builder_version`` added, so a caller can refuse rows of another schema."""
        for _bucket, row in self.feature_rows_at(user_id=user_id, start=start, end=end):
            yield row

    def feature_rows_at(
        self,
        *,
        user_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        """``feature_rows`` with each row's bucket start in epoch seconds (its key), so a
        reader of many rows need not parse their timestamps back."""
        lo, hi = _bounds(start, end)
        meta_values, unpack, skip = self._packer.meta_values, self._packer.unpack, self._skip
        rd = self._rd
        for bucket, user, device, meta_no, shape, data in self._scan(
                "feature_rows", "meta, shape, data", user_id=user_id, start=lo, end=hi):
            try:
                meta = meta_values(rd, int(meta_no))
                row = unpack(rd, shape, data, derived_feature_row(user, device, bucket, meta))
            except (ValueError, KeyError, TypeError, AttributeError, ArtifactError) as exc:
                skip("feature_rows", bucket, device, exc)
                continue
            row["_schema_hash"] = meta[1]
            row["_feature_builder_version"] = meta[2]
            yield bucket, row

    # ---- predictions

    def put_prediction(self, device_id: str, rec: PredictionRecord) -> None:
        """Store (or replace) the engine's output record of one bucket."""
        start = _prediction_start(rec)
        obj = compact_prediction(rec.to_json())
        with self._lock:  # source and shape known: one statement, its own transaction
            src = self._packer.known_src(rec.user_id, device_id)
            packed = None if src is None else self._packer.pack_known(
                obj, derived_prediction(rec.user_id, device_id, start), PREDICTION_CONSTANTS, finite=True,
                floats_apart=True, uncompressed=self._live(start))
            if src is not None and packed is not None:
                self._write_one(_UPSERT_PREDICTION, (src, start, *packed))
                return
        write = self._prediction_writer(device_id, rec, self._live(start))
        self._write(lambda conn: write(conn))

    def _prediction_writer(self, device_id: str, rec: PredictionRecord, plain: bool = False
                           ) -> Callable[[sqlite3.Connection], None]:
        """The upsert of one prediction, checked before the transaction."""
        start = _prediction_start(rec)
        obj = compact_prediction(rec.to_json())

        def write(conn: sqlite3.Connection) -> None:
            src = self._packer.src(conn, rec.user_id, device_id)
            packed = self._packer.pack(conn, obj, derived_prediction(rec.user_id, device_id, start),
                                       PREDICTION_CONSTANTS, finite=True,  # refuses NaN, as before
                                       floats_apart=True, uncompressed=plain)
            conn.execute(_UPSERT_PREDICTION, (src, start, *packed))

        return write

    def put_bucket(self, rec: ActivityRecord, row: FeatureRowLike, pred: PredictionRecord) -> bool:
        """A closed bucket's record, feature row and prediction in ONE transaction, so a crash
        never leaves a stored bucket without its prediction. False (nothing written) when that
        (device, bucket) is already stored."""
        _validated(rec)
        start = to_s(rec.bucket_start, "bucket_start")
        meta = (row.session_id, row.schema_hash, int(row.feature_builder_version))
        row_json = row.to_json()
        live = self._live(start)
        write_prediction = self._prediction_writer(rec.device_id, pred, live)

        def tx(conn: sqlite3.Connection) -> bool:
            if not self._insert_record(conn, rec, start, live):
                return False
            self._put_row(conn, rec.user_id, rec.device_id, start, meta, row_json, live)
            write_prediction(conn)
            return True

        return bool(self._write(tx))

    def put_prediction_and_row(self, device_id: str, row: FeatureRowLike,
                               pred: PredictionRecord) -> None:
        """The feature row and prediction of a bucket already stored, in one transaction."""
        start = to_s(row.bucket_start, "bucket_start")
        meta = (row.session_id, row.schema_hash, int(row.feature_builder_version))
        row_json = row.to_json()
        write_prediction = self._prediction_writer(device_id, pred)

        def tx(conn: sqlite3.Connection) -> None:
            self._put_row(conn, row.user_id, device_id, start, meta, row_json)
            write_prediction(conn)

        self._write(tx)

    def unpredicted_buckets(self, device_id: str, *, since: datetime | None = None) -> list[datetime]:
        """Starts of this device's stored buckets that have no prediction (oldest first).

        Without ``since``, from where the previous look found everything predicted (``state``,
        ``store.unpredicted_from:<device>``; a record inserted before that mark moves it back,
        by trigger), so the agent's look at start walks the days since, not the history."""
        key = unpredicted_mark_key(device_id)
        lo = 0 if since is None else to_s(since, "since")
        if since is None:
            got = self._read("SELECT value FROM state WHERE key = ?", (key,))
            if got and str(got[0][0]).lstrip("-").isdigit():
                lo = int(got[0][0])
        out: set[int] = set()
        newest = lo
        for src, _, _ in self._sources(device_id=device_id):
            rows = self._read(
                "SELECT r.bucket_start FROM records r WHERE r.src = ? AND r.bucket_start >= ?"
                " AND NOT EXISTS (SELECT 1 FROM predictions p WHERE p.src IN"
                " (SELECT src FROM sources WHERE device_id = ?) AND p.bucket_start = r.bucket_start)",
                (src, lo, device_id),
            )
            out.update(int(r[0]) for r in rows)
            top = self._read("SELECT MAX(bucket_start) FROM records WHERE src = ?", (src,))[0][0]
            newest = max(newest, -1 if top is None else int(top) + 1)
        mark = min(out) if out else newest
        if since is None and mark != lo and not getattr(self, "readonly", True):
            self._write(lambda conn: conn.execute(
                "INSERT INTO state (key, value, updated_us) VALUES (?, ?, 0) ON CONFLICT (key)"
                " DO UPDATE SET value = excluded.value", (key, str(mark))))
        return [EPOCH + timedelta(seconds=b) for b in sorted(out)]

    # ---- forgetting (privacy controls)

    def _delete_range(self, conn: sqlite3.Connection, start_s: int, end_s: int | None,
                      user_id: str | None) -> dict[str, int]:
        """Delete the bucket rows starting in [start_s, end_s) (inside the caller's transaction)."""
        where: list[str] = ["bucket_start >= ?"]
        args: list[Any] = [start_s]
        if end_s is not None:
            where.append("bucket_start < ?")
            args.append(end_s)
        if user_id is not None:
            where.append("src IN (SELECT src FROM sources WHERE user_id = ?)")
            args.append(user_id)
        cond = " AND ".join(where)
        return {t: int(conn.execute(f"DELETE FROM {t} WHERE {cond}", args).rowcount)
                for t in ("records", "feature_rows", "predictions")}

    @staticmethod
    def _delete_keys(conn: sqlite3.Connection, keys: Sequence[tuple[str, int]]) -> dict[str, int]:
        """Delete the bucket rows of these (device_id, bucket_start) pairs."""
        counts: dict[str, int] = {}
        for table in ("records", "feature_rows", "predictions"):
            before = conn.total_changes
            conn.executemany(f"DELETE FROM {table} WHERE bucket_start = ? AND src IN"
                             " (SELECT src FROM sources WHERE device_id = ?)",
                             [(b, d) for d, b in keys])
            counts[table] = conn.total_changes - before
        return counts

    def predictions(
        self,
        *,
        user_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[PredictionRecord]:
        return list(self.iter_predictions(user_id=user_id, start=start, end=end))

    def iter_predictions(
        self,
        *,
        user_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Iterator[PredictionRecord]:
        """Predictions in [start, end) ordered by (bucket, device), read in pages."""
        lo, hi = _bounds(start, end)
        for bucket, user, device, shape, data in self._scan(
                "predictions", "shape, data", user_id=user_id, start=lo, end=hi):
            p = self._unpack(shape, data, derived_prediction(user, device, bucket), "predictions",
                             bucket, device, _prediction_from_json)
            if p is not None:
                yield p

    def last_prediction(self, user_id: str) -> PredictionRecord | None:
        best: tuple[int, str, int, int, bytes, str] | None = None
        for src, user, device in self._sources(user_id):
            rows = self._read("SELECT bucket_start, shape, data FROM predictions WHERE src = ?"
                              " ORDER BY bucket_start DESC LIMIT 1", (src,))
            if rows and (best is None or (rows[0][0], device) > (best[0], best[1])):
                best = (int(rows[0][0]), device, src, int(rows[0][1]), bytes(rows[0][2]), user)
        if best is None:
            return None
        bucket, device, _src, shape, data, user = best
        return self._unpack(shape, data, derived_prediction(user, device, bucket), "predictions",
                            bucket, device, _prediction_from_json)
