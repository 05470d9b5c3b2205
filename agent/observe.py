"""From a backend ``Sample`` to the privacy-safe ``Observation`` the aggregator takes.

The one place where a raw window title is used (and dropped): the live sampler thread and the
ActivityWatch import both reduce through ``Observer``, so the same window gives the same
foreground identity (app id, category, keyed title hash, domain category) either way.
"""

from __future__ import annotations

from agent.aggregator import Foreground, Observation
from agent.sampler._base import Sample

_CACHE_MAX = 512


class Observer:
    """Reduces samples with this home's title key; caches app identification per raw name."""

    def __init__(self, title_key: bytes) -> None:
        self._title_key = title_key
        self._app_cache: dict[tuple[object, ...], object] = {}

    def foreground(self, s: Sample) -> Foreground | None:
        """The foreground identity of a sample (None when the backend saw no window)."""
        from engine.apps import LOCKSCREEN, AppInfo, identify_app
        from engine.titles import reduce_title

        if s.locked:
            app = LOCKSCREEN
            return Foreground(app.app_id, app.category, app.is_browser, app.is_editor,
                              app.is_terminal, None, "non_browser")
        if not s.has_foreground:
            return None
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
        th, dom = reduce_title(self._title_key, s.title, info)
        return Foreground(info.app_id, info.category, info.is_browser, info.is_editor,
                          info.is_terminal, th, dom)

    def observe(self, s: Sample, scale: float = 1.0) -> Observation:
        """Reduce a sample at once: the raw title goes no further than this call."""
        return Observation(foreground=self.foreground(s), idle_seconds=s.idle_seconds * scale,
                           locked=bool(s.locked), counts=s.counts)
