"""The trainer's steps as functions: train, calibrate, tune reject, evaluate, and all of them.

Each step takes an already loaded ``Frame`` so ``train all`` reads the store once. Steps that
follow training use the bundle's own split (``split`` in metadata.json): calibration and
threshold tuning on its calibration days (narrowed by ``--from/--to``; a range that reaches
into its training days is refused), evaluation on its test days. Nothing is written half: the
bundle and the calibrator store are written to temporary directories and renamed, the policy
and the report files atomically.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from engine.eligibility import usable_for_calibration
from engine.errors import ArtifactError, TaskclfError
from engine.frame import Frame
from trainer.calibrate import CalibrationFit, fit_store_calibrators
from trainer.eval_stream import frame_test_chunks, replay_evaluate, store_test_chunks
from trainer.evaluate import EvalTally
from trainer.splits import Split

Progress = Callable[[str], None]


def _noop(_: str) -> None:
    return None


def load_bundle_dir(home: Path, model_dir: str | Path) -> Any:
    """The bundle at ``model_dir`` (absolute, relative to cwd, or relative to the home)."""
    from engine.bundle import load_bundle

    p = Path(model_dir).expanduser()
    if not p.is_absolute() and not p.exists():
        p = home / p
    p = p.resolve()
    if not p.is_dir():
        raise ArtifactError(p, None, "not a model bundle directory (no such directory)")
    if not (p / "model.txt").is_file() or not (p / "metadata.json").is_file():
        raise ArtifactError(p, None, "not a model bundle (model.txt and metadata.json expected)")
    return load_bundle(p)


def bundle_split(bundle: Any) -> Split | None:
    obj = getattr(bundle, "split", None)
    if obj is None:
        return None
    return Split.from_json(obj, path=str(bundle.path / "metadata.json"))


def part_rows(
    frame: Frame,
    bundle: Any,
    part: str,
    start: date | None,
    end: date | None,
    *,
    labelled_only: bool = True,
) -> Frame:
    """Rows of the bundle's ``part`` days within [start, end]; refuses ranges with training days.

    Users outside the bundle's split (it never trained on them) calibrate on all their days, as
    ``taskclf personalize`` does (``engine.eligibility``)."""
    split = bundle_split(bundle)
    lo = start.toordinal() if start else -(10**9)
    hi = end.toordinal() if end else 10**9
    in_range = (frame.local_day >= lo) & (frame.local_day <= hi)
    if split is not None:
        if start is not None or end is not None:
            train_days = split.part_days("train")
            clash = in_range & frame.day_mask(train_days)
            if clash.any():
                i = int(np.flatnonzero(clash)[0])
                day = date.fromordinal(int(frame.local_day[i]))
                raise TaskclfError(
                    f"--from/--to include {day}, a training day of {frame.user_ids[i]} for bundle "
                    f"{bundle.run_id}: calibrating or tuning on training days would leak"
                )
        mask = in_range & frame.day_mask(split.part_days(part))
        if part == "calibration":  # a user the bundle never saw: every labelled day calibrates
            users = np.asarray(frame.user_ids, dtype=object)
            outside = sorted(set(frame.user_ids) - set(split.days))
            if outside:
                mask |= in_range & np.isin(users, np.asarray(outside, dtype=object))
    else:
        if start is None or end is None:
            raise TaskclfError(
                f"bundle {bundle.run_id} records no split: give --from and --to (days it was not trained on)"
            )
        mask = in_range
    if labelled_only:
        mask &= frame.y >= 0
    return frame.take(np.flatnonzero(mask))


def encode_for_bundle(bundle: Any, frame: Frame) -> np.ndarray:
    """The (N, F) model matrix in the bundle's feature order, with the engine's encoding rules
    (vocabulary code, unseen -> ``__unknown__`` code or missing; booleans 1/0; missing -> the
    bundle's missing value). A test checks it against ``bundle.encode_list`` row by row."""
    from engine.frame import NUMERIC_INDEX

    n = len(frame)
    miss = np.nan if bundle.missing_values == "nan" else 0.0
    x = np.empty((n, len(bundle.feature_names)), dtype=np.float64)
    masked = set(getattr(bundle, "masked_columns", ()))
    for j, name in enumerate(bundle.feature_names):
        if name in masked:
            x[:, j] = miss
        elif name in bundle.encoders:
            enc = bundle.encoders[name]
            unseen = enc.get("__unknown__", miss)
            x[:, j] = [miss if v is None else enc.get(v, unseen) for v in frame.categorical[name]]
        else:
            col = frame.numeric[:, NUMERIC_INDEX[name]]
            x[:, j] = np.where(np.isnan(col), miss, col)
    return x


def predict_raw(bundle: Any, frame: Frame) -> np.ndarray:
    """Raw (prior-corrected) probabilities, encoded by the bundle's rules as the engine does."""
    if len(frame) == 0:
        return np.zeros((0, bundle.n_classes))
    return np.asarray(bundle.predict_raw(encode_for_bundle(bundle, frame)))


# -- calibrate ------------------------------------------------------------------------------


@dataclass
class CalibrateOutcome:
    store_dir: Path
    fit: CalibrationFit
    rows: Frame
    raw: np.ndarray
    per_user: dict[str, Any] = field(default_factory=dict)


def calibrate(
    home: Path,
    frame: Frame,
    bundle: Any,
    *,
    method: str = "temperature",
    start: date | None = None,
    end: date | None = None,
    out_dir: Path | None = None,
    now: datetime | None = None,
    progress: Progress = _noop,
) -> CalibrateOutcome:
    from engine import metrics as M
    from engine.batch import calibrate_rows
    from engine.calibrator_store import new_store_dir, write_calibrator_store

    if method not in ("temperature", "isotonic"):
        raise TaskclfError(f"--method: unknown calibration method {method!r} (temperature or isotonic)")
    rows = part_rows(frame, bundle, "calibration", start, end)
    usable = np.array([usable_for_calibration(p) for p in rows.provenance], dtype=bool)
    rows = rows.take(np.flatnonzero(usable))
    if len(rows) == 0:
        raise TaskclfError("no human-labelled buckets on the calibration days: nothing to calibrate on")
    raw = predict_raw(bundle, rows)
    fit = fit_store_calibrators(method, raw, rows.y, rows.user_ids, rows.local_day, rows.provenance)
    for u in sorted(set(frame.user_ids) - set(rows.user_ids)):
        progress(f"{u}: no human labels on days the bundle did not train on: global calibrator")
    for u, e in sorted(fit.eligibility.items()):
        if not e.get("eligible"):
            progress(f"{u}: global calibrator ({e.get('reason')})")
    now = now or datetime.now(UTC)
    if out_dir is None:  # a new directory every time (the live policy's store is never touched)
        out_dir = new_store_dir(home, bundle.run_id, method, now)
    out_dir = Path(out_dir)  # an explicit --out that exists is refused by the writer
    store_dir = write_calibrator_store(
        out_dir, method=method, global_calibrator=fit.global_calibrator,
        user_calibrators=fit.user_calibrators, bundle=bundle, eligibility=fit.eligibility,
        provenance_counts=fit.provenance_counts, created_at=now.isoformat(),
    )
    after = calibrate_rows(raw, rows.user_ids, fit.global_calibrator, fit.user_calibrators)
    users_arr = np.asarray(rows.user_ids, dtype=object)
    per_user = {}
    for u in sorted(set(rows.user_ids)):
        m = users_arr == u
        per_user[u] = {
            **fit.eligibility.get(u, {}),
            "calibrator": "user" if u in fit.user_calibrators else "global",
            "before": M.calibration_summary(raw[m], rows.y[m]),
            "after": M.calibration_summary(after[m], rows.y[m]),
        }
    progress(f"calibrated ({method}): global + {len(fit.user_calibrators)} per-user calibrators "
             f"on {len(rows):,} buckets -> {store_dir}")
    return CalibrateOutcome(store_dir, fit, rows, raw, per_user)


# -- tune reject ------------------------------------------------------------------------------


@dataclass
class TuneOutcome:
    result: Any  # RejectResult
    policy_path: Path | None
    result_path: Path
    engine_reject_rate: float | None = None


def tune_reject(
    home: Path,
    frame: Frame,
    bundle: Any,
    store: Any,
    *,
    start: date | None = None,
    end: date | None = None,
    cost: float = 0.45,
    write_policy: bool = False,
    smooth_window: int = 3,
    source: str = "train tune-reject",
    now: datetime | None = None,
    progress: Progress = _noop,
) -> TuneOutcome:
    from engine.jsonio import atomic_write_json
    from engine.paths import reports_dir
    from trainer import TRAINER_VERSION
    from trainer.reject import oof_probs, tune

    if not 0.0 < cost < 1.0:
        raise TaskclfError(f"--reject-cost: must be within (0, 1), got {cost}")
    rows = part_rows(frame, bundle, "calibration", start, end)
    usable = np.array([usable_for_calibration(p) for p in rows.provenance], dtype=bool)
    rows = rows.take(np.flatnonzero(usable))
    if len(rows) == 0:
        raise TaskclfError("no human-labelled buckets on the calibration days: nothing to tune on")
    raw = predict_raw(bundle, rows)
    method = store.method if store is not None else "identity"
    cal_users = set(store.user_ids) if store is not None else set()
    if method == "identity":
        probs = raw.copy()
    else:
        elig = (store.meta.get("eligibility") or {}) if store is not None else {}
        own = {u: bool(e.get("own_fit", True)) for u, e in elig.items() if isinstance(e, dict) and u in cal_users}
        probs = oof_probs(method, raw, rows.y, rows.user_ids, rows.local_day, rows.provenance, cal_users,
                          own_choice=own)
    res = tune(probs, raw, rows.y, rows.user_ids, cal_users, cost=cost)
    for u in sorted(set(frame.user_ids) - set(rows.user_ids)):
        progress(f"{u}: no human labels on days the bundle did not train on: global reject threshold")
    for u in sorted(set(rows.user_ids) - set(res.per_user)):
        progress(f"{u}: global reject threshold (no per-user calibrator in the store)")
    now = now or datetime.now(UTC)
    out = res.to_json()
    out.update(model_bundle_id=bundle.run_id, calibrator_store=str(store.path) if store is not None else None,
               created_at=now.isoformat())
    result_path = reports_dir(home) / bundle.run_id / "reject_tuning.json"
    atomic_write_json(result_path, out)
    progress(f"reject threshold {res.global_threshold:.3f} (reject rate {res.global_row['reject_rate']:.1%} "
             f"out of fold), {len(res.per_user)} per-user thresholds")
    policy_path = None
    if write_policy:
        from engine.policy import policy_for
        from engine.policy import write_policy as _write

        pol = policy_for(
            home, bundle.path, store.path if store is not None else None, res.global_threshold,
            res.per_user or None, smooth_window, source, trainer_version=TRAINER_VERSION,
            created_at=now.isoformat(),
        )
        policy_path = _write(home, pol)
        progress(f"policy written: {policy_path}")
    return TuneOutcome(res, policy_path, result_path)


# -- evaluate ---------------------------------------------------------------------------------


def engine_factory(bundle: Any, store: Any, threshold: float, per_user: dict[str, float] | None,
                   smooth_window: int = 3) -> Callable[[], Any]:
    from engine.pipeline import Engine

    def make() -> Any:
        return Engine.from_artifacts(bundle, store, reject_threshold=threshold,
                                     per_user_thresholds=per_user or None, smooth_window=smooth_window)

    return make


def evaluate_bundle(
    source: Frame | Sequence[Any],
    bundle: Any,
    store: Any,
    *,
    threshold: float,
    per_user: dict[str, float] | None,
    smooth_window: int = 3,
    eligibility: dict[str, Any] | None = None,
    progress: Progress = _noop,
) -> dict[str, Any]:
    """Replay the bundle's test days through the engine and compute the report's metrics.

    ``source`` is a frame in memory or the stores to read; either way the test rows pass in
    bounded chunks (``trainer.eval_stream``)."""
    split = evaluation_split(bundle)
    elig = eligibility
    if elig is None and store is not None:
        elig = store.meta.get("eligibility") or {}
    tally = EvalTally.for_store(store, eligibility=elig or {}, holdout_users=split.holdout_users)
    progress(f"replaying the {split.sizes()['test']:,} test user-days through the engine")
    replay_evaluate(evaluation_chunks(source, split), engine_factory(bundle, store, threshold, per_user, smooth_window),
                    tally)
    if tally.with_label == 0:
        raise TaskclfError(f"bundle {bundle.run_id}: no labelled buckets on its test days: cannot evaluate")
    progress(f"  {tally.rows:,} test buckets, {tally.labelled:,} labelled")
    return tally.result()


def evaluation_split(bundle: Any) -> Split:
    """The bundle's split (its test days are what evaluation replays)."""
    split = bundle_split(bundle)
    if split is None:
        raise TaskclfError(f"bundle {bundle.run_id} records no split: it has no test days to evaluate on")
    return split


def evaluation_chunks(source: Frame | Sequence[Any], split: Split) -> Iterator[Frame]:
    """The split's test rows from a frame in memory or from stores, in bounded chunks."""
    days = split.part_days("test")
    if isinstance(source, Frame):
        return frame_test_chunks(source, days)
    return store_test_chunks(source, days)


def engine_reject_check(rows: Frame, raw: np.ndarray, bundle: Any, store: Any, threshold: float,
                        per_user: dict[str, float]) -> dict[str, Any]:
    """Reject rate on the calibration rows through the engine vs the trainer's vectorised copy."""
    from engine.batch import calibrate_rows, decide
    from engine.replay import replay

    probs = calibrate_rows(raw, rows.user_ids, store.global_calibrator, store.user_calibrators)
    _, conf = decide(probs, raw)
    thr = np.array([per_user.get(u, threshold) for u in rows.user_ids])
    mine = float((conf < thr).mean()) if len(conf) else 0.0
    rep = replay(rows, engine_factory(bundle, store, threshold, per_user))
    eng = float(rep.rejected.mean()) if len(rep.rejected) else 0.0
    return {"buckets": len(rows), "engine_reject_rate": eng, "trainer_reject_rate": mine,
            "identical": bool(np.array_equal(rep.rejected, conf < thr))}


# -- all ----------------------------------------------------------------------------------------


@dataclass
class AllOutcome:
    bundle_dir: Path
    store_dir: Path
    policy_path: Path | None
    report_dir: Path
    report: dict[str, Any]
    promoted: bool = True
    message: str = ""


def split_sizes(frame: Frame, split: Split) -> dict[str, dict[str, int]]:
    out = {}
    for part in ("train", "calibration", "test"):
        m = (frame.y >= 0) & frame.day_mask(split.part_days(part))
        out[part] = {"days": sum(len(v.get(part, [])) for v in split.days.values()), "buckets": int(m.sum())}
    return out


def train_all(
    home: Path,
    frame: Frame,
    *,
    seed: int = 0,
    holdout_users: int = 0,
    method: str = "temperature",
    cost: float = 0.45,
    params: Any = None,
    data_provenance: str = "store",
    progress: Progress = _noop,
) -> AllOutcome:
    """Train -> calibrate -> tune -> evaluate -> compare with what is deployed -> policy (only
    when the candidate is at least as good: ``trainer.promotion``) -> report."""
    from engine.calibrator_store import load_calibrator_store
    from engine.paths import models_dir, reports_dir
    from trainer.dataset import require_rows
    from trainer.report import write_report
    from trainer.splits import split_days
    from trainer.train_lgbm import TrainParams, train

    require_rows(frame)
    labelled = frame.y >= 0
    user_days: dict[str, set[date]] = {}
    for u, d in zip(np.asarray(frame.user_ids, dtype=object)[labelled], frame.local_day[labelled].tolist(),
                    strict=True):
        user_days.setdefault(u, set()).add(date.fromordinal(int(d)))
    split = split_days(user_days, holdout_users=holdout_users, seed=seed)
    unlabelled = sorted(set(frame.user_ids) - set(user_days))
    if unlabelled:
        progress(f"users without labelled days (not used): {', '.join(unlabelled)}")
    sizes = split_sizes(frame, split)
    progress(f"split: {sizes['train']['days']} train / {sizes['calibration']['days']} calibration / "
             f"{sizes['test']['days']} test user-days")
    if sizes["test"]["buckets"] == 0:
        raise TaskclfError("too little labelled history for a held-out test: each user needs at least "
                           "5 labelled days (or use --holdout-users)")
    params = params or TrainParams(seed=seed)
    res = train(frame, split, models_dir(home), params, data_provenance=data_provenance, log=progress)
    progress(f"bundle {res.run_id}: {res.best_iteration} rounds on {res.n_train_rows:,} buckets")
    from engine.bundle import load_bundle

    bundle = load_bundle(res.bundle_dir)
    cal = calibrate(home, frame, bundle, method=method, progress=progress)
    store = load_calibrator_store(cal.store_dir, bundle=bundle)
    tuned = tune_reject(home, frame, bundle, store, cost=cost, write_policy=False, source="train all",
                        progress=progress)
    res_t = tuned.result
    check = engine_reject_check(cal.rows, cal.raw, bundle, store, res_t.global_threshold, res_t.per_user)
    ev = evaluate_bundle(frame, bundle, store, threshold=res_t.global_threshold, per_user=res_t.per_user,
                         eligibility=cal.fit.eligibility, progress=progress)
    from trainer.promotion import compare_with_deployed, write_outcome

    decision = compare_with_deployed(home, frame, bundle, ev, progress=progress)
    policy_path = None
    if decision.promote:  # written only now, after the evaluation
        from engine.policy import policy_for, write_policy
        from trainer import TRAINER_VERSION

        pol = policy_for(home, bundle.path, store.path, res_t.global_threshold, res_t.per_user or None, 3,
                         "train all", trainer_version=TRAINER_VERSION)
        policy_path = write_policy(home, pol)
        progress(f"policy written: {policy_path}")
    report = {
        "run_id": bundle.run_id,
        "created_at": datetime.now(UTC).isoformat(),
        "model_dir": str(bundle.path),
        "calibrator_store": str(cal.store_dir),
        "policy": str(policy_path) if policy_path else None,
        "promotion": decision.to_json(),
        "users": len(frame.users()),
        "buckets": len(frame),
        "labelled_buckets": int(labelled.sum()),
        "split_sizes": sizes,
        "holdout_users": split.holdout_users,
        "training": {"dataset_hash": res.dataset_hash, "best_iteration": res.best_iteration,
                     "n_train_rows": res.n_train_rows, "seed": seed},
        "calibration": {"method": method, "eligibility": cal.fit.eligibility,
                        "provenance_counts": cal.fit.provenance_counts,
                        "per_user_calibration_days": cal.per_user},
        "reject": res_t.to_json(),
        "engine_check": check,
        "evaluation": ev,
    }
    report_dir = write_report(reports_dir(home) / bundle.run_id, report)
    write_outcome(home, decision, report_dir / "report.md")
    progress(decision.message)
    return AllOutcome(res.bundle_dir, cal.store_dir, policy_path, report_dir, report, decision.promote,
                      decision.message)


# -- retrain (the tray's "Retrain now" and `train all`) -------------------------------------------

#: A whole model needs labelled history from this many users with this many labelled days each
#: (docs/decisions.md): a model of one or two people generalises to nobody, and the split needs
#: 5 days per user for calibration and test days.
MIN_MODEL_USERS = 3
MIN_MODEL_DAYS = 5


def whole_model_shortfall(frame: Frame) -> str | None:
    """Why this home has too little labelled history for a whole model (None: enough)."""
    labelled = frame.y >= 0
    days: dict[str, set[int]] = {}
    for u, d in zip(np.asarray(frame.user_ids, dtype=object)[labelled], frame.local_day[labelled].tolist(),
                    strict=True):
        days.setdefault(u, set()).add(int(d))
    enough = sum(1 for v in days.values() if len(v) >= MIN_MODEL_DAYS)
    if enough >= MIN_MODEL_USERS:
        return None
    return (f"{enough} of {MIN_MODEL_USERS} users have {MIN_MODEL_DAYS} labelled days; "
            "a new model needs labelled history from several people")


@dataclass
class RetrainOutcome:
    outcome: str  # "promoted" | "kept" | "personalised"
    message: str
    result: AllOutcome | None = None


def retrain_home(home: Path, frame: Frame, *, seed: int = 0, holdout_users: int = 0, method: str = "temperature",
                 cost: float = 0.45, progress: Progress = _noop) -> RetrainOutcome:
    """A whole new model when the home has the data for one, promoted only when it is at least
    as good as what is deployed; otherwise per-user calibration of the deployed model."""
    from engine.paths import policy_path
    from trainer.promotion import write_outcome

    short = whole_model_shortfall(frame)
    if short is not None:
        if not policy_path(home).exists():
            raise TaskclfError(f"too little labelled history for a model: {short}")
        from engine.personalize import personalize

        out = personalize(home, method=method, progress=progress, strict=True)  # may only make things better
        done = "personalised instead" if out.changed else "tried personal tuning instead"
        msg = f"Too little labelled data for a new model ({short}); {done}: {out.message()}"
        write_outcome(home, None, None, message=msg)
        return RetrainOutcome("personalised" if out.changed else "kept", msg)
    res = train_all(home, frame, seed=seed, holdout_users=holdout_users, method=method, cost=cost,
                    progress=progress)
    msg = res.message if res.promoted else f"{res.message}; report: {res.report_dir / 'report.md'}"
    return RetrainOutcome("promoted" if res.promoted else "kept", msg, res)
