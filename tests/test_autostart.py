"""Start at login: the XDG file for real, the LaunchAgent plist and the Run key with the OS faked."""

from __future__ import annotations

import configparser
import plistlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agent.autostart import LaunchAgent, RunKey, XdgAutostart, autostart_for, tray_command
from agent.autostart._windows import RUN_KEY, VALUE_NAME
from agent.autostart._xdg import exec_quote


def exec_args(value: str) -> list[str]:
    """Split an Exec value the way the Desktop Entry spec says a launcher does."""
    out: list[str] = []
    cur: list[str] | None = None
    i, quoted = 0, False
    while i < len(value):
        c = value[i]
        if quoted:
            if c == "\\":
                i += 1
                cur.append(value[i])  # type: ignore[union-attr]
            elif c == '"':
                quoted = False
            else:
                cur.append(c)  # type: ignore[union-attr]
        elif c == " ":
            if cur is not None:
                out.append("".join(cur))
            cur = None
        else:
            cur = cur if cur is not None else []
            if c == '"':
                quoted = True
            else:
                cur.append(c)
        i += 1
    if cur is not None:
        out.append("".join(cur))
    return [a.replace("%%", "%") for a in out]


CMD = ["/opt/task clf/bin/taskclf-tray", "--home", "/home/ann/My Data $x"]


def test_xdg_enable_disable_for_real(tmp_path: Path) -> None:
    a = XdgAutostart(CMD, env={"XDG_CONFIG_HOME": str(tmp_path / "cfg"), "HOME": str(tmp_path)})
    assert a.path == tmp_path / "cfg" / "autostart" / "taskclf.desktop"
    assert not a.is_enabled()
    a.enable()
    assert a.is_enabled()
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read(a.path, encoding="utf-8")
    entry = cp["Desktop Entry"]
    assert entry["Type"] == "Application" and entry["Name"] == "taskclf"
    assert entry["Terminal"] == "false" and entry["X-GNOME-Autostart-enabled"] == "true"
    # undo the desktop-entry string escape, then the Exec quoting is shell-like
    exec_value = entry["Exec"].replace("\\\\", "\\")
    assert exec_args(exec_value) == CMD
    assert (a.path.stat().st_mode & 0o777) == 0o644
    a.enable()  # idempotent
    assert a.is_enabled()
    a.disable()
    assert not a.path.exists() and not a.is_enabled()
    a.disable()  # removing twice is fine


def test_xdg_respects_hidden_and_default_config_home(tmp_path: Path) -> None:
    a = XdgAutostart(["taskclf-tray"], env={"HOME": str(tmp_path), "XDG_CONFIG_HOME": "relative/ignored"})
    assert a.path == tmp_path / ".config" / "autostart" / "taskclf.desktop"
    a.enable()
    a.path.write_text(a.path.read_text() + "Hidden=true\n")
    assert not a.is_enabled()  # the user turned it off in their session settings


def test_exec_quote() -> None:
    assert exec_quote("/usr/bin/taskclf-tray") == "/usr/bin/taskclf-tray"
    assert exec_quote("a b") == '"a b"'
    assert exec_quote("100%") == "100%%"
    assert exec_quote('say "hi"') == '"say \\\\"hi\\\\""'
    assert exec_quote("") == '""'


def test_launch_agent_plist(tmp_path: Path) -> None:
    a = LaunchAgent(CMD, home=tmp_path)
    assert not a.is_enabled()
    a.enable()
    assert a.path == tmp_path / "Library" / "LaunchAgents" / "com.taskclf.tray.plist"
    data = plistlib.loads(a.path.read_bytes())
    assert data == {
        "Label": "com.taskclf.tray", "ProgramArguments": CMD, "RunAtLoad": True, "KeepAlive": False,
        "ProcessType": "Interactive", "LimitLoadToSessionType": "Aqua",
    }
    assert a.is_enabled()
    a.path.write_bytes(b"not a plist")
    assert not a.is_enabled()
    a.disable()
    assert not a.path.exists()


