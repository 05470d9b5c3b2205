"""The pystray glue with a fake pystray: snapshot -> icon/menu refresh, clicks -> runtime calls."""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tray_fakes import FAKE_BACKEND, FakeMenu, FakeRuntime, block, click, find

from agent.autostart import XdgAutostart
from agent.tray.app import TrayApp, open_folder_command
from agent.tray.menu_model import Action


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def started(tmp_path: Path):
    rt = FakeRuntime()
    clock = Clock()
    spawned: list[list[str]] = []
    app = TrayApp(
        rt, tmp_path, backend=FAKE_BACKEND,
        autostart=XdgAutostart(["taskclf-tray"], env={"XDG_CONFIG_HOME": str(tmp_path / "cfg")}),
        trainer=["taskclf", "train", "all"], dump_path=tmp_path / "menu.json",
        monotonic=clock, spawn=lambda cmd, **kw: spawned.append(cmd) or _Done(), start_runtime=True,
    )
    result: dict[str, int] = {}
    t = threading.Thread(target=lambda: result.setdefault("rc", app.run()), daemon=True)
    t.start()
    deadline = time.monotonic() + 5
    while (app._icon is None or not app.dump_path.exists()) and time.monotonic() < deadline:
        time.sleep(0.01)
    yield app, rt, clock, spawned
    app.quit()
    t.join(5)
    assert result.get("rc") == 0


class _Done:
    def poll(self) -> int:
        return 0

    def wait(self) -> int:
        return 0


def top(app: TrayApp) -> list[Any]:
    return app._icon.menu.items


def test_icon_shows_snapshot_and_dump(started: Any) -> None:
    app, rt, _, _ = started
    icon = app._icon
    assert icon.visible and icon.title == "taskclf — Build (82 %) since 10:42"
    assert find(top(app), "Now: Build · 82%").enabled is False
    assert rt.subscribers == [app.on_snapshot]
    assert rt.started  # the runtime starts once the icon is up
    dump = json.loads(app.dump_path.read_text())
    assert dump["header"] == "Now: Build · 82%" and dump["icon"]["text"] == "B"


def test_new_snapshot_refreshes_icon_title_and_menu(started: Any) -> None:
    app, rt, _, _ = started
    icon = app._icon
    before_updates, before_images = icon.menu_updates, len(icon.images)
    rt.publish(replace(rt.snap, current_block=block("Meet", block_id=8), user_label_override=None,
                       last=replace(rt.snap.last, smoothed_label="Meet")))
    assert icon.menu_updates == before_updates + 1
    assert len(icon.images) == before_images + 1
    assert icon.title.startswith("taskclf — Meet")
    assert find(top(app), "I'm actually doing", "Meet").checked is True
    # the same snapshot again changes nothing on screen
    rt.publish(rt.snap)
    assert icon.menu_updates == before_updates + 1 and len(icon.images) == before_images + 1


def test_correction_goes_to_the_block_the_user_saw(started: Any) -> None:
    app, rt, _, _ = started
    old_item = find(top(app), "I'm actually doing", "Debug")
    rt.publish(replace(rt.snap, current_block=block("Build", block_id=8)))  # menu rebuilt while open
    click(old_item)
    assert rt.calls == [("correct", 7, "Debug")]
    assert find(top(app), "✓ Saved").enabled is False  # the acknowledgement line


def test_double_click_is_one_action(started: Any) -> None:
    app, rt, clock, _ = started
    item = find(top(app), "Yes, that's right")
    click(item)
    click(item)
    assert rt.calls == [("confirm", 7)]
    clock.t += 5
    click(item)
    assert rt.calls == [("confirm", 7), ("confirm", 7)]


def test_failure_is_shown_and_notified(started: Any) -> None:
    app, rt, _, _ = started
    rt.fail_with = "The store is busy; try again in a moment"
    click(find(top(app), "Label the last", "15 min", "Write"))
    assert rt.calls == [("label_last", 15, "Write")]
    assert find(top(app), "⚠ The store is busy; try again in a moment").enabled is False
    assert app._icon.notes == ["⚠ The store is busy; try again in a moment"]


