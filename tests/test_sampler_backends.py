"""Sampler backends against faked OS calls: X11 RECORD counting, Windows (UWP resolution,
Raw Input counting, liveness), macOS (permission states, tap vs counters), the guard that keeps
a raising or hanging backend from stopping the loop, and backend selection."""

from __future__ import annotations

import math
import threading
import time

import pytest

from agent.sampler import (
    GRANTED,
    MISSING,
    Backend,
    BackendUnavailable,
    CounterBox,
    GuardedBackend,
    Sample,
    create_backend,
    default_backend_name,
    open_backend,
)
from agent.sampler._macos import (
    KEY_DOWN,
    LEFT_DOWN,
    MOUSE_MOVED,
    OTHER_DOWN,
    RIGHT_DOWN,
    SCROLL_WHEEL,
    MacBackend,
    MacInputCounter,
)
from agent.sampler._windows import (
    RI_KEY_BREAK,
    RI_MOUSE_WHEEL,
    VK_BACK,
    VK_CONTROL,
    VK_SHIFT,
    WindowsBackend,
    WinInputCounter,
)
from agent.sampler._x11 import BUTTON_PRESS, KEY_PRESS, KEY_RELEASE, MOTION_NOTIFY, X11InputCounter

# ---------------------------------------------------------------- X11 counting


def x11_counter() -> tuple[X11InputCounter, CounterBox]:
    box = CounterBox()
    return X11InputCounter(box, backspace_codes={22, 119}, shortcut_modifier_codes={37, 64},
                           other_modifier_codes={50}), box


def test_x11_counts_keys_backspaces_and_shortcuts() -> None:
    c, box = x11_counter()
    for code in (38, 39, 40):  # plain keys
        c.feed(KEY_PRESS, code)
        c.feed(KEY_RELEASE, code)
    c.feed(KEY_PRESS, 22)  # BackSpace
    c.feed(KEY_PRESS, 50)  # Shift alone: not a key, not a modifier for shortcuts
    c.feed(KEY_PRESS, 38)  # Shift+a: a key, not a shortcut
    c.feed(KEY_RELEASE, 50)
    c.feed(KEY_PRESS, 37)  # Control held
    c.feed(KEY_PRESS, 39)  # Ctrl+s
    c.feed(KEY_RELEASE, 37)
    c.feed(KEY_PRESS, 40)  # after release: plain
    got = box.take()
    assert (got.keys, got.backspaces, got.shortcuts) == (7.0, 1.0, 1.0)
    assert box.take().keys == 0.0  # take() resets


def test_x11_counts_clicks_scroll_buttons_and_pointer_path() -> None:
    c, box = x11_counter()
    for button in (1, 3, 2, 8):
        c.feed(BUTTON_PRESS, button)
    for button in (4, 5, 6, 7):
        c.feed(BUTTON_PRESS, button)
    c.feed(MOTION_NOTIFY, 0, 0, 0)
    c.feed(MOTION_NOTIFY, 0, 3, 4)
    c.feed(MOTION_NOTIFY, 0, 3, 14)
    got = box.take()
    assert (got.clicks, got.scrolls, got.mouse_px) == (4.0, 4.0, 15.0)


# ---------------------------------------------------------------- Windows (faked Win32)


class FakeWin32:
    def __init__(self) -> None:
        self.fg = 100
        self.pids = {100: 1, 200: 2, 201: 2, 300: 3}
        self.names = {1: ("Code.exe", "Code.exe"), 2: ("ApplicationFrameHost.exe",
                      "ApplicationFrameHost.exe"), 3: ("CalculatorApp.exe", "CalculatorApp.exe")}
        self.children = {200: [201, 300]}
        self.titles = {100: "main.py - Visual Studio Code", 200: "Calculator"}
        self.idle = 0.0
        self.locked: bool | None = False
        self.raw_ok = True
        self.counter: WinInputCounter | None = None

    def foreground_window(self) -> int:
        return self.fg

    def window_text(self, hwnd: int) -> str:
        return self.titles.get(hwnd, "")

    def window_pid(self, hwnd: int) -> int:
        return self.pids.get(hwnd, 0)

    def child_windows(self, hwnd: int) -> list[int]:
        return self.children.get(hwnd, [])

    def process_names(self, pid: int) -> tuple[str | None, str | None]:
        return self.names.get(pid, (None, None))

    def idle_seconds(self) -> float:
        return self.idle

    def session_locked(self) -> bool | None:
        return self.locked

    def start_raw_input(self, counter: WinInputCounter) -> bool:
        self.counter = counter
        return self.raw_ok

    def stop_raw_input(self) -> None:
        pass


