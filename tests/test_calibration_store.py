"""The calibrator store (spec 3.3): layout, safe names, binding, lookup, the writer."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from engine_helpers import STORE_ISOTONIC, STORE_TEMPERATURE, seed_bundle, seed_store

from engine.calibration import IdentityCalibrator, TemperatureCalibrator
from engine.calibrator_store import (
    load_calibrator_store,
    safe_user_filename,
    write_calibrator_store,
)
from engine.errors import ArtifactError


def test_seed_stores_load_and_look_up() -> None:
    for method in ("temperature", "isotonic"):
        s = seed_store(method)
        assert s.method == method
        assert s.user_ids == ("user-a", "user-b", "user-c")
        assert s.lookup("user-b")[1] == "user"
        cal, src = s.lookup("someone-else")
        assert src == "global" and cal is s.global_calibrator
    assert seed_store("temperature").lookup("user-a")[0] == TemperatureCalibrator(0.68)


@pytest.mark.parametrize(
    ("uid", "name"),
    [
        ("user-a", "user-a"),
        ("a.b_c-D9", "a.b_c-D9"),
        (".hidden", "~2e68696464656e"),
        ("../etc/passwd", "~" + b"../etc/passwd".hex()),
        ("ünï", "~" + "ünï".encode().hex()),
        ("a b", "~612062"),
        ("x" * 128, "x" * 128),
        ("x" * 129, "ERROR"),
        ("é" * 64, "ERROR"),
    ],
)
def test_safe_user_filenames(uid: str, name: str) -> None:
    if name == "ERROR":  # too long for a file name once hex-encoded
        with pytest.raises(ArtifactError, match="user_id: longer than 127 bytes"):
            safe_user_filename(uid)
        return
    assert safe_user_filename(uid) == name
    assert "/" not in name and "\\" not in name and not name.startswith(".")


def _copy(tmp_path: Path, src: Path = STORE_TEMPERATURE) -> Path:
    dst = tmp_path / "store"
    shutil.copytree(src, dst)
    return dst


def _edit(store: Path, **changes: object) -> None:
    p = store / "store.json"
    meta = json.loads(p.read_text())
    for k, v in changes.items():
        if v is None:
            meta.pop(k, None)
        else:
            meta[k] = v
    p.write_text(json.dumps(meta))


@pytest.mark.parametrize(
    ("changes", "field", "text"),
    [
        ({"method": None}, "method", "missing"),
        ({"method": "platt"}, "method", "unknown"),
        ({"user_ids": "user-a"}, "user_ids", "list"),
        ({"user_ids": ["user-a", "user-a"]}, "user_ids", "duplicates"),
        ({"model_bundle_id": None}, "model_bundle_id", "missing"),
        ({"model_schema_hash": "4077fe0dba70"}, "model_schema_hash", "v2"),
        ({"model_bundle_id": "other-run"}, "model_bundle_id", "bound to 'other-run'"),
        ({"model_sha256": "0" * 64}, "model_sha256", "does not match"),
        ({"label_order": ["Build"] * 8}, "label_order", "permutation"),
        ({"user_count": 5}, "user_count", "does not match"),
        ({"store_version": 9}, "store_version", "unsupported"),
        ({"user_ids": ["user-a", "user-b", "user-z"]}, "users/user-z.json", "file not found"),
    ],
)
def test_store_refusals(tmp_path: Path, changes: dict[str, object], field: str, text: str) -> None:
    store = _copy(tmp_path)
    _edit(store, **changes)
    with pytest.raises(ArtifactError, match=re.escape(text)) as ei:
        load_calibrator_store(store, bundle=seed_bundle())
    assert field in str(ei.value) and text in str(ei.value)


def test_isotonic_with_wrong_regressor_count_is_refused(tmp_path: Path) -> None:
    store = _copy(tmp_path, STORE_ISOTONIC)
    g = json.loads((store / "global.json").read_text())
    g["regressors"] = g["regressors"][:7]
    (store / "global.json").write_text(json.dumps(g))
    with pytest.raises(ArtifactError, match="global.json: regressors: 7 regressors"):
        load_calibrator_store(store, bundle=seed_bundle())


def test_writer_round_trips_and_never_overwrites(tmp_path: Path) -> None:
    b = seed_bundle()
    users = {"user-a": TemperatureCalibrator(0.8), "bob smith/..": IdentityCalibrator(), "é" * 100: IdentityCalibrator()}
    out = write_calibrator_store(
        tmp_path / "stores" / "s1", method="temperature", global_calibrator=TemperatureCalibrator(1.2),
        user_calibrators=users, bundle=b, eligibility={"user-a": {"rows": 250}}, created_at="2026-01-01T00:00:00+00:00",
    )
    s = load_calibrator_store(out, bundle=b)
    assert s.lookup("bob smith/..") == (IdentityCalibrator(), "user")
    assert s.lookup("user-a")[0] == TemperatureCalibrator(0.8)
    assert s.global_calibrator == TemperatureCalibrator(1.2)
    assert s.lookup("é" * 100)[1] == "global"  # too long for a file name: the global one serves
    assert s.model_sha256 == b.model_sha256 and s.label_order == b.label_order
    names = sorted(p.name for p in (out / "users").iterdir())
    assert names == sorted([f"{safe_user_filename('bob smith/..')}.json", "user-a.json"])
    with pytest.raises(ArtifactError, match="never overwritten"):
        write_calibrator_store(out, method="temperature", global_calibrator=IdentityCalibrator(), user_calibrators={}, bundle=b)
    assert [p.name for p in (tmp_path / "stores").iterdir()] == ["s1"]  # no temp dirs left


def test_writer_leaves_nothing_when_validation_fails(tmp_path: Path) -> None:
    from engine.calibration import IsotonicCalibrator

    bad = IsotonicCalibrator([([0.0, 1.0], [0.0, 1.0])] * 3)  # 3 regressors for 8 classes
    with pytest.raises(ArtifactError, match="3 regressors for a model of 8 classes"):
        write_calibrator_store(
            tmp_path / "s", method="isotonic", global_calibrator=bad, user_calibrators={}, bundle=seed_bundle()
        )
    assert list(tmp_path.iterdir()) == []
