"""The small interface every sampler backend implements (spec 2.1), psutil-style.

A backend answers one question per tick, ``sample()``: what is in front, since when is the user
idle, is the session locked, and how many input events happened since the previous call. What a
backend can do is declared as class flags, so ``doctor`` and the tray can say what is missing
without calling anything. The raw window title inside a ``Sample`` is transient: the sampler
thread reduces it to a keyed hash straight away and drops it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

NAN = float("nan")

#: Permission states reported by backends (macOS Accessibility / Input Monitoring...).
GRANTED = "granted"
MISSING = "missing"
NOT_NEEDED = "not_needed"
UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class InputCounts:
    """Input events counted since the previous sample; NaN where the backend cannot count."""

    keys: float = NAN
    backspaces: float = NAN
    shortcuts: float = NAN
    clicks: float = NAN
    scrolls: float = NAN
    mouse_px: float = NAN

    @property
    def known(self) -> bool:
        return not math.isnan(self.keys)

    @property
    def keyboard_active(self) -> bool:
        return (self.keys > 0) or (self.shortcuts > 0)

    @property
    def mouse_active(self) -> bool:
        return (self.clicks > 0) or (self.scrolls > 0) or (self.mouse_px > 0)


UNKNOWN_COUNTS = InputCounts()


@dataclass(frozen=True, slots=True)
class Sample:
    """What one backend call saw. ``title`` is transient and never stored or logged."""

    app_name: str | None = None  # process name / WM_CLASS class / display name
    exe: str | None = None
    wm_class: tuple[str, ...] | None = None  # X11 (instance, class)
    bundle_id: str | None = None
    hosted_app: str | None = None  # UWP app behind ApplicationFrameHost.exe
    title: str | None = field(default=None, repr=False)
    idle_seconds: float = NAN  # OS idle time; NaN when unknown
    locked: bool | None = None  # None when the OS does not tell
    counts: InputCounts = UNKNOWN_COUNTS

    @property
    def has_foreground(self) -> bool:
        return bool(self.app_name or self.exe or self.wm_class or self.bundle_id)


class CounterBox:
    """Thread-safe cumulative input counters; ``take()`` returns and resets the deltas.

    Input threads (X RECORD, Raw Input, CGEventTap) call the ``add_*`` methods from their own
    thread; the sampler thread calls ``take()`` once per tick.
    """

    __slots__ = ("_lock", "keys", "backspaces", "shortcuts", "clicks", "scrolls", "mouse_px",
                 "events_total")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.keys = self.backspaces = self.shortcuts = self.clicks = self.scrolls = 0
        self.mouse_px = 0.0
        self.events_total = 0  # never reset: the liveness checks watch it move

    def add_key(self, *, backspace: bool = False, shortcut: bool = False) -> None:
        with self._lock:
            self.keys += 1
            self.backspaces += 1 if backspace else 0
            self.shortcuts += 1 if shortcut else 0
            self.events_total += 1

    def add_click(self) -> None:
        with self._lock:
            self.clicks += 1
            self.events_total += 1

    def add_scroll(self, notches: float = 1.0) -> None:
        with self._lock:
            self.scrolls += notches  # type: ignore[assignment]
            self.events_total += 1

    def add_motion(self, px: float) -> None:
        with self._lock:
            self.mouse_px += px
            self.events_total += 1

    def take(self) -> InputCounts:
        with self._lock:
            out = InputCounts(
                keys=float(self.keys),
                backspaces=float(self.backspaces),
                shortcuts=float(self.shortcuts),
                clicks=float(self.clicks),
                scrolls=float(self.scrolls),
                mouse_px=float(self.mouse_px),
            )
            self.keys = self.backspaces = self.shortcuts = self.clicks = self.scrolls = 0
            self.mouse_px = 0.0
        return out


class Backend:
    """Base class: a backend overrides ``sample()`` and declares its capabilities."""

    NAME = "base"
    HAS_FOREGROUND = False
    HAS_TITLE = False
    HAS_IDLE = False
    HAS_INPUT_COUNTS = False
    HAS_LOCK_STATE = False

    def start(self) -> None:
        """Open OS connections and start input-counting threads (idempotent)."""

    def stop(self) -> None:
        """Release everything ``start()`` acquired (idempotent, never raises)."""

    def sample(self) -> Sample:
        raise NotImplementedError

    def permissions(self) -> dict[str, str]:
        """Permission name -> state (``granted`` / ``missing`` / ``not_needed`` / ``unknown``)."""
        return {}

    def notes(self) -> list[str]:
        """Human sentences for ``doctor`` (what is missing and how to fix it)."""
        return []

    def capabilities(self) -> dict[str, bool]:
        return {
            "foreground": self.HAS_FOREGROUND,
            "title": self.HAS_TITLE,
            "idle": self.HAS_IDLE,
            "input_counts": self.HAS_INPUT_COUNTS,
            "lock_state": self.HAS_LOCK_STATE,
        }

    def missing_signals(self) -> tuple[str, ...]:
        return tuple(name for name, ok in self.capabilities().items() if not ok)


class BackendUnavailable(RuntimeError):
    """Raised by a backend constructor when it cannot run on this machine (and why)."""


class ProcessNames:
    """pid -> (process name, executable file name) through psutil, cached (a foreground pid is
    asked every second); bounded, and cleared when it fills, so it never grows with uptime.

    Keyed by pid *and* creation time, as psutil identifies a process: a pid the OS reuses for a
    new program is a new entry, never the old program's name.
    """

    MAX_ENTRIES = 256

    def __init__(self, process: Callable[[int], Any] | None = None) -> None:
        self._cache: dict[tuple[int, float], tuple[str | None, str | None]] = {}
        self._process = process

    def __call__(self, pid: int) -> tuple[str | None, str | None]:
        import os

        import psutil

        try:
            p = (self._process or psutil.Process)(pid)
            key = (pid, float(p.create_time()))
        except (psutil.Error, OSError):
            return (None, None)
        if key in self._cache:
            return self._cache[key]
        try:
            name = p.name()
            try:
                exe = os.path.basename(p.exe()) or None
            except (psutil.Error, OSError):
                exe = None
            out: tuple[str | None, str | None] = (name, exe)
        except (psutil.Error, OSError):
            out = (None, None)
        if len(self._cache) >= self.MAX_ENTRIES:
            self._cache.clear()
        self._cache[key] = out
        return out
