"""Where a command writes its lines: stdout, or a file that appears only when the command
succeeds (lines go to a temporary file beside it as they are made, renamed over it at the end),
so a long run holds no output in memory and a failed one leaves the old file untouched."""

from __future__ import annotations

import sys
from typing import Any


class TextOutput:
    """stdout, or a temporary file next to ``--output`` renamed over it only on success."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._tmp: Any = None
        self._fh: Any = None

    def __enter__(self) -> Any:
        if self.path == "-":
            return sys.stdout
        import tempfile
        from pathlib import Path

        from engine.errors import ArtifactError

        target = Path(self.path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, self._tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                             dir=target.parent)
        except OSError as exc:
            raise ArtifactError(self.path, None, f"cannot write ({exc.strerror})") from None
        self._fh = open(fd, "w", encoding="utf-8", newline="\n")
        return self._fh

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        import os

        if self._fh is None:
            sys.stdout.flush()
            return
        try:
            self._fh.close()
            if exc_type is None:
                os.replace(self._tmp, self.path)
                self._tmp = None
        finally:
            if self._tmp is not None:
                try:
                    os.unlink(self._tmp)
                except OSError:
                    pass
