"""taskclf-tray: --self-test without a display, clear messages when the desktop can't host a tray."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from agent.lock import InstanceLock
from agent.tray_main import NO_DISPLAY_MESSAGE, display_problem, main


def test_display_problem_messages() -> None:
    assert display_problem("linux", {}) == NO_DISPLAY_MESSAGE
    assert display_problem("linux", {"DISPLAY": ":0"}) is None
    assert display_problem("linux", {"WAYLAND_DISPLAY": "wayland-0"}) is None
    assert display_problem("win32", {}) is None
    assert display_problem("darwin", {}) is None


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DISPLAY", "WAYLAND_DISPLAY"}}
    env["TASKCLF_HOME"] = str(home)
    return env


@pytest.mark.slow
def test_self_test_runs_without_display(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "agent.tray_main", "--self-test", "--self-test-out", str(out)],
        capture_output=True, text=True, timeout=120, env=_env(tmp_path / "home"),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "self-test passed" in proc.stdout
    for name in ("engine", "lightgbm library", "buckets", "menu and icon", "sampler backends"):
        assert any(line.startswith(name) and " ok " in line for line in proc.stdout.splitlines()), name
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert "icon-label-16.png" in pngs and "icon-paused-64.png" in pngs
    with Image.open(out / "icon-label-64.png") as im:
        assert im.size == (64, 64)
    # nothing of the self-test leaks into the user's data folder
    assert not (tmp_path / "home").exists()
    # the heavy trainer stack is not part of the agent's self-test
    check = subprocess.run(
        [sys.executable, "-c",
         "import sys, agent.tray_main as t; t.self_test(None)\n"
         "bad = {'sklearn', 'scipy', 'pandas', 'lightgbm', 'trainer'} & {m.split('.')[0] for m in sys.modules}\n"
         "print('BAD', sorted(bad))"],
        capture_output=True, text=True, timeout=120, env=_env(tmp_path / "home"),
    )
    assert "BAD []" in check.stdout, check.stdout + check.stderr


def test_no_display_is_one_clear_line(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "agent.tray_main", "--home", str(tmp_path)],
                          capture_output=True, text=True, timeout=60, env=_env(tmp_path))
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"taskclf: {NO_DISPLAY_MESSAGE}"


def test_second_instance_says_so_and_exits_zero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr("agent.tray_main.display_problem", lambda: None)
    monkeypatch.setitem(sys.modules, "pystray", object())  # never touched: the lock is taken first
    with InstanceLock(tmp_path):
        assert main(["--home", str(tmp_path)]) == 0
    assert "already running" in capsys.readouterr().out


def test_taskclf_tray_command_self_test(tmp_path: Path) -> None:
    """`taskclf tray --self-test` (the dispatcher's command) reaches the same self-test."""
    proc = subprocess.run([sys.executable, "-m", "engine.cli.main", "tray", "--self-test"],
                          capture_output=True, text=True, timeout=120, env=_env(tmp_path / "h"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "self-test passed" in proc.stdout
