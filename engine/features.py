"""The one feature builder (spec 2.5): ``ActivityRecord`` -> v2 ``FeatureRow``.

The agent pushes each closed bucket online; the trainer and batch inference push stored
records in a loop (``build_rows``). It is the same object either way, so training and serving
see the same numbers bit for bit.

State is bounded: a ring of the buckets of the current session that started within the last
15 minutes, O(1) session values (start, dwell, previous bucket) and a capped LRU map of title
hash -> count for the session. Everything is reset when a session ends, so the rows of a
session depend only on the records of that session: a builder that is fed the records from
any session start onwards produces the same rows as one that saw the whole history (this is
how the agent resumes after a restart).

Foreground time per app is summed over the windows in integer microseconds, so the running
sums (add the new bucket, subtract the buckets that leave a window) are exact: a window's
numbers depend only on the buckets in it, never on how long the builder has been running.
Entropy is summed with ``math.fsum`` for the same reason (order-independent, exactly rounded).
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from engine.activity import ActivityRecord, parse_utc, validate_record
from engine.apps import LOCKSCREEN, UNKNOWN_APP
from engine.errors import ArtifactError, TaskclfError
from engine.schema import (
    BOOLEAN_COLUMNS,
    CATEGORICAL_COLUMNS,
    FEATURE_BUILDER_VERSION,
    MODEL_COLUMNS,
    REGISTRY_TYPES,
    REGISTRY_V2,
    SCHEMA_HASH_V2,
    SCHEMA_VERSION,
)
from engine.sessions import SessionTracker, session_id

log = logging.getLogger(__name__)

NAN = float("nan")
#: Fewer observed seconds than this and per-minute rates are NaN (too little to scale up).
MIN_OBSERVED_FOR_RATES = 20.0
WINDOW_SHORT_S = 5 * 60
WINDOW_LONG_S = 15 * 60
DEFAULT_MAX_TITLES = 4096

_INT_COLUMNS: frozenset[str] = frozenset(n for n, t in REGISTRY_V2 if t == "int")


class FeatureInputError(TaskclfError, ValueError):
    """A record the builder refuses: out of order, another user, from the future, or invalid.

    The builder's state is unchanged when this is raised, so the caller may skip the record.
    """


@dataclass(frozen=True, slots=True)
class FeatureRow:
    """One bucket's v2 feature row: the registry's meta columns and the 38 model features.

    ``values`` is a read-only view of the 38 model features by name (categoricals ``str``,
    booleans ``bool``, counts ``int``, everything else ``float``; missing = ``float('nan')``).
    """

    user_id: str
    device_id: str
    bucket_start: datetime
    bucket_seconds: int
    session_id: str
    session_start: datetime
    source_ids: tuple[str, ...]
    window_title_hash: str | None
    features: Mapping[str, Any]
    feature_builder_version: int = FEATURE_BUILDER_VERSION

    schema_hash = SCHEMA_HASH_V2
    schema_version = SCHEMA_VERSION

    def __hash__(self) -> int:
        # equal rows have equal keys; the feature mapping itself is not hashable
        return hash((self.user_id, self.device_id, self.bucket_start))

    @property
    def values(self) -> Mapping[str, Any]:
        return self.features

    @property
    def bucket_end(self) -> datetime:
        return self.bucket_start + timedelta(seconds=self.bucket_seconds)

    def model_features(self) -> dict[str, Any]:
        """Exactly the 38 model columns, in model order, as the engine's ``step`` takes them."""
        return dict(self.features)

    def to_json(self) -> dict[str, Any]:
        """Every registry column by name, then user_id, bucket_start (= bucket_start_ts, the
        name `taskclf infer rows` reads), session_start and the builder version.

        NaN is written as null; datetimes as ISO-8601 UTC.
        """
        out: dict[str, Any] = {
            "user_id": self.user_id,
            "device_id": self.device_id,
            "session_id": self.session_id,
            "bucket_start_ts": _iso(self.bucket_start),
            "bucket_end_ts": _iso(self.bucket_end),
            "schema_version": SCHEMA_VERSION,
            "schema_hash": SCHEMA_HASH_V2,
            "source_ids": list(self.source_ids),
            "window_title_hash": self.window_title_hash,
        }
        feats = self.features
        for name, _type in REGISTRY_V2:
            if name in out:
                continue
            v = feats[name]
            if isinstance(v, float) and math.isnan(v):
                v = None
            out[name] = v
        ordered = {name: out[name] for name, _t in REGISTRY_V2}
        ordered["user_id"] = self.user_id
        ordered["bucket_start"] = ordered["bucket_start_ts"]  # the key `infer rows` reads
        ordered["session_start"] = _iso(self.session_start)
        ordered["feature_builder_version"] = self.feature_builder_version
        return ordered

    @classmethod
    def from_json(cls, obj: Any, *, where: str | None = None) -> FeatureRow:
        """Read a row written by ``to_json``; refuses another schema or builder version."""
        return _row_from_json(obj, where)


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat()


