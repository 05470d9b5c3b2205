"""Sessions (spec 2.3): runs of buckets without a break, and their stable ids.

A break is (a) a gap of at least ``BREAK_SECONDS`` with no record, or (b) at least
``BREAK_SECONDS`` of continuous idleness, added up from the previous bucket's trailing idle,
fully idle buckets and the current bucket's leading idle, while no meeting app or meeting site
is in front (people listen to calls silently). Idle buckets stay in the old session; the first
bucket with activity after an idle break starts the new one. After a gap the first record
starts the new session whatever it holds (the gap itself is the break).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from engine.activity import ActivityRecord

BREAK_SECONDS = 300


def session_id(user_id: str, session_start: datetime) -> str:
    """First 12 hex of sha256(f"{user_id}:{session_start_iso}") (aware UTC, whole seconds)."""
    if session_start.tzinfo is None:
        raise ValueError("session_start must be timezone-aware")
    iso = session_start.astimezone(UTC).replace(microsecond=0).isoformat()
    return hashlib.sha256(f"{user_id}:{iso}".encode()).hexdigest()[:12]


def has_meeting_in_front(record: ActivityRecord) -> bool:
    """Whether a meeting app or a meeting site was in the foreground at any time in the bucket."""
    for s in record.segments:
        if s.app_category == "meeting" or s.domain_category == "meeting_web":
            return True
    return False


def is_fully_idle(record: ActivityRecord) -> bool:
    """No input at all in the bucket (a locked or unattended minute)."""
    return not record.active_seconds_any > 0.0


@dataclass(slots=True)
class SessionTracker:
    """Assigns each record of one user, in time order, to a session.

    State is O(1): the current session start, the end of the previous bucket and the idle
    seconds accumulated up to it.
    """

    break_seconds: float = BREAK_SECONDS
    start_ts: float | None = None
    prev_end_ts: float | None = None
    idle_run: float = 0.0

    def reset(self) -> None:
        self.start_ts = None
        self.prev_end_ts = None
        self.idle_run = 0.0

    def advance(self, record: ActivityRecord, start: float | None = None) -> bool:
        """Account for ``record`` (``start``: its bucket start as a UTC timestamp, when the
        caller has it already); True when it starts a new session."""
        if start is None:
            start = record.bucket_start.timestamp()
        end = start + record.bucket_seconds
        meeting = has_meeting_in_front(record)
        idle_bucket = is_fully_idle(record)
        new = False
        if self.start_ts is None or self.prev_end_ts is None:
            new = True
            self.idle_run = 0.0
        elif start - self.prev_end_ts >= self.break_seconds:
            new = True  # (a) a gap with no record
            self.idle_run = 0.0
        elif start > self.prev_end_ts:
            self.idle_run = 0.0  # a short gap: unknown time, not counted as idleness
        if meeting:
            self.idle_run = 0.0
        elif idle_bucket:
            self.idle_run += float(record.bucket_seconds)
        else:
            if not new and self.idle_run + record.leading_idle_seconds >= self.break_seconds:
                new = True  # (b) idleness across buckets, ended by this bucket's activity
            self.idle_run = record.trailing_idle_seconds
        if new:
            self.start_ts = start
        self.prev_end_ts = end
        return new


def resume_index(records: Sequence[ActivityRecord], break_seconds: float = BREAK_SECONDS) -> int:
    """Where to start pushing ``records`` (one user, time order) to resume a builder exactly.

    Everything the feature builder and the session rules keep is reset by a gap of at least
    ``break_seconds``, so pushing the records from the first one after the last such gap gives
    the same rows as pushing the whole history. Returns 0 when there is no such gap (push all).
    """
    for i in range(len(records) - 1, 0, -1):
        prev_end = records[i - 1].bucket_start.timestamp() + records[i - 1].bucket_seconds
        if records[i].bucket_start.timestamp() - prev_end >= break_seconds:
            return i
    return 0
