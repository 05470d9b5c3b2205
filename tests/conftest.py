"""Shared test configuration: hypothesis profiles, fixture paths, temporary homes."""

from __future__ import annotations

import os
from pathlib import Path

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
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

FIXTURES = Path(__file__).parent / "fixtures"
SEED = FIXTURES / "seed-project-v2"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


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
