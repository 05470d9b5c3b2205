"""Pause and resume (spec 6.2): nothing is sampled or stored while paused; a timed pause ends
by itself; the state survives a restart (kept in the store's ``state`` table)."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

from agent.clock import Clock, iso, parse_ts
from agent.snapshot_hub import SnapshotHub

PAUSED_FOREVER = "forever"
STATE_PAUSED_UNTIL = "agent.paused_until"

#: ``persist(value)`` remembers the pause text (None: not paused) in the store.
Persist = Callable[[str | None], None]


class PauseControl:
    def __init__(self, clock: Clock, hub: SnapshotHub, persist: Persist) -> None:
        self._clock = clock
        self._hub = hub
        self._persist = persist
        self._lock = threading.Lock()
        self._until: float | None = None  # epoch; math.inf = until resumed
        self.changed = threading.Event()  # wakes the sampler loop

    def pause(self, seconds: float | None) -> None:
        now = self._clock.time()
        until = math.inf if seconds is None else now + max(0.0, float(seconds))
        with self._lock:
            self._until = until
        self.changed.set()
        text = PAUSED_FOREVER if until == math.inf else iso(until)
        self._hub.set(paused_until=text)
        self._persist(text)

    def resume(self) -> None:
        with self._lock:
            self._until = None
        self.changed.set()
        self._hub.set(paused_until=None)
        self._persist(None)

    def is_paused(self) -> bool:
        """True while paused; a timed pause that ran out resumes here."""
        with self._lock:
            until = self._until
        if until is None:
            return False
        if self._clock.time() >= until:
            self.resume()
            return False
        return True

    def restore(self, text: str | None) -> None:
        """The pause remembered by the last run, if it has not run out."""
        if not text:
            return
        until = math.inf if text == PAUSED_FOREVER else parse_ts(text)
        if until is not None and until > self._clock.time():
            with self._lock:
                self._until = until
            self._hub.set(paused_until=text)
