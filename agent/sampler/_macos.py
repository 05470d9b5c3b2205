"""macOS backend: pyobjc, imported lazily (spec 2.1).

Foreground: ``NSWorkspace.frontmostApplication`` (name, bundle id, pid). Title: the focused
window's ``AXTitle`` through the Accessibility API, only when the user granted Accessibility;
otherwise the title is missing and ``permissions()`` says so (there is no Info.plist key that
asks for Accessibility, so the tray shows a guide). Idle: ``CGEventSourceSecondsSinceLastEventType``.
Counts: a listen-only ``CGEventTap`` when Input Monitoring is granted; else key-down, click and
scroll counts from ``CGEventSourceCounterForEventType`` with backspaces, shortcuts and pointer
distance missing (NaN). Scroll momentum (inertia) events are ignored.

All OS calls go through a ``MacApi`` object, so the logic is unit-tested on any OS.
"""

from __future__ import annotations

import logging
import math
import sys
from typing import Any, Protocol

from agent.sampler._base import (
    GRANTED,
    MISSING,
    NAN,
    Backend,
    BackendUnavailable,
    CounterBox,
    InputCounts,
    Sample,
)

log = logging.getLogger("taskclf.agent.sampler.macos")

# CGEventType values
KEY_DOWN, KEY_UP, FLAGS_CHANGED = 10, 11, 12
LEFT_DOWN, RIGHT_DOWN, OTHER_DOWN = 1, 3, 25
MOUSE_MOVED, LEFT_DRAGGED, RIGHT_DRAGGED, OTHER_DRAGGED = 5, 6, 7, 27
SCROLL_WHEEL = 22
# virtual key codes of backspace and forward delete
KC_DELETE, KC_FORWARD_DELETE = 51, 117
# CGEventFlags masks: Command, Control, Option (Alternate)
FLAG_CMD, FLAG_CTRL, FLAG_ALT = 0x100000, 0x40000, 0x80000
SHORTCUT_FLAGS = FLAG_CMD | FLAG_CTRL | FLAG_ALT
LOCKSCREEN_BUNDLES = frozenset({"com.apple.loginwindow", "com.apple.ScreenSaver.Engine"})


class MacApi(Protocol):
    def frontmost_app(self) -> tuple[str | None, str | None, int] | None:
        """(localized name, bundle id, pid) of the frontmost application."""
        ...

    def accessibility_trusted(self) -> bool: ...

    def focused_window_title(self, pid: int) -> str | None: ...

    def seconds_since_last_input(self) -> float: ...

    def event_counter(self, event_type: int) -> int: ...

    def input_monitoring_granted(self) -> bool: ...

    def start_event_tap(self, counter: MacInputCounter) -> bool: ...

    def stop_event_tap(self) -> None: ...

    def screen_locked(self) -> bool | None: ...


class MacInputCounter:
    """CGEventTap events -> counters (pure logic; key identity only bumps counters)."""

    def __init__(self, box: CounterBox) -> None:
        self.box = box
        self.last_xy: tuple[float, float] | None = None

    def event(self, event_type: int, *, keycode: int = 0, flags: int = 0,
              scroll_lines: float = 0.0, momentum: bool = False,
              location: tuple[float, float] | None = None) -> None:
        if event_type == KEY_DOWN:
            self.box.add_key(backspace=keycode in (KC_DELETE, KC_FORWARD_DELETE),
                             shortcut=bool(flags & SHORTCUT_FLAGS))
        elif event_type in (LEFT_DOWN, RIGHT_DOWN, OTHER_DOWN):
            self.box.add_click()
        elif event_type == SCROLL_WHEEL:
            if not momentum and scroll_lines:
                self.box.add_scroll(abs(scroll_lines))
        elif (event_type in (MOUSE_MOVED, LEFT_DRAGGED, RIGHT_DRAGGED, OTHER_DRAGGED)
              and location is not None):
            if self.last_xy is not None:
                d = math.hypot(location[0] - self.last_xy[0], location[1] - self.last_xy[1])
                if d:
                    self.box.add_motion(d)  # points = logical pixels
            self.last_xy = location


