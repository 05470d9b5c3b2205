"""Per-user calibration against the deployed bundle (``taskclf personalize``).

The deployed bundle is the shared model; personalisation is per user on top of it. For each
user of the home, from the rows ``engine.eligibility`` counts (the user's own labels, leaving
out the days the bundle trained on): fit a calibrator and a reject threshold shrunk toward the
shared ones (``engine.personal_fit``, ``engine.personal_reject``), and check them day by day:
for every labelled day, the calibrator and threshold fitted on the *other* days replay that day
through the engine, next to what is deployed. The figures are those of the label the tray shows (smoothed, after reject).

A new calibrator store (bound to the same bundle) and the policy are written only when the
held-out NLL is lower and neither the shown accuracy nor the shown macro-F1 drops by more than
one point (see ``verdict``); otherwise what is deployed stays and the outcome says why in one
line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from engine import metrics as M
from engine.batch import calibrate_rows, decide
from engine.calibration import Calibrator, IdentityCalibrator
from engine.calibrator_store import CalibratorStore
from engine.eligibility import Eligibility, calibration_mask, eligibility, trained_days
from engine.errors import TaskclfError
from engine.fitters import fitter_for
from engine.frame import Frame
from engine.labels import LABEL_ORDER, MIXED_UNKNOWN
from engine.personal_reject import RateSample, ThresholdChoice, user_threshold
from engine.replay import replay
from engine.schema import SCHEMA_HASH_V2
from engine.temperature_fit import provenance_weights

MAX_SHOWN_DROP = 0.01  # shown accuracy / macro-F1 may not drop by more than one point
SOURCE = "personalize"


@dataclass
class Figures:
    """What the user would have seen on held-out days."""

    nll: float
    ece: float
    brier: float
    reject_rate: float
    shown_accuracy: float
    shown_macro_f1: float
    n: int

    def to_json(self) -> dict[str, Any]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


@dataclass
class UserOutcome:
    user_id: str
    eligibility: Eligibility
    status: str  # "personalised" | "kept" | "not_eligible"
    reason: str
    before: Figures | None = None
    after: Figures | None = None
    calibrator: Calibrator | None = None
    threshold: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id, "status": self.status, "reason": self.reason,
            "eligibility": self.eligibility.to_json(),
            "before": self.before.to_json() if self.before else None,
            "after": self.after.to_json() if self.after else None,
            "calibrator": self.calibrator.to_json() if self.calibrator is not None else None,
            "threshold": self.threshold,
        }


@dataclass
class Outcome:
    users: list[UserOutcome] = field(default_factory=list)
    store_dir: Path | None = None
    policy_path: Path | None = None
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return any(u.status == "personalised" for u in self.users)

    def message(self) -> str:
        """One plain line for the tray."""
        done = [u for u in self.users if u.status == "personalised"]
        if done:
            mins = sum(u.eligibility.minutes for u in done)
            verb = "Would personalise" if self.dry_run else "Personalised"
            return f"{verb} on {mins} labelled minutes"
        if not self.users:
            return "Not personalised: no labelled activity yet"
        u = self.users[0]
        return f"Not personalised: {u.reason}"

    def to_json(self) -> dict[str, Any]:
        return {"changed": self.changed, "dry_run": self.dry_run, "message": self.message(),
                "store_dir": str(self.store_dir) if self.store_dir else None,
                "policy": str(self.policy_path) if self.policy_path else None,
                "users": [u.to_json() for u in self.users]}


def memory_store(bundle: Any, global_cal: Calibrator, user_cals: Mapping[str, Calibrator],
                 method: str = "temperature") -> CalibratorStore:
    """A calibrator store bound to ``bundle`` that lives only in memory (for replays)."""
    meta = {"method": method, "user_ids": sorted(user_cals), "model_bundle_id": bundle.run_id,
            "model_schema_hash": SCHEMA_HASH_V2, "model_sha256": bundle.model_sha256,
            "label_order": list(bundle.label_order)}
    return CalibratorStore(path=Path("<memory>"), meta=meta, global_calibrator=global_cal,
                           user_calibrators=dict(user_cals))


def shown_index(smoothed: list[str]) -> np.ndarray:
    return np.array([LABEL_ORDER.index(s) if s != MIXED_UNKNOWN else M.REJECTED for s in smoothed],
                    dtype=np.int64)


def figures(probs: np.ndarray, rejected: np.ndarray, shown: np.ndarray, y: np.ndarray) -> Figures:
    cs = M.calibration_summary(probs, y)
    sc = M.classification_scores(y, shown, LABEL_ORDER)
    return Figures(nll=cs["nll"], ece=cs["ece"], brier=cs["brier"], reject_rate=M.reject_rate(rejected),
                   shown_accuracy=sc["accuracy"], shown_macro_f1=sc["macro_f1"], n=int(len(y)))


@dataclass
class _UserData:
    frame: Frame  # every bucket of the user (smoothing sees unlabelled ones too)
    raw: np.ndarray
    use: np.ndarray  # rows calibration uses
    w: np.ndarray  # provenance weight of every row (0 where unused)


def _fit(data: _UserData, rows: np.ndarray, method: str, global_cal: Calibrator, deployed_cal: Calibrator | None,
         deployed_thr: float, keep_rate: bool) -> tuple[Calibrator, ThresholdChoice]:
    """Calibrator and threshold from ``rows`` (a boolean mask of usable rows)."""
    raw, y, w = data.raw[rows], data.frame.y[rows], data.w[rows]
    uid = data.frame.user_ids[0]
    cal = fitter_for(method)(raw, y, w, global_cal, data.frame.local_day[rows])
    # every bucket of those days, labelled or not: what a threshold will reject
    on_days = np.isin(data.frame.local_day, np.unique(data.frame.local_day[rows]))
    every = data.raw[on_days]
    users = [uid] * len(every)
    _, conf = decide(calibrate_rows(every, users, global_cal, {uid: cal}), every)
    dep = calibrate_rows(every, users, global_cal, {uid: deployed_cal} if deployed_cal is not None else {})
    probs = calibrate_rows(raw, [uid] * len(y), global_cal, {uid: cal})
    sample = RateSample(conf, data.frame.local_day[on_days], decide(dep, every)[1] < deployed_thr)
    return cal, user_threshold(probs, raw, y, float(w.sum()), sample, keep_rate=keep_rate)


def _replay_days(data: _UserData, bundle: Any, day_mask: np.ndarray, global_cal: Calibrator,
                 cal: Calibrator | None, thr: float, global_thr: float, smooth_window: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(probs, rejected, shown) of the rows of ``day_mask`` replayed through the engine."""
    from engine.pipeline import Engine

    uid = data.frame.user_ids[0]
    sub = data.frame.take(np.flatnonzero(day_mask))
    store = memory_store(bundle, global_cal, {uid: cal} if cal is not None else {})

    def make() -> Engine:
        return Engine.from_artifacts(bundle, store, reject_threshold=global_thr,
                                     per_user_thresholds={uid: thr}, smooth_window=smooth_window)

    rep = replay(sub, make, raw_probs=data.raw[day_mask])
    return rep.probs, rep.rejected, shown_index(rep.smoothed)


