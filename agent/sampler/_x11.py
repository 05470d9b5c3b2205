"""Linux X11 backend (python-xlib): foreground window, idle, screensaver, input counts.

Foreground: ``_NET_ACTIVE_WINDOW`` on the root window, then the window's ``WM_CLASS``,
``_NET_WM_NAME`` (or ``WM_NAME``) and ``_NET_WM_PID`` (process name through psutil).
Idle and screensaver state: the MIT-SCREEN-SAVER extension. Input counts: the RECORD
extension on its own thread with its own two connections (python-xlib displays are not
thread-safe); key identity is looked at only to bump a counter.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from typing import Any

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

log = logging.getLogger("taskclf.agent.sampler.x11")

# X protocol event codes (X.h)
KEY_PRESS, KEY_RELEASE, BUTTON_PRESS, BUTTON_RELEASE, MOTION_NOTIFY = 2, 3, 4, 5, 6

#: keysym names whose keys count as "backspace/delete" and as modifiers for shortcuts.
BACKSPACE_KEYSYMS = ("BackSpace", "Delete", "KP_Delete")
SHORTCUT_MODIFIER_KEYSYMS = (
    "Control_L", "Control_R", "Alt_L", "Alt_R", "Meta_L", "Meta_R", "Super_L", "Super_R",
    "Hyper_L", "Hyper_R", "ISO_Level3_Shift",
)
OTHER_MODIFIER_KEYSYMS = ("Shift_L", "Shift_R", "Caps_Lock", "Num_Lock", "Shift_Lock")


class X11InputCounter:
    """Turns recorded device events into counters (pure logic, unit-tested without X)."""

    def __init__(
        self,
        box: CounterBox,
        *,
        backspace_codes: set[int],
        shortcut_modifier_codes: set[int],
        other_modifier_codes: set[int],
    ) -> None:
        self.box = box
        self.backspace_codes = backspace_codes
        self.shortcut_mods = shortcut_modifier_codes
        self.other_mods = other_modifier_codes
        self.held_mods: set[int] = set()
        self.last_xy: tuple[int, int] | None = None

    def feed(self, event_type: int, detail: int, root_x: int = 0, root_y: int = 0) -> None:
        if event_type == KEY_PRESS:
            if detail in self.shortcut_mods:
                self.held_mods.add(detail)
                return
            if detail in self.other_mods:
                return
            self.box.add_key(
                backspace=detail in self.backspace_codes, shortcut=bool(self.held_mods)
            )
        elif event_type == KEY_RELEASE:
            self.held_mods.discard(detail)
        elif event_type == BUTTON_PRESS:
            if 4 <= detail <= 7:
                self.box.add_scroll(1.0)  # one wheel notch per button press
            else:
                self.box.add_click()
        elif event_type == MOTION_NOTIFY:
            if self.last_xy is not None:
                dx, dy = root_x - self.last_xy[0], root_y - self.last_xy[1]
                if dx or dy:
                    self.box.add_motion(math.hypot(dx, dy))
            self.last_xy = (root_x, root_y)


class X11Backend(Backend):
    NAME = "x11"
    HAS_FOREGROUND = True
    HAS_TITLE = True
    HAS_IDLE = True
    HAS_INPUT_COUNTS = True
    HAS_LOCK_STATE = True

    def __init__(self, display_name: str | None = None) -> None:
        name = display_name or os.environ.get("DISPLAY")
        if not name:
            raise BackendUnavailable("no X display ($DISPLAY is not set)")
        try:
            from Xlib import display as xdisplay
        except ImportError as exc:  # pragma: no cover - dependency missing
            raise BackendUnavailable(f"python-xlib is not installed ({exc})") from None
        self._display_name = name
        try:
            self._dpy: Any = xdisplay.Display(name)
        except Exception as exc:
            raise BackendUnavailable(f"cannot open X display {name!r} ({exc})") from None
        self._root = self._dpy.screen().root
        self._atoms = {
            a: self._dpy.intern_atom(a)
            for a in ("_NET_ACTIVE_WINDOW", "_NET_WM_NAME", "_NET_WM_PID", "UTF8_STRING", "WM_NAME")
        }
        self._has_saver = bool(self._dpy.has_extension("MIT-SCREEN-SAVER"))
        self._has_record = bool(self._dpy.has_extension("RECORD"))
        if not self._has_saver:
            self.HAS_IDLE = False
            self.HAS_LOCK_STATE = False
        if not self._has_record:
            self.HAS_INPUT_COUNTS = False
        self._box = CounterBox()
        self._record_thread: threading.Thread | None = None
        self._ctl: Any = None
        self._ctx: Any = None
        self._process_names = ProcessNames()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if not self._has_record or self._record_thread is not None:
            return
        try:
            self._start_record()
        except Exception as exc:
            log.warning("X RECORD unavailable, input counts missing: %s", type(exc).__name__)
            self.HAS_INPUT_COUNTS = False

    def _start_record(self) -> None:
        from Xlib import XK
        from Xlib import display as xdisplay
        from Xlib.ext import record

        ctl = xdisplay.Display(self._display_name)
        data = xdisplay.Display(self._display_name)

        def codes(names: tuple[str, ...]) -> set[int]:
            out: set[int] = set()
            for n in names:
                sym = XK.string_to_keysym(n)
                if sym:
                    out.update(kc for kc, _ in ctl.keysym_to_keycodes(sym))
            return out

        counter = X11InputCounter(
            self._box,
            backspace_codes=codes(BACKSPACE_KEYSYMS),
            shortcut_modifier_codes=codes(SHORTCUT_MODIFIER_KEYSYMS),
            other_modifier_codes=codes(OTHER_MODIFIER_KEYSYMS),
        )
        ctx = ctl.record_create_context(
            0,
            [record.AllClients],
            [{
                "core_requests": (0, 0), "core_replies": (0, 0),
                "ext_requests": (0, 0, 0, 0), "ext_replies": (0, 0, 0, 0),
                "delivered_events": (0, 0),
                "device_events": (KEY_PRESS, MOTION_NOTIFY),
                "errors": (0, 0), "client_started": False, "client_died": False,
            }],
        )
        ctl.sync()
        self._ctl, self._ctx = ctl, ctx

        from Xlib.protocol import rq

        def callback(reply: Any) -> None:
            if reply.category != record.FromServer or reply.client_swapped:
                return
            buf = reply.data
            while len(buf) >= 32:
                try:
                    ev, buf = rq.EventField(None).parse_binary_value(buf, data.display, None, None)
                except Exception:
                    return
                counter.feed(ev.type, getattr(ev, "detail", 0),
                             getattr(ev, "root_x", 0), getattr(ev, "root_y", 0))

        def run() -> None:
            try:
                data.record_enable_context(ctx, callback)
            except Exception as exc:  # the connection died: counts become missing
                log.warning("X RECORD thread stopped: %s", type(exc).__name__)
                self.HAS_INPUT_COUNTS = False
            finally:
                try:
                    data.close()
                except Exception:
                    pass

        t = threading.Thread(target=run, name="taskclf-x11-record", daemon=True)
        t.start()
        self._record_thread = t

    def stop(self) -> None:
        if self._ctl is not None:
            try:
                self._ctl.record_disable_context(self._ctx)
                self._ctl.flush()
                if self._record_thread is not None:
                    self._record_thread.join(timeout=1.0)
                self._ctl.record_free_context(self._ctx)
                self._ctl.close()
            except Exception:
                pass
            self._ctl = None
            self._record_thread = None
        try:
            self._dpy.close()
        except Exception:
            pass

    # -- per tick --------------------------------------------------------------------------

    def sample(self) -> Sample:
        idle = NAN
        locked: bool | None = None
        if self._has_saver:
            info = self._root.screensaver_query_info()
            idle = info.idle / 1000.0
            locked = info.state == 1  # ScreenSaverOn
        counts = self._box.take() if self.HAS_INPUT_COUNTS else InputCounts()
        wm_class = app_name = exe = title = None
        win = self._active_window()
        if win is not None:
            wm_class, title, pid = self._window_info(win)
            if pid:
                app_name, exe = self._process_names(pid)
        return Sample(
            app_name=app_name,
            exe=exe,
            wm_class=wm_class,
            title=title,
            idle_seconds=idle,
            locked=locked,
            counts=counts,
        )

    def _active_window(self) -> Any:
        prop = self._root.get_full_property(self._atoms["_NET_ACTIVE_WINDOW"], 0)
        if prop is None or not prop.value or not prop.value[0]:
            return None
        return self._dpy.create_resource_object("window", int(prop.value[0]))

    def _window_info(self, win: Any) -> tuple[tuple[str, ...] | None, str | None, int | None]:
        from Xlib import error as xerror

        try:
            cls = win.get_wm_class()
            wm_class = tuple(c for c in cls if c) if cls else None
            title = None
            prop = win.get_full_property(self._atoms["_NET_WM_NAME"], self._atoms["UTF8_STRING"])
            if prop is not None and prop.value:
                v = prop.value
                title = v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
            else:
                name = win.get_wm_name()
                title = name.decode("latin-1") if isinstance(name, bytes) else name
            pid_prop = win.get_full_property(self._atoms["_NET_WM_PID"], 0)
            pid = int(pid_prop.value[0]) if pid_prop is not None and len(pid_prop.value) else None
            return wm_class, title, pid
        except (xerror.BadWindow, xerror.BadDrawable):
            return None, None, None  # the window closed between the two requests

    def permissions(self) -> dict[str, str]:
        return {"input_monitoring": NOT_NEEDED, "accessibility": NOT_NEEDED}

    def notes(self) -> list[str]:
        out = []
        if not self._has_saver:
            out.append("the X server has no MIT-SCREEN-SAVER extension: idle time is missing")
        if not self.HAS_INPUT_COUNTS:
            out.append("the X server has no usable RECORD extension: input counts are missing")
        return out
