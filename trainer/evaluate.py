"""Held-out evaluation through the online engine itself, and the quality gates (spec 5.6).

The test days of every user are replayed bucket by bucket through ``engine.pipeline.Engine``
(one engine per user, in time order, unlabelled buckets included so smoothing sees what it would
see online). Metrics use the records it returns, so the report describes exactly what the agent
would show.

``EvalTally`` adds the figures up chunk by chunk (counts, confusion matrices, calibration sums
and bins, the last bucket for the flap rate), so a replay of any number of test days holds one
chunk at a time (``trainer.eval_stream``); ``evaluate`` is the one-chunk case.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine import metrics as M
from engine.batch import calibrate_rows
from engine.eligibility import usable_for_calibration
from engine.frame import Frame
from engine.labels import LABEL_ORDER
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


_C = len(LABEL_ORDER)
#: the shown label's class index; Mixed/Unknown (the reject) counts as no class
_SHOWN_INDEX = {lab: i for i, lab in enumerate(LABEL_ORDER)}


@dataclass
class _UserTally:
    """One user's labelled test buckets: unsmoothed confusion, rejects, calibration."""

    labelled: int = 0
    rejected: int = 0
    confusion: np.ndarray = field(default_factory=lambda: np.zeros((_C, _C + 1), dtype=np.int64))
    raw: M.CalibrationTally = field(default_factory=M.CalibrationTally)
    global_: M.CalibrationTally = field(default_factory=M.CalibrationTally)
    after: M.CalibrationTally = field(default_factory=M.CalibrationTally)


def _zeros() -> np.ndarray:
    return np.zeros((_C, _C + 1), dtype=np.int64)


