"""The background trigger of per-user calibration (agent/personalize_trigger.py)."""

from __future__ import annotations

import io
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agent.clock import ManualClock
from agent.personalize_trigger import PersonalizeTrigger, personalize_command
from agent.snapshot import AgentSnapshot, LearningProgress, ModelStatus
from agent.snapshot_hub import SnapshotHub


class FakeProc:
    def __init__(self, output: bytes, rc: int = 0) -> None:
        self.stdout = io.BytesIO(output)
        self.rc = rc
        self.done = False

    def poll(self) -> int | None:
        return self.rc if self.done else None

    def wait(self) -> int:
        self.done = True
        return self.rc


class Spawner:
    def __init__(self, output: bytes = b"table\nPersonalised on 240 labelled minutes\n", rc: int = 0) -> None:
        self.calls: list[list[str]] = []
        self.procs: list[FakeProc] = []
        self.output, self.rc = output, rc

    def __call__(self, cmd: list[str], **kw: Any) -> FakeProc:
        self.calls.append(cmd)
        p = FakeProc(self.output, self.rc)
        p.done = False
        self.procs.append(p)
        return p


def snap(minutes: int, days: int = 3, labels: int = 3, kind: str = "model") -> AgentSnapshot:
    return AgentSnapshot(user_id="u", model=ModelStatus(kind=kind),
                         learning=LearningProgress(labelled_buckets=minutes, labelled_days=days,
                                                   distinct_labels=labels))


def trigger(home: Path, spawn: Spawner, clock: ManualClock, mode: str = "auto") -> tuple[PersonalizeTrigger, SnapshotHub]:
    hub = SnapshotHub()
    t = PersonalizeTrigger(home, clock=clock, hub=hub, mode=mode, command=["taskclf", "personalize"], spawn=spawn)
    return t, hub


def test_runs_when_eligible_after_30_new_minutes_at_most_hourly(tmp_path: Path) -> None:
    clock = ManualClock(datetime(2026, 3, 2, tzinfo=UTC))
    spawn = Spawner()
    t, hub = trigger(tmp_path, spawn, clock)
    assert not t.maybe_start(snap(190))  # not eligible yet
    assert not t.maybe_start(snap(250, days=2))
    assert not t.maybe_start(snap(250, kind="rules"))  # nothing to personalise
    assert t.maybe_start(snap(240))
    assert not t.maybe_start(snap(400))  # still running: never two at once
    t.join(5)  # the waiter reads the output and waits for the process
    assert hub.current().personal_note == "Personalised on 240 labelled minutes"
    assert not t.maybe_start(snap(400))  # within the hour
    clock.advance(3599)
    assert not t.maybe_start(snap(400))
    clock.advance(1)
    assert not t.maybe_start(snap(269))  # an hour later, but fewer than 30 new minutes
    assert t.maybe_start(snap(270))
    t.join(5)
    assert spawn.calls == [["taskclf", "personalize"]] * 2
    log = (tmp_path / "logs" / "personalize.log").read_text()
    assert log.count("Personalised on 240 labelled minutes") == 2 and "exit 0" in log


def test_the_count_survives_a_restart_and_off_means_never(tmp_path: Path) -> None:
    clock = ManualClock(datetime(2026, 3, 2, tzinfo=UTC))
    t, _ = trigger(tmp_path, Spawner(), clock)
    assert t.maybe_start(snap(240))
    t.join(5)
    again, _ = trigger(tmp_path, Spawner(), clock)  # a new agent run: same labels, no rerun
    assert not again.maybe_start(snap(260))
    assert again.maybe_start(snap(270))
    off, _ = trigger(tmp_path / "other", Spawner(), clock, mode="off")
    assert not off.maybe_start(snap(5000))


def test_a_failed_run_says_where_the_log_is(tmp_path: Path) -> None:
    clock = ManualClock(datetime(2026, 3, 2, tzinfo=UTC))
    t, hub = trigger(tmp_path, Spawner(b"taskclf: error: store locked\n", rc=1), clock)
    assert t.maybe_start(snap(240))
    t.join(5)
    note = hub.current().personal_note or ""
    assert note.startswith("Personal tuning failed (exit 1); see ") and note.endswith("personalize.log")


def test_frozen_builds_run_the_bundled_executable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "taskclf-tray"))
    assert personalize_command(tmp_path) is None  # no bundled CLI: no run, never `-m`
    (tmp_path / "taskclf").write_text("")
    assert personalize_command(tmp_path / "home") == [str(tmp_path / "taskclf"), "personalize", "--home",
                                                      str(tmp_path / "home")]
    monkeypatch.setattr(sys, "frozen", False)
    cmd = personalize_command(tmp_path) or []
    assert cmd[1:4] == ["-m", "engine.cli.main", "personalize"]


def test_config_switch(tmp_path: Path) -> None:
    from engine.config import parse_config

    cfg, warn = parse_config({"personalize": "off"}, home=tmp_path)
    assert cfg.personalize == "off" and warn == []
    cfg, warn = parse_config({"personalize": "sometimes"}, home=tmp_path)
    assert cfg.personalize == "auto" and len(warn) == 1 and "personalize" in warn[0]


def test_menu_shows_the_note_in_plain_words() -> None:
    from agent.tray.menu_model import MenuContext, build_menu
    from tests.tray_fakes import snap as tray_snap

    s = replace(tray_snap("model"), personal_note="Personalised on 240 labelled minutes")
    ctx = MenuContext(now=datetime(2026, 3, 2, 12, tzinfo=UTC), tz=UTC)
    assert build_menu(s, ctx).find("personal").text == "Personalised on 240 labelled minutes"
