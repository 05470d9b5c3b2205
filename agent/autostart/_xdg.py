"""Linux/BSD: ``$XDG_CONFIG_HOME/autostart/taskclf.desktop`` (freedesktop Autostart spec)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

FILE_NAME = "taskclf.desktop"
_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


def config_home(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    value = env.get("XDG_CONFIG_HOME", "")
    if value and os.path.isabs(value):
        return Path(value)
    return Path(env.get("HOME") or Path.home()) / ".config"


def exec_quote(arg: str) -> str:
    """Quote one argument for a desktop entry's Exec key (Desktop Entry spec, "Exec key")."""
    arg = arg.replace("%", "%%")
    if arg and not (_RESERVED & set(arg)):
        text = arg
    else:
        inner = "".join("\\" + c if c in '"`$\\' else c for c in arg)
        text = f'"{inner}"'
    # the value is then a desktop-entry string, where a backslash is itself escaped
    return text.replace("\\", "\\\\")


def desktop_entry(command: list[str]) -> str:
    return "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        "Name=taskclf",
        "Comment=Shows what kind of work you are doing; your data stays on this computer",
        "Exec=" + " ".join(exec_quote(a) for a in command),
        "Icon=taskclf",
        "Terminal=false",
        "Categories=Utility;",
        "X-GNOME-Autostart-enabled=true",
        "",
    ])


class XdgAutostart:
    def __init__(self, command: list[str], *, env: Mapping[str, str] | None = None) -> None:
        self.command = list(command)
        self.path = config_home(env) / "autostart" / FILE_NAME

    def is_enabled(self) -> bool:
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return False
        lines = {ln.strip().lower() for ln in text.splitlines()}
        return "hidden=true" not in lines and "x-gnome-autostart-enabled=false" not in lines

    def enable(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{FILE_NAME}.tmp")
        tmp.write_text(desktop_entry(self.command), encoding="utf-8")
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.path)

    def disable(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
