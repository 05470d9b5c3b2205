"""A real desktop for tray tests: Xvfb, a private D-Bus, a notification service and trayer.

Follows the recipe of the project's tray e2e notes: Xvfb picks a free display (-displayfd),
a private session bus (without one GTK hangs), a fake org.freedesktop.Notifications (without
one pystray exits 1 on stop), and trayer as the XEmbed system tray, started BEFORE the app.
Every process runs under ``timeout`` and is killed by PID in ``stop()``.

``tray_stack`` is the pytest fixture; outside CI a missing prerequisite skips the test, in CI
(``tests.conftest.in_ci()``) it fails it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

try:
    from tests.conftest import in_ci
except ImportError:  # plain `pytest` without the repo root on sys.path
    from conftest import in_ci  # type: ignore[no-redef]

HERE = Path(__file__).resolve().parent
LIFE = 240  # hard cap (s) for every background process
BINARIES = ("Xvfb", "dbus-daemon", "trayer", "xdotool", "import", "timeout")


def missing_prerequisites() -> list[str]:
    missing = [b for b in BINARIES if shutil.which(b) is None]
    for mod in ("gi", "Xlib", "pystray"):  # find, don't import: pystray needs a display
        if importlib.util.find_spec(mod) is None:
            missing.append(f"python module {mod}")
    if not missing:
        try:
            import gi

            gi.require_version("Gtk", "3.0")
        except Exception:
            missing.append("GTK 3 typelib (gir1.2-gtk-3.0)")
    return missing


def wait_for(what: str, fn: Callable[[], Any], timeout: float, interval: float = 0.1) -> Any:
    """Poll ``fn`` until it returns something truthy; fail the test with ``what`` otherwise."""
    end = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = fn()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - keep polling; report the last error
            last_exc = exc
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}"
                                 + (f" (last error: {last_exc!r})" if last_exc else ""))
        time.sleep(interval)


@dataclass
class Box:
    x: int
    y: int
    width: int
    height: int

    @property
    def centre(self) -> tuple[int, int]:
        return self.x + self.width // 2, self.y + self.height // 2

    def crop(self) -> tuple[int, int, int, int]:
        return self.x, self.y, self.x + self.width, self.y + self.height


class TrayStack:
    def __init__(self, run_dir: Path, *, life: float = LIFE) -> None:
        self.life = life
        self.run = run_dir
        self.run.mkdir(parents=True, exist_ok=True)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.display = ""
        self.env: dict[str, str] = {}
        self._xd: Any = None

    # ------------------------------------------------------------ lifecycle

    def _spawn(self, name: str, args: list[str], **kw: Any) -> subprocess.Popen[bytes]:
        log = open(self.run / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        p = subprocess.Popen(["timeout", "-k", "2", str(int(self.life)), *args], stdout=log, stderr=log,
                             stdin=subprocess.DEVNULL, **kw)
        self.procs.append(p)
        return p

    def start(self, *, tray_host: bool = True) -> TrayStack:
        """Xvfb, a private session bus, a notification service and (unless told not to) trayer.

        No ``PYSTRAY_BACKEND``: the tray chooses its backend itself, as on a user's desktop.
        """
        base = {k: v for k, v in os.environ.items() if k not in {"DISPLAY", "WAYLAND_DISPLAY",
                                                                 "DBUS_SESSION_BUS_ADDRESS"}}
        r, w = os.pipe()
        self._spawn("xvfb", ["Xvfb", "-displayfd", str(w), "-screen", "0", "800x600x24",
                             "-nolisten", "tcp"], pass_fds=(w,))
        os.close(w)
        buf = b""
        end = time.monotonic() + 15
        os.set_blocking(r, False)
        while not buf.endswith(b"\n"):
            if time.monotonic() > end:
                raise AssertionError("Xvfb did not report its display")
            try:
                chunk = os.read(r, 64)
            except BlockingIOError:
                chunk = None
            if chunk == b"":
                raise AssertionError("Xvfb exited: " + (self.run / "xvfb.log").read_text()[-500:])
            if chunk:
                buf += chunk
            else:
                time.sleep(0.05)
        os.close(r)
        self.display = ":" + buf.decode().strip()
        bus = self.run / "bus"
        self.env = {
            **base,
            "DISPLAY": self.display,
            "DBUS_SESSION_BUS_ADDRESS": f"unix:path={bus}",
            "NO_AT_BRIDGE": "1",
            "GSETTINGS_BACKEND": "memory",
        }
        self._spawn("dbus", ["dbus-daemon", "--session", "--nofork", "--nopidfile",
                             f"--address=unix:path={bus}"], env=self.env)
        wait_for("the D-Bus socket", bus.exists, 10)
        notes = self.run / "notifications.jsonl"
        self._spawn("notifyd", [sys.executable, str(HERE / "fake_notifyd.py"), str(notes)], env=self.env)
        wait_for("the fake notification service", lambda: notes.exists() and "_ready" in notes.read_text(), 10)
        if not tray_host:
            return self
        self._spawn("trayer", ["trayer", "--edge", "top", "--align", "right", "--widthtype", "request",
                               "--height", "32", "--transparent", "false", "--tint", "0x404040",
                               "--SetDockType", "true", "--SetPartialStrut", "true"], env=self.env)
        wait_for("the tray manager (_NET_SYSTEM_TRAY_S0)", self._tray_owned, 10)
        return self

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        end = time.monotonic() + 3
        for p in self.procs:
            try:
                p.wait(max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(2)
        if self._xd is not None:
            try:
                self._xd.close()
            except Exception:
                pass

    # ------------------------------------------------------------ X queries (python-xlib)

    @property
    def xd(self) -> Any:
        if self._xd is None:
            from Xlib import display

            self._xd = display.Display(self.display)
        return self._xd

    def _tray_owned(self) -> bool:
        d = self.xd
        return bool(d.get_selection_owner(d.intern_atom("_NET_SYSTEM_TRAY_S0")))

    def _windows(self) -> Iterator[Any]:
        stack = [self.xd.screen().root]
        while stack:
            w = stack.pop()
            try:
                children = w.query_tree().children
            except Exception:
                continue
            for c in children:
                yield c
                stack.append(c)

    def _prop(self, w: Any, name: str) -> Any:
        atom = self.xd.intern_atom(name)
        try:
            p = w.get_full_property(atom, 0)
        except Exception:
            return None
        return None if p is None else p.value

    def _viewable(self, w: Any) -> bool:
        from Xlib import X

        try:
            return bool(w.get_attributes().map_state == X.IsViewable)
        except Exception:
            return False

    def _box(self, w: Any) -> Box:
        g = w.get_geometry()
        pos = w.translate_coords(self.xd.screen().root, 0, 0)
        return Box(-pos.x, -pos.y, g.width, g.height)

    def find_icon(self, pid: int) -> Box | None:
        """The docked icon: viewable, has _XEMBED_INFO, reparented away from root, app's pid."""
        root = self.xd.screen().root
        for w in self._windows():
            if self._prop(w, "_XEMBED_INFO") is None or not self._viewable(w):
                continue
            try:
                if w.query_tree().parent.id == root.id:
                    continue
            except Exception:
                continue
            pids = self._prop(w, "_NET_WM_PID")
            if pids is not None and int(pids[0]) == pid:
                box = self._box(w)
                # the tray sizes the socket after embedding: 1 px wide at first
                return box if box.width >= 12 and box.height >= 12 else None
        return None

    def find_menus(self, pid: int) -> list[Box]:
        """Mapped popup menus of the app (a submenu is a second one), left to right."""
        popup = self.xd.intern_atom("_NET_WM_WINDOW_TYPE_POPUP_MENU")
        out = []
        for w in self._windows():
            types = self._prop(w, "_NET_WM_WINDOW_TYPE")
            if types is None or popup not in list(types) or not self._viewable(w):
                continue
            pids = self._prop(w, "_NET_WM_PID")
            if pids is not None and int(pids[0]) != pid:
                continue
            out.append(self._box(w))
        return sorted(out, key=lambda b: b.x)

    # ------------------------------------------------------------ input and screenshots

    def xdotool(self, *args: str) -> None:
        subprocess.run(["timeout", "10", "xdotool", *args], env=self.env, check=True,
                       capture_output=True)

    def right_click(self, box: Box) -> None:
        x, y = box.centre
        self.xdotool("mousemove", str(x), str(y), "sleep", "0.2", "click", "3")

    def keys(self, steps: list[str]) -> None:
        self.xdotool("key", "--delay", "120", *steps)

    def screenshot(self, path: Path) -> Any:
        from PIL import Image

        subprocess.run(["timeout", "10", "import", "-window", "root", str(path)], env=self.env,
                       check=True, capture_output=True)
        with Image.open(path) as im:
            return im.convert("RGB")


@pytest.fixture
def tray_stack(tmp_path: Path) -> Iterator[TrayStack]:
    yield from _stack(tmp_path, tray_host=True)


@pytest.fixture
def bare_stack(tmp_path: Path) -> Iterator[TrayStack]:
    """The same X server and session bus with no system tray running."""
    yield from _stack(tmp_path, tray_host=False)


def _stack(tmp_path: Path, *, tray_host: bool) -> Iterator[TrayStack]:
    missing = missing_prerequisites()
    if missing:
        msg = "tray e2e prerequisites missing: " + ", ".join(missing)
        if in_ci():
            pytest.fail(msg)
        pytest.skip(msg)
    stack = TrayStack(tmp_path / "stack")
    try:
        yield stack.start(tray_host=tray_host)
    finally:
        stack.stop()
