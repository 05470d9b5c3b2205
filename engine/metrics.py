"""The metric definitions of the quality report (spec 5.6), pinned by worked-example tests.

- Scores are over the 8 core labels. A rejected bucket (prediction ``-1``) counts as a miss for
  its true class and as a false positive for no class.
- Macro F1 averages the classes that occur in the truth or the predictions (a class absent from
  both has no defined F1 and is left out); weighted F1 weights by true support.
- Reject rate = rejected / buckets. Flap rate = label changes between consecutive buckets of the
  same session / buckets (Mixed/Unknown is a label like any other).
- Brier = mean over buckets of sum_k (p_k - y_k)^2; NLL = mean of -log p_y (p floored at 1e-12);
  ECE = 15 equal-width confidence bins, |accuracy - confidence| weighted by the bin's share.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

REJECTED = -1
ECE_BINS = 15


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """(C, C + 1) counts: rows = true class, columns = predicted class, last column = rejected."""
    cm = np.zeros((n_classes, n_classes + 1), dtype=np.int64)
    t = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(y_pred, dtype=np.int64)
    col = np.where(p < 0, n_classes, p)
    np.add.at(cm, (t, col), 1)
    return cm


def classification_scores(
    y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]
) -> dict[str, Any]:
    """Per-class precision/recall/F1/support plus macro and weighted F1 and accuracy."""
    return scores_from_confusion(confusion(y_true, y_pred, len(labels)), labels)


def scores_from_confusion(cm: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """``classification_scores`` of the buckets a (C, C + 1) confusion matrix counts, so scores
    can be added up chunk by chunk (every figure is a ratio of counts: the same as one pass)."""
    c = len(labels)
    tp = np.diag(cm[:, :c]).astype(float)
    predicted = cm[:, :c].sum(axis=0).astype(float)
    support = cm.sum(axis=1).astype(float)
    per_class: dict[str, dict[str, float]] = {}
    f1s: list[float] = []
    weights: list[float] = []
    for k, lab in enumerate(labels):
        prec = tp[k] / predicted[k] if predicted[k] > 0 else 0.0
        rec = tp[k] / support[k] if support[k] > 0 else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec > 0 else 0.0
        per_class[lab] = {
            "precision": float(prec),
            "recall": float(rec),
            "f1": float(f1),
            "support": int(support[k]),
            "predicted": int(predicted[k]),
        }
        if support[k] > 0 or predicted[k] > 0:
            f1s.append(f1)
            weights.append(support[k])
    n = int(cm.sum())
    macro = float(np.mean(f1s)) if f1s else 0.0
    wsum = float(sum(weights))
    weighted = float(sum(f * w for f, w in zip(f1s, weights, strict=True)) / wsum) if wsum > 0 else 0.0
    accuracy = float(tp.sum() / n) if n else 0.0
    return {
        "n": n,
        "accuracy": accuracy,
        "macro_f1": macro,
        "weighted_f1": weighted,
        "per_class": per_class,
        "confusion_matrix": cm[:, :c].tolist(),
        "rejected_by_class": cm[:, c].tolist(),
        "label_order": list(labels),
    }


def reject_rate(rejected: np.ndarray) -> float:
    r = np.asarray(rejected, dtype=bool)
    return float(r.mean()) if r.size else 0.0


def flap_rate(labels: Sequence[str], sessions: Sequence[str | None]) -> float:
    """Label changes between consecutive buckets of the same session, per bucket."""
    n = len(labels)
    if n == 0:
        return 0.0
    changes = 0
    for i in range(1, n):
        if sessions[i] is not None and sessions[i] == sessions[i - 1] and labels[i] != labels[i - 1]:
            changes += 1
    return changes / n


def _onehot(y: np.ndarray, c: int) -> np.ndarray:
    out = np.zeros((len(y), c), dtype=np.float64)
    out[np.arange(len(y)), y] = 1.0
    return out


class CalibrationTally:
    """Brier, NLL and the reliability bins as sums and counts, added chunk by chunk, so the
    calibration of a long replay needs no array of every bucket. One ``add`` of all rows gives
    exactly the one-pass figures; over chunks they differ only in the order of float
    additions (a few units in the last place)."""

    def __init__(self, bins: int = ECE_BINS) -> None:
        self.bins = bins
        self.n = 0
        self.brier_sum = 0.0
        self.nll_sum = 0.0
        self.count = np.zeros(bins, dtype=np.int64)
        self.confidence_sum = np.zeros(bins, dtype=np.float64)
        self.correct = np.zeros(bins, dtype=np.int64)

    def add(self, probs: np.ndarray, y: np.ndarray) -> CalibrationTally:
        p = np.asarray(probs, dtype=np.float64)
        if len(p) == 0:
            return self
        yy = np.asarray(y)
        self.n += len(p)
        self.brier_sum += float(np.sum(np.sum((p - _onehot(yy, p.shape[1])) ** 2, axis=1)))
        self.nll_sum += float(np.sum(-np.log(np.clip(p[np.arange(len(p)), yy], 1e-12, None))))
        conf = p.max(axis=1)
        hit = p.argmax(axis=1) == yy
        idx = np.minimum((conf * self.bins).astype(np.int64), self.bins - 1)
        for b in np.unique(idx).tolist():
            m = idx == b
            self.count[b] += int(m.sum())
            self.confidence_sum[b] += float(np.sum(conf[m]))
            self.correct[b] += int(hit[m].sum())
        return self

    def brier(self) -> float:
        return self.brier_sum / self.n if self.n else float("nan")

    def nll(self) -> float:
        return self.nll_sum / self.n if self.n else float("nan")

    def reliability(self) -> list[dict[str, float]]:
        """Per confidence bin: count, mean confidence, accuracy (for the ECE and the diagram)."""
        out = []
        for b in range(self.bins):
            cnt = int(self.count[b])
            out.append(
                {
                    "lo": b / self.bins,
                    "hi": (b + 1) / self.bins,
                    "count": cnt,
                    "confidence": float(self.confidence_sum[b] / cnt) if cnt else 0.0,
                    "accuracy": float(self.correct[b] / cnt) if cnt else 0.0,
                }
            )
        return out

    def ece(self) -> float:
        if self.n == 0:
            return float("nan")
        n = self.n
        return float(sum(b["count"] / n * abs(b["accuracy"] - b["confidence"]) for b in self.reliability()))

    def summary(self) -> dict[str, float]:
        return {"nll": self.nll(), "brier": self.brier(), "ece": self.ece(), "n": int(self.n)}


def brier(probs: np.ndarray, y: np.ndarray) -> float:
    return CalibrationTally().add(probs, y).brier()


def nll(probs: np.ndarray, y: np.ndarray) -> float:
    return CalibrationTally().add(probs, y).nll()


def reliability(probs: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> list[dict[str, float]]:
    """Per confidence bin: count, mean confidence, accuracy (for the ECE and the diagram)."""
    return CalibrationTally(bins).add(probs, y).reliability()


def ece(probs: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> float:
    return CalibrationTally(bins).add(probs, y).ece()


def calibration_summary(probs: np.ndarray, y: np.ndarray) -> dict[str, float]:
    return CalibrationTally().add(probs, y).summary()
