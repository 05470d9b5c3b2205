"""The sampler loop: one tick per ``sample_seconds``, each reduced at once (the raw title goes
no further than ``observe``) and fed to the aggregator; closed buckets go to ``on_bucket``.

``tick()`` is one iteration at the clock's current time, so tests drive the loop with a manual
clock and no thread; ``run(stop)`` is the thread body.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from agent.aggregator import Aggregator, Foreground, Observation
from agent.clock import Clock
from agent.exclusions import AppNames, LiveExclusions, screen
from agent.pause import PauseControl
from agent.sampler import Backend, GuardedBackend, InputCounts, Sample
from engine.activity import ActivityRecord
from engine.apps import AppInfo

log = logging.getLogger("taskclf.agent.runtime")

APP_CACHE_SIZE = 512

OnBucket = Callable[[ActivityRecord], None]
OnSamplerState = Callable[[str | None], None]


class SamplerLoop:
    def __init__(self, *, backend: Backend, guard: GuardedBackend, aggregator: Aggregator,
                 clock: Clock, pause: PauseControl, title_key: bytes, sample_seconds: float,
                 on_bucket: OnBucket, on_sampler_state: OnSamplerState,
                 exclusions: LiveExclusions | None = None) -> None:
        self.backend = backend
        self.guard = guard
        self.aggregator = aggregator
        self._clock = clock
        self._pause = pause
        self._title_key = title_key
        self.sample_seconds = sample_seconds
        self._on_bucket = on_bucket
        self._on_sampler_state = on_sampler_state
        self._app_cache: dict[tuple[object, ...], AppInfo] = {}
        self._exclusions = exclusions
        #: app id -> the name the OS reports (memory only), for "Never track <app>"
        self.app_names = AppNames()
        self._was_paused = False
        self._failing: str | None = None

    def tick(self) -> bool:
        """One sample (or nothing while paused); returns whether the loop is paused."""
        agg = self.aggregator
        if self._pause.is_paused():
            if not self._was_paused:
                self._was_paused = True
                for rec in agg.flush():  # a pause stops storing: close the bucket
                    self._on_bucket(rec)
            return True
        if self._was_paused:
            self._was_paused = False
            agg.reset_reference()
        sample = self.guard.sample()
        mono, wall = self._clock.monotonic(), self._clock.time()
        obs = self.observe(sample)
        for rec in agg.tick(mono, wall, obs):
            self._on_bucket(rec)
        if self.guard.failing != self._failing:
            self._failing = self.guard.failing
            self._on_sampler_state(self._failing)
        return False

    def flush(self) -> None:
        """Finalise the open bucket (a partial one) at stop."""
        for rec in self.aggregator.flush():
            self._on_bucket(rec)

    def run(self, stop: threading.Event) -> None:
        period = self.sample_seconds
        scale = self._clock.scale
        next_tick = self._clock.monotonic()
        while not stop.is_set():
            try:
                if self.tick():
                    self._pause.changed.wait(min(1.0, period / scale))
                    self._pause.changed.clear()
                    next_tick = self._clock.monotonic()
                    continue
            except Exception:
                log.exception("sampler tick failed")
            next_tick += period
            now = self._clock.monotonic()
            if next_tick < now - period:  # we fell behind (sleep, stall): do not catch up
                next_tick = now + period
            stop.wait(max(0.0, next_tick - now) / scale)

    def observe(self, s: Sample) -> Observation:
        """Reduce a sample at once: the raw title goes no further than this function. What the
        user excluded (config.toml) is dropped here, before anything is hashed or counted."""
        from engine.apps import LOCKSCREEN, identify_app
        from engine.titles import reduce_title

        fg: Foreground | None = None
        counts = s.counts
        if s.locked:
            app = LOCKSCREEN
            fg = Foreground(app.app_id, app.category, app.is_browser, app.is_editor,
                            app.is_terminal, None, "non_browser")
        elif s.has_foreground:
            key = (s.app_name, s.exe, s.wm_class, s.bundle_id, s.hosted_app)
            cached = self._app_cache.get(key)
            if cached is not None:
                app = cached
            else:
                app = identify_app(s.app_name, exe=s.exe, wm_class=s.wm_class,
                                   bundle_id=s.bundle_id, hosted_app=s.hosted_app)
                if len(self._app_cache) > APP_CACHE_SIZE:
                    self._app_cache.clear()
                self._app_cache[key] = app
            title = s.title
            if self._exclusions is not None:
                app, title, counted = screen(app, title, self._exclusions.get())
                if not counted:
                    counts = InputCounts()  # unknown: nothing is counted in an excluded app
            self.app_names.note(app.app_id, s)
            th, dom = reduce_title(self._title_key, title, app)
            fg = Foreground(app.app_id, app.category, app.is_browser, app.is_editor,
                            app.is_terminal, th, dom)
        return Observation(foreground=fg, idle_seconds=s.idle_seconds * self._clock.scale,
                           locked=bool(s.locked), counts=counts)
