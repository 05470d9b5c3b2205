"""The calibrator store (spec 3.3): a directory bound to one model bundle.

```
store.json          method, user_ids, model_bundle_id, model_schema_hash (+ optional fields)
global.json         the global calibrator
users/<safe>.json   one per eligible user
```

A user id is never used as a path except through :func:`safe_user_filename`. Stores are
immutable: :func:`write_calibrator_store` builds the directory under a temporary name, loads it
back through the same gate as every reader, and only then renames it into place; it never
overwrites an existing directory.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.calibration import Calibrator, calibrator_from_json
from engine.errors import ArtifactError
from engine.jsonio import atomic_write_json, read_json
from engine.labels import CORE_LABEL_SET
from engine.paths import calibrator_stores_dir
from engine.schema import SCHEMA_HASH_V2

if TYPE_CHECKING:
    from engine.bundle import ModelBundle

STORE_VERSION = 1
STORE_FILE = "store.json"
GLOBAL_FILE = "global.json"
USERS_DIR = "users"
MAX_USERS = 100_000
MAX_USER_ID_BYTES = 127
_SAFE_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
METHODS = ("identity", "temperature", "isotonic")


def safe_user_filename(user_id: str) -> str:
    """File stem for ``user_id``: itself when it is a safe name, else ``~`` + hex of its UTF-8."""
    if not isinstance(user_id, str) or user_id == "":
        raise ArtifactError(None, "user_id", "must be a non-empty string")
    if _SAFE_RE.fullmatch(user_id):
        return user_id
    raw = user_id.encode("utf-8")
    if len(raw) > MAX_USER_ID_BYTES:
        raise ArtifactError(None, "user_id", f"longer than {MAX_USER_ID_BYTES} bytes")
    return "~" + raw.hex()


def _nameable(user_id: str) -> bool:
    try:
        safe_user_filename(user_id)
    except ArtifactError:
        return False
    return True


class CalibratorStore:
    """A loaded store: the global calibrator and one per eligible user."""

    __slots__ = (
        "path", "method", "user_ids", "global_calibrator", "user_calibrators", "meta",
        "model_bundle_id", "model_schema_hash", "model_sha256", "label_order",
    )

    def __init__(
        self,
        *,
        path: Path,
        meta: dict[str, Any],
        global_calibrator: Calibrator,
        user_calibrators: dict[str, Calibrator],
    ) -> None:
        self.path = path
        self.meta = meta
        self.method: str = meta["method"]
        self.user_ids: tuple[str, ...] = tuple(meta["user_ids"])
        self.model_bundle_id: str = meta["model_bundle_id"]
        self.model_schema_hash: str = meta["model_schema_hash"]
        self.model_sha256: str | None = meta.get("model_sha256")
        lo = meta.get("label_order")
        self.label_order: tuple[str, ...] | None = tuple(lo) if lo is not None else None
        self.global_calibrator = global_calibrator
        self.user_calibrators = user_calibrators

    def lookup(self, user_id: str) -> tuple[Calibrator, str]:
        """The user's own calibrator (``"user"``) or the global one (``"global"``)."""
        cal = self.user_calibrators.get(user_id)
        if cal is not None:
            return cal, "user"
        return self.global_calibrator, "global"

    def __repr__(self) -> str:
        return f"CalibratorStore({str(self.path)!r}, method={self.method!r}, users={len(self.user_ids)})"


def _req_str(meta: Mapping[str, Any], key: str, path: Path) -> str:
    if key not in meta:
        raise ArtifactError(path, key, "required field is missing")
    v = meta[key]
    if not isinstance(v, str) or not v:
        raise ArtifactError(path, key, "must be a non-empty string")
    return v


def _validate_meta(meta: Any, path: Path) -> dict[str, Any]:
    if not isinstance(meta, dict):
        raise ArtifactError(path, None, "must be a JSON object")
    method = _req_str(meta, "method", path)
    if method not in METHODS:
        raise ArtifactError(path, "method", f"unknown method {method!r}")
    if "user_ids" not in meta:
        raise ArtifactError(path, "user_ids", "required field is missing")
    uids = meta["user_ids"]
    if not isinstance(uids, list) or not all(isinstance(u, str) and u for u in uids):
        raise ArtifactError(path, "user_ids", "must be a list of non-empty strings")
    if len(uids) > MAX_USERS:
        raise ArtifactError(path, "user_ids", "too many users")
    if len(set(uids)) != len(uids):
        raise ArtifactError(path, "user_ids", "contains duplicates")
    for u in uids:
        try:
            safe_user_filename(u)
        except ArtifactError as exc:
            raise ArtifactError(path, "user_ids", exc.reason) from None
    _req_str(meta, "model_bundle_id", path)
    h = _req_str(meta, "model_schema_hash", path)
    if h != SCHEMA_HASH_V2:
        raise ArtifactError(path, "model_schema_hash", f"{h!r} is not the v2 schema hash")
    sv = meta.get("store_version")
    if sv is not None and (isinstance(sv, bool) or not isinstance(sv, int) or sv > STORE_VERSION or sv < 1):
        raise ArtifactError(path, "store_version", f"unsupported store version {sv!r}")
    uc = meta.get("user_count")
    if uc is not None and (isinstance(uc, bool) or not isinstance(uc, int) or uc != len(uids)):
        raise ArtifactError(path, "user_count", "does not match user_ids")
    sha = meta.get("model_sha256")
    if sha is not None and (not isinstance(sha, str) or not _HEX64.match(sha)):
        raise ArtifactError(path, "model_sha256", "must be 64 lowercase hex characters")
    lo = meta.get("label_order")
    if lo is not None and (
        not isinstance(lo, list)
        or not all(isinstance(x, str) for x in lo)
        or len(set(lo)) != len(lo)
        or set(lo) != CORE_LABEL_SET
    ):
        raise ArtifactError(path, "label_order", "must be a permutation of the v1 label set")
    for key in ("eligibility", "provenance_counts"):
        v = meta.get(key)
        if v is not None and not isinstance(v, dict):
            raise ArtifactError(path, key, "must be an object")
    ca = meta.get("created_at")
    if ca is not None and not isinstance(ca, str):
        raise ArtifactError(path, "created_at", "must be a string")
    return meta


