"""The agent loop (spec 6.2) with a scripted sampler: buckets stored and predicted exactly once,
labels from the menu, pause across restarts, failing samplers, an unusable data folder."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.bucket_processor import BucketProcessor
from agent.clock import ManualClock
from agent.runtime import AgentRuntime
from agent.sampler import Sample
from engine.activity import ActivityRecord
from engine.paths import store_path
from engine.store import Store
from tests.agent_helpers import (
    FakeBackend,
    editor_sample,
    last_field,
    make_runtime,
    manual_runtime,
    run_for,
    start_manual,
    wait_for,
)
from tests.store_helpers import readable


def _store(home: Path) -> Store:
    return Store.open(store_path(home), readonly=True)


T0 = datetime(2026, 3, 2, 9, 0, 10, tzinfo=UTC)


def _manual(home: Path, backend: FakeBackend | None = None, **kw: Any) -> tuple[AgentRuntime, ManualClock]:
    clock = ManualClock(kw.pop("at", T0))
    rt = manual_runtime(home, clock, backend, **kw)
    start_manual(rt)
    return rt, clock


def _records(home: Path) -> list[ActivityRecord]:
    with _store(home) as st:
        return list(st.records())


def test_each_closed_bucket_is_stored_built_and_predicted_once(home: Path) -> None:
    rt, clock = _manual(home)
    seen: list[int] = []
    rt.subscribe(lambda s: seen.append(s.version))
    run_for(rt, clock, 200)  # 09:00:10 -> 09:03:30: three buckets close
    assert len(_records(home)) == 3
    rt.stop()  # ... and the open one is finalised as a partial bucket
    st = _store(home)
    recs = list(st.records())
    preds = st.predictions()
    rows = list(st.feature_rows())
    st.close()
    assert [r.bucket_start for r in recs] == [T0.replace(second=0) + timedelta(minutes=m)
                                              for m in range(4)]
    # the first tick only sets the reference: 09:00:11 -> 09:01:00 is observed
    assert [r.observed_seconds for r in recs] == [49.0, 60.0, 60.0, 30.0]
    assert [p.bucket_start for p in preds] == [r.bucket_start.isoformat() for r in recs]
    assert len(rows) == len(recs)
    assert all(r.segments and r.segments[0].app_id == "com.microsoft.VSCode" for r in recs)
    assert all(r.sources == ("fake",) for r in recs)
    snap = rt.snapshot()
    assert snap.last is not None and snap.last.model_id == "rules"
    assert snap.model.kind == "rules"
    assert snap.sampler_backend == "fake"
    assert snap.last_app_category == "editor"
    assert seen and seen == sorted(seen)
    # identity + title key were created with owner-only permissions
    assert (home / "identity.json").stat().st_mode & 0o777 == 0o600
    assert (home / "title.key").stat().st_mode & 0o777 == 0o600


def test_raw_title_never_reaches_the_store(home: Path) -> None:
    secret = "SECRET-PROJECT-ZEBRA quarterly numbers"
    rt, clock = _manual(home, FakeBackend(lambda n: editor_sample(title=secret)))
    run_for(rt, clock, 150)
    rt.stop()
    assert len(_records(home)) == 3
    for f in home.rglob("*"):
        if f.is_file():
            data = readable(f.read_bytes())
            assert b"ZEBRA" not in data, f
            assert "ZEBRA".encode("utf-16-le") not in data, f


def test_restart_in_the_same_bucket_does_not_predict_twice(home: Path) -> None:
    rt, clock = _manual(home)
    run_for(rt, clock, 20)
    rt.stop()  # stop finalises the open bucket (09:00) as a partial one
    assert [r.bucket_start for r in _records(home)] == [T0.replace(second=0)]
    clock.advance(5)
    rt2 = manual_runtime(home, clock)
    start_manual(rt2)
    run_for(rt2, clock, 20)  # still 09:00: sampling waits for the next boundary
    rt2.stop()
    assert len(_records(home)) == 1
    rt3 = manual_runtime(home, clock)
    start_manual(rt3)
    run_for(rt3, clock, 60)  # to 09:01:55; 09:01 closes at stop
    rt3.stop()
    st = _store(home)
    recs = list(st.records())
    preds = st.predictions()
    st.close()
    assert [r.bucket_start.minute for r in recs] == [0, 1]
    assert [p.bucket_start for p in preds] == [r.bucket_start.isoformat() for r in recs]


def test_restart_rebuilds_todays_blocks(home: Path) -> None:
    rt, clock = _manual(home)
    run_for(rt, clock, 150)
    rt.stop()
    blocks_before = rt.snapshot().today_blocks
    assert blocks_before
    rt2 = manual_runtime(home, clock)
    rt2.start()  # the placeholder engine rebuilds them already, before the first model
    try:
        snap = rt2.snapshot()
        assert snap.today_blocks, "blocks are rebuilt from the store at start"
        assert snap.today_blocks[0].start == blocks_before[0].start
        assert snap.today_blocks[-1].end == blocks_before[-1].end
    finally:
        rt2.stop()


def test_pause_is_remembered_across_restarts_and_stops_storing(home: Path) -> None:
    rt, clock = _manual(home)
    try:
        run_for(rt, clock, 70)
        rt.pause(None)
        assert rt.snapshot().paused_until == "forever"
        run_for(rt, clock, 1)  # the pause closes the open bucket
        n = len(_records(home))
        assert n == 2
        run_for(rt, clock, 300)
        assert len(_records(home)) == n, "nothing is stored while paused"
    finally:
        rt.stop()
    assert len(_records(home)) == n
    rt2 = manual_runtime(home, clock)
    start_manual(rt2)
    try:
        assert rt2.snapshot().paused_until == "forever"
        rt2.resume()
        assert rt2.snapshot().paused_until is None
        rt2.sync()
    finally:
        rt2.stop()
    rt3 = manual_runtime(home, clock)
    start_manual(rt3)
    try:
        assert rt3.snapshot().paused_until is None
    finally:
        rt3.stop()


def test_timed_pause_ends_by_itself(home: Path) -> None:
    rt, clock = _manual(home)
    try:
        rt.pause(30)
        run_for(rt, clock, 29)
        assert rt.snapshot().paused
        run_for(rt, clock, 2)
        assert not rt.snapshot().paused
        run_for(rt, clock, 120)
        assert _records(home), "sampling resumed"
    finally:
        rt.stop()


def _wait_block(rt: AgentRuntime) -> int:
    snap = wait_for(lambda: rt.snapshot() if rt.snapshot().current_block else None)
    assert snap.current_block is not None
    return snap.current_block.block_id


def test_confirm_correct_label_last_and_prompt_write_spans_and_feedback(home: Path) -> None:
    rt, clock = _manual(home)
    try:
        run_for(rt, clock, 65)
        bid = _wait_block(rt)
        block = rt.snapshot().current_block
        assert block is not None
        res = rt.confirm(bid)  # what the rules said
        assert res.ok and res.saved, res
        again = rt.confirm(bid)  # a double click
        assert again.ok
        res = rt.correct(bid, "Debug")
        assert res.ok and res.saved
        assert rt.snapshot().user_label_override == "Debug"
        res = rt.label_last(5, "Write")
        assert res.ok and res.saved
        last = rt.snapshot().last
        assert last is not None and last.bucket_start == "2026-03-02T09:00:00+00:00"
        res = rt.answer_prompt(last.bucket_start, "Review")
        assert res.ok and res.saved
        assert not rt.correct(bid, "Coding").ok
        assert not rt.confirm(987654).ok
    finally:
        rt.stop()
    st = _store(home)
    spans = st.label_spans()
    fb = st.feedback()
    covered = sum(1 for r in st.records() if any(s.start_ts <= r.bucket_start and r.bucket_end <= s.end_ts
                                                 for s in spans))
    st.close()
    provs = [s.provenance for s in spans]
    assert "manual" in provs and "prompt" in provs
    assert [f.kind for f in fb] == ["confirmation", "correction", "manual", "prompt"]
    assert fb[0].shown_label == block.label
    assert fb[1].answer_label == "Debug"
    # spans of one user never overlap
    ordered = sorted(spans, key=lambda s: s.start_ts)
    for a, b in zip(ordered, ordered[1:], strict=False):
        assert a.end_ts <= b.start_ts
    # personal-tuning progress counts recorded buckets that a human span covers (at the last label)
    learning = rt.snapshot().learning
    assert 0 < learning.labelled_buckets <= covered and learning.labelled_days == 1


def test_correction_is_bounded_to_an_hour(home: Path) -> None:
    rt, clock = _manual(home)
    try:
        run_for(rt, clock, 2 * 3600)  # one block of two hours
        bid = _wait_block(rt)
        assert rt.correct(bid, "Debug").ok
    finally:
        rt.stop()
    st = _store(home)
    (span,) = st.label_spans()
    st.close()
    assert span.provenance == "correction"
    assert (span.end_ts - span.start_ts).total_seconds() == 3600
    assert span.end_ts == T0.replace(second=0) + timedelta(hours=2, minutes=1)  # open bucket's end


def test_locked_store_queues_the_label_and_saves_it_later(home: Path) -> None:
    rt = make_runtime(home)
    rt.start()
    try:
        bid = _wait_block(rt)
        blocker = sqlite3.connect(store_path(home), timeout=0.1)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            res = rt.correct(bid, "Debug")
            assert res.ok and not res.saved and "Saving" in res.message
            assert rt.snapshot().saving
            assert any((home / "pending_labels").iterdir())
        finally:
            blocker.rollback()
            blocker.close()
        wait_for(lambda: not rt.snapshot().saving, timeout=15)
    finally:
        rt.stop()
    st = _store(home)
    assert [s.label for s in st.label_spans()] == ["Debug"]
    st.close()
    assert not list((home / "pending_labels").iterdir())


def test_queued_label_survives_a_crash_and_is_saved_at_next_start(home: Path) -> None:
    from agent.writer import LabelQueue

    rt, _ = _manual(home)  # creates identity and store
    rt.stop()
    user = rt.user_id
    q = LabelQueue(home)
    now = datetime.now(UTC).replace(microsecond=0)
    q.put({
        "span": {"start_ts": now.isoformat(), "end_ts": (now.replace(second=0)).isoformat()
                 if False else datetime.fromtimestamp(now.timestamp() + 60, UTC).isoformat(),
                 "label": "Meet", "user_id": user, "provenance": "manual", "confidence": None,
                 "created_at": now.isoformat()},
        "feedback": {"kind": "manual", "shown_label": None, "answer_label": "Meet",
                     "bucket_start": None, "block_start": None, "confidence": None,
                     "at": now.isoformat()},
    })
    rt2, _ = _manual(home)
    rt2.stop()
    st = _store(home)
    assert [s.label for s in st.label_spans()] == ["Meet"]
    st.close()
    assert len(q) == 0


class _Exploding(FakeBackend):
    def sample(self) -> Sample:
        self.calls += 1
        if self.calls % 2:
            raise OSError("display went away")
        return editor_sample()


def test_sampler_that_raises_does_not_stop_the_loop(home: Path) -> None:
    backend = _Exploding()
    rt, clock = _manual(home, backend)
    run_for(rt, clock, 170)
    rt.stop()
    assert backend.calls == 170
    recs = _records(home)
    assert len(recs) == 3
    # half the ticks had no answer: their seconds are observed without a foreground window
    assert all(0 < sum(s.seconds for s in r.segments) < r.observed_seconds for r in recs[1:])


def test_sampler_that_hangs_does_not_stop_the_loop(home: Path) -> None:
    backend = FakeBackend()
    rt, clock = _manual(home, backend, sampler_timeout=0.2)
    try:
        run_for(rt, clock, 50)
        backend.hang.set()
        run_for(rt, clock, 1)  # this tick waits 0.2 s, the next ones return at once
        assert "foreground" in rt.snapshot().missing_signals
        assert any("not responding" in w for w in rt.snapshot().config_warnings)
        run_for(rt, clock, 130)
        assert len(_records(home)) == 3, "buckets keep closing while the backend hangs"
        backend.hang.clear()

        def answered() -> bool:  # the hung call returns, then the next tick gets an answer
            run_for(rt, clock, 1)
            return "foreground" not in rt.snapshot().missing_signals

        wait_for(answered, timeout=5)
    finally:
        rt.stop()


def _make_read_only(path: Path) -> bool:
    if os.geteuid() != 0:
        path.chmod(0o500)
        return True
    return subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0


def _undo_read_only(path: Path) -> None:
    if os.geteuid() != 0:
        path.chmod(0o700)
    else:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)


def test_read_only_data_folder_gives_a_clear_state_and_keeps_predicting(home: Path) -> None:
    rt0 = make_runtime(home)
    rt0.start()
    rt0.stop()
    store_path(home).unlink()
    for p in home.glob("store.sqlite3*"):
        p.unlink()
    if not _make_read_only(home):
        from tests.conftest import in_ci

        if in_ci():
            pytest.fail("cannot make a read-only directory here")
        pytest.skip("cannot make a read-only directory here")
    try:
        rt = make_runtime(home)
        rt.start()
        try:
            wait_for(lambda: rt.snapshot().last is not None, timeout=10)
            snap = rt.snapshot()
            assert snap.store_error and "read-only" in snap.store_error.lower(), snap.store_error
            bid = _wait_block(rt)
            res = rt.correct(bid, "Debug")
            assert not res.ok and "read-only" in res.message.lower()
        finally:
            rt.stop()
    finally:
        _undo_read_only(home)


def test_correction_shows_until_the_model_disagrees_twice(home: Path) -> None:
    rt, clock = _manual(home)
    try:
        run_for(rt, clock, 65)
        bid = _wait_block(rt)
        last = rt.snapshot().last
        assert last is not None and last.smoothed_label != "Debug"
        assert rt.correct(bid, "Debug").ok
        assert rt.snapshot().user_label_override == "Debug"
        run_for(rt, clock, 60)
        assert rt.snapshot().user_label_override == "Debug", "one disagreeing bucket is not enough"
        run_for(rt, clock, 60)
        assert rt.snapshot().user_label_override is None
    finally:
        rt.stop()


class _FullDiskRuntime(AgentRuntime):
    """The store stops growing after start, as on a full disk (SQLITE_FULL)."""

    def _open_store(self):  # type: ignore[no-untyped-def]
        store = super()._open_store()
        conn = store._conn
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
        # fill the room left in the bucket tables' pages (rows of no known source, never read)
        filler = {
            "records": ("src, bucket_start, seconds, shape, data", "-1, ?, 60, 0, randomblob(64)"),
            "predictions": ("src, bucket_start, shape, data", "-1, ?, 0, randomblob(64)"),
            "feature_rows": ("src, bucket_start, meta, shape, data", "-1, ?, 0, 0, randomblob(64)"),
        }
        for table, (cols, vals) in filler.items():
            for i in range(100_000):
                try:
                    conn.execute(f"INSERT INTO {table} ({cols}) VALUES ({vals})", (i,))
                except sqlite3.OperationalError:
                    break
        return store


def test_full_disk_is_reported_and_predictions_continue(home: Path) -> None:
    rt = _FullDiskRuntime(home, backend=FakeBackend(), bucket_seconds=1, sample_seconds=0.1,
                          watch_interval=0.2, retry_seconds=0.5)
    rt.start()
    try:
        wait_for(lambda: rt.snapshot().store_error, timeout=15)
        assert "disk is full" in (rt.snapshot().store_error or "").lower()
        v = last_field(rt, "bucket_start")
        wait_for(lambda: last_field(rt, "bucket_start") != v)
        bid = _wait_block(rt)
        res = rt.correct(bid, "Debug")
        assert res.ok  # saved if it still fits, else queued durably ("saving…")
    finally:
        rt.stop()
    from agent.writer import LabelQueue

    st = _store(home)
    labels = [s.label for s in st.label_spans()]
    st.close()
    queued = [item["span"]["label"] for _, item in LabelQueue(home).pending()]
    assert labels + queued == ["Debug"]


def _pred(bucket: str, *, rejected: bool, model_id: str = "m1") -> object:
    from engine.record import PredictionRecord

    return PredictionRecord(
        bucket_start=bucket, user_id="u", session_id="s", model_id=model_id, model_sha256=None,
        label_order=("Build", "Debug"), raw_probs=(0.5, 0.5), probs=(0.5, 0.5),
        core_label="Build", confidence=0.5, threshold=0.55, threshold_source="global",
        rejected=rejected, accepted_label="Mixed/Unknown" if rejected else "Build",
        smoothed_label="Build", mapped_label="Build", mapped_probs={"Build": 0.5, "Debug": 0.5},
        calibrator="identity",
    )


def _scheduler(cfg: object, *, bucket_seconds: int = 60, seed: int | None = None) -> object:
    import random

    from agent.clock import ManualClock
    from agent.prompts import PromptScheduler

    return PromptScheduler(cfg, bucket_seconds=bucket_seconds,  # type: ignore[arg-type]
                           clock=ManualClock(datetime(2026, 3, 2, 10, tzinfo=UTC)),
                           rng=random.Random(seed))


def test_low_confidence_prompt_after_three_rejected_buckets_rate_limited() -> None:
    from engine.config import Config

    sch = _scheduler(Config(low_confidence_prompts=True, spot_checks_per_day=0))
    got = [sch.after(_pred(f"2026-03-02T10:0{i}:00+00:00", rejected=True), pending=None)  # type: ignore[attr-defined]
           for i in range(3)]
    assert got == [None, None, "2026-03-02T10:02:00+00:00"]
    # rate limited: not again within the hour, and never for accepted buckets
    more = [sch.after(_pred(f"2026-03-02T10:1{i}:00+00:00", rejected=True), pending=None)  # type: ignore[attr-defined]
            for i in range(5)]
    assert more == [None] * 5
    off = _scheduler(Config(low_confidence_prompts=False, spot_checks_per_day=0))
    assert [off.after(_pred(f"2026-03-02T11:0{i}:00+00:00", rejected=True), pending=None)  # type: ignore[attr-defined]
            for i in range(4)] == [None] * 4


def test_one_question_at_a_time() -> None:
    from engine.config import Config

    sch = _scheduler(Config(low_confidence_prompts=True, spot_checks_per_day=0))
    got = [sch.after(_pred(f"2026-03-02T10:0{i}:00+00:00", rejected=True),  # type: ignore[attr-defined]
                     pending="2026-03-02T09:59:00+00:00") for i in range(4)]
    assert got == [None] * 4


def test_spot_checks_only_with_a_model() -> None:
    from engine.config import Config

    sch = _scheduler(Config(low_confidence_prompts=False, spot_checks_per_day=2), seed=1)
    rules = [sch.after(_pred("2026-03-02T10:00:00+00:00", rejected=False, model_id="rules"),  # type: ignore[attr-defined]
                       pending=None) for _ in range(2000)]
    assert set(rules) == {None}
    asked = sum(sch.after(_pred("2026-03-02T10:00:00+00:00", rejected=False), pending=None)  # type: ignore[attr-defined]
                is not None for _ in range(4800))  # ten 8-hour days of buckets
    assert 5 <= asked <= 40  # about 2 a day


def test_corrupt_store_is_reported_and_predictions_continue(home: Path) -> None:
    store_path(home).write_bytes(b"this is not a database" * 100)
    rt = make_runtime(home)
    rt.start()
    try:
        wait_for(lambda: rt.snapshot().last is not None, timeout=10)
        err = rt.snapshot().store_error or ""
        assert "store.sqlite3" in err and "not a usable taskclf store" in err, err
    finally:
        rt.stop()
    assert store_path(home).read_bytes().startswith(b"this is not a database")  # left alone


def _minute_records(user: str, device: str, start: datetime, minutes: list[int]) -> list[ActivityRecord]:
    from datetime import timedelta

    return [
        ActivityRecord(user_id=user, device_id=device, bucket_start=start + timedelta(minutes=m),
                       observed_seconds=60.0, utc_offset_minutes=0, active_seconds_any=30.0)
        for m in minutes
    ]


def _processor(home: Path, clock: ManualClock) -> BucketProcessor:
    from agent.labels_service import CorrectionOverride
    from agent.snapshot_hub import SnapshotHub
    from agent.store_health import StoreHealth
    from engine.config import Config

    hub = SnapshotHub()
    return BucketProcessor(
        home=home, config=Config(), clock=clock, bucket_seconds=60, hub=hub,
        health=StoreHealth(hub), prompts=_scheduler(Config()), override=CorrectionOverride(),  # type: ignore[arg-type]
        user_id="u", device_id="d", skip_until=lambda ts: None)


def test_restart_after_midnight_replays_the_session_from_its_start(home: Path) -> None:
    """A session running across midnight is replayed from its first bucket (after the last
    gap), so the restarted builder gives what batch inference over the same records gives."""
    midnight = datetime(2026, 3, 3, tzinfo=UTC)
    start = midnight.replace(day=2, hour=23, minute=0)
    # 22:00-22:09 (an older session), a 40-minute gap, then 23:00 -> 00:14 without a gap.
    recs = _minute_records("u", "d", start, list(range(-60, -50)) + list(range(0, 75)))
    with Store.open(home / "store.sqlite3") as st:
        for r in recs:
            st.put_record(r)
        got, since = _processor(home, ManualClock(midnight.timestamp() + 15 * 60)).recent_records(st)
    assert since == midnight
    assert got[0].bucket_start == start  # the session's start, before midnight
    assert got[-1].bucket_start == recs[-1].bucket_start
    assert len(got) == 75
