"""The sampler's view of ``exclude_apps`` / ``exclude_titles``, kept current while it runs.

``LiveExclusions`` re-reads ``config.toml`` when its size or mtime changed (one stat every few
seconds, on the sampler thread), so "Never track this app" from the tray or ``taskclf privacy
exclude-app`` applies within seconds. A config that no longer loads keeps the last good
exclusions: a typo must not start tracking what the user excluded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.apps import AppInfo
from engine.paths import config_path
from engine.privacy import EXCLUDED_APP, Exclusions

CHECK_SECONDS = 2.0


def screen(app: AppInfo, title: str | None, exclusions: Exclusions) -> tuple[AppInfo, str | None, bool]:
    """(app, title, counted) as the sampler may keep them: an excluded app becomes
    ``excluded`` with no title and no counts; an excluded title is dropped."""
    if exclusions.app_excluded(app.app_id):
        return EXCLUDED_APP, None, False
    if exclusions.title_excluded(title):
        return app, None, True
    return app, title, True


class LiveExclusions:
    """The current exclusions of a home's config, re-read when the file changes."""

    def __init__(self, home: Path, *, clock: Callable[[], float] = time.monotonic,
                 check_seconds: float = CHECK_SECONDS) -> None:
        self.home = home
        self._clock = clock
        self._check_seconds = check_seconds
        self._next_check = -float("inf")
        self._stamp: tuple[int, int] | None = None
        self.current = Exclusions()
        self.warnings: tuple[str, ...] = ()

    def get(self) -> Exclusions:
        now = self._clock()
        if now >= self._next_check:
            self._next_check = now + self._check_seconds
            self.refresh()
        return self.current

    def refresh(self, *, force: bool = False) -> bool:
        """Re-read the config if it changed; True when the exclusions changed."""
        try:
            st = config_path(self.home).stat()
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        if stamp == self._stamp and not force:
            return False
        self._stamp = stamp
        from engine.config import load_config

        cfg, warnings = load_config(self.home)
        self.warnings = tuple(warnings)
        if any("using defaults" in w for w in warnings):
            return False  # the whole file is unreadable: keep what was excluded
        new = cfg.exclusions()
        changed = new != self.current
        self.current = new
        return changed


class AppNames(dict[str, str]):
    """App id -> the name the OS reports for it (what the user knows it by), bounded, in memory
    only: the menu says "Never track Slack", not "Never track com.tinyspeck.slackmacgap"."""

    MAX_ENTRIES = 256

    def note(self, app_id: str, sample: Any) -> None:
        if app_id in self or app_id == EXCLUDED_APP.app_id:
            return
        name = getattr(sample, "app_name", None) or (getattr(sample, "wm_class", None) or (None, None))[-1]
        if not name:
            return
        if len(self) >= self.MAX_ENTRIES:
            self.clear()
        self[app_id] = str(name)[:60]
