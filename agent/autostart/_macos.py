"""macOS: a per-user LaunchAgent plist in ``~/Library/LaunchAgents`` (RunAtLoad at login)."""

from __future__ import annotations

import os
import plistlib
from pathlib import Path
from typing import Any

LABEL = "com.taskclf.tray"


def plist_content(command: list[str]) -> dict[str, Any]:
    return {
        "Label": LABEL,
        "ProgramArguments": list(command),
        "RunAtLoad": True,
        "KeepAlive": False,
        "ProcessType": "Interactive",
        "LimitLoadToSessionType": "Aqua",
    }


class LaunchAgent:
    def __init__(self, command: list[str], *, home: Path | None = None) -> None:
        self.command = list(command)
        self.path = (home or Path.home()) / "Library" / "LaunchAgents" / f"{LABEL}.plist"

    def is_enabled(self) -> bool:
        try:
            with self.path.open("rb") as fh:
                data = plistlib.load(fh)
        except (OSError, plistlib.InvalidFileException, ValueError):
            return False
        return isinstance(data, dict) and data.get("Label") == LABEL and bool(data.get("RunAtLoad"))

    def enable(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{LABEL}.plist.tmp")
        with tmp.open("wb") as fh:
            plistlib.dump(plist_content(self.command), fh)
        os.replace(tmp, self.path)

    def disable(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