@dataclass(slots=True)
class _Bucket:
    """What the windows need of one past bucket of the session."""

    start: float
    apps: tuple[tuple[str, int], ...]  # foreground microseconds per app, first seen first
    changes: int
    last_app: str | None
    dominant: str
    dwell: float
    kpm: float
    cpm: float
    mouse: float


@dataclass(slots=True)
class _SessionState:
    start: datetime
    start_ts: float
    sid: str
    titles: OrderedDict[str, int] = field(default_factory=OrderedDict)


class FeatureBuilder:
    """Streaming ``ActivityRecord`` -> ``FeatureRow`` for ONE user, records in time order.

    ``push`` raises ``FeatureInputError`` (state unchanged) for a record of another user, an
    out-of-order record, a record from the future or an invalid record, and returns ``None``
    (with a logged warning) for a second record of a bucket already pushed: the first wins.
    """

    def __init__(
        self,
        max_titles: int = DEFAULT_MAX_TITLES,
        *,
        clock: Callable[[], float] = time.time,
        validate: bool = True,
    ) -> None:
        if max_titles < 1:
            raise ValueError("max_titles must be >= 1")
        self.max_titles = max_titles
        self._clock = clock
        self._validate = validate
        self._ring: deque[_Bucket] = deque()  # buckets of the last 15 minutes
        self._ring5: deque[_Bucket] = deque()  # ... and of the last 5 minutes
        self._w = _Windows()
        self._sessions = SessionTracker()
        self._session: _SessionState | None = None
        self._user_id: str | None = None
        self._last_start: float | None = None

    def reset(self) -> None:
        """Forget everything (a new user, or a rebuild from scratch)."""
        self._clear_windows()
        self._sessions.reset()
        self._session = None
        self._user_id = None
        self._last_start = None

    def _clear_windows(self) -> None:
        self._ring.clear()
        self._ring5.clear()
        self._w = _Windows()

    @property
    def user_id(self) -> str | None:
        return self._user_id

    @property
    def state_size(self) -> tuple[int, int]:
        """(buckets in the ring, titles in the session map): bounded however long it runs."""
        titles = len(self._session.titles) if self._session is not None else 0
        return len(self._ring), titles

    def push(self, record: ActivityRecord) -> FeatureRow | None:
        start_dt = record.bucket_start
        if start_dt.tzinfo is not UTC:
            if start_dt.tzinfo is None:
                raise FeatureInputError("bucket_start: must be timezone-aware (UTC)")
            start_dt = start_dt.astimezone(UTC)
        t = start_dt.timestamp()
        self._check(record, t)
        if self._last_start is not None and t == self._last_start:
            log.warning("duplicate record for bucket %s ignored (the first one is kept)",
                        start_dt.isoformat())
            return None
        return self._build(record, start_dt, t)

    # -- input checks ------------------------------------------------------------------

    def _check(self, record: ActivityRecord, t: float) -> None:
        if self._user_id is not None and record.user_id != self._user_id:
            raise FeatureInputError(
                "user_id: record of another user; use one builder per user"
            )
        if self._last_start is not None and t < self._last_start:
            raise FeatureInputError(
                f"bucket_start: {_iso(record.bucket_start)} is before the previous record "
                f"({datetime.fromtimestamp(self._last_start, UTC).isoformat()}); records must "
                "be pushed in time order"
            )
        if t > self._clock():
            raise FeatureInputError(
                f"bucket_start: {_iso(record.bucket_start)} is in the future"
            )
        if self._validate:
            try:
                validate_record(record)
            except ArtifactError as exc:
                raise FeatureInputError(f"invalid record: {exc.field}: {exc.reason}") from None

    # -- the definitions ---------------------------------------------------------------

    def _build(self, record: ActivityRecord, start_dt: datetime, t: float) -> FeatureRow:
        bs = record.bucket_seconds
        new_session = self._sessions.advance(record, t)
        if new_session or self._session is None:
            self._clear_windows()
            self._session = _SessionState(start_dt, t, session_id(record.user_id, start_dt))
        sess = self._session
        self._user_id = record.user_id
        self._last_start = t
        ring = self._ring
        prev = ring[-1] if ring and ring[-1].start == t - bs else None

        # Foreground seconds per app (first-seen order) and app changes in t.
        apps: dict[str, float] = {}
        changes = 0
        last: str | None = prev.last_app if prev is not None else None
        last_app: str | None = None
        segments = record.segments
        for s in segments:
            if s.seconds <= 0.0:
                continue  # an empty segment is not an observation
            a = s.app_id
            if last is not None and a != last:
                changes += 1
            last = last_app = a
            apps[a] = apps.get(a, 0.0) + s.seconds

        # The dominant app (tie: first seen) and its longest segment (tie: first).
        dom_app: str | None = None
        dom_secs = 0.0
        for a, secs in apps.items():
            if secs > dom_secs:
                dom_app, dom_secs = a, secs
        dom_seg = None
        if dom_app is not None:
            best = -1.0
            for s in segments:
                if s.app_id == dom_app and s.seconds > best:
                    dom_seg, best = s, s.seconds
        locked = record.locked_seconds
        if locked > dom_secs and dom_app != LOCKSCREEN.app_id:
            dom_app, dom_secs, dom_seg = LOCKSCREEN.app_id, locked, None
        if dom_seg is not None:
            app_id = dom_seg.app_id
            app_category = dom_seg.app_category
            is_browser, is_editor, is_terminal = (
                dom_seg.is_browser, dom_seg.is_editor, dom_seg.is_terminal
            )
            title = dom_seg.title_hash
            domain = dom_seg.domain_category
        else:
            info = LOCKSCREEN if dom_app == LOCKSCREEN.app_id else UNKNOWN_APP
            app_id, app_category = info.app_id, info.category
            is_browser = is_editor = is_terminal = False
            title = None
            domain = "non_browser"
        observed = record.observed_seconds
        has_fg = dom_app is not None
        ratio = dom_secs / observed if has_fg and observed > 0.0 else NAN
        if ratio > 1.0:
            ratio = 1.0
        if not has_fg:
            dwell = NAN
        elif prev is not None and prev.dominant == app_id and not math.isnan(prev.dwell):
            dwell = prev.dwell + dom_secs
        else:
            dwell = dom_secs

        # Input rates in t.
        rates_ok = observed >= MIN_OBSERVED_FOR_RATES
        scale = 60.0 / observed if rates_ok else NAN
        keys = float(record.keys)
        kpm = keys * scale  # NaN when keys is NaN or too little was observed
        cpm = record.clicks * scale
        spm = record.scrolls * scale
        shortcut_rate = record.shortcuts * scale
        backs = record.backspaces
        if keys > 0.0 and backs == backs:
            # backspaces are key downs too; a backend that counts them apart cannot exceed 1
            backspace_ratio = backs / keys if backs < keys else 1.0
        else:
            backspace_ratio = NAN
        mouse = float(record.mouse_px)
        active_any = float(record.active_seconds_any)
        events = record.input_events
        if math.isnan(events):
            events = keys + record.clicks + record.scrolls
        if math.isnan(events):
            density = NAN
        elif active_any > 0.0:
            # an active second is a whole second: a sliver of activity is not a rate of 1e9/s
            density = events / (active_any if active_any > 1.0 else 1.0)
        else:
            density = 0.0

        # Windows over the session's recent buckets (t included): exact running sums.
        app_us = tuple((a, round(secs * 1e6)) for a, secs in apps.items())
        cur = _Bucket(t, app_us, changes, last_app, app_id, dwell, kpm, cpm, mouse)
        w = self._w
        agg5 = w.agg5
        agg15 = w.agg15
        for a, us in app_us:
            agg5[a] = agg5.get(a, 0) + us
            agg15[a] = agg15.get(a, 0) + us
        w.sw5 += changes
        w.sw15 += changes
        ring.append(cur)
        ring5 = self._ring5
        ring5.append(cur)
        lo15 = t - WINDOW_LONG_S
        while ring[0].start <= lo15:
            old = ring.popleft()
            w.sw15 -= old.changes
            _subtract(agg15, old.apps)
        lo5 = t - WINDOW_SHORT_S
        while ring5[0].start <= lo5:
            old = ring5.popleft()
            w.sw5 -= old.changes
            _subtract(agg5, old.apps)
        sw5 = w.sw5
        sw15 = w.sw15
        k5 = k15 = m5 = m15 = 0.0
        nk5 = nk15 = nm5 = nm15 = 0
        for b in ring:
            kv = b.kpm
            mv = b.mouse
            in5 = b.start > lo5
            if kv == kv:  # not NaN
                k15 += kv
                nk15 += 1
                if in5:
                    k5 += kv
                    nk5 += 1
            if mv == mv:
                m15 += mv
                nm15 += 1
                if in5:
                    m5 += mv
                    nm5 += 1

        # Session-wide title repeats (LRU-capped map).
        if title is not None:
            titles = sess.titles
            count = titles.get(title, 0) + 1
            titles[title] = count
            titles.move_to_end(title)
            if len(titles) > self.max_titles:
                titles.popitem(last=False)
            title_count: float | int = count
            try:
                title_bucket: float | int = int(title, 16) % 256
            except ValueError:  # only with validate=False and a malformed hash
                title_bucket = NAN
        else:
            title_count = NAN
            title_bucket = NAN

        local = int(t) + record.utc_offset_minutes * 60
        days, secs_of_day = divmod(local, 86400)
        features: dict[str, Any] = {
            "app_id": app_id,
            "app_category": app_category,
            "is_browser": is_browser,
            "is_editor": is_editor,
            "is_terminal": is_terminal,
            "app_switch_count_last_5m": sw5,
            "app_foreground_time_ratio": ratio,
            "app_change_count": changes,
            "app_dwell_time_seconds": dwell,
            "app_entropy_5m": _entropy(agg5),
            "app_entropy_15m": _entropy(agg15),
            "top2_app_concentration_15m": _top2(agg15),
            "idle_return_indicator": new_session,
            "keys_per_min": kpm,
            "backspace_ratio": backspace_ratio,
            "shortcut_rate": shortcut_rate,
            "clicks_per_min": cpm,
            "scroll_events_per_min": spm,
            "mouse_distance": mouse,
            "active_seconds_keyboard": float(record.active_seconds_keyboard),
            "active_seconds_mouse": float(record.active_seconds_mouse),
            "active_seconds_any": active_any,
            "max_idle_run_seconds": float(record.max_idle_run_seconds),
            "event_density": density,
            "domain_category": domain,
            "window_title_bucket": title_bucket,
            "title_repeat_count_session": title_count,
            "keys_per_min_rolling_5": k5 / nk5 if nk5 else NAN,
            "keys_per_min_rolling_15": k15 / nk15 if nk15 else NAN,
            "mouse_distance_rolling_5": m5 / nm5 if nm5 else NAN,
            "mouse_distance_rolling_15": m15 / nm15 if nm15 else NAN,
            "keys_per_min_delta": kpm - prev.kpm if prev is not None else NAN,
            "clicks_per_min_delta": cpm - prev.cpm if prev is not None else NAN,
            "mouse_distance_delta": mouse - prev.mouse if prev is not None else NAN,
            "app_switch_count_last_15m": sw15,
            "hour_of_day": secs_of_day // 3600,
            "day_of_week": (days + 3) % 7,  # 1970-01-01 was a Thursday; Monday = 0
            "session_length_so_far": (t - sess.start_ts) / 60.0,
        }
        # positional: measurably cheaper than keywords on this path (field order above)
        return FeatureRow(record.user_id, record.device_id, start_dt, bs, sess.sid, sess.start,
                          tuple(record.sources), title, MappingProxyType(features))


