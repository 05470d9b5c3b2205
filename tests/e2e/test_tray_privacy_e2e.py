"""The real tray under Xvfb + trayer + GTK: Today ▸ Open today's timeline, Privacy ▸ Forget the
last hour, Privacy ▸ Delete all my data… ▸ Yes (the agent starts again, fresh, same process).

Keyboard steps come from the menu model the tray dumps; the "browser" is a recorder given as
$BROWSER. Screenshots go to test-artifacts/tray-privacy/.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from tray_stack import TrayStack, tray_stack, wait_for  # noqa: F401 - fixtures

from engine.paths import store_path
from engine.store import Store

try:
    from tests.conftest import artifact_dir
    from tests.e2e.test_tray_e2e import App, close_menus, make_home, open_menu_model
except ImportError:
    from conftest import artifact_dir  # type: ignore[no-redef]
    from test_tray_e2e import App, close_menus, make_home, open_menu_model  # type: ignore[no-redef]

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(240)]


def _notice(app: App, prefix: str) -> dict[str, Any] | None:
    d = app.model()
    if d is None:
        return None
    notes = [i["text"] for i in d["items"] if i.get("key") == "notice"]
    return d if notes and notes[0].startswith(prefix) else None


def choose(stack: TrayStack, app: App, icon: Any, key: str, shot: Path) -> None:
    """Open the menu, walk to ``key`` with keys from the model, screenshot the open submenus,
    then press Return on it."""
    _, model, _ = open_menu_model(stack, app, icon)
    steps = model.keyboard_steps(key)
    stack.keys(steps[:-1])
    depth = 1 + steps.count("Right")
    wait_for(f"the submenus of {key}", lambda: len(stack.find_menus(app.pid)) == depth, 5)
    stack.screenshot(shot)
    stack.keys(steps[-1:])


def test_timeline_forget_and_delete_all_from_the_tray(tray_stack: TrayStack, tmp_path: Path) -> None:  # noqa: F811
    stack = tray_stack
    art = artifact_dir("tray-privacy")
    for old in art.glob("*.png"):
        old.unlink()
    home, first_model = make_home(tmp_path)
    opened = tmp_path / "opened.txt"
    stack.env["BROWSER"] = f"/bin/sh -c 'echo \"$0\" >> {opened}' %s"
    app = App(stack, home, tmp_path / "menu.json")
    try:
        icon = wait_for("the icon docked in the tray", lambda: stack.find_icon(app.pid), 20)
        wait_for("a model prediction in the menu",
                 lambda: (d := app.model()) and d["header"].startswith("Now:") and d, 40, interval=0.3)
        ident = json.loads((home / "identity.json").read_text())

        # Today ▸ Open today's timeline: the page is written and handed to the browser.
        choose(stack, app, icon, "today.timeline", art / "01-today-submenu.png")
        url = wait_for("the page opened in the browser",
                       lambda: opened.exists() and opened.read_text().strip(), 20)
        assert url.startswith("file://") and "/artifacts/days/" in url and url.endswith(".html")
        page = Path(url.removeprefix("file://"))
        assert page.exists() and "<svg" in page.read_text()
        wait_for("the acknowledgement", lambda: _notice(app, "✓ Today's timeline is open"), 10)

        # Privacy ▸ Forget the last hour: nothing recorded before the click is left.
        with Store.open(store_path(home), readonly=True) as st:
            assert st.count_records() > 0
        clicked = time.time()
        choose(stack, app, icon, "privacy.forget", art / "02-privacy-submenu.png")
        wait_for("the forget acknowledgement", lambda: _notice(app, "✓ Forgot the last 60 min"), 30)
        with Store.open(store_path(home), readonly=True) as st:
            starts = [r.bucket_start.timestamp() for r in st.records()]
        assert all(s > clicked - 1 for s in starts), (clicked, starts)
        assert not page.exists()  # the page showed forgotten time

        # Privacy ▸ Delete all my data… ▸ Yes: everything goes, the agent starts fresh.
        choose(stack, app, icon, "privacy.delete.yes", art / "03-delete-confirm.png")

        def fresh() -> dict[str, Any] | None:
            try:
                new = json.loads((home / "identity.json").read_text())
            except (OSError, ValueError):
                return None
            return new if new["user_id"] != ident["user_id"] else None

        wait_for("a new identity", fresh, 30)
        assert not (home / "models").exists()
        assert (home / "config.toml").exists()
        assert app.proc.poll() is None  # the same process image was replaced, not ended
        wait_for("the icon docked again", lambda: stack.find_icon(app.pid), 20)
        stack.screenshot(art / "04-fresh.png")
        _, model, _ = open_menu_model(stack, app, icon := stack.find_icon(app.pid))  # type: ignore[arg-type]
        close_menus(stack, app)
        assert "Rules" in json.dumps(model.to_json()) or model.header.startswith(("Rules", "Starting"))
    finally:
        app.stop()
        shutil.copy(stack.run / "app.log", art / "app.log")
