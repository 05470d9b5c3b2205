"""Shared helpers for the agent tests: a scripted sampler backend and a runtime runner."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.runtime import AgentRuntime
from agent.sampler import Backend, InputCounts, Sample


class FakeBackend(Backend):
    """Answers from ``script(n)`` (n = call number); may raise or hang on purpose."""

    NAME = "fake"
    HAS_FOREGROUND = HAS_TITLE = HAS_IDLE = HAS_INPUT_COUNTS = HAS_LOCK_STATE = True

    def __init__(self, script: Callable[[int], Sample] | None = None) -> None:
        self.calls = 0
        self.script = script or (lambda n: editor_sample())
        self.started = self.stopped = False
        self.hang = threading.Event()  # set: every call blocks until cleared
        self.raise_every: int | None = None

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.stopped = True
        self.hang.clear()

    def sample(self) -> Sample:
        self.calls += 1
        n = self.calls
        while self.hang.is_set():
            time.sleep(0.05)
        if self.raise_every and n % self.raise_every == 0:
            raise RuntimeError("backend exploded")
        return self.script(n)


def editor_sample(title: str = "main.py - project - Visual Studio Code", keys: int = 3) -> Sample:
    return Sample(
        app_name="code", exe="code", wm_class=("code", "Code"), title=title, idle_seconds=0.1,
        locked=False,
        counts=InputCounts(keys=keys, backspaces=0, shortcuts=0, clicks=0, scrolls=0, mouse_px=5.0),
    )


def make_runtime(home: Path, backend: Backend | None = None, **kw: Any) -> AgentRuntime:
    kw.setdefault("bucket_seconds", 1)
    kw.setdefault("sample_seconds", 0.1)
    kw.setdefault("watch_interval", 0.2)
    kw.setdefault("retry_seconds", 0.5)
    return AgentRuntime(home, backend=backend or FakeBackend(), **kw)


def wait_for(cond: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


def last_field(rt: AgentRuntime, name: str) -> Any:
    """A field of the runtime's last prediction (None before the first bucket)."""
    last = rt.snapshot().last
    return None if last is None else getattr(last, name)


def manual_runtime(home: Path, clock: Any, backend: Backend | None = None,
                   **kw: Any) -> AgentRuntime:
    """A runtime without a sampler thread: the test moves ``clock`` and ticks by hand."""
    kw.setdefault("bucket_seconds", 60)
    kw.setdefault("sample_seconds", 1.0)
    kw.setdefault("watch_interval", 0.2)
    kw.setdefault("retry_seconds", 0.5)
    return AgentRuntime(home, backend=backend or FakeBackend(), clock=clock,
                        sampler_thread=False, **kw)


def start_manual(rt: AgentRuntime) -> None:
    """Start and wait for the run's first engine (so the start-up replay is done)."""
    rt.start()
    wait_for(lambda: rt.snapshot().model.kind != "starting", timeout=30)
    rt.sync()


def run_for(rt: AgentRuntime, clock: Any, seconds: int) -> None:
    """``seconds`` ticks of one second each, then wait for the writer to catch up."""
    for _ in range(seconds):
        clock.advance(1.0)
        rt.tick()
    rt.sync()
