"""The rule baseline (spec 4.4): what the user sees before any model exists.

Deterministic rules on the v2 feature row, in priority order. The engine wraps them behind the
same interface as a model (one-hot probabilities, uniform for Mixed/Unknown, model id
``rules``), so smoothing, rejection and the taxonomy work the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from engine.labels import LABEL_ORDER, MIXED_UNKNOWN

RULES_MODEL_ID = "rules"

MEETING_APP_CATEGORIES = frozenset({"meeting"})
MEETING_DOMAINS = frozenset({"meeting_web"})
COMMUNICATION_APP_CATEGORIES = frozenset({"chat", "email"})
COMMUNICATION_DOMAINS = frozenset({"chat", "email_web"})
CODE_APP_CATEGORIES = frozenset({"editor", "terminal", "devtools"})
DOCS_APP_CATEGORIES = frozenset({"docs"})

#: Thresholds of the rules (documented in docs/engine.md).
MIN_ACTIVE_SECONDS = 5.0
MAX_IDLE_RUN_SECONDS = 50.0
READING_MIN_SCROLLS_PER_MIN = 5.0
READING_MAX_KEYS_PER_MIN = 20.0
TYPING_MIN_KEYS_PER_MIN = 30.0
TYPING_MIN_KEYBOARD_SECONDS = 15.0


def _num(features: Mapping[str, Any], name: str) -> float | None:
    v = features.get(name)
    if v is None or isinstance(v, str):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _flag(features: Mapping[str, Any], name: str) -> bool:
    return features.get(name) is True or features.get(name) == 1


def _sustained_typing(features: Mapping[str, Any]) -> bool:
    keys = _num(features, "keys_per_min")
    if keys is None or keys < TYPING_MIN_KEYS_PER_MIN:
        return False
    kb = _num(features, "active_seconds_keyboard")
    return kb is None or kb >= TYPING_MIN_KEYBOARD_SECONDS


def rule_label(features: Mapping[str, Any]) -> str:
    """The baseline's label for one feature row (a core label or Mixed/Unknown)."""
    cat = features.get("app_category")
    dom = features.get("domain_category")
    if cat == "lockscreen":
        return "BreakIdle"
    if cat in MEETING_APP_CATEGORIES or dom in MEETING_DOMAINS:
        return "Meet"
    active = _num(features, "active_seconds_any")
    idle_run = _num(features, "max_idle_run_seconds")
    if (active is not None and active < MIN_ACTIVE_SECONDS) or (
        idle_run is not None and idle_run > MAX_IDLE_RUN_SECONDS
    ):
        return "BreakIdle"
    if cat in COMMUNICATION_APP_CATEGORIES or dom in COMMUNICATION_DOMAINS:
        return "Communicate"
    if cat == "browser" or _flag(features, "is_browser"):
        scrolls = _num(features, "scroll_events_per_min")
        keys = _num(features, "keys_per_min")
        if (
            scrolls is not None
            and scrolls >= READING_MIN_SCROLLS_PER_MIN
            and (keys is None or keys < READING_MAX_KEYS_PER_MIN)
        ):
            return "ReadResearch"
    if (
        cat in CODE_APP_CATEGORIES or _flag(features, "is_editor") or _flag(features, "is_terminal")
    ) and _sustained_typing(features):
        return "Build"
    if cat in DOCS_APP_CATEGORIES and _sustained_typing(features):
        return "Write"
    return MIXED_UNKNOWN


class RulePredictor:
    """Rules as a probability vector over ``label_order``: one-hot, or uniform when unsure."""

    __slots__ = ("label_order", "_onehot", "_uniform")

    def __init__(self, label_order: Sequence[str] = LABEL_ORDER) -> None:
        self.label_order = tuple(label_order)
        n = len(self.label_order)
        self._onehot = {
            lab: [1.0 if j == i else 0.0 for j in range(n)] for i, lab in enumerate(self.label_order)
        }
        self._uniform = [1.0 / n] * n

    def predict(self, features: Mapping[str, Any]) -> list[float]:
        label = rule_label(features)
        return list(self._onehot.get(label, self._uniform))