class MacBackend(Backend):
    NAME = "macos"
    HAS_FOREGROUND = True
    HAS_TITLE = True
    HAS_IDLE = True
    HAS_INPUT_COUNTS = True
    HAS_LOCK_STATE = True

    def __init__(self, api: MacApi | None = None) -> None:
        if api is None:
            if sys.platform != "darwin":
                raise BackendUnavailable("the macOS backend runs on macOS only")
            api = _PyObjCApi()
        self.api = api
        self.box = CounterBox()
        self.counter = MacInputCounter(self.box)
        self._tap = False
        self._counters_prev: dict[int, int] | None = None

    def start(self) -> None:
        self._tap = False
        if self.api.input_monitoring_granted():
            try:
                self._tap = bool(self.api.start_event_tap(self.counter))
            except Exception as exc:
                log.warning("CGEventTap unavailable: %s", type(exc).__name__)
        if not self._tap:
            self._counters_prev = self._read_counters()

    def stop(self) -> None:
        if self._tap:
            try:
                self.api.stop_event_tap()
            except Exception:
                pass

    def _read_counters(self) -> dict[int, int]:
        return {t: int(self.api.event_counter(t))
                for t in (KEY_DOWN, LEFT_DOWN, RIGHT_DOWN, OTHER_DOWN, SCROLL_WHEEL)}

    def _counts(self) -> InputCounts:
        if self._tap:
            return self.box.take()
        now = self._read_counters()
        prev, self._counters_prev = self._counters_prev or now, now
        d = {t: max(0, now[t] - prev.get(t, now[t])) for t in now}
        return InputCounts(keys=float(d[KEY_DOWN]), backspaces=NAN, shortcuts=NAN,
                           clicks=float(d[LEFT_DOWN] + d[RIGHT_DOWN] + d[OTHER_DOWN]),
                           scrolls=float(d[SCROLL_WHEEL]), mouse_px=NAN)

    def sample(self) -> Sample:
        idle = float(self.api.seconds_since_last_input())
        locked = self.api.screen_locked()
        counts = self._counts()
        app = self.api.frontmost_app()
        name = bundle = title = None
        if app is not None:
            name, bundle, pid = app
            if bundle in LOCKSCREEN_BUNDLES:
                locked = True
            if self.api.accessibility_trusted():
                try:
                    title = self.api.focused_window_title(pid)
                except Exception:
                    title = None
        return Sample(app_name=name, bundle_id=bundle, title=title, idle_seconds=idle,
                      locked=locked, counts=counts)

    def permissions(self) -> dict[str, str]:
        return {
            "accessibility": GRANTED if self.api.accessibility_trusted() else MISSING,
            "input_monitoring": GRANTED if self.api.input_monitoring_granted() else MISSING,
        }

    def missing_signals(self) -> tuple[str, ...]:
        missing = []
        if not self.api.accessibility_trusted():
            missing.append("title")
        if not self._tap:
            missing.extend(["backspaces", "shortcuts", "mouse_distance"])
        return tuple(missing)

    def notes(self) -> list[str]:
        out = []
        perms = self.permissions()
        if perms["accessibility"] == MISSING:
            out.append("Window titles need Accessibility: System Settings > Privacy & Security > "
                       "Accessibility, then enable taskclf")
        if perms["input_monitoring"] == MISSING:
            out.append("Full input counts need Input Monitoring: System Settings > Privacy & "
                       "Security > Input Monitoring, then enable taskclf and restart it")
        return out


