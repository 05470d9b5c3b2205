"""``activitywatch_export = true``: the agent's periodic export of today's labels."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from agent.activitywatch.upkeep import ExportUpkeep, local_midnight
from engine.config import parse_config
from engine.errors import TaskclfError


def test_the_setting_is_off_by_default_and_checked(tmp_path: Path) -> None:
    cfg, warnings = parse_config({}, home=tmp_path)
    assert cfg.activitywatch_export is False and warnings == []
    cfg, warnings = parse_config({"activitywatch_export": True}, home=tmp_path)
    assert cfg.activitywatch_export is True
    cfg, warnings = parse_config({"activitywatch_export": "yes"}, home=tmp_path)
    assert cfg.activitywatch_export is False
    assert any("activitywatch_export" in w and "true or false" in w for w in warnings)


def test_exports_today_and_warns_once_an_hour_when_the_server_is_away(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    import time as _time

    _time.tzset()
    now = {"t": 1772445600.0 + 3 * 3600 + 17}  # 2026-03-02 13:00:17 UTC
    calls: list[dict[str, Any]] = []
    fail = {"on": False}

    def export(home: Path, **kw: Any) -> None:
        calls.append(kw)
        if fail["on"]:
            raise TaskclfError("no ActivityWatch server at http://127.0.0.1:5600")

    up = ExportUpkeep(tmp_path, None, clock=lambda: now["t"], export=export)
    assert up.run_once()
    assert calls == [{"server": "http://127.0.0.1:5600", "start": local_midnight(now["t"]),
                      "end": None}]
    assert calls[0]["start"] == 1772409600.0  # midnight of that day
    fail["on"] = True
    with caplog.at_level(logging.WARNING, logger="taskclf.agent.activitywatch"):
        for _ in range(12):  # an hour of failed runs, five minutes apart
            now["t"] += 300
            assert not up.run_once()
    warnings = [r for r in caplog.records if "could not update ActivityWatch" in r.message]
    assert len(warnings) == 1 and up.failures == 12


def test_the_thread_stops_when_asked(tmp_path: Path) -> None:
    stop = threading.Event()
    runs: list[int] = []

    def export(home: Path, **kw: Any) -> None:
        runs.append(1)
        stop.set()

    ExportUpkeep(tmp_path, "http://127.0.0.1:5600", export=export, interval=3600).run(stop)
    assert runs == [1]