class Ticker:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


def test_windows_foreground_and_uwp_resolution() -> None:
    api = FakeWin32()
    b = WindowsBackend(api, clock=Ticker())
    b.start()
    s = b.sample()
    assert (s.app_name, s.exe, s.hosted_app) == ("Code.exe", "Code.exe", None)
    assert s.title == "main.py - Visual Studio Code"
    api.fg = 200  # a UWP window: the frame host's child of another process is the app
    s = b.sample()
    assert s.exe == "ApplicationFrameHost.exe" and s.hosted_app == "CalculatorApp.exe"
    from engine.apps import identify_app

    app = identify_app(s.app_name, exe=s.exe, hosted_app=s.hosted_app)
    assert "applicationframehost" not in app.app_id.lower()
    api.children[200] = [201]  # hosted app not resolvable (suspended): stays the frame host
    assert b.sample().hosted_app is None


def test_windows_raw_input_counting() -> None:
    api = FakeWin32()
    b = WindowsBackend(api, clock=Ticker())
    b.start()
    c = api.counter
    assert c is not None
    for vk in (0x41, 0x42, VK_BACK):
        c.keyboard(vk, 0)
        c.keyboard(vk, RI_KEY_BREAK)
    c.keyboard(VK_SHIFT, 0)
    c.keyboard(0x43, 0)  # Shift+C: not a shortcut
    c.keyboard(VK_SHIFT, RI_KEY_BREAK)
    c.keyboard(VK_CONTROL, 0)
    c.keyboard(0x53, 0)  # Ctrl+S
    c.keyboard(VK_CONTROL, RI_KEY_BREAK)
    c.mouse(0x0001 | 0x0004, 0, (10, 10))  # left + right down in one event
    c.mouse(0x0002, 0, (13, 14))  # left up: no click; moved 5 px
    c.mouse(RI_MOUSE_WHEEL, 240, None)  # two notches up
    c.mouse(RI_MOUSE_WHEEL, 0x10000 - 120, None)  # one notch down (negative SHORT)
    s = b.sample()
    assert (s.counts.keys, s.counts.backspaces, s.counts.shortcuts) == (5.0, 1.0, 1.0)
    assert (s.counts.clicks, s.counts.scrolls, s.counts.mouse_px) == (2.0, 3.0, 5.0)


def test_windows_liveness_turns_counts_into_nan_and_back() -> None:
    api = FakeWin32()
    b = WindowsBackend(api, liveness_limit=3, clock=Ticker())
    b.start()
    c = api.counter
    assert c is not None
    api.idle = 0.2  # the OS keeps reporting fresh input...
    b.sample()
    for _ in range(3):  # ...but no raw input arrives
        s = b.sample()
    assert math.isnan(s.counts.keys)
    assert "input_counts" in b.missing_signals()
    c.keyboard(0x41, 0)  # events arrive again
    s = b.sample()
    assert s.counts.keys == 1.0 and "input_counts" not in b.missing_signals()
    api.idle = 500.0  # a genuinely idle user never trips the check
    for _ in range(10):
        s = b.sample()
    assert s.counts.keys == 0.0


def test_windows_without_raw_input_reports_missing_counts_and_lock() -> None:
    api = FakeWin32()
    api.raw_ok = False
    api.locked = True
    b = WindowsBackend(api, clock=Ticker())
    b.start()
    s = b.sample()
    assert math.isnan(s.counts.keys) and s.locked is True
    assert "input_counts" in b.missing_signals()


