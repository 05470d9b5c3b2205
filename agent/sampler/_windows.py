"""Windows backend: ctypes (+ psutil for process names), Raw Input for counts (spec 2.1).

Foreground: ``GetForegroundWindow`` / ``GetWindowTextW`` / ``GetWindowThreadProcessId``; a
window of ``ApplicationFrameHost.exe`` (UWP) resolves to the hosted app through its child
windows. Idle: ``GetLastInputInfo``. Lock: the input desktop cannot be opened while the
secure (lock) desktop is active. Counts: ``RegisterRawInputDevices`` with ``RIDEV_INPUTSINK``
on a message-only window on its own thread, never low-level hooks (Windows silently removes a
hook whose callback is slow once, e.g. during one GIL stall, and antivirus products flag them).
A liveness check turns the counters into NaN when the OS says the user is active but no raw
input arrives.

Every OS entry point goes through a ``Win32Api`` object, so the logic is unit-tested on any OS
with a fake one; the real one is built only on Windows.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from agent.sampler._base import (
    NAN,
    NOT_NEEDED,
    Backend,
    BackendUnavailable,
    CounterBox,
    InputCounts,
    ProcessNames,
    Sample,
)
from agent.sampler._win_rawinput import (
    KeyEvent,
    MouseEvent,
    declare,
    decode_raw_input,
    raw_input_types,
)

log = logging.getLogger("taskclf.agent.sampler.windows")

# virtual-key codes
VK_BACK, VK_DELETE = 0x08, 0x2E
VK_SHIFT, VK_CONTROL, VK_MENU, VK_CAPITAL = 0x10, 0x11, 0x12, 0x14
VK_LWIN, VK_RWIN = 0x5B, 0x5C
VK_LSHIFT, VK_RSHIFT, VK_LCONTROL, VK_RCONTROL, VK_LMENU, VK_RMENU = (
    0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5)
SHORTCUT_MODIFIERS = frozenset({VK_CONTROL, VK_MENU, VK_LWIN, VK_RWIN, VK_LCONTROL, VK_RCONTROL,
                                VK_LMENU, VK_RMENU})
OTHER_MODIFIERS = frozenset({VK_SHIFT, VK_LSHIFT, VK_RSHIFT, VK_CAPITAL, 0x90, 0x91})

# RAWKEYBOARD.Flags / RAWMOUSE.usButtonFlags
RI_KEY_BREAK = 0x01
RI_MOUSE_BUTTON_DOWNS = 0x0001 | 0x0004 | 0x0010 | 0x0040 | 0x0100  # left,right,middle,4,5
RI_MOUSE_WHEEL, RI_MOUSE_HWHEEL = 0x0400, 0x0800
WHEEL_DELTA = 120

UWP_HOST = "applicationframehost.exe"


class Win32Api(Protocol):
    """The OS calls the backend needs (the real one wraps user32/kernel32 through ctypes)."""

    def foreground_window(self) -> int: ...

    def window_text(self, hwnd: int) -> str: ...

    def window_pid(self, hwnd: int) -> int: ...

    def child_windows(self, hwnd: int) -> list[int]: ...

    def process_names(self, pid: int) -> tuple[str | None, str | None]: ...

    def idle_seconds(self) -> float: ...

    def session_locked(self) -> bool | None: ...

    def start_raw_input(self, counter: WinInputCounter) -> bool: ...

    def stop_raw_input(self) -> None: ...


class WinInputCounter:
    """Raw Input events -> counters (pure logic; key identity only bumps counters)."""

    def __init__(self, box: CounterBox) -> None:
        self.box = box
        self.held: set[int] = set()
        self.last_xy: tuple[int, int] | None = None

    def keyboard(self, vkey: int, flags: int) -> None:
        if flags & RI_KEY_BREAK:
            self.held.discard(vkey)
            return
        if vkey in SHORTCUT_MODIFIERS:
            self.held.add(vkey)
            return
        if vkey in OTHER_MODIFIERS:
            return
        self.box.add_key(backspace=vkey in (VK_BACK, VK_DELETE), shortcut=bool(self.held))

    def mouse(self, button_flags: int, button_data: int, cursor: tuple[int, int] | None) -> None:
        downs = button_flags & RI_MOUSE_BUTTON_DOWNS
        for _ in range(bin(downs).count("1")):
            self.box.add_click()
        if button_flags & (RI_MOUSE_WHEEL | RI_MOUSE_HWHEEL):
            delta = button_data - 0x10000 if button_data >= 0x8000 else button_data  # SHORT
            notches = abs(delta) / WHEEL_DELTA
            if notches > 0:
                self.box.add_scroll(notches)
        if cursor is not None:
            if self.last_xy is not None and cursor != self.last_xy:
                self.box.add_motion(math.hypot(cursor[0] - self.last_xy[0],
                                               cursor[1] - self.last_xy[1]))
            self.last_xy = cursor


class Liveness:
    """Counters are trusted only while raw input keeps arriving when the OS says there is input.

    After ``limit`` consecutive samples where ``GetLastInputInfo`` reports input but the raw
    input event count did not move, the counters are declared dead (NaN) until events arrive.
    """

    def __init__(self, limit: int = 3) -> None:
        self.limit = limit
        self.suspect = 0
        self.alive = True
        self._last_total: int | None = None

    def update(self, events_total: int, os_active: bool) -> bool:
        moved = self._last_total is not None and events_total != self._last_total
        self._last_total = events_total
        if moved:
            self.suspect = 0
            self.alive = True
        elif os_active:
            self.suspect += 1
            if self.suspect >= self.limit:
                if self.alive:
                    log.warning("raw input stopped arriving: input counts marked missing")
                self.alive = False
        return self.alive


class WindowsBackend(Backend):
    NAME = "windows"
    HAS_FOREGROUND = True
    HAS_TITLE = True
    HAS_IDLE = True
    HAS_INPUT_COUNTS = True
    HAS_LOCK_STATE = True

    def __init__(self, api: Win32Api | None = None, *, liveness_limit: int = 3,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if api is None:
            if not sys.platform.startswith("win"):
                raise BackendUnavailable("the Windows backend runs on Windows only")
            api = _CtypesWin32()
        self.api = api
        self.box = CounterBox()
        self.counter = WinInputCounter(self.box)
        self.liveness = Liveness(liveness_limit)
        self._raw_ok = False
        self._clock = clock
        self._last_t: float | None = None

    def start(self) -> None:
        try:
            self._raw_ok = bool(self.api.start_raw_input(self.counter))
        except Exception as exc:
            log.warning("Raw Input unavailable: %s", type(exc).__name__)
            self._raw_ok = False
        if not self._raw_ok:
            self.HAS_INPUT_COUNTS = False

    def stop(self) -> None:
        try:
            self.api.stop_raw_input()
        except Exception:
            pass

    def resolve_app(self, hwnd: int) -> tuple[str | None, str | None, str | None, int]:
        """(process name, exe name, hosted UWP app, pid) of a top-level window."""
        pid = self.api.window_pid(hwnd)
        name, exe = self.api.process_names(pid) if pid else (None, None)
        hosted = None
        if (exe or name or "").lower() == UWP_HOST:
            for child in self.api.child_windows(hwnd):
                cpid = self.api.window_pid(child)
                if cpid and cpid != pid:
                    cname, cexe = self.api.process_names(cpid)
                    hosted = cexe or cname
                    if hosted:
                        break
        return name, exe, hosted, pid

    def sample(self) -> Sample:
        idle = self.api.idle_seconds()
        locked = self.api.session_locked()
        now = self._clock()
        prev, self._last_t = self._last_t, now
        os_active = prev is not None and idle < now - prev  # the OS saw input since last sample
        counts: InputCounts = InputCounts()
        if self._raw_ok:
            taken = self.box.take()
            if self.liveness.update(self.box.events_total, os_active):
                counts = taken
        name = exe = hosted = title = None
        hwnd = self.api.foreground_window()
        if hwnd:
            name, exe, hosted, _ = self.resolve_app(hwnd)
            title = self.api.window_text(hwnd) or None
        return Sample(app_name=name, exe=exe, hosted_app=hosted, title=title,
                      idle_seconds=idle if idle >= 0 else NAN, locked=locked, counts=counts)

    def missing_signals(self) -> tuple[str, ...]:
        missing = list(super().missing_signals())
        if self._raw_ok and not self.liveness.alive and "input_counts" not in missing:
            missing.append("input_counts")
        return tuple(missing)

    def permissions(self) -> dict[str, str]:
        return {"input_monitoring": NOT_NEEDED, "accessibility": NOT_NEEDED}

    def notes(self) -> list[str]:
        if not self._raw_ok:
            return ["Raw Input could not be registered: input counts are missing"]
        if not self.liveness.alive:
            return ["raw input events stopped arriving: input counts are missing"]
        return []


class _CtypesWin32:  # pragma: no cover - needs Windows
    """The real OS calls (user32, kernel32) and the Raw Input thread."""

    def __init__(self) -> None:
        import ctypes
        from ctypes import wintypes

        self.ct: Any = ctypes
        self.wt: Any = wintypes
        self.user32: Any = declare(ctypes.WinDLL("user32", use_last_error=True), "user32")  # type: ignore[attr-defined,unused-ignore]
        self.kernel32: Any = declare(ctypes.WinDLL("kernel32", use_last_error=True), "kernel32")  # type: ignore[attr-defined,unused-ignore]
        self._thread: threading.Thread | None = None
        self._thread_id = 0
        self._names = ProcessNames()

    def foreground_window(self) -> int:
        return int(self.user32.GetForegroundWindow() or 0)

    def window_text(self, hwnd: int) -> str:
        n = self.user32.GetWindowTextLengthW(hwnd)
        buf = self.ct.create_unicode_buffer(n + 1)
        self.user32.GetWindowTextW(hwnd, buf, n + 1)
        return str(buf.value)

    def window_pid(self, hwnd: int) -> int:
        pid = self.wt.DWORD()
        self.user32.GetWindowThreadProcessId(hwnd, self.ct.byref(pid))
        return int(pid.value)

    def child_windows(self, hwnd: int) -> list[int]:
        out: list[int] = []
        proto = self.ct.WINFUNCTYPE(self.wt.BOOL, self.wt.HWND, self.wt.LPARAM)

        def cb(child: int, _lp: int) -> bool:
            out.append(int(child))
            return len(out) < 64

        self.user32.EnumChildWindows(hwnd, proto(cb), 0)
        return out

    def process_names(self, pid: int) -> tuple[str | None, str | None]:
        name, exe = self._names(pid)
        return name, exe or name

    def idle_seconds(self) -> float:
        class LASTINPUTINFO(self.ct.Structure):  # type: ignore[name-defined,misc,unused-ignore]
            _fields_ = [("cbSize", self.wt.UINT), ("dwTime", self.wt.DWORD)]

        info = LASTINPUTINFO()
        info.cbSize = self.ct.sizeof(info)
        if not self.user32.GetLastInputInfo(self.ct.byref(info)):
            return NAN
        now = self.kernel32.GetTickCount() & 0xFFFFFFFF
        return float(((now - info.dwTime) & 0xFFFFFFFF) / 1000.0)

    def session_locked(self) -> bool | None:
        desk = self.user32.OpenInputDesktop(0, False, 0x0100)  # DESKTOP_SWITCHDESKTOP
        if not desk:
            return True
        self.user32.CloseDesktop(desk)
        return False

    def start_raw_input(self, counter: WinInputCounter) -> bool:
        ready = threading.Event()
        ok: list[bool] = [False]
        self._thread = threading.Thread(target=self._raw_loop, args=(counter, ready, ok),
                                        name="taskclf-rawinput", daemon=True)
        self._thread.start()
        ready.wait(5.0)
        return ok[0]

    def stop_raw_input(self) -> None:
        if self._thread_id:
            self.user32.PostThreadMessageW(self._thread_id, 0x0012, 0, 0)  # WM_QUIT

    def _raw_loop(self, counter: WinInputCounter, ready: threading.Event, ok: list[bool]) -> None:
        ct: Any = self.ct
        wt: Any = self.wt
        user32 = self.user32
        WM_INPUT, RID_INPUT = 0x00FF, 0x10000003
        RIDEV_INPUTSINK, HWND_MESSAGE = 0x00000100, wt.HWND(-3)
        LRESULT = ct.c_ssize_t
        WNDPROC = ct.WINFUNCTYPE(LRESULT, wt.HWND, wt.UINT, wt.WPARAM, wt.LPARAM)

        class RAWINPUTDEVICE(ct.Structure):
            _fields_ = [("usUsagePage", wt.USHORT), ("usUsage", wt.USHORT),
                        ("dwFlags", wt.DWORD), ("hwndTarget", wt.HWND)]

        class WNDCLASSW(ct.Structure):
            _fields_ = [("style", wt.UINT), ("lpfnWndProc", WNDPROC), ("cbClsExtra", ct.c_int),
                        ("cbWndExtra", ct.c_int), ("hInstance", wt.HINSTANCE),
                        ("hIcon", wt.HICON), ("hCursor", wt.HANDLE), ("hbrBackground", wt.HBRUSH),
                        ("lpszMenuName", wt.LPCWSTR), ("lpszClassName", wt.LPCWSTR)]

        layout = raw_input_types()
        header_size = ct.sizeof(layout.header)
        buf = ct.create_string_buffer(ct.sizeof(layout.rawinput) + 64)
        point = wt.POINT()

        def wndproc(hwnd: Any, msg: int, wparam: int, lparam: int) -> int:
            if msg == WM_INPUT:
                size = wt.UINT(ct.sizeof(buf))
                n = user32.GetRawInputData(lparam, RID_INPUT, buf, ct.byref(size), header_size)
                if 0 < n <= ct.sizeof(buf):  # (UINT)-1 is an error
                    try:
                        event = decode_raw_input(buf.raw[:n])
                        if isinstance(event, KeyEvent):
                            counter.keyboard(event.vkey, event.flags)
                        elif isinstance(event, MouseEvent):
                            cursor = None
                            if user32.GetCursorPos(ct.byref(point)):
                                cursor = (point.x, point.y)
                            counter.mouse(event.button_flags, event.button_data, cursor)
                    except Exception:
                        pass
            return int(user32.DefWindowProcW(hwnd, msg, wparam, lparam))

        proc = WNDPROC(wndproc)
        hinst = self.kernel32.GetModuleHandleW(None)
        wc = WNDCLASSW(lpfnWndProc=proc, hInstance=hinst, lpszClassName="taskclf-rawinput")
        user32.RegisterClassW(ct.byref(wc))
        hwnd = user32.CreateWindowExW(0, "taskclf-rawinput", None, 0, 0, 0, 0, 0, HWND_MESSAGE,
                                      None, hinst, None)
        device_array: Any = RAWINPUTDEVICE * 2  # type: ignore[operator,unused-ignore]
        devices = device_array(
            RAWINPUTDEVICE(0x01, 0x06, RIDEV_INPUTSINK, hwnd),  # keyboard
            RAWINPUTDEVICE(0x01, 0x02, RIDEV_INPUTSINK, hwnd),  # mouse
        )
        ok[0] = bool(hwnd) and bool(user32.RegisterRawInputDevices(devices, 2,
                                                                    ct.sizeof(RAWINPUTDEVICE)))
        self._thread_id = self.kernel32.GetCurrentThreadId()
        ready.set()
        if not ok[0]:
            return
        msg = wt.MSG()
        while user32.GetMessageW(ct.byref(msg), None, 0, 0) > 0:
            user32.TranslateMessage(ct.byref(msg))
            user32.DispatchMessageW(ct.byref(msg))
        user32.DestroyWindow(hwnd)
