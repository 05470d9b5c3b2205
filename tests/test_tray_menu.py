"""The tray menu model: every state of spec 6.4 and every action, without a display."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tray_fakes import LEARNING_DONE, NOW, block, model_status, record, snap

from agent.snapshot import AgentSnapshot, LearningProgress, ModelStatus
from agent.tray.menu_model import Action, MenuContext, MenuModel, build_menu
from engine.labels import CORE_LABELS, MIXED_UNKNOWN

CTX = MenuContext(now=NOW, tz=UTC)


def texts(model, key):
    return [i.text for i in model.find(key).submenu]


def checked_labels(model):
    return [i.text for i in model.find("correct").submenu if i.checked]


def test_starting() -> None:
    m = build_menu(snap("starting"), CTX)
    assert m.header == "Starting…"
    assert not m.has("block")
    assert m.find("confirm").enabled is False and m.find("confirm").action is None
    assert m.find("correct").enabled is False
    assert m.find("model.status").text == "Starting…"
    assert not m.has("learning")  # nothing to say before the engine is up
    assert m.tooltip == "taskclf — starting…"
    assert m.block_id is None


def test_rules() -> None:
    m = build_menu(snap("rules", learning=LEARNING_DONE), CTX)
    assert m.header == "Rules: Build"
    assert m.find("model.status").text == "Rules (no model yet)"
    assert m.tooltip == "taskclf — Build (rules) since 10:42"


def test_model() -> None:
    m = build_menu(snap("model"), CTX)
    assert m.header == "Now: Build · 82%"
    assert m.find("header").enabled is False and m.find("header").default is True
    assert m.find("block").text == "Since 10:42 (35 min)"
    assert m.find("confirm").enabled
    assert m.find("confirm").action == Action("confirm", block_id=7, label="Build")
    assert checked_labels(m) == ["Build"]
    assert all(i.radio for i in m.find("correct").submenu)
    assert m.find("model.status").text == "run-a · calibrated (user) · threshold 0.55"
    assert m.tooltip == "taskclf — Build (82 %) since 10:42"
    assert m.shown_label == "Build" and m.block_id == 7


def test_calibration_text_follows_the_last_prediction() -> None:
    # the status says per-user, but this model's last bucket fell back to the global calibrator
    s = snap("model", last=replace(record(), calibrator="global (user degenerate)"))
    assert build_menu(s, CTX).find("model.status").text == "run-a · calibrated (global) · threshold 0.55"
    s2 = snap("model", last=replace(record(), calibrator="identity"))
    assert build_menu(s2, CTX).find("model.status").text == "run-a · not calibrated · threshold 0.55"
    s3 = snap("model", last=replace(record(), calibrator="user"),
              model=model_status(calibrated_for_user=False))
    assert build_menu(s3, CTX).find("model.status").text.startswith("run-a · calibrated (user)")
    # a prediction from the previous model says nothing about the new one
    s4 = snap("model", last=replace(record(), model_id="old", calibrator="identity"))
    assert build_menu(s4, CTX).find("model.status").text.startswith("run-a · calibrated (user)")
    s5 = snap("model", last=replace(record(), model_id="old"), model=model_status(calibrated_for_user=False))
    assert build_menu(s5, CTX).find("model.status").text == "run-a · threshold 0.55"


def test_model_global_calibration_and_last_good() -> None:
    s = snap("model", model=model_status(calibrated_for_user=False, threshold=0.4, last_good_in_use=True),
             last=record(calibrator="global"))
    m = build_menu(s, CTX)
    assert m.find("model.status").text == "run-a · calibrated (global) · threshold 0.40"
    assert m.find("model.last_good").text == "Using the last good policy"


def test_rejected_is_mixed_unknown() -> None:
    m = build_menu(snap("rejected"), CTX)
    assert m.header == "Now: Mixed/Unknown"
    assert m.find("confirm").enabled is False  # nothing to confirm
    assert m.find("correct").enabled is True  # but the user can say what it was
    assert checked_labels(m) == []
    assert m.tooltip == "taskclf — Mixed/Unknown since 10:42"


def test_paused_until_time_and_forever() -> None:
    m = build_menu(snap("paused"), CTX)
    assert m.header == "Paused until 11:32"
    assert m.has("resume") and not m.has("pause")
    assert m.find("resume").action == Action("resume")
    assert m.find("confirm").enabled is False and m.find("correct").enabled is False
    assert m.find("label_last").enabled is False
    assert not m.has("block") and m.block_id is None
    assert m.tooltip == "taskclf — paused until 11:32"
    m2 = build_menu(snap("paused", paused_until="forever"), CTX)
    assert m2.header == "Paused"


def test_policy_refused_keeps_model_and_says_why() -> None:
    m = build_menu(snap("refused"), CTX)
    assert m.header == "Now: Build · 82%"
    assert m.find("model.error").text.startswith("⚠ models/inference_policy.json: model_dir")
    assert m.find("warning.0").text.startswith("⚠ Model refused: ")
    assert m.find("warning.0").enabled is False
    assert "⚠ Model refused" in m.tooltip


def test_taxonomy_names() -> None:
    m = build_menu(snap("taxonomy"), CTX)
    assert m.header == "Now: Deep Work (Build) · 82%"
    assert m.tooltip == "taskclf — Deep Work (Build) (82 %) since 10:42"
    # corrections stay in the core labels the model learns from
    assert texts(m, "correct") == list(CORE_LABELS)


def test_user_correction_is_shown_until_runtime_drops_it() -> None:
    m = build_menu(snap("model", user_label_override="Debug"), CTX)
    assert m.header == "Now: Debug · your label"
    assert checked_labels(m) == ["Debug"]
    assert m.find("confirm").action == Action("confirm", block_id=7, label="Debug")


def test_confidence_is_that_of_the_shown_label() -> None:
    # smoothing keeps the block on Build while this bucket's argmax is Debug (p=0.6)
    s = snap("model", last=replace(record("Debug", 0.6), smoothed_label="Build"))
    m = build_menu(s, CTX)
    assert m.header == "Now: Build"  # no misleading percentage for a label the model did not pick
    assert m.tooltip == "taskclf — Build since 10:42"


def test_no_block_yet_uses_last_record() -> None:
    m = build_menu(snap("model", current_block=None), CTX)
    assert m.header == "Now: Build · 82%"
    assert not m.has("block")
    assert m.find("confirm").enabled is False  # no block to bind a confirmation to


def test_learning_line_until_complete() -> None:
    lp = LearningProgress(labelled_buckets=143, labelled_days=2, distinct_labels=4)
    m = build_menu(snap("model", learning=lp), CTX)
    assert m.find("learning").text == "Personal tuning: 143 of 200 labelled minutes, 2 of 3 days"
    assert not build_menu(snap("model", learning=LEARNING_DONE), CTX).has("learning")


def test_today_newest_first_read_only() -> None:
    blocks = (
        block("Build", block_id=1, start="2026-02-23T09:02:00+00:00", end="2026-02-23T10:15:00+00:00"),
        block("Meet", block_id=2, start="2026-02-23T10:15:00+00:00", end="2026-02-23T10:40:00+00:00"),
    )
    m = build_menu(snap("model", today_blocks=blocks), CTX)
    assert texts(m, "today") == ["Open today's timeline", "", "10:15–10:40 Meet", "09:02–10:15 Build"]
    assert m.find("today.timeline").action == Action("open_timeline")
    assert not any(i.enabled for i in m.find("today").submenu[2:])
    assert texts(build_menu(snap("starting"), CTX), "today")[2:] == ["Nothing yet today"]


def test_display_timezone_is_applied() -> None:
    m = build_menu(snap("model"), replace(CTX, tz=timezone(timedelta(hours=2))))
    assert m.find("block").text == "Since 12:42 (35 min)"


def test_prompt_item_only_while_pending() -> None:
    assert not build_menu(snap("model"), CTX).has("prompt")
    s = snap("model", pending_prompt="2026-02-23T14:05:00+00:00")
    m = build_menu(s, CTX)
    assert m.find("prompt").text == "What were you doing at 14:05?"
    assert m.find("prompt.Meet").action == Action(
        "answer_prompt", bucket_start="2026-02-23T14:05:00+00:00", label="Meet")
    # a prompt scheduled by the tray (notifications module) shows the same way
    m2 = build_menu(snap("model"), replace(CTX, pending_prompt="2026-02-23T09:30:00+00:00"))
    assert m2.find("prompt").text == "What were you doing at 09:30?"


def test_warnings_saving_and_notice() -> None:
    s = snap("model", config_warnings=("config.toml: sample_seconds: must be > 0; using 1",),
             store_error="The data folder is read-only", saving=True, sampler_backend="none",
             taxonomy_warning="taxonomy.toml: line 3: unknown label 'Foo'")
    m = build_menu(s, replace(CTX, notice="✓ Saved: Debug since 10:42"))
    assert m.find("saving").text == "Saving…"
    assert m.find("notice").text == "✓ Saved: Debug since 10:42"
    warn = [i.text for _, i in m.walk() if i.key.startswith("warning.")]
    assert warn == [
        "⚠ The data folder is read-only",
        "⚠ No activity sampler works on this desktop",
        "⚠ taxonomy.toml: line 3: unknown label 'Foo'",
        "⚠ config.toml: sample_seconds: must be > 0; using 1",
    ]


def test_every_action_is_bound() -> None:
    m = build_menu(snap("model", pending_prompt="2026-02-23T10:05:00+00:00"),
                   replace(CTX, trainer_available=True, autostart_enabled=True))
    actions = {i.key: i.action for _, i in m.walk() if i.action is not None}
    assert actions["confirm"] == Action("confirm", block_id=7, label="Build")
    for lab in CORE_LABELS:
        assert actions[f"correct.{lab}"] == Action("correct", block_id=7, label=lab)
        assert actions[f"prompt.{lab}"].kind == "answer_prompt"
        for mins in (5, 15, 30, 60):
            assert actions[f"label_last.{mins}.{lab}"] == Action("label_last", minutes=mins, label=lab)
    assert actions["pause.900"] == Action("pause", seconds=900.0)
    assert actions["pause.3600"] == Action("pause", seconds=3600.0)
    assert actions["pause.forever"] == Action("pause", seconds=None)
    assert actions["model.reload"] == Action("reload")
    assert actions["model.retrain"] == Action("retrain")
    assert actions["open_folder"] == Action("open_folder")
    assert actions["autostart"] == Action("autostart", enable=False)
    assert m.find("autostart").checked is True
    assert actions["quit"] == Action("quit")


def test_retrain_greyed_without_trainer_and_autostart_unavailable() -> None:
    m = build_menu(snap("model"), replace(CTX, autostart_available=False))
    assert m.find("model.retrain").enabled is False
    assert m.find("model.retrain").action is None
    assert m.find("autostart").enabled is False
    assert m.find("autostart").action == Action("autostart", enable=True)


def test_block_id_captured_at_build_time() -> None:
    old = build_menu(snap("model"), CTX)
    new = build_menu(snap("model", current_block=block("Meet", block_id=8)), CTX)
    assert old.find("correct.Write").action.block_id == 7
    assert new.find("correct.Write").action.block_id == 8


def test_keyboard_steps_skip_disabled_items() -> None:
    m = build_menu(snap("model"), CTX)
    # header and block line are disabled: the first Down lands on "Yes, that's right"
    assert m.keyboard_steps("confirm") == ["Down", "Return"]
    assert m.keyboard_steps("correct.Debug") == ["Down", "Down", "Right", "Down", "Return"]
    assert m.keyboard_steps("pause.900") == ["Down"] * 5 + ["Right", "Return"]
    m2 = build_menu(snap("rejected"), CTX)  # confirm is disabled now
    assert m2.keyboard_steps("correct.Build") == ["Down", "Right", "Return"]
    with pytest.raises(ValueError, match="cannot be reached"):
        m2.keyboard_steps("confirm")


def test_json_dump_round_trips() -> None:
    m = build_menu(snap("taxonomy", pending_prompt="2026-02-23T10:05:00+00:00"), CTX)
    data = json.loads(json.dumps(m.to_json()))
    assert data["header"] == m.header
    top = [i["key"] for i in data["items"]]
    assert top[:3] == ["header", "block", "confirm"]
    correct = next(i for i in data["items"] if i["key"] == "correct")
    assert [c["text"] for c in correct["submenu"] if c.get("checked")] == ["Build"]
    assert {"key": "sep.1", "separator": True} in data["items"]
    back = MenuModel.from_json(data)
    assert back.items == m.items and back.header == m.header
    assert back.keyboard_steps("correct.Meet") == m.keyboard_steps("correct.Meet")


# ---------------------------------------------------------------- invariants over any snapshot

labels = st.sampled_from([*CORE_LABELS, MIXED_UNKNOWN])


@st.composite
def snapshots(draw: st.DrawFn) -> AgentSnapshot:
    kind = draw(st.sampled_from(["starting", "rules", "model"]))
    lab = draw(labels)
    has_block = draw(st.booleans())
    last = record(lab, draw(st.floats(0.0, 1.0)), rejected=lab == MIXED_UNKNOWN) if kind != "starting" or draw(st.booleans()) else None
    return AgentSnapshot(
        user_id="u1",
        last=last,
        current_block=block(lab, block_id=draw(st.integers(0, 10**6))) if has_block else None,
        user_label_override=draw(st.none() | labels),
        paused_until=draw(st.none() | st.just("forever") | st.just("2026-02-23T12:00:00+00:00") | st.just("garbage")),
        model=ModelStatus(kind=kind, model_id="m" if kind == "model" else None,
                          policy_error=draw(st.none() | st.text(max_size=30))),
        pending_prompt=draw(st.none() | st.just("2026-02-23T10:05:00+00:00") | st.just("nonsense")),
        sampler_backend=draw(st.sampled_from(["x11", "none"])),
        saving=draw(st.booleans()),
    )


@given(snapshots(), st.booleans(), st.booleans())
def test_menu_invariants(s: AgentSnapshot, trainer: bool, autostart: bool) -> None:
    m = build_menu(s, MenuContext(now=NOW, tz=UTC, trainer_available=trainer, autostart_enabled=autostart))
    keys = [k for _, i in m.walk() for k in [i.key]]
    assert len(keys) == len(set(keys))
    assert m.header and m.tooltip.startswith("taskclf — ")
    for _, item in m.walk():
        if item.separator or item.key == "header":
            continue
        assert not (item.enabled and item.submenu is None and item.action is None), (
            f"enabled item {item.key!r} does nothing")
        if item.action is not None and item.action.kind in {"confirm", "correct"}:
            assert item.action.block_id == m.block_id is not None
    radio = [i for i in m.find("correct").submenu if i.checked]
    assert len(radio) <= 1
    if s.paused:
        assert m.has("resume") and not m.has("pause") and m.block_id is None
    json.dumps(m.to_json())
