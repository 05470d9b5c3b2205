"""Each closed bucket is stored and predicted exactly once, whatever happens: a failure
between the record and its prediction, buckets a crash left unpredicted, a clock set back, a
full disk, a kill in the middle of writing a label. The runtime is driven by a manual clock."""

from __future__ import annotations

import logging
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.clock import ManualClock
from agent.runtime import AgentRuntime
from engine.activity import ActivityRecord
from engine.paths import store_path
from engine.store import Store
from tests.agent_helpers import FakeBackend, manual_runtime, run_for, start_manual

T0 = datetime(2026, 3, 2, 9, 0, 10, tzinfo=UTC)


def _read(home: Path) -> tuple[list[datetime], set[str], list[datetime]]:
    with Store.open(store_path(home), readonly=True) as st:
        recs = [r.bucket_start for r in st.records()]
        preds = {p.bucket_start for p in st.predictions()}
    return recs, preds, [r for r in recs if r.isoformat() not in preds]


def test_record_and_prediction_are_written_together(home: Path) -> None:
    """A prediction that cannot be written leaves no record behind (one transaction)."""
    clock = ManualClock(T0)
    rt = manual_runtime(home, clock)
    start_manual(rt)
    try:
        run_for(rt, clock, 60)  # bucket 09:00 closes
        con = sqlite3.connect(store_path(home))
        bad = int((T0 + timedelta(seconds=110)).timestamp()) // 60 * 60
        con.execute(f"CREATE TRIGGER refuse BEFORE INSERT ON predictions WHEN NEW.bucket_start = "
                    f"{bad} BEGIN SELECT RAISE(ABORT, 'prediction refused'); END")
        con.commit()
        con.close()
        run_for(rt, clock, 120)  # 09:01 (refused) and 09:02 close
    finally:
        rt.stop()
    recs, preds, missing = _read(home)
    assert missing == []
    assert {r.isoformat() for r in recs} == preds
    assert datetime.fromtimestamp(bad, UTC) not in recs
    assert len(recs) == 3  # 09:00, 09:02 and the partial 09:03 finalised at stop


def _records(user: str, device: str, start: datetime, n: int) -> list[ActivityRecord]:
    return [ActivityRecord(user_id=user, device_id=device, bucket_start=start + timedelta(minutes=i),
                           observed_seconds=60.0, utc_offset_minutes=0, active_seconds_any=50.0)
            for i in range(n)]


def test_start_predicts_every_stored_unpredicted_bucket(home: Path) -> None:
    clock = ManualClock(T0)
    rt = manual_runtime(home, clock)
    rt.start()
    rt.stop()
    user, device = rt.user_id, rt.device_id
    old = _records(user, device, datetime(2026, 2, 20, 14, tzinfo=UTC), 5)  # days ago
    today = _records(user, device, datetime(2026, 3, 2, 8, 30, tzinfo=UTC), 20)
    with Store.open(store_path(home)) as st:
        st.put_records(old + today)
    rt2 = manual_runtime(home, clock)
    start_manual(rt2)
    rt2.stop()
    assert _read(home)[2] == []
    with Store.open(store_path(home), readonly=True) as st:
        preds = st.predictions(user_id=user)
        rows = list(st.feature_rows(user_id=user))
    assert [p.bucket_start for p in preds] == [r.bucket_start.isoformat() for r in old + today]
    assert len(rows) == 25
    # the catch-up continues each session: the 20 buckets of today form one session
    assert len({p.session_id for p in preds[5:]}) == 1


def test_bucket_open_while_the_clock_is_set_back_is_predicted(home: Path) -> None:
    # near the real time, so the bucket open at the jump starts after the real clock too
    now = time.time()
    clock = ManualClock(now // 60 * 60 - 30)
    rt = manual_runtime(home, clock)
    start_manual(rt)
    try:
        run_for(rt, clock, 100)
        open_start = clock.time() // 60 * 60
        clock.set_wall(clock.time() - 3600)  # the clock is set back an hour
        run_for(rt, clock, 5)
        assert rt.snapshot().last is not None
        assert rt.snapshot().last.bucket_start == datetime.fromtimestamp(open_start, UTC).isoformat()
    finally:
        rt.stop()
    recs, preds, missing = _read(home)
    assert datetime.fromtimestamp(open_start, UTC) in recs
    assert missing == []
    assert {r.isoformat() for r in recs} == preds


class _FullDisk(Store):
    """A store on a disk that is full while ``full`` is set (SQLITE_FULL on every write)."""

    full = False

    def _write(self, fn: Any, *, durable: bool = False) -> Any:
        if _FullDisk.full:
            raise sqlite3.OperationalError("database or disk is full")
        return super()._write(fn, durable=durable)


class _FullDiskRuntime(AgentRuntime):
    def _open_store(self) -> Store:
        return _FullDisk.open(store_path(self.home), busy_timeout_ms=2000)


def test_buckets_closed_on_a_full_disk_are_saved_when_space_returns(
        home: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock(T0)
    rt = _FullDiskRuntime(home, backend=FakeBackend(), clock=clock, bucket_seconds=60,
                          sample_seconds=1.0, watch_interval=0.2, retry_seconds=0.5,
                          sampler_thread=False)
    start_manual(rt)
    _FullDisk.full = False
    caplog.set_level(logging.INFO, logger="taskclf")
    try:
        run_for(rt, clock, 60)
        _FullDisk.full = True
        run_for(rt, clock, 7 * 60)  # seven buckets close on a full disk
        assert "disk is full" in (rt.snapshot().store_error or "")
        res = rt.label_last(5, "Write")
        assert res.ok and not res.saved and "disk is full" in res.message
        _FullDisk.full = False
        run_for(rt, clock, 60)
        assert rt.snapshot().store_error is None
    finally:
        _FullDisk.full = False
        rt.stop()
    recs, preds, missing = _read(home)
    assert len(recs) == 10  # 1 + 7 + 1 closed + the partial one finalised at stop
    assert missing == [] and len(preds) == 10
    with Store.open(store_path(home), readonly=True) as st:
        assert [s.label for s in st.label_spans()] == ["Write"]
    full = [r for r in caplog.records if "disk is full" in r.getMessage()]
    assert len(full) == 1, [r.getMessage() for r in full]
    assert not any(r.exc_info for r in caplog.records)


def test_label_waits_in_memory_when_the_disk_is_full(home: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    import agent.writer
    from agent.writer import LabelQueue

    def no_space(path: Path, data: bytes, *, mode: int = 0o644) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    q = LabelQueue(home, memory_limit=2)
    monkeypatch.setattr(agent.writer, "atomic_write_bytes", no_space)
    a, b = q.put({"n": 1}), q.put({"n": 2})
    assert a is not None and b is not None
    assert q.put({"n": 3}) is None  # bounded
    assert len(q) == 2 and [item["n"] for _, item in q.pending()] == [1, 2]
    q.done(a)
    assert [item["n"] for _, item in q.pending()] == [2]


def test_partial_label_files_left_by_a_kill_are_removed_at_start(home: Path) -> None:
    pending = home / "pending_labels"
    pending.mkdir(mode=0o700)
    partial = pending / ".00000000000000000001-abcd.json.x1y2.tmp"
    partial.write_bytes(b'{"span": {"start_ts": "2026-')
    clock = ManualClock(T0)
    rt = manual_runtime(home, clock)
    start_manual(rt)
    rt.stop()
    assert not partial.exists()
    assert list(pending.iterdir()) == []
