"""taskclf-tray: --self-test without a display, clear messages when the desktop can't host a tray."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from agent.lock import InstanceLock
from agent.sampler._base import Sample
from agent.tray_main import NO_DISPLAY_MESSAGE, display_problem, main, sample_once
from tests.conftest import in_ci
from tests.e2e.xsession import start_xvfb


def test_display_problem_messages() -> None:
    assert display_problem("linux", {}) == NO_DISPLAY_MESSAGE
    assert display_problem("linux", {"DISPLAY": ":0"}) is None
    assert display_problem("linux", {"WAYLAND_DISPLAY": "wayland-0"}) is None
    assert display_problem("win32", {}) is None
    assert display_problem("darwin", {}) is None


def _env(home: Path, display: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DISPLAY", "WAYLAND_DISPLAY"}}
    env["TASKCLF_HOME"] = str(home)
    if display is not None:
        env["DISPLAY"] = display
    return env


@pytest.fixture
def x_display() -> Iterator[str]:
    """A private Xvfb display: the self-test samples this platform's own backend (x11)."""
    if shutil.which("Xvfb") is None:
        if in_ci():
            pytest.fail("the self-test needs Xvfb (apt install xvfb)")
        pytest.skip("the self-test needs Xvfb (apt install xvfb)")
    xvfb, display = start_xvfb()
    try:
        yield display
    finally:
        xvfb.terminate()
        xvfb.wait(10)


@pytest.mark.slow
def test_self_test_predicts_with_the_bundled_model_and_samples_x11(tmp_path: Path, x_display: str) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "agent.tray_main", "--self-test", "--self-test-out", str(out)],
        capture_output=True, text=True, timeout=120, env=_env(tmp_path / "home", x_display),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "self-test passed" in proc.stdout
    rows = {line.split("  ")[0].strip(): line for line in proc.stdout.splitlines()}
    for name in ("engine", "lightgbm library", "buckets", "menu and icon", "sampler"):
        assert " ok " in rows[name], proc.stdout
    assert "bundled model starter" in rows["engine"]
    assert "x11: one sample" in rows["sampler"]
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


def test_taskclf_tray_command_self_test(tmp_path: Path, x_display: str) -> None:
    """`taskclf tray --self-test` (the dispatcher's command) reaches the same self-test."""
    proc = subprocess.run([sys.executable, "-m", "engine.cli.main", "tray", "--self-test"],
                          capture_output=True, text=True, timeout=120,
                          env=_env(tmp_path / "h", x_display))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "self-test passed" in proc.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the x11 sampler is Linux's own")
def test_self_test_fails_when_the_platform_sampler_cannot_sample(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "agent.tray_main", "--self-test"],
                          capture_output=True, text=True, timeout=120, env=_env(tmp_path / "h"))
    assert proc.returncode == 1
    sampler = next(line for line in proc.stdout.splitlines() if line.startswith("sampler"))
    assert " FAIL " in sampler and "no X display to sample (DISPLAY is not set)" in sampler
    assert "self-test FAILED" in proc.stderr


class FakeSampler:
    """A sampler backend: ``mode`` is ok, raises, hangs or no-idle."""

    NAME = "x11"

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.stopped = False
        self.release = threading.Event()

    def start(self) -> None:
        if self.mode == "raises":
            raise OSError("cannot open display")

    def sample(self) -> Sample:
        if self.mode == "hangs":
            self.release.wait(10)
        idle = float("nan") if self.mode == "no-idle" else 12.0
        return Sample(app_name="SecretApp", title="secret plan.txt", idle_seconds=idle)

    def stop(self) -> None:
        self.stopped = True
        self.release.set()

    def missing_signals(self) -> tuple[str, ...]:
        return ("input_counts",)


def test_sample_once_reports_signals_but_never_names_or_titles() -> None:
    fake = FakeSampler("ok")
    text = sample_once("linux", {"DISPLAY": ":5"}, create=lambda name: fake)
    assert text == "x11: one sample, a foreground app, idle 12 s, missing input_counts"
    assert "SecretApp" not in text and "secret" not in text and fake.stopped


@pytest.mark.parametrize(("mode", "match"), [
    ("raises", r"^x11: OSError: cannot open display$"),
    ("hangs", r"^x11: no sample within 0.2 s$"),
    ("no-idle", r"^x11: the sample has no idle time from the OS$"),
])
def test_sample_once_fails_honestly(mode: str, match: str) -> None:
    with pytest.raises(RuntimeError, match=match):
        sample_once("linux", {"DISPLAY": ":5"}, create=lambda name: FakeSampler(mode), timeout=0.2)


def test_sample_once_uses_the_platforms_own_backend() -> None:
    made: list[str] = []

    def create(name: str) -> FakeSampler:
        made.append(name)
        return FakeSampler("ok")

    sample_once("win32", {}, create=create)
    sample_once("darwin", {}, create=create)
    assert made == ["windows", "macos"]
