"""The Privacy submenu and "Open today's timeline": menu model and tray actions (no display)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tray_fakes import FAKE_BACKEND, FakeRuntime, snap

from agent.tray.app import TrayApp
from agent.tray.menu_model import Action, MenuContext, build_menu
from tests.dayview_helpers import DAY, fill_day
from tests.tray_fakes import NOW

CTX = MenuContext(now=NOW)


def _texts(model: Any, key: str) -> list[str]:
    return [i.text for i in model.find(key).submenu]


def test_privacy_submenu_names_the_app_in_front() -> None:
    m = build_menu(snap("model", foreground_app=("unknown.zqx", "Zqx Notes")), CTX)
    assert _texts(m, "privacy") == ["Forget the last hour", "Never track Zqx Notes", "",
                                    "Delete all my data…"]
    assert m.find("privacy.forget").action == Action("forget", minutes=60)
    assert m.find("privacy.exclude").action == Action("exclude_app", app="unknown.zqx")
    # deleting needs a second, explicit item
    assert m.find("privacy.delete").action is None
    assert m.find("privacy.delete.yes").action == Action("delete_all")
    assert m.keyboard_steps("privacy.delete.yes")[-5:] == ["Right", "Down", "Down", "Right", "Return"]


def test_never_track_is_disabled_without_an_app_in_front() -> None:
    m = build_menu(snap("model"), CTX)
    item = m.find("privacy.exclude")
    assert (item.text, item.enabled, item.action) == ("Never track this app", False, None)
    assert m.find("privacy.forget").enabled  # forgetting works while paused or starting, too
    assert build_menu(snap("paused"), CTX).find("privacy.forget").enabled


def test_action_round_trips_through_the_dump() -> None:
    from agent.tray.menu_model import MenuModel

    m = build_menu(snap("model", foreground_app=("unknown.zqx", "Zqx")), CTX)
    back = MenuModel.from_json(m.to_json())
    assert back.find("privacy.exclude").action == Action("exclude_app", app="unknown.zqx")


@pytest.fixture
def tray(tmp_path: Path) -> Any:
    rt = FakeRuntime()
    opened: list[Path] = []
    home = tmp_path / "home"
    home.mkdir()
    app = TrayApp(rt, home, backend=FAKE_BACKEND, dump_path=tmp_path / "menu.json",
                  open_page=lambda p: opened.append(p) or True, clock=lambda: NOW)
    t = threading.Thread(target=app.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 5
    while app._icon is None and time.monotonic() < deadline:
        time.sleep(0.01)
    yield app, rt, opened, home
    app.quit()
    t.join(5)


def _wait(cond: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert cond()


def test_forget_and_never_track_go_to_the_runtime(tray: Any) -> None:
    app, rt, _, _ = tray
    rt.publish(replace(rt.snap, foreground_app=("unknown.zqx", "Zqx")))
    _wait(lambda: app.model.find("privacy.exclude").enabled)
    app.on_click(app.model.find("privacy.forget").action)
    _wait(lambda: ("forget_last", 60) in rt.calls)
    app.on_click(app.model.find("privacy.exclude").action)
    _wait(lambda: ("exclude_app", "unknown.zqx") in rt.calls)
    assert rt.calls == [("forget_last", 60), ("exclude_app", "unknown.zqx")]
    _wait(lambda: app.model.find("notice").text == "✓ Saved")


def test_open_todays_timeline_writes_the_page_and_opens_it(tray: Any) -> None:
    app, _, opened, home = tray
    fill_day(home)
    app._clock = lambda: NOW.replace(year=DAY.year, month=DAY.month, day=DAY.day, hour=18)
    ident = {"user_id": "00000000-0000-4000-8000-000000000001",
             "device_id": "00000000-0000-4000-8000-000000000002"}
    (home / "identity.json").write_text(json.dumps(ident))
    app.on_click(Action("open_timeline"))
    _wait(lambda: bool(opened))
    assert opened[0].name == f"{DAY.isoformat()}.html" and opened[0].exists()
    _wait(lambda: app.model.has("notice"))
    assert app.model.find("notice").text == "✓ Today's timeline is open in your browser"


def test_open_timeline_without_data_says_why(tray: Any) -> None:
    app, _, opened, _ = tray
    app.on_click(Action("open_timeline"))
    _wait(lambda: app.model.has("notice"))
    assert "no data yet" in app.model.find("notice").text and not opened


def test_delete_all_stops_the_agent_deletes_and_asks_for_a_fresh_start(tray: Any) -> None:
    app, rt, _, home = tray
    (home / "store.sqlite3").write_bytes(b"x")
    (home / "title.key").write_bytes(b"k" * 32)
    (home / "config.toml").write_text('exclude_apps = ["unknown.zqx"]\n')
    app.on_click(Action("delete_all"))
    _wait(lambda: app.restart_requested)
    assert rt.stopped
    assert sorted(p.name for p in home.iterdir()) == ["config.toml"]
    _wait(lambda: app._icon is None)  # the tray's loop ended: tray_main restarts it


def test_tray_main_restarts_the_same_command(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from agent import tray_main

    calls: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(tray_main.os, "execv", lambda exe, argv: calls.append((exe, argv)))
    monkeypatch.setattr(sys, "orig_argv", ["python3", "-m", "engine.cli.main", "tray", "--home", "/h"])
    tray_main.restart_fresh()
    assert calls == [(sys.executable, [sys.executable, "-m", "engine.cli.main", "tray", "--home", "/h"])]
