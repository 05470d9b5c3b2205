"""The real tray under Xvfb + trayer + GTK: see the prediction, correct it, reload, pause, quit.

Screenshots of each step go to test-artifacts/tray-e2e/. Keyboard steps are computed from the
menu model the tray dumps (GTK skips disabled items), and the dump also carries the labels of
the real Gtk.Menu, so the test checks that GTK shows exactly what the model says.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from tray_stack import Box, TrayStack, bare_stack, tray_stack, wait_for  # noqa: F401 - fixtures

from agent.tray.icon import PAUSED_COLOR
from agent.tray.menu_model import MenuModel
from engine.labels import CORE_LABELS, MIXED_UNKNOWN
from engine.paths import store_path

try:
    from tests.conftest import SEED, artifact_dir
except ImportError:
    from conftest import SEED, artifact_dir  # type: ignore[no-redef]

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(240)]

BUCKET_SECONDS = 3
SECOND_MODEL = "2026-11-27_120000_run-e2e-b"


def make_home(root: Path) -> tuple[Path, str]:
    """A home with the seed bundle, a policy bound to it, and no random spot checks."""
    from engine.policy import policy_for, write_policy

    home = root / "home"
    (home / "models").mkdir(parents=True)
    os.chmod(home, 0o700)
    seed_bundle = next((SEED / "models").iterdir())
    bundle = home / "models" / seed_bundle.name
    shutil.copytree(seed_bundle, bundle)
    write_policy(home, policy_for(home, bundle, None, 0.3, source="e2e"))
    (home / "config.toml").write_text("spot_checks_per_day = 0\n")
    return home.resolve(), seed_bundle.name


def replace_policy(home: Path, current: str) -> None:
    from engine.policy import policy_for, write_policy

    new = home / "models" / SECOND_MODEL
    shutil.copytree(home / "models" / current, new)
    write_policy(home, policy_for(home, new, None, 0.3, source="e2e"))


def tray_command() -> list[str]:
    """``taskclf tray`` when it takes the test options, else ``taskclf-tray`` (same run_tray)."""
    cli = [sys.executable, "-m", "engine.cli.main", "tray"]
    helptext = subprocess.run([*cli, "--help"], capture_output=True, text=True, timeout=60).stdout
    if "--bucket-seconds" in helptext or "--backend" in helptext:
        return cli
    return [sys.executable, "-m", "agent.tray_main"]


class App:
    def __init__(self, stack: TrayStack, home: Path, dump: Path, cmd: list[str] | None = None,
                 test_options: bool = True) -> None:
        cmd = cmd or tray_command()
        extra = ["--bucket-seconds", str(BUCKET_SECONDS), "--backend", "x11"] if test_options else []
        env = {**stack.env, "TASKCLF_TRAY_DUMP": str(dump), "TASKCLF_HOME": str(home)}
        self.log = open(stack.run / "app.log", "wb")  # noqa: SIM115
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(
            ["timeout", "-k", "2", "200", *cmd, "--home", str(home), *extra],
            env=env, stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL,
        )
        self.pid = wait_for("the tray process", self._child, 10)
        self.dump = dump

    def _child(self) -> int | None:
        kids = psutil.Process(self.proc.pid).children()
        return kids[0].pid if kids else None

    def model(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.dump.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(2)
        self.log.close()


def grey_fraction(img: Any, box: Box, color: str, tol: int = 24) -> float:
    target = tuple(int(color[i:i + 2], 16) for i in (1, 3, 5))
    raw = img.crop(box.crop()).tobytes()
    px = [tuple(raw[i:i + 3]) for i in range(0, len(raw), 3)]
    near = sum(1 for p in px if all(abs(a - b) <= tol for a, b in zip(p, target, strict=True)))
    return near / max(1, len(px))


def painted_menu(img: Any, box: Box) -> bool:
    """An Adwaita menu: light background with dark text inside its box."""
    g = img.crop(box.crop()).convert("L")
    data = g.tobytes()
    light = sum(1 for v in data if v > 200) / len(data)
    dark = sum(1 for v in data if v < 160) / len(data)
    return light > 0.4 and dark > 0.003


def open_menu(stack: TrayStack, app: App, icon: Box) -> Box:
    stack.right_click(icon)
    menus = wait_for("the popup menu", lambda: stack.find_menus(app.pid), 8)
    return menus[0]


def open_menu_model(stack: TrayStack, app: App, icon: Box) -> tuple[Box, MenuModel, dict[str, Any]]:
    """Open the menu and return the model it was built from.

    A menu already open stays as built when the tray refreshes (GTK keeps the old popup), so
    the model is the dump written before the click; if a refresh raced the click, reopen.
    """
    for _ in range(5):
        before = app.model()
        menu = open_menu(stack, app, icon)
        after = app.model()
        if before is not None and after is not None and before["written_at"] == after["written_at"]:
            return menu, MenuModel.from_json(after), after
        close_menus(stack, app)
        time.sleep(0.3)
    raise AssertionError("the menu changed during every attempt to open it")


def close_menus(stack: TrayStack, app: App) -> None:
    for _ in range(3):
        if not stack.find_menus(app.pid):
            return
        stack.keys(["Escape"])
        time.sleep(0.2)
    wait_for("menus to close", lambda: not stack.find_menus(app.pid), 5)


def gtk_texts(items: list[dict[str, Any]]) -> list[str | None]:
    return [None if i.get("separator") else i["text"] for i in items]


def model_texts(items: list[dict[str, Any]]) -> list[str | None]:
    return [None if i.get("separator") else i["text"] for i in items]


def stable_model(app: App) -> MenuModel:
    """The model once two dumps in a row agree on the menu (the prediction has settled)."""
    seen: list[Any] = []

    def settled() -> dict[str, Any] | None:
        d = app.model()
        if d is None or "gtk" not in d:
            return None
        key = json.dumps(d["items"])
        seen.append(key)
        return d if len(seen) >= 2 and seen[-1] == seen[-2] else None

    return MenuModel.from_json(wait_for("a settled menu", settled, 30, interval=0.7))


def test_tray_end_to_end(tray_stack: TrayStack, tmp_path: Path) -> None:  # noqa: F811
    stack = tray_stack
    art = artifact_dir("tray-e2e")
    for old in art.glob("*.png"):
        old.unlink()
    home, first_model = make_home(tmp_path)
    app = App(stack, home, tmp_path / "menu.json")
    try:
        _run_scenario(stack, app, home, first_model, art)
    except BaseException:
        if stack.display:
            try:
                stack.screenshot(art / "fail-screen.png")
            except Exception:
                pass
        shutil.copy(stack.run / "app.log", art / "app.log")
        raise
    finally:
        app.stop()
    shutil.copy(stack.run / "app.log", art / "app.log")


def _run_scenario(stack: TrayStack, app: App, home: Path, first_model: str, art: Path) -> None:
    # 1. The icon docks in the tray, drawn by us (not the tray's dark background).
    icon = wait_for("the icon docked in the tray", lambda: stack.find_icon(app.pid), 20)
    first_icon_s = time.monotonic() - app.t0
    shot = stack.screenshot(art / "01-docked.png")
    assert grey_fraction(shot, icon, "#404040", tol=6) < 0.9, "icon area shows only the tray"

    # 2. A prediction from the model arrives and the menu says so.
    def predicted() -> dict[str, Any] | None:
        d = app.model()
        ok = d is not None and d["header"].startswith("Now:") and first_model in json.dumps(d["items"])
        return d if ok else None

    wait_for("the first model prediction in the menu", predicted, 40, interval=0.3)
    model = stable_model(app)
    shown = model.shown_label
    assert shown in (*CORE_LABELS, MIXED_UNKNOWN)

    from engine.store import Store

    with Store.open(store_path(home), readonly=True) as store:
        preds = store.predictions()
    assert preds, "no prediction stored"
    recent = {p.smoothed_label for p in preds[-3:]}
    assert shown in recent, f"menu shows {shown}, store has {recent}"
    if shown == MIXED_UNKNOWN:
        assert model.header == "Now: Mixed/Unknown"
    else:
        assert re.fullmatch(rf"Now: {shown}( · \d+%)?", model.header), model.header

    # 3. Open the real menu: GTK shows the model's texts, header first (bold, disabled).
    menu, model, dump = open_menu_model(stack, app, icon)
    wait_for("the menu painted",
             lambda: (s := stack.screenshot(art / "02-menu-open.png")) and painted_menu(s, menu) and s, 5)
    assert gtk_texts(dump["gtk"]) == model_texts(dump["items"])
    assert dump["gtk"][0]["text"] == dump["header"] and dump["gtk"][0]["sensitive"] is False
    assert model.find("model.status").text.startswith(first_model)
    assert dump["gtk_tooltip"] == dump["tooltip"] and dump["tooltip"].startswith("taskclf — ")
    shown = model.shown_label

    # 4. Correct the block through the submenu, with key presses derived from the model.
    target = "Debug" if shown != "Debug" else "Write"
    steps = model.keyboard_steps(f"correct.{target}")
    stack.keys(steps[:-1])
    wait_for("the correction submenu", lambda: len(stack.find_menus(app.pid)) == 2, 5)
    stack.screenshot(art / "03-correction-submenu.png")
    stack.keys(steps[-1:])

    def span() -> Any:
        with Store.open(store_path(home), readonly=True) as store:
            spans = [s for s in store.label_spans() if s.provenance == "correction"]
        return spans[-1] if spans else None

    sp = wait_for("the correction span in the store", span, 10)
    assert sp.label == target
    assert 0 < (sp.end_ts - sp.start_ts).total_seconds() <= 3600 + BUCKET_SECONDS
    after = wait_for("the menu to show the user's label",
                     lambda: (d := app.model()) and d["header"] == f"Now: {target} · your label" and d, 10)
    corr = next(i for i in after["items"] if i["key"] == "correct")
    assert [c["text"] for c in corr["submenu"] if c.get("checked")] == [target]
    assert any(i["text"].startswith("✓") for i in after["items"] if i.get("key") == "notice")
    close_menus(stack, app)

    # 5. A new policy: the Model submenu names the new model.
    replace_policy(home, first_model)
    wait_for("the new model in the menu",
             lambda: (d := app.model()) and SECOND_MODEL in json.dumps(d["items"]), 40, interval=0.3)
    # once the new model has predicted, the menu knows it runs without a calibrator store
    wait_for("a prediction from the new model",
             lambda: (d := app.model()) and f"{SECOND_MODEL} · not calibrated · threshold 0.30" in json.dumps(
                 d["items"], ensure_ascii=False), 20, interval=0.3)
    model = stable_model(app)
    assert model.find("model.status").text == f"{SECOND_MODEL} · not calibrated · threshold 0.30"
    menu, model, _ = open_menu_model(stack, app, icon)
    steps = model.keyboard_steps("model.reload")
    stack.keys(steps[: steps.index("Right") + 1])
    menus = wait_for("the model submenu", lambda: (m := stack.find_menus(app.pid)) and len(m) == 2 and m, 5)
    wait_for("the model submenu painted",
             lambda: painted_menu(stack.screenshot(art / "04-model-submenu.png"), menus[0]), 5)
    dump = app.model()
    gtk_model = next(i for i in dump["gtk"] if i.get("text") == "Model")
    assert gtk_model["submenu"][0]["text"].startswith(f"{SECOND_MODEL} · ")
    close_menus(stack, app)

    # 6. Pause for 15 minutes: the icon turns grey and the menu offers Resume.
    icon = wait_for("the icon", lambda: stack.find_icon(app.pid), 5)
    before = grey_fraction(stack.screenshot(art / "05-before-pause.png"), icon, PAUSED_COLOR)
    _, model, _ = open_menu_model(stack, app, icon)
    stack.keys(model.keyboard_steps("pause.900"))
    wait_for("the paused state in the menu",
             lambda: (d := app.model()) and d["icon"]["kind"] == "paused" and d, 10)
    paused_shot = wait_for(
        f"a grey icon in {icon}",
        lambda: (s := stack.screenshot(art / "06-paused.png")) and grey_fraction(s, icon, PAUSED_COLOR) > 0.3 and s,
        5,
    )
    assert grey_fraction(paused_shot, icon, PAUSED_COLOR) > before + 0.2
    model = MenuModel.from_json(app.model() or {})
    assert model.header.startswith("Paused until ") and model.has("resume")
    open_menu(stack, app, icon)
    wait_for("the paused menu painted",
             lambda: painted_menu(stack.screenshot(art / "07-paused-menu.png"), stack.find_menus(app.pid)[0]), 5)
    close_menus(stack, app)

    # 7. Quit from the menu: the process ends cleanly.
    _, model, _ = open_menu_model(stack, app, icon)
    stack.keys(model.keyboard_steps("quit"))
    rc = app.proc.wait(15)
    assert rc == 0, (stack.run / "app.log").read_text()[-2000:]
    (art / "timings.json").write_text(json.dumps({"start_to_icon_s": round(first_icon_s, 3)}))


def test_taskclf_tray_starts_and_stops_cleanly_on_sigterm(tray_stack: TrayStack, tmp_path: Path) -> None:  # noqa: F811
    """`taskclf tray` through the dispatcher; logout / `kill` quits the loop and exits 0."""
    stack = tray_stack
    home, first_model = make_home(tmp_path)
    with open(home / "config.toml", "a") as f:
        f.write('log_level = "INFO"\n')
    app = App(stack, home, tmp_path / "menu.json",
              cmd=[sys.executable, "-m", "engine.cli.main", "tray"], test_options=False)
    try:
        wait_for("the icon docked in the tray", lambda: stack.find_icon(app.pid), 20)
        wait_for("the model named in the menu",
                 lambda: (d := app.model()) and first_model in json.dumps(d["items"]), 40)
        # chosen by the tray itself (no PYSTRAY_BACKEND): GTK, with no AppIndicator typelib here
        assert app.model()["backend"] == "gtk"  # type: ignore[index]
        log_file = home / "logs" / "agent.log"
        assert log_file.stat().st_mode & 0o777 == 0o600
        assert "tray backend: gtk" in log_file.read_text()
        maps = Path(f"/proc/{app.pid}/maps").read_text()
        assert not [m for m in ("sklearn", "scipy", "pandas") if f"/{m}/" in maps]
        psutil.Process(app.pid).terminate()
        assert app.proc.wait(15) == 0, (stack.run / "app.log").read_text()[-2000:]
    finally:
        app.stop()
    from engine.store import Store

    with Store.open(store_path(home), readonly=True) as store:
        assert store.integrity_check() == "ok"


def test_no_tray_host_is_said_and_sigterm_still_quits(bare_stack: TrayStack, tmp_path: Path) -> None:  # noqa: F811
    """Without a system tray the icon cannot appear: one line says so; the agent keeps running."""
    home, _ = make_home(tmp_path)
    app = App(bare_stack, home, tmp_path / "menu.json", test_options=False)
    try:
        log = bare_stack.run / "app.log"
        wait_for("the no-tray line", lambda: "no system tray is running" in log.read_text(), 40)
        assert app.proc.poll() is None  # still recording
        psutil.Process(app.pid).terminate()
        assert app.proc.wait(15) == 0, log.read_text()[-2000:]
        text = log.read_text()
        assert "Traceback" not in text
        assert "no system tray is running" in (home / "logs" / "agent.log").read_text()
    finally:
        app.stop()


def test_no_session_bus_is_one_line_and_no_hang(bare_stack: TrayStack, tmp_path: Path) -> None:  # noqa: F811
    """No D-Bus session bus: a one-line error and exit 1, not a traceback and a hang."""
    home, _ = make_home(tmp_path)
    env = {k: v for k, v in bare_stack.env.items()
           if k not in {"DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR"}}
    proc = subprocess.run([sys.executable, "-m", "engine.cli.main", "tray", "--home", str(home)],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("taskclf: no D-Bus session bus"), proc.stderr
    assert "taskclf agent --headless" in lines[0]
