"""A real X server session (Xvfb + openbox, driven with xdotool), shared by the end-to-end
fixture (``conftest.xsession``) and ``benchmarks/agent_bench.py``. Plain code, no pytest: failures
raise ``RuntimeError`` and the caller decides (the fixture fails the test)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REQUIRED = ("Xvfb", "openbox", "xdotool")


def missing_prerequisites() -> list[str]:
    missing = [p for p in REQUIRED if shutil.which(p) is None]
    try:
        import Xlib  # noqa: F401
    except ImportError:
        missing.append("python-xlib")
    return missing


@dataclass
class XSession:
    display: str
    env: dict[str, str]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def xdotool(self, *args: str) -> str:
        out = subprocess.run(["xdotool", *args], env=self.env, capture_output=True, text=True,
                             timeout=30)
        return out.stdout.strip()

    def window(self, instance: str, cls: str, title: str, *, pid: bool = True) -> str:
        """Open a small window with this WM_CLASS and title; returns its id once it is mapped.
        ``pid=False``: no _NET_WM_PID, so the app is identified by its WM_CLASS."""
        extra = [] if pid else ["--no-pid"]
        p = subprocess.Popen([sys.executable, str(HERE / "xwin.py"), instance, cls, title, *extra],
                             env=self.env, stdout=subprocess.PIPE)
        self.procs.append(p)
        assert p.stdout is not None
        wid = p.stdout.readline().decode().strip()
        if not wid:
            raise RuntimeError("test window did not start")
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

    def close(self) -> None:
        for p in reversed(self.procs):
            p.terminate()
        for p in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()


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
                raise RuntimeError("Xvfb did not start")
            chunk = r.read(16)
            if not chunk:
                break
            buf += chunk
    if not buf.strip().isdigit():
        xvfb.kill()
        raise RuntimeError("Xvfb did not report its display")
    return xvfb, f":{int(buf)}"


def open_session() -> XSession:
    """Xvfb + openbox, ready for windows; ``close()`` tears both down."""
    xvfb, display = start_xvfb()
    env = dict(os.environ, DISPLAY=display)
    env.pop("WAYLAND_DISPLAY", None)
    wm = subprocess.Popen(["openbox"], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return XSession(display, env, [wm, xvfb])
