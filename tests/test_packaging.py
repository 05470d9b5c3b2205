"""Packaging files stay valid: the release workflow parses, the agent bundle excludes the
trainer's heavy dependencies, the desktop entry has the keys a desktop needs."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_release_workflow_is_valid_yaml_with_three_os() -> None:
    wf = yaml.safe_load((ROOT / ".github/workflows/release.yml").read_text())
    # YAML 1.1 reads the key "on" as True.
    triggers = wf.get("on", wf.get(True))
    assert triggers["push"]["tags"] == ["v*"]
    matrix = wf["jobs"]["build"]["strategy"]["matrix"]["os"]
    assert {m.split("-")[0] for m in matrix} == {"ubuntu", "windows", "macos"}
    steps = " ".join(str(s.get("run", "")) for s in wf["jobs"]["build"]["steps"])
    assert "packaging/build.py agent" in steps


def test_agent_spec_excludes_trainer_dependencies() -> None:
    spec = (ROOT / "packaging/taskclf-agent.spec").read_text()
    for mod in ("sklearn", "scipy", "pandas", "trainer", "dask", "distributed", "pyarrow"):
        assert f'"{mod}"' in spec
    compile(spec, "taskclf-agent.spec", "exec")
    compile((ROOT / "packaging/taskclf-trainer.spec").read_text(), "trainer.spec", "exec")


def test_desktop_entry_has_required_keys() -> None:
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read(ROOT / "packaging/linux/taskclf.desktop")
    entry = cp["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Exec"].split()[0] == "taskclf-tray"
    assert entry["Terminal"] == "false"


def test_build_script_refuses_forbidden_modules(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("taskclf_build", ROOT / "packaging/build.py")
    assert spec and spec.loader
    build_script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_script)
    (tmp_path / "_internal" / "numpy").mkdir(parents=True)
    build_script.check_agent_bundle(tmp_path)  # fine
    (tmp_path / "_internal" / "scipy").mkdir()
    try:
        build_script.check_agent_bundle(tmp_path)
    except SystemExit as exc:
        assert "scipy" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("scipy in the agent bundle was not refused")


def test_build_script_help_runs() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "packaging/build.py"), "--help"],
        capture_output=True, text=True, check=True,
    )
    assert "agent" in out.stdout


def _build_script():  # type: ignore[no-untyped-def]
    import importlib.util

    spec = importlib.util.spec_from_file_location("taskclf_build", ROOT / "packaging/build.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_interpreter_libraries_lose_debug_info_and_still_load(tmp_path: Path) -> None:
    import ctypes
    import shutil

    if not (shutil.which("gcc") and shutil.which("strip")):  # pragma: no cover - CI has both
        from tests.conftest import missing_prerequisite

        missing_prerequisite("needs gcc and strip (apt install gcc binutils)")
    src = tmp_path / "m.c"
    src.write_text("int answer(void) { return 42; }\n")
    lib = tmp_path / "bundle" / "_internal" / "libpython3.11.so.1.0"
    lib.parent.mkdir(parents=True)
    subprocess.run(["gcc", "-g3", "-O0", "-shared", "-fPIC", "-o", str(lib), str(src)], check=True)
    other = lib.with_name("libother.so")
    shutil.copy(lib, other)
    saved = _build_script().strip_interpreter_debug_info(tmp_path / "bundle")
    assert saved > 0
    assert other.stat().st_size > lib.stat().st_size  # third-party libraries are left alone
    assert ctypes.CDLL(str(lib)).answer() == 42


def test_self_test_runs_on_an_x_display_when_the_build_machine_has_none() -> None:
    build = _build_script()
    exe = Path("dist/taskclf-tray/taskclf-tray")
    have = lambda name: f"/usr/bin/{name}"  # noqa: E731
    assert build.self_test_command(exe, "Linux", {"DISPLAY": ":3"}, have) == [str(exe), "--self-test"]
    assert build.self_test_command(exe, "Linux", {}, have) == ["xvfb-run", "-a", str(exe), "--self-test"]
    assert build.self_test_command(exe, "Windows", {}, have) == [str(exe), "--self-test"]
    with pytest.raises(SystemExit, match="install xvfb"):
        build.self_test_command(exe, "Linux", {}, lambda name: None)


def test_agent_bundle_ships_the_starter_model_and_every_tray_backend() -> None:
    spec = (ROOT / "packaging" / "taskclf-agent.spec").read_text()
    assert '(str(ROOT / "engine" / "data"), "engine/data")' in spec
    for backend in ("_gtk", "_appindicator", "_xorg", "_win32", "_darwin", "_dummy"):
        assert f'"pystray.{backend}"' in spec
