"""The v2 column registry, its schema hash and the 38 model columns (spec 2.5)."""

from __future__ import annotations

import hashlib
import json

#: Bumped whenever a feature definition changes (the schema hash cannot see that).
FEATURE_BUILDER_VERSION = 1

SCHEMA_VERSION = "v2"

REGISTRY_V2: tuple[tuple[str, str], ...] = (
    ("device_id", "str"),
    ("session_id", "str"),
    ("bucket_start_ts", "datetime"),
    ("bucket_end_ts", "datetime"),
    ("schema_version", "str"),
    ("schema_hash", "str"),
    ("source_ids", "list"),
    ("app_id", "str"),
    ("app_category", "str"),
    ("window_title_hash", "str"),
    ("is_browser", "bool"),
    ("is_editor", "bool"),
    ("is_terminal", "bool"),
    ("app_switch_count_last_5m", "int"),
    ("app_foreground_time_ratio", "float"),
    ("app_change_count", "int"),
    ("app_dwell_time_seconds", "float"),
    ("app_entropy_5m", "float"),
    ("app_entropy_15m", "float"),
    ("top2_app_concentration_15m", "float"),
    ("idle_return_indicator", "bool"),
    ("keys_per_min", "float"),
    ("backspace_ratio", "float"),
    ("shortcut_rate", "float"),
    ("clicks_per_min", "float"),
    ("scroll_events_per_min", "float"),
    ("mouse_distance", "float"),
    ("active_seconds_keyboard", "float"),
    ("active_seconds_mouse", "float"),
    ("active_seconds_any", "float"),
    ("max_idle_run_seconds", "float"),
    ("event_density", "float"),
    ("domain_category", "str"),
    ("window_title_bucket", "int"),
    ("title_repeat_count_session", "int"),
    ("keys_per_min_rolling_5", "float"),
    ("keys_per_min_rolling_15", "float"),
    ("mouse_distance_rolling_5", "float"),
    ("mouse_distance_rolling_15", "float"),
    ("keys_per_min_delta", "float"),
    ("clicks_per_min_delta", "float"),
    ("mouse_distance_delta", "float"),
    ("app_switch_count_last_15m", "int"),
    ("hour_of_day", "int"),
    ("day_of_week", "int"),
    ("session_length_so_far", "float"),
)

REGISTRY_V1: tuple[tuple[str, str], ...] = (("user_id", "str"), *REGISTRY_V2)


def schema_hash(registry: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> str:
    """First 12 hex of SHA-256 over the registry as compact JSON (the seed's definition)."""
    payload = json.dumps([[n, t] for n, t in registry], separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:12]


SCHEMA_HASH_V2 = schema_hash(REGISTRY_V2)
SCHEMA_HASH_V1 = schema_hash(REGISTRY_V1)

#: Known schema versions and their hashes; only v2 is accepted for bundles.
KNOWN_SCHEMA_HASHES: dict[str, str] = {"v1": SCHEMA_HASH_V1, "v2": SCHEMA_HASH_V2}

MODEL_COLUMNS: tuple[str, ...] = (
    "app_id",
    "app_category",
    "is_browser",
    "is_editor",
    "is_terminal",
    "app_switch_count_last_5m",
    "app_foreground_time_ratio",
    "app_change_count",
    "app_dwell_time_seconds",
    "app_entropy_5m",
    "app_entropy_15m",
    "top2_app_concentration_15m",
    "idle_return_indicator",
    "keys_per_min",
    "backspace_ratio",
    "shortcut_rate",
    "clicks_per_min",
    "scroll_events_per_min",
    "mouse_distance",
    "active_seconds_keyboard",
    "active_seconds_mouse",
    "active_seconds_any",
    "max_idle_run_seconds",
    "event_density",
    "domain_category",
    "window_title_bucket",
    "title_repeat_count_session",
    "keys_per_min_rolling_5",
    "keys_per_min_rolling_15",
    "mouse_distance_rolling_5",
    "mouse_distance_rolling_15",
    "keys_per_min_delta",
    "clicks_per_min_delta",
    "mouse_distance_delta",
    "app_switch_count_last_15m",
    "hour_of_day",
    "day_of_week",
    "session_length_so_far",
)
CATEGORICAL_COLUMNS: tuple[str, ...] = ("app_id", "app_category", "domain_category")
BOOLEAN_COLUMNS: frozenset[str] = frozenset(n for n, t in REGISTRY_V2 if t == "bool")
NUMERIC_MODEL_COLUMNS: tuple[str, ...] = tuple(
    c for c in MODEL_COLUMNS if c not in CATEGORICAL_COLUMNS
)
REGISTRY_TYPES: dict[str, str] = dict(REGISTRY_V2)

#: Columns keyed per install (the title-hash bucket uses this install's secret key): they mean
#: nothing across users, so models trained on several users see them as missing (the bundle's
#: ``masked_columns``); a personal model may use them.
PER_INSTALL_COLUMNS: tuple[str, ...] = ("window_title_bucket",)
