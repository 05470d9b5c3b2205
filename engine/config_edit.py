"""Small edits of the user's ``config.toml`` (the tray's "Never track this app").

The file is the user's: comments, order and other keys are kept. Only the one top-level
assignment being changed is rewritten (on one line), or added before the first table when
absent. The result is checked with tomllib before it atomically replaces the file, so an edit
can never leave a config that does not load.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from engine.config import MAX_CONFIG_BYTES
from engine.errors import ArtifactError
from engine.jsonio import atomic_write_bytes
from engine.paths import config_path

_TABLE_HEADER = re.compile(r"^\s*\[")


def _toml_string(value: str) -> str:
    """A TOML basic string: quote, backslash and every control character escaped."""
    out = []
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _read(path: Path) -> str:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise ArtifactError(path, None, f"cannot read ({exc.strerror})") from None
    if size > MAX_CONFIG_BYTES or not path.is_file():
        raise ArtifactError(path, None, "not a regular file of a usable size")
    try:
        text = path.read_bytes().decode("utf-8-sig")
        tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ArtifactError(path, None, f"cannot be edited safely ({type(exc).__name__}); "
                            "fix or remove it first") from None
    return text


def _assignment_lines(lines: list[str], key: str) -> tuple[int, int] | None:
    """(first, end) line indexes of the top-level ``key = ...`` (a multi-line array too)."""
    start_re = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for i, line in enumerate(lines):
        if _TABLE_HEADER.match(line):
            return None  # top-level keys end at the first table
        if start_re.match(line):
            for j in range(i + 1, len(lines) + 1):
                try:
                    if key in tomllib.loads("".join(lines[i:j])):
                        return i, j
                except tomllib.TOMLDecodeError:
                    continue
            return None
    return None


def set_top_level(home: Path, key: str, value: list[str]) -> None:
    """Set ``key = [..strings..]`` at the top level of ``<home>/config.toml``."""
    path = config_path(home)
    text = _read(path)
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    new_line = f"{key} = [{', '.join(_toml_string(v) for v in value)}]\n"
    span = _assignment_lines(lines, key)
    if span is not None:
        lines[span[0]:span[1]] = [new_line]
    else:
        at = next((i for i, ln in enumerate(lines) if _TABLE_HEADER.match(ln)), len(lines))
        lines.insert(at, new_line)
    out = "".join(lines)
    parsed: dict[str, Any] = tomllib.loads(out)  # never write a file that does not load
    if parsed.get(key) != value:
        raise ArtifactError(path, key, "could not be updated safely")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, out.encode("utf-8"), mode=0o600)


def add_to_list(home: Path, key: str, item: str) -> bool:
    """Append ``item`` to the top-level string list ``key``; False when it was there already."""
    text = _read(config_path(home))
    current = tomllib.loads(text).get(key, []) if text else []
    if not isinstance(current, list):
        current = []
    values = [v for v in current if isinstance(v, str)]
    if item in values:
        return False
    set_top_level(home, key, [*values, item])
    return True
