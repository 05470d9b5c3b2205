"""Closed buckets the store could not take yet (a full disk, a file locked for long), kept in
memory in order and written when space returns. Bounded: when full, the oldest is dropped
(one warning per run of drops), so a disk that never recovers costs a fixed amount of memory.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.activity import ActivityRecord
from engine.record import PredictionRecord

if TYPE_CHECKING:
    from engine.features import FeatureRow

log = logging.getLogger("taskclf.agent.runtime")

#: A day of one-minute buckets (a few MB).
MAX_UNSAVED_BUCKETS = 24 * 60


@dataclass(frozen=True, slots=True)
class UnsavedBucket:
    record: ActivityRecord
    row: FeatureRow
    prediction: PredictionRecord


class UnsavedBuckets:
    def __init__(self, limit: int = MAX_UNSAVED_BUCKETS) -> None:
        self._items: deque[UnsavedBucket] = deque()
        self._limit = limit
        self.dropped = 0
        self._warned = False

    def add(self, item: UnsavedBucket) -> None:
        if len(self._items) >= self._limit:
            self._items.popleft()
            self.dropped += 1
            if not self._warned:
                self._warned = True
                log.warning("more than %d buckets wait for the data file: the oldest are "
                            "dropped until it accepts writes again", self._limit)
        self._items.append(item)

    def peek(self) -> UnsavedBucket:
        return self._items[0]

    def pop(self) -> None:
        self._items.popleft()
        if not self._items:
            self._warned = False

    def __len__(self) -> int:
        return len(self._items)