@dataclass(slots=True)
class _Windows:
    """Running sums over the 5- and 15-minute windows (integers: exact under subtraction)."""

    agg5: dict[str, int] = field(default_factory=dict)
    agg15: dict[str, int] = field(default_factory=dict)
    sw5: int = 0
    sw15: int = 0


def _subtract(agg: dict[str, int], apps: tuple[tuple[str, int], ...]) -> None:
    for a, us in apps:
        left = agg[a] - us
        if left:
            agg[a] = left
        else:
            del agg[a]


def _entropy(us: dict[str, int]) -> float:
    """Shannon entropy in bits of the foreground time per app; NaN with no foreground time.

    Summed over the sorted shares, so the result depends only on the window's content."""
    n = len(us)
    if n == 1:
        return 0.0 if next(iter(us.values())) > 0 else NAN
    total = sum(us.values())
    if total <= 0:
        return NAN
    h = 0.0
    log2 = math.log2
    for v in sorted(us.values()):
        p = v / total
        if p > 0.0:
            h -= p * log2(p)
    return h


def _top2(us: dict[str, int]) -> float:
    """Share of the two largest apps' time; NaN with no foreground time."""
    total = 0
    a = b = 0
    for v in us.values():
        total += v
        if v > a:
            a, b = v, a
        elif v > b:
            b = v
    if total <= 0:
        return NAN
    return (a + b) / total


