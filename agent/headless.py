"""``taskclf agent --headless``: the agent loop without a tray icon.

Prints one line per closed bucket (local time, app category, label, confidence,
accepted/rejected, model id). Ctrl+C (SIGINT) or SIGTERM stops cleanly: the open bucket is
finalised as a partial one, so nothing is lost. A second instance says so and exits 0.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from agent.lock import AlreadyRunning, InstanceLock
from agent.runtime import AgentRuntime, EngineOverrides
from agent.snapshot import AgentSnapshot
from engine.labels import MIXED_UNKNOWN

UNSURE = "unsure"


def format_line(snap: AgentSnapshot) -> str:
    """One bucket as a person reads it: the label the tray shows for it and how sure the model
    is of *that* label; ``unsure`` when the engine shows no label, ``yours`` when the user set
    it (a correction has no model confidence)."""
    p = snap.last
    if p is None:
        return ""
    t = datetime.fromisoformat(p.bucket_start).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    app = snap.last_app_category or "-"
    if snap.user_label_override:
        label, conf = snap.user_label_override, "yours"
    elif p.smoothed_label == MIXED_UNKNOWN:
        label, conf = UNSURE, "-"
    else:
        label = p.mapped_label
        conf = f"{p.mapped_probs.get(p.mapped_label, p.confidence) * 100:.1f}%"
    return f"{t}  {app:<12} {label:<16} {conf:>6}  {p.model_id}"


def run_headless(
    home: Path,
    *,
    duration: float | None = None,
    backend: str | None = None,
    bucket_seconds: int = 60,
    sample_seconds: float | None = None,
    overrides: EngineOverrides | None = None,
    time_scale: float = 1.0,
    out: TextIO = sys.stdout,
) -> int:
    from agent.logs import setup_logging

    lock = InstanceLock(home)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        print(f"taskclf: {exc}; not starting a second one", file=out)
        return 0
    except OSError as exc:
        print(f"taskclf: cannot use the data folder {home} ({exc.strerror}); running without "
              "the single-instance lock", file=sys.stderr)
    try:
        from agent.engines import load_config

        config, _ = load_config(home)
        setup_logging(home, level=str(getattr(config, "log_level", "INFO") or "INFO"),
                      console=True)
        clock = None
        if time_scale != 1.0:
            from agent.clock import ScaledClock

            clock = ScaledClock(time_scale, (duration or 3600.0) + 60.0)
        rt = AgentRuntime(home, backend=backend, bucket_seconds=bucket_seconds,
                          sample_seconds=sample_seconds, overrides=overrides, clock=clock)
        last_printed: list[str | None] = [None]
        last_notes: list[Any] = [None]
        warned: set[str] = set()

        header_done = threading.Event()

        def on_snapshot(snap: AgentSnapshot) -> None:
            header_done.wait(5.0)
            for warning in (*snap.config_warnings, snap.taxonomy_warning):
                if warning and warning not in warned:  # each settings problem once
                    warned.add(warning)
                    print(f"# {warning}", file=out, flush=True)
            prev = last_notes[0] or (None, None, None, None)
            notes = (snap.store_error, snap.model.policy_error, snap.model.kind,
                     snap.model.model_id)
            if notes != prev:
                last_notes[0] = notes
                if snap.store_error and snap.store_error != prev[0]:
                    print(f"# {snap.store_error}", file=out, flush=True)
                if snap.model.policy_error and snap.model.policy_error != prev[1]:
                    print(f"# policy refused, previous engine kept: {snap.model.policy_error}",
                          file=out, flush=True)
                engine_changed = (snap.model.kind, snap.model.model_id) != (prev[2], prev[3])
                error_cleared = prev[1] is not None and snap.model.policy_error is None
                if snap.model.kind in ("model", "rules", "starter") and (engine_changed or error_cleared):
                    print(f"# engine: {snap.model.model_id or 'rules'}", file=out, flush=True)
            if snap.last is not None and snap.last.bucket_start != last_printed[0]:
                last_printed[0] = snap.last.bucket_start
                print(format_line(snap), file=out, flush=True)

        rt.subscribe(on_snapshot)
        stop = threading.Event()

        def on_signal(signum: int, frame: Any) -> None:
            stop.set()

        old = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                old[sig] = signal.signal(sig, on_signal)
        rt.start()
        snap = rt.snapshot()
        print(f"# taskclf agent: backend {snap.sampler_backend}"
              + (f" (missing: {', '.join(snap.missing_signals)})" if snap.missing_signals else "")
              + f", bucket {bucket_seconds}s, home {home}", file=out, flush=True)
        header_done.set()
        deadline = None if duration is None else time.monotonic() + duration
        try:
            while not stop.is_set():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                stop.wait(0.5 if left is None else min(0.5, left))
        finally:
            rt.stop()  # finalises the open bucket; its line is printed before stop() returns
            for sig, handler in old.items():
                signal.signal(sig, handler)
        return 0
    finally:
        lock.release()
