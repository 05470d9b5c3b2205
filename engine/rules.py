"""The rule baseline (spec 4.4): what the user sees before any model exists.

Deterministic rules on the v2 feature row, in priority order. The engine wraps them behind the
same interface as a model (one-hot probabilities, uniform for Mixed/Unknown, model id
``rules``), so smoothing, rejection and the taxonomy work the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from engine.apps import task_of
from engine.labels import CORE_LABEL_SET, LABEL_ORDER, MIXED_UNKNOWN

RULES_MODEL_ID = "rules"

#: Thresholds of the rules (documented in docs/engine.md).
MIN_ACTIVE_SECONDS = 5.0
MAX_IDLE_RUN_SECONDS = 50.0
#: Input now and then with no gap longer than this: someone is at the desk (reading a chat).
PRESENT_MAX_IDLE_RUN_SECONDS = 30.0
MIN_FOREGROUND_RATIO = 0.5
READING_MIN_SCROLLS_PER_MIN = 5.0
READING_MAX_KEYS_PER_MIN = 20.0
TYPING_MIN_KEYS_PER_MIN = 30.0
CODING_MIN_KEYS_PER_MIN = 15.0
TYPING_MIN_KEYBOARD_SECONDS = 15.0


def _task_table(data: Mapping[str, Any], key: str) -> dict[str, str]:
    from engine.desktop_tables import DATA_DIR
    from engine.errors import ArtifactError

    table = data.get(key, {})
    if not isinstance(table, dict) or not all(
        isinstance(v, str) and v in CORE_LABEL_SET for v in table.values()
    ):
        raise ArtifactError(DATA_DIR / "rules.toml", key, "must map categories to core labels")
    return {str(k): str(v) for k, v in table.items()}


def _load_tables() -> tuple[dict[str, str], dict[str, str]]:
    from engine.desktop_tables import shipped

    data = shipped("rules.toml")
    return _task_table(data, "app_category"), _task_table(data, "domain_category")


#: Category -> task, from ``engine/data/rules.toml``.
APP_CATEGORY_TASKS, DOMAIN_TASKS = _load_tables()


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


def _sustained_typing(features: Mapping[str, Any], min_keys: float) -> bool:
    keys = _num(features, "keys_per_min")
    if keys is None or keys < min_keys:
        return False
    kb = _num(features, "active_seconds_keyboard")
    return kb is None or kb >= min(TYPING_MIN_KEYBOARD_SECONDS, min_keys / 2)


def _reading(features: Mapping[str, Any]) -> bool:
    scrolls = _num(features, "scroll_events_per_min")
    keys = _num(features, "keys_per_min")
    return (scrolls is not None and scrolls >= READING_MIN_SCROLLS_PER_MIN
            and (keys is None or keys < READING_MAX_KEYS_PER_MIN))


def app_task(features: Mapping[str, Any]) -> str | None:
    """The task the app (or, for a browser, the site) in front suggests, or None."""
    cat = features.get("app_category")
    if cat == "browser" or _flag(features, "is_browser"):
        dom = features.get("domain_category")
        return DOMAIN_TASKS.get(dom) if isinstance(dom, str) else None
    app_id = features.get("app_id")
    own = task_of(app_id) if isinstance(app_id, str) else None
    if own is not None:
        return own or None
    if cat is None and (_flag(features, "is_editor") or _flag(features, "is_terminal")):
        return "Build"
    return APP_CATEGORY_TASKS.get(cat) if isinstance(cat, str) else None


def rule_label(features: Mapping[str, Any]) -> str:
    """The baseline's label for one feature row (a core label or Mixed/Unknown).

    Priority: lock screen; a meeting in front (people listen silently); no input or a long
    idle run; the task the app or site in front suggests, checked against the window's
    activity. With input counters (X11, Windows, macOS) typing and scrolling must fit the task;
    without them (ActivityWatch, Wayland) activity in the minute is all there is to go on.
    """
    cat = features.get("app_category")
    dom = features.get("domain_category")
    if cat == "lockscreen":
        return "BreakIdle"
    if cat == "meeting" or dom == "meeting_web":
        return "Meet"
    active = _num(features, "active_seconds_any")
    idle_run = _num(features, "max_idle_run_seconds")
    if idle_run is not None and idle_run > MAX_IDLE_RUN_SECONDS:
        return "BreakIdle"
    if active is not None and active < MIN_ACTIVE_SECONDS and (
        idle_run is None or idle_run > PRESENT_MAX_IDLE_RUN_SECONDS
    ):
        return "BreakIdle"  # almost no input, and not because someone reads with a hand on the mouse
    ratio = _num(features, "app_foreground_time_ratio")
    if ratio is not None and ratio < MIN_FOREGROUND_RATIO:
        return MIXED_UNKNOWN  # no app held the minute
    task = app_task(features)
    counters = _num(features, "keys_per_min") is not None
    if task is None:
        is_browser = cat == "browser" or _flag(features, "is_browser")
        return "ReadResearch" if is_browser and counters and _reading(features) else MIXED_UNKNOWN
    if not counters and active is None:
        return MIXED_UNKNOWN  # nothing says anyone is at the desk
    if not counters or task in ("Communicate", "Meet", "BreakIdle", "Debug", "Review"):
        return task
    if task == "Build":
        return "Build" if _sustained_typing(features, CODING_MIN_KEYS_PER_MIN) else MIXED_UNKNOWN
    if task == "Write":
        if _sustained_typing(features, TYPING_MIN_KEYS_PER_MIN):
            return "Write"
        return "ReadResearch" if _reading(features) else MIXED_UNKNOWN
    if task == "ReadResearch":
        keys = _num(features, "keys_per_min")
        return "ReadResearch" if keys is None or keys < 2 * TYPING_MIN_KEYS_PER_MIN else MIXED_UNKNOWN
    return task


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
