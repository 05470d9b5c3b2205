"""Where the agent reads time: the system clock, a faster one for end-to-end tests, and a
manual one that tests move by hand (no sleeping, no counting races).

Every collaborator of the runtime takes a ``Clock``; nothing in ``agent/`` outside this module
calls ``time.time()`` for a decision about buckets, pauses, prompts or the user's day.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, tzinfo
from typing import Protocol

from agent.aggregator import system_local_offset


class Clock(Protocol):
    """Monotonic time (tick spacing), wall time (bucket placement) and the local UTC offset."""

    @property
    def scale(self) -> float:
        """How many seconds of this clock pass per real second (1 except in tests)."""
        ...

    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    def local_offset(self, ts: float) -> tuple[int, str | None]: ...


class SystemClock:
    scale = 1.0

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def local_offset(self, ts: float) -> tuple[int, str | None]:
        return system_local_offset(ts)


class ScaledClock(SystemClock):
    """Time running ``scale`` times faster, for end-to-end tests of minute-long rules (session
    breaks after 300 s of idleness) in seconds. Wall time starts in the past so it never runs
    ahead of the real clock within ``budget_seconds`` of real time."""

    def __init__(self, scale: float, budget_seconds: float) -> None:
        if scale < 1:
            raise ValueError("scale must be >= 1")
        self.scale = float(scale)
        self._m0 = time.monotonic()
        self._t0 = time.time()
        self._origin = self._t0 - (self.scale - 1.0) * budget_seconds

    def monotonic(self) -> float:
        return self._m0 + (time.monotonic() - self._m0) * self.scale

    def time(self) -> float:
        return self._origin + (time.time() - self._t0) * self.scale


class ManualClock:
    """A clock that only moves when told to (``advance``, ``set_wall``), in a given time zone.

    ``set_wall`` moves the wall clock alone (a user or NTP setting the clock); ``advance``
    moves both clocks, as real time passing does.
    """

    scale = 1.0

    def __init__(self, wall: float | datetime, *, tz: tzinfo = UTC, mono: float = 1000.0) -> None:
        self._lock = threading.Lock()
        self._wall = wall.timestamp() if isinstance(wall, datetime) else float(wall)
        self._mono = float(mono)
        self.tz = tz

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def time(self) -> float:
        with self._lock:
            return self._wall

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._mono += seconds
            self._wall += seconds

    def set_wall(self, wall: float | datetime) -> None:
        with self._lock:
            self._wall = wall.timestamp() if isinstance(wall, datetime) else float(wall)

    def local_offset(self, ts: float) -> tuple[int, str | None]:
        local = datetime.fromtimestamp(ts, self.tz)
        off = local.utcoffset()
        return (0 if off is None else int(off.total_seconds() // 60)), local.tzname()


def iso(ts: float | datetime) -> str:
    """ISO 8601 in UTC, whole seconds (how the snapshot and the store spell instants)."""
    dt = ts if isinstance(ts, datetime) else datetime.fromtimestamp(ts, tz=UTC)
    return dt.astimezone(UTC).replace(microsecond=0).isoformat()


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def parse_ts(value: str) -> float | None:
    try:
        return parse_iso(value).timestamp()
    except ValueError:
        return None


def local_day_start(clock: Clock, ts: float) -> float:
    """Epoch of the local midnight that starts the user's day containing ``ts``."""
    off, _ = clock.local_offset(ts)
    day_start = (ts + off * 60) // 86400 * 86400 - off * 60
    # across a DST change the offset at midnight differs from the one at ``ts``
    off0, _ = clock.local_offset(day_start)
    if off0 != off:
        day_start = (ts + off * 60) // 86400 * 86400 - off0 * 60
    return float(day_start)
