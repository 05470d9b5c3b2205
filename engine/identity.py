"""The user's identity and title key, created on first start of the agent or of ``labels add``
(spec 1.3).

``identity.json`` holds two random UUID4s (user and device); ``title.key`` 32 random bytes for
the title HMAC. Both are 0600 and written atomically, so a kill during the first start leaves
either nothing or a complete file. A broken identity file is refused with one clear line
rather than silently replaced (replacing it would split the user's history in two).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from engine.errors import ArtifactError
from engine.jsonio import atomic_write_bytes, dumps, read_json
from engine.paths import ensure_home, identity_path, title_key_path


@dataclass(frozen=True, slots=True)
class Identity:
    user_id: str
    device_id: str


def _valid_uuid(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def load_or_create_identity(home: Path) -> Identity:
    """Read ``identity.json``; create it (0600) on first start."""
    path = identity_path(home)
    if path.exists():
        obj = read_json(path, max_bytes=64 * 1024)
        if not isinstance(obj, dict):
            raise ArtifactError(path, None, "expected a JSON object")
        for key in ("user_id", "device_id"):
            if not _valid_uuid(obj.get(key)):
                raise ArtifactError(path, key, "missing or not a UUID")
        return Identity(user_id=str(obj["user_id"]), device_id=str(obj["device_id"]))
    ensure_home(home)
    ident = Identity(user_id=str(uuid.uuid4()), device_id=str(uuid.uuid4()))
    data = dumps({"user_id": ident.user_id, "device_id": ident.device_id}).encode("utf-8")
    atomic_write_bytes(path, data, mode=0o600)
    _tighten(path)
    return ident


def load_or_create_title_key(home: Path) -> bytes:
    """The 32-byte title key (0600), created on first start; never exported or logged."""
    from engine.titles import load_or_create_title_key as engine_key

    ensure_home(home)
    path = title_key_path(home)
    key = engine_key(path)
    _tighten(path)
    return bytes(key)


def _tighten(path: Path) -> None:
    try:
        os.chmod(path, 0o600)
    except OSError:
        pass