class _PyObjCApi:
    """The real macOS calls through PyObjC (the modules can be passed in, for tests)."""

    START_TIMEOUT = 5.0

    def __init__(self, quartz: Any = None, appkit: Any = None, app_services: Any = None) -> None:
        if quartz is None:  # pragma: no cover - needs macOS
            try:
                import AppKit
                import ApplicationServices
                import Quartz
            except ImportError as exc:
                raise BackendUnavailable(f"pyobjc is not installed ({exc})") from None
            quartz, appkit, app_services = Quartz, AppKit, ApplicationServices
        self.AS: Any = app_services
        self.AppKit: Any = appkit
        self.Q: Any = quartz
        self._tap: Any = None
        self._loop: Any = None

    def frontmost_app(self) -> tuple[str | None, str | None, int] | None:  # pragma: no cover
        app = self.AppKit.NSWorkspace.sharedWorkspace().frontmostApplication()
        if app is None:
            return None
        return (app.localizedName(), app.bundleIdentifier(), int(app.processIdentifier()))

    def accessibility_trusted(self) -> bool:
        return bool(self.AS.AXIsProcessTrusted())

    def focused_window_title(self, pid: int) -> str | None:
        AS = self.AS
        app = AS.AXUIElementCreateApplication(pid)
        err, win = AS.AXUIElementCopyAttributeValue(app, AS.kAXFocusedWindowAttribute, None)
        if err or win is None:
            return None
        err, title = AS.AXUIElementCopyAttributeValue(win, AS.kAXTitleAttribute, None)
        return None if err or title is None else str(title)

    def seconds_since_last_input(self) -> float:
        Q = self.Q
        return float(Q.CGEventSourceSecondsSinceLastEventType(
            Q.kCGEventSourceStateCombinedSessionState, Q.kCGAnyInputEventType))

    def event_counter(self, event_type: int) -> int:
        Q = self.Q
        return int(Q.CGEventSourceCounterForEventType(
            Q.kCGEventSourceStateCombinedSessionState, event_type))

    def input_monitoring_granted(self) -> bool:
        fn = getattr(self.Q, "CGPreflightListenEventAccess", None)
        return bool(fn()) if fn is not None else False

    def screen_locked(self) -> bool | None:
        d = self.Q.CGSessionCopyCurrentDictionary()
        if d is None:
            return None
        return bool(d.get("CGSSessionScreenIsLocked", False))

    def start_event_tap(self, counter: MacInputCounter) -> bool:
        Q = self.Q
        mask = 0
        for t in (KEY_DOWN, LEFT_DOWN, RIGHT_DOWN, OTHER_DOWN, SCROLL_WHEEL, MOUSE_MOVED,
                  LEFT_DRAGGED, RIGHT_DRAGGED, OTHER_DRAGGED):
            mask |= 1 << t

        def callback(proxy: Any, etype: int, event: Any, refcon: Any) -> Any:
            try:
                if etype in (Q.kCGEventTapDisabledByTimeout, Q.kCGEventTapDisabledByUserInput):
                    Q.CGEventTapEnable(self._tap, True)
                    return event
                loc = Q.CGEventGetLocation(event)
                counter.event(
                    etype,
                    keycode=int(Q.CGEventGetIntegerValueField(event, Q.kCGKeyboardEventKeycode)),
                    flags=int(Q.CGEventGetFlags(event)),
                    scroll_lines=float(Q.CGEventGetIntegerValueField(
                        event, Q.kCGScrollWheelEventDeltaAxis1)),
                    momentum=bool(Q.CGEventGetIntegerValueField(
                        event, Q.kCGScrollWheelEventMomentumPhase)),
                    location=(float(loc.x), float(loc.y)),
                )
            except Exception:
                pass
            return event

        tap = Q.CGEventTapCreate(Q.kCGSessionEventTap, Q.kCGHeadInsertEventTap,
                                 Q.kCGEventTapOptionListenOnly, mask, callback, None)
        if tap is None:
            return False
        self._tap = tap
        return self._run_tap_loop(tap)

    def _run_tap_loop(self, tap: Any) -> bool:
        """Run the tap's run loop on its own thread; True only once that loop is really running.

        Success is a block the run loop itself executed, so a source that could not be created,
        a thread that failed, or a run loop that returned at once all report False.
        """
        import threading

        Q = self.Q
        settled = threading.Event()
        running: list[bool] = [False]

        def loop_started() -> None:
            running[0] = True
            settled.set()

        def run() -> None:
            try:
                source = Q.CFMachPortCreateRunLoopSource(None, tap, 0)
                if source is None:
                    return
                self._loop = Q.CFRunLoopGetCurrent()
                Q.CFRunLoopAddSource(self._loop, source, Q.kCFRunLoopCommonModes)
                Q.CGEventTapEnable(tap, True)
                Q.CFRunLoopPerformBlock(self._loop, Q.kCFRunLoopCommonModes, loop_started)
                Q.CFRunLoopRun()
            except Exception as exc:
                log.warning("the event tap's run loop failed: %s", type(exc).__name__)
            finally:
                running[0] = False  # a loop that returned is not running any more
                settled.set()

        thread = threading.Thread(target=run, name="taskclf-eventtap", daemon=True)
        thread.start()
        settled.wait(self.START_TIMEOUT)
        ok = running[0] and bool(Q.CGEventTapIsEnabled(tap))
        if not ok:
            log.warning("the event tap did not start: input counts come from the event counters")
            try:
                Q.CGEventTapEnable(tap, False)
                self.stop_event_tap()
            except Exception:
                pass
        return ok

    def stop_event_tap(self) -> None:
        if self._loop is not None:
            self.Q.CFRunLoopStop(self._loop)
