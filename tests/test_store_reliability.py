"""Store reliability: forward migrations, kills mid-transaction, readers beside the writer."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from store_helpers import at, record, span

from engine.errors import ArtifactError
from engine.spans import check_disjoint
from engine.store import MIGRATIONS, SCHEMA_VERSION, Store, migrate

ROOT = Path(__file__).resolve().parent.parent


# --- migrations --------------------------------------------------------------------------------


def _make_v1_store(path: Path) -> None:
    """A store exactly as version 1 of the schema left it, with data in it."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    assert migrate(conn, target=1) == 1
    rec = record(0)
    conn.execute("INSERT INTO records (user_id, device_id, bucket_start, record) VALUES (?, ?, ?, ?)",
                 (rec.user_id, rec.device_id, int(rec.bucket_start.timestamp()), json.dumps(rec.to_json())))
    conn.execute("INSERT INTO feature_rows (device_id, bucket_start, user_id, schema_hash,"
                 " feature_builder_version, row) VALUES ('d1', ?, 'u1', 'h', 1, '{\"k\": 1}')",
                 (int(rec.bucket_start.timestamp()),))
    conn.execute("INSERT INTO label_spans (user_id, start_us, end_us, label, provenance, confidence,"
                 " created_us) VALUES ('u1', ?, ?, 'Build', 'manual', NULL, 5)",
                 (int(at(0).timestamp()) * 10**6, int(at(10).timestamp()) * 10**6))
    cols = {r[1] for r in conn.execute("PRAGMA table_info(feature_rows)")}
    assert "session_id" not in cols
    conn.close()


def test_old_store_is_migrated_forward_keeping_its_data(tmp_path: Path) -> None:
    assert SCHEMA_VERSION == len(MIGRATIONS) >= 2
    path = tmp_path / "store.sqlite3"
    _make_v1_store(path)
    with pytest.raises(ArtifactError, match="older than"):
        Store.open(path, readonly=True)  # a reader cannot upgrade it
    with Store.open(path) as s:
        assert s.schema_version() == SCHEMA_VERSION
        assert [r.to_json() for r in s.records()] == [record(0).to_json()]
        assert list(s.feature_rows()) == [{"k": 1, "_schema_hash": "h", "_feature_builder_version": 1}]
        (old_span,) = s.label_spans()
        assert old_span.label == "Build" and old_span.end_ts == at(10)
        # the tables and columns of version 2 work
        s.set_state("k", "v")
        s.add_feedback(user_id="u1", kind="confirmation", shown_label="Build", answer_label="Build",
                       bucket_start=None, block_start=None, confidence=None, at=at(1))
        s.put_feature_row(user_id="u1", device_id="d1", bucket_start=at(1), session_id="s9",
                          schema_hash="h", feature_builder_version=1, row={"k": 2})
        versions = [r[0] for r in s._conn.execute("SELECT version FROM schema_version ORDER BY 1")]
        assert versions == list(range(1, SCHEMA_VERSION + 1))
        assert s.integrity_check() == "ok"
    with Store.open(path, readonly=True) as r:  # now readers are fine
        assert r.get_state("k") == "v"


