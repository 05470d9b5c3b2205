"""Store speed: the agent's per-bucket writes, label writes, and the trainer's bulk reads.

    python3 benchmarks/store_bench.py [--days 30] [--json]

Figures: latency of one ``put_record`` / ``put_feature_row`` / ``put_prediction`` (the agent's
writes once per bucket, synchronous=NORMAL, stored uncompressed), of one ``add_label_span``
(synchronous=FULL), the time the daily passes take to deflate the rows written one at a time
(``compact_rows``, after each day of feature rows, as the agent's daily pass), to read ``--days`` days of records and feature rows of one user (deflated),
and of retention.

Reference, same run: the same three writes done the schema-2 way (the record, feature row and
prediction as JSON text in the version-2 tables and indexes, one IMMEDIATE transaction each,
as the version-2 store did), so the compact store's write cost is compared on the same load.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.activity import ActivityRecord, Segment  # noqa: E402
from engine.labels import LABEL_ORDER  # noqa: E402
from engine.record import PredictionRecord  # noqa: E402
from engine.spans import LabelSpan  # noqa: E402
from engine.store import Store  # noqa: E402
from engine.store_schema import migrate, to_s  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _record(i: int) -> ActivityRecord:
    return ActivityRecord(
        user_id="u1", device_id="d1", bucket_start=T0 + timedelta(minutes=i), observed_seconds=60.0,
        utc_offset_minutes=0,
        segments=(Segment(0.0, 45.0, "code", "editor", False, True, False, "0123456789abcdef", "non_browser"),
                  Segment(45.0, 15.0, "firefox", "browser", True, False, False, "fedcba9876543210", "docs")),
        keys=float(i % 90), clicks=3.0, active_seconds_any=50.0, max_idle_run_seconds=10.0,
        sources=("x11",),
    )


def _row(i: int) -> dict[str, object]:
    return {f"f{k}": float(i * k % 97) for k in range(38)} | {"bucket_start": (T0 + timedelta(minutes=i)).isoformat()}


def _prediction(i: int) -> PredictionRecord:
    p = tuple(1 / 8 for _ in LABEL_ORDER)
    return PredictionRecord((T0 + timedelta(minutes=i)).isoformat(), "u1", "s", "rules", None, LABEL_ORDER,
                            p, p, "Build", 0.5, 0.5, "default", False, "Build", "Build", "Build",
                            {"Build": 1.0}, "identity")


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def _timed(fn, n: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t) * 1e6)
    return out


class _V2Writes:
    """The version-2 store's write path: JSON text rows, the same lock and transaction."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        migrate(self.conn, target=2)
        self.lock = threading.RLock()

    def _write(self, sql: str, args: tuple[object, ...]) -> int:
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            n = self.conn.execute(sql, args).rowcount
            self.conn.execute("COMMIT")
            return int(n)

    def put_record(self, rec: ActivityRecord) -> bool:
        rec.validate(where=f"record {rec.bucket_start.isoformat()}")
        payload = json.dumps(rec.to_json(), separators=(",", ":"), ensure_ascii=False)
        return self._write("INSERT OR IGNORE INTO records (user_id, device_id, bucket_start, record)"
                           " VALUES (?, ?, ?, ?)", (rec.user_id, rec.device_id,
                                                    to_s(rec.bucket_start), payload)) == 1

    def put_feature_row(self, i: int) -> None:
        payload = json.dumps(_row(i), separators=(",", ":"), ensure_ascii=False)
        self._write("INSERT OR REPLACE INTO feature_rows (device_id, bucket_start, user_id, session_id,"
                    " schema_hash, feature_builder_version, row) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    ("d1", to_s(T0 + timedelta(minutes=i)), "u1", "s", "h", 1, payload))

    def put_prediction(self, rec: PredictionRecord) -> None:
        start = to_s(datetime.fromisoformat(rec.bucket_start))
        payload = json.dumps(rec.to_json(), separators=(",", ":"), allow_nan=False)
        self._write("INSERT OR REPLACE INTO predictions (device_id, bucket_start, user_id, model_id,"
                    " core_label, accepted_label, confidence, rejected, record)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    ("d1", start, rec.user_id, rec.model_id, rec.core_label, rec.accepted_label,
                     float(rec.confidence), int(bool(rec.rejected)), payload))


def _reference_store(path: Path, n: int) -> _V2Writes:
    """A schema-2 store holding the same ``n`` records as the measured one."""
    ref = _V2Writes(path)
    ref.conn.execute("BEGIN")
    for i in range(n):
        rec = _record(i)
        ref.conn.execute("INSERT INTO records (user_id, device_id, bucket_start, record) VALUES (?, ?, ?, ?)",
                         ("u1", "d1", to_s(rec.bucket_start), json.dumps(rec.to_json())))
    ref.conn.execute("COMMIT")
    return ref


