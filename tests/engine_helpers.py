"""Shared helpers for the engine's tests: the seed fixtures, homes holding copies of them."""

from __future__ import annotations

import json
import shutil
from functools import lru_cache
from pathlib import Path
from typing import Any

from engine.bundle import ModelBundle, load_bundle
from engine.calibrator_store import CalibratorStore, load_calibrator_store
from engine.labels import LABEL_ORDER
from engine.schema import SCHEMA_HASH_V2

SEED = Path(__file__).parent / "fixtures" / "seed-project-v2"
BUNDLE_ID = "2026-11-27_025714_run-2318"
SEED_BUNDLE = SEED / "models" / BUNDLE_ID
STORE_TEMPERATURE = SEED / "calibrator_store_temperature"
STORE_ISOTONIC = SEED / "calibrator_store_isotonic"


@lru_cache(maxsize=1)
def seed_bundle() -> ModelBundle:
    return load_bundle(SEED_BUNDLE)


@lru_cache(maxsize=2)
def seed_store(method: str) -> CalibratorStore:
    return load_calibrator_store(SEED / f"calibrator_store_{method}", bundle=seed_bundle())


@lru_cache(maxsize=1)
def parity_lines() -> tuple[dict[str, Any], ...]:
    with open(SEED / "parity_vectors.jsonl", encoding="utf-8") as fh:
        return tuple(json.loads(line) for line in fh if line.strip())


def seed_rows() -> list[dict[str, Any]]:
    return [dict(line["row"]) for line in parity_lines()]


def copy_bundle(dst_dir: Path, name: str = BUNDLE_ID) -> Path:
    dst = dst_dir / name
    shutil.copytree(SEED_BUNDLE, dst)
    return dst


def seed_home(home: Path) -> dict[str, Path]:
    """Copy the seed bundle and both stores into ``home`` where a policy would point."""
    bundle = copy_bundle(home / "models")
    stores = home / "artifacts" / "calibrator_store"
    stores.mkdir(parents=True, exist_ok=True)
    temp = stores / "temperature"
    iso = stores / "isotonic"
    shutil.copytree(STORE_TEMPERATURE, temp)
    shutil.copytree(STORE_ISOTONIC, iso)
    return {"bundle": bundle, "temperature": temp, "isotonic": iso}


def policy_obj(**overrides: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "policy_version": "v1",
        "model_dir": f"models/{BUNDLE_ID}",
        "model_schema_hash": SCHEMA_HASH_V2,
        "model_label_set": list(LABEL_ORDER),
        "calibrator_store_dir": "artifacts/calibrator_store/temperature",
        "calibration_method": "temperature",
        "reject_threshold": 0.5,
        "per_user_reject_thresholds": {"user-a": 0.7},
        "smooth_window": 3,
        "_help": {"note": "ignored"},
    }
    for k, v in overrides.items():
        if v is _DROP:
            obj.pop(k, None)
        else:
            obj[k] = v
    return obj


class _Drop:
    pass


_DROP = _Drop()
DROP: Any = _DROP


def write_json(path: Path, obj: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1), encoding="utf-8")
    return path
