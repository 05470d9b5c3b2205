"""A user's own calibrator and reject threshold, pulled toward the shared ones by how strong the
evidence of the user's data is (numpy only: it runs in an agent-only install).

Temperature: empirical Bayes in log-temperature space. The user's true ``log T`` is taken to lie
around the shared one, ``N(log T_shared, tau^2)``; the user's fit ``log T_user`` estimates it
with sampling variance ``s^2`` (clustered by day: ``temperature_fit.log_temperature_variance``).
The width of the prior is decided by the data, ``tau^2 = max(d^2 - s^2, 0)`` with ``d = log
T_user - log T_shared`` (method of moments), and the posterior mean is

    log T = a log T_user + (1 - a) log T_shared,   a = tau^2 / (tau^2 + s^2) = max(0, 1 - s^2 / d^2).

A user whose days agree on a temperature far from the shared one gets (nearly) their own; a user
whose deviation is within the noise of their days keeps the shared one. Unlike a weight by row
count, this does not hold back a clearly miscalibrated user with a few hundred minutes, nor
move a user whose few days disagree among themselves.

The reject threshold of ``taskclf personalize`` is chosen in ``engine.personal_reject``. The
trainer's per-user thresholds (``train tune-reject``), chosen in one probability space, shrink
the threshold value toward the global one by ``a = n / (n + 300)`` (``shrink_threshold``) and are
kept within 5-30 % of the user's rows (``bound_reject_rate``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.calibration import Calibrator, TemperatureCalibrator
from engine.reject_sweep import MAX_REJECT_RATE
from engine.temperature_fit import fit_temperature, log_temperature_variance

THRESHOLD_PRIOR_MINUTES = 300.0
MIN_USER_REJECT_RATE = 0.05


def shrink_weight(n: float, prior: float) -> float:
    """How much the user's own estimate counts (0 with no data, -> 1 with a lot)."""
    n = max(float(n), 0.0)
    return n / (n + prior)


def evidence_weight(deviation: float, variance: float) -> float:
    """How much the user's own ``log T`` counts: ``max(0, 1 - s^2 / d^2)`` (see the module doc)."""
    d2 = deviation * deviation
    if not (d2 > 0 and math.isfinite(variance)):
        return 0.0
    return max(0.0, 1.0 - max(variance, 0.0) / d2)


def shrink_temperature(own: float, shared: float, weight: float) -> float:
    """``exp(a log own + (1 - a) log shared)``, rounded to 4 decimals (deterministic files)."""
    a = min(max(weight, 0.0), 1.0)
    return round(math.exp(a * math.log(own) + (1 - a) * math.log(shared)), 4)


@dataclass(frozen=True)
class TemperatureShrink:
    """The user's fit, its evidence and the temperature they get."""

    own: float  # the user's best temperature on their rows
    shared: float
    variance: float  # sampling variance of log(own), clustered by day
    weight: float  # how much ``own`` counts (0..1)
    temperature: float


def shrink_user_temperature(raw: np.ndarray, y: np.ndarray, w: np.ndarray, days: np.ndarray,
                            shared: float) -> TemperatureShrink:
    own = fit_temperature(raw, y, w)
    var = log_temperature_variance(raw, y, w, days, own) if len(y) else math.inf
    a = evidence_weight(math.log(own) - math.log(shared), var)
    return TemperatureShrink(own, shared, var, a, shrink_temperature(own, shared, a))


def global_temperature(cal: Calibrator) -> float:
    return cal.temperature if isinstance(cal, TemperatureCalibrator) else 1.0


def fit_user_temperature(raw: np.ndarray, y: np.ndarray, w: np.ndarray, global_cal: Calibrator,
                         days: np.ndarray) -> TemperatureCalibrator:
    """The user's best temperature on their rows, shrunk toward the shared one by its evidence."""
    return TemperatureCalibrator(
        shrink_user_temperature(raw, y, w, days, global_temperature(global_cal)).temperature)


def shrink_threshold(own: float, global_t: float, n: float) -> float:
    a = shrink_weight(n, THRESHOLD_PRIOR_MINUTES)
    return round(a * own + (1 - a) * global_t, 4)


def bound_reject_rate(threshold: float, conf: np.ndarray, lo: float = MIN_USER_REJECT_RATE,
                      hi: float = MAX_REJECT_RATE) -> float:
    """Move ``threshold`` the least so that ``conf < threshold`` holds for lo..hi of the rows."""
    if len(conf) == 0:
        return threshold
    s = np.sort(conf)
    n = len(s)
    rate = float((conf < threshold).mean())
    if rate > hi:  # too many rejected: the threshold just above the hi-quantile's confidence
        k = int(math.floor(hi * n))
        return round(float(s[k]) - 1e-6, 6) if k < n else threshold
    if rate < lo:  # too few: just above the lo-quantile's confidence
        k = int(math.ceil(lo * n))
        return round(min(float(s[min(k, n - 1)]) + 1e-6, 0.999), 6)
    return threshold
