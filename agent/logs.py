"""Rotating, redacted logs under ``<home>/logs`` (spec 1.3, 7.4).

The agent never passes titles or key identities to a logger; the redacting filter is a second
line of defence: anything that looks like a URL, an e-mail address or a quoted string longer
than a few characters is masked before it reaches the file.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import traceback
from pathlib import Path

from engine.paths import logs_dir

LOG_FILE = "agent.log"
_MAX_BYTES = 1_000_000
_BACKUPS = 3

_PATTERNS = (
    re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://\S+"),  # URLs
    re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"),  # e-mail addresses
    re.compile(r"'[^'\n]{4,}'|\"[^\"\n]{4,}\""),  # quoted strings (may be titles)
)


def redact(text: str) -> str:
    for pat in _PATTERNS:
        text = pat.sub("<redacted>", text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:
            msg = str(record.msg)
        record.msg = redact(msg)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            # keep where it happened (file, line, function) but not the exception's text,
            # which may carry data (a path, a value, in theory a title)
            exc = record.exc_info[1]
            frames = traceback.extract_tb(record.exc_info[2])[-4:]
            where = " <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}"
                                for f in reversed(frames))
            record.exc_text = None
            record.msg += f" [{type(exc).__name__} at {where}]" if where else f" [{type(exc).__name__}]"
            record.exc_info = None
        return True


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log whose files only their owner can read (0600), rotated ones included."""

    def _open(self):  # type: ignore[no-untyped-def]  # logging's own signature
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # a file left by an older version keeps no wider mode
        return open(fd, self.mode, encoding=self.encoding, errors=self.errors)


def _wants_console(record: logging.LogRecord) -> bool:
    """``extra={"console": False}``: for the file only (the caller already told the user)."""
    return bool(getattr(record, "console", True))


def setup_logging(home: Path, *, level: str | int = "INFO", console: bool = False) -> Path | None:
    """Attach a rotating file handler to the ``taskclf`` logger; return the file (None if the
    directory cannot be written: logging then stays on stderr only)."""
    logger = logging.getLogger("taskclf")
    if isinstance(level, str):
        level = logging.getLevelName(level.upper()) if level else logging.INFO
        if not isinstance(level, int):
            level = logging.INFO
    logger.setLevel(level)
    for h in list(logger.handlers):
        if getattr(h, "_taskclf", False):
            logger.removeHandler(h)
            h.close()
    path: Path | None = logs_dir(home) / LOG_FILE
    handler: logging.Handler
    try:
        assert path is not None
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handler = PrivateRotatingFileHandler(
            path, maxBytes=_MAX_BYTES, backupCount=_BACKUPS, encoding="utf-8"
        )
    except OSError:
        path = None
        handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    setattr(handler, "_taskclf", True)  # noqa: B010
    logger.addHandler(handler)
    if console:
        con = logging.StreamHandler()
        con.setFormatter(logging.Formatter("taskclf: %(levelname)s: %(message)s"))
        con.addFilter(RedactingFilter())
        con.addFilter(_wants_console)
        con.setLevel(logging.WARNING)
        setattr(con, "_taskclf", True)  # noqa: B010
        logger.addHandler(con)
    logger.propagate = False
    return path