def build_rows(
    records: Iterable[ActivityRecord], *, max_titles: int = DEFAULT_MAX_TITLES,
    clock: Callable[[], float] = time.time,
) -> list[FeatureRow]:
    """Batch = the streaming builder in a loop (duplicates dropped, as ``push`` does)."""
    builder = FeatureBuilder(max_titles, clock=clock)
    out: list[FeatureRow] = []
    for r in records:
        row = builder.push(r)
        if row is not None:
            out.append(row)
    return out


# -- reading rows back -----------------------------------------------------------------


def _row_from_json(obj: Any, where: str | None) -> FeatureRow:
    def fail(fieldname: str, reason: str) -> ArtifactError:
        return ArtifactError(where, fieldname, reason)

    if not isinstance(obj, dict):
        raise fail("row", "expected a JSON object")
    if obj.get("schema_hash") != SCHEMA_HASH_V2:
        raise fail("schema_hash", f"expected {SCHEMA_HASH_V2} (schema v2), got {obj.get('schema_hash')!r}")
    version = obj.get("feature_builder_version")
    if version != FEATURE_BUILDER_VERSION:
        raise fail("feature_builder_version",
                   f"row built by version {version!r}, this build is {FEATURE_BUILDER_VERSION}; "
                   "rebuild it from its activity records")
    strings: dict[str, str] = {}
    for name in ("user_id", "device_id", "session_id"):
        v = obj.get(name)
        if not isinstance(v, str) or (name != "device_id" and not v):
            raise fail(name, "expected a non-empty string")
        strings[name] = v
    start = parse_utc(obj.get("bucket_start_ts"), where=where, field_name="bucket_start_ts")
    end = parse_utc(obj.get("bucket_end_ts"), where=where, field_name="bucket_end_ts")
    seconds = (end - start).total_seconds()
    if seconds <= 0 or seconds != int(seconds):
        raise fail("bucket_end_ts", "must be a whole number of seconds after bucket_start_ts")
    sstart_raw = obj.get("session_start")
    session_start = (
        parse_utc(sstart_raw, where=where, field_name="session_start")
        if sstart_raw is not None else start
    )
    sources = obj.get("source_ids", [])
    if not isinstance(sources, list) or not all(isinstance(x, str) for x in sources):
        raise fail("source_ids", "expected a list of strings")
    wth = obj.get("window_title_hash")
    if wth is not None and not isinstance(wth, str):
        raise fail("window_title_hash", "expected a string or null")
    feats: dict[str, Any] = {}
    for name in MODEL_COLUMNS:
        if name not in obj:
            raise fail(name, "missing")
        v = obj[name]
        if name in CATEGORICAL_COLUMNS:
            if not isinstance(v, str):
                raise fail(name, "expected a string")
        elif name in BOOLEAN_COLUMNS:
            if not isinstance(v, bool):
                raise fail(name, "expected true or false")
        elif v is None:
            v = NAN
        elif isinstance(v, bool) or not isinstance(v, int | float) or math.isinf(v):
            raise fail(name, f"expected a finite number or null ({REGISTRY_TYPES[name]})")
        elif name in _INT_COLUMNS:
            if v != int(v):
                raise fail(name, "expected an integer")
            v = int(v)
        else:
            v = float(v)
        feats[name] = v
    return FeatureRow(
        user_id=strings["user_id"],
        device_id=strings["device_id"],
        bucket_start=start,
        bucket_seconds=int(seconds),
        session_id=strings["session_id"],
        session_start=session_start,
        source_ids=tuple(sources),
        window_title_hash=wth,
        features=MappingProxyType(feats),
    )


__all__ = [
    "FeatureBuilder",
    "FeatureInputError",
    "FeatureRow",
    "build_rows",
    "MIN_OBSERVED_FOR_RATES",
]
