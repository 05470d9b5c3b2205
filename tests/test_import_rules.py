"""The package import rules of the architecture (spec 1.1), checked two ways:
statically over the source, and at run time through ``sys.modules`` in a fresh interpreter."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: The ``[team]`` extra (dataset export, pooled training): never in the agent-only install.
TEAM_ONLY = {"pyarrow", "dask", "distributed"}

FORBIDDEN: dict[str, set[str]] = {
    "engine": {"agent", "trainer", "pystray", "PIL", "psutil", "sklearn", "scipy", "pandas", "lightgbm",
               *TEAM_ONLY},
    "agent": {"trainer", "sklearn", "scipy", "pandas", "lightgbm", *TEAM_ONLY},
    "trainer": {"agent"},
}
ALLOWED_ENGINE_THIRD_PARTY = {"numpy", "pydantic", "platformdirs", "yaml"}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, a.name.split(".")[0]) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module.split(".")[0]))
    return out


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_static_import_rules(package: str) -> None:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for lineno, mod in _imports(path):
            if mod in FORBIDDEN[package]:
                bad.append(f"{path.relative_to(ROOT)}:{lineno} imports {mod}")
    assert not bad, "\n".join(bad)


def test_engine_third_party_imports_are_allowed_ones() -> None:
    stdlib = set(sys.stdlib_module_names)
    bad = []
    for path in sorted((ROOT / "engine").rglob("*.py")):
        for lineno, mod in _imports(path):
            if mod in stdlib or mod == "engine" or mod == "__future__":
                continue
            if mod not in ALLOWED_ENGINE_THIRD_PARTY:
                bad.append(f"{path.relative_to(ROOT)}:{lineno} imports {mod}")
    assert not bad, "\n".join(bad)


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True, text=True, cwd=ROOT, check=True, timeout=120,
    ).stdout
    return {m.split(".")[0] for m in json.loads(out.strip().splitlines()[-1])}


def test_engine_runtime_imports_no_heavy_modules() -> None:
    mods = _modules_after(
        "import engine.cli.main, engine.schema, engine.labels, engine.paths, engine.activity"
    )
    assert not mods & {"sklearn", "scipy", "pandas", "lightgbm", "agent", "trainer", "PIL", "pystray", *TEAM_ONLY}


def test_dispatcher_help_imports_no_heavy_modules() -> None:
    mods = _modules_after(
        "import engine.cli.main as m\n"
        "try:\n    m.main(['--help'])\nexcept SystemExit:\n    pass"
    )
    assert not mods & {"sklearn", "scipy", "pandas", "lightgbm", *TEAM_ONLY}


def test_personalisation_imports_neither_trainer_nor_scikit_learn() -> None:
    """``taskclf personalize`` runs in the agent-only install (temperature scaling)."""
    mods = _modules_after("import engine.personalize, engine.cli.personalize_cmd, engine.fitters")
    assert not mods & {"sklearn", "scipy", "pandas", "agent", "trainer"}


def test_model_install_imports_nothing_of_the_trainer_or_the_team_extra() -> None:
    """``taskclf models install`` works in the agent-only install."""
    mods = _modules_after("import engine.model_install, engine.bundle_archive, engine.cli.models_cmd")
    assert not mods & {"sklearn", "scipy", "pandas", "agent", "trainer", *TEAM_ONLY}


def test_the_agent_imports_nothing_of_the_team_extra() -> None:
    """The tray runs from the agent-only install: no pyarrow, dask or distributed at run time."""
    mods = _modules_after("import agent.cli, agent.tray_main, agent.runtime, agent.headless")
    assert not mods & {"sklearn", "scipy", "pandas", *TEAM_ONLY}
