"""Whether a freshly trained candidate replaces what is deployed ("Retrain now" / ``train all``).

A candidate (bundle + calibrators + thresholds) is promoted only if, on the held-out labelled
days of this home's users (its test days, which neither model tuned on), the label the user
would be shown (smoothed, after reject) is at least as accurate and its macro-F1 at least as
high as with the deployed engine, its NLL is not worse (when a model is deployed), and it fails
no quality gate that the deployed engine passes on the same days. With nothing deployed the
comparison is with the rules engine the tray runs then. The outcome (and where the report is)
goes to ``<home>/artifacts/last_training.json`` for the tray.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.frame import Frame

OUTCOME_FILE = "last_training.json"
EPS = 1e-9


@dataclass
class Promotion:
    promote: bool
    message: str
    deployed_kind: str  # "model" | "rules"
    candidate: dict[str, Any] = field(default_factory=dict)
    deployed: dict[str, Any] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"promoted": self.promote, "message": self.message, "deployed_kind": self.deployed_kind,
                "candidate": self.candidate, "deployed": self.deployed, "reasons": self.reasons}


def shown_figures(ev: dict[str, Any]) -> dict[str, Any]:
    sm = ev["scores_smoothed"]
    return {"shown_accuracy": sm["accuracy"], "shown_macro_f1": sm["macro_f1"],
            "nll": ev["calibration"]["after"]["nll"], "failed_gates": list(ev["failed_gates"])}


def _deployed_engine(home: Path) -> tuple[Callable[[], Any], str, Any]:
    from engine.errors import TaskclfError
    from engine.pipeline import Engine
    from engine.policy import load_policy_or_last_good

    try:
        loaded, _ = load_policy_or_last_good(home)
    except (TaskclfError, OSError):
        return Engine.rules, "rules", None
    return (lambda: Engine.from_loaded_policy(loaded)), "model", loaded


def compare_with_deployed(home: Path, frame: Frame, bundle: Any, ev: dict[str, Any], *,
                          progress: Callable[[str], None] | None = None) -> Promotion:
    from trainer.eval_stream import replay_evaluate
    from trainer.evaluate import EvalTally
    from trainer.workflow import evaluation_chunks, evaluation_split

    split = evaluation_split(bundle)
    make, kind, loaded = _deployed_engine(home)
    if progress:
        progress(f"replaying the same {split.sizes()['test']:,} test user-days through the deployed {kind} engine")
    store = loaded.store if loaded is not None else None
    tally = EvalTally.for_store(store, eligibility={}, holdout_users=split.holdout_users)
    dev = replay_evaluate(evaluation_chunks(frame, split), make, tally).result()
    cand, dep = shown_figures(ev), shown_figures(dev)
    reasons = reasons_against(cand, dep, kind)
    if reasons:
        msg = f"Kept the current model: the new one is not better ({reasons[0]})"
    else:
        msg = (f"New model deployed: shown accuracy {dep['shown_accuracy']:.1%} -> {cand['shown_accuracy']:.1%}, "
               f"macro-F1 {dep['shown_macro_f1']:.3f} -> {cand['shown_macro_f1']:.3f}")
    return Promotion(not reasons, msg, kind, cand, dep, reasons)


def reasons_against(cand: dict[str, Any], dep: dict[str, Any], kind: str) -> list[str]:
    """Why the candidate is not at least as good as what is deployed (empty: promote)."""
    reasons = []
    if cand["shown_accuracy"] < dep["shown_accuracy"] - EPS:
        reasons.append(f"shown accuracy {cand['shown_accuracy']:.1%} is below the deployed "
                       f"{dep['shown_accuracy']:.1%}")
    if cand["shown_macro_f1"] < dep["shown_macro_f1"] - EPS:
        reasons.append(f"shown macro-F1 {cand['shown_macro_f1']:.3f} is below the deployed "
                       f"{dep['shown_macro_f1']:.3f}")
    if kind == "model" and cand["nll"] > dep["nll"] + EPS:
        reasons.append(f"NLL {cand['nll']:.3f} is worse than the deployed {dep['nll']:.3f}")
    new_fail = [g for g in cand["failed_gates"] if g not in dep["failed_gates"]]
    if new_fail:
        reasons.append(f"fails gates the deployed engine passes: {', '.join(new_fail)}")
    return reasons


def write_outcome(home: Path, promotion: Promotion | None, report: Path | None, *,
                  message: str | None = None) -> Path:
    """The last training outcome, for the tray: one plain message and where the report is."""
    from engine.jsonio import atomic_write_json
    from engine.paths import artifacts_dir

    path = artifacts_dir(home) / OUTCOME_FILE
    text = message if message is not None else (promotion.message if promotion else "")
    if report is not None and promotion is not None and not promotion.promote:
        text = f"{text}; report: {report}"
    atomic_write_json(path, {"promoted": bool(promotion and promotion.promote), "message": text,
                             "report": str(report) if report else None,
                             "at": datetime.now(UTC).isoformat()})
    return path
