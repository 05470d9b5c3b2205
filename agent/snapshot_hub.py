"""The one current ``AgentSnapshot`` and the thread that tells subscribers about new ones.

Collaborators publish changes with ``set(**fields)``; every publish bumps ``version``. The
notifier thread delivers only the newest snapshot (a slow subscriber skips intermediate ones,
never sees them out of order).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from typing import Any

from agent.snapshot import AgentSnapshot

log = logging.getLogger("taskclf.agent.runtime")

Subscriber = Callable[[AgentSnapshot], None]


class SnapshotHub:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snap = AgentSnapshot(user_id="")
        self._subscribers: list[Subscriber] = []
        self._cv = threading.Condition()
        self._pending: AgentSnapshot | None = None
        self._stopping = False
        self._thread: threading.Thread | None = None

    def current(self) -> AgentSnapshot:
        with self._lock:
            return self._snap

    def set(self, **changes: Any) -> AgentSnapshot:
        with self._lock:
            snap = dataclasses.replace(self._snap, version=self._snap.version + 1, **changes)
            self._snap = snap
        with self._cv:
            self._pending = snap
            self._cv.notify_all()
        return snap

    def subscribe(self, callback: Subscriber) -> None:
        self._subscribers.append(callback)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="taskclf-notify", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Deliver the last pending snapshot, then end the thread."""
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cv:
                while self._pending is None and not self._stopping:
                    self._cv.wait()
                snap, self._pending = self._pending, None
            if snap is None:  # stopped and everything delivered
                return
            for cb in list(self._subscribers):
                try:
                    cb(snap)
                except Exception:
                    log.exception("a snapshot subscriber failed")
