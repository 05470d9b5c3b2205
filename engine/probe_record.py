"""Models that passed the subprocess probe, remembered across runs (``models/probed_models.json``).

The probe (``engine.bundle_probe.probe_bundle``) loads a bundle in a short-lived child process so
that a model LightGBM would crash on never reaches a long-running one; it costs a Python start
with numpy (0.5 s on a quiet machine, several on a busy one). Its verdict depends only on
model.txt's bytes and on the LightGBM library, so a pass is recorded under both (the sha256 of
model.txt; the library's path, size and modification time) and the agent's start, its hot
reloads and ``models install`` probe a model once per library, not once per process. The record
is a bounded JSON list written atomically; an unreadable or missing one only means the probe
runs again. A model that fails is never recorded.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path

from engine.errors import TaskclfError
from engine.paths import models_dir

log = logging.getLogger("taskclf.probe")

RECORD_FILE = "probed_models.json"
MAX_ENTRIES = 64
MAX_RECORD_BYTES = 64 * 1024

_PASSED: set[tuple[str, str]] = set()  # (bundle dir, key) this process has seen pass
_LOCK = threading.Lock()


def record_path(home: Path) -> Path:
    return models_dir(home) / RECORD_FILE


def probe_key(model_dir: Path) -> str | None:
    """What the probe's verdict depends on, or None when model.txt is missing, not a regular
    file or too large (the probe itself then refuses it, in its own process, with the reason)."""
    from engine.bundle import sha256_file
    from engine.lgbm_c import find_library

    try:
        model = sha256_file(Path(model_dir) / "model.txt")
        lib = find_library()
        st = lib.stat()
    except (TaskclfError, OSError):
        return None
    library = hashlib.sha256(f"{lib.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]
    return f"{model}:{library}"


def _recorded(home: Path) -> list[str]:
    from engine.jsonio import read_json

    try:
        obj = read_json(record_path(home), max_bytes=MAX_RECORD_BYTES)
    except TaskclfError:
        return []
    passed = obj.get("passed") if isinstance(obj, dict) else None
    if not isinstance(passed, list):
        return []
    return [k for k in passed if isinstance(k, str)][-MAX_ENTRIES:]


def remember_passed(home: Path, key: str) -> None:
    """Record that the model of ``key`` passed the probe (best effort)."""
    from engine.jsonio import atomic_write_json

    entries = [k for k in _recorded(home) if k != key][-(MAX_ENTRIES - 1):] + [key]
    try:
        atomic_write_json(record_path(home), {"version": 1, "passed": entries})
    except OSError as exc:  # only costs another probe next time
        log.info("could not record a passed model probe: %s", exc)


def probe_once(home: Path, model_dir: Path, *, timeout: float) -> bool:
    """Probe ``model_dir`` unless this model already passed with this library; returns whether
    a probe ran. Raises ``ArtifactError`` (the probe's one line) when it fails."""
    from engine import bundle_probe

    key = probe_key(model_dir)
    seen = (str(model_dir), key or "")
    if key is not None:
        with _LOCK:
            if seen in _PASSED:
                return False
        if key in _recorded(home):
            with _LOCK:
                _PASSED.add(seen)
            return False
    bundle_probe.probe_bundle(model_dir, timeout=timeout)
    if key is not None and probe_key(model_dir) == key:  # unchanged while it was probed
        with _LOCK:
            _PASSED.add(seen)
        remember_passed(home, key)
    return True
