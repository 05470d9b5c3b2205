"""Progress toward personal calibration, from the user's own labels (what the menu shows)."""

from __future__ import annotations

from agent.snapshot import LearningProgress
from engine.labels import HUMAN_PROVENANCES
from engine.store import Store


def learning_progress(store: Store, user_id: str) -> LearningProgress:
    spans = [s for s in store.label_spans(user_id=user_id) if s.provenance in HUMAN_PROVENANCES]
    minutes = sum(s.duration_seconds for s in spans) / 60.0
    return LearningProgress(
        labelled_buckets=int(minutes),
        labelled_days=len({s.start_ts.date() for s in spans}),
        distinct_labels=len({s.label for s in spans}),
    )
