"""Who can have a personal calibrator, counted on exactly the rows calibration will use.

One function for everyone (the trainer, ``taskclf personalize``, ``taskclf doctor`` and the
tray's "Personal tuning" line): a user's labelled buckets whose label a person gave (``rule``
and ``synthetic`` spans are machine-made, calibrating on them would be circular), on the user's
local days, leaving out the days the deployed bundle trained on. A user needs
``MIN_MINUTES`` such buckets on ``MIN_DAYS`` local days with ``MIN_LABELS`` distinct labels
(docs/decisions.md says why these numbers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from engine.labels import MACHINE_PROVENANCES

MIN_MINUTES = 200
MIN_DAYS = 3
MIN_LABELS = 3


def usable_for_calibration(provenance: str | None) -> bool:
    """Machine-made labels would make calibration circular."""
    return provenance is not None and provenance not in MACHINE_PROVENANCES


@dataclass(frozen=True, slots=True)
class Eligibility:
    """What one user has toward a personal calibrator, and whether it is enough."""

    minutes: int = 0
    days: int = 0
    labels: int = 0

    @property
    def eligible(self) -> bool:
        return self.minutes >= MIN_MINUTES and self.days >= MIN_DAYS and self.labels >= MIN_LABELS

    @property
    def reason(self) -> str | None:
        """Why not yet, in plain words (None when eligible)."""
        out = []
        if self.minutes < MIN_MINUTES:
            out.append(f"{self.minutes} of {MIN_MINUTES} labelled minutes")
        if self.days < MIN_DAYS:
            out.append(f"{self.days} of {MIN_DAYS} days")
        if self.labels < MIN_LABELS:
            out.append(f"{self.labels} of {MIN_LABELS} kinds of work")
        return ", ".join(out) or None

    def line(self) -> str:
        """The tray's line: what the user has and what is still needed."""
        if self.eligible:
            return f"Personal tuning: ready ({self.minutes} labelled minutes on {self.days} days)"
        parts = [f"{min(self.minutes, MIN_MINUTES)} of {MIN_MINUTES} labelled minutes",
                 f"{min(self.days, MIN_DAYS)} of {MIN_DAYS} days"]
        if self.labels < MIN_LABELS:
            parts.append(f"{self.labels} of {MIN_LABELS} kinds of work")
        return "Personal tuning: " + ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        # "buckets" keeps the key the trainer's reports and stores have always used
        return {"buckets": self.minutes, "days": self.days, "labels": self.labels,
                "eligible": self.eligible, "reason": self.reason}


def eligibility(users: Sequence[str], days: np.ndarray, y: np.ndarray) -> dict[str, Eligibility]:
    """Per user, over rows already restricted to calibration rows (see ``calibration_mask``)."""
    out: dict[str, Eligibility] = {}
    users_arr = np.asarray(users, dtype=object)
    for u in sorted(set(users)):
        m = users_arr == u
        out[u] = Eligibility(int(m.sum()), int(len(np.unique(days[m]))), int(len(np.unique(y[m]))))
    return out


def trained_days(bundle: Any) -> dict[str, set[int]]:
    """{user: {local day ordinal}} the bundle trained on, from its recorded split (empty when
    the bundle records none: then it says nothing about this home's users)."""
    split = getattr(bundle, "split", None)
    users = split.get("users") if isinstance(split, dict) else None
    out: dict[str, set[int]] = {}
    if not isinstance(users, dict):
        return out
    for u, parts in users.items():
        vals = parts.get("train", []) if isinstance(parts, dict) else []
        days = set()
        for v in vals if isinstance(vals, list) else []:
            try:
                days.add(date.fromisoformat(str(v)).toordinal())
            except ValueError:
                continue
        out[str(u)] = days
    return out


def calibration_mask(
    user_ids: Sequence[str],
    local_days: np.ndarray,
    y: np.ndarray,
    provenance: Sequence[str | None],
    exclude_days: Mapping[str, set[int]],
) -> np.ndarray:
    """Rows calibration uses: labelled by a person, not on an excluded (trained-on) day."""
    ok = np.array([usable_for_calibration(p) for p in provenance], dtype=bool) & (np.asarray(y) >= 0)
    for i in np.flatnonzero(ok):
        ex = exclude_days.get(user_ids[int(i)])
        if ex and int(local_days[i]) in ex:
            ok[i] = False
    return ok


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def store_eligibility(store: Any, user_id: str, exclude_days: set[int] | None = None) -> Eligibility:
    """The user's eligibility read cheaply from the store: the recorded buckets that a human
    span covers completely, on the record's local day (what ``calibration_mask`` keeps of the
    user's frame), without building any features. Read from the store's learning tally (one
    row per labelled day and label, kept up to date by its writes), not from the history."""
    exclude = exclude_days or set()
    minutes = 0
    days: set[int] = set()
    labels: set[str] = set()
    for local_day, label, buckets in store.labelled_days(user_id):
        day = _EPOCH_ORDINAL + local_day
        if day not in exclude:
            minutes += buckets
            days.add(day)
            labels.add(label)
    return Eligibility(minutes, len(days), len(labels))

