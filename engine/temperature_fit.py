"""Fitting a temperature (spec 3.3) with numpy only, so per-user calibration runs in an
agent-only install; and how much each label counts.

Provenance: corrections (biased toward the model's errors) and confirmations (biased toward its
successes) count half as much as the unbiased sources (``manual``, ``prompt``, ``import``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

PROVENANCE_WEIGHT = {"manual": 1.0, "prompt": 1.0, "import": 1.0, "correction": 0.5, "confirmation": 0.5}


def provenance_weights(provenance: Sequence[str | None]) -> np.ndarray:
    return np.array([PROVENANCE_WEIGHT.get(p or "", 0.0) for p in provenance], dtype=np.float64)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=1, keepdims=True)
    s = z - m
    return s - np.log(np.exp(s).sum(axis=1, keepdims=True))


def temperature_nll(raw: np.ndarray, y: np.ndarray, w: np.ndarray, t: float) -> float:
    logp = np.log(np.clip(raw, 1e-12, None))
    ls = _log_softmax(logp / t)
    return float(-(w * ls[np.arange(len(y)), y]).sum() / w.sum())


def _row_nll(logp: np.ndarray, y: np.ndarray, t: float) -> np.ndarray:
    return -_log_softmax(logp / t)[np.arange(len(y)), y]


def log_temperature_variance(raw: np.ndarray, y: np.ndarray, w: np.ndarray, days: np.ndarray, t: float) -> float:
    """Sampling variance of ``log t`` fitted on these rows, counting each day as one unit.

    The minutes of one day are correlated (the same tasks, the same mood of the model), so the
    rows are not independent: the sandwich estimate clustered by day, ``G/(G-1) * sum_g s_g^2 /
    H^2`` (``s_g`` the day's summed score in ``log t``, ``H`` the summed curvature), never below
    the independent-rows variance ``1/H``. Infinite when it cannot be estimated (one day, or no
    curvature: ``t`` is not a minimum).
    """
    w = np.asarray(w, dtype=np.float64)
    groups = np.unique(days[w > 0])
    if len(groups) < 2:
        return math.inf
    logp = np.log(np.clip(raw, 1e-12, None))
    u, h = math.log(t), 1e-3
    up, mid, down = (_row_nll(logp, y, math.exp(v)) for v in (u + h, u, u - h))
    score = w * (up - down) / (2 * h)
    curvature = float((w * (up - 2 * mid + down)).sum() / h**2)
    if not curvature > 0:
        return math.inf
    per_day = np.bincount(np.unique(days, return_inverse=True)[1], weights=score)
    g = len(groups)
    clustered = g / (g - 1) * float((per_day**2).sum()) / curvature**2
    return max(clustered, 1.0 / curvature)


def fit_temperature(raw: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> float:
    """Minimise the (weighted) NLL over T: grid 0.05..5.0, then a fine grid around the best.

    T = 1 when no temperature lowers the NLL. Rounded to 4 decimals (deterministic files).
    """
    if len(y) == 0:
        return 1.0
    w = np.ones(len(y)) if w is None else np.asarray(w, dtype=np.float64)
    if w.sum() <= 0:
        return 1.0
    logp = np.log(np.clip(raw, 1e-12, None))
    logp_y = logp[np.arange(len(y)), y]
    m = logp.max(axis=1)
    shifted = logp - m[:, None]
    wsum = float(w.sum())

    def nll(t: float) -> float:
        # -log softmax(logp / t)_y = logsumexp(logp / t) - logp_y / t
        lse = m / t + np.log(np.exp(shifted / t).sum(axis=1))
        return float((w * (lse - logp_y / t)).sum() / wsum)

    grid = np.round(np.arange(0.05, 5.0001, 0.05), 4)
    vals = [nll(float(t)) for t in grid]
    k = int(np.argmin(vals))
    # refine: golden-section search in the grid cell on either side of the best point
    lo, hi = float(grid[max(k - 1, 0)]), float(grid[min(k + 1, len(grid) - 1)])
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = nll(a), nll(b)
    while hi - lo > 1e-4:
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = nll(b)
    t_best = round((lo + hi) / 2, 4)
    best_val = min(nll(t_best), vals[k])
    if vals[k] < nll(t_best):
        t_best = float(grid[k])
    if best_val >= nll(1.0) - 1e-9:
        return 1.0
    return t_best
