"""The privacy-safe ``ActivityRecord`` of one bucket (spec 2.2).

A record holds what the agent keeps of a bucket: clipped foreground segments (app ids,
categories, title hashes, domain categories; never raw titles), aggregate input counters
(NaN where a backend cannot count), activity/idle seconds and lock-screen seconds.
It is the only input of the feature builder, online and offline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from engine.apps import CATEGORIES
from engine.errors import ArtifactError
from engine.titles import DOMAIN_CATEGORIES

RECORD_VERSION = 1
BUCKET_SECONDS = 60
_EPS = 1e-6
#: No input counter of one bucket comes near this; beyond it a value is corrupt, not busy.
MAX_COUNT = 1e9

NAN = float("nan")

COUNTER_FIELDS: tuple[str, ...] = ("keys", "backspaces", "shortcuts", "clicks", "scrolls", "mouse_px")
SECONDS_FIELDS: tuple[str, ...] = (
    "active_seconds_keyboard",
    "active_seconds_mouse",
    "active_seconds_any",
    "max_idle_run_seconds",
    "leading_idle_seconds",
    "trailing_idle_seconds",
    "locked_seconds",
)


@dataclass(frozen=True, slots=True)
class Segment:
    """One foreground stretch inside a bucket (offset from the bucket start, in seconds)."""

    offset_s: float
    seconds: float
    app_id: str
    app_category: str
    is_browser: bool
    is_editor: bool
    is_terminal: bool
    title_hash: str | None
    domain_category: str

    def to_json(self) -> dict[str, Any]:
        return {
            "offset_s": float(self.offset_s),
            "seconds": float(self.seconds),
            "app_id": self.app_id,
            "app_category": self.app_category,
            "is_browser": self.is_browser,
            "is_editor": self.is_editor,
            "is_terminal": self.is_terminal,
            "title_hash": self.title_hash,
            "domain_category": self.domain_category,
        }


@dataclass(frozen=True, slots=True)
class ActivityRecord:
    """One finalised bucket. ``bucket_start`` is an aware UTC datetime on the bucket grid."""

    user_id: str
    device_id: str
    bucket_start: datetime
    observed_seconds: float
    utc_offset_minutes: int
    segments: tuple[Segment, ...] = ()
    keys: float = NAN
    backspaces: float = NAN
    shortcuts: float = NAN
    clicks: float = NAN
    scrolls: float = NAN
    mouse_px: float = NAN
    active_seconds_keyboard: float = NAN
    active_seconds_mouse: float = NAN
    active_seconds_any: float = 0.0
    max_idle_run_seconds: float = 0.0
    leading_idle_seconds: float = 0.0
    trailing_idle_seconds: float = 0.0
    input_events: float = NAN
    locked_seconds: float = 0.0
    tz_name: str | None = None
    bucket_seconds: int = BUCKET_SECONDS
    sources: tuple[str, ...] = field(default_factory=tuple)
    record_version: int = RECORD_VERSION

    @property
    def bucket_start_ts(self) -> float:
        return self.bucket_start.timestamp()

    @property
    def bucket_end(self) -> datetime:
        from datetime import timedelta

        return self.bucket_start + timedelta(seconds=self.bucket_seconds)

    def validate(self, *, where: str | None = None) -> ActivityRecord:
        """Refuse an impossible record with a message naming the field; return self."""
        return validate_record(self, where=where)

    def to_json(self) -> dict[str, Any]:
        def num(x: float) -> float | None:
            return None if math.isnan(x) else float(x)

        out: dict[str, Any] = {
            "record_version": self.record_version,
            "user_id": self.user_id,
            "device_id": self.device_id,
            "bucket_start": self.bucket_start.astimezone(UTC).isoformat(),
            "bucket_seconds": self.bucket_seconds,
            "observed_seconds": float(self.observed_seconds),
            "utc_offset_minutes": self.utc_offset_minutes,
            "tz_name": self.tz_name,
            "segments": [s.to_json() for s in self.segments],
        }
        for name in COUNTER_FIELDS:
            out[name] = num(getattr(self, name))
        for name in SECONDS_FIELDS:
            out[name] = num(getattr(self, name))
        out["input_events"] = num(self.input_events)
        out["sources"] = list(self.sources)
        return out

    @classmethod
    def from_json(
        cls, obj: Any, *, where: str | None = None, default_tz: tzinfo | None = None
    ) -> ActivityRecord:
        return record_from_json(obj, where=where, default_tz=default_tz)


def _fail(where: str | None, fieldname: str, reason: str) -> ArtifactError:
    return ArtifactError(where, fieldname, reason)


def _num(obj: dict[str, Any], key: str, where: str | None, *, default: float | None = None,
         allow_nan: bool = True) -> float:
    if key not in obj:
        if default is None:
            raise _fail(where, key, "missing")
        return default
    v = obj[key]
    if v is None:
        if not allow_nan:
            raise _fail(where, key, "must not be null")
        return NAN
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise _fail(where, key, f"expected a number, got {type(v).__name__}")
    f = float(v)
    if math.isnan(f) and not allow_nan:
        raise _fail(where, key, "must not be NaN")
    if math.isinf(f):
        raise _fail(where, key, "must be finite")
    return f


def _str(obj: dict[str, Any], key: str, where: str | None, *, optional: bool = False) -> str | None:
    if key not in obj or obj[key] is None:
        if optional:
            return None
        raise _fail(where, key, "missing")
    v = obj[key]
    if not isinstance(v, str):
        raise _fail(where, key, f"expected a string, got {type(v).__name__}")
    return v


def parse_utc(value: Any, *, where: str | None, field_name: str) -> datetime:
    """An ISO-8601 timestamp with an offset (or ``Z``), returned as aware UTC."""
    if not isinstance(value, str):
        raise _fail(where, field_name, "expected an ISO-8601 timestamp string")
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _fail(where, field_name, f"not an ISO-8601 timestamp: {value[:40]!r}") from None
    if dt.tzinfo is None:
        raise _fail(where, field_name, "timestamp needs a UTC offset (e.g. +00:00)")
    return dt.astimezone(UTC)


def _segment_from_json(s: Any, where: str | None, prefix: str) -> Segment:
    if not isinstance(s, dict):
        raise _fail(where, prefix, "expected an object")
    try:
        category = _str(s, "app_category", where) or "other"
        flags = {}
        for flag, cat in (("is_browser", "browser"), ("is_editor", "editor"),
                          ("is_terminal", "terminal")):
            v = s.get(flag)
            if v is None:
                v = category == cat  # the flags follow the category (spec 2.4)
            elif not isinstance(v, bool):
                raise _fail(where, flag, "expected true or false")
            flags[flag] = v
        return Segment(
            offset_s=_num(s, "offset_s", where, allow_nan=False),
            seconds=_num(s, "seconds", where, allow_nan=False),
            app_id=_str(s, "app_id", where) or "",
            app_category=category,
            is_browser=flags["is_browser"],
            is_editor=flags["is_editor"],
            is_terminal=flags["is_terminal"],
            title_hash=_str(s, "title_hash", where, optional=True),
            domain_category=_str(s, "domain_category", where, optional=True) or "non_browser",
        )
    except ArtifactError as exc:
        raise _fail(where, f"{prefix}.{exc.field}", exc.reason) from None


def record_from_json(
    obj: Any, *, where: str | None = None, default_tz: tzinfo | None = None
) -> ActivityRecord:
    """Parse and validate one record. A record without ``utc_offset_minutes`` gets the offset
    of ``default_tz`` at its bucket start (and its name), else UTC."""
    if not isinstance(obj, dict):
        raise _fail(where, "record", "expected a JSON object")
    version = obj.get("record_version", RECORD_VERSION)
    if version != RECORD_VERSION:
        raise _fail(where, "record_version", f"unsupported version {version!r} (expected 1)")
    segs_raw = obj.get("segments", [])
    if not isinstance(segs_raw, list):
        raise _fail(where, "segments", "expected a list")
    segments = [_segment_from_json(s, where, f"segments[{i}]") for i, s in enumerate(segs_raw)]
    sources = obj.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(x, str) for x in sources):
        raise _fail(where, "sources", "expected a list of strings")
    bucket_start = parse_utc(obj.get("bucket_start"), where=where, field_name="bucket_start")
    tz_name = _str(obj, "tz_name", where, optional=True)
    offset = obj.get("utc_offset_minutes")
    if offset is None:
        offset = 0
        if default_tz is not None:
            delta = bucket_start.astimezone(default_tz).utcoffset()
            offset = int(delta.total_seconds() // 60) if delta is not None else 0
            tz_name = tz_name or str(getattr(default_tz, "key", default_tz))
    if isinstance(offset, bool) or not isinstance(offset, int) or abs(offset) > 18 * 60:
        raise _fail(where, "utc_offset_minutes", "expected an integer within +-1080")
    bucket_seconds = obj.get("bucket_seconds", BUCKET_SECONDS)
    if isinstance(bucket_seconds, bool) or not isinstance(bucket_seconds, int) or bucket_seconds <= 0:
        raise _fail(where, "bucket_seconds", "expected a positive integer")
    rec = ActivityRecord(
        user_id=_str(obj, "user_id", where) or "",
        device_id=_str(obj, "device_id", where, optional=True) or "",
        bucket_start=bucket_start,
        bucket_seconds=bucket_seconds,
        observed_seconds=_num(obj, "observed_seconds", where, allow_nan=False),
        utc_offset_minutes=offset,
        tz_name=tz_name,
        segments=tuple(segments),
        keys=_num(obj, "keys", where, default=NAN),
        backspaces=_num(obj, "backspaces", where, default=NAN),
        shortcuts=_num(obj, "shortcuts", where, default=NAN),
        clicks=_num(obj, "clicks", where, default=NAN),
        scrolls=_num(obj, "scrolls", where, default=NAN),
        mouse_px=_num(obj, "mouse_px", where, default=NAN),
        active_seconds_keyboard=_num(obj, "active_seconds_keyboard", where, default=NAN),
        active_seconds_mouse=_num(obj, "active_seconds_mouse", where, default=NAN),
        active_seconds_any=_num(obj, "active_seconds_any", where, default=0.0),
        max_idle_run_seconds=_num(obj, "max_idle_run_seconds", where, default=0.0),
        leading_idle_seconds=_num(obj, "leading_idle_seconds", where, default=0.0),
        trailing_idle_seconds=_num(obj, "trailing_idle_seconds", where, default=0.0),
        input_events=_num(obj, "input_events", where, default=NAN),
        locked_seconds=_num(obj, "locked_seconds", where, default=0.0),
        sources=tuple(sources),
    )
    return validate_record(rec, where=where)


def validate_record(rec: ActivityRecord, *, where: str | None = None) -> ActivityRecord:
    """Refuse an impossible record with one message naming the field; return it unchanged.

    NaN is allowed only where it means "cannot count" (the input counters, ``input_events``
    and the keyboard/mouse activity seconds); infinities and negative values never are.
    """
    if _quick_ok(rec):
        return rec
    if not isinstance(rec.user_id, str) or not rec.user_id:
        raise _fail(where, "user_id", "must be a non-empty string")
    if not isinstance(rec.device_id, str):
        raise _fail(where, "device_id", "must be a string")
    if rec.record_version != RECORD_VERSION:
        raise _fail(where, "record_version", f"unsupported version {rec.record_version!r}")
    if not isinstance(rec.bucket_start, datetime) or rec.bucket_start.tzinfo is None:
        raise _fail(where, "bucket_start", "must be timezone-aware (UTC)")
    if isinstance(rec.bucket_seconds, bool) or not isinstance(rec.bucket_seconds, int) or \
            rec.bucket_seconds <= 0:
        raise _fail(where, "bucket_seconds", "expected a positive integer")
    offset = rec.utc_offset_minutes
    if isinstance(offset, bool) or not isinstance(offset, int) or abs(offset) > 18 * 60:
        raise _fail(where, "utc_offset_minutes", "expected an integer within +-1080")
    ts = rec.bucket_start.timestamp()
    if ts % rec.bucket_seconds != 0:
        raise _fail(where, "bucket_start", f"not aligned to the {rec.bucket_seconds}s bucket grid")
    length = float(rec.bucket_seconds)
    if not (0.0 <= rec.observed_seconds <= length + _EPS):
        raise _fail(where, "observed_seconds", f"must be within 0..{rec.bucket_seconds}")
    total = 0.0
    prev_end = 0.0
    for i, s in enumerate(rec.segments):
        f = f"segments[{i}]"
        if not (s.seconds >= 0 and s.offset_s >= 0):
            raise _fail(where, f, "negative or missing offset or duration")
        if s.offset_s + s.seconds > length + _EPS:
            raise _fail(where, f, "extends past the end of the bucket")
        if s.offset_s + _EPS < prev_end:
            raise _fail(where, f, "overlaps the previous segment (segments must be ordered)")
        prev_end = s.offset_s + s.seconds
        total += s.seconds
        if not isinstance(s.app_id, str) or not s.app_id:
            raise _fail(where, f"{f}.app_id", "must be non-empty")
        if s.app_category not in CATEGORIES:
            raise _fail(where, f"{f}.app_category", f"unknown category {str(s.app_category)[:40]!r}")
        if s.domain_category not in DOMAIN_CATEGORIES:
            raise _fail(where, f"{f}.domain_category",
                        f"unknown domain category {str(s.domain_category)[:40]!r}")
        if (s.is_browser, s.is_editor, s.is_terminal) != _FLAGS[s.app_category]:
            raise _fail(where, f"{f}.is_browser", "is_browser/is_editor/is_terminal must follow app_category")
        if s.title_hash is not None and not _is_title_hash(s.title_hash):
            raise _fail(where, f"{f}.title_hash", "must be 16 lowercase hex characters or null")
    if total > rec.observed_seconds + _EPS:
        raise _fail(where, "segments", "more foreground seconds than observed seconds")
    for name in COUNTER_FIELDS + ("input_events",):
        v = getattr(rec, name)
        if not math.isnan(v) and not (0 <= v <= MAX_COUNT):
            raise _fail(where, name, f"must be a number within 0..{MAX_COUNT:.0e} (or null when unknown)")
    for name in SECONDS_FIELDS:
        v = getattr(rec, name)
        if math.isnan(v):
            if name in ("active_seconds_keyboard", "active_seconds_mouse"):
                continue
            raise _fail(where, name, "must not be null")
        if v < 0 or v > length + _EPS:
            raise _fail(where, name, f"must be within 0..{rec.bucket_seconds}")
    if rec.locked_seconds > rec.observed_seconds + _EPS:
        raise _fail(where, "locked_seconds", "more locked seconds than observed seconds")
    return rec


_HEX = frozenset("0123456789abcdef")
_DOMAINS: frozenset[str] = frozenset(DOMAIN_CATEGORIES)
_FLAGS: dict[str, tuple[bool, bool, bool]] = {
    c: (c == "browser", c == "editor", c == "terminal") for c in CATEGORIES
}


def _quick_ok(rec: ActivityRecord) -> bool:
    """The checks of ``validate_record`` as one fast pass (the feature builder runs it per
    bucket); on False the detailed pass finds the field and the reason."""
    bs = rec.bucket_seconds
    if type(bs) is not int or bs <= 0 or rec.record_version != RECORD_VERSION:
        return False
    u = rec.user_id
    if type(u) is not str or not u or type(rec.device_id) is not str:
        return False
    off = rec.utc_offset_minutes
    if type(off) is not int or not -1080 <= off <= 1080:
        return False
    start = rec.bucket_start
    if not isinstance(start, datetime) or start.tzinfo is None or start.timestamp() % bs != 0:
        return False
    length = bs + _EPS
    obs = rec.observed_seconds
    if not 0.0 <= obs <= length:
        return False
    total = 0.0
    prev_end = 0.0
    for s in rec.segments:
        o = s.offset_s
        d = s.seconds
        if not (o >= 0.0 and d >= 0.0 and o + d <= length and o + _EPS >= prev_end):
            return False
        a = s.app_id
        if type(a) is not str or not a or s.domain_category not in _DOMAINS:
            return False
        if (s.is_browser, s.is_editor, s.is_terminal) != _FLAGS.get(s.app_category):
            return False
        h = s.title_hash
        if h is not None and not (type(h) is str and len(h) == 16 and _HEX.issuperset(h)):
            return False
        prev_end = o + d
        total += d
    if total > obs + _EPS:
        return False
    for v in (rec.keys, rec.backspaces, rec.shortcuts, rec.clicks, rec.scrolls, rec.mouse_px,
              rec.input_events):
        if v == v and not 0 <= v <= MAX_COUNT:
            return False
    for v in (rec.active_seconds_keyboard, rec.active_seconds_mouse):
        if v == v and not 0 <= v <= length:
            return False
    for v in (rec.active_seconds_any, rec.max_idle_run_seconds, rec.leading_idle_seconds,
              rec.trailing_idle_seconds, rec.locked_seconds):
        if not 0 <= v <= length:
            return False
    return rec.locked_seconds <= obs + _EPS


def _is_title_hash(value: object) -> bool:
    return isinstance(value, str) and len(value) == 16 and set(value) <= _HEX
