"""Calibrators (spec 3.3): shapes, normalisation, row/batch agreement, refusals."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from engine.calibration import (
    FLOOR,
    IdentityCalibrator,
    IsotonicCalibrator,
    TemperatureCalibrator,
    calibrator_from_json,
)
from engine.errors import ArtifactError

C = 8


def _probs(draw_arr: np.ndarray) -> np.ndarray:
    p = np.abs(draw_arr) + 1e-15
    return p / p.sum(axis=-1, keepdims=True)


prob_rows = arrays(np.float64, C, elements=st.floats(0, 1, allow_nan=False)).map(_probs)
prob_mats = st.integers(1, 6).flatmap(
    lambda n: arrays(np.float64, (n, C), elements=st.floats(0, 1, allow_nan=False)).map(_probs)
)


def _iso(seed: int = 0) -> IsotonicCalibrator:
    rng = np.random.default_rng(seed)
    regs = []
    for _ in range(C):
        x = np.sort(rng.uniform(0, 1, 6))
        y = np.sort(rng.choice([0.0, 0.0, 0.2, 0.5, 1.0], 6))
        regs.append((x.tolist(), y.tolist()))
    return IsotonicCalibrator(regs)


CALIBRATORS = [IdentityCalibrator(), TemperatureCalibrator(0.7), TemperatureCalibrator(2.5), _iso(1), _iso(2)]


@given(cal=st.sampled_from(CALIBRATORS), p=prob_mats)
def test_rows_sum_to_one_and_row_form_agrees(cal: Any, p: np.ndarray) -> None:
    out = cal.apply(p)
    assert out.shape == p.shape
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(cal.apply(p[0]), out[0], atol=1e-15)
    for i in range(p.shape[0]):
        row = cal.apply_row(p[i].tolist())
        if row is None:
            assert isinstance(cal, IsotonicCalibrator)
            assert cal.degenerate(p[i])
            np.testing.assert_allclose(out[i], 1 / C)
        else:
            np.testing.assert_allclose(row, out[i], atol=1e-12)
            assert abs(sum(row) - 1) < 1e-12


@given(p=prob_rows, t=st.floats(0.05, 5.0))
def test_temperature_never_changes_the_argmax(p: np.ndarray, t: float) -> None:
    out = TemperatureCalibrator(t).apply(p)
    clipped = np.clip(p, FLOOR, None)
    assert np.isclose(clipped[np.argmax(out)], clipped.max(), rtol=1e-9)


def test_temperature_formula_and_extremes() -> None:
    p = np.array([0.7, 0.2, 0.1, 0, 0, 0, 0, 0])
    z = np.log(np.clip(p, 1e-12, None)) / 0.5
    want = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    np.testing.assert_allclose(TemperatureCalibrator(0.5).apply(p), want, atol=1e-15)
    tiny = TemperatureCalibrator(1e-4).apply_row(p.tolist())  # power form underflows: log form
    assert tiny is not None and abs(sum(tiny) - 1) < 1e-12 and tiny[0] == max(tiny)
    assert TemperatureCalibrator(1.0).apply_row(p.tolist()) == pytest.approx(np.clip(p, 1e-12, None) / np.clip(p, 1e-12, None).sum())


def test_isotonic_interp_clamps_and_floors() -> None:
    cal = IsotonicCalibrator([([0.2, 0.8], [0.0, 1.0])] * C)
    out = cal.apply(np.array([0.1, 0.5, 0.9, 0.8, 0.2, 0.35, 0.0, 1.0]))
    raw = np.array([0, 0.5, 1, 1, 0, 0.25, 0, 1]).clip(FLOOR)
    np.testing.assert_allclose(out, raw / raw.sum())
    assert cal.apply_row([0.1] * C) is None  # every class on the floor
    assert bool(cal.degenerate(np.array([0.1] * C)))


def test_isotonic_matches_numpy_interp_on_knots_and_duplicates() -> None:
    x = [0.0, 0.1, 0.1, 0.4, 0.4, 1.0]
    y = [0.0, 0.2, 0.3, 0.3, 0.9, 1.0]
    cal = IsotonicCalibrator([(x, y)] * C)
    for v in [0.0, 0.05, 0.1, 0.2, 0.4, 0.7, 1.0, 1.5, -1.0]:
        row = cal.apply_row([v + 0.01] * C)
        ref = cal.apply(np.array([v + 0.01] * C))
        if row is not None:
            np.testing.assert_allclose(row, ref, atol=1e-15)


@pytest.mark.parametrize("cal", CALIBRATORS, ids=repr)
def test_json_round_trip(cal: Any) -> None:
    again = calibrator_from_json(cal.to_json(), n_classes=C)
    assert again == cal and again.to_json() == cal.to_json()


@pytest.mark.parametrize(
    ("obj", "field", "text"),
    [
        ([], None, "object"),
        ({}, "type", "missing"),
        ({"type": "platt"}, "type", "unknown calibrator type"),
        ({"type": "temperature"}, "temperature", "missing"),
        ({"type": "temperature", "temperature": 0}, "temperature", "> 0"),
        ({"type": "temperature", "temperature": -1.5}, "temperature", "> 0"),
        ({"type": "temperature", "temperature": True}, "temperature", "number"),
        ({"type": "temperature", "temperature": "1.0"}, "temperature", "number"),
        ({"type": "temperature", "temperature": 1e400}, "temperature", "finite"),
        ({"type": "isotonic"}, "regressors", "required"),
        ({"type": "isotonic", "regressors": [{"X_thresholds_": [0, 1], "y_thresholds_": [0, 1]}] * 7}, "regressors", "7 regressors"),
        ({"type": "isotonic", "regressors": [{"X_thresholds_": [0, 1]}] * 8}, "regressors[0].y_thresholds_", "missing"),
        ({"type": "isotonic", "regressors": [{"X_thresholds_": [0, 1], "y_thresholds_": [0]}] * 8}, "regressors[0]", "equal length"),
        ({"type": "isotonic", "regressors": [{"X_thresholds_": [1, 0], "y_thresholds_": [0, 1]}] * 8}, "X_thresholds_", "non-decreasing"),
        ({"type": "isotonic", "regressors": [{"X_thresholds_": [0, "a"], "y_thresholds_": [0, 1]}] * 8}, "X_thresholds_", "numbers"),
        ({"type": "isotonic", "regressors": [{"X_thresholds_": [0, math.inf], "y_thresholds_": [0, 1]}] * 8}, "X_thresholds_", "finite"),
        ({"type": "isotonic", "regressors": [3] * 8}, "regressors[0]", "object"),
    ],
)
def test_refusals_name_the_file_and_field(obj: Any, field: str | None, text: str) -> None:
    with pytest.raises(ArtifactError, match=re.escape(text)) as ei:
        calibrator_from_json(obj, path="global.json", n_classes=C)
    msg = str(ei.value)
    assert msg.startswith("global.json")
    if field:
        assert field in msg
    assert text in msg


def test_isotonic_ties_are_common_and_rows_still_normalised() -> None:
    cal = IsotonicCalibrator([([0.0, 0.5, 1.0], [0.0, 0.5, 0.5])] * C)
    out = cal.apply_row([0.6, 0.7, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    assert out is not None and out[0] == out[1]  # a plateau: the engine breaks the tie by raw
