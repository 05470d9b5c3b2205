"""Questions the agent asks (spec 6.5): a low-confidence prompt after three rejected buckets
in a row (at most one an hour, when enabled) and random spot checks, about
``spot_checks_per_day`` over an 8-hour working day, only when a model (not the rules) runs."""

from __future__ import annotations

import math
import random

from agent.clock import Clock
from engine.config import Config
from engine.record import PredictionRecord

LOW_CONFIDENCE_RUN = 3
LOW_CONFIDENCE_GAP_SECONDS = 3600
WORKDAY_SECONDS = 8 * 3600
#: A question about a bucket longer ago than this is no longer asked.
PROMPT_EXPIRY_SECONDS = 3600


class PromptScheduler:
    def __init__(self, config: Config, *, bucket_seconds: int, clock: Clock,
                 rng: random.Random | None = None) -> None:
        self.config = config
        self._bucket_seconds = bucket_seconds
        self._clock = clock
        self._rng = rng or random.Random()
        self._recent_rejects = 0
        self._last_prompt_at = -math.inf

    def after(self, pred: PredictionRecord, *, pending: str | None) -> str | None:
        """The bucket (ISO) to ask about after ``pred``, or None. One question at a time."""
        if pending is not None:
            return None
        cfg = self.config
        now = self._clock.monotonic()
        self._recent_rejects = self._recent_rejects + 1 if pred.rejected else 0
        if (cfg.low_confidence_prompts and self._recent_rejects >= LOW_CONFIDENCE_RUN
                and now - self._last_prompt_at > LOW_CONFIDENCE_GAP_SECONDS):
            self._last_prompt_at = now
            return pred.bucket_start
        per_day = cfg.spot_checks_per_day
        if (pred.model_id != "rules" and per_day > 0
                and self._rng.random() < float(per_day) * self._bucket_seconds / WORKDAY_SECONDS):
            return pred.bucket_start
        return None
