"""Windows: the ``taskclf`` value under HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run.

``winreg`` is injectable so the registry content is tested on every OS.
"""

from __future__ import annotations

import subprocess
from typing import Any

RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
VALUE_NAME = "taskclf"


class RunKey:
    def __init__(self, command: list[str], *, winreg: Any = None) -> None:
        self.command = list(command)
        self._winreg = winreg

    @property
    def reg(self) -> Any:
        if self._winreg is None:
            import winreg  # Windows only

            self._winreg = winreg
        return self._winreg

    @property
    def command_line(self) -> str:
        return subprocess.list2cmdline(self.command)

    def is_enabled(self) -> bool:
        reg = self.reg
        try:
            with reg.OpenKey(reg.HKEY_CURRENT_USER, RUN_KEY, 0, reg.KEY_QUERY_VALUE) as key:
                value, _kind = reg.QueryValueEx(key, VALUE_NAME)
        except OSError:
            return False
        return bool(value)

    def enable(self) -> None:
        reg = self.reg
        with reg.CreateKeyEx(reg.HKEY_CURRENT_USER, RUN_KEY, 0, reg.KEY_SET_VALUE) as key:
            reg.SetValueEx(key, VALUE_NAME, 0, reg.REG_SZ, self.command_line)

    def disable(self) -> None:
        reg = self.reg
        try:
            with reg.OpenKey(reg.HKEY_CURRENT_USER, RUN_KEY, 0, reg.KEY_SET_VALUE) as key:
                reg.DeleteValue(key, VALUE_NAME)
        except FileNotFoundError:
            pass
