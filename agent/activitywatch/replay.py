"""Replay ActivityWatch events second by second through the agent's own aggregator.

An import must give the very records the live backend would have written had the agent been
running: so the events are not summed per bucket by a second implementation, they are played
as 1 Hz ticks (``sample_at`` at each whole second, each event known from its own timestamp)
into the same ``Observer`` and ``Aggregator`` the agent uses. Ticks exist only while a window or
AFK event says the computer was on (an event, or the ``STALE_S`` after it); a longer gap closes
the open bucket exactly as a suspend does in the agent.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from agent.activitywatch.events import (
    STALE_S,
    AfkEvent,
    InputEvent,
    counts_at,
    sample_at,
)
from agent.aggregator import Aggregator, Foreground, Observation
from engine.activity import ActivityRecord


@dataclass(frozen=True, slots=True)
class ReducedWindow:
    """A window event whose title is already reduced (``fg``): what the import keeps."""

    start: float
    end: float
    fg: Foreground | None

    @property
    def app(self) -> str | None:
        return self.fg.app_id if self.fg is not None else None

    @property
    def title(self) -> None:
        return None


Progress = Callable[[float], None]


class _Cursor:
    """The newest event that started at or before a time, over a stream sorted by start."""

    def __init__(self, events: Iterable[ReducedWindow | AfkEvent]) -> None:
        self._it: Iterator[ReducedWindow | AfkEvent] = iter(events)
        self.current: ReducedWindow | AfkEvent | None = None
        self._next: ReducedWindow | AfkEvent | None = next(self._it, None)

    def advance(self, t: float) -> ReducedWindow | AfkEvent | None:
        while self._next is not None and self._next.start <= t:
            self.current, self._next = self._next, next(self._it, None)
        return self.current

    @property
    def next_start(self) -> float:
        return self._next.start if self._next is not None else math.inf


class _InputWindow:
    """The input events that overlap the tick ending at ``t`` (a sliding window)."""

    def __init__(self, events: Iterable[InputEvent] | None) -> None:
        self.present = events is not None
        self._it = iter(events or ())
        self._next = next(self._it, None)
        self._live: deque[InputEvent] = deque()

    def at(self, t: float) -> list[InputEvent] | None:
        if not self.present:
            return None
        while self._next is not None and self._next.start <= t:
            self._live.append(self._next)
            self._next = next(self._it, None)
        lo = t - 2.0
        if any(e.end < lo for e in self._live):
            self._live = deque(e for e in self._live if e.end >= lo)
        return list(self._live)


def replay(
    windows: Iterable[ReducedWindow],
    afks: Iterable[AfkEvent],
    inputs: Iterable[InputEvent] | None,
    aggregator: Aggregator,
    *,
    start: float | None = None,
    end: float | None = None,
    progress: Progress | None = None,
) -> Iterator[ActivityRecord]:
    """Records of the ticks in ``[start, end)`` (whole seconds); every stream sorted by start.

    ``inputs`` is ``None`` when there is no input watcher (counts stay NaN)."""
    win, afk = _Cursor(windows), _Cursor(afks)
    inp = _InputWindow(inputs)
    lo = -math.inf if start is None else start
    hi = math.inf if end is None else end
    t = math.ceil(max(lo, min(win.next_start, afk.next_start)))
    while t < hi:
        w = win.advance(t)
        a = afk.advance(t)
        on = any(ev is not None and ev.start <= t <= ev.end + STALE_S for ev in (w, a))
        if not on:
            nxt = min(win.next_start, afk.next_start)
            if nxt == math.inf:
                break
            t = max(t + 1, math.ceil(nxt))
            continue
        rw = w if isinstance(w, ReducedWindow) else None
        ae = a if isinstance(a, AfkEvent) else None
        s = sample_at(t, rw, ae, counts_at(t, inp.at(t)))
        fg = rw.fg if (s.has_foreground and rw is not None) else None
        obs = Observation(foreground=fg, idle_seconds=s.idle_seconds, locked=False,
                          counts=s.counts)
        yield from aggregator.tick(float(t), float(t), obs)
        if progress is not None and t % 3600 == 0:
            progress(float(t))
        t += 1
    yield from aggregator.flush()
