"""Forgetting in the store: what goes, what stays, and that no byte of it survives a scrub."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from engine.activity import Segment
from engine.paths import store_path
from engine.store import Store
from tests.store_helpers import at, prediction, readable, record, span

SECRET_APP = "unknown.zqxsecretapp"
SECRET_HASH = "5ec7e75ec7e75ec7"


def _secret_record(minute: int) -> object:
    rec = record(minute)
    seg = Segment(0.0, 60.0, SECRET_APP, "other", False, False, False, SECRET_HASH, "non_browser")
    return dataclasses.replace(rec, segments=(seg,))


def _fill(store: Store, minutes: range) -> None:
    for m in minutes:
        store.put_record(record(m))
        store.put_prediction("d1", prediction(m))
        store.put_feature_row(user_id="u1", device_id="d1", bucket_start=at(m), session_id="s1",
                              schema_hash="h", feature_builder_version=1, row={"app_id": "x"})


def _all_bytes(home: Path) -> bytes:
    return b"".join(readable(p.read_bytes()) for p in sorted(home.rglob("*")) if p.is_file())


def test_forget_between_removes_rows_and_cuts_spans_at_the_window(home: Path) -> None:
    with Store.open(store_path(home)) as store:
        _fill(store, range(0, 120))
        store.add_label_span(span(30, 90, "Write"))  # crosses the window's start
        store.add_label_span(span(100, 110, "Debug"))  # inside: goes
        store.add_feedback(user_id="u1", kind="correction", shown_label="Build", answer_label="Write",
                           bucket_start=at(100), block_start=at(95), confidence=0.7, at=at(100))
        store.add_feedback(user_id="u1", kind="correction", shown_label="Build", answer_label="Write",
                           bucket_start=at(10), block_start=at(5), confidence=0.7, at=at(10))
        counts = store.forget_between(at(60))
        assert counts["records"] == 60 and counts["predictions"] == 60 and counts["feature_rows"] == 60
        assert [r.bucket_start for r in store.records()][-1] == at(59)
        assert len(store.predictions()) == 60
        assert len(list(store.feature_rows())) == 60
        spans = store.label_spans()
        assert [(s.start_ts, s.end_ts, s.label) for s in spans] == [(at(30), at(60), "Write")]
        assert [e.at for e in store.feedback()] == [at(10)]


def test_forget_between_with_an_end_keeps_both_sides_of_a_span(home: Path) -> None:
    with Store.open(store_path(home)) as store:
        _fill(store, range(0, 30))
        store.add_label_span(span(0, 30, "Meet"))
        store.forget_between(at(10), at(20))
        assert [(s.start_ts, s.end_ts) for s in store.label_spans()] == [(at(0), at(10)), (at(20), at(30))]
        kept = [r.bucket_start for r in store.records()]
        assert kept == [at(m) for m in (*range(10), *range(20, 30))]


@given(st.integers(0, 40), st.integers(1, 40), st.integers(0, 40), st.integers(1, 40))
def test_property_forgetting_removes_exactly_the_window_of_every_span(a: int, la: int, w: int, lw: int) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d, Store.open(Path(d) / "s.sqlite3") as store:
        store.add_label_span(span(a, a + la))
        store.forget_between(at(w), at(w + lw))
        covered = {m for s in store.label_spans()
                   for m in range(int((s.start_ts - at(0)) / timedelta(minutes=1)),
                                  int((s.end_ts - at(0)) / timedelta(minutes=1)))}
        assert covered == set(range(a, a + la)) - set(range(w, w + lw))


def test_forget_app_buckets_and_scrub_leave_no_byte_of_the_app(home: Path) -> None:
    with Store.open(store_path(home)) as store:
        _fill(store, range(0, 30))
        for m in range(30, 40):
            store.put_record(_secret_record(m))  # type: ignore[arg-type]
        assert SECRET_APP.encode() in _all_bytes(home)
        buckets = store.buckets_with_app(SECRET_APP)
        assert [b for _, b in buckets] == [at(m) for m in range(30, 40)]
        counts = store.forget_buckets(buckets)
        assert counts["records"] == 10
        assert store.scrub() is True
        assert store.count_records() == 30
    data = _all_bytes(home)
    assert SECRET_APP.encode() not in data and b"zqxsecretapp" not in data
    assert SECRET_HASH.encode() not in data


def test_without_a_scrub_deleted_bytes_can_stay_in_the_files(home: Path) -> None:
    """Why scrub exists: SQLite leaves deleted rows in free pages and the WAL."""
    with Store.open(store_path(home)) as store:
        for m in range(0, 10):
            store.put_record(_secret_record(m))  # type: ignore[arg-type]
        store.forget_buckets(store.buckets_with_app(SECRET_APP))
        assert SECRET_HASH.encode() in _all_bytes(home)
        assert store.scrub() is True
    assert SECRET_HASH.encode() not in _all_bytes(home)


def test_scrub_reports_a_reader_holding_the_journal(home: Path) -> None:
    with Store.open(store_path(home)) as store:
        _fill(store, range(0, 5))
        reader = Store.open(store_path(home), readonly=True)
        try:
            reader._conn.execute("BEGIN")
            reader._conn.execute("SELECT COUNT(*) FROM records").fetchall()  # holds a snapshot
            store.forget_between(at(0))
            store._conn.execute("PRAGMA busy_timeout = 50")
            assert store.scrub() is False
        finally:
            reader._conn.execute("ROLLBACK")
            reader.close()
        store._conn.execute("PRAGMA busy_timeout = 5000")
        assert store.scrub() is True


def test_forget_since_drops_queued_labels_and_day_pages_of_the_window(home: Path) -> None:
    import json

    from agent.forget import forget_since

    queue = home / "pending_labels"
    queue.mkdir()
    for name, end in (("old.json", at(30)), ("new.json", at(70))):
        (queue / name).write_text(json.dumps({"span": {"end_ts": end.isoformat()}}))
    (queue / "broken.json").write_text("{")
    days = home / "artifacts" / "days"
    days.mkdir(parents=True)
    for name in ("2026-03-02.html", "2026-03-02.png", "week-2026-03-02.html", "2026-01-01.html",
                 "notes.txt"):
        (days / name).write_text("x")
    with Store.open(store_path(home)) as store:
        _fill(store, range(0, 90))
        done = forget_since(home, store, at(60))
    assert done.buckets == 30 and done.scrubbed
    assert sorted(p.name for p in queue.iterdir()) == ["old.json"]
    assert sorted(p.name for p in days.iterdir()) == ["2026-01-01.html", "notes.txt"]
    assert done.files == 5
