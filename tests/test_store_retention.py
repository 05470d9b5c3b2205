"""Retention (spec 6.1): labels, the training data and its records are never deleted; a store
whose newest data is older than the window keeps it and says so."""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from store_helpers import T0, at, prediction, record, span

from engine.errors import ArtifactError
from engine.spans import SpanIndex
from engine.store import Store

ROOT = Path(__file__).resolve().parent.parent
NOW = T0 + timedelta(days=100)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(tmp_path / "store.sqlite3")
    yield s
    s.close()


def _recent(minute: int, *, user: str = "u1") -> object:
    """A record of ``user`` one day before NOW: the user is active, so the window counts from NOW."""
    return dataclasses.replace(record(0, user=user, device="d9"),
                               bucket_start=NOW - timedelta(days=1, minutes=-minute))


def _fill(store: Store, minutes: list[int]) -> None:
    for m in minutes:
        store.put_record(record(m))
        store.put_prediction("d1", prediction(m))
        store.put_feature_row(user_id="u1", device_id="d1", bucket_start=at(m), session_id=None,
                              schema_hash="h", feature_builder_version=1, row={"m": m})
        store.add_feedback(user_id="u1", kind="prompt", shown_label=None, answer_label="Build",
                           bucket_start=at(m), block_start=None, confidence=None, at=at(m))


def test_keeps_labels_labelled_rows_and_the_records_around_labels(store: Store) -> None:
    _fill(store, [0, 1, 2, 3, 30, 100])
    store.put_record(_recent(0))  # type: ignore[arg-type]
    store.add_label_span(span(1, 2, "Build"))  # labels bucket 1 fully
    store.add_label_span(span(2.5, 4, "Meet"))  # bucket 2 only half: not labelled; bucket 3 is
    deleted = store.apply_retention(NOW, activity_days=90)
    # records: 0 is the context of the label at 1, 1-3 touch a label; 30 and 100 are far from any
    assert deleted == {"records": 2, "predictions": 6, "feedback_events": 6, "feature_rows": 4}
    assert [r["m"] for r in store.feature_rows()] == [1, 3]
    assert [r.bucket_start for r in store.records()] == [at(0), at(1), at(2), at(3),
                                                         NOW - timedelta(days=1)]
    assert len(store.label_spans()) == 2
    assert store.predictions() == [] and store.feedback() == []
    # idempotent
    assert store.apply_retention(NOW) == {"records": 0, "predictions": 0, "feedback_events": 0,
                                          "feature_rows": 0}
    with pytest.raises(ArtifactError, match="activity_retention_days"):
        store.apply_retention(NOW, activity_days=0)


def test_a_store_older_than_the_window_keeps_everything_and_says_so(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    _fill(store, [0, 1, 30])  # u1: newest activity ~100 days before NOW
    store.put_records([record(m, user="u2", device="d2") for m in range(3)])
    store.put_record(_recent(0, user="u2"))  # type: ignore[arg-type]  # u2 is active
    with caplog.at_level(logging.INFO, logger="taskclf.store"):
        deleted = store.apply_retention(NOW, activity_days=90)
    assert deleted["records"] == 3  # u2's old records only
    assert [r.bucket_start for r in store.records(user_id="u1")] == [at(0), at(1), at(30)]
    assert len(store.predictions(user_id="u1")) == 3 and len(list(store.feature_rows(user_id="u1"))) == 3
    assert "1 user(s) have no activity in the last 90 days (newest 2026-03-02)" in caplog.text
    assert "their activity is kept" in caplog.text
    assert "retention: deleted 3 records older than 90 days" in caplog.text


def test_the_window_counts_back_from_the_newest_activity_not_later_than_now(store: Store) -> None:
    _fill(store, [0, 1])
    store.put_record(dataclasses.replace(record(0), bucket_start=at(0) + timedelta(days=95)))
    # newest is 95 days after the old buckets: they are 95 days older than it, so they go
    got = store.apply_retention(NOW, activity_days=90)
    assert got["records"] == 2 and got["feature_rows"] == 2
    # a clock in the past (now < newest) counts from now: nothing is younger than now - 90 d
    store.put_record(record(5))
    assert store.apply_retention(T0 + timedelta(days=30), activity_days=90)["records"] == 0


def test_deletes_in_small_transactions(store: Store) -> None:
    store.put_records([record(m) for m in range(40)])
    store.put_record(_recent(0))  # type: ignore[arg-type]
    store.add_label_span(span(0, 3, "Build"))
    for m in range(40):
        store.put_feature_row(user_id="u1", device_id="d1", bucket_start=at(m), session_id=None,
                              schema_hash="h", feature_builder_version=1, row={"m": m})
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)
    got = store.apply_retention(NOW, activity_days=90, retention_batch=2)
    store._conn.set_trace_callback(None)
    assert got["records"] == 40 - 3 and got["feature_rows"] == 37
    assert [r["m"] for r in store.feature_rows()] == [0, 1, 2]
    assert sum(s.startswith("BEGIN IMMEDIATE") for s in statements) >= 20  # 2-minute slices


