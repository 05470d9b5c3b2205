"""The report's metric definitions (spec 5.6), pinned on worked examples computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine import metrics as M

LABELS = ("A", "B", "C")


def test_rejected_bucket_is_a_miss_for_its_class_and_a_false_positive_for_none() -> None:
    # truth:  A A A B B C
    # pred:   A A - B A -      (- = rejected)
    y = np.array([0, 0, 0, 1, 1, 2])
    p = np.array([0, 0, -1, 1, 0, -1])
    s = M.classification_scores(y, p, LABELS)
    a, b, c = (s["per_class"][k] for k in LABELS)
    # A: tp 2, predicted 3 (the B bucket predicted A), support 3 -> P 2/3, R 2/3
    assert a["precision"] == pytest.approx(2 / 3) and a["recall"] == pytest.approx(2 / 3)
    # B: tp 1, predicted 1, support 2 -> P 1, R 1/2, F1 2/3
    assert b["precision"] == 1.0 and b["recall"] == 0.5 and b["f1"] == pytest.approx(2 / 3)
    # C: never predicted, support 1 -> P 0 (no false positive from the reject), R 0, F1 0
    assert c["precision"] == 0.0 and c["recall"] == 0.0 and c["predicted"] == 0
    assert s["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)
    assert s["weighted_f1"] == pytest.approx((3 * 2 / 3 + 2 * 2 / 3 + 0) / 6)
    assert s["accuracy"] == pytest.approx(3 / 6)
    assert s["rejected_by_class"] == [1, 0, 1]
    assert s["confusion_matrix"] == [[2, 0, 0], [1, 1, 0], [0, 0, 0]]


def test_macro_f1_leaves_out_classes_absent_from_truth_and_predictions() -> None:
    s = M.classification_scores(np.array([0, 1]), np.array([0, 1]), LABELS)
    assert s["macro_f1"] == 1.0


def test_reject_rate_counts_before_smoothing() -> None:
    assert M.reject_rate(np.array([True, False, False, True])) == 0.5
    assert M.reject_rate(np.array([], dtype=bool)) == 0.0


def test_flap_rate_counts_changes_inside_sessions_only() -> None:
    labels = ["A", "A", "B", "Mixed/Unknown", "B", "B"]
    sessions = ["s1", "s1", "s1", "s1", "s2", "s2"]
    # changes: A->B (1), B->Mixed (2); Mixed->B crosses sessions (not counted) -> 2 / 6
    assert M.flap_rate(labels, sessions) == pytest.approx(2 / 6)
    assert M.flap_rate([], []) == 0.0


def test_brier_and_nll_worked_example() -> None:
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]])
    y = np.array([0, 2])
    # row 1: 0.3^2 + 0.2^2 + 0.1^2 = 0.14; row 2: 0.1^2 + 0.8^2 + 0.9^2 = 1.46
    assert M.brier(p, y) == pytest.approx((0.14 + 1.46) / 2)
    assert M.nll(p, y) == pytest.approx((-math.log(0.7) - math.log(0.1)) / 2)


def test_ece_uses_15_equal_width_bins_weighted_by_count() -> None:
    # 4 buckets: confidences 0.9 (right), 0.9 (wrong), 0.5 (right), 0.5 (right)
    p = np.array([[0.9, 0.1], [0.9, 0.1], [0.5, 0.5], [0.5, 0.5]])
    y = np.array([0, 1, 0, 0])
    # bin of 0.9: acc 0.5 vs conf 0.9 -> 0.4, weight 1/2; bin of 0.5: acc 1 vs conf 0.5 -> 0.5, weight 1/2
    assert M.ece(p, y) == pytest.approx(0.5 * 0.4 + 0.5 * 0.5)
    bins = M.reliability(p, y)
    assert len(bins) == 15 and sum(b["count"] for b in bins) == 4
    # confidence 1.0 falls into the last bin
    assert M.reliability(np.array([[1.0, 0.0]]), np.array([0]))[-1]["count"] == 1


def test_perfect_predictions_have_zero_brier_and_ece() -> None:
    p = np.eye(3)
    y = np.array([0, 1, 2])
    assert M.brier(p, y) == 0.0 and M.ece(p, y) == 0.0