def check_binding(store: CalibratorStore, bundle: ModelBundle) -> None:
    """Refuse a store bound to another bundle (id, hash, and sha256 / label order when present)."""
    p = store.path / STORE_FILE
    if store.model_bundle_id != bundle.run_id:
        raise ArtifactError(
            p, "model_bundle_id", f"store is bound to {store.model_bundle_id!r}, not to {bundle.run_id!r}"
        )
    if store.model_schema_hash != SCHEMA_HASH_V2:
        raise ArtifactError(p, "model_schema_hash", "does not match the bundle")
    if store.model_sha256 is not None and store.model_sha256 != bundle.model_sha256:
        raise ArtifactError(p, "model_sha256", "does not match the bundle's model.txt")
    if store.label_order is not None and store.label_order != bundle.label_order:
        raise ArtifactError(p, "label_order", "differs from the bundle's label order")


def load_calibrator_store(path: Path, *, bundle: ModelBundle | None = None) -> CalibratorStore:
    """Load and validate a store directory (and its binding to ``bundle`` when given)."""
    root = Path(path)
    if not root.is_dir():
        raise ArtifactError(root, None, "calibrator store directory not found")
    meta_path = root / STORE_FILE
    meta = _validate_meta(read_json(meta_path), meta_path)
    n_classes = bundle.n_classes if bundle is not None else len(CORE_LABEL_SET)
    global_path = root / GLOBAL_FILE
    global_cal = calibrator_from_json(read_json(global_path), path=global_path, n_classes=n_classes)
    users: dict[str, Calibrator] = {}
    for uid in meta["user_ids"]:
        upath = root / USERS_DIR / f"{safe_user_filename(uid)}.json"
        users[uid] = calibrator_from_json(read_json(upath), path=upath, n_classes=n_classes)
    store = CalibratorStore(
        path=root.resolve(), meta=meta, global_calibrator=global_cal, user_calibrators=users
    )
    if bundle is not None:
        check_binding(store, bundle)
    return store


def new_store_dir(home: Path, run_id: str, kind: str, now: datetime) -> Path:
    """A calibrator store folder name that is not taken yet: every fit writes a new store, so
    the one the live policy names is never touched."""
    base = calibrator_stores_dir(home) / f"{run_id}_{kind}_{now:%Y%m%d%H%M%S}"
    target, k = base, 1
    while target.exists():
        target = base.with_name(f"{base.name}-{k}")
        k += 1
    return target


def write_calibrator_store(
    out_dir: Path,
    *,
    method: str,
    global_calibrator: Calibrator,
    user_calibrators: Mapping[str, Calibrator],
    bundle: ModelBundle,
    eligibility: dict[str, Any] | None = None,
    provenance_counts: dict[str, Any] | None = None,
    created_at: str | None = None,
) -> Path:
    """Write a new store bound to ``bundle`` at ``out_dir`` (which must not exist yet).

    Written under a temporary name next to ``out_dir``, loaded back through the reader's gate,
    then renamed into place, so a reader never sees a partial store.
    """
    out = Path(out_dir)
    if out.exists():
        raise ArtifactError(out, None, "already exists; calibrator stores are never overwritten")
    if method not in METHODS:
        raise ArtifactError(out, "method", f"unknown method {method!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    # A user id too long to be a file name gets no calibrator of its own (the global one serves).
    uids = sorted(u for u in user_calibrators if _nameable(u))
    meta: dict[str, Any] = {
        "store_version": STORE_VERSION,
        "method": method,
        "user_count": len(uids),
        "user_ids": uids,
        "model_bundle_id": bundle.run_id,
        "model_schema_hash": SCHEMA_HASH_V2,
        "model_sha256": bundle.model_sha256,
        "label_order": list(bundle.label_order),
        "created_at": created_at or datetime.now(UTC).isoformat(),
    }
    if eligibility is not None:
        meta["eligibility"] = eligibility
    if provenance_counts is not None:
        meta["provenance_counts"] = provenance_counts
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        (tmp / USERS_DIR).mkdir()
        atomic_write_json(tmp / GLOBAL_FILE, global_calibrator.to_json())
        for uid in uids:
            atomic_write_json(tmp / USERS_DIR / f"{safe_user_filename(uid)}.json", user_calibrators[uid].to_json())
        atomic_write_json(tmp / STORE_FILE, meta)
        load_calibrator_store(tmp, bundle=bundle)  # never publish what readers would refuse
        os.chmod(tmp, 0o755)
        if out.exists():
            raise ArtifactError(out, None, "already exists; calibrator stores are never overwritten")
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
