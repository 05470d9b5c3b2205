"""Held-out evaluation through the online engine itself, and the quality gates (spec 5.6).

The test days of every user are replayed bucket by bucket through ``engine.pipeline.Engine``
(one engine per user, in time order, unlabelled buckets included so smoothing sees what it would
see online). Metrics use the records it returns, so the report describes exactly what the agent
would show.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from engine import metrics as M
from engine.batch import calibrate_rows
from engine.eligibility import usable_for_calibration
from engine.frame import Frame
from engine.labels import LABEL_ORDER, MIXED_UNKNOWN
from engine.replay import Replay

GATES: tuple[tuple[str, str], ...] = (
    ("macro_f1", ">= 0.65"),
    ("weighted_f1", ">= 0.70"),
    ("breakidle_precision", ">= 0.95"),
    ("breakidle_recall", ">= 0.90"),
    ("min_class_precision", ">= 0.50"),
    ("reject_rate", "0.05 .. 0.30"),
    ("flap_rate_raw", "<= 0.25"),
    ("flap_rate_smoothed", "<= 0.15"),
    ("calibration", "Brier -5 % or ECE -20 % vs raw"),
    ("seen_user_macro_f1", ">= 0.70"),
    ("unseen_user_macro_f1", ">= 0.60"),
    ("per_user_calibration_eligibility", "200 buckets, 3 days, 3 labels"),
)


def _gate(value: float | None, ok: bool | None, threshold: str, note: str | None = None,
          unsmoothed: float | None = None) -> dict[str, Any]:
    status = "N/A" if ok is None else ("PASS" if ok else "FAIL")
    out: dict[str, Any] = {"value": value, "threshold": threshold, "status": status}
    if unsmoothed is not None:
        out["unsmoothed"] = unsmoothed
    if note:
        out["note"] = note
    return out


def evaluate(
    frame: Frame,
    rep: Replay,
    *,
    global_calibrator: Any,
    user_calibrators: Mapping[str, Any],
    eligibility: Mapping[str, Mapping[str, Any]],
    holdout_users: list[str],
) -> dict[str, Any]:
    """All metrics and gates of the report for the replayed test rows."""
    usable = np.array([y >= 0 and usable_for_calibration(p) for y, p in zip(frame.y.tolist(), frame.provenance, strict=True)],
                      dtype=bool)
    y = frame.y[usable]
    pred = np.where(rep.rejected[usable], M.REJECTED, rep.core[usable])
    scores = M.classification_scores(y, pred, LABEL_ORDER)
    smoothed_idx = np.array([LABEL_ORDER.index(s) if s != MIXED_UNKNOWN else M.REJECTED
                             for s in np.asarray(rep.smoothed, dtype=object)[usable]], dtype=np.int64)
    smoothed_scores = M.classification_scores(y, smoothed_idx, LABEL_ORDER)
    raw_scores = M.classification_scores(y, rep.raw[usable].argmax(axis=1), LABEL_ORDER)
    reject_all = M.reject_rate(rep.rejected)
    reject_labelled = M.reject_rate(rep.rejected[usable])
    flap_raw = M.flap_rate(rep.accepted, frame.session_ids)
    flap_smooth = M.flap_rate(rep.smoothed, frame.session_ids)
    cal_raw = M.calibration_summary(rep.raw[usable], y)
    cal_after = M.calibration_summary(rep.probs[usable], y)
    users_arr = np.asarray(frame.user_ids, dtype=object)[usable]
    g_probs = calibrate_rows(rep.raw[usable], list(users_arr), global_calibrator, {})
    cal_global = M.calibration_summary(g_probs, y)

    per_user: dict[str, Any] = {}
    for u in sorted(set(frame.user_ids)):
        m = users_arr == u
        if not m.any():
            per_user[u] = {"test_buckets": 0}
            continue
        pu = np.where(rep.rejected[usable][m], M.REJECTED, rep.core[usable][m])
        su = M.classification_scores(y[m], pu, LABEL_ORDER)
        per_user[u] = {
            "test_buckets": int(m.sum()),
            "macro_f1": su["macro_f1"],
            "accuracy": su["accuracy"],
            "reject_rate": M.reject_rate(rep.rejected[usable][m]),
            "calibrator": "user" if u in user_calibrators else "global",
            "eligibility": dict(eligibility.get(u, {})),
            "raw": M.calibration_summary(rep.raw[usable][m], y[m]),
            "global": M.calibration_summary(g_probs[m], y[m]),
            "after": M.calibration_summary(rep.probs[usable][m], y[m]),
        }

    def class_figures(sc: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        pc = sc["per_class"]
        present = [lab for lab in LABEL_ORDER if pc[lab]["predicted"] > 0 or pc[lab]["support"] > 0]
        return min((pc[lab]["precision"] for lab in present), default=0.0), pc["BreakIdle"]

    # the gates score the label the user is shown (smoothed, after reject); the unsmoothed
    # figure (after reject) stands next to each
    min_prec, bi = class_figures(smoothed_scores)
    min_prec_u, bi_u = class_figures(scores)
    shown, unsm = smoothed_scores, scores
    brier_gain = (cal_raw["brier"] - cal_after["brier"]) / cal_raw["brier"] if cal_raw["brier"] > 0 else 0.0
    ece_gain = (cal_raw["ece"] - cal_after["ece"]) / cal_raw["ece"] if cal_raw["ece"] > 0 else 0.0
    hold = set(holdout_users)
    seen_m = np.array([u not in hold for u in users_arr], dtype=bool)
    seen_f1 = unseen_f1 = None
    if hold:
        seen_f1 = M.classification_scores(y[seen_m], pred[seen_m], LABEL_ORDER)["macro_f1"] if seen_m.any() else None
        unseen_f1 = (M.classification_scores(y[~seen_m], pred[~seen_m], LABEL_ORDER)["macro_f1"]
                     if (~seen_m).any() else None)
    elig_ok = all(
        e.get("buckets", 0) >= 200 and e.get("days", 0) >= 3 and e.get("labels", 0) >= 3
        for u, e in eligibility.items() if u in user_calibrators
    )
    n_eligible = sum(1 for e in eligibility.values() if e.get("eligible"))
    gates = {
        "macro_f1": _gate(shown["macro_f1"], shown["macro_f1"] >= 0.65, ">= 0.65",
                          unsmoothed=unsm["macro_f1"]),
        "weighted_f1": _gate(shown["weighted_f1"], shown["weighted_f1"] >= 0.70, ">= 0.70",
                             unsmoothed=unsm["weighted_f1"]),
        "breakidle_precision": _gate(bi["precision"], bi["precision"] >= 0.95, ">= 0.95",
                                     unsmoothed=bi_u["precision"]),
        "breakidle_recall": _gate(bi["recall"], bi["recall"] >= 0.90, ">= 0.90", unsmoothed=bi_u["recall"]),
        "min_class_precision": _gate(min_prec, min_prec >= 0.50, ">= 0.50 for every class",
                                     unsmoothed=min_prec_u),
        "reject_rate": _gate(reject_all, 0.05 <= reject_all <= 0.30, "0.05 .. 0.30"),
        "flap_rate_raw": _gate(flap_raw, flap_raw <= 0.25, "<= 0.25"),
        "flap_rate_smoothed": _gate(flap_smooth, flap_smooth <= 0.15, "<= 0.15"),
        "calibration": _gate(
            round(brier_gain, 6), brier_gain >= 0.05 or ece_gain >= 0.20,
            "Brier improvement >= 5 % or ECE >= 20 % lower than raw",
            note=f"Brier {cal_raw['brier']:.4f} -> {cal_after['brier']:.4f} ({brier_gain:+.1%}), "
            f"ECE {cal_raw['ece']:.4f} -> {cal_after['ece']:.4f} ({ece_gain:+.1%})",
        ),
        "seen_user_macro_f1": _gate(seen_f1, None if seen_f1 is None else seen_f1 >= 0.70, ">= 0.70",
                                    None if hold else "no holdout users"),
        "unseen_user_macro_f1": _gate(unseen_f1, None if unseen_f1 is None else unseen_f1 >= 0.60, ">= 0.60",
                                      None if hold else "no holdout users"),
        "per_user_calibration_eligibility": _gate(
            float(n_eligible), elig_ok, "200 buckets, 3 days, 3 labels",
            note=f"{len(user_calibrators)} per-user calibrators, {n_eligible} eligible users",
        ),
    }
    return {
        "test_buckets": int(len(frame)),
        "test_labelled_buckets": int(usable.sum()),
        "scores": scores,
        "scores_smoothed": smoothed_scores,
        "scores_raw_argmax": raw_scores,
        "reject_rate": reject_all,
        "reject_rate_labelled": reject_labelled,
        "flap_rate_raw": flap_raw,
        "flap_rate_smoothed": flap_smooth,
        "calibration": {"raw": cal_raw, "global": cal_global, "after": cal_after,
                        "brier_improvement": brier_gain, "ece_improvement": ece_gain},
        "reliability": {"raw": M.reliability(rep.raw[usable], y), "after": M.reliability(rep.probs[usable], y)},
        "per_user": per_user,
        "gates": gates,
        "failed_gates": [k for k, g in gates.items() if g["status"] == "FAIL"],
    }
