"""The engine's probability space, vectorised: calibrate and decide exactly as ``Engine.step``.

The sweep of reject thresholds and the calibration report work on whole arrays; these helpers
apply the same rules as the online engine (user calibrator, else global; a degenerate
isotonic row falls back to global, then identity; argmax ties broken by the raw probabilities,
then label order; strict ``confidence < threshold`` reject).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from engine.calibration import Calibrator, IdentityCalibrator


def _degenerate(cal: Calibrator, raw: np.ndarray) -> np.ndarray:
    fn = getattr(cal, "degenerate", None)
    if fn is None:
        return np.zeros(len(raw), dtype=bool)
    return np.asarray(fn(raw), dtype=bool).reshape(len(raw))


def calibrate_rows(
    raw: np.ndarray,
    users: Sequence[str],
    global_cal: Calibrator,
    user_cals: Mapping[str, Calibrator],
) -> np.ndarray:
    """Calibrated probabilities of every row, with the engine's fallbacks."""
    out = np.empty_like(raw)
    if len(raw) == 0:
        return out
    users_arr = np.asarray(users, dtype=object)
    g = global_cal.apply(raw)
    g_bad = _degenerate(global_cal, raw)
    if g_bad.any():
        g[g_bad] = IdentityCalibrator().apply(raw[g_bad])
    out[:] = g
    for uid, cal in user_cals.items():
        m = users_arr == uid
        if not m.any():
            continue
        part = raw[m]
        pu = cal.apply(part)
        bad = _degenerate(cal, part)
        if bad.any():
            pu[bad] = g[m][bad]
        out[m] = pu
    return out


def decide(probs: np.ndarray, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(predicted class index, confidence): argmax, ties by raw probability, then label order."""
    n, c = probs.shape
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    conf = probs.max(axis=1)
    pred = probs.argmax(axis=1)
    ties = (probs == conf[:, None]).sum(axis=1) > 1
    if ties.any():
        for i in np.flatnonzero(ties):
            cand = np.flatnonzero(probs[i] == conf[i])
            best = cand[0]
            for k in cand[1:]:
                if raw[i, k] > raw[i, best]:
                    best = k
            pred[i] = best
    return pred.astype(np.int64), conf
