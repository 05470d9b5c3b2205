"""The SQLite store (spec 6.1): tables, UNIQUE buckets, label spans, retention, permissions."""

from __future__ import annotations

import math
import os
import sqlite3
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from store_helpers import at, prediction, record, span

from engine.errors import ArtifactError, TaskclfError
from engine.spans import apply_span, check_disjoint
from engine.store import SCHEMA_VERSION, Store, from_us, open_store, to_us


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(tmp_path / "store.sqlite3")
    yield s
    s.close()


def test_new_store_is_owner_only_wal_and_current(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "store.sqlite3"
    with Store.open(path) as s:
        s.put_record(record(0))
        assert s.schema_version() == SCHEMA_VERSION
        assert s.integrity_check() == "ok"
        assert s._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert s._conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
        for f in [path, Path(str(path) + "-wal"), Path(str(path) + "-shm")]:
            if f.exists():
                assert stat.S_IMODE(f.stat().st_mode) == 0o600, f


def test_existing_store_file_is_tightened_to_0600(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    Store.open(path).close()
    os.chmod(path, 0o644)
    Store.open(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_record_round_trip_and_unique_bucket(store: Store) -> None:
    rec = record(0)
    assert store.put_record(rec) is True
    assert store.put_record(rec) is False  # same device + bucket
    assert store.put_record(record(0, keys=99.0)) is False  # not overwritten either
    assert store.put_record(record(0, device="d2")) is True  # another device may have it
    assert store.has_record("d1", at(0)) and not store.has_record("d1", at(1))
    got = list(store.records(device_id="d1"))
    assert len(got) == 1
    assert got[0].to_json() == rec.to_json()
    assert math.isnan(got[0].backspaces)  # unknown counters stay unknown
    assert store.count_records() == 2


def test_records_filter_and_order(store: Store) -> None:
    for m in (5, 1, 3):
        store.put_record(record(m, device="d2"))
        store.put_record(record(m, device="d1"))
    store.put_record(record(2, user="u2"))
    got = [(r.bucket_start, r.device_id) for r in store.records(user_id="u1")]
    assert got == sorted(got) and len(got) == 6
    window = list(store.records(user_id="u1", start=at(1), end=at(5)))
    assert [r.bucket_start for r in window] == [at(1), at(1), at(3), at(3)]
    assert [r.user_id for r in store.records(user_id="u2")] == ["u2"]
    assert [r.bucket_start for r in store.last_records("u1", at(3))] == [at(3), at(3), at(5), at(5)]
    assert store.users() == ["u1", "u2"]


def test_records_stream_in_pages_in_order(store: Store) -> None:
    store.put_records([record(m, device=d) for m in range(0, 1100) for d in ("a", "b")])
    got = [(r.bucket_start, r.device_id) for r in store.records()]
    assert len(got) == 2200 and got == sorted(got) and len(set(got)) == 2200  # > one page


def test_days_are_utc_dates(store: Store) -> None:
    store.put_record(record(0))  # 2026-03-02 09:00 UTC
    store.put_record(record(15 * 60))  # 2026-03-03 00:00 UTC
    store.put_record(record(15 * 60 + 1))
    assert [d.isoformat() for d in store.days("u1")] == ["2026-03-02", "2026-03-03"]
    assert store.days("nobody") == []


def test_invalid_record_is_refused_and_nothing_written(store: Store) -> None:
    bad = record(0)
    object.__setattr__(bad, "observed_seconds", 500.0)
    with pytest.raises(ArtifactError, match="observed_seconds"):
        store.put_record(bad)
    assert store.count_records() == 0


def test_naive_datetime_is_refused(store: Store) -> None:
    with pytest.raises(ArtifactError, match="timezone-aware"):
        store.has_record("d1", datetime(2026, 1, 1))


def test_feature_rows_upsert_and_schema_tags(store: Store) -> None:
    row = {"bucket_start": at(0).isoformat(), "keys_per_min": 10.0, "app_id": "x", "nan": float("nan")}
    store.put_feature_row(user_id="u1", device_id="d1", bucket_start=at(0), session_id="s1",
                          schema_hash="a15f4751a947", feature_builder_version=1, row=row)
    store.put_feature_row(user_id="u1", device_id="d1", bucket_start=at(1), session_id="s1",
                          schema_hash="a15f4751a947", feature_builder_version=1, row={"k": 1})
    got = list(store.feature_rows(user_id="u1"))
    assert [g.get("keys_per_min") for g in got] == [10.0, None]
    assert got[0]["_schema_hash"] == "a15f4751a947" and got[0]["_feature_builder_version"] == 1
    assert math.isnan(got[0]["nan"])
    # upsert: rebuilding a row replaces it
    store.put_feature_row(user_id="u1", device_id="d1", bucket_start=at(0), session_id="s2",
                          schema_hash="other", feature_builder_version=2, row={"k": 2})
    got = list(store.feature_rows(start=at(0), end=at(1)))
    assert got == [{"k": 2, "_schema_hash": "other", "_feature_builder_version": 2}]


def test_predictions_upsert_and_last(store: Store) -> None:
    store.put_prediction("d1", prediction(0, label="Build"))
    store.put_prediction("d1", prediction(1, label="Debug"))
    store.put_prediction("d1", prediction(0, label="Meet"))  # re-run of bucket 0 replaces it
    got = store.predictions(user_id="u1")
    assert [p.core_label for p in got] == ["Meet", "Debug"]
    assert got[1] == prediction(1, label="Debug")
    last = store.last_prediction("u1")
    assert last is not None and last.core_label == "Debug"
    assert store.last_prediction("u2") is None
    assert [p.core_label for p in store.predictions(start=at(1))] == ["Debug"]


def test_label_span_round_trip_keeps_microseconds(store: Store) -> None:
    s = span(0, 10, "Write", prov="correction", confidence=0.42)
    s = type(s)(s.start_ts + timedelta(microseconds=7), s.end_ts, s.label, s.user_id,
                s.provenance, s.confidence, s.created_at)
    stored = store.add_label_span(s)
    assert stored.span_id is not None
    (got,) = store.label_spans(user_id="u1")
    assert got == stored
    assert got.start_ts == s.start_ts and got.confidence == 0.42


def test_label_span_overlap_rule_is_applied_in_the_store(store: Store) -> None:
    a = store.add_label_span(span(0, 60, "Build", created=0))
    store.add_label_span(span(20, 30, "Meet", created=1))  # splits a
    store.add_label_span(span(0, 90, "Debug", prov="rule", created=2))  # machine: fills gaps only
    got = store.label_spans(user_id="u1")
    assert [(s.start_ts, s.end_ts, s.label) for s in got] == [
        (at(0), at(20), "Build"), (at(20), at(30), "Meet"), (at(30), at(60), "Build"),
        (at(60), at(90), "Debug"),
    ]
    assert got[0].span_id == a.span_id
    assert check_disjoint(got) == []
    # window query returns overlapping spans only
    assert [s.label for s in store.label_spans(user_id="u1", start=at(25), end=at(31))] == [
        "Meet", "Build"]


def test_machine_span_hidden_by_humans_is_not_stored(store: Store) -> None:
    store.add_label_span(span(0, 60, "Build", created=0))
    out = store.add_label_span(span(10, 20, "Debug", prov="synthetic", created=5))
    assert out.span_id is None
    assert len(store.label_spans()) == 1
    pieces = store.add_label_span_pieces(span(-10, 70, "Debug", prov="rule", created=5))
    assert [(p.start_ts, p.end_ts) for p in pieces] == [(at(-10), at(0)), (at(60), at(70))]
    assert all(p.span_id for p in pieces)


def test_invalid_span_is_refused(store: Store) -> None:
    with pytest.raises(ArtifactError, match="label"):
        store.add_label_span(span(0, 10, "Coding"))
    with pytest.raises(ArtifactError, match="span 2: end_ts"):
        store.add_label_spans([span(0, 10), span(10, 10)])
    assert store.label_spans() == []


def test_add_label_spans_is_all_or_nothing(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store.add_label_span(span(0, 60, "Build"))
    import engine.store as mod

    calls = {"n": 0}
    real = mod.Store._insert_span

    def flaky(conn: sqlite3.Connection, s):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 3:
            raise sqlite3.OperationalError("disk I/O error")
        return real(conn, s)

    monkeypatch.setattr(mod.Store, "_insert_span", staticmethod(flaky))
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        store.add_label_spans([span(10, 20, "Meet", created=1), span(30, 40, "Debug", created=2)])
    monkeypatch.undo()
    got = store.label_spans()
    assert [(s.start_ts, s.end_ts, s.label) for s in got] == [(at(0), at(60), "Build")]


def test_delete_label_span(store: Store) -> None:
    s = store.add_label_span(span(0, 10))
    assert s.span_id is not None
    assert store.delete_label_span(s.span_id) is True
    assert store.delete_label_span(s.span_id) is False
    assert store.label_spans() == []


def test_feedback_events(store: Store) -> None:
    e1 = store.add_feedback(user_id="u1", kind="correction", shown_label="Build", answer_label="Debug",
                            bucket_start=at(3), block_start=at(0), confidence=0.61, at=at(4))
    e2 = store.add_feedback(user_id="u1", kind="spot_check", shown_label=None, answer_label="Meet",
                            bucket_start=None, block_start=None, confidence=None, at=at(5))
    store.add_feedback(user_id="u2", kind="confirmation", shown_label="Write", answer_label="Write",
                       bucket_start=None, block_start=None, confidence=None, at=at(6))
    got = store.feedback(user_id="u1")
    assert [e.event_id for e in got] == [e1, e2]
    assert got[0].block_start == at(0) and got[0].confidence == 0.61 and got[0].at == at(4)
    assert [e.kind for e in store.feedback(kind="confirmation")] == ["confirmation"]
    assert [e.event_id for e in store.feedback(start=at(5), end=at(6))] == [e2]
    with pytest.raises(ArtifactError, match="kind"):
        store.add_feedback(user_id="u1", kind="", shown_label=None, answer_label=None,
                           bucket_start=None, block_start=None, confidence=None, at=at(1))


def test_state_set_get_delete_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    with Store.open(path) as s:
        assert s.get_state("paused_until") is None
        s.set_state("paused_until", "2026-03-02T10:00:00+00:00")
        s.set_state("paused_until", "forever")
        s.set_state("gone", "x")
        s.set_state("gone", None)
    with Store.open(path, readonly=True) as r:
        assert r.get_state("paused_until") == "forever"
        assert r.get_state("gone") is None




def test_readonly_store_refuses_writes_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    with pytest.raises(ArtifactError, match="store not found"):
        Store.open(path, readonly=True)
    assert not path.exists()
    Store.open(path).close()
    with Store.open(path, readonly=True) as r:
        with pytest.raises(TaskclfError, match="read-only"):
            r.put_record(record(0))
        with pytest.raises(sqlite3.OperationalError, match="readonly database"):
            r._conn.execute("INSERT INTO state VALUES ('k', 'v', 0)")


def test_not_a_database_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(ArtifactError, match=r"store\.sqlite3: not a usable taskclf store"):
        Store.open(path)
    with pytest.raises(ArtifactError, match=r"store\.sqlite3"):
        Store.open(path, readonly=True)


def test_open_store_uses_the_home(home: Path) -> None:
    with open_store(home) as s:
        assert s.path == home / "store.sqlite3"
    with open_store(home, readonly=True) as r:
        assert r.readonly


def test_time_helpers_are_exact() -> None:
    t = datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    assert from_us(to_us(t)) == t
    t2 = datetime(2026, 3, 2, 9, 0, 0, 123_457, tzinfo=UTC)
    assert from_us(to_us(t2)) == t2


def test_label_with_feedback_is_one_transaction(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    pieces, event = store.add_label_with_feedback(
        span(0, 5, "Debug", prov="correction", confidence=0.4), kind="correction",
        shown_label="Build", answer_label="Debug", bucket_start=at(4), block_start=at(0),
        confidence=0.4, at=at(4.5))
    assert [p.label for p in pieces] == ["Debug"] and pieces[0].span_id
    assert [e.event_id for e in store.feedback()] == [event]
    # a failure while writing the event leaves no span either
    import engine.store as mod

    def boom(conn: sqlite3.Connection, values: tuple) -> int:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(mod, "_insert_feedback", boom)
    with pytest.raises(sqlite3.OperationalError, match="full"):
        store.add_label_with_feedback(
            span(10, 15, "Meet", prov="confirmation"), kind="confirmation", shown_label="Meet",
            answer_label="Meet", bucket_start=None, block_start=None, confidence=None, at=at(15))
    assert [s.label for s in store.label_spans()] == ["Debug"]
    assert len(store.feedback()) == 1
    with pytest.raises(ArtifactError, match="kind"):
        store.add_label_with_feedback(span(20, 25), kind=" ", shown_label=None, answer_label=None,
                                      bucket_start=None, block_start=None, confidence=None, at=at(25))


def test_unreadable_rows_are_skipped_and_counted(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    for m in range(3):
        store.put_record(record(m))
        store.put_prediction("d1", prediction(m))
    store._conn.execute("UPDATE records SET data = x'005b315d' WHERE bucket_start = ?",
                        (int(at(1).timestamp()),))  # fewer values than its shape
    store._conn.execute("UPDATE predictions SET data = x'01ffff' WHERE bucket_start = ?",
                        (int(at(2).timestamp()),))  # not deflate
    with caplog.at_level("WARNING", logger="taskclf.store"):
        assert [r.bucket_start for r in store.records()] == [at(0), at(2)]
        assert [p.bucket_start for p in store.predictions()] == [at(0).isoformat(), at(1).isoformat()]
        assert store.last_prediction("u1") is None  # the newest one is the damaged one
    assert store.unreadable_rows == 3
    assert "skipped an unreadable row of records (bucket 2026-03-02T09:01:00+00:00" in caplog.text


_ADD = st.tuples(st.integers(0, 30), st.integers(1, 20), st.sampled_from(["Build", "Meet", "Write"]),
                 st.sampled_from(["manual", "correction", "import", "rule", "synthetic"]),
                 st.integers(0, 10), st.sampled_from(["u1", "u2"]))


_SHARED: dict[str, object] = {}


def _shared_store() -> Store:
    """One store for all examples (opening one per example costs several fsyncs)."""
    import tempfile

    if "store" not in _SHARED:
        _SHARED["dir"] = tempfile.TemporaryDirectory()
        _SHARED["store"] = Store.open(Path(_SHARED["dir"].name) / "s.sqlite3")  # type: ignore[attr-defined]
        _SHARED["n"] = 0
    _SHARED["n"] = int(_SHARED["n"]) + 1  # type: ignore[call-overload]
    return _SHARED["store"]  # type: ignore[return-value]


@given(st.lists(_ADD, min_size=1, max_size=12), st.integers(0, 3))
def test_property_store_matches_the_pure_overlap_rule(adds: list, one_by_one: int) -> None:
    store = _shared_store()
    run = f"run{_SHARED['n']}-"  # fresh users for every example
    new = [span(a, a + n, label, prov=prov, created=c, user=run + u) for a, n, label, prov, c, u in adds]
    model: list = []
    for s in new:
        model = apply_span(model, s)
    split = max(0, len(new) - one_by_one)
    store.add_label_spans(new[:split])  # one transaction for the first part
    for s in new[split:]:  # then one by one
        store.add_label_span(s)
    got = [s for u in (run + "u1", run + "u2") for s in store.label_spans(user_id=u)]
    ids = [s.span_id for s in got]

    def key(s):  # type: ignore[no-untyped-def]
        return (s.user_id, s.start_ts, s.end_ts, s.label, s.provenance, s.created_at)

    assert [key(s) for s in got] == [key(s) for s in model]
    assert len(set(ids)) == len(ids) and None not in ids


def test_put_feature_rows_with_the_real_builder(store: Store) -> None:
    from engine.features import FeatureBuilder

    builder = FeatureBuilder()
    rows = [r for r in (builder.push(record(m)) for m in range(5)) if r is not None]
    assert len(rows) == 5
    assert store.put_feature_rows(rows) == 5
    assert store.put_feature_rows(rows[:2]) == 2  # upsert, no duplicates
    got = list(store.feature_rows(user_id="u1"))
    assert len(got) == 5
    assert [g["_schema_hash"] for g in got] == [rows[0].schema_hash] * 5
    assert [g["_feature_builder_version"] for g in got] == [rows[0].feature_builder_version] * 5
    assert {k: v for k, v in got[3].items() if not k.startswith("_")} == rows[3].to_json()


def test_a_directory_in_the_way_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    path.mkdir()
    for ro in (False, True):
        with pytest.raises(ArtifactError, match=r"store\.sqlite3: (cannot|not a usable)"):
            Store.open(path, readonly=ro)
    blocked = tmp_path / "file"
    blocked.write_text("x")
    with pytest.raises(ArtifactError, match="cannot create the store"):
        Store.open(blocked / "store.sqlite3")  # parent is a file


def test_checkpoint_folds_the_wal_back(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    with Store.open(path) as s:
        s.put_records([record(m) for m in range(200)])
        wal = Path(str(path) + "-wal")
        assert wal.stat().st_size > 0
        s.checkpoint()
        assert wal.stat().st_size == 0
        assert s.count_records() == 200


def test_users_and_span_windows(store: Store) -> None:
    store.put_record(record(0, user="b"))
    store.add_label_span(span(0, 10, user="a"))
    store.put_feature_row(user_id="c", device_id="d1", bucket_start=at(5), session_id=None,
                          schema_hash="h", feature_builder_version=1, row={})
    assert store.users() == ["a", "b", "c"]
    # a window touching a span's end (exclusive) or start does not include it
    assert store.label_spans(start=at(10), end=at(20)) == []
    assert store.label_spans(start=at(-5), end=at(0)) == []
    assert len(store.label_spans(start=at(9.99), end=at(20))) == 1
    assert store.label_spans(user_id="b") == []
