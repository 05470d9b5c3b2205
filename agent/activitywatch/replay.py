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
    INPUT_SLACK_S,
    STALE_S,
    TICK_S,
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

    @property
    def next_start(self) -> float:
        return self._next.start if self._next is not None else math.inf

    @property
    def live(self) -> list[InputEvent]:
        return list(self._live)

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

    ``inputs`` is ``None`` when there is no input watcher (counts stay NaN). ``aggregator``
    must accept long ticks (``max_gap_seconds`` of a day, see ``replay_aggregator``): a stretch
    of seconds that would all give the same observation with no input counted (the same window,
    AFK state and activity, no input event starting) is fed as one tick covering the stretch,
    which the aggregator attributes exactly as it would the seconds one by one; a gap longer
    than the live agent's ``LIVE_MAX_GAP_S`` resets the reference as in the agent."""
    win, afk = _Cursor(windows), _Cursor(afks)
    inp = _InputWindow(inputs)
    lo = -math.inf if start is None else start
    hi = math.inf if end is None else end
    t = math.ceil(max(lo, min(win.next_start, afk.next_start)))
    last_tick: int | None = None
    hour = None
    bucket_s = aggregator.bucket_ms // 1000
    while t < hi:
        w = win.advance(t)
        a = afk.advance(t)
        if not any(ev is not None and ev.start <= t <= ev.end + STALE_S for ev in (w, a)):
            nxt = min(win.next_start, afk.next_start)
            if nxt == math.inf:
                break
            t = max(t + 1, math.ceil(nxt))
            continue
        if last_tick is not None and t - last_tick > LIVE_MAX_GAP_S:
            aggregator.reset_reference()  # the agent attributes nothing across a long gap
        rw = w if isinstance(w, ReducedWindow) else None
        ae = a if isinstance(a, AfkEvent) else None
        live = inp.at(t)
        yield from aggregator.tick(float(t), float(t), _observe(t, rw, ae, live))
        last_tick = t
        if progress is not None and t // 3600 != hour:
            hour = t // 3600
            progress(float(t))
        # the next second at which anything may change; the seconds before it are alike
        # (never across a bucket boundary: per-bucket counts must see the run's counts)
        boundary = (t // bucket_s + 1) * bucket_s + 1
        nxt = min(hi, boundary, _next_change(t, rw, ae, win.next_start, afk.next_start, inp))
        if nxt - 1 > t + 1:
            run_end = int(nxt - 1)
            obs = _observe(t + 1, rw, ae, inp.at(t + 1))
            if not math.isnan(obs.idle_seconds):  # one tick for the run: keep the idle class
                obs = Observation(obs.foreground, 0.0 if obs.idle_seconds < TICK_S else math.inf,
                                  obs.locked, obs.counts)
            yield from aggregator.tick(float(run_end), float(run_end), obs)
            last_tick = t = run_end
        t += 1
    yield from aggregator.flush()


#: The live agent attributes nothing across a gap between ticks longer than this (its
#: aggregator's default ``max_gap_seconds`` at 1 Hz).
LIVE_MAX_GAP_S = 5
#: The import's aggregator takes ticks this long (runs of alike seconds, never a gap).
RUN_MAX_S = 86400.0


def replay_aggregator(**kwargs: object) -> Aggregator:
    """An aggregator for ``replay`` (long ticks allowed; gaps are handled by the replay)."""
    return Aggregator(max_gap_seconds=RUN_MAX_S, **kwargs)  # type: ignore[arg-type]


def _observe(t: int, rw: ReducedWindow | None, ae: AfkEvent | None,
             live: list[InputEvent] | None) -> Observation:
    s = sample_at(t, rw, ae, counts_at(t, live))
    fg = rw.fg if (s.has_foreground and rw is not None) else None
    return Observation(foreground=fg, idle_seconds=s.idle_seconds, locked=False, counts=s.counts)


def _next_change(t: int, w: ReducedWindow | None, a: AfkEvent | None, win_next: float,
                 afk_next: float, inp: _InputWindow) -> float:
    """The first second after ``t`` whose observation may differ from the one at ``t + 1``."""
    cands: list[float] = [_ceil(win_next), _ceil(afk_next)]
    if w is not None:
        cands.append(math.floor(w.end + STALE_S) + 1)  # stale window / computer off
    if a is not None:
        cands.append(math.floor(a.end + STALE_S) + 1)
        if a.afk and a.start + TICK_S > t:
            cands.append(math.ceil(a.start + TICK_S))  # idle reaches a second: inactive
    if inp.present:
        cands.append(_ceil(inp.next_start))
        if inp.live:
            cands.append(math.floor(max(e.end for e in inp.live) + INPUT_SLACK_S + TICK_S) + 1)
    return float(max(t + 1, min(cands)))


def _ceil(x: float) -> float:
    return x if math.isinf(x) else float(math.ceil(x))
