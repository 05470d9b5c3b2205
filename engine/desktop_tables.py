"""The desktop's data tables: apps (``engine/data/apps.toml``), sites (``sites.toml``) and the
rule baseline's defaults (``rules.toml``), plus a user's own additions (``<home>/apps.toml``).

Tables are data so that adding an app or a site is an edit of a TOML file, not of code. Every
entry is validated when it is read; a bad shipped table is a bug (it raises), a bad user file
is skipped with a one-line warning naming the file and the entry, and the shipped tables stay
in force.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import ArtifactError
from engine.jsonio import read_bounded_bytes
from engine.labels import CORE_LABEL_SET

DATA_DIR = Path(__file__).resolve().parent / "data"
USER_TABLE_FILE = "apps.toml"
MAX_TABLE_BYTES = 1024 * 1024
MAX_NAMES = 64


@dataclass(frozen=True, slots=True)
class AppRow:
    app_id: str
    category: str
    names: tuple[str, ...]
    task: str | None  # None: the category's default; "": no rule for this app


@dataclass(frozen=True, slots=True)
class SiteRow:
    keyword: str
    category: str


def read_toml(path: Path) -> dict[str, Any]:
    """A bounded, regular, UTF-8 TOML file as a dict, or one ``ArtifactError`` line."""
    if path.exists() and not path.is_file():
        raise ArtifactError(path, None, "not a regular file")
    raw = read_bounded_bytes(path, MAX_TABLE_BYTES)
    try:
        return tomllib.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ArtifactError(path, None, "not UTF-8 text") from None
    except (tomllib.TOMLDecodeError, RecursionError, ValueError) as exc:
        raise ArtifactError(path, None, f"not valid TOML ({' '.join(str(exc).split())[:200]})") from None


def _text(entry: dict[str, Any], key: str, path: Path, where: str, *, empty: bool = False) -> str:
    v = entry.get(key)
    if not isinstance(v, str) or (not empty and not v.strip()) or len(v) > 256:
        raise ArtifactError(path, f"{where}.{key}", "must be a non-empty string (at most 256 characters)")
    return v


def _entries(data: dict[str, Any], key: str, path: Path) -> list[dict[str, Any]]:
    v = data.get(key, [])
    if not isinstance(v, list) or not all(isinstance(e, dict) for e in v):
        raise ArtifactError(path, key, f"must be a list of [[{key}]] tables")
    return v


def parse_apps(data: dict[str, Any], path: Path, categories: tuple[str, ...]) -> list[AppRow]:
    rows = []
    for i, e in enumerate(_entries(data, "app", path)):
        where = f"app[{i}]"
        app_id = _text(e, "id", path, where)
        category = _text(e, "category", path, where)
        if category not in categories:
            raise ArtifactError(path, f"{where}.category", f"{category!r} is not one of {', '.join(categories)}")
        names = e.get("names", [])
        if (not isinstance(names, list) or len(names) > MAX_NAMES
                or not all(isinstance(n, str) and n.strip() and len(n) <= 256 for n in names)):
            raise ArtifactError(path, f"{where}.names", f"must be a list of at most {MAX_NAMES} names")
        task = e.get("task")
        if task is not None and (not isinstance(task, str) or (task and task not in CORE_LABEL_SET)):
            raise ArtifactError(path, f"{where}.task", f"must be one of {', '.join(sorted(CORE_LABEL_SET))} or \"\"")
        rows.append(AppRow(app_id, category, tuple(names), task))
    return rows


def parse_sites(data: dict[str, Any], path: Path, categories: tuple[str, ...]) -> list[SiteRow]:
    rows = []
    for i, e in enumerate(_entries(data, "site", path)):
        where = f"site[{i}]"
        keyword = _text(e, "keyword", path, where).strip().casefold()
        category = _text(e, "category", path, where)
        if category not in categories:
            raise ArtifactError(path, f"{where}.category", f"{category!r} is not one of {', '.join(categories)}")
        rows.append(SiteRow(keyword, category))
    return rows


def shipped(name: str) -> dict[str, Any]:
    """A table shipped in ``engine/data`` (a broken one is a packaging bug and raises)."""
    return read_toml(DATA_DIR / name)


def user_table_path(home: Path) -> Path:
    return home / USER_TABLE_FILE


def load_user_tables(home: Path) -> list[str]:
    """Apply ``<home>/apps.toml`` (apps and sites of the user's own) on top of the shipped
    tables; returns warnings (a bad file is skipped as a whole, the shipped tables stay).

    Calling it again replaces the previous additions, so an edited file takes effect on the
    next start without stacking old entries.
    """
    from engine.apps import CATEGORIES, set_user_apps
    from engine.titles import DOMAIN_CATEGORIES, set_user_sites

    path = user_table_path(home)
    set_user_apps([])
    set_user_sites([])
    if not path.exists():
        return []
    try:
        data = read_toml(path)
        apps = parse_apps(data, path, CATEGORIES)
        sites = parse_sites(data, path, DOMAIN_CATEGORIES)
    except ArtifactError as exc:
        return [f"your app table was ignored: {exc}"]
    set_user_apps(apps)
    set_user_sites(sites)
    return []