def _paired(fn, ref, n: int) -> tuple[list[float], list[float]]:  # type: ignore[no-untyped-def]
    """Latencies of ``fn`` and of its reference ``ref``, alternated call by call so that both
    see the same machine load."""
    a: list[float] = []
    b: list[float] = []
    for i in range(n):
        for f, out in ((fn, a), (ref, b)) if i % 2 else ((ref, b), (fn, a)):
            t = time.perf_counter()
            f(i)
            out.append((time.perf_counter() - t) * 1e6)
    return a, b


def run(days: int) -> dict[str, float]:
    n = days * 1440
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "store.sqlite3"
        with Store.open(path) as s:
            t = time.perf_counter()
            s.put_records([_record(i) for i in range(n)])
            bulk_s = time.perf_counter() - t
            compacted, compact_s = 0, 0.0
            for i in range(n):
                s.put_feature_row(user_id="u1", device_id="d1", bucket_start=T0 + timedelta(minutes=i),
                                  session_id="s", schema_hash="h", feature_builder_version=1, row=_row(i))
                if i % 1440 == 1439:  # the agent's daily pass deflates the day's rows
                    t = time.perf_counter()
                    compacted += s.compact_rows()
                    compact_s += time.perf_counter() - t
            base = n + 10
            ref = _reference_store(Path(d) / "v2.sqlite3", n)
            rec_us, ref_rec_us = _paired(lambda i: s.put_record(_record(base + i)),
                                         lambda i: ref.put_record(_record(base + i)), 500)
            row_us, ref_row_us = _paired(lambda i: s.put_feature_row(
                user_id="u1", device_id="d1", bucket_start=T0 + timedelta(minutes=base + i),
                session_id="s", schema_hash="h", feature_builder_version=1, row=_row(base + i)),
                lambda i: ref.put_feature_row(base + i), 500)
            pred_us, ref_pred_us = _paired(lambda i: s.put_prediction("d1", _prediction(base + i)),
                                           lambda i: ref.put_prediction(_prediction(base + i)), 500)
            ref.conn.close()
            now = T0 + timedelta(days=days)
            span_us = _timed(lambda i: s.add_label_span(LabelSpan(
                T0 + timedelta(minutes=3 * i), T0 + timedelta(minutes=3 * i + 5), LABEL_ORDER[i % 8], "u1",
                "correction", None, now + timedelta(seconds=i))), 300)
        with Store.open(path) as s:  # the last pass: the measured writes' rows
            t = time.perf_counter()
            compacted += s.compact_rows()
            compact_s += time.perf_counter() - t
        with Store.open(path, readonly=True) as r:
            t = time.perf_counter()
            count = sum(1 for _ in r.records(user_id="u1"))
            read_records_s = time.perf_counter() - t
            t = time.perf_counter()
            rows = sum(1 for _ in r.feature_rows(user_id="u1"))
            read_rows_s = time.perf_counter() - t
            t = time.perf_counter()
            spans = len(r.label_spans(user_id="u1"))
            read_spans_ms = (time.perf_counter() - t) * 1e3
        assert count >= n and rows >= n and spans > 0
        with Store.open(path) as s:
            t = time.perf_counter()
            s.apply_retention(T0 + timedelta(days=days + 90 - days // 2), activity_days=90)
            retention_s = time.perf_counter() - t
        size_mb = path.stat().st_size / 1e6
    return {
        "days": days,
        "bulk_insert_records_s": round(bulk_s, 3),
        "put_record_p50_us": round(statistics.median(rec_us), 1),
        "put_record_p99_us": round(_pct(rec_us, 0.99), 1),
        "put_feature_row_p50_us": round(statistics.median(row_us), 1),
        "put_prediction_p50_us": round(statistics.median(pred_us), 1),
        "ref_v2_put_record_p50_us": round(statistics.median(ref_rec_us), 1),
        "ref_v2_put_feature_row_p50_us": round(statistics.median(ref_row_us), 1),
        "ref_v2_put_prediction_p50_us": round(statistics.median(ref_pred_us), 1),
        "add_label_span_p50_us": round(statistics.median(span_us), 1),
        "add_label_span_p99_us": round(_pct(span_us, 0.99), 1),
        "read_records_s": round(read_records_s, 3),
        "read_feature_rows_s": round(read_rows_s, 3),
        "read_label_spans_ms": round(read_spans_ms, 2),
        "retention_s": round(retention_s, 3),
        "compact_rows": compacted,
        "compact_rows_s": round(compact_s, 3),
        "store_size_mb": round(size_mb, 1),
        "load_1m": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=30, help="days of one-minute buckets (default 30)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    figures = run(args.days)
    if args.json:
        print(json.dumps(figures))
    else:
        width = max(len(k) for k in figures)
        print(f"{'figure':<{width}}  value")
        for k, v in figures.items():
            print(f"{k:<{width}}  {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
