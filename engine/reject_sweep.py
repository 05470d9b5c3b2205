"""Choosing a reject threshold in the runtime's probability space (spec 5.5), numpy only.

The sweep covers a 0.01 grid plus points between the confidence quantiles (midpoints, so no
candidate sits exactly on a bucket's confidence), and ``choose`` picks the threshold minimising
Chow's risk ``(errors among accepted + c * rejected) / buckets`` subject to reject rate <= 30 %.
"""

from __future__ import annotations

import numpy as np

from engine.labels import LABEL_ORDER

MAX_REJECT_RATE = 0.30


def candidates(conf: np.ndarray) -> np.ndarray:
    grid = np.round(np.arange(0.01, 1.0, 0.01), 2)
    if len(conf) == 0:
        return grid
    s = np.unique(conf)
    qs = np.quantile(conf, np.linspace(0.01, 0.99, 99))
    mids = []
    for q in qs:
        j = int(np.searchsorted(s, q, side="right"))
        if 0 < j < len(s):
            mids.append((s[j - 1] + s[j]) / 2.0)
    allc = np.unique(np.concatenate([grid, np.asarray(mids, dtype=np.float64)]))
    return allc[(allc > 0) & (allc < 1)]


def _macro_f1(y: np.ndarray, pred: np.ndarray, c: int) -> float:
    if len(y) == 0:
        return 0.0
    tp = np.bincount(y[pred == y], minlength=c).astype(float)
    sup = np.bincount(y, minlength=c).astype(float)
    prd = np.bincount(pred, minlength=c).astype(float)
    present = (sup > 0) | (prd > 0)
    prec = np.divide(tp, prd, out=np.zeros(c), where=prd > 0)
    rec = np.divide(tp, sup, out=np.zeros(c), where=sup > 0)
    f1 = np.divide(2 * prec * rec, prec + rec, out=np.zeros(c), where=(prec + rec) > 0)
    return float(f1[present].mean()) if present.any() else 0.0


def sweep(conf: np.ndarray, pred: np.ndarray, y: np.ndarray, cost: float) -> list[dict[str, float]]:
    n = len(y)
    rows = []
    c = len(LABEL_ORDER)
    for t in candidates(conf):
        acc_mask = ~(conf < t)
        n_acc = int(acc_mask.sum())
        errors = int((pred[acc_mask] != y[acc_mask]).sum())
        rejected = n - n_acc
        rows.append(
            {
                "threshold": float(t),
                "reject_rate": rejected / n if n else 0.0,
                "coverage": n_acc / n if n else 0.0,
                "accuracy": (n_acc - errors) / n_acc if n_acc else 0.0,
                "macro_f1": _macro_f1(y[acc_mask], pred[acc_mask], c),
                "risk": (errors + cost * rejected) / n if n else 0.0,
            }
        )
    return rows


def choose(rows: list[dict[str, float]], max_reject: float = MAX_REJECT_RATE) -> dict[str, float]:
    """Lowest risk with reject rate <= max_reject (ties: the lower threshold)."""
    ok = [r for r in rows if r["reject_rate"] <= max_reject + 1e-12]
    if not ok:
        ok = [min(rows, key=lambda r: r["reject_rate"])]
    return min(ok, key=lambda r: (round(r["risk"], 12), r["threshold"]))
