"""``taskclf personalize``: refit each user's calibrator and reject threshold against the
deployed bundle (in every install, the agent-only one included; see engine.personalize)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--user-id", default=None, help="only this user (default: every user of the home)")
    p.add_argument("--method", choices=("temperature", "isotonic"), default="temperature",
                   help="temperature (any install) or isotonic (needs taskclf[trainer])")
    p.add_argument("--dry-run", action="store_true", help="validate and report; write nothing")
    p.add_argument("--json", action="store_true", help="print the outcome as one JSON object")


def _pct(v: float) -> str:
    return f"{v:.1%}"


ROWS: tuple[tuple[str, str, Any], ...] = (
    ("NLL", "nll", lambda v: f"{v:.3f}"),
    ("ECE", "ece", lambda v: f"{v:.3f}"),
    ("Brier", "brier", lambda v: f"{v:.3f}"),
    ("reject rate", "reject_rate", _pct),
    ("shown accuracy", "shown_accuracy", _pct),
    ("shown macro-F1", "shown_macro_f1", lambda v: f"{v:.3f}"),
)


def render(out: Any) -> str:
    lines = []
    for u in out.users:
        e = u.eligibility
        lines.append(f"{u.user_id}: {e.minutes} labelled minutes on {e.days} days the model did not train on")
        if u.before is not None and u.after is not None:
            lines.append(f"  {'held-out days':<16}{'deployed':>10}{'personal':>10}")
            for name, key, fmt in ROWS:
                lines.append(f"  {name:<16}{fmt(getattr(u.before, key)):>10}{fmt(getattr(u.after, key)):>10}")
        lines.append(f"  -> {u.status.replace('_', ' ')}: {u.reason}")
    if out.store_dir is not None:
        lines.append(f"calibrator store: {out.store_dir}")
    if out.policy_path is not None:
        lines.append(f"policy written: {out.policy_path}")
    lines.append(out.message())
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from engine.paths import resolve_home
    from engine.personalize import personalize

    home = resolve_home(None)
    out = personalize(home, user_id=args.user_id, method=args.method, dry_run=args.dry_run)
    if args.json:
        sys.stdout.write(json.dumps(out.to_json(), sort_keys=True) + "\n")
    else:
        sys.stdout.write(render(out) + "\n")
    return 0
