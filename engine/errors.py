"""User-facing errors: one line, naming the file and the field.

Every loader raises ``ArtifactError`` (a ``TaskclfError``); the CLI prints ``str(err)`` and
exits non-zero without a traceback.
"""

from __future__ import annotations

from pathlib import Path


class TaskclfError(Exception):
    """An error whose message is meant for the user, on one line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class ArtifactError(TaskclfError, ValueError):
    """A file (bundle, store, policy, taxonomy, config, row...) was refused."""

    def __init__(self, path: str | Path | None, field: str | None, reason: str) -> None:
        self.path = str(path) if path is not None else None
        self.field = field
        self.reason = reason
        where = self.path or "<input>"
        if field:
            where = f"{where}: {field}"
        super().__init__(f"{where}: {reason}")


class MissingFileError(ArtifactError):
    """The file does not exist (callers for which absence means "use the defaults")."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path, None, "file not found")