def test_windows_backend_refuses_other_oses() -> None:
    import sys

    if sys.platform.startswith("win"):
        pytest.skip("running on Windows")
    with pytest.raises(BackendUnavailable, match="runs on Windows only"):
        WindowsBackend()


# ---------------------------------------------------------------- macOS (faked pyobjc)


class FakeMac:
    def __init__(self, *, ax: bool, im: bool) -> None:
        self.ax, self.im = ax, im
        self.front: tuple[str | None, str | None, int] | None = ("Safari", "com.apple.Safari", 42)
        self.counters = {KEY_DOWN: 100, LEFT_DOWN: 10, RIGHT_DOWN: 0, OTHER_DOWN: 0,
                         SCROLL_WHEEL: 5}
        self.counter: MacInputCounter | None = None
        self.title_calls = 0

    def frontmost_app(self) -> tuple[str | None, str | None, int] | None:
        return self.front

    def accessibility_trusted(self) -> bool:
        return self.ax

    def focused_window_title(self, pid: int) -> str | None:
        self.title_calls += 1
        return "GitHub - Safari"

    def seconds_since_last_input(self) -> float:
        return 1.5

    def event_counter(self, event_type: int) -> int:
        return self.counters[event_type]

    def input_monitoring_granted(self) -> bool:
        return self.im

    def start_event_tap(self, counter: MacInputCounter) -> bool:
        self.counter = counter
        return True

    def stop_event_tap(self) -> None:
        pass

    def screen_locked(self) -> bool | None:
        return False


def test_macos_without_permissions_counts_keys_and_clicks_only() -> None:
    api = FakeMac(ax=False, im=False)
    b = MacBackend(api)
    b.start()
    assert b.permissions() == {"accessibility": MISSING, "input_monitoring": MISSING}
    assert len(b.notes()) == 2
    api.counters[KEY_DOWN] += 7
    api.counters[LEFT_DOWN] += 2
    api.counters[RIGHT_DOWN] += 1
    api.counters[SCROLL_WHEEL] += 4
    s = b.sample()
    assert s.title is None and api.title_calls == 0  # no AX call without permission
    assert (s.bundle_id, s.idle_seconds) == ("com.apple.Safari", 1.5)
    assert (s.counts.keys, s.counts.clicks, s.counts.scrolls) == (7.0, 3.0, 4.0)
    assert math.isnan(s.counts.backspaces) and math.isnan(s.counts.shortcuts)
    assert math.isnan(s.counts.mouse_px)
    assert {"title", "backspaces", "shortcuts", "mouse_distance"} <= set(b.missing_signals())


def test_macos_with_permissions_uses_the_event_tap() -> None:
    api = FakeMac(ax=True, im=True)
    b = MacBackend(api)
    b.start()
    assert b.permissions() == {"accessibility": GRANTED, "input_monitoring": GRANTED}
    c = api.counter
    assert c is not None
    c.event(KEY_DOWN, keycode=0)
    c.event(KEY_DOWN, keycode=51)  # delete
    c.event(KEY_DOWN, keycode=1, flags=0x100000)  # Cmd+S
    c.event(KEY_DOWN, keycode=1, flags=0x20000)  # Shift+S: not a shortcut
    c.event(LEFT_DOWN)
    c.event(SCROLL_WHEEL, scroll_lines=-3)
    c.event(SCROLL_WHEEL, scroll_lines=-9, momentum=True)  # inertia: ignored
    c.event(MOUSE_MOVED, location=(0.0, 0.0))
    c.event(MOUSE_MOVED, location=(6.0, 8.0))
    s = b.sample()
    assert s.title == "GitHub - Safari"
    assert (s.counts.keys, s.counts.backspaces, s.counts.shortcuts) == (4.0, 1.0, 1.0)
    assert (s.counts.clicks, s.counts.scrolls, s.counts.mouse_px) == (1.0, 3.0, 10.0)
    assert b.missing_signals() == ()


