"""The inference policy ``models/inference_policy.json`` (spec 3.4): the deployment descriptor.

``load_policy`` validates everything, every time (fields and ranges, paths inside the home,
the bundle through its gate, the binding of bundle and store) and returns a
:class:`LoadedPolicy` or raises one ``ArtifactError`` line: a refused policy is refused as a
whole. ``write_policy`` writes atomically after checking that the result would load.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from engine.errors import ArtifactError
from engine.jsonio import atomic_write_bytes, dumps, loads_strict, read_bounded_bytes
from engine.labels import CORE_LABEL_SET
from engine.paths import inside_home, last_good_policy_path, policy_path, relative_to_home
from engine.schema import SCHEMA_HASH_V2

if TYPE_CHECKING:
    from engine.bundle import ModelBundle
    from engine.calibrator_store import CalibratorStore

MAX_POLICY_BYTES = 1024 * 1024
MAX_PER_USER = 100_000

Threshold = Annotated[float, Field(gt=0.0, lt=1.0, allow_inf_nan=False)]


class InferencePolicy(BaseModel):
    """The fields of spec 3.4. Unknown keys (e.g. the seed's ``_help``) are ignored."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True, protected_namespaces=())

    policy_version: Literal["v1"]
    model_dir: str = Field(min_length=1, max_length=4096)
    model_schema_hash: str
    model_label_set: list[str]
    model_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    calibrator_store_dir: str | None = Field(default=None, min_length=1, max_length=4096)
    calibration_method: str | None = None
    reject_threshold: Threshold
    per_user_reject_thresholds: dict[str, Threshold] | None = None
    smooth_window: int = Field(default=3, ge=1, le=60)
    created_at: str | None = None
    source: str | None = None
    trainer_version: str | None = None

    @field_validator("model_schema_hash")
    @classmethod
    def _hash_is_v2(cls, v: str) -> str:
        if v != SCHEMA_HASH_V2:
            raise ValueError(f"{v!r} is not the v2 schema hash {SCHEMA_HASH_V2}")
        return v

    @field_validator("model_label_set")
    @classmethod
    def _label_set(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v) or set(v) != CORE_LABEL_SET:
            raise ValueError("must be the v1 label set")
        return v

    @field_validator("per_user_reject_thresholds")
    @classmethod
    def _users(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is None:
            return v
        if len(v) > MAX_PER_USER:
            raise ValueError("too many users")
        for uid in v:
            if not uid:
                raise ValueError("user ids must be non-empty")
        return v

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


@dataclass(frozen=True)
class LoadedPolicy:
    """A policy that passed every check, with the artifacts it points to already loaded."""

    policy: InferencePolicy
    bundle: ModelBundle
    store: CalibratorStore | None
    path: Path
    content_sha256: str
    raw: bytes


def _validation_error(exc: ValidationError, path: Path | None) -> ArtifactError:
    err = exc.errors()[0]
    loc = ".".join(str(x) for x in err.get("loc", ())) or None
    msg = err.get("msg", "invalid value")
    if err.get("type") == "missing":
        msg = "required field is missing"
    return ArtifactError(path, loc, msg)


def parse_policy(obj: Any, *, path: Path | None = None) -> InferencePolicy:
    """Validate a parsed policy object (fields and ranges only; no file system access)."""
    if not isinstance(obj, dict):
        raise ArtifactError(path, None, "policy must be a JSON object")
    try:
        return InferencePolicy.model_validate(obj)
    except ValidationError as exc:
        raise _validation_error(exc, path) from None
    except (ValueError, TypeError, RecursionError) as exc:
        raise ArtifactError(path, None, " ".join(str(exc).split())[:200]) from None


def _read_bytes(path: Path) -> bytes:
    return read_bounded_bytes(path, MAX_POLICY_BYTES)


def load_policy(home: Path, path: Path | None = None) -> LoadedPolicy:
    """Load and fully validate the policy (default ``<home>/models/inference_policy.json``)."""
    from engine.bundle import load_bundle
    from engine.calibrator_store import load_calibrator_store

    home = Path(home).resolve()
    ppath = Path(path) if path is not None else policy_path(home)
    raw = _read_bytes(ppath)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ArtifactError(ppath, None, "not UTF-8 text") from None
    policy = parse_policy(loads_strict(text, path=ppath), path=ppath)
    bundle_dir = inside_home(home, policy.model_dir, file=ppath, field="model_dir")
    store_dir = (
        inside_home(home, policy.calibrator_store_dir, file=ppath, field="calibrator_store_dir")
        if policy.calibrator_store_dir is not None
        else None
    )
    if not bundle_dir.is_dir():
        raise ArtifactError(ppath, "model_dir", f"bundle {policy.model_dir!r} not found")
    bundle = load_bundle(bundle_dir)
    if sorted(policy.model_label_set) != sorted(bundle.label_set):
        raise ArtifactError(ppath, "model_label_set", "does not match the bundle's label set")
    if policy.model_sha256 is not None and policy.model_sha256 != bundle.model_sha256:
        raise ArtifactError(ppath, "model_sha256", "does not match the bundle's model.txt")
    store = None
    if store_dir is not None:
        if not store_dir.is_dir():
            raise ArtifactError(ppath, "calibrator_store_dir", f"store {policy.calibrator_store_dir!r} not found")
        store = load_calibrator_store(store_dir, bundle=bundle)
    return LoadedPolicy(
        policy=policy,
        bundle=bundle,
        store=store,
        path=ppath,
        content_sha256=hashlib.sha256(raw).hexdigest(),
        raw=raw,
    )


def load_policy_or_last_good(home: Path) -> tuple[LoadedPolicy, str | None]:
    """The policy, or the last good copy when the policy is refused (with the reason why).

    Raises the policy's own error when neither validates.
    """
    try:
        return load_policy(home), None
    except ArtifactError as exc:
        lg = last_good_policy_path(home)
        if not lg.exists():
            raise
        try:
            loaded = load_policy(home, lg)
        except ArtifactError:
            raise exc from None
        return loaded, f"policy refused ({exc}); running the last good policy"


def save_last_good(home: Path, loaded: LoadedPolicy) -> Path:
    """Copy a policy that just loaded to ``models/inference_policy.last_good.json`` (atomic)."""
    target = last_good_policy_path(home)
    if loaded.path.resolve() == target.resolve():
        return target
    atomic_write_bytes(target, loaded.raw)
    return target


def write_policy(home: Path, policy: InferencePolicy, *, verify: bool = True) -> Path:
    """Write ``policy`` to ``<home>/models/inference_policy.json`` atomically.

    With ``verify`` the new file is first written under a temporary name and loaded through
    :func:`load_policy`; a policy that would be refused is never put in place.
    """
    home = Path(home).resolve()
    target = policy_path(home)
    target.parent.mkdir(parents=True, exist_ok=True)
    data = dumps(policy.to_json()).encode("utf-8")
    if verify:
        fd, tmp = tempfile.mkstemp(prefix=".inference_policy.", suffix=".check.json", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            load_policy(home, Path(tmp))
        finally:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    atomic_write_bytes(target, data)
    return target


def policy_for(
    home: Path,
    bundle_dir: Path,
    store_dir: Path | None,
    reject_threshold: float,
    per_user_reject_thresholds: dict[str, float] | None = None,
    smooth_window: int = 3,
    source: str = "train tune-reject",
    *,
    trainer_version: str | None = None,
    created_at: str | None = None,
) -> InferencePolicy:
    """A policy bound to the bundle at ``bundle_dir`` (and the store at ``store_dir``).

    Reads the bundle's metadata and hashes its model.txt (without loading LightGBM); both
    directories must lie inside the home.
    """
    from engine.bundle import read_metadata, sha256_file
    from engine.jsonio import read_json

    home = Path(home).resolve()
    bdir = inside_home(home, bundle_dir, file=None, field="model_dir")
    meta = read_metadata(bdir)
    label_set = meta.get("label_set")
    if not isinstance(label_set, list):
        raise ArtifactError(bdir / "metadata.json", "label_set", "required field is missing")
    method = None
    store_rel = None
    if store_dir is not None:
        sdir = inside_home(home, store_dir, file=None, field="calibrator_store_dir")
        smeta = read_json(sdir / "store.json")
        method = smeta.get("method") if isinstance(smeta, dict) else None
        store_rel = relative_to_home(home, sdir)
    pu = None
    if per_user_reject_thresholds:
        pu = {str(k): float(v) for k, v in per_user_reject_thresholds.items()}
    thr = float(reject_threshold)
    if not math.isfinite(thr):
        raise ArtifactError(None, "reject_threshold", "must be finite")
    return parse_policy(
        {
            "policy_version": "v1",
            "model_dir": relative_to_home(home, bdir),
            "model_schema_hash": meta.get("schema_hash"),
            "model_label_set": list(label_set),
            "model_sha256": sha256_file(bdir / "model.txt"),
            "calibrator_store_dir": store_rel,
            "calibration_method": method if isinstance(method, str) else None,
            "reject_threshold": thr,
            "per_user_reject_thresholds": pu,
            "smooth_window": smooth_window,
            "created_at": created_at or datetime.now(UTC).isoformat(),
            "source": source,
            "trainer_version": trainer_version,
        }
    )