def validate(data: _UserData, bundle: Any, method: str, global_cal: Calibrator, deployed_cal: Calibrator | None,
             deployed_thr: float, global_thr: float, smooth_window: int, keep_rate: bool = False
             ) -> tuple[Figures, Figures, float]:
    """Leave-one-day-out: (deployed, refitted-on-other-days) figures on every held-out day, and
    the mean lower edge of the folds' reject bands."""
    days = np.unique(data.frame.local_day[data.use])
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("bp", "br", "bs", "ap", "ar", "as", "y")}
    floors: list[float] = []
    for d in days.tolist():
        on_day = data.frame.local_day == d
        held = data.use & on_day
        cal, choice = _fit(data, data.use & ~on_day, method, global_cal, deployed_cal, deployed_thr, keep_rate)
        floors.append(choice.floor)
        keep = held[on_day]
        for tag, c, t in (("b", deployed_cal, deployed_thr), ("a", cal, choice.threshold)):
            probs, rej, shown = _replay_days(data, bundle, on_day, global_cal, c, t, global_thr, smooth_window)
            parts[tag + "p"].append(probs[keep])
            parts[tag + "r"].append(rej[keep])
            parts[tag + "s"].append(shown[keep])
        parts["y"].append(data.frame.y[held])
    y = np.concatenate(parts["y"])
    cat = {k: np.concatenate(v) for k, v in parts.items()}
    before = figures(cat["bp"], cat["br"], cat["bs"], y)
    after = figures(cat["ap"], cat["ar"], cat["as"], y)
    return before, after, float(np.mean(floors)) if floors else 0.0


def verdict(before: Figures, after: Figures, floor: float = 0.0, *, strict: bool = False) -> str | None:
    """None when the new calibration helps; else why not, in one line.

    A bucket rejected only to bring the deployed engine's reject rate up to the band's ``floor``
    (the per-user rate is kept within 5-30 %) costs the shown figures by rule, not because the
    calibration is worse: that share is allowed on top of the one point. ``strict`` ("Retrain
    now", which may only make things better): no shown figure may drop at all.
    """
    forced = max(0.0, min(after.reject_rate, floor) - before.reject_rate)
    allowed = 1e-9 if strict else MAX_SHOWN_DROP + forced
    if not after.nll < before.nll - 1e-9:
        return f"held-out NLL not lower ({before.nll:.3f} -> {after.nll:.3f}); kept what is deployed"
    if after.shown_accuracy < before.shown_accuracy - allowed:
        return (f"shown accuracy would drop ({before.shown_accuracy:.1%} -> {after.shown_accuracy:.1%}); "
                "kept what is deployed")
    if after.shown_macro_f1 < before.shown_macro_f1 - allowed:
        return (f"shown macro-F1 would drop ({before.shown_macro_f1:.3f} -> {after.shown_macro_f1:.3f}); "
                "kept what is deployed")
    return None