def test_macos_login_window_means_locked() -> None:
    api = FakeMac(ax=True, im=False)
    api.front = ("loginwindow", "com.apple.loginwindow", 1)
    b = MacBackend(api)
    b.start()
    assert b.sample().locked is True


# ---------------------------------------------------------------- guard and selection


class Raising(Backend):
    NAME = "raising"

    def __init__(self) -> None:
        self.n = 0

    def sample(self) -> Sample:
        self.n += 1
        if self.n % 2:
            raise OSError("gone")
        return Sample(app_name="x")


class Hanging(Backend):
    NAME = "hanging"

    def __init__(self) -> None:
        self.release = threading.Event()

    def sample(self) -> Sample:
        self.release.wait(10)
        return Sample(app_name="late")


def test_guard_turns_exceptions_into_empty_samples() -> None:
    g = GuardedBackend(Raising(), timeout=1.0)
    try:
        first = g.sample()
        assert not first.has_foreground and g.failing and "OSError" in g.failing
        second = g.sample()
        assert second.app_name == "x" and g.failing is None
    finally:
        g.stop()


def test_guard_does_not_wait_for_a_hanging_backend() -> None:
    backend = Hanging()
    g = GuardedBackend(backend, timeout=0.1)
    try:
        t = time.monotonic()
        for _ in range(5):
            assert not g.sample().has_foreground
        assert time.monotonic() - t < 1.5  # one timeout, then immediate answers
        assert g.failing == "sampler not responding"
        backend.release.set()
        deadline = time.monotonic() + 5
        while not g.sample().has_foreground:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        backend.release.set()
        g.stop()


def test_backend_selection() -> None:
    assert default_backend_name("win32", {}) == "windows"
    assert default_backend_name("darwin", {}) == "macos"
    assert default_backend_name("linux", {"DISPLAY": ":0"}) == "x11"
    assert default_backend_name("linux", {"WAYLAND_DISPLAY": "wayland-0"}) == "none"
    with pytest.raises(BackendUnavailable, match="unknown sampler backend 'beos'"):
        create_backend("beos")
    b, reason = open_backend("windows" if not __import__("sys").platform.startswith("win")
                             else "macos")
    assert b.NAME == "none" and reason and "unavailable" in reason


def test_process_names_cache_is_bounded_and_tolerates_dead_pids() -> None:
    import os

    import psutil

    from agent.sampler._base import ProcessNames

    names = ProcessNames()
    me = psutil.Process()
    assert names(os.getpid()) == (me.name(), os.path.basename(me.exe()))
    assert names(2**22 + 12345) == (None, None)  # no such process: no exception
    fake = ProcessNames(lambda pid: FakeProcess(pid, float(pid), f"app{pid}"))
    for pid in range(ProcessNames.MAX_ENTRIES * 2):
        assert fake(10**7 + pid) == (f"app{10**7 + pid}", f"app{10**7 + pid}.exe")
    assert 0 < len(fake._cache) <= ProcessNames.MAX_ENTRIES


class FakeProcess:
    """psutil.Process for one (pid, creation time); counts how often its name is asked."""

    asked = 0

    def __init__(self, pid: int, created: float, name: str) -> None:
        self.pid, self.created, self._name = pid, created, name

    def create_time(self) -> float:
        return self.created

    def name(self) -> str:
        FakeProcess.asked += 1
        return self._name

    def exe(self) -> str:
        return f"/opt/{self._name}.exe"


def test_process_names_are_cached_by_pid_and_creation_time() -> None:
    """A pid the OS reuses for another program gets that program's name, not a stale one."""
    from agent.sampler._base import ProcessNames

    table = {4242: (100.0, "code")}
    names = ProcessNames(lambda pid: FakeProcess(pid, *table[pid]))
    FakeProcess.asked = 0
    assert names(4242) == ("code", "code.exe")
    assert names(4242) == ("code", "code.exe")
    assert FakeProcess.asked == 1  # cached while the same process lives
    table[4242] = (250.0, "slack")  # code exited; the pid now belongs to Slack
    assert names(4242) == ("slack", "slack.exe")