def test_store_from_a_newer_taskclf_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    Store.open(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("INSERT INTO schema_version VALUES (?, 0)", (SCHEMA_VERSION + 1,))
    conn.close()
    for ro in (False, True):
        with pytest.raises(ArtifactError, match="newer taskclf"):
            Store.open(path, readonly=ro)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION + 1
    conn.close()


def test_failed_migration_rolls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "store.sqlite3"
    _make_v1_store(path)
    import engine.store_schema as mod

    broken = (MIGRATIONS[0], (*MIGRATIONS[1][:2], "CREATE TABLE oops (x"))
    monkeypatch.setattr(mod, "MIGRATIONS", broken)
    with pytest.raises(ArtifactError, match="store.sqlite3"):
        Store.open(path)
    monkeypatch.undo()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == 1
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "feedback_events" not in tables  # nothing of the half-run migration remains
    conn.close()
    with Store.open(path) as s:  # and the real migration still works afterwards
        assert s.schema_version() == SCHEMA_VERSION


# --- kills ---------------------------------------------------------------------------------------

_CHILD = r"""
import os, signal, sys
sys.path.insert(0, {tests!r})
from store_helpers import record, span
from engine.store import Store
path, mode = sys.argv[1], sys.argv[2]
s = Store.open(__import__("pathlib").Path(path))
if mode == "mid-transaction":
    conn = s._conn
    conn.execute("BEGIN IMMEDIATE")
    src = conn.execute("INSERT INTO sources (user_id, device_id) VALUES ('u9', 'dx')").lastrowid
    for m in range(500):
        conn.execute("INSERT INTO records (src, bucket_start, seconds, shape, data) VALUES (?, ?, 60, 1, x'00')", (src, m))
    conn.execute("UPDATE label_spans SET label = 'Meet'")
    os.kill(os.getpid(), signal.SIGKILL)
i = int(sys.argv[3])
while True:
    s.put_record(record(i))
    sp = s.add_label_span(span(i, i + 1.5, "Debug" if i % 2 else "Write", created=i))
    print(i, flush=True)  # only after both commits returned
    i += 1
"""


def _child(path: Path, mode: str, start: int = 0) -> subprocess.Popen[str]:
    code = _CHILD.format(tests=str(ROOT / "tests"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", code, str(path), mode, str(start)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_kill_in_the_middle_of_a_transaction_leaves_nothing_of_it(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    with Store.open(path) as s:
        s.add_label_span(span(0, 10, "Build"))
    p = _child(path, "mid-transaction")
    p.wait(timeout=30)
    assert p.returncode == -signal.SIGKILL, p.stderr.read() if p.stderr else ""
    with Store.open(path) as s:
        assert s.integrity_check() == "ok"
        assert s.count_records() == 0
        assert [x.label for x in s.label_spans()] == ["Build"]
        assert s.put_record(record(1)) is True  # the dead writer's lock is gone


@pytest.mark.slow
def test_kill_during_a_stream_of_writes_loses_nothing_committed(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    Store.open(path).close()
    confirmed: list[int] = []
    start = 0
    rng = random.Random(7)
    for _cycle in range(6):
        p = _child(path, "loop", start)
        assert p.stdout is not None
        first = p.stdout.readline()  # wait until it writes (start-up time varies with load)
        assert first, p.stderr.read() if p.stderr else ""
        confirmed.append(int(first))
        time.sleep(rng.uniform(0.0, 0.08))  # then kill it at a random moment of its writes
        p.send_signal(signal.SIGKILL)
        out, _ = p.communicate(timeout=30)
        confirmed.extend(int(x) for x in out.split())
        with Store.open(path) as s:
            assert s.integrity_check() == "ok"
            have = {r.bucket_start for r in s.records()}
            spans = s.label_spans(user_id="u1")
            assert check_disjoint(spans) == []
            for i in confirmed:
                assert at(i) in have
                hit = [x for x in spans if x.start_ts <= at(i) < x.end_ts]
                assert len(hit) == 1 and hit[0].created_at == at(10_000 + i)
            start = max(confirmed, default=start) + 2
    assert len(confirmed) >= 6


# --- readers beside the writer ---------------------------------------------------------------------


def test_reader_snapshot_does_not_block_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    with Store.open(path) as w, Store.open(path, readonly=True, busy_timeout_ms=100) as r:
        w.put_record(record(0))
        r._conn.execute("BEGIN")
        assert r._conn.execute("SELECT COUNT(*) FROM records").fetchone()[0] == 1
        t0 = time.monotonic()
        assert w.put_record(record(1))
        assert w.add_label_span(span(0, 1)).span_id is not None
        assert time.monotonic() - t0 < 3.0  # a blocked writer would wait its 5 s busy timeout
        # the reader keeps its consistent snapshot until it ends its transaction
        assert r._conn.execute("SELECT COUNT(*) FROM records").fetchone()[0] == 1
        r._conn.execute("COMMIT")
        assert r.count_records() == 2


def test_readers_in_threads_while_the_writer_writes(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    n = 300
    errors: list[BaseException] = []
    done = threading.Event()
    worst_write = [0.0]

    def writer() -> None:
        try:
            with Store.open(path) as w:
                for m in range(n):
                    t0 = time.monotonic()
                    w.put_record(record(m))
                    if m % 10 == 0:
                        w.add_label_span(span(m, m + 5, "Review", created=m))
                    worst_write[0] = max(worst_write[0], time.monotonic() - t0)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            done.set()

    def reader() -> None:
        try:
            while not path.exists():
                time.sleep(0.001)
            seen = 0
            while not done.is_set():
                try:
                    r = Store.open(path, readonly=True)
                except ArtifactError:  # created but not yet migrated by the writer
                    time.sleep(0.005)
                    continue
                with r:
                    got = len(list(r.records(user_id="u1")))
                    assert got >= seen
                    seen = got
                    assert check_disjoint(r.label_spans()) == []
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert worst_write[0] < 4.0  # never stuck behind a reader (busy timeout is 5 s)
    with Store.open(path, readonly=True) as r:
        assert r.count_records() == n


def test_one_store_object_shared_by_threads_is_serialised(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    with Store.open(path) as s:
        def work(dev: str) -> None:
            for m in range(100):
                s.put_record(record(m, device=dev))
                s.add_label_span(span(m, m + 2, created=m, user=dev))
        threads = [threading.Thread(target=work, args=(f"d{i}",)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert s.count_records() == 300
        assert check_disjoint(s.label_spans()) == []
        assert s.integrity_check() == "ok"


# --- damaged files ---------------------------------------------------------------------------------

_GOOD: dict[str, bytes] = {}


def _good_store_bytes() -> bytes:
    if "b" not in _GOOD:
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "store.sqlite3"
            with Store.open(path) as s:
                s.put_records([record(m) for m in range(150)])
                for m in range(0, 150, 10):
                    s.add_label_span(span(m, m + 7, "Write", created=m))
                s.set_state("paused_until", "never")
                s.checkpoint()
            _GOOD["b"] = path.read_bytes()
    return _GOOD["b"]


@pytest.mark.slow
@given(
    st.one_of(
        st.tuples(st.just("truncate"), st.integers(0, 200_000), st.just(b"")),
        st.tuples(st.just("overwrite"), st.integers(0, 200_000), st.binary(min_size=1, max_size=64)),
    )
)
def test_property_a_damaged_store_gives_a_clear_error_never_a_crash(mutation: tuple) -> None:
    import tempfile

    kind, offset, data = mutation
    good = _good_store_bytes()
    offset %= len(good)
    bad = good[:offset] if kind == "truncate" else good[:offset] + data + good[offset + len(data):]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "store.sqlite3"
        path.write_bytes(bad)
        for ro in (True, False):
            try:
                with Store.open(path, readonly=ro) as s:
                    assert isinstance(s.integrity_check(), str)
                    list(s.records())
                    s.label_spans()
                    s.get_state("paused_until")
                    s.count_records()
                    if not ro:
                        try:
                            s.put_record(record(500))
                            s.add_label_span(span(500, 501))
                        except sqlite3.OperationalError as exc:
                            # a write refused at run time (here: a header that makes SQLite
                            # open the file read-only) is the documented write failure
                            assert "readonly" in str(exc) or "locked" in str(exc), exc
            except ArtifactError as exc:
                assert "\n" not in str(exc) and str(path) in str(exc)


@pytest.mark.parametrize("table, column", [
    ("label_spans", "start_us = 4611686018427387904, end_us = 4611686018427387905"),
    ("feedback_events", "at_us = 4611686018427387904"),
])
def test_an_out_of_range_time_in_a_damaged_row_is_one_clear_line(
    tmp_path: Path, table: str, column: str
) -> None:  # column: the SET clause writing 2**62 microseconds
    """A damaged page can hold any integer; decoding 2**62 microseconds as a date overflows.
    Found by the damaged-store property test: it must read as a damaged store, not a crash."""
    path = tmp_path / "store.sqlite3"
    with Store.open(path) as s:
        s.add_label_span(span(500, 501))
        s.add_feedback(user_id="u1", kind="confirm", shown_label="Build", answer_label="Build",
                       bucket_start=at(500), block_start=None, confidence=0.9, at=at(500))
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(f"UPDATE {table} SET {column}")
    conn.close()
    with Store.open(path) as s:
        read = s.label_spans if table == "label_spans" else s.feedback
        with pytest.raises(ArtifactError, match=r"store\.sqlite3.*the store is damaged"):
            read()


def test_a_damaged_trigger_is_reported_as_damage_not_a_run_time_failure(tmp_path: Path) -> None:
    """A trigger whose text was overwritten fails every write with "no such column": that is a
    damaged file (one clear line), not the busy or read-only failure the agent retries."""
    path = tmp_path / "store.sqlite3"
    with Store.open(path) as s:
        s.put_record(record(0))
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute("UPDATE sqlite_master SET sql = replace(sql, ' a.src', ' Aa.src')"
                 " WHERE name = 'records_once_per_device'")
    conn.close()
    with Store.open(path) as s, pytest.raises(ArtifactError, match=r"damaged \(no such column: Aa.src\)"):
        s.put_record(record(1))
