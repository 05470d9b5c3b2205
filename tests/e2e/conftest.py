"""A real X server for end-to-end tests: Xvfb + openbox (+ xdotool to drive it).

When the programs are missing the tests skip locally and FAIL in CI (``CI=1``), so a broken CI
image can never turn them into silent passes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import in_ci

HERE = Path(__file__).resolve().parent
REQUIRED = ("Xvfb", "openbox", "xdotool")


def _missing() -> list[str]:
    missing = [p for p in REQUIRED if shutil.which(p) is None]
    try:
        import Xlib  # noqa: F401
    except ImportError:
        missing.append("python-xlib")
    return missing


def require_x() -> None:
    missing = _missing()
    if missing:
        msg = f"end-to-end X11 test needs {', '.join(missing)}"
        if in_ci():
            pytest.fail(msg)
        pytest.skip(msg)


@dataclass
class XSession:
    display: str
    env: dict[str, str]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def xdotool(self, *args: str) -> str:
        out = subprocess.run(["xdotool", *args], env=self.env, capture_output=True, text=True,
                             timeout=30)
        return out.stdout.strip()

    def window(self, instance: str, cls: str, title: str) -> str:
        p = subprocess.Popen([sys.executable, str(HERE / "xwin.py"), instance, cls, title],
                             env=self.env, stdout=subprocess.PIPE)
        self.procs.append(p)
        assert p.stdout is not None
        wid = p.stdout.readline().decode().strip()
        assert wid, "test window did not start"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.xdotool("search", "--name", title.split()[0]):
                break
            time.sleep(0.1)
        return wid

    def activate(self, wid: str) -> None:
        self.xdotool("windowactivate", "--sync", wid)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.xdotool("getactivewindow") == wid:
                return
            time.sleep(0.05)
        raise AssertionError(f"window {wid} did not become active")


def start_xvfb() -> tuple[subprocess.Popen[bytes], str]:
    """Start Xvfb on a display number it picks itself (``-displayfd``): no race between
    parallel test workers."""
    rfd, wfd = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(wfd), "-screen", "0", "1280x800x24",
                             "-nolisten", "tcp"], pass_fds=(wfd,),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(wfd)
    buf = b""
    deadline = time.monotonic() + 15
    with os.fdopen(rfd, "rb", buffering=0) as r:
        while not buf.endswith(b"\n"):
            if time.monotonic() > deadline or xvfb.poll() is not None:
                xvfb.kill()
                pytest.fail("Xvfb did not start")
            chunk = r.read(16)
            if not chunk:
                break
            buf += chunk
    if not buf.strip().isdigit():
        xvfb.kill()
        pytest.fail("Xvfb did not report its display")
    return xvfb, f":{int(buf)}"


@pytest.fixture
def xsession() -> Iterator[XSession]:
    require_x()
    xvfb, display = start_xvfb()
    env = dict(os.environ, DISPLAY=display)
    env.pop("WAYLAND_DISPLAY", None)
    wm = subprocess.Popen(["openbox"], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    sess = XSession(display, env, [wm, xvfb])
    time.sleep(0.5)
    try:
        yield sess
    finally:
        for p in reversed(sess.procs):
            p.terminate()
        for p in sess.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
