"""Small builders of ActivityRecords for the feature tests (readable worked examples)."""

from __future__ import annotations

import math
import struct
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.activity import ActivityRecord, Segment
from engine.apps import AppInfo, identify_app
from engine.features import FeatureRow
from engine.titles import reduce_title

KEY = bytes(range(32))
T0 = datetime(2026, 2, 23, 10, 0, tzinfo=UTC)  # a Monday
NAN = float("nan")
CLOCK = lambda: 4.0e9  # noqa: E731  (a "now" far after every test record)

CODE = identify_app("code.exe")
FIREFOX = identify_app("firefox")
SLACK = identify_app("Slack")
ZOOM = identify_app("zoom.exe")
TERMINAL = identify_app(None, bundle_id="com.apple.Terminal")


def seg(offset: float, seconds: float, app: AppInfo, title: str | None = None) -> Segment:
    h, d = reduce_title(KEY, title, app)
    return Segment(offset, seconds, app.app_id, app.category, app.is_browser, app.is_editor,
                   app.is_terminal, h, d)


def rec(
    minute: int,
    segments: tuple[Segment, ...] | list[Segment] = (),
    *,
    start: datetime = T0,
    user: str = "user-a",
    observed: float = 60.0,
    offset: int = 0,
    keys: float = NAN,
    backspaces: float = NAN,
    shortcuts: float = NAN,
    clicks: float = NAN,
    scrolls: float = NAN,
    mouse_px: float = NAN,
    active_kb: float = NAN,
    active_mouse: float = NAN,
    active_any: float = 0.0,
    max_idle: float | None = None,
    leading: float | None = None,
    trailing: float | None = None,
    events: float = NAN,
    locked: float = 0.0,
) -> ActivityRecord:
    """One bucket ``minute`` minutes after ``start``; a bucket without activity is all idle."""
    idle_all = active_any == 0.0
    return ActivityRecord(
        user_id=user,
        device_id="dev-1",
        bucket_start=start + timedelta(minutes=minute),
        observed_seconds=observed,
        utc_offset_minutes=offset,
        segments=tuple(segments),
        keys=keys,
        backspaces=backspaces,
        shortcuts=shortcuts,
        clicks=clicks,
        scrolls=scrolls,
        mouse_px=mouse_px,
        active_seconds_keyboard=active_kb,
        active_seconds_mouse=active_mouse,
        active_seconds_any=active_any,
        max_idle_run_seconds=max_idle if max_idle is not None else (observed if idle_all else 0.0),
        leading_idle_seconds=leading if leading is not None else (observed if idle_all else 0.0),
        trailing_idle_seconds=trailing if trailing is not None else (observed if idle_all else 0.0),
        input_events=events,
        locked_seconds=locked,
        sources=("test",),
    )


def active(minute: int, app: AppInfo = CODE, title: str | None = "main.py", **kw: Any) -> ActivityRecord:
    """A minute of light activity on one window."""
    kw.setdefault("active_any", 30.0)
    return rec(minute, [seg(0, 60, app, title)], **kw)


def bits(row: FeatureRow) -> tuple[Any, ...]:
    """A row as comparable values, floats by their exact bit pattern (NaN == NaN)."""
    out: list[Any] = [row.user_id, row.device_id, row.bucket_start, row.session_id,
                      row.session_start, row.window_title_hash, row.source_ids]
    for k, v in row.features.items():
        if isinstance(v, float):
            out.append((k, struct.pack("<d", v)))
        else:
            out.append((k, type(v).__name__, v))
    return tuple(out)


def isnan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)
