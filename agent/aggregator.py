"""From 1 Hz ticks to one ``ActivityRecord`` per bucket (spec 2.2).

Each tick covers the time since the previous tick, measured on the monotonic clock and placed
on the wall clock, ending at the wall time of the tick. A wall-clock *watermark* only ever moves
forward: a piece of time is attributed only after the watermark, so a clock that jumps back,
a resume from sleep or a DST change can never give a bucket twice, overlap two buckets or put
more than a bucket's length into one. Internally all times are integer milliseconds, so sums
are exact. A gap longer than a few ticks (sleep, a stalled process) is not attributed at all.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from agent.sampler._base import InputCounts
from engine.activity import NAN, ActivityRecord, Segment

#: Gaps this small between two ticks (the wall and monotonic clocks drifting by a few ms) are
#: closed rather than left as slivers that would split a foreground segment in two.
SNAP_MS = 100

LocalOffset = Callable[[float], tuple[int, str | None]]


def system_local_offset(ts: float) -> tuple[int, str | None]:
    """The local UTC offset (minutes) and zone abbreviation at epoch ``ts``."""
    lt = time.localtime(ts)
    return int(lt.tm_gmtoff // 60), lt.tm_zone


@dataclass(frozen=True, slots=True)
class Foreground:
    """The privacy-safe identity of the foreground window (the title is already a hash)."""

    app_id: str
    app_category: str
    is_browser: bool
    is_editor: bool
    is_terminal: bool
    title_hash: str | None
    domain_category: str


@dataclass(frozen=True, slots=True)
class Observation:
    """One tick, reduced: no raw title survives past the sampler thread."""

    foreground: Foreground | None  # None: the backend cannot tell
    idle_seconds: float = NAN  # OS idle time at the tick; NaN when unknown
    locked: bool = False
    counts: InputCounts = InputCounts()


class _OpenBucket:
    __slots__ = ("start_ms", "length_ms", "observed_ms", "segments", "counts", "kb_ms", "mouse_ms",
                 "any_ms", "cur_run_ms", "max_run_ms", "leading_ms", "locked_ms", "counts_known",
                 "activity_known", "offset", "tz_name")

    def __init__(self, start_ms: int, length_ms: int, offset: int, tz_name: str | None) -> None:
        self.start_ms = start_ms
        self.length_ms = length_ms
        self.observed_ms = 0
        self.segments: list[list[object]] = []  # [offset_ms, ms, Foreground]
        self.counts = [0.0] * 6
        self.counts_known = True
        self.activity_known = False
        self.kb_ms = self.mouse_ms = self.any_ms = 0
        self.cur_run_ms = self.max_run_ms = 0
        self.leading_ms: int | None = None
        self.locked_ms = 0
        self.offset = offset
        self.tz_name = tz_name


class Aggregator:
    """Feeds ticks into the open bucket and returns each bucket's record exactly once.

    ``tick()`` returns the records closed by that tick (usually none, one at a boundary);
    ``flush()`` finalises the open bucket as a partial one (stop, pause).
    """

    def __init__(
        self,
        *,
        user_id: str,
        device_id: str,
        bucket_seconds: int = 60,
        sample_seconds: float = 1.0,
        max_gap_seconds: float | None = None,
        sources: tuple[str, ...] = (),
        local_offset: LocalOffset = system_local_offset,
    ) -> None:
        if bucket_seconds <= 0:
            raise ValueError("bucket_seconds must be positive")
        self.user_id = user_id
        self.device_id = device_id
        self.bucket_ms = int(bucket_seconds) * 1000
        self.max_gap_ms = int(1000 * (max_gap_seconds if max_gap_seconds is not None
                                      else max(5.0, 5 * sample_seconds)))
        self.sources = tuple(sources)
        self.local_offset = local_offset
        self._last_mono: float | None = None
        self._watermark_ms = -(2**62)
        self._open: _OpenBucket | None = None

    # -- control ---------------------------------------------------------------------------

    @property
    def open_bucket_start(self) -> float | None:
        return None if self._open is None else self._open.start_ms / 1000.0

    @property
    def watermark(self) -> float:
        return self._watermark_ms / 1000.0

    def skip_until(self, wall_ts: float) -> None:
        """Attribute nothing before ``wall_ts`` (e.g. the end of a bucket already stored)."""
        self._watermark_ms = max(self._watermark_ms, int(math.ceil(wall_ts * 1000)))

    def reset_reference(self) -> None:
        """Forget the previous tick (after a pause): the next tick only sets the reference."""
        self._last_mono = None

    # -- ticks -----------------------------------------------------------------------------

    def tick(self, mono: float, wall: float, obs: Observation) -> list[ActivityRecord]:
        closed: list[ActivityRecord] = []
        wall_ms = int(round(wall * 1000))
        last, self._last_mono = self._last_mono, mono
        if self._open is not None and wall_ms + self.max_gap_ms < self._open.start_ms:
            # The wall clock went back before the open bucket: finalise it now.
            closed.extend(self._close())
        if last is not None:
            dt_ms = int(round((mono - last) * 1000))
            if 0 < dt_ms <= self.max_gap_ms:
                start = wall_ms - dt_ms
                if 0 < start - self._watermark_ms <= SNAP_MS:
                    start = self._watermark_ms  # clock jitter: no sliver of lost time
                self._attribute(max(start, self._watermark_ms), wall_ms, dt_ms, obs, closed)
        if self._open is not None and wall_ms >= self._open.start_ms + self._open.length_ms:
            closed.extend(self._close())
        return closed

    def flush(self) -> list[ActivityRecord]:
        """Finalise the open bucket (partial) and return it; nothing is lost at stop."""
        self._last_mono = None
        return self._close()

    # -- internals -------------------------------------------------------------------------

    def _attribute(self, start_ms: int, end_ms: int, dt_ms: int, obs: Observation,
                   closed: list[ActivityRecord]) -> None:
        if end_ms <= start_ms:
            return
        pieces: list[tuple[int, int]] = []
        t = start_ms
        while t < end_ms:
            b_end = (t // self.bucket_ms + 1) * self.bucket_ms
            e = min(end_ms, b_end)
            pieces.append((t, e))
            t = e
        # Counts go to the largest piece (later on ties): integers stay integers.
        main = max(range(len(pieces)), key=lambda i: (pieces[i][1] - pieces[i][0], i))
        for i, (a, e) in enumerate(pieces):
            b_start = (a // self.bucket_ms) * self.bucket_ms
            if self._open is not None and self._open.start_ms != b_start:
                closed.extend(self._close())
            if self._open is None:
                if a < self._watermark_ms:  # never reopen a closed bucket
                    continue
                offset, tz_name = self.local_offset(b_start / 1000.0)
                self._open = _OpenBucket(b_start, self.bucket_ms, offset, tz_name)
            self._add(self._open, a, e, obs, counted=(i == main), dt_ms=dt_ms)
            self._watermark_ms = max(self._watermark_ms, e)

    def _add(self, b: _OpenBucket, a: int, e: int, obs: Observation, *, counted: bool,
             dt_ms: int) -> None:
        ms = e - a
        b.observed_ms += ms
        fg = obs.foreground
        if fg is not None:
            off = a - b.start_ms
            if b.segments:
                last = b.segments[-1]
                if last[2] == fg and int(last[0]) + int(last[1]) == off:  # type: ignore[call-overload]
                    last[1] = int(last[1]) + ms  # type: ignore[call-overload]
                    fg = None
            if fg is not None:
                b.segments.append([off, ms, fg])
        c = obs.counts
        if not c.known:
            b.counts_known = False
        elif counted:
            for j, v in enumerate((c.keys, c.backspaces, c.shortcuts, c.clicks, c.scrolls,
                                   c.mouse_px)):
                b.counts[j] += v
        if obs.locked:
            b.locked_ms += ms
        kb = c.known and c.keyboard_active
        mouse = c.known and c.mouse_active
        idle_known = not math.isnan(obs.idle_seconds)
        os_active = idle_known and obs.idle_seconds * 1000 < dt_ms
        if not (c.known or idle_known):
            return  # activity unknown: no active seconds, no idle run
        b.activity_known = True
        if kb:
            b.kb_ms += ms
        if mouse:
            b.mouse_ms += ms
        if kb or mouse or os_active:
            b.any_ms += ms
            if b.leading_ms is None:
                b.leading_ms = b.cur_run_ms
            b.cur_run_ms = 0
        else:
            b.cur_run_ms += ms
            b.max_run_ms = max(b.max_run_ms, b.cur_run_ms)

    def _close(self) -> list[ActivityRecord]:
        b, self._open = self._open, None
        if b is None:
            return []
        self._watermark_ms = max(self._watermark_ms, b.start_ms + b.length_ms)
        if b.observed_ms <= 0:
            return []
        s = 1000.0
        segments = tuple(
            Segment(
                offset_s=int(off) / s,  # type: ignore[call-overload]
                seconds=int(ms) / s,  # type: ignore[call-overload]
                app_id=fg.app_id,  # type: ignore[attr-defined]
                app_category=fg.app_category,  # type: ignore[attr-defined]
                is_browser=fg.is_browser,  # type: ignore[attr-defined]
                is_editor=fg.is_editor,  # type: ignore[attr-defined]
                is_terminal=fg.is_terminal,  # type: ignore[attr-defined]
                title_hash=fg.title_hash,  # type: ignore[attr-defined]
                domain_category=fg.domain_category,  # type: ignore[attr-defined]
            )
            for off, ms, fg in b.segments
        )
        known = b.counts_known
        keys, backspaces, shortcuts, clicks, scrolls, mouse_px = (
            b.counts if known else [NAN] * 6
        )
        leading = b.leading_ms if b.leading_ms is not None else b.cur_run_ms
        return [
            ActivityRecord(
                user_id=self.user_id,
                device_id=self.device_id,
                bucket_start=datetime.fromtimestamp(b.start_ms // 1000, tz=UTC),
                bucket_seconds=b.length_ms // 1000,
                observed_seconds=b.observed_ms / s,
                utc_offset_minutes=b.offset,
                tz_name=b.tz_name,
                segments=segments,
                keys=keys,
                backspaces=backspaces,
                shortcuts=shortcuts,
                clicks=clicks,
                scrolls=scrolls,
                mouse_px=round(mouse_px, 3) if known else NAN,
                active_seconds_keyboard=b.kb_ms / s if known else NAN,
                active_seconds_mouse=b.mouse_ms / s if known else NAN,
                active_seconds_any=b.any_ms / s,
                max_idle_run_seconds=b.max_run_ms / s,
                leading_idle_seconds=leading / s,
                trailing_idle_seconds=b.cur_run_ms / s,
                input_events=(keys + clicks + scrolls) if known else NAN,
                locked_seconds=b.locked_ms / s,
                sources=self.sources,
            ).validate(where="aggregator")
        ]
