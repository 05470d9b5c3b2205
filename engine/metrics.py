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
    c = len(labels)
    cm = confusion(y_true, y_pred, c)
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
    n = int(len(y_true))
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


def brier(probs: np.ndarray, y: np.ndarray) -> float:
    p = np.asarray(probs, dtype=np.float64)
    if len(p) == 0:
        return float("nan")
    return float(np.mean(np.sum((p - _onehot(np.asarray(y), p.shape[1])) ** 2, axis=1)))


def nll(probs: np.ndarray, y: np.ndarray) -> float:
    p = np.asarray(probs, dtype=np.float64)
    if len(p) == 0:
        return float("nan")
    py = p[np.arange(len(p)), np.asarray(y)]
    return float(np.mean(-np.log(np.clip(py, 1e-12, None))))


def reliability(probs: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> list[dict[str, float]]:
    """Per confidence bin: count, mean confidence, accuracy (for the ECE and the diagram)."""
    p = np.asarray(probs, dtype=np.float64)
    conf = p.max(axis=1) if len(p) else np.zeros(0)
    correct = (p.argmax(axis=1) == np.asarray(y)) if len(p) else np.zeros(0, dtype=bool)
    idx = np.minimum((conf * bins).astype(np.int64), bins - 1)
    out = []
    for b in range(bins):
        m = idx == b
        cnt = int(m.sum())
        out.append(
            {
                "lo": b / bins,
                "hi": (b + 1) / bins,
                "count": cnt,
                "confidence": float(conf[m].mean()) if cnt else 0.0,
                "accuracy": float(correct[m].mean()) if cnt else 0.0,
            }
        )
    return out


def ece(probs: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> float:
    n = len(probs)
    if n == 0:
        return float("nan")
    return float(
        sum(b["count"] / n * abs(b["accuracy"] - b["confidence"]) for b in reliability(probs, y, bins))
    )


def calibration_summary(probs: np.ndarray, y: np.ndarray) -> dict[str, float]:
    return {"nll": nll(probs, y), "brier": brier(probs, y), "ece": ece(probs, y), "n": int(len(y))}