def personalize_user(frame: Frame, loaded: Any, method: str, strict: bool = False) -> UserOutcome:
    """Eligibility, day-by-day validation and (when it helps) the final fit for one user."""
    uid = frame.user_ids[0]
    bundle, store, pol = loaded.bundle, loaded.store, loaded.policy
    use = calibration_mask(frame.user_ids, frame.local_day, frame.y, frame.provenance, trained_days(bundle))
    elig = eligibility([uid] * int(use.sum()), frame.local_day[use], frame.y[use]).get(uid, Eligibility())
    if not elig.eligible:
        return UserOutcome(uid, elig, "not_eligible", f"not enough labels yet ({elig.reason})")
    fitter_for(method)
    raw = np.asarray(bundle.predict_features_batch([frame.features(i) for i in range(len(frame))]))
    w = np.where(use, provenance_weights(frame.provenance), 0.0)
    data = _UserData(frame, raw, use, w)
    global_cal: Calibrator = store.global_calibrator if store is not None else IdentityCalibrator()
    deployed_cal = store.user_calibrators.get(uid) if store is not None else None
    global_thr = float(pol.reject_threshold)
    deployed_thr = float((pol.per_user_reject_thresholds or {}).get(uid, global_thr))
    # the user's own reject rate first; if moving it would cost shown accuracy, the deployed rate
    first: tuple[Figures, Figures, str] | None = None
    for keep_rate in (False, True):
        before, after, floor = validate(data, bundle, method, global_cal, deployed_cal, deployed_thr, global_thr,
                                        pol.smooth_window, keep_rate)
        why = verdict(before, after, floor, strict=strict)
        if why is None:
            break
        first = first or (before, after, why)
    if why is not None:
        assert first is not None
        return UserOutcome(uid, elig, "kept", first[2], first[0], first[1])
    cal, choice = _fit(data, use, method, global_cal, deployed_cal, deployed_thr, keep_rate)
    return UserOutcome(uid, elig, "personalised", f"held-out NLL {before.nll:.3f} -> {after.nll:.3f}",
                       before, after, cal, choice.threshold)


def personalize(
    home: Path,
    *,
    user_id: str | None = None,
    method: str = "temperature",
    dry_run: bool = False,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
    strict: bool = False,
) -> Outcome:
    """Personalise every user of the home's store (or ``user_id``) against the deployed policy
    (``strict``: only where no shown figure drops on held-out days; see ``verdict``)."""
    from engine.frame_loader import user_frame
    from engine.paths import store_path
    from engine.policy import load_policy
    from engine.store import Store

    fitter_for(method)
    loaded = load_policy(home)
    spath = store_path(home)
    if not spath.is_file():
        raise TaskclfError(f"{spath}: no store yet (start the agent and label some activity first)")
    out = Outcome(dry_run=dry_run)
    with Store.open(spath, readonly=True) as store:
        users = [user_id] if user_id is not None else store.users()
        for u in users:
            frame = user_frame(store, u)
            if len(frame) == 0:
                out.users.append(UserOutcome(u, Eligibility(), "not_eligible", "no activity recorded"))
                continue
            if progress:
                progress(f"{u}: {len(frame):,} buckets")
            out.users.append(personalize_user(frame, loaded, method, strict))
    if out.changed and not dry_run:
        out.store_dir, out.policy_path = _publish(home, loaded, out, method, now or datetime.now(UTC))
    return out


def _publish(home: Path, loaded: Any, out: Outcome, method: str, now: datetime) -> tuple[Path, Path]:
    """A new store (the deployed one plus the new user calibrators), then the policy, atomically."""
    from engine.calibrator_store import new_store_dir, write_calibrator_store
    from engine.policy import policy_for, write_policy

    bundle, store, pol = loaded.bundle, loaded.store, loaded.policy
    user_cals: dict[str, Calibrator] = dict(store.user_calibrators) if store is not None else {}
    thresholds = dict(pol.per_user_reject_thresholds or {})
    elig: dict[str, Any] = dict((store.meta.get("eligibility") or {}) if store is not None else {})
    for u in out.users:
        if u.status == "personalised" and u.calibrator is not None and u.threshold is not None:
            user_cals[u.user_id] = u.calibrator
            thresholds[u.user_id] = u.threshold
            elig[u.user_id] = {**u.eligibility.to_json(), "own_fit": True, "source": SOURCE}
    store_dir = write_calibrator_store(
        new_store_dir(home, bundle.run_id, "personal", now), method=store.method if store is not None else method,
        global_calibrator=store.global_calibrator if store is not None else IdentityCalibrator(),
        user_calibrators=user_cals, bundle=bundle, eligibility=elig, created_at=now.isoformat(),
    )
    policy = policy_for(home, bundle.path, store_dir, pol.reject_threshold, thresholds, pol.smooth_window,
                        SOURCE, trainer_version=pol.trainer_version, created_at=now.isoformat())
    return store_dir, write_policy(home, policy)
