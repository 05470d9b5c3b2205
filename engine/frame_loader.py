"""Store -> labelled feature rows of each user (spec 5.1), shared by the trainer and the
per-user calibration that runs in an agent-only install.

The stored feature rows (exactly what the agent saw) are used when every record of the user has
one of the current schema and builder version; otherwise the user's rows are rebuilt from the
activity records with the one feature builder. A bucket is labelled when one label span of its
user covers it completely; Mixed/Unknown is never a target. Days are local days.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np

from engine.frame import LABEL_INDEX, UNLABELLED, Frame, local_date_from
from engine.schema import FEATURE_BUILDER_VERSION, SCHEMA_HASH_V2
from engine.spans import LabelSpan

log = logging.getLogger(__name__)
BUCKET = 60


@dataclass
class LoadStats:
    users: int = 0
    rows: int = 0
    labelled: int = 0
    rebuilt_users: int = 0


def _parse_ts(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


def _label_rows(starts: Sequence[int], spans: Sequence[LabelSpan]) -> tuple[list[int], list[str | None]]:
    """Label index and provenance per bucket (sweep: rows and spans both sorted by start)."""
    out_y = [UNLABELLED] * len(starts)
    out_p: list[str | None] = [None] * len(starts)
    ss = sorted(spans, key=lambda s: s.start_ts)
    bounds = [(int(s.start_ts.timestamp()), int(s.end_ts.timestamp()), s) for s in ss]
    j = 0
    for i, t in enumerate(starts):
        while j < len(bounds) and bounds[j][1] <= t:
            j += 1
        if j < len(bounds):
            a, b, s = bounds[j]
            if a <= t and t + BUCKET <= b and s.label in LABEL_INDEX:
                out_y[i] = LABEL_INDEX[s.label]
                out_p[i] = s.provenance
    return out_y, out_p


def _stored_rows(store: Any, user: str, window: tuple[datetime, datetime] | None = None
                 ) -> list[dict[str, Any]] | None:
    lo, hi = window if window is not None else (None, None)
    rows = list(store.feature_rows(user_id=user, start=lo, end=hi))
    if not rows:
        return None
    for r in rows:
        if r.get("_schema_hash") != SCHEMA_HASH_V2 or r.get("_feature_builder_version") != FEATURE_BUILDER_VERSION:
            return None
    n_records = (store.count_records(user_id=user) if window is None
                 else sum(1 for _ in store.records(user_id=user, start=lo, end=hi)))
    if len(rows) < n_records:
        return None
    return rows


def _rebuilt_rows(store: Any, user: str, window: tuple[datetime, datetime] | None = None
                  ) -> list[tuple[dict[str, Any], int, int]]:
    """(model features + session id, bucket start epoch s, utc offset) per record, rebuilt with
    the one builder (records were validated when the store read them)."""
    from engine.features import FeatureBuilder, FeatureInputError

    out: list[tuple[dict[str, Any], int, int]] = []
    builders: dict[str, FeatureBuilder] = {}
    lo, hi = window if window is not None else (None, None)
    for rec in store.records(user_id=user, start=lo, end=hi):
        b = builders.get(rec.device_id)
        if b is None:
            b = builders[rec.device_id] = FeatureBuilder(validate=False)
        try:
            row = b.push(rec)
        except FeatureInputError as exc:
            log.warning("record skipped while rebuilding features: %s", exc)
            continue
        if row is None:
            continue
        d = dict(row.features)
        d["session_id"] = row.session_id
        out.append((d, int(row.bucket_start.timestamp()), rec.utc_offset_minutes))
    if len(builders) > 1:  # several devices: interleave by time
        out.sort(key=lambda x: x[1])
    return out


def user_frame(store: Any, user: str, stats: LoadStats | None = None,
               window: tuple[datetime, datetime] | None = None) -> Frame:
    """The buckets of one user in one store (all, or those starting in the UTC ``window``),
    labelled from that store's spans. With a window, rows are rebuilt from the window's records
    (sessions break overnight, so a window padded around local days starts a fresh session)."""
    stored = _stored_rows(store, user, window)
    rows: list[dict[str, Any]]
    days: list[int]
    if stored is not None:
        rows = stored
        starts_dt = [_parse_ts(r["bucket_start_ts"]) for r in rows]
        cache: dict[tuple[date, Any], int] = {}
        days = []
        for dt, r in zip(starts_dt, rows, strict=True):
            key = (dt.date(), r.get("day_of_week"))
            if key not in cache:
                cache[key] = local_date_from(dt, key[1], None).toordinal()
            days.append(cache[key])
        starts = [int(dt.timestamp()) for dt in starts_dt]
    else:
        rebuilt = _rebuilt_rows(store, user, window)
        if stats is not None and rebuilt:
            stats.rebuilt_users += 1
        rows = [r for r, _, _ in rebuilt]
        starts = [t for _, t, _ in rebuilt]
        days = [local_date_from(datetime.fromtimestamp(t, UTC), None, off).toordinal() for _, t, off in rebuilt]
    y, prov = _label_rows(starts, store.label_spans(user_id=user))
    return Frame.from_rows(rows, user_ids=[user] * len(rows), bucket_starts=starts, local_days=days,
                           session_ids=[r.get("session_id") for r in rows], labels=y, provenance=prov)


def load_frame(
    stores: Iterable[Any],
    *,
    start: date | None = None,
    end: date | None = None,
    users: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[Frame, LoadStats]:
    """Every bucket of the chosen users within [start, end] (local days, inclusive), sorted by
    (user, bucket_start)."""
    stats = LoadStats()
    frames = []
    for store in stores:
        for u in store.users():
            if users is not None and u not in users:
                continue
            f = user_frame(store, u, stats)
            if start is not None or end is not None:
                lo = start.toordinal() if start else -(10**9)
                hi = end.toordinal() if end else 10**9
                f = f.take(np.flatnonzero((f.local_day >= lo) & (f.local_day <= hi)))
            if len(f):
                frames.append(f)
                stats.users += 1
            if progress:
                progress(f"  {u}: {len(f):,} buckets, {int((f.y >= 0).sum()):,} labelled")
    frame = Frame.concat(frames)
    if len(frame):
        order = np.lexsort((frame.bucket_start, np.asarray(frame.user_ids, dtype=object)))
        if not np.array_equal(order, np.arange(len(frame))):
            frame = frame.take(order)
    stats.rows = len(frame)
    stats.labelled = int((frame.y >= 0).sum())
    return frame, stats
