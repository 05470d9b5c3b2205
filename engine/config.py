"""User settings from ``<home>/config.toml`` (spec 6.6).

Every key is optional. A missing file means defaults. The settings file is the user's to edit,
so loading never fails: an unknown key is reported and ignored, a bad value falls back to its
default with a warning, and a broken file (not TOML, not UTF-8, too large, unreadable) gives
all defaults plus one warning. The warnings are shown in the tray menu and by ``taskclf doctor``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from engine.errors import ArtifactError, MissingFileError
from engine.jsonio import finite_float, read_bounded_bytes
from engine.paths import config_path
from engine.privacy import MAX_EXCLUSIONS, Exclusions, app_id_of, compile_title_pattern
from engine.tomlio import loads_toml

MAX_CONFIG_BYTES = 256 * 1024
PERSONALIZE_MODES: tuple[str, ...] = ("auto", "off")
LOG_LEVELS: tuple[str, ...] = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOOPBACK_HOSTS: frozenset[str] = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True, slots=True)
class Config:
    """The settings of 6.6 with their defaults."""

    sample_seconds: float = 1.0
    notifications: bool = False
    spot_checks_per_day: int = 2
    low_confidence_prompts: bool = False
    activity_retention_days: int = 90
    activitywatch_url: str | None = None
    taxonomy: str = "taxonomy.toml"
    log_level: str = "WARNING"
    personalize: str = "auto"  # "auto": per-user calibration runs in the background; "off"
    exclude_apps: tuple[str, ...] = ()
    exclude_titles: tuple[str, ...] = ()
    activitywatch_export: bool = False

    def exclusions(self) -> Exclusions:
        """The compiled exclusion lists (the patterns were validated when the file loaded)."""
        return Exclusions.of(self.exclude_apps, self.exclude_titles)

    def taxonomy_path(self, home: Path) -> Path | None:
        """The taxonomy file inside ``home`` (None if it would escape; load_config prevents that)."""
        root = home.resolve()
        p = Path(self.taxonomy)
        try:
            resolved = (p if p.is_absolute() else root / p).resolve()
        except (OSError, RuntimeError, ValueError):
            return None
        return resolved if resolved.is_relative_to(root) else None


class _Bad(ValueError):
    """A value that cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class _Partly:
    """A usable value with warnings about the entries that were left out of it."""

    value: Any
    warnings: tuple[str, ...]


def _entries(v: Any) -> list[Any]:
    if not isinstance(v, list):
        raise _Bad("expected a list of strings")
    if len(v) > MAX_EXCLUSIONS:
        raise _Bad(f"more than {MAX_EXCLUSIONS} entries")
    return v


def _exclude_apps(v: Any, home: Path) -> _Partly:
    """Each entry an app name or id; a bad entry is reported and the others still apply."""
    ids: list[str] = []
    bad: list[str] = []
    for i, entry in enumerate(_entries(v)):
        try:
            if not isinstance(entry, str):
                raise ValueError("expected a string")
            ids.append(app_id_of(entry))
        except ValueError as exc:
            bad.append(f"entry {i + 1}: {exc} (ignored)")
    return _Partly(tuple(dict.fromkeys(ids)), tuple(bad))


def _exclude_titles(v: Any, home: Path) -> _Partly:
    """Each entry a regular expression; a bad one is reported, the others still apply (one
    typo must not switch every exclusion off)."""
    kept: list[str] = []
    bad: list[str] = []
    for i, entry in enumerate(_entries(v)):
        try:
            compile_title_pattern(entry)
            kept.append(entry)
        except ValueError as exc:
            bad.append(f"entry {i + 1}: {exc} (ignored)")
    return _Partly(tuple(kept), tuple(bad))


def _number(lo: float, hi: float) -> Callable[[Any, Path], float]:
    def check(v: Any, home: Path) -> float:
        f = finite_float(v) if isinstance(v, int | float) else None
        if f is None:  # NaN, inf, not a number; an integer too large for a float is out of range
            raise _Bad(f"must be within {lo:g}..{hi:g}" if type(v) is int else "expected a number")
        if not lo <= f <= hi:
            raise _Bad(f"must be within {lo:g}..{hi:g}")
        return f

    return check


def _integer(lo: int, hi: int) -> Callable[[Any, Path], int]:
    def check(v: Any, home: Path) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise _Bad("expected a whole number")
        if not lo <= v <= hi:
            raise _Bad(f"must be within {lo}..{hi}")
        return v

    return check


def _boolean(v: Any, home: Path) -> bool:
    if not isinstance(v, bool):
        raise _Bad("expected true or false")
    return v


def _log_level(v: Any, home: Path) -> str:
    if not isinstance(v, str) or v.strip().upper() not in LOG_LEVELS:
        raise _Bad(f"expected one of {', '.join(LOG_LEVELS)}")
    return v.strip().upper()


def _personalize_mode(v: Any, home: Path) -> str:
    if not isinstance(v, str) or v.strip().lower() not in PERSONALIZE_MODES:
        raise _Bad(f"expected one of {', '.join(repr(m) for m in PERSONALIZE_MODES)}")
    return v.strip().lower()


