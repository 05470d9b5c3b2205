"""``taskclf models install / list / pack``: a shared bundle reaches a user's tray.

Install stages the bundle inside ``models/`` under a hidden temporary name, verifies it (the
sums, the full load gate, the subprocess probe, ``calibration.json``) and only then renames it
into ``models/<run_id>/``, writes a calibrator store holding the bundle's global calibrator and
the policy (atomically, checked before it is put in place). A bundle that fails any check
leaves the home exactly as it was. The running agent sees the new policy by hot reload; this
user's personalisation is then refitted against the new model (engine.personalize).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.bundle_archive import (
    SUMS_FILE,
    is_archive,
    sums_text,
    unpack_archive,
    unpack_folder,
    verify_sums,
    write_archive,
)
from engine.calibration import Calibrator, IdentityCalibrator, calibrator_from_json
from engine.errors import ArtifactError, TaskclfError
from engine.jsonio import atomic_write_bytes, dumps, read_json

CALIBRATION_FILE = "calibration.json"
#: Used when a bundle ships no ``calibration.json`` (the engine's own default threshold).
DEFAULT_SMOOTH_WINDOW = 3


@dataclass(frozen=True)
class ShippedCalibration:
    """What a shared bundle carries besides the model: the team's global calibration."""

    calibrator: Calibrator
    method: str
    reject_threshold: float
    smooth_window: int

    def to_json(self) -> dict[str, Any]:
        return {"global_calibrator": self.calibrator.to_json(), "method": self.method,
                "reject_threshold": self.reject_threshold, "smooth_window": self.smooth_window}


def read_calibration(bundle_dir: Path, n_classes: int) -> ShippedCalibration:
    """``calibration.json`` (optional): absent means identity and the engine's default threshold."""
    from engine.pipeline import DEFAULT_REJECT_THRESHOLD

    path = bundle_dir / CALIBRATION_FILE
    if not path.exists():
        return ShippedCalibration(IdentityCalibrator(), "identity", DEFAULT_REJECT_THRESHOLD,
                                  DEFAULT_SMOOTH_WINDOW)
    obj = read_json(path, max_bytes=4 * 1024 * 1024)
    if not isinstance(obj, dict):
        raise ArtifactError(path, None, "must be a JSON object")
    if "global_calibrator" not in obj:
        raise ArtifactError(path, "global_calibrator", "required field is missing")
    cal = calibrator_from_json(obj["global_calibrator"], path=path, n_classes=n_classes)
    thr = obj.get("reject_threshold", DEFAULT_REJECT_THRESHOLD)
    if isinstance(thr, bool) or not isinstance(thr, int | float) or not 0.0 < float(thr) < 1.0:
        raise ArtifactError(path, "reject_threshold", "must be a number strictly between 0 and 1")
    sw = obj.get("smooth_window", DEFAULT_SMOOTH_WINDOW)
    if isinstance(sw, bool) or not isinstance(sw, int) or not 1 <= sw <= 60:
        raise ArtifactError(path, "smooth_window", "must be an integer from 1 to 60")
    method = str(cal.to_json().get("type"))
    return ShippedCalibration(cal, method, float(thr), sw)


@dataclass
class InstallOutcome:
    run_id: str
    bundle_dir: Path
    store_dir: Path
    policy_path: Path
    already_installed: bool
    personalisation: str
    notes: list[str] = field(default_factory=list)


def _verify(staged: Path, *, archive: bool, probe_timeout: float) -> tuple[ShippedCalibration, str | None]:
    """The bundle's shipped calibration and its probe key (engine/probe_record.py) once the
    bundle passed the in-process gate and the subprocess probe."""
    from engine import bundle_probe
    from engine.bundle import load_bundle
    from engine.probe_record import probe_key

    verify_sums(staged, required=archive)
    bundle = load_bundle(staged)
    try:
        calibration = read_calibration(staged, bundle.n_classes)
    except ArtifactError:
        bundle.booster.close()
        raise
    bundle.booster.close()
    key = probe_key(staged)
    bundle_probe.probe_bundle(staged, timeout=probe_timeout)
    return calibration, key if key is not None and probe_key(staged) == key else None


def _same_model(a: Path, b: Path) -> bool:
    from engine.bundle import sha256_file

    try:
        return sha256_file(a / "model.txt") == sha256_file(b / "model.txt")
    except ArtifactError:
        return False


def install_bundle(
    home: Path,
    source: Path,
    *,
    personalise: Callable[[Path], str] | None = None,
    probe_timeout: float = 15.0,
    now: datetime | None = None,
) -> InstallOutcome:
    """Verify ``source`` and make it the live model of ``home``; raise one line when refused."""
    from engine.bundle import load_bundle
    from engine.calibrator_store import new_store_dir, write_calibrator_store
    from engine.paths import ensure_home, models_dir
    from engine.policy import policy_for, write_policy
    from engine.probe_record import remember_passed

    home = ensure_home(Path(home)).resolve()
    source = Path(source)
    archive = is_archive(source)
    if not archive and not source.is_dir():
        raise ArtifactError(source, None, "not a bundle folder or a .tar.gz archive")
    mdir = models_dir(home)
    new_mdir = not mdir.exists()
    mdir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".install-", dir=mdir))
    done = False
    try:
        staged = unpack_archive(source, staging) if archive else unpack_folder(source, staging)
        calibration, probed = _verify(staged, archive=archive, probe_timeout=probe_timeout)
        target = mdir / staged.name
        already = target.exists()
        if already and not _same_model(target, staged):
            raise ArtifactError(target, None, "a different bundle with this run id is already installed")
        if not already:
            staged.rename(target)
        try:
            bundle = load_bundle(target)
            now = now or datetime.now(UTC)
            store_dir = write_calibrator_store(
                new_store_dir(home, bundle.run_id, "installed", now), method=calibration.method, global_calibrator=calibration.calibrator,
                user_calibrators={}, bundle=bundle, created_at=now.isoformat(),
            )
            policy = policy_for(home, target, store_dir, calibration.reject_threshold, None,
                                calibration.smooth_window, "models install", created_at=now.isoformat())
            policy_path = write_policy(home, policy)
        except BaseException:
            if not already:
                shutil.rmtree(target, ignore_errors=True)
            raise
        done = True
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if new_mdir and not done:
            shutil.rmtree(mdir, ignore_errors=True)
    if probed is not None:  # the agent's hot reload then does not probe it a second time
        remember_passed(home, probed)
    message = personalise(home) if personalise is not None else "not run"
    return InstallOutcome(target.name, target, store_dir, policy_path, already, message)