class EvalTally:
    """The report's figures over chunks of replayed test rows, added as they come.

    A chunk is a ``Frame`` of one user's rows in time order with its ``Replay``; chunks arrive
    in (user, time) order. What is kept does not grow with the rows: confusion matrices (shown,
    unsmoothed, raw argmax; per user; seen and held-out users), reject and flap counts, and
    calibration sums and bins (``engine.metrics.CalibrationTally``)."""

    def __init__(self, *, global_calibrator: Any, user_calibrators: Mapping[str, Any],
                 eligibility: Mapping[str, Mapping[str, Any]], holdout_users: list[str]) -> None:
        self.global_calibrator = global_calibrator
        self.user_calibrators = user_calibrators
        self.eligibility = eligibility
        self.holdout = set(holdout_users)
        self.rows = self.labelled = self.rejected = self.rejected_labelled = 0
        self.with_label = 0  #: rows with a label, machine-made ones included
        self.flaps_raw = self.flaps_smoothed = 0
        self._last: tuple[str | None, str, str] | None = None  # (session, accepted, smoothed)
        self.unsmoothed, self.shown, self.raw_argmax = _zeros(), _zeros(), _zeros()
        self.seen, self.unseen = _zeros(), _zeros()
        self.cal_raw, self.cal_global, self.cal_after = (M.CalibrationTally() for _ in range(3))
        self.users: dict[str, _UserTally] = {}

    @classmethod
    def for_store(cls, store: Any, *, eligibility: Mapping[str, Mapping[str, Any]],
                  holdout_users: list[str]) -> EvalTally:
        """A tally scoring with the calibrators of ``store`` (identity when None)."""
        from engine.calibration import IdentityCalibrator

        return cls(global_calibrator=store.global_calibrator if store is not None else IdentityCalibrator(),
                   user_calibrators=store.user_calibrators if store is not None else {},
                   eligibility=eligibility, holdout_users=holdout_users)

    def add(self, chunk: Frame, rep: Replay) -> None:
        """Count one chunk (rows aligned with ``rep``)."""
        n = len(chunk)
        if n == 0:
            return
        self.rows += n
        self.with_label += int(np.count_nonzero(chunk.y >= 0))
        self.rejected += int(np.count_nonzero(rep.rejected))
        self._count_flaps(chunk.session_ids, rep.accepted, rep.smoothed)
        usable = np.array([y >= 0 and usable_for_calibration(p)
                           for y, p in zip(chunk.y.tolist(), chunk.provenance, strict=True)], dtype=bool)
        for u in dict.fromkeys(chunk.user_ids):
            self.users.setdefault(u, _UserTally())
        if not usable.any():
            return
        y = chunk.y[usable]
        rejected = rep.rejected[usable]
        pred = np.where(rejected, M.REJECTED, rep.core[usable])
        shown = np.array([_SHOWN_INDEX.get(s, M.REJECTED) for s in np.asarray(rep.smoothed, dtype=object)[usable]],
                         dtype=np.int64)
        raw, probs = rep.raw[usable], rep.probs[usable]
        users = np.asarray(chunk.user_ids, dtype=object)[usable]
        g_probs = calibrate_rows(raw, list(users), self.global_calibrator, {})
        self.labelled += len(y)
        self.rejected_labelled += int(np.count_nonzero(rejected))
        self.unsmoothed += M.confusion(y, pred, _C)
        self.shown += M.confusion(y, shown, _C)
        self.raw_argmax += M.confusion(y, raw.argmax(axis=1), _C)
        self.cal_raw.add(raw, y)
        self.cal_after.add(probs, y)
        self.cal_global.add(g_probs, y)
        for u in dict.fromkeys(users.tolist()):
            m = users == u
            t = self.users[u]
            cm = M.confusion(y[m], pred[m], _C)
            t.labelled += int(m.sum())
            t.rejected += int(np.count_nonzero(rejected[m]))
            t.confusion += cm
            t.raw.add(raw[m], y[m])
            t.global_.add(g_probs[m], y[m])
            t.after.add(probs[m], y[m])
            if u in self.holdout:
                self.unseen += cm
            else:
                self.seen += cm

    def _count_flaps(self, sessions: list[str | None], accepted: list[str], smoothed: list[str]) -> None:
        """Label changes between consecutive buckets of one session (``engine.metrics.flap_rate``),
        the bucket before the chunk included."""
        last = self._last
        for s, a, sm in zip(sessions, accepted, smoothed, strict=True):
            if last is not None and s is not None and s == last[0]:
                self.flaps_raw += a != last[1]
                self.flaps_smoothed += sm != last[2]
            last = (s, a, sm)
        self._last = last

    def _per_user(self, u: str, t: _UserTally) -> dict[str, Any]:
        if t.labelled == 0:
            return {"test_buckets": 0}
        su = M.scores_from_confusion(t.confusion, LABEL_ORDER)
        return {
            "test_buckets": t.labelled,
            "macro_f1": su["macro_f1"],
            "accuracy": su["accuracy"],
            "reject_rate": t.rejected / t.labelled,
            "calibrator": "user" if u in self.user_calibrators else "global",
            "eligibility": dict(self.eligibility.get(u, {})),
            "raw": t.raw.summary(),
            "global": t.global_.summary(),
            "after": t.after.summary(),
        }

    def result(self) -> dict[str, Any]:
        """All metrics and gates of the report."""
        scores = M.scores_from_confusion(self.unsmoothed, LABEL_ORDER)
        smoothed_scores = M.scores_from_confusion(self.shown, LABEL_ORDER)
        raw_scores = M.scores_from_confusion(self.raw_argmax, LABEL_ORDER)
        reject_all = self.rejected / self.rows if self.rows else 0.0
        reject_labelled = self.rejected_labelled / self.labelled if self.labelled else 0.0
        flap_raw = self.flaps_raw / self.rows if self.rows else 0.0
        flap_smooth = self.flaps_smoothed / self.rows if self.rows else 0.0
        cal_raw, cal_after, cal_global = self.cal_raw.summary(), self.cal_after.summary(), self.cal_global.summary()
        per_user = {u: self._per_user(u, self.users[u]) for u in sorted(self.users)}
        seen_f1 = unseen_f1 = None
        if self.holdout:
            seen_f1 = M.scores_from_confusion(self.seen, LABEL_ORDER)["macro_f1"] if self.seen.any() else None
            unseen_f1 = M.scores_from_confusion(self.unseen, LABEL_ORDER)["macro_f1"] if self.unseen.any() else None
        gates = _gates(scores, smoothed_scores, reject_all, flap_raw, flap_smooth, cal_raw, cal_after,
                       seen_f1, unseen_f1, bool(self.holdout), self.user_calibrators, self.eligibility)
        brier_gain, ece_gain = _gains(cal_raw, cal_after)
        return {
            "test_buckets": self.rows,
            "test_labelled_buckets": self.labelled,
            "scores": scores,
            "scores_smoothed": smoothed_scores,
            "scores_raw_argmax": raw_scores,
            "reject_rate": reject_all,
            "reject_rate_labelled": reject_labelled,
            "flap_rate_raw": flap_raw,
            "flap_rate_smoothed": flap_smooth,
            "calibration": {"raw": cal_raw, "global": cal_global, "after": cal_after,
                            "brier_improvement": brier_gain, "ece_improvement": ece_gain},
            "reliability": {"raw": self.cal_raw.reliability(), "after": self.cal_after.reliability()},
            "per_user": per_user,
            "gates": gates,
            "failed_gates": [k for k, g in gates.items() if g["status"] == "FAIL"],
        }