def check_loopback_url(v: Any) -> str:
    """An http(s) URL on this machine only: taskclf never talks to another host."""
    if not isinstance(v, str) or not v.strip():
        raise _Bad("expected a URL string")
    url = v.strip()
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a bad port
    except ValueError as exc:
        raise _Bad(f"not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise _Bad("must start with http:// or https://")
    if parts.username or parts.password:
        raise _Bad("must not contain credentials")
    if (parts.hostname or "").lower() not in LOOPBACK_HOSTS:
        raise _Bad("must point at this machine (127.0.0.1, localhost or [::1])")
    if port == 0:
        raise _Bad("port must be 1..65535")
    return url.rstrip("/")


def _url(v: Any, home: Path) -> str:
    return check_loopback_url(v)


def _taxonomy(v: Any, home: Path) -> str:
    if not isinstance(v, str) or not v.strip() or "\x00" in v:
        raise _Bad("expected a file name")
    root = home.resolve()
    p = Path(v.strip())  # never expanded: "~" is not the data directory
    try:
        resolved = (p if p.is_absolute() else root / p).resolve()
    except (OSError, RuntimeError, ValueError) as exc:
        raise _Bad(f"not a usable path ({exc})") from None
    if not resolved.is_relative_to(root):
        raise _Bad(f"path escapes the data directory {root}")
    if resolved.suffix.lower() not in (".toml", ".json", ".yaml", ".yml"):
        raise _Bad("expected a .toml, .json or .yaml file")
    return v.strip()


_CHECKS: dict[str, Callable[[Any, Path], Any]] = {
    "sample_seconds": _number(0.1, 30.0),
    "notifications": _boolean,
    "spot_checks_per_day": _integer(0, 24),
    "low_confidence_prompts": _boolean,
    "activity_retention_days": _integer(1, 36500),
    "activitywatch_url": _url,
    "activitywatch_export": _boolean,
    "taxonomy": _taxonomy,
    "log_level": _log_level,
    "personalize": _personalize_mode,
    "exclude_apps": _exclude_apps,
    "exclude_titles": _exclude_titles,
}
assert set(_CHECKS) == {f.name for f in fields(Config)}


def parse_config(data: dict[str, Any], *, home: Path, source: str = "config.toml") -> tuple[Config, list[str]]:
    """Build a Config from parsed TOML; never raises for user mistakes, returns warnings."""
    warnings: list[str] = []
    values: dict[str, Any] = {}
    for key, raw in data.items():
        check = _CHECKS.get(key)
        if check is None:
            warnings.append(f"{source}: unknown key {key!r} (ignored)")
            continue
        try:
            value = check(raw, home)
            if isinstance(value, _Partly):
                warnings.extend(f"{source}: {key}: {w}" for w in value.warnings)
                value = value.value
            values[key] = value
        except _Bad as exc:
            default = Config.__dataclass_fields__[key].default
            shown = "unset" if default is None else repr(default)
            warnings.append(f"{source}: {key}: {exc}; using the default ({shown})")
    return Config(**values), warnings


def load_config(home: Path) -> tuple[Config, list[str]]:
    """``<home>/config.toml`` -> (settings, warnings). Absent file: defaults, no warning."""
    path = config_path(home)
    try:
        raw = read_bounded_bytes(path, MAX_CONFIG_BYTES)
    except MissingFileError:
        return Config(), []
    except ArtifactError as exc:
        return Config(), [f"{exc}; using defaults"]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return Config(), [f"{path}: not UTF-8 text; using defaults"]
    try:
        data = loads_toml(text, path=path)
    except ArtifactError as exc:
        return Config(), [f"{exc}; using defaults"]
    return parse_config(data, home=home, source=str(path))


def default_config_text() -> str:
    """A commented config.toml listing every setting with its default (for docs and doctor)."""
    return (
        "# taskclf settings; every key is optional.\n"
        "# sample_seconds = 1.0            # how often activity is sampled (0.1..30)\n"
        "# notifications = false           # show prompts and spot checks as notifications\n"
        "# spot_checks_per_day = 2         # random 'what were you doing?' questions (0..24)\n"
        "# low_confidence_prompts = false  # ask when the model stays unsure\n"
        "# activity_retention_days = 90    # keep activity, predictions, feedback this long\n"
        '# activitywatch_url = "http://127.0.0.1:5600"   # loopback only\n'
        '# activitywatch_export = false   # keep our labels in ActivityWatch\'s timeline\n'
        '# taxonomy = "taxonomy.toml"      # inside the data directory\n'
        '# log_level = "WARNING"           # DEBUG, INFO, WARNING, ERROR or CRITICAL\n'
        '# personalize = "auto"            # per-user calibration in the background ("auto" or "off")\n'
        "# exclude_apps = []              # apps never tracked, e.g. [\"slack\"]\n"
        "# exclude_titles = []            # title regexes (any case) dropped with their site\n"
    )
