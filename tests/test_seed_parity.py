"""The seed project's own vectors: our engine must reproduce them (spec fixtures README)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from engine_helpers import STORE_ISOTONIC, parity_lines, seed_bundle, seed_store

from engine.pipeline import Engine

TOL = 1e-9


def test_encoded_vectors_match_the_seed() -> None:
    b = seed_bundle()
    for i, line in enumerate(parity_lines()):
        got = b.encode(line["row"])
        assert got.shape == (38,)
        np.testing.assert_allclose(got, line["encoded"], rtol=0, atol=TOL, err_msg=f"line {i}")


def test_raw_probabilities_match_the_seed_single_and_batch() -> None:
    b = seed_bundle()
    lines = parity_lines()
    batch = b.predict_raw(np.array([ln["encoded"] for ln in lines]))
    for i, line in enumerate(lines):
        np.testing.assert_allclose(batch[i], line["raw_probs"], rtol=0, atol=TOL)
        np.testing.assert_allclose(b.predict_raw(np.array(line["encoded"])), line["raw_probs"], atol=TOL)
        np.testing.assert_allclose(b.predict_features(line["row"]), line["raw_probs"], atol=TOL)


@pytest.mark.parametrize("method", ["temperature", "isotonic"])
def test_calibrated_probabilities_match_the_seed(method: str) -> None:
    store = seed_store(method)
    lines = parity_lines()
    raws = np.array([ln["raw_probs"] for ln in lines])
    for i, line in enumerate(lines):
        cal, source = store.lookup(line["row"]["user_id"])
        assert source == line[method]["calibrator"], f"line {i}"
        want = line[method]["probs"]
        np.testing.assert_allclose(cal.apply(raws[i]), want, rtol=0, atol=TOL, err_msg=f"line {i}")
        row = cal.apply_row(line["raw_probs"])
        if row is None:  # degenerate: the seed passed the uniform vector on
            np.testing.assert_allclose(want, np.full(8, 1 / 8), atol=TOL)
        else:
            np.testing.assert_allclose(row, want, rtol=0, atol=TOL, err_msg=f"line {i}")


def test_edge_lines_unseen_categories_missing_numerics_unknown_user() -> None:
    lines = parity_lines()
    unseen, all_missing, stranger = lines[-3], lines[-2], lines[-1]
    b = seed_bundle()
    assert b.encode(unseen["row"])[0] == b.encoders["app_id"]["__unknown__"]
    assert b.encode(all_missing["row"])[5:24].tolist() == [0.0] * 19  # missing_values "zero"
    assert seed_store("temperature").lookup(stranger["row"]["user_id"])[1] == "global"


def _seed_global_isotonic(raw: list[float]) -> np.ndarray:
    """The seed's global isotonic calibrator, read straight from its JSON (one clipped
    piecewise-linear map per class, then renormalised), independent of engine.calibration."""
    spec = json.loads((STORE_ISOTONIC / "global.json").read_text(encoding="utf-8"))
    mapped = np.array([np.interp(p, r["X_thresholds_"], r["y_thresholds_"])
                       for p, r in zip(raw, spec["regressors"], strict=True)])
    return mapped / mapped.sum()


def test_degenerate_isotonic_rows_use_the_global_calibrator_in_the_engine() -> None:
    store = seed_store("isotonic")
    uniform = [
        ln for ln in parity_lines()
        if ln["isotonic"]["calibrator"] == "user"
        and np.allclose(ln["isotonic"]["probs"], 1 / 8, atol=1e-12)
    ]
    assert len(uniform) >= 20  # ~11 % of the fixture rows
    engine = Engine.from_artifacts(seed_bundle(), store, reject_threshold=0.5)
    t = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    for k, line in enumerate(uniform):
        uid = line["row"]["user_id"]
        user_cal, _ = store.lookup(uid)
        np.testing.assert_allclose(user_cal.apply(np.array(line["raw_probs"])), 1 / 8, atol=1e-12)
        rec = engine.step(line["row"], user_id=uid, bucket_start=t + timedelta(minutes=k), session_id="s")
        assert rec.calibrator.startswith("global")
        assert "user degenerate" in rec.calibrator
        want = _seed_global_isotonic(line["raw_probs"])
        if rec.calibrator == "global (user degenerate)":
            np.testing.assert_allclose(rec.probs, want, atol=TOL)
        assert abs(sum(rec.probs) - 1) < 1e-9


@pytest.mark.parametrize("method", ["temperature", "isotonic"])
def test_engine_records_reproduce_the_seed_for_non_degenerate_rows(method: str) -> None:
    engine = Engine.from_artifacts(seed_bundle(), seed_store(method), reject_threshold=0.5)
    t = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    for k, line in enumerate(parity_lines()):
        rec = engine.step(line["row"], user_id=line["row"]["user_id"], bucket_start=t + timedelta(minutes=k), session_id=None)
        np.testing.assert_allclose(rec.raw_probs, line["raw_probs"], atol=TOL)
        if rec.calibrator == line[method]["calibrator"]:
            np.testing.assert_allclose(rec.probs, line[method]["probs"], atol=TOL)
        else:
            assert method == "isotonic" and "degenerate" in rec.calibrator
