"""A real X server for end-to-end tests: Xvfb + openbox (+ xdotool to drive it).

When the programs are missing the tests skip locally and FAIL in CI (``CI=1``), so a broken CI
image can never turn them into silent passes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import in_ci
from tests.e2e.xsession import XSession, missing_prerequisites, open_session

__all__ = ["require_x", "xsession"]


def require_x() -> None:
    missing = missing_prerequisites()
    if missing:
        msg = f"end-to-end X11 test needs {', '.join(missing)}"
        if in_ci():
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.fixture
def xsession() -> Iterator[XSession]:
    require_x()
    try:
        sess = open_session()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield sess
    finally:
        sess.close()
