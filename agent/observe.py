"""From a backend ``Sample`` to the privacy-safe ``Observation`` the aggregator takes.

The one place where a raw window title is used (and dropped): the live sampler thread and the
ActivityWatch import both reduce through ``Observer``, so the same window gives the same
foreground identity (app id, category, keyed title hash, domain category) either way.
"""

from __future__ import annotations

from agent.aggregator import Foreground, Observation
from agent.exclusions import AppNames, LiveExclusions, screen
from agent.sampler._base import InputCounts, Sample

_CACHE_MAX = 512


class Observer:
    """Reduces samples with this home's title key; caches app identification per raw name.

    With ``exclusions`` (config.toml's ``exclude_apps`` / ``exclude_titles``), what the user
    excluded is dropped here, before anything is hashed or counted: an excluded app becomes
    ``excluded`` with no title and unknown input counts; an excluded title loses its hash and
    domain. ``app_names`` remembers the name the OS reports per app id (memory only)."""

    def __init__(self, title_key: bytes, exclusions: LiveExclusions | None = None) -> None:
        self._title_key = title_key
        self._app_cache: dict[tuple[object, ...], object] = {}
        self._exclusions = exclusions
        self.app_names = AppNames()

    def foreground(self, s: Sample) -> Foreground | None:
        """The foreground identity of a sample (None when the backend saw no window)."""
        return self._screened(s)[0]

    def _screened(self, s: Sample) -> tuple[Foreground | None, bool]:
        """(foreground, whether the tick's input may be counted)."""
        from engine.apps import LOCKSCREEN, AppInfo, identify_app
        from engine.titles import reduce_title

        if s.locked:
            app = LOCKSCREEN
            return Foreground(app.app_id, app.category, app.is_browser, app.is_editor,
                              app.is_terminal, None, "non_browser"), True
        if not s.has_foreground:
            return None, True
        key = (s.app_name, s.exe, s.wm_class, s.bundle_id, s.hosted_app)
        cached = self._app_cache.get(key)
        if isinstance(cached, AppInfo):
            info = cached
        else:
            info = identify_app(s.app_name, exe=s.exe, wm_class=s.wm_class,
                                bundle_id=s.bundle_id, hosted_app=s.hosted_app)
            if len(self._app_cache) > _CACHE_MAX:
                self._app_cache.clear()
            self._app_cache[key] = info
        title, counted = s.title, True
        if self._exclusions is not None:
            info, title, counted = screen(info, title, self._exclusions.get())
        self.app_names.note(info.app_id, s)
        th, dom = reduce_title(self._title_key, title, info)
        return Foreground(info.app_id, info.category, info.is_browser, info.is_editor,
                          info.is_terminal, th, dom), counted

    def observe(self, s: Sample, scale: float = 1.0) -> Observation:
        """Reduce a sample at once: the raw title goes no further than this call."""
        fg, counted = self._screened(s)
        return Observation(foreground=fg, idle_seconds=s.idle_seconds * scale,
                           locked=bool(s.locked), counts=s.counts if counted else InputCounts())
