"""Fitting calibrators and the calibrator store (spec 5.4, format 3.3).

On the calibration rows (see ``engine.eligibility``): raw model probabilities -> a global
calibrator fitted on all users -> a per-user calibrator for each eligible user, fitted on that
user's rows and shrunk toward the global one.

Provenance: ``rule`` and ``synthetic`` spans are never used. Corrections (biased toward the
model's errors) and confirmations (biased toward its successes) are used together, with half
the weight of the unbiased sources (``manual``, ``prompt``, ``import``), which are preferred.
"""

from __future__ import annotations

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
from engine.eligibility import eligibility as user_eligibility
from engine.eligibility import usable_for_calibration
from engine.personal_fit import fit_user_temperature
from engine.temperature_fit import fit_temperature, provenance_weights

METHODS = ("temperature", "isotonic")


def eligibility(users: Sequence[str], days: np.ndarray, y: np.ndarray) -> dict[str, dict[str, Any]]:
    """``engine.eligibility`` per user, in the JSON form stores and reports record."""
    return {u: e.to_json() for u, e in user_eligibility(users, days, y).items()}


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


def _user_calibrator(method: str, raw: np.ndarray, y: np.ndarray, w: np.ndarray, days: np.ndarray,
                     global_cal: Calibrator) -> Calibrator:
    """A user's temperature pulled toward the global one by the evidence of the user's days
    (``engine.personal_fit``); isotonic maps are kept as fitted."""
    if method == "temperature" and isinstance(global_cal, TemperatureCalibrator):
        return fit_user_temperature(raw, y, w, global_cal, days)
    return fit_calibrator(method, raw, y, w)


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
        user_cals[u] = _user_calibrator(method, raw[m], y[m], w[m], days[m], global_cal) if own else global_cal
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
