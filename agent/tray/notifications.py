"""Notifications for the agent's questions: spot checks and low-confidence prompts (spec 6.4, 6.6).

The runtime decides when to ask (it sets ``snapshot.pending_prompt``, which the menu shows as
"What were you doing at 14:05?"). This module decides whether a question also pops up as a
desktop notification: spot checks only when ``notifications`` is on, low-confidence prompts only
when ``low_confidence_prompts`` is on; both capped per local day and never in quick succession.
Counts live in a small JSON file in the data folder, so a restart does not reset them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from agent.snapshot import AgentSnapshot
from agent.tray.menu_model import parse_ts

log = logging.getLogger("taskclf.tray")

STATE_FILE = "tray_prompts.json"


@dataclass(frozen=True, slots=True)
class PromptPolicy:
    notifications: bool = False
    low_confidence_prompts: bool = False
    spot_checks_per_day: int = 2
    max_low_confidence_per_day: int = 4
    min_gap_minutes: int = 60  # between any two questions

    @classmethod
    def from_config(cls, config: Any) -> PromptPolicy:
        """From ``engine.config.Config`` (or anything with the 6.6 attribute names)."""
        return cls(
            notifications=bool(getattr(config, "notifications", False)),
            low_confidence_prompts=bool(getattr(config, "low_confidence_prompts", False)),
            spot_checks_per_day=max(0, int(getattr(config, "spot_checks_per_day", 2))),
        )


@dataclass
class DayCounts:
    day: str = ""
    spot_checks: int = 0
    low_confidence: int = 0
    asked: list[str] = field(default_factory=list)  # bucket starts asked about today


class PromptNotifier:
    """Rate-limits the notifications for the runtime's questions, counted per local day."""

    def __init__(
        self,
        policy: PromptPolicy,
        *,
        state_path: Path | None = None,
        tz: tzinfo | None = None,
    ) -> None:
        self.policy = policy
        self.state_path = state_path
        self.tz = tz
        self.counts = self._load()
        self._seen: str | None = None
        self._last_asked: datetime | None = None

    # ---------------------------------------------------------------- persistence

    def _load(self) -> DayCounts:
        if self.state_path is None or not self.state_path.exists():
            return DayCounts()
        try:
            raw = json.loads(self.state_path.read_text(encoding="utf-8"))
            return DayCounts(
                day=str(raw["day"]),
                spot_checks=int(raw["spot_checks"]),
                low_confidence=int(raw["low_confidence"]),
                asked=[str(x) for x in raw.get("asked", [])][:100],
            )
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("%s: unreadable prompt counters; starting the day's counts afresh", self.state_path)
            return DayCounts()

    def _save(self) -> None:
        if self.state_path is None:
            return
        data = {"day": self.counts.day, "spot_checks": self.counts.spot_checks,
                "low_confidence": self.counts.low_confidence, "asked": self.counts.asked}
        tmp = self.state_path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(data), encoding="utf-8")
            tmp.replace(self.state_path)
        except OSError:
            log.warning("could not save the prompt counters")

    def _roll_day(self, now: datetime) -> None:
        day = now.astimezone(self.tz).date().isoformat()
        if self.counts.day != day:
            self.counts = DayCounts(day=day)

    # ---------------------------------------------------------------- decisions

    def observe(self, s: AgentSnapshot, now: datetime) -> str | None:
        """Feed one snapshot; returns the bucket start to notify about, else None."""
        prompt = s.pending_prompt
        if prompt is None or prompt == self._seen or s.paused:
            return None
        self._seen = prompt
        try:
            parse_ts(prompt)
        except ValueError:
            return None
        self._roll_day(now)
        p = self.policy
        last = s.last
        low = last is not None and (last.rejected or last.confidence < last.threshold)
        if low:
            if not p.low_confidence_prompts or self.counts.low_confidence >= p.max_low_confidence_per_day:
                return None
        elif not p.notifications or self.counts.spot_checks >= p.spot_checks_per_day:
            return None
        if self._last_asked is not None and now - self._last_asked < timedelta(minutes=p.min_gap_minutes):
            return None
        if low:
            self.counts.low_confidence += 1
        else:
            self.counts.spot_checks += 1
        self.counts.asked.append(prompt)
        self._last_asked = now
        self._save()
        return prompt
