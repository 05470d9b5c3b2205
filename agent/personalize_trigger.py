"""Per-user calibration in the background: runs ``taskclf personalize`` as its own process.

Started after every ``NEW_MINUTES`` new labelled minutes (counted by ``engine.eligibility``,
what the menu's "Personal tuning" line shows) once the user is eligible, at most once per
``MIN_INTERVAL_SECONDS`` of the agent's clock, never two at once, and not at all with
``personalize = "off"`` in config.toml. A separate process keeps the fitting off the agent's
threads and memory; a frozen build runs the ``taskclf`` executable bundled next to the tray
(never ``sys.executable -m``, which would start another tray). The new policy is picked up by
the policy watcher like any other; the process' output (before/after figures) is appended to
``logs/personalize.log`` and its last line ("Personalised on 240 labelled minutes", or why not)
becomes the menu's note.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.clock import Clock
from agent.snapshot import AgentSnapshot
from agent.snapshot_hub import SnapshotHub

log = logging.getLogger("taskclf.agent.personalize")

NEW_MINUTES = 30
MIN_INTERVAL_SECONDS = 3600.0
STATE_FILE = "personalize_state.json"
LOG_FILE = "personalize.log"
MAX_OUTPUT_BYTES = 256 * 1024

Spawn = Callable[..., Any]


def personalize_command(home: Path) -> list[str] | None:
    """The command line of one run (None when no executable can be found)."""
    if getattr(sys, "frozen", False):
        exe_dir = Path(sys.executable).parent
        for name in ("taskclf", "taskclf.exe"):
            if (exe_dir / name).is_file():
                return [str(exe_dir / name), "personalize", "--home", str(home)]
        return None
    return [sys.executable, "-m", "engine.cli.main", "personalize", "--home", str(home)]


class PersonalizeTrigger:
    """Watches the published snapshots and starts a run when it is due."""

    def __init__(self, home: Path, *, clock: Clock, hub: SnapshotHub, mode: str = "auto",
                 command: list[str] | None = None, spawn: Spawn = subprocess.Popen) -> None:
        self.home = Path(home)
        self.mode = mode
        self._clock = clock
        self._hub = hub
        self._command = command if command is not None else personalize_command(self.home)
        self._spawn = spawn
        self._lock = threading.Lock()
        self._proc: Any = None
        self._thread: threading.Thread | None = None
        self.runs = 0
        state = self._read_state()
        self._last_minutes = int(state.get("minutes", 0))
        self._last_run: float | None = None  # the agent's clock: an hour of this run's time

    # -- state ------------------------------------------------------------------------------
    def _state_path(self) -> Path:
        from engine.paths import artifacts_dir

        return artifacts_dir(self.home) / STATE_FILE

    def _read_state(self) -> dict[str, Any]:
        from engine.jsonio import read_json

        try:
            obj = read_json(self._state_path(), max_bytes=64 * 1024)
        except Exception:
            return {}
        ok = isinstance(obj, dict) and isinstance(obj.get("minutes"), int) and not isinstance(obj["minutes"], bool)
        return obj if ok else {}

    def _write_state(self, minutes: int) -> None:
        from engine.jsonio import atomic_write_json

        try:
            atomic_write_json(self._state_path(), {"minutes": minutes,
                                                   "at": datetime.now(UTC).isoformat()})
        except OSError as exc:
            log.warning("personal tuning state not saved: %s", exc)

    @property
    def log_path(self) -> Path:
        from engine.paths import logs_dir

        return logs_dir(self.home) / LOG_FILE

    # -- the trigger ----------------------------------------------------------------------------
    def running(self) -> bool:
        proc = self._proc
        return proc is not None and proc.poll() is None

    def due(self, snap: AgentSnapshot) -> bool:
        if self.mode != "auto" or self._command is None or snap.model.kind != "model":
            return False
        lp = snap.learning
        if not lp.complete or lp.labelled_buckets - self._last_minutes < NEW_MINUTES:
            return False
        last = self._last_run
        return last is None or self._clock.monotonic() - last >= MIN_INTERVAL_SECONDS

    def observe(self, snap: AgentSnapshot) -> None:
        """A snapshot subscriber: start a run when one is due."""
        self.maybe_start(snap)

    def maybe_start(self, snap: AgentSnapshot) -> bool:
        """Start a run when one is due; True when it started one."""
        with self._lock:
            if self.running() or not self.due(snap):
                return False
            assert self._command is not None
            minutes = snap.learning.labelled_buckets
            self._last_run = self._clock.monotonic()
            self._last_minutes = minutes
            try:
                proc = self._spawn(self._command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
            except OSError as exc:
                self._hub.set(personal_note=f"Personal tuning could not start ({exc.strerror or exc})")
                return False
            self._proc = proc
            self.runs += 1
            self._write_state(minutes)
            self._hub.set(personal_note=f"Personal tuning on {minutes} labelled minutes…")
            self._thread = threading.Thread(target=self._wait, args=(proc,), name="taskclf-personalize",
                                            daemon=True)
            self._thread.start()
            return True

    def _wait(self, proc: Any) -> None:
        out = proc.stdout.read(MAX_OUTPUT_BYTES) if proc.stdout is not None else b""
        rc = proc.wait()
        text = out.decode("utf-8", "replace") if isinstance(out, bytes) else str(out)
        lines = [ln for ln in text.splitlines() if ln.strip()]
        try:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_path, "a", encoding="utf-8") as fh:
                fh.write(f"--- {datetime.now(UTC).isoformat()} exit {rc}\n{text.rstrip()}\n")
        except OSError as exc:
            log.warning("personal tuning log not written: %s", exc)
        if rc == 0 and lines:
            note = lines[-1].strip()[:200]
        else:
            note = f"Personal tuning failed (exit {rc}); see {self.log_path}"
        log.info("personal tuning: %s", note)
        self._hub.set(personal_note=note)

    def join(self, timeout: float | None = None) -> None:
        t = self._thread
        if t is not None:
            t.join(timeout)
