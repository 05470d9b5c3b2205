"""A user's reject threshold for a new calibration (numpy only: it runs in an agent-only install).

Chosen in reject-rate space, because a new calibration moves every confidence and a threshold
value means nothing across calibrations. Rates are those of a *typical day*: the median over
the user's days of the share of buckets rejected. A pooled share is pulled up by an odd day (a
day without input counters, where the model is unsure all day long) and then leaves the usual
days below the band; the median day is what the user sees on most days.

The rate is ``r = a * r_user + (1 - a) * r_deployed`` with ``a = n / (n + 300)`` (``n`` the
provenance-weighted labelled minutes; ``personal_fit.shrink_weight``), where ``r_user`` is the
reject rate of the lowest-risk threshold (Chow's risk) on the user's labelled rows and
``r_deployed`` what the deployed engine rejects on the user's typical day. It is kept within the
5-30 % band narrowed by a margin (``reject_band``), and the threshold is the one whose typical
day rejects ``r`` of the user's buckets (labelled or not: the engine rejects every minute).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from engine.batch import decide
from engine.personal_fit import MIN_USER_REJECT_RATE, THRESHOLD_PRIOR_MINUTES, shrink_weight
from engine.reject_sweep import MAX_REJECT_RATE, choose, sweep

DEFAULT_REJECT_COST = 0.45
#: how far inside 5-30 % the typical day is aimed: 1.64 standard errors of the day-to-day rate,
#: at least 3 points (a user's confidences drift over weeks, which the spread of a few days
#: does not show: measured, the typical day of the benchmark's regular user rejects 1.5 points
#: less a week later), at most 5
REJECT_MARGIN = (0.03, 0.05)


@dataclass(frozen=True)
class RateSample:
    """What a threshold will reject: the calibrated confidence of every bucket of the user's
    days (labelled or not) and its local day, and whether the deployed engine rejects it."""

    conf: np.ndarray
    days: np.ndarray
    deployed_rejects: np.ndarray

    @cached_property
    def _day_index(self) -> tuple[np.ndarray, np.ndarray]:
        _, inverse, counts = np.unique(self.days, return_inverse=True, return_counts=True)
        return inverse, counts

    def daily(self, rejected: np.ndarray) -> np.ndarray:
        """The share of each day's buckets flagged in ``rejected`` (days in order)."""
        inverse, counts = self._day_index
        return np.bincount(inverse, weights=np.asarray(rejected, dtype=np.float64), minlength=len(counts)) / counts


def typical_rate(sample: RateSample, threshold: float) -> float:
    """The share of buckets ``threshold`` rejects on the median day."""
    if len(sample.conf) == 0:
        return 0.0
    return float(np.median(sample.daily(sample.conf < threshold)))


def threshold_for_rate(sample: RateSample, rate: float) -> float:
    """The lowest threshold whose typical day rejects at least ``rate`` (within 0.01..0.99)."""
    if len(sample.conf) == 0:
        return 0.5
    cands = np.unique(sample.conf) + 1e-6
    lo, hi = 0, len(cands) - 1
    while lo < hi:  # the typical rate grows with the threshold
        mid = (lo + hi) // 2
        if typical_rate(sample, float(cands[mid])) >= rate:
            hi = mid
        else:
            lo = mid + 1
    return round(float(min(max(cands[lo], 0.01), 0.99)), 6)


def threshold_at_most(sample: RateSample, rate: float) -> float:
    """The highest threshold whose typical day rejects at most ``rate`` (within 0.01..0.99).
    The band's upper edge is a limit, and the median day's rate moves in steps of one of that
    day's buckets, so the lowest threshold reaching ``rate`` can overshoot it."""
    if len(sample.conf) == 0:
        return 0.5
    cands = np.unique(sample.conf) + 1e-6
    lo, hi = -1, len(cands) - 1
    while lo < hi:  # the typical rate grows with the threshold
        mid = (lo + hi + 1) // 2
        if typical_rate(sample, float(cands[mid])) <= rate:
            lo = mid
        else:
            hi = mid - 1
    t = float(cands[lo]) if lo >= 0 else float(cands[0]) - 1e-6  # none: reject nothing
    return round(min(max(t, 0.01), 0.99), 6)


def reject_band(sample: RateSample, lo: float = MIN_USER_REJECT_RATE, hi: float = MAX_REJECT_RATE
                ) -> tuple[float, float]:
    """The band of typical-day rates a per-user threshold is kept in: 5-30 %, each edge moved
    inward by ``REJECT_MARGIN`` (1.64 robust standard errors of the daily rate at that edge's
    threshold, within 3..5 points)."""
    def margin(rate: float) -> float:
        daily = sample.daily(sample.conf < threshold_for_rate(sample, rate))
        if len(daily) < 2:
            return REJECT_MARGIN[1]
        sd = 1.4826 * float(np.median(np.abs(daily - np.median(daily))))
        return min(max(1.64 * sd / math.sqrt(len(daily)), REJECT_MARGIN[0]), REJECT_MARGIN[1])

    if len(sample.conf) == 0:
        return lo + REJECT_MARGIN[1], hi - REJECT_MARGIN[1]
    return lo + margin(lo), hi - margin(hi)


def agreeing_threshold(sample: RateSample, t_lo: float, t_hi: float) -> float:
    """The threshold within ``t_lo..t_hi`` that decides the most buckets as the deployed engine
    does (rejected by both or accepted by both)."""
    n = len(sample.conf)
    if n == 0:
        return t_lo
    order = np.argsort(sample.conf, kind="stable")
    s = sample.conf[order]
    dep = sample.deployed_rejects[order].astype(np.int64)
    k = np.arange(n + 1)  # reject the k least confident
    both = np.concatenate([[0], np.cumsum(dep)])
    agree = both + (n - k) - (int(dep.sum()) - both)
    k_lo, k_hi = int(np.searchsorted(s, t_lo)), int(np.searchsorted(s, t_hi))
    best = k_lo + int(np.argmax(agree[k_lo:k_hi + 1]))
    if best == k_lo:
        return t_lo
    return round(float(min(max(s[best - 1] + 1e-6, t_lo), t_hi)), 6)


@dataclass(frozen=True)
class ThresholdChoice:
    threshold: float
    rate: float  # the share it rejects on the user's typical day
    floor: float  # the lower edge of the band it was kept in


def user_threshold(probs: np.ndarray, raw: np.ndarray, y: np.ndarray, n: float, sample: RateSample,
                   cost: float = DEFAULT_REJECT_COST, *, keep_rate: bool = False) -> ThresholdChoice:
    """The user's reject threshold (see the module doc). With ``keep_rate`` (the fallback when
    moving the rate would cost shown accuracy): the threshold within the band that rejects the
    buckets the deployed engine rejects as closely as one threshold can."""
    lo, hi = reject_band(sample)
    t_lo, t_hi = threshold_for_rate(sample, lo), threshold_at_most(sample, hi)
    if keep_rate:
        t = agreeing_threshold(sample, t_lo, t_hi)
    else:
        pred, conf = decide(probs, raw)
        own = float(choose(sweep(conf, pred, y, cost))["reject_rate"])
        deployed = float(np.median(sample.daily(sample.deployed_rejects))) if len(sample.conf) else 0.0
        a = shrink_weight(n, THRESHOLD_PRIOR_MINUTES)
        t = min(max(threshold_for_rate(sample, a * own + (1 - a) * deployed), t_lo), t_hi)
    return ThresholdChoice(t, typical_rate(sample, t), lo)
