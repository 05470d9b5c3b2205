"""Shared test configuration: hypothesis profiles, fixture paths, temporary homes."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "dev", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
HYPOTHESIS_PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "dev")
settings.load_profile(HYPOTHESIS_PROFILE)

#: Examples per loader fuzz test (tests/test_loader_fuzz.py): files are the attack surface, so
#: CI runs a few thousand cases across the loaders (8 tests x 300), not the 60 of other
#: properties; "thorough" is for a long local run.
LOADER_FUZZ_EXAMPLES = {"ci": 300, "dev": 100, "thorough": 3000}.get(HYPOTHESIS_PROFILE, 100)

FIXTURES = Path(__file__).parent / "fixtures"
SEED = FIXTURES / "seed-project-v2"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Under ``-n``, tests marked with one ``xdist_group`` run on one test process, one after
    the other (``--dist loadgroup``, otherwise ``load``): the Dask cluster tests never start two
    clusters at once and share their reference model."""
    if getattr(config.option, "dist", "no") == "load":
        config.option.dist = "loadgroup"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing_prerequisite(msg: str) -> NoReturn:
    """Skip a test whose prerequisite is missing here; in CI (CI=true) fail it instead: a
    skip there would hide that the test never ran."""
    if in_ci():
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(autouse=True)
def _taskclf_logger_restored() -> Iterator[None]:
    """An in-process agent start sets up the ``taskclf`` logger (its file handler, no
    propagation); undo that after each test, so a later test's ``caplog`` still sees records."""
    logger = logging.getLogger("taskclf")
    propagate, level, handlers = logger.propagate, logger.level, list(logger.handlers)
    yield
    for h in [h for h in logger.handlers if h not in handlers]:
        logger.removeHandler(h)
        h.close()
    logger.propagate, logger.level = propagate, level


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty data directory; TASKCLF_HOME points at it."""
    h = tmp_path / "home"
    h.mkdir(mode=0o700)
    monkeypatch.setenv("TASKCLF_HOME", str(h))
    return h.resolve()


@pytest.fixture(scope="session")
def seed_dir() -> Path:
    return SEED


@pytest.fixture(scope="session")
def seed_bundle_dir() -> Path:
    return next((SEED / "models").iterdir())


def artifact_dir(name: str) -> Path:
    """Where e2e tests save screenshots and logs (kept by CI as test artifacts)."""
    d = ARTIFACTS / name
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="session")
def demo_home() -> Path:
    """ONE trained home (``taskclf demo``: synthetic history, train all, policy, report) shared by
    every test that needs a trained model. Built once per source version: cached under the
    system temp dir, keyed by a hash of the engine and trainer sources, behind an fcntl lock so
    parallel workers build it once. Tests must not modify it (copy it first)."""
    import fcntl
    import hashlib
    import shutil
    import subprocess
    import sys
    import tempfile

    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for pkg in ("engine", "trainer"):
        for f in sorted((root / pkg).rglob("*.py")):
            digest.update(f.relative_to(root).as_posix().encode())
            digest.update(f.read_bytes())
    if in_ci():
        # CI runs the real demo every time (it is the end-to-end test of the offline pipeline):
        # share it between the xdist workers of this run only, never with an earlier run.
        import uuid

        digest.update(os.environ.get("PYTEST_XDIST_TESTRUNUID", uuid.uuid4().hex).encode())
    base = Path(tempfile.gettempdir()) / f"taskclf-test-demo-{digest.hexdigest()[:16]}"
    base.mkdir(exist_ok=True)
    with open(base / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (base / "done").exists():
            home = base / "home"
            shutil.rmtree(home, ignore_errors=True)
            env = {k: v for k, v in os.environ.items() if k != "TASKCLF_HOME"}
            proc = subprocess.run(
                [sys.executable, "-m", "engine.cli.main", "demo", "--home", str(home)],
                capture_output=True, text=True, env=env, cwd=root, timeout=600,
            )
            (base / "demo_stdout.txt").write_text(proc.stdout)
            (base / "demo_stderr.txt").write_text(proc.stderr)
            if proc.returncode != 0:
                pytest.fail(f"taskclf demo failed ({proc.returncode}): {proc.stderr[-2000:]}")
            (base / "done").write_text("ok")
            import time

            for stale in base.parent.glob("taskclf-test-demo-*"):  # homes of older sources
                if stale != base and time.time() - stale.stat().st_mtime > 3600:
                    shutil.rmtree(stale, ignore_errors=True)
    return base / "home"


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An exported dataset (taskclf export dataset, needs pyarrow) of 4 synthetic users x 10 days
    (read-only: copy it before changing it)."""
    from engine.cli.main import main

    home = tmp_path_factory.mktemp("team-home")
    old = os.environ.get("TASKCLF_HOME")
    os.environ["TASKCLF_HOME"] = str(home)
    try:
        assert main(["synth", "--users", "4", "--days", "10", "--seed", "3"]) == 0
        out = tmp_path_factory.mktemp("share") / "data"
        assert main(["export", "dataset", "--out", str(out)]) == 0
    finally:
        if old is None:
            os.environ.pop("TASKCLF_HOME", None)
        else:
            os.environ["TASKCLF_HOME"] = old
    return out
