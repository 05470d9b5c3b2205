"""The inference policy (spec 3.4): every load validates everything; writes are atomic."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import BUNDLE_ID, DROP, policy_obj, seed_home, write_json

from engine.errors import ArtifactError
from engine.paths import last_good_policy_path, policy_path
from engine.pipeline import Engine
from engine.policy import (
    InferencePolicy,
    load_policy,
    load_policy_or_last_good,
    policy_for,
    save_last_good,
    write_policy,
)


@pytest.fixture
def seeded(home: Path) -> dict[str, Path]:
    return seed_home(home)


def test_a_valid_policy_loads_everything(home: Path, seeded: dict[str, Path]) -> None:
    write_json(policy_path(home), policy_obj())
    lp = load_policy(home)
    assert lp.bundle.run_id == BUNDLE_ID
    assert lp.store is not None and lp.store.method == "temperature"
    assert lp.policy.per_user_reject_thresholds == {"user-a": 0.7}
    assert len(lp.content_sha256) == 64
    e = Engine.from_loaded_policy(lp)
    assert e.model_id == BUNDLE_ID and e.smooth_window == 3


def test_store_is_optional(home: Path, seeded: dict[str, Path]) -> None:
    write_json(policy_path(home), policy_obj(calibrator_store_dir=None, per_user_reject_thresholds=DROP))
    lp = load_policy(home)
    assert lp.store is None and lp.policy.per_user_reject_thresholds is None


REFUSALS: list[tuple[dict[str, Any], str, str]] = [
    ({"policy_version": "v2"}, "policy_version", "v1"),
    ({"policy_version": DROP}, "policy_version", "missing"),
    ({"model_dir": DROP}, "model_dir", "missing"),
    ({"reject_threshold": DROP}, "reject_threshold", "missing"),
    ({"reject_threshold": 0}, "reject_threshold", "greater than 0"),
    ({"reject_threshold": 1}, "reject_threshold", "less than 1"),
    ({"reject_threshold": 1.5}, "reject_threshold", "less than 1"),
    ({"reject_threshold": "0.5"}, "reject_threshold", "valid number"),
    ({"reject_threshold": True}, "reject_threshold", "valid number"),
    ({"per_user_reject_thresholds": {"user-a": 0.0}}, "per_user_reject_thresholds.user-a", "greater than 0"),
    ({"per_user_reject_thresholds": {"": 0.5}}, "per_user_reject_thresholds", "non-empty"),
    ({"smooth_window": 0}, "smooth_window", "greater than or equal to 1"),
    ({"smooth_window": 2.5}, "smooth_window", "integer"),
    ({"model_schema_hash": "4077fe0dba70"}, "model_schema_hash", "not the v2 schema hash"),
    ({"model_label_set": ["Build"]}, "model_label_set", "v1 label set"),
    ({"model_sha256": "0" * 64}, "model_sha256", "does not match"),
    ({"model_dir": "../outside"}, "model_dir", "escapes"),
    ({"model_dir": "/etc"}, "model_dir", "escapes"),
    ({"model_dir": "models/nope"}, "model_dir", "not found"),
    ({"calibrator_store_dir": "../../tmp"}, "calibrator_store_dir", "escapes"),
    ({"calibrator_store_dir": "artifacts/none"}, "calibrator_store_dir", "not found"),
]


@pytest.mark.parametrize(("changes", "field", "text"), REFUSALS)
def test_refusals_name_file_and_field(
    home: Path, seeded: dict[str, Path], changes: dict[str, Any], field: str, text: str
) -> None:
    write_json(policy_path(home), policy_obj(**changes))
    with pytest.raises(ArtifactError, match=re.escape(text)) as ei:
        load_policy(home)
    msg = str(ei.value)
    assert "\n" not in msg and field in msg and text in msg, msg


def test_store_bound_to_another_bundle_is_refused(home: Path, seeded: dict[str, Path]) -> None:
    meta_p = seeded["temperature"] / "store.json"
    meta = json.loads(meta_p.read_text())
    meta["model_bundle_id"] = "2026-01-01_000000_deadbeef"
    meta_p.write_text(json.dumps(meta))
    write_json(policy_path(home), policy_obj())
    with pytest.raises(ArtifactError, match="model_bundle_id: store is bound to"):
        load_policy(home)


def test_symlink_escaping_home_is_refused(home: Path, seeded: dict[str, Path], tmp_path: Path) -> None:
    outside = tmp_path / "outside_bundle"
    seeded["bundle"].rename(outside)
    os.symlink(outside, home / "models" / "linked")
    write_json(policy_path(home), policy_obj(model_dir="models/linked"))
    with pytest.raises(ArtifactError, match="escapes"):
        load_policy(home)


def test_corrupt_and_huge_policy_files(home: Path, seeded: dict[str, Path]) -> None:
    p = policy_path(home)
    p.write_text('{"policy_version": "v1", ')
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_policy(home)
    p.write_text('{"reject_threshold": NaN}')
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_policy(home)
    p.write_bytes(b" " * (2 * 1024 * 1024))
    with pytest.raises(ArtifactError, match="too large"):
        load_policy(home)
    p.write_text("[]")
    with pytest.raises(ArtifactError, match="JSON object"):
        load_policy(home)


def test_write_policy_is_atomic_and_verified(home: Path, seeded: dict[str, Path]) -> None:
    pol = policy_for(
        home, seeded["bundle"], seeded["isotonic"], 0.6, {"user-b": 0.4}, smooth_window=5,
        source="test", trainer_version="0.1.0",
    )
    assert pol.model_dir == f"models/{BUNDLE_ID}"
    assert pol.calibrator_store_dir == "artifacts/calibrator_store/isotonic"
    assert pol.calibration_method == "isotonic"
    path = write_policy(home, pol)
    lp = load_policy(home)
    assert lp.policy == pol and path == policy_path(home)
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []
    broken = pol.model_copy(update={"calibrator_store_dir": "artifacts/none"})
    before = path.read_bytes()
    with pytest.raises(ArtifactError, match="artifacts/none"):
        write_policy(home, broken)
    assert path.read_bytes() == before  # the old policy stays in place


def test_last_good_fallback(home: Path, seeded: dict[str, Path]) -> None:
    write_json(policy_path(home), policy_obj())
    lp = load_policy(home)
    save_last_good(home, lp)
    assert last_good_policy_path(home).read_bytes() == lp.raw
    write_json(policy_path(home), policy_obj(reject_threshold=2))
    loaded, note = load_policy_or_last_good(home)
    assert loaded.path == last_good_policy_path(home)
    assert note is not None and "reject_threshold" in note
    last_good_policy_path(home).unlink()
    with pytest.raises(ArtifactError, match="reject_threshold"):
        load_policy_or_last_good(home)


def test_policy_outside_home_paths_refused_by_policy_for(home: Path, tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="escapes"):
        policy_for(home, tmp_path, None, 0.5)


def test_model_fields_and_defaults() -> None:
    pol = InferencePolicy.model_validate(policy_obj(smooth_window=DROP, calibrator_store_dir=DROP))
    assert pol.smooth_window == 3 and pol.calibrator_store_dir is None
    assert "_help" not in pol.to_json()
