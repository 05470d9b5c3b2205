"""The shipped starter bundle: where it lives, that it loads, what it may not look at."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from engine_helpers import copy_bundle

from engine import starter
from engine.bundle import load_bundle
from engine.errors import ArtifactError
from engine.schema import PER_INSTALL_COLUMNS

ROOT = Path(__file__).resolve().parents[1]


def test_bundle_dir_is_package_data() -> None:
    d = starter.bundle_dir()
    assert d == ROOT / "engine" / "data" / "starter"
    assert starter.available()


def test_starter_loads_through_the_gate_and_masks_per_install_columns() -> None:
    b = load_bundle(starter.bundle_dir())
    assert b.run_id == starter.STARTER_MODEL_ID
    assert b.metadata["data_provenance"] == "synthetic"
    assert set(PER_INSTALL_COLUMNS) <= set(b.masked_columns)
    # the title bucket never reaches the model: two rows that differ only there agree
    row = {c: None for c in b.feature_names}
    row.update(app_id="com.microsoft.VSCode", app_category="editor", is_editor=True,
               active_seconds_any=60.0, window_title_bucket=3)
    other = dict(row, window_title_bucket=250)
    assert b.predict_features(row) == b.predict_features(other)
    assert b.encode_list(row)[b.feature_names.index("window_title_bucket")] != 3


def test_starter_is_small() -> None:
    total = sum(f.stat().st_size for f in starter.bundle_dir().iterdir())
    assert total < 2 * 1024 * 1024


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("window_title_bucket", "must be a list"),
        (["app_id"], "'app_id' is not a numeric model column"),
        (["no_such_column"], "'no_such_column' is not a numeric model column"),
    ],
)
def test_bad_masked_columns_are_refused_by_name(tmp_path: Path, value: object, text: str) -> None:
    bdir = copy_bundle(tmp_path)
    meta_path = bdir / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["masked_columns"] = value
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="masked_columns") as ei:
        load_bundle(bdir)
    assert text in str(ei.value)


def test_packaging_specs_ship_the_starter() -> None:
    for spec in ("taskclf-agent.spec", "taskclf-trainer.spec"):
        text = (ROOT / "packaging" / spec).read_text()
        assert '"engine" / "data"' in text, spec


def test_models_of_several_users_do_not_see_per_install_columns() -> None:
    from trainer.train_lgbm import TrainParams, masked_columns_for

    assert masked_columns_for(TrainParams(), ["u1", "u2"]) == PER_INSTALL_COLUMNS
    assert masked_columns_for(TrainParams(), ["u1", "u1"]) == ()  # a personal model may use them
    assert masked_columns_for(TrainParams(masked_columns=()), ["u1", "u2"]) == ()
