"""TOML text -> a table, where every parse failure is one ``ArtifactError`` line.

``tomllib`` raises ``TOMLDecodeError`` for bad syntax, but also a plain ``ValueError`` for an
integer longer than Python's 4,300-digit limit and ``RecursionError`` for deep nesting; a
settings file must never turn either into a traceback.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from engine.errors import ArtifactError


def loads_toml(text: str, *, path: str | Path | None = None) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        reason = " ".join(str(exc).split())[:160]
    except RecursionError:
        reason = "nested too deeply"
    except ValueError as exc:  # the int-digits limit, or anything tomllib did not wrap
        reason = "a number has too many digits" if "digits" in str(exc) else " ".join(str(exc).split())[:160]
    raise ArtifactError(path, None, f"not valid TOML ({reason})")
