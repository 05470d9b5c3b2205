"""A known day in a store, for the timeline tests: what was shown and what the user said."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from engine.paths import store_path
from engine.spans import LabelSpan
from engine.store import Store
from tests.store_helpers import prediction

DAY = date(2026, 3, 4)
MIDNIGHT = datetime(2026, 3, 4, tzinfo=UTC)
USER = "u1"
#: (first minute, end minute, smoothed label shown) of the day, in UTC.
SHOWN = (
    (9 * 60, 10 * 60, "Build"),
    (10 * 60, 10 * 60 + 30, "Communicate"),  # the user says Meet (below)
    (10 * 60 + 30, 10 * 60 + 45, "Mixed/Unknown"),
    (11 * 60, 12 * 60, "Debug"),
    (13 * 60, 14 * 60 + 30, "Write"),
    (14 * 60 + 30, 15 * 60, "BreakIdle"),
)
#: The user's own label (a correction) over 10:00-10:30.
MINE = (10 * 60, 10 * 60 + 30, "Meet")


def fill_day(home: Path) -> None:
    with Store.open(store_path(home)) as store:
        for a, b, label in SHOWN:
            for m in range(a, b):
                p = prediction(0, label="Build" if label == "Mixed/Unknown" else label)
                store.put_prediction("d1", dataclasses.replace(
                    p, bucket_start=(MIDNIGHT + timedelta(minutes=m)).isoformat(),
                    smoothed_label=label, mapped_label=label, rejected=label == "Mixed/Unknown"))
        a, b, label = MINE
        store.add_label_span(LabelSpan(MIDNIGHT + timedelta(minutes=a), MIDNIGHT + timedelta(minutes=b),
                                       label, USER, "correction", 0.6, MIDNIGHT))
        # another user's minutes never show up on this user's page
        other = dataclasses.replace(prediction(0, user="u2"),
                                    bucket_start=(MIDNIGHT + timedelta(hours=16)).isoformat())
        store.put_prediction("d2", other)
        store.add_label_span(LabelSpan(MIDNIGHT + timedelta(hours=16), MIDNIGHT + timedelta(hours=17),
                                       "Review", "u2", "manual", None, MIDNIGHT))


def minutes_by_label_from_store(home: Path) -> dict[str, int]:
    """The day's shown minutes per label, straight from the store (the user's label wins)."""
    with Store.open(store_path(home), readonly=True) as store:
        preds = store.predictions(user_id=USER, start=MIDNIGHT, end=MIDNIGHT + timedelta(days=1))
        spans = [s for s in store.label_spans(user_id=USER) if s.is_human]
    out: dict[str, int] = {}
    for p in preds:
        at = datetime.fromisoformat(p.bucket_start)
        label = next((s.label for s in spans if s.start_ts <= at < s.end_ts), p.smoothed_label)
        out[label] = out.get(label, 0) + 1
    return out
