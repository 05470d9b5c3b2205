"""What an ActivityWatch event means at one instant: the single mapping from the window, AFK and
input events around a tick to the ``Sample`` the aggregator sees.

The live backend asks the server for the newest events at each tick; the import replays an
export second by second, treating every event as known from its own timestamp. Both then call
``sample_at`` with the newest window and AFK events that started at or before the tick, and
``counts_at`` with the input events around it, so the same events give the same records.

* window (``currentwindow``, ``{app, title}``): in front from its timestamp; once it has ended
  it stays in front for ``STALE_S`` more seconds (a watcher's heartbeat may be late), then
  nothing is known about the foreground;
* AFK (``afkstatus``, ``{status}``): ``not-afk`` means idle 0; ``afk`` means idle since the
  event's timestamp (aw-watcher-afk back-dates it to the last input);
* input (``os.hid.input``, aw-watcher-input: ``{presses, clicks, deltaX, deltaY, scrollX,
  scrollY}``): an event's counts belong to the tick in which it starts (the live backend counts
  each event once, when it first sees it); a tick no input event covers has unknown counts
  (NaN), never zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from agent.sampler._base import NAN, InputCounts, Sample
from engine.errors import ArtifactError

WINDOW_TYPE = "currentwindow"
AFK_TYPE = "afkstatus"
INPUT_TYPE = "os.hid.input"
BUCKET_TYPES = (WINDOW_TYPE, AFK_TYPE, INPUT_TYPE)

#: A window event that ended longer ago than this no longer says what is in front.
STALE_S = 60.0
#: Seconds per tick (the agent samples at 1 Hz).
TICK_S = 1.0
#: aw-watcher-input heartbeats with a pulsetime of poll time + 0.1 s; allow that much slack
#: when asking whether an input event covers a tick.
INPUT_SLACK_S = 0.2
#: Timestamps before 1990 or after 2200 are corrupt, not history.
_MIN_TS, _MAX_TS = 631152000.0, 7258118400.0
#: One event never lasts longer than this (a year).
_MAX_DURATION_S = 366 * 86400.0


class WindowLike(Protocol):
    """A window event, raw (live) or with its title already reduced (import)."""

    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def app(self) -> str | None: ...
    @property
    def title(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class WindowEvent:
    start: float
    end: float
    app: str | None
    title: str | None


@dataclass(frozen=True, slots=True)
class AfkEvent:
    start: float
    end: float
    afk: bool


@dataclass(frozen=True, slots=True)
class InputEvent:
    start: float
    end: float
    keys: float
    clicks: float
    scrolls: float
    mouse_px: float


def parse_time(value: Any, where: str | None, field: str) -> float:
    """An ActivityWatch timestamp (ISO 8601 with offset) as epoch seconds."""
    if not isinstance(value, str):
        raise ArtifactError(where, field, "expected an ISO-8601 timestamp string")
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ArtifactError(where, field, f"not an ISO-8601 timestamp: {value[:40]!r}") from None
    if dt.tzinfo is None:
        raise ArtifactError(where, field, "timestamp needs a UTC offset")
    ts = dt.timestamp()
    if not _MIN_TS <= ts <= _MAX_TS:
        raise ArtifactError(where, field, f"timestamp out of range: {value[:40]!r}")
    return ts


def _duration(obj: dict[str, Any], where: str | None, field: str) -> float:
    v = obj.get("duration", 0.0)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(float(v)):
        raise ArtifactError(where, field, "expected a number of seconds")
    d = float(v)
    if not 0.0 <= d <= _MAX_DURATION_S:
        raise ArtifactError(where, field, f"out of range: {d:g} s")
    return d


def _data(obj: dict[str, Any], where: str | None, field: str) -> dict[str, Any]:
    data = obj.get("data", {})
    if not isinstance(data, dict):
        raise ArtifactError(where, field, "expected an object")
    return data


def _span(obj: Any, where: str | None, field: str) -> tuple[float, float, dict[str, Any]]:
    if not isinstance(obj, dict):
        raise ArtifactError(where, field, "expected an event object")
    start = parse_time(obj.get("timestamp"), where, f"{field}.timestamp")
    return start, start + _duration(obj, where, f"{field}.duration"), _data(obj, where, f"{field}.data")


def _text(data: dict[str, Any], key: str, where: str | None, field: str) -> str | None:
    v = data.get(key)
    if v is None:
        return None
    if not isinstance(v, str):
        raise ArtifactError(where, f"{field}.data.{key}", "expected a string")
    return v


def window_event(obj: Any, where: str | None = None, field: str = "event") -> WindowEvent:
    start, end, data = _span(obj, where, field)
    return WindowEvent(start, end, _text(data, "app", where, field), _text(data, "title", where, field))


def afk_event(obj: Any, where: str | None = None, field: str = "event") -> AfkEvent:
    start, end, data = _span(obj, where, field)
    status = data.get("status")
    if status not in ("afk", "not-afk"):
        raise ArtifactError(where, f"{field}.data.status", "expected 'afk' or 'not-afk'")
    return AfkEvent(start, end, status == "afk")


def input_event(obj: Any, where: str | None = None, field: str = "event") -> InputEvent:
    start, end, data = _span(obj, where, field)

    def count(key: str) -> float:
        v = data.get(key, 0)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(float(v)):
            raise ArtifactError(where, f"{field}.data.{key}", "expected a number")
        return abs(float(v))

    return InputEvent(start, end, keys=count("presses"), clicks=count("clicks"),
                      scrolls=count("scrollX") + count("scrollY"),
                      mouse_px=math.hypot(count("deltaX"), count("deltaY")))


def window_fresh(ev: WindowLike | None, now: float) -> bool:
    """Does this window event (the newest that started by ``now``) still say what is in front?"""
    return ev is not None and ev.start <= now and now - ev.end <= STALE_S


def counts_at(now: float, events: list[InputEvent] | None,
              since: float | None = None) -> InputCounts:
    """Input counts of the tick ending at ``now``: the counts of the input events that started
    in ``(since, now]`` (``since`` defaults to the previous tick), each event counted once even
    when aw-server later extends it. ``None`` (no input watcher), or no input event covering
    the tick: unknown (NaN), never 0."""
    if not events:
        return InputCounts()
    lo = now - TICK_S
    since = lo if since is None else since
    covered = any(e.start <= now and e.end + INPUT_SLACK_S >= lo for e in events)
    if not covered:
        return InputCounts()
    keys = clicks = scrolls = px = 0.0
    for e in events:
        if since < e.start <= now:
            keys += e.keys
            clicks += e.clicks
            scrolls += e.scrolls
            px += e.mouse_px
    # aw-watcher-input counts neither backspaces nor shortcuts: those stay unknown.
    return InputCounts(keys=keys, backspaces=NAN, shortcuts=NAN, clicks=clicks,
                       scrolls=scrolls, mouse_px=px)


def sample_at(now: float, window: WindowLike | None, afk: AfkEvent | None,
              counts: InputCounts | None = None) -> Sample:
    """The sample a tick at ``now`` sees, from the newest window and AFK events that started
    at or before ``now`` (the raw title stays inside the returned transient sample)."""
    app = title = None
    if window_fresh(window, now):
        assert window is not None
        app, title = window.app, window.title
    idle = NAN
    if afk is not None and afk.start <= now:
        idle = max(0.0, now - afk.start) if afk.afk else 0.0
    return Sample(app_name=app, title=title, idle_seconds=idle,
                  counts=counts if counts is not None else InputCounts())
