"""The tray on the real agent runtime (store, writer, engine), with a fake pystray and no display.

Covers the bad inputs of the tray issue end to end through the store: double clicks make one
span, a correction covers at most the block (<= 60 min), a locked store gives a short message
and the label is saved once the lock is gone.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tray_fakes import FAKE_BACKEND, click, find

from agent.clock import ManualClock
from agent.runtime import AgentRuntime
from agent.tray.app import TrayApp
from engine.paths import store_path
from engine.store import Store
from tests.agent_helpers import FakeBackend, run_for

pytestmark = pytest.mark.slow

BUCKET = 60


class Mono:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def wait(what: str, fn: Any, timeout: float = 60.0) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = fn()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def tray(home: Path) -> Iterator[tuple[TrayApp, AgentRuntime, Mono]]:
    (home / "config.toml").write_text("spot_checks_per_day = 0\n")
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, 10, tzinfo=UTC))
    rt = AgentRuntime(home, backend=FakeBackend(), bucket_seconds=BUCKET, clock=clock,
                      sampler_thread=False, retry_seconds=0.5)
    mono = Mono()
    app = TrayApp(rt, home, backend=FAKE_BACKEND, monotonic=mono, start_runtime=True,
                  dump_path=home / "menu.json")
    th = threading.Thread(target=app.run, daemon=True)
    th.start()
    try:
        wait("the runtime's first engine", lambda: rt.snapshot().model.kind != "starting")
        run_for(rt, clock, 3 * 60)  # three buckets close
        wait("a current block in the menu", lambda: app.model.block_id is not None)
        yield app, rt, mono
    finally:
        app.quit()
        th.join(5)
        rt.stop()


def spans(home: Path, provenance: str) -> list[Any]:
    with Store.open(store_path(home), readonly=True) as s:
        return [sp for sp in s.label_spans() if sp.provenance == provenance]


def top(app: TrayApp) -> list[Any]:
    return app._icon.menu.items


def test_double_click_one_span_bounded_to_block(tray: Any, home: Path) -> None:
    app, rt, mono = tray
    item = find(top(app), "I'm actually doing", "Debug")
    block = next(b for b in (rt.snapshot().current_block, *rt.snapshot().today_blocks)
                 if b is not None and b.block_id == app.model.block_id)
    click(item)
    mono.t += 10  # past the tray's debounce: the runtime itself must not add a second span
    click(item)
    got = spans(home, "correction")
    assert len(got) == 1
    sp = got[0]
    assert sp.label == "Debug"
    assert 0 < (sp.end_ts - sp.start_ts).total_seconds() <= 3600
    assert sp.start_ts == datetime.fromisoformat(block.start)  # from the block the user saw
    last = rt.snapshot().last
    assert sp.confidence is not None and last is not None  # the model's confidence (spec 3.1)
    assert 0.0 <= sp.confidence <= 1.0
    with Store.open(store_path(home), readonly=True) as s:
        events = [e for e in s.feedback() if e.answer_label == "Debug"]
    assert len(events) == 1  # one feedback event, written with the span
    wait("the user's label in the header", lambda: app.model.header == "Now: Debug · your label")
    assert app.model.find("notice").text.startswith("✓")


def test_confirmation_span(tray: Any, home: Path) -> None:
    app, rt, _ = tray
    wait("a core label to confirm", lambda: app.model.find("confirm").enabled)
    shown = app.model.shown_label
    click(find(top(app), "Yes, that's right"))
    got = wait("the confirmation span", lambda: spans(home, "confirmation"))
    assert [s.label for s in got] == [shown]
    assert got[0].confidence is not None


def test_locked_store_says_saving_then_saves(tray: Any, home: Path) -> None:
    app, rt, _ = tray
    con = sqlite3.connect(store_path(home), timeout=0.1, isolation_level=None)
    con.execute("BEGIN EXCLUSIVE")
    try:
        t0 = time.monotonic()
        click(find(top(app), "Label the last", "15 min", "Write"))
        assert time.monotonic() - t0 < 2.0  # the click never hangs the main thread for long
        notice = app.model.find("notice").text
        assert notice.startswith("Saving…"), notice  # queued, not lost, not an error
        assert len(notice) <= 120
    finally:
        con.execute("ROLLBACK")
        con.close()
    got = wait("the queued label in the store", lambda: spans(home, "manual"), timeout=20)
    assert [s.label for s in got] == ["Write"]
    assert abs((got[0].end_ts - got[0].start_ts).total_seconds() - 15 * 60) <= BUCKET

