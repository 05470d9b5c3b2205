"""Start at login, per OS (spec 8): XDG autostart file, macOS LaunchAgent, Windows HKCU Run key.

Each backend has the same three methods (``is_enabled``, ``enable``, ``disable``) and takes its
OS entry points as arguments, so the content it writes is tested everywhere with the OS faked.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Protocol

from agent.autostart._macos import LaunchAgent
from agent.autostart._windows import RunKey
from agent.autostart._xdg import XdgAutostart

__all__ = ["Autostart", "LaunchAgent", "RunKey", "XdgAutostart", "autostart_for", "tray_command"]


class Autostart(Protocol):
    def is_enabled(self) -> bool: ...
    def enable(self) -> None: ...
    def disable(self) -> None: ...


def tray_command(home: Path | None = None, *, frozen: bool | None = None,
                 executable: str | None = None, which: object = shutil.which) -> list[str]:
    """The command line that starts the tray at login (the frozen binary, or the GUI script).

    ``--home`` is added only when the data folder is not the default one, so a login entry
    written from a test or a custom home starts the same agent the user was running.
    """
    frozen = getattr(sys, "frozen", False) if frozen is None else frozen
    exe = executable or sys.executable
    if frozen:
        cmd = [exe]
    else:
        found = which("taskclf-tray") if callable(which) else None
        cmd = [str(found)] if found else [exe, "-m", "agent.tray_main"]
    if home is not None and os.environ.get("TASKCLF_HOME"):
        cmd += ["--home", str(home)]
    return cmd


def autostart_for(command: list[str], platform: str = sys.platform) -> Autostart | None:
    """The backend for this OS, or None where there is no known autostart mechanism."""
    if platform.startswith("win"):
        return RunKey(command)
    if platform == "darwin":
        return LaunchAgent(command)
    if platform.startswith("linux") or "bsd" in platform:
        return XdgAutostart(command)
    return None
