"""The runtime's side of the tray's Privacy menu: forget the last minutes, never track an app.

Forgetting runs as one job on the writer thread (the store's only writer): rows and queued
labels of the window go, the store is scrubbed, and the builder/engine state is rebuilt from
what is left, so the menu's "Today" and the next predictions no longer know the forgotten time.
The bucket open at that moment began before it and may hold forgotten seconds: it is dropped
when it closes (``admit``), at the cost of at most one bucket of new activity. The app in front
(``foreground_app`` in the snapshot) is remembered in memory only, for "Never track <app>".
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agent.exclusions import LiveExclusions
from agent.forget import Forgotten, forget_app, forget_since
from engine.activity import ActivityRecord
from engine.privacy import EXCLUDED_APP

log = logging.getLogger("taskclf.agent.privacy")

#: Forgetting waits this long for the writer (a VACUUM of a large store takes seconds).
FORGET_WAIT_SECONDS = 120.0
MAX_FORGET_MINUTES = 7 * 24 * 60
#: Apps never offered for "Never track": the lock screen, what is already excluded, unknowns.
_NOT_OFFERED = frozenset({EXCLUDED_APP.app_id, "system.lockscreen", "unknown"})


class PrivacyActions:
    """Forget and exclude on behalf of the menu; ``admit`` guards the bucket path."""

    def __init__(
        self,
        *,
        home: Path,
        now: Callable[[], float],
        bucket_seconds: int,
        submit: Callable[[Callable[[Any], Any]], Any],
        after_forget: Callable[[Any], None],
        exclusions: LiveExclusions,
        publish: Callable[..., Any],
        app_names: Callable[[], dict[str, str]],
    ) -> None:
        self.home = home
        self._now = now
        self._bucket_seconds = bucket_seconds
        self._submit = submit
        self._after_forget = after_forget
        self.exclusions = exclusions
        self._publish = publish
        self._app_names = app_names
        self._lock = threading.Lock()
        self._drop_before = -math.inf  # buckets starting before this are not stored any more
        self._foreground: tuple[str, str] | None = None

    # ---- the bucket path

    def admit(self, rec: ActivityRecord) -> bool:
        """False for a bucket that began before the last forget (it may hold forgotten time)."""
        with self._lock:
            return rec.bucket_start_ts >= self._drop_before

    def note_bucket(self, rec: ActivityRecord) -> None:
        """Remember the app in front most of this bucket (memory only) for the menu."""
        seconds: dict[str, float] = {}
        for seg in rec.segments:
            if seg.app_id not in _NOT_OFFERED and not self.exclusions.current.app_excluded(seg.app_id):
                seconds[seg.app_id] = seconds.get(seg.app_id, 0.0) + seg.seconds
        fg: tuple[str, str] | None = None
        if seconds:
            app_id = max(seconds, key=lambda k: seconds[k])
            fg = (app_id, self._app_names().get(app_id) or app_id)
        if fg != self._foreground:
            self._foreground = fg
            self._publish(foreground_app=fg)

    # ---- menu actions

    def forget_last(self, minutes: int) -> tuple[bool, str]:
        if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= MAX_FORGET_MINUTES:
            return False, "Choose between 1 minute and 7 days."
        now = self._now()
        start = datetime.fromtimestamp(now, UTC) - timedelta(minutes=minutes)
        self._drop_open_bucket(now)
        done = self._run(lambda store: forget_since(self.home, store, start))
        if isinstance(done, str):
            return False, done
        return True, _scrub_note(f"Forgot the last {minutes} min: {done.summary()}", done)

    def exclude_app(self, app_id: str) -> tuple[bool, str]:
        """Add ``app_id`` to ``exclude_apps`` and forget every minute it was in front."""
        from engine.config_edit import add_to_list
        from engine.errors import TaskclfError

        if not app_id or app_id in _NOT_OFFERED:
            return False, "That app cannot be excluded."
        try:
            add_to_list(self.home, "exclude_apps", app_id)
        except (TaskclfError, OSError) as exc:
            return False, f"Could not change config.toml: {exc}"
        self.exclusions.refresh(force=True)
        self._drop_open_bucket(self._now())
        self._foreground = None
        self._publish(foreground_app=None)
        name = self._app_names().get(app_id) or app_id
        done = self._run(lambda store: forget_app(self.home, store, app_id))
        if isinstance(done, str):
            return False, f"{name} is never tracked from now on; its past could not be forgotten: {done}"
        return True, _scrub_note(f"{name} is never tracked; forgot {done.summary()} with it in front",
                                 done)

    # ---- helpers

    def _drop_open_bucket(self, now: float) -> None:
        end = (math.floor(now / self._bucket_seconds) + 1) * self._bucket_seconds
        with self._lock:
            self._drop_before = max(self._drop_before, float(end))

    def _run(self, forget: Callable[[Any], Forgotten]) -> Forgotten | str:
        """Run ``forget`` and the rebuild on the writer thread; the outcome, or why not."""

        def job(store: Any) -> Forgotten:
            if store is None:
                raise RuntimeError("the data file is not available")
            done = forget(store)
            self._after_forget(store)
            return done

        try:
            result: Forgotten = self._submit(job).result(timeout=FORGET_WAIT_SECONDS)
            return result
        except FutureTimeout:
            return "the data file is busy; try again in a moment"
        except Exception as exc:
            log.warning("forgetting failed: %s", type(exc).__name__)
            return str(exc) or type(exc).__name__


def _scrub_note(text: str, done: Forgotten) -> str:
    if not done.scrubbed:
        text += " (a reader kept the journal busy: forget again later to scrub it)"
    return text
