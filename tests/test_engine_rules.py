"""The rule baseline (spec 4.4): priority order and the thresholds of each rule."""

from __future__ import annotations

import pytest

from engine.labels import MIXED_UNKNOWN
from engine.rules import RulePredictor, rule_label

ACTIVE = {"active_seconds_any": 45.0, "max_idle_run_seconds": 5.0}


@pytest.mark.parametrize(
    ("row", "label"),
    [
        ({"app_category": "lockscreen", "app_id": "x"}, "BreakIdle"),
        ({"app_category": "lockscreen", "domain_category": "meeting_web"}, "BreakIdle"),
        ({"app_category": "meeting", "active_seconds_any": 0.0}, "Meet"),  # people listen silently
        ({"app_category": "browser", "domain_category": "meeting_web", **ACTIVE}, "Meet"),
        ({"app_category": "editor", "active_seconds_any": 2.0, "keys_per_min": 100.0}, "BreakIdle"),
        ({"app_category": "editor", "active_seconds_any": 40.0, "max_idle_run_seconds": 55.0}, "BreakIdle"),
        ({"app_category": "chat", **ACTIVE}, "Communicate"),
        ({"app_category": "email", **ACTIVE}, "Communicate"),
        ({"app_category": "browser", "domain_category": "email_web", **ACTIVE}, "Communicate"),
        ({"app_category": "browser", "is_browser": True, "scroll_events_per_min": 12.0, "keys_per_min": 3.0, **ACTIVE}, "ReadResearch"),
        ({"app_category": "browser", "scroll_events_per_min": 12.0, "keys_per_min": 80.0, **ACTIVE}, MIXED_UNKNOWN),
        ({"app_category": "editor", "keys_per_min": 90.0, "active_seconds_keyboard": 30.0, **ACTIVE}, "Build"),
        ({"app_category": "terminal", "keys_per_min": 60.0, **ACTIVE}, "Build"),
        ({"app_category": "editor", "keys_per_min": 10.0, **ACTIVE}, MIXED_UNKNOWN),
        ({"app_category": "docs", "keys_per_min": 70.0, "active_seconds_keyboard": 40.0, **ACTIVE}, "Write"),
        ({"app_category": "docs", "keys_per_min": 70.0, "active_seconds_keyboard": 3.0, **ACTIVE}, MIXED_UNKNOWN),
        ({"app_category": "other", **ACTIVE}, MIXED_UNKNOWN),
        ({}, MIXED_UNKNOWN),
        ({"app_category": "editor", "keys_per_min": "fast", "active_seconds_any": float("nan")}, MIXED_UNKNOWN),
    ],
)
def test_rules_in_priority_order(row: dict[str, object], label: str) -> None:
    assert rule_label(row) == label


def test_predictor_is_one_hot_or_uniform() -> None:
    p = RulePredictor()
    hot = p.predict({"app_category": "lockscreen"})
    assert hot.count(1.0) == 1 and sum(hot) == 1.0
    assert hot[p.label_order.index("BreakIdle")] == 1.0
    assert p.predict({}) == [1 / 8] * 8
    hot[0] = 5.0  # callers get a copy
    assert p.predict({"app_category": "lockscreen"})[0] == 1.0


# ActivityWatch / Wayland: no input counters, the minute is "active" (not AFK) or idle.
AW_ACTIVE = {"active_seconds_any": 60.0, "max_idle_run_seconds": 0.0, "keys_per_min": None,
             "scroll_events_per_min": None, "app_foreground_time_ratio": 1.0}


@pytest.mark.parametrize(
    ("row", "label"),
    [
        ({"app_id": "com.microsoft.VSCode", "app_category": "editor"}, "Build"),
        ({"app_id": "org.gnome.Terminal", "app_category": "terminal"}, "Build"),
        ({"app_id": "com.postmanlabs.mac", "app_category": "devtools"}, "Debug"),
        ({"app_id": "com.axosoft.gitkraken", "app_category": "devtools"}, "Review"),
        ({"app_id": "com.google.Chrome", "app_category": "browser", "is_browser": True,
          "domain_category": "code_hosting"}, "Review"),
        ({"app_id": "com.atlassian.jira", "app_category": "project_mgmt"}, "Review"),
        ({"app_id": "com.microsoft.Word", "app_category": "docs"}, "Write"),
        ({"app_id": "md.obsidian", "app_category": "docs"}, "Write"),
        ({"app_id": "org.gnome.Evince", "app_category": "docs"}, "ReadResearch"),
        ({"app_id": "com.google.Chrome", "app_category": "browser", "domain_category": "docs"},
         "ReadResearch"),
        ({"app_id": "org.mozilla.firefox", "app_category": "browser", "domain_category": "search"},
         "ReadResearch"),
        ({"app_id": "com.tinyspeck.slackmacgap", "app_category": "chat"}, "Communicate"),
        ({"app_id": "us.zoom.xos", "app_category": "meeting", "active_seconds_any": 0.0}, "Meet"),
        ({"app_id": "com.google.Chrome", "app_category": "browser", "domain_category": "video"},
         MIXED_UNKNOWN),
        ({"app_id": "com.spotify.client", "app_category": "media"}, MIXED_UNKNOWN),
        ({"app_id": "com.microsoft.Excel", "app_category": "docs"}, MIXED_UNKNOWN),
        ({"app_id": "com.microsoft.VSCode", "app_category": "editor", "app_foreground_time_ratio": 0.3},
         MIXED_UNKNOWN),
        ({"app_id": "com.microsoft.VSCode", "app_category": "editor", "active_seconds_any": 0.0,
          "max_idle_run_seconds": 60.0}, "BreakIdle"),
        ({"app_id": "com.microsoft.VSCode", "app_category": "editor", "active_seconds_any": None},
         MIXED_UNKNOWN),
    ],
)
def test_counterless_rules_follow_the_app_and_site(row: dict[str, object], label: str) -> None:
    assert rule_label({**AW_ACTIVE, **row}) == label


@pytest.mark.parametrize(
    ("row", "label"),
    [
        ({"app_id": "com.microsoft.Word", "app_category": "docs", "keys_per_min": 2.0,
          "scroll_events_per_min": 20.0}, "ReadResearch"),
        ({"app_id": "com.google.Chrome", "app_category": "browser", "domain_category": "docs",
          "keys_per_min": 150.0}, MIXED_UNKNOWN),
        ({"app_id": "com.google.Chrome", "app_category": "browser", "domain_category": "code_hosting",
          "keys_per_min": 0.0, "scroll_events_per_min": 30.0}, "Review"),
        ({"app_id": "com.microsoft.VSCode", "app_category": "editor", "keys_per_min": 40.0,
          "active_seconds_keyboard": 20.0}, "Build"),
    ],
)
def test_counters_check_the_activity_fits_the_task(row: dict[str, object], label: str) -> None:
    assert rule_label({**ACTIVE, "app_foreground_time_ratio": 1.0, **row}) == label


def test_a_reader_touching_the_mouse_now_and_then_is_not_on_a_break() -> None:
    reading_chat = {"app_id": "com.tinyspeck.slackmacgap", "app_category": "chat",
                    "active_seconds_any": 4.0, "max_idle_run_seconds": 24.0, "keys_per_min": 0.0,
                    "scroll_events_per_min": 2.0, "app_foreground_time_ratio": 1.0}
    assert rule_label(reading_chat) == "Communicate"
    assert rule_label({**reading_chat, "max_idle_run_seconds": 45.0}) == "BreakIdle"
    assert rule_label({**reading_chat, "max_idle_run_seconds": None}) == "BreakIdle"