def _gains(cal_raw: Mapping[str, float], cal_after: Mapping[str, float]) -> tuple[float, float]:
    brier_gain = (cal_raw["brier"] - cal_after["brier"]) / cal_raw["brier"] if cal_raw["brier"] > 0 else 0.0
    ece_gain = (cal_raw["ece"] - cal_after["ece"]) / cal_raw["ece"] if cal_raw["ece"] > 0 else 0.0
    return brier_gain, ece_gain


def _gates(scores: dict[str, Any], smoothed_scores: dict[str, Any], reject_all: float, flap_raw: float,
           flap_smooth: float, cal_raw: Mapping[str, float], cal_after: Mapping[str, float],
           seen_f1: float | None, unseen_f1: float | None, hold: bool, user_calibrators: Mapping[str, Any],
           eligibility: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    def class_figures(sc: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        pc = sc["per_class"]
        present = [lab for lab in LABEL_ORDER if pc[lab]["predicted"] > 0 or pc[lab]["support"] > 0]
        return min((pc[lab]["precision"] for lab in present), default=0.0), pc["BreakIdle"]

    # the gates score the label the user is shown (smoothed, after reject); the unsmoothed
    # figure (after reject) stands next to each
    min_prec, bi = class_figures(smoothed_scores)
    min_prec_u, bi_u = class_figures(scores)
    shown, unsm = smoothed_scores, scores
    brier_gain, ece_gain = _gains(cal_raw, cal_after)
    elig_ok = all(
        e.get("buckets", 0) >= 200 and e.get("days", 0) >= 3 and e.get("labels", 0) >= 3
        for u, e in eligibility.items() if u in user_calibrators
    )
    n_eligible = sum(1 for e in eligibility.values() if e.get("eligible"))
    return {
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


def evaluate(
    frame: Frame,
    rep: Replay,
    *,
    global_calibrator: Any,
    user_calibrators: Mapping[str, Any],
    eligibility: Mapping[str, Mapping[str, Any]],
    holdout_users: list[str],
) -> dict[str, Any]:
    """All metrics and gates of the report for replayed test rows held in memory (one chunk)."""
    tally = EvalTally(global_calibrator=global_calibrator, user_calibrators=user_calibrators,
                      eligibility=eligibility, holdout_users=holdout_users)
    tally.add(frame, rep)
    return tally.result()