@given(
    spans=st.lists(st.tuples(st.integers(0, 200), st.integers(1, 40)), max_size=6),
    minutes=st.sets(st.integers(0, 240), max_size=40),
)
def test_no_labelled_or_label_adjacent_bucket_loses_its_record(
        tmp_path_factory: pytest.TempPathFactory, spans: list[tuple[int, int]], minutes: set[int]) -> None:
    with Store.open(tmp_path_factory.mktemp("ret") / "store.sqlite3") as s:
        for m in sorted(minutes):
            s.put_record(record(m))
            s.put_feature_row(user_id="u1", device_id="d1", bucket_start=at(m), session_id=None,
                              schema_hash="h", feature_builder_version=1, row={"m": m})
        s.put_record(_recent(0))  # type: ignore[arg-type]
        for a, length in spans:
            s.add_label_span(span(a + 0.5 * (a % 2), a + length, "Build"))
        stored = s.label_spans()
        s.apply_retention(NOW, activity_days=90)
        kept_records = {int((r.bucket_start - T0).total_seconds() // 60) for r in s.records()
                        if r.device_id == "d1"}
        kept_rows = {r["m"] for r in s.feature_rows()}
        index = SpanIndex(stored)
        for m in minutes:
            near = any(sp.start_ts < at(m + 16) and sp.end_ts > at(m) for sp in stored)
            assert (m in kept_records) == near, m
            assert (m in kept_rows) == (index.label_for(at(m), at(m + 1)) is not None), m


@pytest.mark.slow
def test_agent_start_on_a_synthetic_home_deletes_nothing(tmp_path: Path) -> None:
    """The reproduction of the bug: 2 users x 3 synthetic days, then the headless agent for 3 s
    took the store from 2,892 records to 1."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}

    def taskclf(*args: str) -> None:
        subprocess.run([sys.executable, "-m", "engine.cli.main", "--home", str(home), *args],
                       check=True, capture_output=True, text=True, timeout=180, env=env, cwd=ROOT)

    taskclf("synth", "--users", "2", "--days", "3")

    def counts() -> list[int]:
        with Store.open(home / "store.sqlite3", readonly=True) as st:
            users = [u for u in st.users() if u.startswith("user-")]
            assert len(users) == 2
            return [sum(st.count_records(user_id=u) for u in users),
                    sum(1 for u in users for _ in st.feature_rows(user_id=u)),
                    sum(len(st.label_spans(user_id=u)) for u in users)]

    before = counts()
    # 2 users x 3 days of desk time: over a thousand buckets, every one with its feature row.
    assert before[0] > 1000 and before[1] == before[0] and before[2] > 100
    taskclf("agent", "--headless", "--backend", "none", "--duration", "3")
    assert counts() == before
    logs = "".join(p.read_text() for p in (home / "logs").glob("*.log*"))
    assert "2 user(s) have no activity in the last 90 days" in logs
