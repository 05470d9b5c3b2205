"""What the user is told about the data file (read-only, full, busy, damaged).

A failing store is reported once, in the snapshot and as one log warning, and again only when
the problem changes or after it was cleared: a full disk that refuses every bucket for an hour
gives one line, not sixty tracebacks.
"""

from __future__ import annotations

import logging
import sqlite3

from agent.snapshot_hub import SnapshotHub

log = logging.getLogger("taskclf.agent.runtime")


def store_message_text(text: str) -> str:
    low = text.lower()
    if any(w in low for w in ("readonly", "read-only", "read only", "permission",
                              "not permitted", "unable to open")):
        return "The data folder is read-only: predictions are not saved"
    if "disk" in low and "full" in low or "no space" in low:
        return "The disk is full: predictions are not saved"
    if "locked" in low or "busy" in low:
        return "The data file is busy (locked by another program)"
    return f"Data file problem: {text[:120]}"


def store_message(exc: BaseException) -> str:
    return store_message_text(str(exc) or type(exc).__name__)


def is_transient(exc: BaseException) -> bool:
    """A write that may succeed later (full disk, busy or locked file, I/O error), so its data
    is kept for a retry; anything else (a damaged file, an invalid record) will not."""
    return isinstance(exc, (sqlite3.OperationalError, OSError))


class StoreHealth:
    def __init__(self, hub: SnapshotHub) -> None:
        self._hub = hub
        self._reported: str | None = None

    def failed(self, what: str, exc: BaseException) -> str:
        msg = store_message(exc)
        self.report(msg, what)
        return msg

    def report(self, msg: str, what: str | None = None) -> None:
        if msg != self._reported:
            self._reported = msg
            log.warning("could not %s: %s", what or "use the data file", msg)
        if self._hub.current().store_error != msg:
            self._hub.set(store_error=msg)

    def ok(self) -> None:
        if self._reported is not None:
            log.info("the data file works again")
            self._reported = None
        if self._hub.current().store_error:
            self._hub.set(store_error=None)
