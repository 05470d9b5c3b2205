"""Reject-threshold tuning in the runtime's probability space (spec 5.5).

Out-of-fold calibrated probabilities: the calibration rows are cut into k = 5 folds (each user's
rows in time order, in k contiguous chunks); for each fold the global and per-user calibrators
are refitted on the other folds and applied to it, exactly as the engine applies them. The
sweep covers a 0.01 grid plus points between the confidence quantiles (midpoints, so no
candidate sits exactly on a bucket's confidence), and picks the threshold minimising Chow's risk
``(errors among accepted + c * rejected) / buckets`` subject to reject rate <= 30 %.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.batch import calibrate_rows, decide
from engine.personal_fit import bound_reject_rate, shrink_threshold
from engine.reject_sweep import MAX_REJECT_RATE, choose, sweep
from trainer.calibrate import fit_store_calibrators

K_FOLDS = 5
DEFAULT_COST = 0.45


def fold_ids(users: Sequence[str], k: int = K_FOLDS) -> np.ndarray:
    """Fold of each row: every user's rows (already in time order) in k contiguous chunks."""
    out = np.zeros(len(users), dtype=np.int64)
    users_arr = np.asarray(users, dtype=object)
    for u in sorted(set(users)):
        idx = np.flatnonzero(users_arr == u)
        for f, chunk in enumerate(np.array_split(idx, k)):
            out[chunk] = f
    return out


def oof_probs(
    method: str,
    raw: np.ndarray,
    y: np.ndarray,
    users: Sequence[str],
    days: np.ndarray,
    provenance: Sequence[str | None],
    calibrated_users: set[str],
    k: int = K_FOLDS,
    own_choice: dict[str, bool] | None = None,
) -> np.ndarray:
    """Calibrated probabilities of every row from calibrators that never saw its fold."""
    folds = fold_ids(users, k)
    out = np.empty_like(raw)
    users_l = list(users)
    prov_l = list(provenance)
    for f in range(k):
        test = folds == f
        if not test.any():
            continue
        tr = ~test
        tr_idx = np.flatnonzero(tr)
        fit = fit_store_calibrators(
            method, raw[tr], y[tr], [users_l[i] for i in tr_idx.tolist()], days[tr],
            [prov_l[i] for i in tr_idx.tolist()], eligible_users=None, own_choice=own_choice,
        )
        # the runtime uses a user calibrator exactly for the users of the final store
        user_cals = {u: c for u, c in fit.user_calibrators.items() if u in calibrated_users}
        missing = calibrated_users - set(user_cals)
        if missing:  # eligible on all rows but not on k-1 folds: fit on what there is
            from engine.temperature_fit import provenance_weights
            from trainer.calibrate import fit_calibrator

            users_arr = np.asarray([users_l[i] for i in tr_idx], dtype=object)
            for u in sorted(missing):
                m = users_arr == u
                if m.any():
                    w = provenance_weights([prov_l[i] for i in tr_idx[m].tolist()])
                    own = True if own_choice is None else own_choice.get(u, True)
                    user_cals[u] = fit_calibrator(method, raw[tr][m], y[tr][m], w) if own else fit.global_calibrator
        te_idx = np.flatnonzero(test)
        out[test] = calibrate_rows(raw[test], [users_l[i] for i in te_idx], fit.global_calibrator, user_cals)
    return out


@dataclass
class RejectResult:
    global_threshold: float
    global_row: dict[str, float]
    per_user: dict[str, float]
    per_user_rows: dict[str, dict[str, float]]
    sweep: list[dict[str, float]]
    per_user_sweeps: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    cost: float = DEFAULT_COST
    n_rows: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "reject_cost": self.cost,
            "max_reject_rate": MAX_REJECT_RATE,
            "k_folds": K_FOLDS,
            "n_rows": self.n_rows,
            "global": {"threshold": self.global_threshold, **self.global_row},
            "per_user": {u: {"threshold": t, **self.per_user_rows[u]} for u, t in sorted(self.per_user.items())},
            "sweep": self.sweep,
            "per_user_sweeps": self.per_user_sweeps,
        }


def tune(
    probs_oof: np.ndarray,
    raw: np.ndarray,
    y: np.ndarray,
    users: Sequence[str],
    per_user_users: set[str],
    *,
    cost: float = DEFAULT_COST,
) -> RejectResult:
    """Global threshold on all rows; per-user thresholds for the given users on their own rows."""
    pred, conf = decide(probs_oof, raw)
    rows = sweep(conf, pred, y, cost)
    best = choose(rows)
    users_arr = np.asarray(users, dtype=object)
    per_user: dict[str, float] = {}
    per_rows: dict[str, dict[str, float]] = {}
    per_sweeps: dict[str, list[dict[str, float]]] = {}
    for u in sorted(per_user_users):
        m = users_arr == u
        if not m.any():
            continue
        urows = sweep(conf[m], pred[m], y[m], cost)
        ub = choose(urows)
        # shrunk toward the global threshold by the user's amount of data (engine.personal_fit)
        t = bound_reject_rate(shrink_threshold(ub["threshold"], best["threshold"], float(m.sum())), conf[m])
        per_user[u] = t
        per_rows[u] = {**{k: v for k, v in ub.items() if k != "threshold"}, "own_threshold": ub["threshold"],
                       "reject_rate": float((conf[m] < t).mean())}
        per_sweeps[u] = urows
    return RejectResult(
        global_threshold=best["threshold"],
        global_row={k: v for k, v in best.items() if k != "threshold"},
        per_user=per_user,
        per_user_rows=per_rows,
        sweep=rows,
        per_user_sweeps=per_sweeps,
        cost=cost,
        n_rows=int(len(y)),
    )
