"""The bundle load gate (spec 3.2) and encoding (spec 4.1 step 2)."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from engine_helpers import BUNDLE_ID, copy_bundle, parity_lines, seed_bundle
from hypothesis import given
from hypothesis import strategies as st

from engine.bundle import load_bundle
from engine.errors import ArtifactError
from engine.labels import LABEL_ORDER
from engine.schema import CATEGORICAL_COLUMNS, FEATURE_BUILDER_VERSION, MODEL_COLUMNS


def _edit_meta(bdir: Path, fn: Callable[[dict[str, Any]], None]) -> None:
    p = bdir / "metadata.json"
    meta = json.loads(p.read_text())
    fn(meta)
    p.write_text(json.dumps(meta))


@pytest.fixture
def bdir(tmp_path: Path) -> Path:
    return copy_bundle(tmp_path)


def test_seed_bundle_loads_with_defaults() -> None:
    b = seed_bundle()
    assert b.run_id == BUNDLE_ID
    assert b.label_order == LABEL_ORDER
    assert b.missing_values == "zero"
    assert b.feature_names == MODEL_COLUMNS
    assert b.split is None
    assert len(b.model_sha256) == 64
    assert isinstance(b.metadata, dict)


def _refused(bdir: Path, field: str | None, text: str) -> None:
    with pytest.raises(ArtifactError, match=re.escape(text)) as ei:
        load_bundle(bdir)
    msg = str(ei.value)
    assert "\n" not in msg
    if field:
        assert field in msg
    assert text in msg


@pytest.mark.parametrize(
    ("edit", "field", "text"),
    [
        (lambda m: m.update(schema_version="v1"), "schema_version", "'v1' is not supported"),
        (lambda m: m.update(schema_version="v3"), "schema_version", "'v3' is not supported"),
        (lambda m: m.pop("schema_version"), "schema_version", "missing"),
        (lambda m: m.update(schema_hash="4077fe0dba70"), "schema_hash", "does not match"),
        (lambda m: m.pop("label_set"), "label_set", "missing"),
        (lambda m: m.update(label_set=[*LABEL_ORDER[:-1], "Gaming"]), "label_set", "Gaming"),
        (lambda m: m.update(label_set=list(LABEL_ORDER) + ["Build"]), "label_set", "duplicate"),
        (lambda m: m.update(label_order=list(LABEL_ORDER[:-1])), "label_order", "missing"),
        (lambda m: m.update(missing_values="mean"), "missing_values", "'nan' or 'zero'"),
        (lambda m: m.update(model_sha256="0" * 64), "model_sha256", "does not match"),
        (lambda m: m.update(model_sha256="xyz"), "model_sha256", "hex"),
        (lambda m: m.update(feature_builder_version=FEATURE_BUILDER_VERSION + 1), "feature_builder_version", "retrain"),
        (lambda m: m.update(prior_correction=[1.0] * 7), "prior_correction", "8 positive"),
        (lambda m: m.update(prior_correction=[1.0] * 7 + [0.0]), "prior_correction[7]", "> 0"),
        (lambda m: m.update(split=[1, 2]), "split", "object"),
    ],
)
def test_metadata_refusals(bdir: Path, edit: Callable[[dict[str, Any]], None], field: str, text: str) -> None:
    _edit_meta(bdir, edit)
    _refused(bdir, field, text)


def test_corrupt_or_oversized_files_are_refused(bdir: Path) -> None:
    (bdir / "metadata.json").write_text('{"schema_version": "v2",')
    _refused(bdir, None, "not valid JSON")
    (bdir / "metadata.json").write_bytes(b" " * (5 * 1024 * 1024))
    _refused(bdir, None, "too large")


def test_missing_model_or_encoders(bdir: Path, tmp_path: Path) -> None:
    enc = json.loads((bdir / "categorical_encoders.json").read_text())
    del enc["domain_category"]
    (bdir / "categorical_encoders.json").write_text(json.dumps(enc))
    _refused(bdir, "domain_category", "missing")
    (bdir / "model.txt").unlink()
    _refused(bdir, None, "file not found")
    _refused(tmp_path / "nope", None, "not found")


def test_feature_names_must_be_the_v2_columns(bdir: Path) -> None:
    text = (bdir / "model.txt").read_text()
    text = text.replace("feature_names=app_id app_category", "feature_names=app_category app_id", 1)
    (bdir / "model.txt").write_text(text)
    _refused(bdir, "feature_names", "38 v2 model columns")


def test_declared_sha_and_label_order_are_honoured(bdir: Path) -> None:
    sha = hashlib.sha256((bdir / "model.txt").read_bytes()).hexdigest()
    order = list(reversed(LABEL_ORDER))
    _edit_meta(bdir, lambda m: m.update(model_sha256=sha, label_order=order, missing_values="nan"))
    b = load_bundle(bdir)
    assert b.model_sha256 == sha and b.label_order == tuple(order)
    assert math.isnan(b.encode({})[5])


def test_vocabulary_is_sorted_on_load(bdir: Path) -> None:
    p = bdir / "categorical_encoders.json"
    enc = json.loads(p.read_text())
    enc["app_id"] = list(reversed(enc["app_id"]))
    p.write_text(json.dumps(enc))
    b = load_bundle(bdir)
    assert b.encoders["app_id"] == seed_bundle().encoders["app_id"]


def test_prior_correction_is_applied_before_calibration(bdir: Path) -> None:
    corr = [2.0, 1, 1, 1, 1, 1, 1, 0.5]
    _edit_meta(bdir, lambda m: m.update(prior_correction=corr))
    b = load_bundle(bdir)
    line = parity_lines()[0]  # the seed's own raw probabilities: an independent reference
    want = np.array(line["raw_probs"]) * np.array(corr)
    want /= want.sum()
    np.testing.assert_allclose(b.predict_raw(np.array(line["encoded"])), want, atol=1e-9)
    np.testing.assert_allclose(b.predict_features(line["row"]), want, atol=1e-9)


def test_encoding_unseen_missing_and_wrong_types() -> None:
    b = seed_bundle()
    unk = b.encoders["app_category"]["__unknown__"]
    row = {
        "app_id": "com.microsoft.VSCode",
        "app_category": "never-seen",
        "domain_category": None,
        "is_browser": True,
        "keys_per_min": float("nan"),
        "clicks_per_min": "12",
        "hour_of_day": 9,
    }
    x = b.encode(row)
    idx = {c: i for i, c in enumerate(MODEL_COLUMNS)}
    assert x[idx["app_id"]] == b.encoders["app_id"]["com.microsoft.VSCode"]
    assert x[idx["app_category"]] == unk
    assert x[idx["domain_category"]] == 0.0
    assert x[idx["is_browser"]] == 1.0
    assert x[idx["keys_per_min"]] == 0.0
    assert x[idx["clicks_per_min"]] == 0.0  # a string is not a number: missing
    assert x[idx["hour_of_day"]] == 9.0
    assert b.encode({}).tolist() == [0.0] * 38


_value = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8), st.lists(st.integers(), max_size=2),
)


@given(st.dictionaries(st.sampled_from(MODEL_COLUMNS + ("other",)), _value, max_size=40))
def test_encode_and_predict_never_raise(row: dict[str, Any]) -> None:
    b = seed_bundle()
    x = b.encode(row)
    assert x.shape == (38,)
    for c in CATEGORICAL_COLUMNS:
        assert x[MODEL_COLUMNS.index(c)] in set(b.encoders[c].values()) | {0.0}
    p = np.array(b.predict_features(row))
    assert np.all(np.isfinite(p)) and abs(p.sum() - 1) < 1e-9
