"""Fitting calibrators and the calibrator store (spec 5.4, format 3.3).

On the calibration split: raw model probabilities -> a global calibrator fitted on all users ->
a per-user calibrator for each eligible user (>= 200 labelled buckets on >= 3 local days with
>= 3 distinct labels, counted on those calibration rows), fitted on that user's rows.

Provenance: ``rule`` and ``synthetic`` spans are never used. Corrections (biased toward the
model's errors) and confirmations (biased toward its successes) are used together, with half
the weight of the unbiased sources (``manual``, ``prompt``, ``import``), which are preferred.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.calibration import (
    Calibrator,
    IdentityCalibrator,
    IsotonicCalibrator,
    TemperatureCalibrator,
)
from engine.labels import MACHINE_PROVENANCES

MIN_BUCKETS = 200
MIN_DAYS = 3
MIN_LABELS = 3
METHODS = ("temperature", "isotonic")
PROVENANCE_WEIGHT = {"manual": 1.0, "prompt": 1.0, "import": 1.0, "correction": 0.5, "confirmation": 0.5}


def usable_for_calibration(provenance: str | None) -> bool:
    """Machine-made labels would make calibration circular."""
    return provenance is not None and provenance not in MACHINE_PROVENANCES


def provenance_weights(provenance: Sequence[str | None]) -> np.ndarray:
    return np.array([PROVENANCE_WEIGHT.get(p or "", 0.0) for p in provenance], dtype=np.float64)


def eligibility(
    users: Sequence[str], days: np.ndarray, y: np.ndarray
) -> dict[str, dict[str, Any]]:
    """Per user: labelled buckets, distinct days, distinct labels and the verdict."""
    out: dict[str, dict[str, Any]] = {}
    users_arr = np.asarray(users, dtype=object)
    for u in sorted(set(users)):
        m = users_arr == u
        n = int(m.sum())
        nd = int(len(np.unique(days[m])))
        nl = int(len(np.unique(y[m])))
        reasons = []
        if n < MIN_BUCKETS:
            reasons.append(f"{n} labelled buckets < {MIN_BUCKETS}")
        if nd < MIN_DAYS:
            reasons.append(f"{nd} days < {MIN_DAYS}")
        if nl < MIN_LABELS:
            reasons.append(f"{nl} labels < {MIN_LABELS}")
        out[u] = {"buckets": n, "days": nd, "labels": nl, "eligible": not reasons,
                  "reason": "; ".join(reasons) or None}
    return out


def _log_softmax(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=1, keepdims=True)
    s = z - m
    return s - np.log(np.exp(s).sum(axis=1, keepdims=True))


def temperature_nll(raw: np.ndarray, y: np.ndarray, w: np.ndarray, t: float) -> float:
    logp = np.log(np.clip(raw, 1e-12, None))
    ls = _log_softmax(logp / t)
    return float(-(w * ls[np.arange(len(y)), y]).sum() / w.sum())


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


def fit_isotonic(raw: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> IsotonicCalibrator:
    """One-vs-rest isotonic maps per class (scikit-learn), exported as threshold pairs."""
    from sklearn.isotonic import IsotonicRegression

    regs: list[tuple[list[float], list[float]]] = []
    for k in range(raw.shape[1]):
        target = (y == k).astype(np.float64)
        ir = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0, increasing=True)
        ir.fit(raw[:, k], target, sample_weight=w)
        xs = [float(v) for v in ir.X_thresholds_]
        ys = [float(v) for v in ir.y_thresholds_]
        if len(xs) == 1:
            xs, ys = [xs[0], xs[0] + 1e-9], [ys[0], ys[0]]
        regs.append((xs, ys))
    return IsotonicCalibrator(regressors=regs)


def fit_calibrator(method: str, raw: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> Calibrator:
    if method == "temperature":
        return TemperatureCalibrator(fit_temperature(raw, y, w))
    if method == "isotonic":
        return fit_isotonic(raw, y, w)
    if method == "identity":
        return IdentityCalibrator()
    raise ValueError(f"unknown calibration method {method!r}")


@dataclass
class CalibrationFit:
    method: str
    global_calibrator: Calibrator
    user_calibrators: dict[str, Calibrator]
    eligibility: dict[str, dict[str, Any]]
    provenance_counts: dict[str, Any] = field(default_factory=dict)
    own_choice: dict[str, bool] = field(default_factory=dict)


def _weighted_nll(p: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    py = np.clip(p[np.arange(len(y)), y], 1e-12, None)
    return float(-(w * np.log(py)).sum() / max(w.sum(), 1e-12))


def own_calibrator_helps(method: str, raw: np.ndarray, y: np.ndarray, days: np.ndarray, w: np.ndarray,
                         global_cal: Calibrator) -> bool:
    """Leave-one-day-out check on the user's calibration rows: does a calibrator fitted on the
    user's other days beat the global one on the held-out day? (A few days of one person's work
    are correlated; a per-user fit that only memorises them would hurt on new days.)"""
    own_nll = glob_nll = 0.0
    for d in np.unique(days):
        held = days == d
        if held.all() or w[held].sum() <= 0:
            continue
        cal = fit_calibrator(method, raw[~held], y[~held], w[~held])
        own_nll += _weighted_nll(cal.apply(raw[held]), y[held], w[held]) * w[held].sum()
        glob_nll += _weighted_nll(global_cal.apply(raw[held]), y[held], w[held]) * w[held].sum()
    return bool(own_nll < glob_nll)


#: Weighted buckets at which a user's own temperature and the global one count equally.
SHRINK_BUCKETS = 500.0


def _shrunk(own: Calibrator, global_cal: Calibrator, n: float) -> Calibrator:
    """A user's temperature pulled toward the global one in log space, by n / (n + 500):
    a few days of one person's work are correlated, so their evidence is worth less than its
    row count suggests. Isotonic maps are kept as fitted."""
    if isinstance(own, TemperatureCalibrator) and isinstance(global_cal, TemperatureCalibrator):
        a = n / (n + SHRINK_BUCKETS)
        t = math.exp(a * math.log(own.temperature) + (1 - a) * math.log(global_cal.temperature))
        return TemperatureCalibrator(round(t, 4))
    return own


def fit_store_calibrators(
    method: str,
    raw: np.ndarray,
    y: np.ndarray,
    users: Sequence[str],
    days: np.ndarray,
    provenance: Sequence[str | None],
    *,
    eligible_users: set[str] | None = None,
    own_choice: dict[str, bool] | None = None,
) -> CalibrationFit:
    """Global + per-user calibrators on labelled calibration rows (machine labels dropped).

    Every eligible user gets a calibrator. It is fitted on the user's own rows when that helps
    out of sample (``own_calibrator_helps``; or as ``own_choice`` says, so refits on folds keep
    the decision), otherwise it is the global calibrator (the file records that choice)."""
    use = np.array([usable_for_calibration(p) for p in provenance], dtype=bool)
    raw, y, days = raw[use], y[use], days[use]
    users = [u for u, k in zip(users, use.tolist(), strict=True) if k]
    prov = [p for p, k in zip(provenance, use.tolist(), strict=True) if k]
    w = provenance_weights(prov)
    elig = eligibility(users, days, y)
    chosen = {u for u, e in elig.items() if e["eligible"]}
    if eligible_users is not None:
        chosen &= eligible_users
    global_cal = fit_calibrator(method, raw, y, w) if len(y) else IdentityCalibrator()
    users_arr = np.asarray(users, dtype=object)
    user_cals: dict[str, Calibrator] = {}
    choice: dict[str, bool] = {}
    for u in sorted(chosen):
        m = users_arr == u
        if own_choice is not None and u in own_choice:
            own = own_choice[u]
        else:
            own = own_calibrator_helps(method, raw[m], y[m], days[m], w[m], global_cal)
        choice[u] = own
        user_cals[u] = _shrunk(fit_calibrator(method, raw[m], y[m], w[m]), global_cal, float(w[m].sum())) \
            if own else global_cal
        elig[u]["own_fit"] = own
    return CalibrationFit(method, global_cal, user_cals, elig, provenance_counts(prov, y), choice)


def provenance_counts(provenance: Sequence[str | None], y: np.ndarray | None = None) -> dict[str, Any]:
    counts = Counter(p for p in provenance if p)
    corr, conf = counts.get("correction", 0), counts.get("confirmation", 0)
    return {
        "buckets": dict(sorted(counts.items())),
        "correction_confirmation_ratio": (round(corr / conf, 4) if conf else None),
    }


def calibrator_summary(cal: Calibrator) -> str:
    if isinstance(cal, TemperatureCalibrator):
        return f"temperature T={cal.temperature:g}"
    if isinstance(cal, IsotonicCalibrator):
        return "isotonic"
    return "identity"
