"""``taskclf import activitywatch``: an ActivityWatch history into this home's store.

The events of one host's window, AFK and input buckets are reduced (titles hashed with this
home's key as they are read), sorted on disk and replayed through the agent's aggregator into
one ``ActivityRecord`` per 60 s bucket. The records are stored under a device id derived from
the user and the host, so importing the same export again changes nothing; a bucket for which
the agent already has a record keeps the agent's record, and the report counts it as skipped.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from agent.activitywatch.events import (
    AFK_TYPE,
    INPUT_TYPE,
    TICK_S,
    WINDOW_TYPE,
    afk_event,
    input_event,
    window_event,
)
from agent.activitywatch.replay import ReducedWindow, replay, replay_aggregator
from agent.activitywatch.source import BucketInfo, choose_host
from agent.activitywatch.spill import EventSpill
from agent.aggregator import LocalOffset, system_local_offset
from agent.observe import Observer
from agent.sampler._base import Sample
from engine.activity import BUCKET_SECONDS, ActivityRecord

SOURCE_NAME = "activitywatch"
_STORE_BATCH = 720  # records per transaction (half a day)


class Source(Protocol):
    label: str

    def buckets(self) -> list[BucketInfo]: ...

    def events(self, bucket: BucketInfo, start: float | None = None,
               end: float | None = None) -> Iterator[Any]: ...


@dataclass
class ImportReport:
    source: str
    host: str
    events: dict[str, int] = field(default_factory=dict)
    records: int = 0
    imported: int = 0
    already_imported: int = 0
    skipped_agent: int = 0
    first: datetime | None = None
    last: datetime | None = None
    missing: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"ActivityWatch {self.source}, host {self.host}: "
               f"{self.events.get(WINDOW_TYPE, 0)} window, {self.events.get(AFK_TYPE, 0)} AFK, "
               f"{self.events.get(INPUT_TYPE, 0)} input events"]
        if self.first is not None and self.last is not None:
            out.append(f"{self.records} buckets from {self.first.isoformat()} to "
                       f"{self.last.isoformat()}")
        out.append(f"imported {self.imported} new buckets; {self.already_imported} were already "
                   f"imported; skipped {self.skipped_agent} the agent had already recorded")
        out.extend(self.missing)
        return out


def import_device_id(user_id: str, host: str) -> str:
    """A stable device id per (user, ActivityWatch host): re-imports land on the same rows,
    and the host name itself is not stored."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"taskclf:activitywatch:{user_id}:{host}"))


def _host_buckets(buckets: list[BucketInfo], host: str) -> dict[str, list[BucketInfo]]:
    out: dict[str, list[BucketInfo]] = {WINDOW_TYPE: [], AFK_TYPE: [], INPUT_TYPE: []}
    for b in buckets:
        if b.hostname == host and b.type in out:
            out[b.type].append(b)
    return out


def spill_events(source: Source, chosen: dict[str, list[BucketInfo]], observer: Observer,
                 spill: EventSpill, start: float | None, end: float | None,
                 status: Callable[[str], None] | None = None) -> None:
    """Read, validate, reduce and spill every event of the chosen buckets inside the range."""
    lo = -1e18 if start is None else start
    hi = 1e18 if end is None else end
    where = source.label
    for kind, buckets in chosen.items():
        for b in buckets:
            if status is not None:
                status(f"reading {b.id} ({kind})")
            for i, obj in enumerate(source.events(b, start, end)):
                field_name = f"buckets.{b.id}.events[{i}]"
                if kind == WINDOW_TYPE:
                    w = window_event(obj, where, field_name)
                    if w.end >= lo and w.start < hi:
                        fg = observer.foreground(Sample(app_name=w.app, title=w.title))
                        spill.add_window(ReducedWindow(w.start, w.end, fg))
                elif kind == AFK_TYPE:
                    a = afk_event(obj, where, field_name)
                    if a.end >= lo and a.start < hi:
                        spill.add_afk(a)
                else:
                    e = input_event(obj, where, field_name)
                    if e.end >= lo and e.start < hi:
                        spill.add_input(e)
    spill.finish()


def _batches(records: Iterable[ActivityRecord], n: int) -> Iterator[list[ActivityRecord]]:
    batch: list[ActivityRecord] = []
    for rec in records:
        batch.append(rec)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch


def import_activitywatch(
    home: Path,
    source: Source,
    *,
    host: str | None = None,
    start: float | None = None,
    end: float | None = None,
    local_offset: LocalOffset = system_local_offset,
    progress: Callable[[str], None] | None = None,
) -> ImportReport:
    """Import one host's history from ``source`` into ``home``'s store."""
    from agent.exclusions import LiveExclusions
    from agent.identity import load_or_create_identity, load_or_create_title_key
    from engine.paths import store_path
    from engine.store import Store

    buckets = source.buckets()
    host = choose_host(buckets, host, source.label)
    chosen = _host_buckets(buckets, host)
    report = ImportReport(source=source.label, host=host)
    if not chosen[WINDOW_TYPE]:
        report.missing.append("no window watcher bucket for this host: no foreground apps")
    if not chosen[AFK_TYPE]:
        report.missing.append("no AFK watcher bucket for this host: idle time stays unknown")
    if not chosen[INPUT_TYPE]:
        report.missing.append("no input watcher (aw-watcher-input): input counts stay unknown")
    ident = load_or_create_identity(home)
    # what the user never wants tracked is not imported either (docs/privacy.md)
    observer = Observer(load_or_create_title_key(home), LiveExclusions(home))
    device_id = import_device_id(ident.user_id, host)
    with EventSpill() as spill:
        spill_events(source, chosen, observer, spill, start, end, progress)
        report.events = {WINDOW_TYPE: spill.counts["win"], AFK_TYPE: spill.counts["afk"],
                         INPUT_TYPE: spill.counts["inp"]}
        span = spill.span()
        if span is None:
            return report
        lo = max(span[0], start) if start is not None else span[0]
        hi = min(span[1] + 61, end) if end is not None else span[1] + 61

        def tick_progress(t: float) -> None:
            if progress is not None and hi > lo:
                day = datetime.fromtimestamp(t, tz=UTC).date().isoformat()
                progress(f"replaying {day} ({100 * (t - lo) / (hi - lo):.0f}%)")

        agg = replay_aggregator(user_id=ident.user_id, device_id=device_id,
                                bucket_seconds=BUCKET_SECONDS, sample_seconds=TICK_S,
                                sources=(SOURCE_NAME,), local_offset=local_offset)
        records = replay(spill.windows(), spill.afks(),
                         spill.inputs() if chosen[INPUT_TYPE] else None, agg,
                         start=lo, end=hi, progress=tick_progress)
        store = Store.open(store_path(home))
        try:
            for batch in _batches(records, _STORE_BATCH):
                _store_batch(store, batch, ident.user_id, device_id, report)
        finally:
            store.close()
    return report


def _store_batch(store: Any, batch: list[ActivityRecord], user_id: str, device_id: str,
                 report: ImportReport) -> None:
    first, last = batch[0].bucket_start, batch[-1].bucket_start
    theirs = {r.bucket_start for r in store.records(
        user_id=user_id, start=first, end=last + timedelta(seconds=BUCKET_SECONDS))
        if r.device_id != device_id}
    fresh = [r for r in batch if r.bucket_start not in theirs]
    inserted = store.put_records(fresh) if fresh else 0
    report.records += len(batch)
    report.skipped_agent += len(batch) - len(fresh)
    report.imported += inserted
    report.already_imported += len(fresh) - inserted
    report.first = report.first or first
    report.last = last