class FakeKey:
    def __init__(self, reg: FakeWinreg, path: str) -> None:
        self.reg, self.path = reg, path

    def __enter__(self) -> FakeKey:
        return self

    def __exit__(self, *a: Any) -> None:
        pass


class FakeWinreg:
    """The slice of ``winreg`` RunKey uses, backed by a dict."""

    HKEY_CURRENT_USER = "HKCU"
    KEY_QUERY_VALUE, KEY_SET_VALUE, REG_SZ = 1, 2, 1

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], tuple[str, int]] = {}
        self.keys: set[str] = set()
        self.calls: list[str] = []

    def OpenKey(self, root: str, path: str, reserved: int, access: int) -> FakeKey:
        self.calls.append(f"OpenKey {root}\\{path}")
        if path not in self.keys:
            raise FileNotFoundError(path)
        return FakeKey(self, path)

    def CreateKeyEx(self, root: str, path: str, reserved: int, access: int) -> FakeKey:
        self.calls.append(f"CreateKeyEx {root}\\{path}")
        self.keys.add(path)
        return FakeKey(self, path)

    def SetValueEx(self, key: FakeKey, name: str, reserved: int, kind: int, value: str) -> None:
        self.values[(key.path, name)] = (value, kind)

    def QueryValueEx(self, key: FakeKey, name: str) -> tuple[str, int]:
        try:
            return self.values[(key.path, name)]
        except KeyError:
            raise FileNotFoundError(name) from None

    def DeleteValue(self, key: FakeKey, name: str) -> None:
        try:
            del self.values[(key.path, name)]
        except KeyError:
            raise FileNotFoundError(name) from None


def test_windows_run_key_with_faked_registry() -> None:
    reg = FakeWinreg()
    cmd = [r"C:\Program Files\taskclf\taskclf-tray.exe", "--home", r"C:\Users\ann\task data"]
    a = RunKey(cmd, winreg=reg)
    assert not a.is_enabled()
    a.enable()
    value, kind = reg.values[(RUN_KEY, VALUE_NAME)]
    assert kind == reg.REG_SZ
    assert value == r'"C:\Program Files\taskclf\taskclf-tray.exe" --home "C:\Users\ann\task data"'
    assert "CreateKeyEx HKCU\\" + RUN_KEY in reg.calls
    assert a.is_enabled()
    a.disable()
    assert (RUN_KEY, VALUE_NAME) not in reg.values and not a.is_enabled()
    a.disable()


def test_backend_per_platform_and_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(autostart_for(["x"], "linux"), XdgAutostart)
    assert isinstance(autostart_for(["x"], "darwin"), LaunchAgent)
    assert isinstance(autostart_for(["x"], "win32"), RunKey)
    assert autostart_for(["x"], "sunos5") is None
    monkeypatch.delenv("TASKCLF_HOME", raising=False)
    assert tray_command(tmp_path, frozen=True, executable="/app/taskclf-tray") == ["/app/taskclf-tray"]
    assert tray_command(None, frozen=False, which=lambda n: "/usr/bin/taskclf-tray") == ["/usr/bin/taskclf-tray"]
    assert tray_command(None, frozen=False, executable="/py", which=lambda n: None) == [
        "/py", "-m", "agent.tray_main"]
    monkeypatch.setenv("TASKCLF_HOME", str(tmp_path))
    assert tray_command(tmp_path, frozen=True, executable="/app/t") == ["/app/t", "--home", str(tmp_path)]


def test_fallback_command_really_starts(tmp_path: Path) -> None:
    """The ``python -m agent.tray_main`` form the entry falls back to is a working command."""
    cmd = tray_command(None, frozen=False, which=lambda n: None)
    out = subprocess.run([*cmd, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "--self-test" in out.stdout
    assert cmd[0] == sys.executable
