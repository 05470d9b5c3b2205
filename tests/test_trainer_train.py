"""LightGBM training into a bundle (spec 5.3, 3.2): determinism, the load gate, encoding."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from engine.bundle import load_bundle
from engine.errors import TaskclfError
from engine.frame import Frame
from engine.labels import LABEL_ORDER
from engine.schema import FEATURE_BUILDER_VERSION, MODEL_COLUMNS, SCHEMA_HASH_V2
from trainer.splits import split_days
from trainer.synth import SynthConfig, generate
from trainer.synth_store import frame_from_days
from trainer.train_lgbm import (
    NUM_POS,
    UNKNOWN,
    TrainParams,
    encode_matrix,
    fit_vocabularies,
    prior_correction,
    train,
)
from trainer.workflow import encode_for_bundle, predict_raw

TINY = TrainParams(seed=3, max_rounds=6, num_leaves=7, min_data_in_leaf=20, num_threads=1)
NOW = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def frame() -> Frame:
    return frame_from_days(list(generate(SynthConfig(users=3, days=7, seed=5))))


@pytest.fixture(scope="module")
def split(frame: Frame):  # type: ignore[no-untyped-def]
    from datetime import date

    days: dict[str, set[date]] = {}
    for u, d, y in zip(frame.user_ids, frame.local_day.tolist(), frame.y.tolist(), strict=True):
        if y >= 0:
            days.setdefault(u, set()).add(date.fromordinal(d))
    return split_days(days)


@pytest.fixture(scope="module")
def bundle_dir(frame: Frame, split, tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[no-untyped-def]
    return train(frame, split, tmp_path_factory.mktemp("models"), TINY, now=NOW).bundle_dir


def test_bundle_passes_the_engine_gate_with_our_metadata(bundle_dir: Path) -> None:
    b = load_bundle(bundle_dir)
    assert b.label_order == LABEL_ORDER
    assert b.feature_names == MODEL_COLUMNS
    assert b.missing_values == "nan"
    meta = json.loads((bundle_dir / "metadata.json").read_text())
    assert meta["schema_version"] == "v2" and meta["schema_hash"] == SCHEMA_HASH_V2
    assert meta["feature_builder_version"] == FEATURE_BUILDER_VERSION
    assert meta["model_sha256"] == hashlib.sha256((bundle_dir / "model.txt").read_bytes()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{16}", meta["dataset_hash"])
    assert meta["params"]["seed"] == 3 and meta["params"]["deterministic"] is True
    assert len(meta["prior_correction"]) == 8 and all(v > 0 for v in meta["prior_correction"])
    assert set(meta["split"]["users"]) == {"user-01", "user-02", "user-03"}
    assert re.fullmatch(r"2026-11-01_120000_[0-9a-f]{8}", bundle_dir.name)
    enc = json.loads((bundle_dir / "categorical_encoders.json").read_text())
    assert all(UNKNOWN in v and v == sorted(v) for v in enc.values())
    csv = (bundle_dir / "confusion_matrix.csv").read_text().splitlines()
    assert csv[0] == "," + ",".join(LABEL_ORDER) and len(csv) == 9
    metrics = json.loads((bundle_dir / "metrics.json").read_text())
    assert metrics["label_order"] == list(LABEL_ORDER) and "macro_f1" in metrics


def test_same_data_and_seed_give_byte_identical_model(frame: Frame, split, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a = train(frame, split, tmp_path / "a", TINY, now=NOW)
    b = train(frame, split, tmp_path / "b", TINY, now=NOW)
    assert (a.bundle_dir / "model.txt").read_bytes() == (b.bundle_dir / "model.txt").read_bytes()
    assert (a.bundle_dir / "categorical_encoders.json").read_bytes() == (
        b.bundle_dir / "categorical_encoders.json").read_bytes()
    assert a.run_id == b.run_id and a.dataset_hash == b.dataset_hash
    other = train(frame, split, tmp_path / "c", TrainParams(**{**TINY.__dict__, "seed": 4}), now=NOW)
    assert other.run_id != a.run_id


def test_a_rerun_in_the_same_second_never_overwrites(frame: Frame, split, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a = train(frame, split, tmp_path, TINY, now=NOW)
    b = train(frame, split, tmp_path, TINY, now=NOW)
    assert a.bundle_dir != b.bundle_dir and b.bundle_dir.name.startswith(a.run_id)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]


def test_trainer_encoding_equals_the_engine_encoding(frame: Frame, bundle_dir: Path) -> None:
    b = load_bundle(bundle_dir)
    part = frame.take(np.arange(0, len(frame), 37))
    x = encode_for_bundle(b, part)
    for i in range(len(part)):
        np.testing.assert_array_equal(x[i], np.asarray(b.encode_list(part.features(i))))
    raw = predict_raw(b, part)
    for i in range(0, len(part), 11):
        np.testing.assert_allclose(raw[i], b.predict_raw(np.asarray(b.encode_list(part.features(i)))),
                                   rtol=0, atol=1e-12)


def test_rare_categories_become_unknown_and_a_seeded_mask_teaches_it(frame: Frame) -> None:
    vocab = fit_vocabularies(frame, threshold=5)
    cat = frame.categorical["app_id"]
    rare = {v for v in set(cat) if v is not None and cat.count(v) < 5}
    assert not rare & set(vocab["app_id"])
    x0 = encode_matrix(frame, vocab)
    x1 = encode_matrix(frame, vocab, mask_rate=0.05, seed=1)
    x2 = encode_matrix(frame, vocab, mask_rate=0.05, seed=1)
    col = MODEL_COLUMNS.index("app_id")
    unk = float(vocab["app_id"].index(UNKNOWN))
    masked = (x1[:, col] == unk) & (x0[:, col] != unk)
    assert 0.02 < masked.mean() < 0.08
    np.testing.assert_array_equal(x1, x2)
    # missing numerics reach the model as NaN, exactly where the rows have them
    assert np.isnan(frame.numeric).any()
    np.testing.assert_array_equal(np.isnan(x0[:, NUM_POS]), np.isnan(frame.numeric))


def test_prior_correction_undoes_balanced_weights() -> None:
    y = np.array([0] * 30 + [1] * 10)
    pc = prior_correction(y, 3)
    assert pc[0] / pc[1] == pytest.approx(31 / 11)
    assert pc[2] > 0


def test_lightgbm_inf_thresholds_are_kept_and_the_bundle_loads(tmp_path: Path) -> None:
    """LightGBM writes ``inf`` for a split on missing values; the engine's tree check accepts
    it (only NaN is refused), so the trainer writes LightGBM's own text unchanged."""
    import lightgbm as lgb

    from engine.bundle_probe import check_model_text

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    x[rng.random(400) < 0.3, 0] = np.nan
    y = (np.isnan(x[:, 0]) | (x[:, 1] > 0)).astype(int)
    booster = lgb.train({"objective": "binary", "verbose": -1, "num_threads": 1, "min_data_in_leaf": 5},
                        lgb.Dataset(x, label=y), num_boost_round=5)
    text = booster.model_to_string()
    thresholds = [line for line in text.split("\n") if line.startswith("threshold=")]
    assert any(" inf" in line for line in thresholds)  # LightGBM writes inf for a NaN split
    check_model_text(text)  # accepted as is


def test_one_class_and_no_labels_are_refused_and_nothing_is_written(frame: Frame, split, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    no_labels = frame.take(np.arange(len(frame)))
    no_labels.y[:] = -1
    with pytest.raises(TaskclfError, match="no labelled buckets"):
        train(no_labels, split, tmp_path, TINY)
    one = frame.take(np.arange(len(frame)))
    one.y[one.y >= 0] = 1
    with pytest.raises(TaskclfError, match="only one class"):
        train(one, split, tmp_path, TINY)
    assert not tmp_path.exists() or not any(tmp_path.iterdir())
