"""App identity (spec 2.4): the names each OS reports -> one stable app id and a category.

The table is data (``engine/data/apps.toml``, extended by the user's ``<home>/apps.toml``): one
row per app with its id, its category and every name the operating systems report for it (Windows ``.exe`` names, X11 ``WM_CLASS`` instance and class, macOS
bundle ids and display names). Where the seed project's models know an app, the id is the
seed's string (``com.microsoft.VSCode``...), so a model trained on either side understands it.
Lookup is case-insensitive and ignores spaces, dashes, underscores and a trailing ``.exe`` /
``.app``, so ``Google Chrome``, ``google-chrome`` and ``chrome.exe`` all match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CATEGORIES: tuple[str, ...] = (
    "browser",
    "editor",
    "terminal",
    "email",
    "chat",
    "meeting",
    "docs",
    "design",
    "devtools",
    "media",
    "file_manager",
    "utilities",
    "project_mgmt",
    "lockscreen",
    "other",
)


@dataclass(frozen=True, slots=True)
class AppInfo:
    """What the feature builder needs to know about a foreground app."""

    app_id: str
    category: str
    is_browser: bool = field(init=False)
    is_editor: bool = field(init=False)
    is_terminal: bool = field(init=False)

    def __post_init__(self) -> None:
        # The flags follow the category (spec 2.4); they are stored for cheap access.
        object.__setattr__(self, "is_browser", self.category == "browser")
        object.__setattr__(self, "is_editor", self.category == "editor")
        object.__setattr__(self, "is_terminal", self.category == "terminal")


UNKNOWN_APP = AppInfo("unknown", "other")
LOCKSCREEN = AppInfo("system.lockscreen", "lockscreen")

def _shipped_rows() -> list[Any]:
    from engine.desktop_tables import parse_apps, shipped

    return parse_apps(shipped("apps.toml"), DATA_APPS, CATEGORIES)


DATA_APPS = Path(__file__).resolve().parent / "data" / "apps.toml"
_ROWS = _shipped_rows()
#: (app_id, category, names reported by the operating systems), from ``engine/data/apps.toml``.
_TABLE: tuple[tuple[str, str, tuple[str, ...]], ...] = tuple((r.app_id, r.category, r.names) for r in _ROWS)
#: The rule baseline's task for an app when the table names one ("" = none).
_TASKS: dict[str, str] = {r.app_id: r.task for r in _ROWS if r.task is not None}

#: Windows' frame host for UWP/Store apps: the real app is the hosted one.
UWP_HOSTS: frozenset[str] = frozenset({"applicationframehost"})

# Names several apps report identically; the first row listed for a name wins, which is
# deliberate (e.g. "Mail" is Apple Mail; Thunderbird is found by its other names).
_STRIP = re.compile(r"[\s_\-]+")
_UNSAFE = re.compile(r"[^a-z0-9.+]+")


def _key(name: str) -> str:
    """The lookup form of a reported name: casefolded, no separators, no .exe/.app suffix."""
    k = name.strip().casefold()
    for suffix in (".exe", ".app"):
        if k.endswith(suffix):
            k = k[: -len(suffix)]
    return _STRIP.sub("", k)


def _build_index() -> tuple[dict[str, AppInfo], dict[str, AppInfo]]:
    by_name: dict[str, AppInfo] = {}
    by_id: dict[str, AppInfo] = {}
    for app_id, category, names in _TABLE:
        if category not in CATEGORIES:
            raise ValueError(f"app table: unknown category {category!r} for {app_id}")
        info = LOCKSCREEN if app_id == LOCKSCREEN.app_id else AppInfo(app_id, category)
        by_id[app_id] = info
        for n in (app_id, *names):
            by_name.setdefault(_key(n), info)
    return by_name, by_id


_BY_NAME, _BY_ID = _build_index()
# A user's own apps (``<home>/apps.toml``): consulted before the shipped table.
_USER_BY_NAME: dict[str, AppInfo] = {}
_USER_TASKS: dict[str, str] = {}


def set_user_apps(rows: list[Any]) -> None:
    """Replace the user's own app entries (rows of ``engine.desktop_tables.AppRow``)."""
    by_name: dict[str, AppInfo] = {}
    tasks: dict[str, str] = {}
    for r in rows:
        info = AppInfo(r.app_id, r.category)
        for n in (r.app_id, *r.names):
            by_name[_key(n)] = info
        if r.task is not None:
            tasks[r.app_id] = r.task
    _USER_BY_NAME.clear()
    _USER_BY_NAME.update(by_name)
    _USER_TASKS.clear()
    _USER_TASKS.update(tasks)


def task_of(app_id: str | None) -> str | None:
    """The task an app's table entry names for the rules ("" = none), or None (use the
    category's default)."""
    if not app_id:
        return None
    if app_id in _USER_TASKS:
        return _USER_TASKS[app_id]
    return _TASKS.get(app_id)


def _find(key: str) -> AppInfo | None:
    info = _USER_BY_NAME.get(key)
    return info if info is not None else _BY_NAME.get(key)


def known_apps() -> tuple[AppInfo, ...]:
    """Every app of the table (for docs and tests)."""
    return tuple(_BY_ID.values())


def lookup(name: str | None) -> AppInfo | None:
    """The table entry for one reported name, or None when the table does not know it."""
    if not name:
        return None
    return _find(_key(name))


def normalise_name(name: str, *, strip_suffix: bool = True) -> str:
    """A safe, stable suffix for ``unknown.<name>``: lowercase ``[a-z0-9.+-]``, at most 64."""
    k = name.strip().casefold()
    for suffix in (".exe", ".app") if strip_suffix else ():
        if k.endswith(suffix):
            k = k[: -len(suffix)]
    k = _UNSAFE.sub("-", k).strip("-.")
    return k[:64].strip("-.")


def identify_app(
    name: str | None,
    *,
    exe: str | None = None,
    wm_class: tuple[str, ...] | None = None,
    bundle_id: str | None = None,
    hosted_app: str | None = None,
) -> AppInfo:
    """Resolve any subset of hints to one ``AppInfo``; the most specific known hint wins.

    Order: the app hosted by a UWP frame host, the macOS bundle id, the executable name, the
    X11 WM_CLASS (class, then instance), the display/process name. When no hint is in the
    table the app is ``unknown.<normalised most specific hint>`` with category ``other``;
    with no hint at all it is ``UNKNOWN_APP``.
    """
    hints: list[str] = []
    host = exe or name
    if hosted_app and host and _key(host) in UWP_HOSTS:
        hints.append(hosted_app)
    if bundle_id:
        hints.append(bundle_id)
    if exe:
        hints.append(exe)
    if wm_class:
        hints.extend(reversed([c for c in wm_class if c]))
    if name:
        hints.append(name)
    if hosted_app and hosted_app not in hints:
        hints.append(hosted_app)
    for h in hints:
        info = _find(_key(h))
        if info is not None:
            return info
    for h in hints:
        if _key(h) in UWP_HOSTS:
            continue
        norm = normalise_name(h, strip_suffix=h != bundle_id)
        if norm:
            return AppInfo(f"unknown.{norm}", "other")
    return UNKNOWN_APP
