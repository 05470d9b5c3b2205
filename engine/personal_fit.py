"""A user's own calibrator and reject threshold, pulled toward the shared ones by how much of
the user's data there is (numpy only: it runs in an agent-only install).

Shrinkage. A few days of one person's work are correlated, so their evidence is worth less than
its row count suggests; a user with little data should stay close to what the shared model
already does, and a user with a lot should get what their data says. Both use the weight
``a = n / (n + K)`` of the user's (provenance-weighted) labelled minutes ``n``:

- temperature: ``log T = a * log T_user + (1 - a) * log T_global`` with ``K = 100`` minutes
  (a = 0.83 at 500 minutes: near the optimum the NLL is quadratic in log T, so this keeps
  ~97 % of the best single temperature's gain; a = 0.33 at 50 minutes);
- reject threshold, in reject-rate space (a new calibration moves every confidence, so a
  threshold value cannot be carried over): ``r = a * r_user + (1 - a) * r_deployed`` with
  ``K = 300`` minutes, where ``r_user`` is the reject rate of the lowest-risk threshold on the
  user's rows and ``r_deployed`` what the deployed engine rejects of them; ``r`` is kept within
  5-30 % and the threshold is the one rejecting ``r`` of the user's rows. (The trainer's
  per-user thresholds, chosen in one probability space, shrink the value: ``shrink_threshold``.)
"""

from __future__ import annotations

import math

import numpy as np

from engine.batch import decide
from engine.calibration import Calibrator, TemperatureCalibrator
from engine.reject_sweep import MAX_REJECT_RATE, choose, sweep
from engine.temperature_fit import fit_temperature

TEMPERATURE_PRIOR_MINUTES = 100.0
THRESHOLD_PRIOR_MINUTES = 300.0
MIN_USER_REJECT_RATE = 0.05
DEFAULT_REJECT_COST = 0.45


def shrink_weight(n: float, prior: float) -> float:
    """How much the user's own estimate counts (0 with no data, -> 1 with a lot)."""
    n = max(float(n), 0.0)
    return n / (n + prior)


def shrink_temperature(own: float, global_t: float, n: float) -> float:
    a = shrink_weight(n, TEMPERATURE_PRIOR_MINUTES)
    return round(math.exp(a * math.log(own) + (1 - a) * math.log(global_t)), 4)


def global_temperature(cal: Calibrator) -> float:
    return cal.temperature if isinstance(cal, TemperatureCalibrator) else 1.0


def fit_user_temperature(raw: np.ndarray, y: np.ndarray, w: np.ndarray, global_cal: Calibrator
                         ) -> TemperatureCalibrator:
    """The user's best temperature on their rows, shrunk toward the shared one."""
    own = fit_temperature(raw, y, w)
    return TemperatureCalibrator(shrink_temperature(own, global_temperature(global_cal), float(w.sum())))


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


def threshold_for_rate(conf: np.ndarray, rate: float) -> float:
    """The threshold rejecting (about) ``rate`` of the rows: just above that quantile."""
    if len(conf) == 0:
        return 0.5
    s = np.sort(conf)
    k = min(max(int(round(rate * len(s))), 0), len(s) - 1)
    return float(min(max(s[k] + 1e-6 if k > 0 else s[0], 0.01), 0.99))


def user_threshold(probs: np.ndarray, raw: np.ndarray, y: np.ndarray, n: float, deployed_rate: float,
                   cost: float = DEFAULT_REJECT_COST, *, keep_rate: bool = False) -> float:
    """The user's reject threshold on their newly calibrated rows.

    Chosen in reject-rate space, because a new calibration moves every confidence and a
    threshold value means nothing across calibrations: the rate of the lowest-risk threshold on
    the user's rows, shrunk toward the rate the deployed engine rejects on the same rows, kept
    within 5-30 %, then the threshold that rejects that share of the rows. With ``keep_rate``:
    the deployed engine's share, re-expressed in the new confidences (the fallback when moving
    the rate would cost shown accuracy).
    """
    pred, conf = decide(probs, raw)
    if keep_rate:  # the share the deployed engine rejects (at most 30 %), only re-expressed
        rate = min(float(deployed_rate), MAX_REJECT_RATE)
    else:
        best = choose(sweep(conf, pred, y, cost))
        a = shrink_weight(n, THRESHOLD_PRIOR_MINUTES)
        rate = a * float(best["reject_rate"]) + (1 - a) * float(deployed_rate)
        rate = min(max(rate, MIN_USER_REJECT_RATE), MAX_REJECT_RATE)
    return round(threshold_for_rate(conf, rate), 6)
