"""Shared bundles on disk: a folder or a ``.tar.gz`` with ``SHA256SUMS``, read safely.

A shared bundle is one flat directory named after its run id (``model.txt``, ``metadata.json``,
``categorical_encoders.json``, optional reports and ``calibration.json``) plus ``SHA256SUMS``
(``<sha256>  <file name>`` lines covering every other file). A tarball must carry the sums; a
folder is checked against them when it has them.

Tar members are validated here rather than trusted to ``tarfile``'s extraction: exactly one
top-level directory, regular files directly inside it, bounded member count and sizes, no
absolute names, ``..``, links or devices. Files are copied by reading member data ourselves, so
nothing in the archive decides where or what is written.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import tarfile
from pathlib import Path

from engine.bundle import BUNDLE_ID_RE
from engine.errors import ArtifactError
from engine.jsonio import read_bounded_bytes

SUMS_FILE = "SHA256SUMS"
MAX_FILES = 32
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_TOTAL_BYTES = 160 * 1024 * 1024
MAX_ARCHIVE_BYTES = 160 * 1024 * 1024
_FILE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SUM_LINE_RE = re.compile(r"^([0-9a-f]{64}) [ *]([^/\\]+)$")


def is_archive(path: Path) -> bool:
    return path.name.endswith((".tar.gz", ".tgz"))


def _write_new(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _check_name(archive: Path, name: str) -> None:
    if not _FILE_NAME_RE.match(name):
        raise ArtifactError(archive, name, "file names in a bundle must be made of [A-Za-z0-9._-]")


def unpack_folder(src: Path, dest: Path) -> Path:
    """Copy the regular files of bundle folder ``src`` into ``dest/<run_id>/`` (bounded)."""
    src = Path(src)
    if src.is_symlink() or not src.is_dir():
        raise ArtifactError(src, None, "not a bundle folder")
    run_id = src.resolve().name
    if not BUNDLE_ID_RE.match(run_id):
        raise ArtifactError(src, None, "bundle folder name must be made of [A-Za-z0-9._-]")
    out = dest / run_id
    out.mkdir()
    entries = sorted(os.scandir(src), key=lambda e: e.name)
    if len(entries) > MAX_FILES:
        raise ArtifactError(src, None, f"more than {MAX_FILES} files")
    total = 0
    for entry in entries:
        _check_name(src, entry.name)
        st = os.lstat(entry.path)
        if not stat.S_ISREG(st.st_mode):
            raise ArtifactError(Path(entry.path), None, "not a regular file (links and folders are refused)")
        data = read_bounded_bytes(Path(entry.path), MAX_FILE_BYTES)
        total += len(data)
        if total > MAX_TOTAL_BYTES:
            raise ArtifactError(src, None, f"bundle larger than {MAX_TOTAL_BYTES} bytes")
        _write_new(out / entry.name, data)
    return out


def unpack_archive(archive: Path, dest: Path) -> Path:
    """Extract the ``.tar.gz`` ``archive`` into ``dest/<run_id>/`` after validating every member."""
    archive = Path(archive)
    st = os.stat(archive) if archive.exists() else None
    if st is None:
        raise ArtifactError(archive, None, "file not found")
    if not stat.S_ISREG(st.st_mode):
        raise ArtifactError(archive, None, "not a regular file")
    if st.st_size > MAX_ARCHIVE_BYTES:
        raise ArtifactError(archive, None, f"archive larger than {MAX_ARCHIVE_BYTES} bytes")
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            return _extract(tar, archive, dest)
    except (tarfile.TarError, EOFError, OSError, UnicodeDecodeError) as exc:
        raise ArtifactError(archive, None, f"not a readable .tar.gz ({type(exc).__name__})") from None


def _member_file(archive: Path, m: tarfile.TarInfo) -> tuple[str, str]:
    """``(top directory, file name)`` of a member, refusing anything but ``top/file``."""
    name = m.name[2:] if m.name.startswith("./") else m.name
    parts = name.rstrip("/").split("/") if m.isdir() else name.split("/")
    if name.startswith("/") or "\\" in name or any(p in ("", ".", "..") for p in parts):
        raise ArtifactError(archive, m.name, "member path is absolute or leaves the bundle folder")
    if not (m.isreg() or m.isdir()):
        raise ArtifactError(archive, m.name, "not a regular file (links and devices are refused)")
    if m.isdir():
        if len(parts) != 1:
            raise ArtifactError(archive, m.name, "nested folders are refused (a bundle is flat)")
        return parts[0], ""
    if len(parts) != 2:
        raise ArtifactError(archive, m.name, "files must sit directly inside one bundle folder")
    return parts[0], parts[1]


def _extract(tar: tarfile.TarFile, archive: Path, dest: Path) -> Path:
    members: list[tuple[tarfile.TarInfo, str]] = []
    top: str | None = None
    total = 0
    for m in tar:
        if len(members) >= MAX_FILES:
            raise ArtifactError(archive, None, f"more than {MAX_FILES} members")
        folder, fname = _member_file(archive, m)
        if top is None:
            top = folder
        elif folder != top:
            raise ArtifactError(archive, m.name, "the archive must hold exactly one bundle folder")
        if not fname:
            continue
        _check_name(archive, fname)
        if m.size > MAX_FILE_BYTES:
            raise ArtifactError(archive, m.name, f"member larger than {MAX_FILE_BYTES} bytes")
        total += m.size
        if total > MAX_TOTAL_BYTES:
            raise ArtifactError(archive, None, f"bundle larger than {MAX_TOTAL_BYTES} bytes")
        members.append((m, fname))
    if top is None or not members:
        raise ArtifactError(archive, None, "empty archive")
    if not BUNDLE_ID_RE.match(top):
        raise ArtifactError(archive, top, "bundle folder name must be made of [A-Za-z0-9._-]")
    out = dest / top
    out.mkdir()
    seen: set[str] = set()
    for m, fname in members:
        if fname in seen:
            raise ArtifactError(archive, m.name, "appears twice in the archive")
        seen.add(fname)
        fh = tar.extractfile(m)
        if fh is None:
            raise ArtifactError(archive, m.name, "unreadable member")
        data = fh.read(MAX_FILE_BYTES + 1)
        if len(data) != m.size:
            raise ArtifactError(archive, m.name, "member size does not match its header")
        _write_new(out / fname, data)
    if SUMS_FILE not in seen:
        raise ArtifactError(archive, SUMS_FILE, "required in a bundle archive (sha256 of every file)")
    return out


def verify_sums(bundle_dir: Path, *, required: bool) -> None:
    """Check ``SHA256SUMS`` against every other file of ``bundle_dir`` (both directions)."""
    sums_path = bundle_dir / SUMS_FILE
    if not sums_path.is_file():
        if required:
            raise ArtifactError(sums_path, None, "file not found")
        return
    try:
        text = read_bounded_bytes(sums_path, 64 * 1024).decode("utf-8")
    except UnicodeDecodeError:
        raise ArtifactError(sums_path, None, "not UTF-8 text") from None
    declared: dict[str, str] = {}
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = _SUM_LINE_RE.match(line.strip())
        if m is None:
            raise ArtifactError(sums_path, f"line {i}", "expected '<sha256>  <file name>'")
        declared[m.group(2)] = m.group(1)
    present = {p.name for p in bundle_dir.iterdir() if p.name != SUMS_FILE}
    unlisted = sorted(present - set(declared))
    if unlisted:
        raise ArtifactError(sums_path, unlisted[0], "file is not listed")
    for name, digest in sorted(declared.items()):
        if name not in present:
            raise ArtifactError(sums_path, name, "listed file is missing")
        actual = hashlib.sha256(read_bounded_bytes(bundle_dir / name, MAX_FILE_BYTES)).hexdigest()
        if actual != digest:
            raise ArtifactError(sums_path, name, "sha256 does not match the file")


def sums_text(bundle_dir: Path) -> str:
    """``SHA256SUMS`` content for the files of ``bundle_dir`` (what ``models pack`` writes)."""
    lines = []
    for p in sorted(bundle_dir.iterdir(), key=lambda p: p.name):
        if p.name != SUMS_FILE:
            lines.append(f"{hashlib.sha256(read_bounded_bytes(p, MAX_FILE_BYTES)).hexdigest()}  {p.name}")
    return "\n".join(lines) + "\n"


def write_archive(bundle_dir: Path, out: Path) -> Path:
    """Write ``bundle_dir`` (flat, with its ``SHA256SUMS``) as ``out`` (.tar.gz), atomically."""
    tmp = out.with_name(f".{out.name}.tmp")
    with tarfile.open(tmp, mode="w:gz") as tar:
        tar.add(str(bundle_dir), arcname=bundle_dir.name, recursive=False)
        for p in sorted(bundle_dir.iterdir(), key=lambda p: p.name):
            tar.add(str(p), arcname=f"{bundle_dir.name}/{p.name}", recursive=False)
    os.replace(tmp, out)
    return out