def personalise_this_user(home: Path) -> str:
    """Refit this user's calibration against the newly live model (one line saying what happened)."""
    from engine.paths import identity_path, store_path
    from engine.personalize import personalize

    if not store_path(home).is_file():
        return "skipped: no activity recorded in this home yet"
    user_id = None
    if identity_path(home).is_file():
        from engine.identity import load_or_create_identity

        user_id = load_or_create_identity(home).user_id
    try:
        out = personalize(home, user_id=user_id)
    except TaskclfError as exc:
        return f"skipped: {exc}"
    return str(out.message())


@dataclass(frozen=True)
class InstalledModel:
    run_id: str
    live: bool
    created_at: str | None
    data_provenance: str | None
    users: int | None
    n_train_rows: int | None
    problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "live": self.live, "created_at": self.created_at,
                "data_provenance": self.data_provenance, "users": self.users,
                "n_train_rows": self.n_train_rows, "problem": self.problem}


def live_model_dir(home: Path) -> tuple[Path | None, str | None]:
    """The bundle folder the policy points at (fields only; the bundle is not loaded)."""
    from engine.jsonio import loads_strict, read_bounded_bytes
    from engine.paths import inside_home, policy_path
    from engine.policy import MAX_POLICY_BYTES, parse_policy

    ppath = policy_path(home)
    if not ppath.exists():
        return None, "no policy: the day-one model runs"
    try:
        pol = parse_policy(loads_strict(read_bounded_bytes(ppath, MAX_POLICY_BYTES), path=ppath), path=ppath)
        return inside_home(home, pol.model_dir, file=ppath, field="model_dir"), None
    except ArtifactError as exc:
        return None, f"policy refused: {exc}"


def _int_or_none(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def list_models(home: Path) -> tuple[list[InstalledModel], str | None]:
    """Every bundle folder under ``models/`` (hidden staging folders excluded) and which is live."""
    from engine.bundle import BUNDLE_ID_RE, read_metadata
    from engine.paths import models_dir

    home = Path(home).resolve()
    live, note = live_model_dir(home)
    mdir = models_dir(home)
    out: list[InstalledModel] = []
    if not mdir.is_dir():
        return out, note
    for d in sorted(mdir.iterdir(), key=lambda p: p.name):
        if d.name.startswith(".") or not BUNDLE_ID_RE.match(d.name) or d.is_symlink() or not d.is_dir():
            continue
        is_live = live is not None and d.resolve() == live
        try:
            meta = read_metadata(d)
        except ArtifactError as exc:
            out.append(InstalledModel(d.name, is_live, None, None, None, None, str(exc)))
            continue
        users = meta.get("users")
        out.append(InstalledModel(
            d.name, is_live,
            meta.get("created_at") if isinstance(meta.get("created_at"), str) else None,
            meta.get("data_provenance") if isinstance(meta.get("data_provenance"), str) else None,
            len(users) if isinstance(users, list) else _int_or_none(users),
            _int_or_none(meta.get("n_train_rows")),
        ))
    return out, note


def pack_live_bundle(home: Path, out: Path, run_id: str | None = None) -> Path:
    """Write a shareable ``.tar.gz`` of a bundle of this home with the live global calibration.

    The bundle is the live one (or ``run_id``); ``calibration.json`` carries the live policy's
    global calibrator and threshold when the policy runs that bundle. No per-user calibrator or
    threshold is ever included.
    """
    from engine.bundle import load_bundle
    from engine.paths import models_dir
    from engine.policy import load_policy

    home = Path(home).resolve()
    if not is_archive(Path(out)):
        raise TaskclfError(f"--out: {out}: name the archive *.tar.gz")
    loaded = None
    try:
        loaded = load_policy(home)
    except ArtifactError:
        if run_id is None:
            raise
    bdir = models_dir(home) / run_id if run_id is not None else loaded.bundle.path  # type: ignore[union-attr]
    bundle = load_bundle(bdir)
    bundle.booster.close()
    with tempfile.TemporaryDirectory() as tmp:
        staged = unpack_folder(bdir, Path(tmp))
        (staged / SUMS_FILE).unlink(missing_ok=True)
        if loaded is not None and loaded.bundle.path == bundle.path:
            pol = loaded.policy
            cal = loaded.store.global_calibrator if loaded.store is not None else IdentityCalibrator()
            shipped = ShippedCalibration(cal, str(cal.to_json().get("type")), float(pol.reject_threshold),
                                         int(pol.smooth_window))
            atomic_write_bytes(staged / CALIBRATION_FILE, dumps(shipped.to_json()).encode("utf-8"))
        (staged / SUMS_FILE).write_text(sums_text(staged), encoding="utf-8")
        return write_archive(staged, Path(out))
