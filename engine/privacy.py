"""What the user asked taskclf never to keep: excluded apps and title patterns (config.toml).

Applied at sampling time, before anything is hashed or counted: an excluded app's time is
recorded as ``excluded`` (no app id, no title hash, no input counts); a title matching one of
``exclude_titles`` is dropped together with the site it names (no hash, no domain category).
Kept here, in the engine, so config validation and the agent share one definition.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from engine.apps import AppInfo, identify_app, known_apps

#: The app id recorded while an excluded app is in front (category ``other``, no flags).
EXCLUDED_APP = AppInfo("excluded", "other")
MAX_EXCLUSIONS = 200
MAX_PATTERN_CHARS = 500
#: Titles longer than this are matched on their first part only (bounded work per second).
TITLE_MATCH_CHARS = 2048


def compile_title_pattern(pattern: str) -> re.Pattern[str]:
    """One ``exclude_titles`` entry: a regular expression searched case-insensitively."""
    if not isinstance(pattern, str) or not pattern.strip():
        raise ValueError("expected a non-empty string")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ValueError(f"longer than {MAX_PATTERN_CHARS} characters")
    try:
        return re.compile(pattern, re.IGNORECASE)
    except (re.error, RecursionError, OverflowError) as exc:
        raise ValueError(f"not a regular expression ({exc})") from None


def app_id_of(name: str) -> str:
    """The app id a user means by ``name``: an id as shown by taskclf, or any name the OS
    reports for the app (``Slack``, ``slack.exe``, ``com.tinyspeck.slackmacgap``)."""
    text = name.strip()
    if not text:
        raise ValueError("expected an app name")
    ids = {a.app_id for a in known_apps()}
    if text in ids or (text.startswith("unknown.") and len(text) > len("unknown.")):
        return text
    info = identify_app(text)
    if info.app_id == "unknown":
        raise ValueError(f"not an app name: {name!r}")
    return info.app_id


@dataclass(frozen=True, slots=True)
class Exclusions:
    """The exclusion lists of one config, ready for the sampler's per-second checks."""

    apps: frozenset[str] = frozenset()
    titles: tuple[re.Pattern[str], ...] = ()

    @classmethod
    def of(cls, apps: Iterable[str] = (), titles: Sequence[str] = ()) -> Exclusions:
        return cls(frozenset(apps), tuple(compile_title_pattern(p) for p in titles))

    def app_excluded(self, app_id: str) -> bool:
        return app_id in self.apps

    def title_excluded(self, title: str | None) -> bool:
        if not title or not self.titles:
            return False
        head = title[:TITLE_MATCH_CHARS]
        return any(p.search(head) for p in self.titles)

    def __bool__(self) -> bool:
        return bool(self.apps or self.titles)
