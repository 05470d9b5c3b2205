"""Failed quality gates in plain words: what the number means for the person using the tray.

The report lists each gate as a name, a value and a threshold; someone who just ran
``taskclf demo`` or ``taskclf train all`` should not need the spec to know what went wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _pct(v: float) -> str:
    return f"{v:.0%}"


def _num(v: float) -> str:
    return f"{v:.2f}"


#: gate -> (sentence with {v} for the measured value, how to format it)
_SENTENCES: dict[str, tuple[str, Any]] = {
    "macro_f1": ("on days it did not train on, the model names the kind of work right too rarely "
                 "when every kind counts the same (macro F1 {v}, needs 0.65): at least one kind "
                 "is poorly recognised", _num),
    "weighted_f1": ("on days it did not train on, the model names the kind of work right too "
                    "rarely overall (weighted F1 {v}, needs 0.70)", _num),
    "breakidle_precision": ("when it says you are on a break, you too often were not ({v} of "
                            "those minutes right, needs 95 %)", _pct),
    "breakidle_recall": ("it misses too many of your breaks ({v} found, needs 90 %)", _pct),
    "min_class_precision": ("at least one kind of work is claimed wrongly about as often as "
                            "rightly (worst precision {v}, needs 50 % for every kind)", _pct),
    "reject_rate": ("it says \"not sure\" (Mixed/Unknown) for {v} of minutes; between 5 % and "
                    "30 % is useful: fewer means it guesses when unsure, more means it rarely "
                    "tells you anything", _pct),
    "flap_rate_raw": ("its minute-by-minute guess changes too often ({v} of minutes, at most "
                      "25 %)", _pct),
    "flap_rate_smoothed": ("the label you would see still changes too often after smoothing "
                           "({v} of minutes, at most 15 %)", _pct),
    "calibration": ("its confidence numbers did not become honest enough after calibration "
                    "(Brier score {v} better; needs 5 %, or an ECE 20 % lower)", _pct),
    "seen_user_macro_f1": ("for people it trained on, it names the kind of work right too "
                           "rarely (macro F1 {v}, needs 0.70)", _num),
    "unseen_user_macro_f1": ("for new people it never saw, it names the kind of work right too "
                             "rarely (macro F1 {v}, needs 0.60)", _num),
    "per_user_calibration_eligibility": ("a personal calibration was fitted for someone with too "
                                         "few labels (needs 200 labelled minutes on 3 days with "
                                         "3 kinds of work)", None),
}


def explain_gate(name: str, gate: Mapping[str, Any]) -> str:
    """One plain sentence for one gate (a generic one for a gate this module does not know)."""
    value = gate.get("value")
    sentence, fmt = _SENTENCES.get(name, (None, None))
    if sentence is None:
        shown = "n/a" if value is None else value
        return f"{name} is {shown}, outside its target ({gate.get('threshold')})"
    shown = "n/a" if value is None or fmt is None else fmt(float(value))
    return sentence.format(v=shown)


def failed_in_plain_words(gates: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Sentences for the failed gates, in report order; empty when every gate passed."""
    return [f"{name}: {explain_gate(name, g)}" for name, g in gates.items() if g.get("status") == "FAIL"]
