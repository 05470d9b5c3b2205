"""``activitywatch_export = true``: the agent keeps today's labels in ActivityWatch's timeline.

Every few minutes the running agent exports the day so far (shown predictions and the user's
labels, nothing else) to the configured loopback aw-server, the same way ``taskclf export
activitywatch --from TODAY`` does. A server that is not running costs one warning an hour, never
an error in the tray.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.errors import TaskclfError

log = logging.getLogger("taskclf.agent.activitywatch")

INTERVAL_S = 300.0
WARN_EVERY_S = 3600.0

Export = Callable[..., Any]


def local_midnight(ts: float) -> float:
    day = datetime.fromtimestamp(ts).astimezone()
    return day.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


class ExportUpkeep:
    def __init__(self, home: Path, url: str | None, *, clock: Callable[[], float] = time.time,
                 export: Export | None = None, interval: float = INTERVAL_S) -> None:
        from agent.sampler._activitywatch import DEFAULT_URL

        self.home = home
        self.url = url or DEFAULT_URL
        self.clock = clock
        self.interval = interval
        self._export = export
        self._warned_at = -1e18
        self.runs = self.failures = 0

    def run_once(self) -> bool:
        """Export today so far; False (and at most one warning an hour) when it fails."""
        from agent.activitywatch.exporter import export_activitywatch

        export: Export = self._export or export_activitywatch
        now = self.clock()
        self.runs += 1
        try:
            export(self.home, server=self.url, start=local_midnight(now), end=None)
            return True
        except (TaskclfError, OSError) as exc:
            self.failures += 1
            if now - self._warned_at >= WARN_EVERY_S:
                self._warned_at = now
                log.warning("could not update ActivityWatch at %s: %s", self.url, exc)
            return False

    def run(self, stop: threading.Event) -> None:
        """The thread body: once at start, then every ``interval`` seconds until ``stop``."""
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("ActivityWatch export failed")
            stop.wait(self.interval)
