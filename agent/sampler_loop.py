"""The sampler loop: one tick per ``sample_seconds``, each reduced at once (the raw title goes
no further than ``observe``) and fed to the aggregator; closed buckets go to ``on_bucket``.

``tick()`` is one iteration at the clock's current time, so tests drive the loop with a manual
clock and no thread; ``run(stop)`` is the thread body.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from agent.aggregator import Aggregator, Observation
from agent.clock import Clock
from agent.exclusions import LiveExclusions
from agent.observe import Observer
from agent.pause import PauseControl
from agent.sampler import Backend, GuardedBackend, Sample
from engine.activity import ActivityRecord

log = logging.getLogger("taskclf.agent.runtime")

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
        self.sample_seconds = sample_seconds
        self._on_bucket = on_bucket
        self._on_sampler_state = on_sampler_state
        self._observer = Observer(title_key, exclusions)
        #: app id -> the name the OS reports (memory only), for "Never track <app>"
        self.app_names = self._observer.app_names
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
        """Reduce a sample at once: the raw title goes no further than this function (the
        ActivityWatch import reduces through the same ``Observer``)."""
        return self._observer.observe(s, self._clock.scale)
