"""The README's first commands work on a stock Debian 12 / Ubuntu 24.04 and CI runs them as written.

On those systems a system-wide ``pip install`` fails (externally-managed-environment), so each
line makes its own venv; ``.ci/run`` reads the lines from README.md and runs them unchanged.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_line(heading: str) -> str:
    """The same extraction as .ci/run's ``readme_line`` (run through bash, not re-implemented)."""
    script = (ROOT / ".ci" / "run").read_text()
    start = script.index("readme_line() {")
    func = script[start:script.index("\n}\n", start) + 3]
    out = subprocess.run(["bash", "-c", f"{func}\nreadme_line {heading!r}"], cwd=ROOT,
                         capture_output=True, text=True, timeout=30, check=True)
    return out.stdout.strip()


def test_ci_runs_the_readme_lines_exactly() -> None:
    readme = (ROOT / "README.md").read_text()
    run, test = readme_line("## Run it"), readme_line("## Test it")
    assert run and test
    assert f"```bash\n{run}\n```" in readme and f"```bash\n{test}\n```" in readme
    script = (ROOT / ".ci" / "run").read_text()
    assert 'eval "$RUN_LINE"' in script and 'eval "$TEST_LINE"' in script


def test_each_line_makes_its_venv_first_and_installs_nothing_system_wide() -> None:
    for line in (readme_line("## Run it"), readme_line("## Test it")):
        assert line.startswith("python3 -m venv .venv && . .venv/bin/activate && pip install ")
        assert "python3 -m pip install" not in line and "sudo pip" not in line
    assert readme_line("## Run it").endswith("&& taskclf demo")
    assert readme_line("## Test it").endswith("&& python -m pytest -n 2")
    readme = (ROOT / "README.md").read_text()
    assert "python3-venv" in readme and "externally-managed-environment" in readme
