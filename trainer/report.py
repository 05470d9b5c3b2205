"""The quality report: ``artifacts/reports/<run_id>/`` with report.json, report.md and plots.

The directory is assembled under a temporary name and renamed into place (a previous report of
the same run is replaced as a whole), so a reader never sees half a report.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from engine.jsonio import dumps
from engine.labels import LABEL_ORDER


def jsonable(obj: Any) -> Any:
    """Plain JSON values: numpy scalars to Python, NaN/inf to null (artifacts never hold NaN)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, bool | str) or obj is None:
        return obj
    if hasattr(obj, "item") and not isinstance(obj, int | float):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return obj


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1%}"


def _num(v: Any, digits: int = 3) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def render_markdown(rep: dict[str, Any]) -> str:
    ev = rep.get("evaluation") or {}
    lines = [f"# Quality report {rep.get('run_id', '')}", ""]
    lines.append(f"Created {rep.get('created_at', '')}; model `{rep.get('model_dir', '')}`; "
                 f"calibrator store `{rep.get('calibrator_store', '')}`.")
    lines.append("")
    failed = ev.get("failed_gates", [])
    lines.append("**Result: all gates pass.**" if not failed else
                 f"**Result: {len(failed)} gate(s) failed: {', '.join(failed)}.**")
    lines += ["", "## Gates", "", "Scored on the label the user is shown (smoothed, after reject), on test days "
              "(never used for early stopping, calibration or thresholds); the unsmoothed figure (after "
              "reject) stands next to it.", "",
              "| gate | shown | unsmoothed | threshold | status |", "|---|---|---|---|---|"]
    for name, g in (ev.get("gates") or {}).items():
        note = f" ({g['note']})" if g.get("note") else ""
        unsm = _num(g["unsmoothed"]) if g.get("unsmoothed") is not None else ""
        lines.append(f"| {name} | {_num(g.get('value'))} | {unsm} | {g['threshold']}{note} | {g['status']} |")
    promo = rep.get("promotion")
    if promo:
        lines += ["", f"**Deployment: {promo.get('message', '')}**"]
    split = rep.get("split_sizes") or {}
    lines += ["", "## Data and split", "",
              f"Users: {rep.get('users', 0)}; buckets: {rep.get('buckets', 0):,}; "
              f"labelled: {rep.get('labelled_buckets', 0):,}.", "",
              "| part | days | labelled buckets |", "|---|---|---|"]
    for part in ("train", "calibration", "test"):
        s = split.get(part, {})
        lines.append(f"| {part} | {s.get('days', 0)} | {s.get('buckets', 0):,} |")
    if rep.get("holdout_users"):
        lines.append(f"\nHoldout (unseen) users: {', '.join(rep['holdout_users'])}.")
    sc = ev.get("scores") or {}
    if sc:
        lines += ["", "## Test scores (after reject)", "",
                  f"Macro F1 {_num(sc.get('macro_f1'))}, weighted F1 {_num(sc.get('weighted_f1'))}, "
                  f"accuracy {_num(sc.get('accuracy'))}; reject rate {_pct(ev.get('reject_rate'))}; "
                  f"flap rate raw {_num(ev.get('flap_rate_raw'))} / smoothed {_num(ev.get('flap_rate_smoothed'))}.",
                  "", "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        for lab in LABEL_ORDER:
            c = sc["per_class"][lab]
            lines.append(f"| {lab} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} | {c['support']} |")
    cal = rep.get("calibration") or {}
    lines += ["", "## Calibration", "", f"Method: {cal.get('method', 'n/a')}; "
              f"provenance of calibration buckets: {cal.get('provenance_counts', {}).get('buckets', {})}; "
              f"correction/confirmation ratio: {cal.get('provenance_counts', {}).get('correction_confirmation_ratio')}.",
              "", "Per user (test days; NLL / Brier / ECE; 'global' = the global calibrator alone):", "",
              "| user | eligible | cal. buckets/days/labels | calibrator | raw | global | after | threshold |",
              "|---|---|---|---|---|---|---|---|"]
    thr = (rep.get("reject") or {}).get("per_user", {})
    for u, pu in (ev.get("per_user") or {}).items():
        e = pu.get("eligibility") or {}

        def trio(d: dict[str, Any] | None) -> str:
            if not d:
                return "n/a"
            return f"{d['nll']:.3f} / {d['brier']:.3f} / {d['ece']:.3f}"

        t = thr.get(u, {}).get("threshold")
        kind = pu.get("calibrator", "")
        if kind == "user":
            kind = "own fit" if e.get("own_fit", True) else "user (= global)"
        lines.append(
            f"| {u} | {'yes' if e.get('eligible') else 'no'} | {e.get('buckets', 0)}/{e.get('days', 0)}/"
            f"{e.get('labels', 0)} | {kind} | {trio(pu.get('raw'))} | "
            f"{trio(pu.get('global'))} | {trio(pu.get('after'))} | {_num(t) if t is not None else 'global'} |"
        )
    rj = rep.get("reject") or {}
    if rj:
        g = rj.get("global", {})
        lines += ["", "## Reject threshold", "",
                  f"Global threshold {_num(g.get('threshold'))} (cost c = {rj.get('reject_cost')}): out-of-fold "
                  f"reject rate {_pct(g.get('reject_rate'))}, accuracy on accepted {_pct(g.get('accuracy'))}, "
                  f"macro F1 on accepted {_num(g.get('macro_f1'))}."]
        chk = rep.get("engine_check")
        if chk:
            lines.append(f"Through the engine on the calibration buckets: reject rate {_pct(chk.get('engine_reject_rate'))} "
                         f"(final calibrators, vectorised: {_pct(chk.get('trainer_reject_rate'))}).")
        lines += ["", "Sweep (every 5th point):", "", "| threshold | reject rate | coverage | accuracy | macro F1 | risk |",
                  "|---|---|---|---|---|---|"]
        for row in rj.get("sweep", [])[::5]:
            lines.append(f"| {row['threshold']:.3f} | {row['reject_rate']:.3f} | {row['coverage']:.3f} | "
                         f"{row['accuracy']:.3f} | {row['macro_f1']:.3f} | {row['risk']:.4f} |")
    lines += ["", "## Plots", "", "![confusion](confusion_matrix.png)", "",
              "![reliability](reliability.png)", "", "![per-class F1](per_class_f1.png)", ""]
    return "\n".join(lines)


def write_report(report_dir: Path, rep: dict[str, Any]) -> Path:
    """Write report.json, report.md and the PNGs; keeps other files of the directory
    (e.g. reject_tuning.json) and replaces the whole directory at once."""
    from trainer import plots

    rep = jsonable(rep)
    report_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{report_dir.name}.", dir=report_dir.parent))
    try:
        if report_dir.is_dir():
            for f in report_dir.iterdir():
                if f.is_file() and f.name not in ("report.json", "report.md"):
                    shutil.copy2(f, tmp / f.name)
        ev = rep.get("evaluation") or {}
        sc = ev.get("scores")
        if sc:
            plots.confusion_png(sc["confusion_matrix"], LABEL_ORDER, tmp / "confusion_matrix.png",
                                "Confusion matrix (test days, rejected buckets left out)")
            plots.f1_png(sc["per_class"], LABEL_ORDER, tmp / "per_class_f1.png", "Per-class F1 (test, after reject)")
        rel = ev.get("reliability")
        if rel:
            plots.reliability_png(rel["raw"], rel["after"], tmp / "reliability.png",
                                  "Reliability: raw vs calibrated (test days)")
        (tmp / "report.json").write_text(dumps(rep), encoding="utf-8")
        (tmp / "report.md").write_text(render_markdown(rep), encoding="utf-8")
        os.chmod(tmp, 0o755)
        old = None
        if report_dir.exists():
            old = report_dir.with_name(f".{report_dir.name}.old.{os.getpid()}")
            os.rename(report_dir, old)
        os.rename(tmp, report_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return report_dir
