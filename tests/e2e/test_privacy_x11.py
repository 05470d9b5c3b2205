"""Privacy through the real sampling path: the headless agent on a real X server (Xvfb +
openbox) records a window of a made-up app with a made-up title; forgetting leaves no byte of
the app id, the app's name, the title or the title's hash anywhere in the home."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.paths import store_path
from engine.store import Store
from tests.e2e.test_x11_agent import start_agent, stop_agent, wait_boundary
from tests.e2e.xsession import XSession
from tests.store_helpers import readable

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(240)]

APP = "zqxsecretapp"
TITLE = "Zqx quarterly layoffs plan - draft 7"


def traces(home: Path) -> list[bytes]:
    """Every byte string that would give the app or the title away."""
    key = (home / "title.key").read_bytes()
    digest = hmac.new(key, TITLE.encode("utf-8"), hashlib.sha256).hexdigest()[:16]
    return [APP.encode(), f"unknown.{APP}".encode(), TITLE.encode("utf-8"),
            TITLE.encode("utf-16-le"), digest.encode(), APP.encode("utf-16-le")]


def found(home: Path, needles: list[bytes]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in sorted(home.rglob("*")):
        if f.is_file():
            data = readable(f.read_bytes())  # packed store rows inflated too
            hits = [n.decode("latin-1") for n in needles if n in data]
            if hits:
                out[str(f.relative_to(home))] = hits
    return out


def record_the_secret_app(home: Path, xs: XSession, *extra: str) -> None:
    secret = xs.window(APP, APP.capitalize(), TITLE, pid=False)
    term = xs.window("gnome-terminal-server", "Gnome-terminal", "bash ~/src")
    xs.activate(secret)
    agent = start_agent(home, xs, "--bucket-seconds", "5", "--sample-seconds", "0.25", *extra)
    try:
        b0 = wait_boundary(5)
        xs.activate(secret)
        xs.xdotool("type", "--delay", "40", "hello secret")
        time.sleep(max(0.0, b0 + 5 + 0.02 - time.time()))
        xs.activate(term)
        xs.xdotool("type", "--delay", "40", "ls")
        time.sleep(max(0.0, b0 + 10 + 0.02 - time.time()))
        xs.activate(secret)
        time.sleep(max(0.0, b0 + 12.6 - time.time()))
    finally:
        stop_agent(agent)


def test_forgetting_the_last_hour_leaves_no_trace(tmp_path: Path, xsession: XSession) -> None:
    home = tmp_path / "home"
    record_the_secret_app(home, xsession)
    with Store.open(store_path(home), readonly=True) as st:
        apps = {s.app_id for r in st.records() for s in r.segments}
    assert f"unknown.{APP}" in apps and "org.gnome.Terminal" in apps
    needles = traces(home)
    assert found(home, needles), "the recording holds the app: the search below can fail"

    cmd = [sys.executable, "-m", "engine.cli.main", "--home", str(home), "privacy", "forget",
           "--last", "60"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Forgot the last 60 min" in done.stdout
    assert found(home, needles) == {}
    with Store.open(store_path(home), readonly=True) as st:
        assert st.count_records() == 0 and st.predictions() == []
