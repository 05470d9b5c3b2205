"""Per-user, whole-local-day, time-ordered splits (spec 5.2): no day is in two parts.

First ~70 % of a user's labelled days train, the next ~15 % calibrate (calibrators, reject
thresholds, early stopping), the last ~15 % test. Users with fewer than ``MIN_DAYS_TO_SPLIT``
labelled days go entirely into train. ``holdout_users`` users, chosen deterministically from the
seed, appear only in test (unseen-user metrics).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from engine.errors import ArtifactError

MIN_DAYS_TO_SPLIT = 5
PARTS = ("train", "calibration", "test")


@dataclass
class Split:
    """``days[user][part]`` = sorted local dates (ISO strings in the bundle's metadata)."""

    days: dict[str, dict[str, list[date]]] = field(default_factory=dict)
    holdout_users: list[str] = field(default_factory=list)

    def part_days(self, part: str) -> dict[str, set[int]]:
        """{user: {ordinal, ...}} of one part (for fast row masks)."""
        return {u: {d.toordinal() for d in parts.get(part, [])} for u, parts in self.days.items()}

    def sizes(self) -> dict[str, int]:
        return {p: sum(len(v.get(p, [])) for v in self.days.values()) for p in PARTS}

    def to_json(self) -> dict[str, Any]:
        return {
            "unit": "local_day",
            "fractions": {"train": 0.7, "calibration": 0.15, "test": 0.15},
            "holdout_users": list(self.holdout_users),
            "users": {
                u: {p: [d.isoformat() for d in parts.get(p, [])] for p in PARTS}
                for u, parts in sorted(self.days.items())
            },
        }

    @classmethod
    def from_json(cls, obj: Any, *, path: str | None = None) -> Split:
        if not isinstance(obj, dict) or not isinstance(obj.get("users"), dict):
            raise ArtifactError(path, "split", "missing or not an object with 'users'")
        days: dict[str, dict[str, list[date]]] = {}
        for user, parts in obj["users"].items():
            if not isinstance(parts, dict):
                raise ArtifactError(path, f"split.users.{user}", "expected an object")
            days[user] = {}
            for p in PARTS:
                vals = parts.get(p, [])
                try:
                    days[user][p] = sorted(date.fromisoformat(v) for v in vals)
                except (TypeError, ValueError):
                    raise ArtifactError(path, f"split.users.{user}.{p}", "expected ISO dates") from None
        hold = obj.get("holdout_users", [])
        return cls(days=days, holdout_users=[str(u) for u in hold] if isinstance(hold, list) else [])


def choose_holdout_users(users: Iterable[str], k: int, seed: int) -> list[str]:
    """``k`` users chosen by a seeded hash (stable whatever order the users come in)."""
    if k <= 0:
        return []
    ranked = sorted(users, key=lambda u: hashlib.sha256(f"{seed}:{u}".encode()).hexdigest())
    return sorted(ranked[:k])


def split_days(user_days: Mapping[str, Iterable[date]], *, holdout_users: int = 0, seed: int = 0) -> Split:
    """The split of each user's labelled local days."""
    users = sorted(user_days)
    if holdout_users >= len(users) and holdout_users > 0:
        raise ArtifactError(None, "--holdout-users", f"{holdout_users} holdout users leave none to train on")
    hold = choose_holdout_users(users, holdout_users, seed)
    out: dict[str, dict[str, list[date]]] = {}
    for u in users:
        days = sorted(set(user_days[u]))
        if u in hold:
            out[u] = {"train": [], "calibration": [], "test": days}
            continue
        n = len(days)
        if n < MIN_DAYS_TO_SPLIT:
            out[u] = {"train": days, "calibration": [], "test": []}
            continue
        n_cal = max(1, round(0.15 * n))
        n_test = max(1, round(0.15 * n))
        n_train = n - n_cal - n_test
        out[u] = {
            "train": days[:n_train],
            "calibration": days[n_train : n_train + n_cal],
            "test": days[n_train + n_cal :],
        }
    return Split(days=out, holdout_users=hold)


def labelled_user_days(frame: Any) -> dict[str, set[date]]:
    """{user: {local day with at least one labelled bucket}} of a frame (what a split divides)."""
    import numpy as np

    m = frame.y >= 0
    out: dict[str, set[date]] = {}
    for u, d in zip(np.asarray(frame.user_ids, dtype=object)[m], frame.local_day[m].tolist(), strict=True):
        out.setdefault(u, set()).add(date.fromordinal(int(d)))
    return out
