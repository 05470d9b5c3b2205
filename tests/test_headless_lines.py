"""The headless agent's bucket line reads as a person expects: the label the tray shows and
the model's confidence in *that* label; "unsure" when nothing is shown; "yours" for a
correction (no model confidence)."""

from __future__ import annotations

from dataclasses import replace

from store_helpers import prediction

from agent.headless import format_line
from agent.snapshot import AgentSnapshot
from engine.labels import LABEL_ORDER, MIXED_UNKNOWN


def _line(**changes: object) -> str:
    base = prediction(0, label="Build", conf=0.82)
    probs = {lab: (0.82 if lab == "Build" else 0.18 / 7) for lab in LABEL_ORDER}
    p = replace(base, model_id="run-1", mapped_probs=probs, **changes)  # type: ignore[arg-type]
    return format_line(AgentSnapshot(user_id="u1", last=p, last_app_category="editor"))


def test_an_accepted_bucket_shows_its_label_and_confidence() -> None:
    cells = _line().split()
    assert cells[2:] == ["editor", "Build", "82.0%", "run-1"]


def test_a_rejected_bucket_reads_unsure_without_a_percentage() -> None:
    line = _line(rejected=True, accepted_label=MIXED_UNKNOWN, smoothed_label=MIXED_UNKNOWN,
                 mapped_label=MIXED_UNKNOWN, confidence=0.125)
    assert line.split()[2:] == ["editor", "unsure", "-", "run-1"]
    assert "rejected" not in line and "%" not in line


def test_a_smoothed_label_is_shown_with_its_own_probability() -> None:
    # This bucket alone was unsure, but smoothing shows Build: the line says Build and the
    # probability this bucket gave Build, never "Build 12.5% rejected".
    line = _line(rejected=True, accepted_label=MIXED_UNKNOWN, confidence=0.125)
    assert line.split()[2:] == ["editor", "Build", "82.0%", "run-1"]
    assert "rejected" not in line


def test_a_correction_is_shown_as_the_users_own() -> None:
    base = prediction(0, label="Build", conf=0.82)
    snap = AgentSnapshot(user_id="u1", last=base, user_label_override="Write", last_app_category="editor")
    assert format_line(snap).split()[2:] == ["editor", "Write", "yours", "rules"]
