"""Sampler backends: pick the platform's backend once (or the one ``--backend`` forces).

``open_backend(name)`` returns a started backend; ``available_backends()`` says which ones can
run here and why the others cannot (for ``taskclf doctor``). ``GuardedBackend`` wraps a backend
so a call that raises or hangs never stops the tick loop: the tick gets an empty sample and the
signal is reported missing.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable

from agent.sampler._base import (
    GRANTED,
    MISSING,
    NOT_NEEDED,
    UNKNOWN,
    Backend,
    BackendUnavailable,
    CounterBox,
    InputCounts,
    Sample,
)

__all__ = [
    "GRANTED", "MISSING", "NOT_NEEDED", "UNKNOWN", "Backend", "BackendUnavailable",
    "CounterBox", "GuardedBackend", "InputCounts", "Sample", "BACKEND_NAMES",
    "available_backends", "create_backend", "default_backend_name", "open_backend",
    "is_wayland_session", "wayland_activitywatch_url", "WAYLAND_NO_WINDOWS",
]

log = logging.getLogger("taskclf.agent.sampler")

BACKEND_NAMES = ("x11", "windows", "macos", "activitywatch", "none")


#: What a Wayland session without ActivityWatch lacks, and how to get it (doctor, tray menu).
WAYLAND_NO_WINDOWS = (
    "Wayland desktop: taskclf cannot read foreground windows here (the X11 sampler would see "
    "only XWayland apps). Run ActivityWatch with a Wayland-capable window watcher "
    "(aw-watcher-window-wayland, or the window-watcher extension for GNOME or KDE); taskclf "
    "reads it from http://127.0.0.1:5600 or the configured activitywatch_url")
WAYLAND_X11_PARTIAL = (
    "Wayland desktop: the x11 sampler sees only XWayland apps and their input; native Wayland "
    "windows are missing")
AW_PROBE_TIMEOUT_S = 0.5

Probe = Callable[[str], bool]


def is_wayland_session(env: dict[str, str] | None = None) -> bool:
    """A Wayland session, even when XWayland also sets DISPLAY."""
    env = dict(os.environ) if env is None else env
    return bool(env.get("WAYLAND_DISPLAY")) or env.get("XDG_SESSION_TYPE", "").lower() == "wayland"


def _aw_answers(url: str) -> bool:
    """Does an aw-server answer ``/api/0/info`` at this loopback URL?"""
    from agent.sampler._activitywatch import _http_get_json
    from engine.config import check_loopback_url

    try:
        info = _http_get_json(f"{check_loopback_url(url)}/api/0/info", AW_PROBE_TIMEOUT_S)
    except Exception:
        return False
    return isinstance(info, dict)


def wayland_activitywatch_url(activitywatch_url: str | None, probe: Probe | None = None) -> str | None:
    """On Wayland: the configured ActivityWatch URL, else its default port on loopback, when a
    server answers there; None when none does."""
    from agent.sampler._activitywatch import DEFAULT_URL

    url = activitywatch_url or DEFAULT_URL
    return url if (probe or _aw_answers)(url) else None


def default_backend_name(platform: str | None = None, env: dict[str, str] | None = None,
                         activitywatch_url: str | None = None, probe: Probe | None = None) -> str:
    """The backend this OS/session should use: the OS's own; on a Wayland session (even with
    XWayland's DISPLAY set) ActivityWatch when a server answers on loopback, else ``none``
    (never the x11 sampler's partial picture); on Linux without any display a configured
    ActivityWatch server, else ``none``."""
    platform = platform or sys.platform
    env = dict(os.environ) if env is None else env
    if platform.startswith("win"):
        return "windows"
    if platform == "darwin":
        return "macos"
    if is_wayland_session(env):
        return "activitywatch" if wayland_activitywatch_url(activitywatch_url, probe) else "none"
    if env.get("DISPLAY"):
        return "x11"
    if activitywatch_url:
        return "activitywatch"
    return "none"


def create_backend(name: str, *, activitywatch_url: str | None = None) -> Backend:
    """Construct (not start) a backend by name; ``BackendUnavailable`` says why it cannot."""
    if name == "x11":
        from agent.sampler._x11 import X11Backend

        return X11Backend()
    if name == "windows":
        from agent.sampler._windows import WindowsBackend

        return WindowsBackend()
    if name == "macos":
        from agent.sampler._macos import MacBackend

        return MacBackend()
    if name == "activitywatch":
        from agent.sampler._activitywatch import ActivityWatchBackend

        return ActivityWatchBackend(activitywatch_url)
    if name == "none":
        from agent.sampler._none import NoneBackend

        return NoneBackend()
    raise BackendUnavailable(f"unknown sampler backend {name!r} (choose from {', '.join(BACKEND_NAMES)})")


def open_backend(name: str | None = None, *, activitywatch_url: str | None = None,
                 env: dict[str, str] | None = None,
                 probe: Probe | None = None) -> tuple[Backend, str | None]:
    """Start the requested (or default) backend; fall back to ``none`` with the reason.

    On Wayland the reason says what is missing and how to get it, also when the x11 sampler
    was asked for explicitly (it then runs, and the note says what it cannot see)."""
    wayland = sys.platform.startswith("linux") and is_wayland_session(env)
    if wayland and name is None:
        activitywatch_url = wayland_activitywatch_url(activitywatch_url, probe)
        if activitywatch_url is None:
            from agent.sampler._none import NoneBackend

            log.warning("%s", WAYLAND_NO_WINDOWS)
            return NoneBackend(), WAYLAND_NO_WINDOWS
    wanted = name or default_backend_name(activitywatch_url=activitywatch_url, env=env,
                                          probe=lambda url: True)
    try:
        backend = create_backend(wanted, activitywatch_url=activitywatch_url)
        backend.start()
        return backend, (WAYLAND_X11_PARTIAL if wayland and wanted == "x11" else None)
    except BackendUnavailable as exc:
        if name is not None and name not in BACKEND_NAMES:
            raise
        reason = f"{wanted} backend unavailable: {exc}"
    except Exception as exc:  # a broken OS library must not stop the agent
        reason = f"{wanted} backend failed to start: {type(exc).__name__}: {exc}"
    if wayland and wanted == "activitywatch":
        reason = f"{reason}. {WAYLAND_NO_WINDOWS}"
    log.warning("%s; falling back to the 'none' backend", reason)
    from agent.sampler._none import NoneBackend

    return NoneBackend(), reason


AW_NOT_CONFIGURED = "not configured (set activitywatch_url in config.toml)"


def available_backends(activitywatch_url: str | None = None) -> dict[str, str]:
    """Backend name -> "ok" or the reason it cannot run here. Constructs the OS backends without
    starting them; ActivityWatch is asked (on loopback) whether it is there."""
    out: dict[str, str] = {}
    for name in BACKEND_NAMES:
        if name == "activitywatch" and not activitywatch_url:
            # No connection to a server the user did not configure (spec 2.1).
            out[name] = AW_NOT_CONFIGURED
            continue
        try:
            b = create_backend(name, activitywatch_url=activitywatch_url)
            if name == "activitywatch":
                b.start()
            out[name] = "ok"
            b.stop()
        except BackendUnavailable as exc:
            out[name] = str(exc)
        except Exception as exc:
            out[name] = f"{type(exc).__name__}: {exc}"
    return out


class GuardedBackend:
    """Calls ``backend.sample()`` on its own thread with a deadline.

    One call is outstanding at most: while a call hangs, ticks get an empty sample at once and
    ``failing`` names the problem; when the call returns, sampling resumes by itself.
    """

    def __init__(self, backend: Backend, *, timeout: float = 0.5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.backend = backend
        self.timeout = timeout
        self._clock = clock
        self._cv = threading.Condition()
        self._request = False
        self._result: Sample | None = None
        self._busy = False
        self._stopped = False
        self.failing: str | None = None
        self.errors = 0
        self._last_logged = -1e9
        self._thread = threading.Thread(target=self._run, name="taskclf-sampler-call", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._request and not self._stopped:
                    self._cv.wait()
                if self._stopped:
                    return
                self._request = False
                self._busy = True
            try:
                result: Sample | None = self.backend.sample()
                error = None
            except Exception as exc:
                result, error = None, f"{type(exc).__name__}"
            with self._cv:
                self._busy = False
                self._result = result if result is not None else Sample()
                self._note(error)
                self._cv.notify_all()

    def _note(self, error: str | None) -> None:
        if error is None:
            self.failing = None
            return
        self.errors += 1
        self.failing = f"sampler error ({error})"
        now = self._clock()
        if now - self._last_logged > 60:
            self._last_logged = now
            log.warning("the %s sampler raised %s; signals marked missing", self.backend.NAME, error)

    def sample(self) -> Sample:
        with self._cv:
            if self._busy:
                self.failing = "sampler not responding"
                return Sample()
            self._result = None
            self._request = True
            self._cv.notify_all()
            deadline = time.monotonic() + self.timeout
            while self._result is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.failing = "sampler not responding"
                    if self._clock() - self._last_logged > 60:
                        self._last_logged = self._clock()
                        log.warning("the %s sampler did not answer within %.1f s",
                                    self.backend.NAME, self.timeout)
                    return Sample()
                self._cv.wait(left)
            out = self._result
            self._result = None
            return out

    def stop(self) -> None:
        with self._cv:
            self._stopped = True
            self._cv.notify_all()
        try:
            self.backend.stop()
        except Exception:
            pass
