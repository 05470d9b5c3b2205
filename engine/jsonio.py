"""Strict, bounded JSON reading and atomic writing for every artifact.

Reading refuses oversized files, invalid UTF-8, invalid JSON and the non-standard constants
``NaN``/``Infinity`` (a non-finite number is never a valid artifact value). Writing goes to a
temporary file in the same directory, is fsynced, then renamed over the target, so a reader
never sees a half-written file.
"""

from __future__ import annotations

import json
import math
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from engine.errors import ArtifactError, MissingFileError

DEFAULT_MAX_BYTES = 8 * 1024 * 1024


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} is not allowed")


def loads_strict(text: str | bytes, *, path: str | Path | None = None) -> Any:
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise ArtifactError(path, None, f"not valid JSON ({_short(exc)})") from None


def read_bounded_bytes(path: Path, max_bytes: int) -> bytes:
    """The bytes of ``path``, refused with one ``ArtifactError`` line when missing, unreadable,
    not a regular file (a FIFO, a device, a symlink to ``/dev/zero``) or larger than
    ``max_bytes`` (checked before and while reading: a growing file is caught).

    The file is opened non-blocking, so opening a FIFO never waits for a writer, and checked
    with ``fstat`` on the opened descriptor, so a symlink swapped in between cannot slip by.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise MissingFileError(path) from None
    except OSError as exc:
        raise ArtifactError(path, None, f"cannot read ({exc.strerror or type(exc).__name__})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ArtifactError(path, None, "not a regular file")
        if st.st_size > max_bytes:
            raise ArtifactError(path, None, f"file too large ({st.st_size} bytes > {max_bytes})")
        chunks: list[bytes] = []
        total = 0
        while total <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise ArtifactError(path, None, f"cannot read ({exc.strerror or type(exc).__name__})") from None
    finally:
        os.close(fd)
    if total > max_bytes:
        raise ArtifactError(path, None, f"file too large (> {max_bytes} bytes)")
    return b"".join(chunks)


def is_regular_file(path: Path) -> bool:
    """True for a regular file (following symlinks); FIFOs, devices and folders are not."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def read_json(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """Read a JSON file with a size bound; every failure is one ``ArtifactError`` line."""
    data = read_bounded_bytes(path, max_bytes)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ArtifactError(path, None, "not UTF-8 text") from None
    return loads_strict(text, path=path)


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


def finite_float(value: Any) -> float | None:
    """``value`` as a finite float, or None for NaN, infinities, integers too large for a float
    (JSON and TOML admit 400-digit integers; ``float()`` of one raises ``OverflowError``) and
    anything that is not a number. Bools are not numbers here."""
    if isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return f if math.isfinite(f) else None


def check_finite(value: Any, *, path: str | Path | None, field: str) -> float:
    """A real, finite number (bools are refused: ``true`` is not a threshold)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ArtifactError(path, field, f"expected a number, got {type(value).__name__}")
    f = finite_float(value)
    if f is None:
        raise ArtifactError(path, field, "must be finite")
    return f


def dumps(obj: Any, *, indent: int | None = 2) -> str:
    """Deterministic JSON text (allow_nan=False: artifacts never contain NaN)."""
    return json.dumps(obj, indent=indent, ensure_ascii=False, allow_nan=False) + "\n"


def atomic_write_bytes(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


def atomic_write_json(path: Path, obj: Any, *, mode: int = 0o644) -> None:
    atomic_write_bytes(path, dumps(obj).encode("utf-8"), mode=mode)


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
