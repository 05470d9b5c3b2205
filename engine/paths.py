"""The data directory ("the home") and everything under it (spec 1.3).

Paths are resolved lazily by functions, never frozen at import time, so ``--home`` and
``TASKCLF_HOME`` re-root everything. A path read from a file is accepted only when its resolved
form lies inside the resolved home.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.errors import ArtifactError

ENV_HOME = "TASKCLF_HOME"
APP_NAME = "taskclf"

POLICY_FILE = "inference_policy.json"
LAST_GOOD_POLICY_FILE = "inference_policy.last_good.json"


def resolve_home(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``explicit`` (``--home``) > ``$TASKCLF_HOME`` > ``platformdirs.user_data_dir``."""
    if explicit is not None and str(explicit) != "":
        return Path(explicit).expanduser().resolve()
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env).expanduser().resolve()
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)).resolve()


def check_home(home: Path) -> Path:
    """Refuse a data directory that exists but is not a folder (``--home`` naming a file),
    before a command starts any work."""
    if home.exists() and not home.is_dir():
        raise ArtifactError(home, None, "the data directory (--home or TASKCLF_HOME) is a file, not a folder")
    return home


def ensure_home(home: Path) -> Path:
    """Create the home with 0700 (owner only); tighten it when it already exists."""
    home.mkdir(parents=True, exist_ok=True)
    try:
        os.chmod(home, 0o700)
    except OSError:
        pass
    return home


def ensure_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def inside_home(
    home: Path, value: str | os.PathLike[str], *, file: str | Path | None, field: str
) -> Path:
    """Resolve ``value`` (relative to home, or absolute) and refuse it unless it stays inside."""
    raw = str(value)
    if raw == "" or "\x00" in raw:
        raise ArtifactError(file, field, "empty or invalid path")
    root = home.resolve()
    candidate = Path(raw)
    if not candidate.is_absolute():
        candidate = root / candidate
    resolved = candidate.resolve()
    if not resolved.is_relative_to(root):
        raise ArtifactError(file, field, f"path {raw!r} escapes the data directory {root}")
    return resolved


def relative_to_home(home: Path, path: Path) -> str:
    """The POSIX-style relative path written into artifacts (portable across OSes)."""
    return path.resolve().relative_to(home.resolve()).as_posix()


def config_path(home: Path) -> Path:
    return home / "config.toml"


def taxonomy_path(home: Path) -> Path:
    return home / "taxonomy.toml"


def identity_path(home: Path) -> Path:
    return home / "identity.json"


def title_key_path(home: Path) -> Path:
    return home / "title.key"


def store_path(home: Path) -> Path:
    return home / "store.sqlite3"


def models_dir(home: Path) -> Path:
    return home / "models"


def policy_path(home: Path) -> Path:
    return models_dir(home) / POLICY_FILE


def last_good_policy_path(home: Path) -> Path:
    return models_dir(home) / LAST_GOOD_POLICY_FILE


def artifacts_dir(home: Path) -> Path:
    return home / "artifacts"


def calibrator_stores_dir(home: Path) -> Path:
    return artifacts_dir(home) / "calibrator_store"


def reports_dir(home: Path) -> Path:
    return artifacts_dir(home) / "reports"


def logs_dir(home: Path) -> Path:
    return home / "logs"


def lock_path(home: Path) -> Path:
    return home / "agent.lock"


def days_dir(home: Path) -> Path:
    """Day timeline pages (``taskclf report day``)."""
    return artifacts_dir(home) / "days"


def pending_labels_dir(home: Path) -> Path:
    return home / "pending_labels"
