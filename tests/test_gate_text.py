"""Failed quality gates explained in plain words (demo and train all)."""

from __future__ import annotations

from trainer.evaluate import GATES
from trainer.gate_text import explain_gate, failed_in_plain_words


def test_every_gate_of_the_report_has_its_own_sentence() -> None:
    for name, threshold in GATES:
        text = explain_gate(name, {"value": 0.5, "threshold": threshold, "status": "FAIL"})
        assert "outside its target" not in text, name  # not the generic fallback


def test_failed_gates_read_as_sentences_with_their_numbers() -> None:
    gates = {
        "macro_f1": {"value": 0.612, "threshold": ">= 0.65", "status": "FAIL"},
        "reject_rate": {"value": 0.41, "threshold": "0.05 .. 0.30", "status": "FAIL"},
        "breakidle_recall": {"value": 0.97, "threshold": ">= 0.90", "status": "PASS"},
        "seen_user_macro_f1": {"value": None, "threshold": ">= 0.70", "status": "N/A"},
    }
    assert failed_in_plain_words(gates) == [
        "macro_f1: on days it did not train on, the model names the kind of work right too rarely "
        "when every kind counts the same (macro F1 0.61, needs 0.65): at least one kind is poorly "
        "recognised",
        "reject_rate: it says \"not sure\" (Mixed/Unknown) for 41% of minutes; between 5 % and 30 % "
        "is useful: fewer means it guesses when unsure, more means it rarely tells you anything",
    ]
    assert failed_in_plain_words({k: v for k, v in gates.items() if v["status"] != "FAIL"}) == []


def test_an_unknown_gate_still_gets_a_sentence() -> None:
    text = explain_gate("new_gate", {"value": 3, "threshold": "<= 2", "status": "FAIL"})
    assert text == "new_gate is 3, outside its target (<= 2)"
