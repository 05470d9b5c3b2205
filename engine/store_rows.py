"""One user's feature rows read back from the store in bounded chunks of time.

The rows the agent stored are used when every record of the range has one of the current
schema and builder version (``Store.row_coverage``, counted from the keys); otherwise the rows
are rebuilt from the records with the one feature builder (one per device, its state carried
from chunk to chunk, so a session crossing a chunk's edge is built exactly as in one pass).

The range is walked ``span`` at a time (a day by default): each chunk is one range read and at
most one span of buckets is held, whatever the length of the history. ``infer batch``, the
trainer's dataset reader and the agent-side per-user calibration all read through here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from engine.frame import local_date_from
from engine.schema import FEATURE_BUILDER_VERSION, SCHEMA_HASH_V2
from engine.store_pack import bucket_iso, from_s
from engine.stream import StreamRow

log = logging.getLogger(__name__)

DEFAULT_SPAN = timedelta(days=1)

#: ``on_chunk(rows)``: told the size of every chunk as it is materialised (tests count them)
OnChunk = Callable[[int], None]


@dataclass
class UserRows:
    """The chunks of one user's rows in time order; ``rebuilt`` says where they come from."""

    user_id: str
    rebuilt: bool
    chunks: Iterator[list[StreamRow]]
    expected: int = 0  #: at most this many rows (the stored rows, or the records to rebuild)

    def rows(self) -> Iterator[StreamRow]:
        for chunk in self.chunks:
            yield from chunk


def _parse_ts(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


def _spans(first: int, last: int, span: timedelta) -> Iterator[tuple[datetime, datetime]]:
    """[lo, hi) steps covering the bucket starts first..last (epoch s)."""
    lo = datetime.fromtimestamp(first, UTC)
    stop = datetime.fromtimestamp(last, UTC) + timedelta(seconds=1)
    while lo < stop:
        hi = min(lo + span, stop)
        yield lo, hi
        lo = hi


def user_rows(
    store: Any,
    user: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    span: timedelta = DEFAULT_SPAN,
    on_chunk: OnChunk | None = None,
) -> UserRows:
    """The rows of ``user`` with ``start <= bucket_start < end`` (all when None)."""
    if span <= timedelta(0):
        raise ValueError("span must be positive")
    cov = store.row_coverage(user, SCHEMA_HASH_V2, FEATURE_BUILDER_VERSION, start=start, end=end)
    if cov.first is None or cov.last is None:
        return UserRows(user, False, iter(()))
    spans = _spans(cov.first, cov.last, span)
    if cov.stored_rows_usable:
        return UserRows(user, False, _counted(_stored(store, user, spans), on_chunk), cov.feature_rows)
    return UserRows(user, True, _counted(_rebuilt(store, user, spans), on_chunk), cov.records)


def _counted(chunks: Iterator[list[StreamRow]], on_chunk: OnChunk | None) -> Iterator[list[StreamRow]]:
    for chunk in chunks:
        if on_chunk is not None:
            on_chunk(len(chunk))
        if chunk:
            yield chunk


def _stored(store: Any, user: str, spans: Iterator[tuple[datetime, datetime]]) -> Iterator[list[StreamRow]]:
    """The stored rows; the local day is the one within a day of the UTC date whose weekday is
    the row's ``day_of_week`` (a stored row keeps no offset)."""
    days: dict[tuple[date, Any], date] = {}
    for lo, hi in spans:
        chunk = []
        for bucket, r in store.feature_rows_at(user_id=user, start=lo, end=hi):
            text = r["bucket_start_ts"]
            # the key's own time (the usual case): no text to parse back
            dt = from_s(bucket) if text == bucket_iso(bucket) else _parse_ts(text)
            key = (dt.date(), r.get("day_of_week"))
            day = days.get(key)
            if day is None:
                day = days[key] = local_date_from(dt, key[1], None)
            chunk.append(StreamRow(user, dt, r.get("session_id"), day, r))
        yield chunk


def _rebuilt(store: Any, user: str, spans: Iterator[tuple[datetime, datetime]]) -> Iterator[list[StreamRow]]:
    """Rows rebuilt from the records (validated when the store read them), one builder per
    device; records come in (bucket, device) order, so rows do too."""
    from engine.features import FeatureBuilder, FeatureInputError

    builders: dict[str, FeatureBuilder] = {}
    for lo, hi in spans:
        chunk = []
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
            day = local_date_from(row.bucket_start, None, rec.utc_offset_minutes)
            chunk.append(StreamRow(user, row.bucket_start, row.session_id, day, row.features))
        yield chunk
