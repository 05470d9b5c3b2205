"""The macOS event tap reports success only when its run loop really runs (fake Quartz)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from agent.sampler._base import CounterBox
from agent.sampler._macos import MacInputCounter, _PyObjCApi


class FakeLoop:
    def __init__(self) -> None:
        self.stopped = threading.Event()
        self.blocks: list[Any] = []


class FakeQuartz:
    """Just enough of Quartz/CoreFoundation for start_event_tap; ``run`` picks the failure."""

    kCGSessionEventTap = kCGHeadInsertEventTap = kCGEventTapOptionListenOnly = 0
    kCFRunLoopCommonModes = "common"
    kCGEventTapDisabledByTimeout, kCGEventTapDisabledByUserInput = -2, -1

    def __init__(self, run: str = "runs", *, tap: bool = True, source: bool = True,
                 stays_enabled: bool = True) -> None:
        self.run, self.tap, self.source, self.stays_enabled = run, tap, source, stays_enabled
        self.enabled = False
        self.loop = FakeLoop()
        self.hang = threading.Event()

    def CGEventTapCreate(self, *args: Any) -> Any:
        return "tap" if self.tap else None

    def CFMachPortCreateRunLoopSource(self, _alloc: Any, _tap: Any, _order: int) -> Any:
        return "source" if self.source else None

    def CFRunLoopGetCurrent(self) -> FakeLoop:
        if self.run == "hangs":
            self.hang.wait(10)
        return self.loop

    def CFRunLoopAddSource(self, loop: FakeLoop, source: Any, mode: str) -> None:
        if self.run == "raises":
            raise RuntimeError("no run loop")

    def CGEventTapEnable(self, tap: Any, on: bool) -> None:
        self.enabled = on and self.stays_enabled

    def CGEventTapIsEnabled(self, tap: Any) -> bool:
        return self.enabled

    def CFRunLoopPerformBlock(self, loop: FakeLoop, mode: str, block: Any) -> None:
        loop.blocks.append(block)

    def CFRunLoopRun(self) -> None:
        if self.run == "returns":  # no source in the mode: CFRunLoopRun returns at once
            return
        for block in self.loop.blocks:
            block()
        self.loop.stopped.wait(10)

    def CFRunLoopStop(self, loop: FakeLoop) -> None:
        loop.stopped.set()


def start(q: FakeQuartz, timeout: float = 5.0) -> tuple[_PyObjCApi, bool]:
    api = _PyObjCApi(quartz=q, appkit=object(), app_services=object())
    api.START_TIMEOUT = timeout
    return api, api.start_event_tap(MacInputCounter(CounterBox()))


def test_a_running_loop_is_success_and_stop_ends_it() -> None:
    q = FakeQuartz("runs")
    api, ok = start(q)
    assert ok is True and q.enabled
    api.stop_event_tap()
    assert q.loop.stopped.is_set()


@pytest.mark.parametrize("case", [
    {"tap": False},  # CGEventTapCreate refused (no Input Monitoring)
    {"source": False},  # no run loop source
    {"run": "raises"},  # the thread failed before its loop ran
    {"run": "returns"},  # CFRunLoopRun returned without running
    {"stays_enabled": False},  # the system disabled the tap at once
])
def test_a_loop_that_never_ran_is_reported_as_failure(case: dict[str, Any]) -> None:
    q = FakeQuartz(**case)
    _, ok = start(q)
    assert ok is False
    assert not q.enabled  # the tap is switched off again


def test_a_loop_that_does_not_start_in_time_is_failure() -> None:
    q = FakeQuartz("hangs")
    try:
        _, ok = start(q, timeout=0.2)
    finally:
        q.hang.set()
        q.loop.stopped.set()
    assert ok is False
