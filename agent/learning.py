"""Progress toward personal tuning (what the menu shows), counted as ``taskclf personalize``
counts it: ``engine.eligibility`` on the user's recorded buckets that a human span covers, on
local days, leaving out days the deployed bundle trained on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.snapshot import LearningProgress
from engine.eligibility import store_eligibility, trained_days
from engine.store import Store

if TYPE_CHECKING:
    from engine.bundle import ModelBundle


def learning_progress(store: Store, user_id: str, bundle: ModelBundle | None = None) -> LearningProgress:
    e = store_eligibility(store, user_id, trained_days(bundle).get(user_id))
    return LearningProgress(labelled_buckets=e.minutes, labelled_days=e.days, distinct_labels=e.labels)