def test_action_that_raises_keeps_tray_alive(started: Any) -> None:
    app, rt, clock, _ = started

    def boom(block_id: int) -> None:
        raise OSError(28, "No space left on device")

    rt.confirm = boom  # type: ignore[method-assign]
    click(find(top(app), "Yes, that's right"))
    assert any(i.text.startswith("⚠ Could not confirm: [Errno 28] No space left") for i in top(app)
               if i is not FakeMenu.SEPARATOR)
    clock.t += 5
    click(find(top(app), "I'm actually doing", "Review"))
    assert rt.calls[-1] == ("correct", 7, "Review")


def test_pause_resume_and_icon(started: Any) -> None:
    app, rt, clock, _ = started
    click(find(top(app), "Pause", "1 hour"))
    assert rt.calls == [("pause", 3600.0)]
    assert json.loads(app.dump_path.read_text())["icon"]["kind"] == "paused"
    assert find(top(app), "Resume") is not None
    clock.t += 5
    click(find(top(app), "Resume"))
    assert rt.calls[-1] == ("resume",)
    assert json.loads(app.dump_path.read_text())["icon"]["kind"] == "label"


def test_prompt_answer_reload_retrain_autostart(started: Any) -> None:
    app, rt, clock, spawned = started
    rt.publish(replace(rt.snap, pending_prompt="2026-02-23T10:05:00+00:00"))
    click(find(top(app), "What were you doing at 10:05?", "Meet"))
    assert rt.calls[-1] == ("answer_prompt", "2026-02-23T10:05:00+00:00", "Meet")
    click(find(top(app), "Model", "Reload now"))
    assert rt.calls[-1] == ("reload",)
    click(find(top(app), "Model", "Retrain now"))
    assert spawned == [["taskclf", "train", "all", "--home", str(app.home)]]
    assert not app.autostart.is_enabled()
    click(find(top(app), "Start at login"))
    assert app.autostart.is_enabled() and find(top(app), "Start at login").checked is True
    clock.t += 5
    click(find(top(app), "Start at login"))
    assert not app.autostart.is_enabled()


def test_quit_stops_the_loop(started: Any) -> None:
    app, _, _, _ = started
    click(find(top(app), "Quit"))
    assert app._icon is None or app._icon._stopped.is_set()


def test_open_folder_command() -> None:
    assert open_folder_command(Path("/d"), "linux") == ["xdg-open", "/d"]
    assert open_folder_command(Path("/d"), "darwin") == ["open", "/d"]
    assert open_folder_command(Path("/d"), "win32") is None


def test_unknown_action_is_ignored(started: Any) -> None:
    app, rt, _, _ = started
    app.on_click(Action("nonsense"))
    assert rt.calls == []


def test_failed_retrain_names_its_log_file(tmp_path: Path) -> None:
    """"see the logs" says which file: the trainer's output goes to logs/retrain.log."""
    log_path = tmp_path / "logs" / "agent.log"
    spawned: list[tuple[list[str], Any]] = []

    class Failed:
        def poll(self) -> None:
            return None

        def wait(self) -> int:
            return 2

    rt = FakeRuntime()
    app = TrayApp(rt, tmp_path, backend=FAKE_BACKEND, trainer=["taskclf", "train", "all"],
                  log_path=log_path, spawn=lambda cmd, output=None: spawned.append((cmd, output)) or Failed())
    app._retrain()
    assert spawned[0][1] == tmp_path / "logs" / "retrain.log"
    deadline = time.monotonic() + 5
    while "Retrain failed" not in (app._notice.text if app._notice else "") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert app._notice is not None
    assert app._notice.text == f"⚠ Retrain failed (exit 2); see {tmp_path / 'logs' / 'retrain.log'}"


def test_detached_retrain_writes_a_private_log(tmp_path: Path) -> None:
    from agent.tray.app import _spawn_detached

    out = tmp_path / "retrain.log"
    proc = _spawn_detached([sys.executable, "-c", "import sys; print('trained'); sys.exit(3)"], output=out)
    assert proc.wait(30) == 3
    assert out.read_text().strip() == "trained"
    assert out.stat().st_mode & 0o777 == 0o600
