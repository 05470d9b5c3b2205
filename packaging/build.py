"""Build a PyInstaller onedir bundle of the agent or the trainer, then run its self-test.

    python packaging/build.py agent      # taskclf-tray (+ taskclf CLI) without scikit-learn/SciPy/pandas
    python packaging/build.py trainer    # taskclf with the trainer

The output lands in ``dist/<name>/``; on Linux a ``.tar.gz`` with a ``.sha256`` is written next to
it. The build fails when the self-test fails or, for the agent, when a forbidden module was
bundled.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FORBIDDEN_IN_AGENT = ("sklearn", "scipy", "pandas", "dask", "distributed", "pyarrow")


def _run(cmd: list[str], **kw: object) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)  # type: ignore[call-overload]


def self_test_command(exe: Path, system: str | None = None, env: dict[str, str] | None = None,
                      which: object = shutil.which) -> list[str]:
    """The self-test samples this platform's own backend; on Linux that needs an X display, so
    a headless build machine runs it under ``xvfb-run`` (Debian/Ubuntu package ``xvfb``)."""
    system = system or platform.system()
    env = dict(os.environ) if env is None else env
    cmd = [str(exe), "--self-test"]
    if system == "Linux" and not env.get("DISPLAY"):
        if not callable(which) or which("xvfb-run") is None:
            raise SystemExit("the self-test samples the X11 backend: set DISPLAY or install xvfb "
                             "(xvfb-run)")
        cmd = ["xvfb-run", "-a", *cmd]
    return cmd


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def dir_size_mb(path: Path) -> float:
    """Bytes on disk, each file once (symlinks into the bundle are not counted again)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6


def strip_interpreter_debug_info(bundle: Path) -> int:
    """Drop debug sections from the Python interpreter's own libraries (libpython and the
    lib-dynload extension modules; a source-built Python keeps ~25 MB of DWARF there).

    Only those: stripping third-party wheels' libraries breaks some (numpy's OpenBLAS), which is
    why PyInstaller's global ``strip`` stays off. Returns the bytes saved."""
    strip = shutil.which("strip")
    if strip is None or platform.system() != "Linux":
        return 0
    targets = [p for p in bundle.rglob("libpython3*.so*") if p.is_file() and not p.is_symlink()]
    targets += [p for p in bundle.rglob("lib-dynload/*.so") if p.is_file() and not p.is_symlink()]
    before = sum(p.stat().st_size for p in targets)
    for p in targets:
        subprocess.run([strip, "--strip-debug", str(p)], check=True)
    return before - sum(p.stat().st_size for p in targets)


def check_agent_bundle(bundle: Path) -> None:
    """Refuse an agent bundle that carries scikit-learn, SciPy or pandas."""
    bad = sorted(
        {p.name for p in bundle.rglob("*") if p.is_dir() and p.name in FORBIDDEN_IN_AGENT}
    )
    if bad:
        raise SystemExit(f"agent bundle contains forbidden packages: {', '.join(bad)}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("target", choices=["agent", "trainer"])
    ap.add_argument("--dist", default=str(ROOT / "dist"))
    ap.add_argument("--skip-self-test", action="store_true")
    args = ap.parse_args(argv)

    spec = HERE / f"taskclf-{args.target}.spec"
    dist = Path(args.dist)
    work = ROOT / "build" / args.target
    _run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean",
         "--distpath", str(dist), "--workpath", str(work), str(spec)],
        cwd=ROOT,
    )
    name = "taskclf-tray" if args.target == "agent" else "taskclf"
    bundle = dist / name
    if platform.system() == "Darwin" and (dist / "taskclf.app").exists():
        bundle = dist / "taskclf.app" / "Contents" / "MacOS"
    if args.target == "agent":
        check_agent_bundle(bundle)
    saved = strip_interpreter_debug_info(bundle)
    if saved:
        print(f"debug info stripped from the interpreter's libraries: {saved / 1e6:.1f} MB")
    exe = bundle / (name + (".exe" if os.name == "nt" else ""))
    if not args.skip_self_test:
        if args.target == "agent":
            _run(self_test_command(exe), env={**os.environ, "TASKCLF_HOME": str(work / "selftest-home")})
        else:
            _run([str(exe), "--help"])
    print(f"{bundle}: {dir_size_mb(bundle):.1f} MB")
    if platform.system() == "Linux":
        archive = dist / f"{name}-linux-{platform.machine()}.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(bundle, arcname=name)
        digest = _sha256(archive)
        (archive.with_name(archive.name + ".sha256")).write_text(f"{digest}  {archive.name}\n")
        print(f"{archive}: sha256 {digest}")
    shutil.rmtree(work / "selftest-home", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
