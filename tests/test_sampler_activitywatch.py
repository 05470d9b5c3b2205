"""The ActivityWatch backend against a fake aw-server on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agent.sampler import BackendUnavailable, default_backend_name
from agent.sampler._activitywatch import ActivityWatchBackend

NOW = datetime(2026, 3, 2, 10, 0, 30, tzinfo=UTC)


class FakeAW:
    def __init__(self) -> None:
        self.buckets: dict[str, Any] = {
            "aw-watcher-window_box": {"id": "aw-watcher-window_box", "type": "currentwindow",
                                      "hostname": "box"},
            "aw-watcher-afk_box": {"id": "aw-watcher-afk_box", "type": "afkstatus",
                                   "hostname": "box"},
            "aw-watcher-window_other": {"id": "aw-watcher-window_other",
                                        "type": "currentwindow", "hostname": "other"},
        }
        self.window = {"timestamp": (NOW - timedelta(seconds=20)).isoformat(), "duration": 19.0,
                       "data": {"app": "firefox", "title": "Pull requests - GitHub"}}
        self.afk = {"timestamp": (NOW - timedelta(seconds=300)).isoformat(), "duration": 300,
                    "data": {"status": "not-afk"}}
        self.paths: list[str] = []


@pytest.fixture
def aw() -> Iterator[tuple[str, FakeAW]]:
    state = FakeAW()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            state.paths.append(self.path)
            if self.path == "/api/0/buckets/":
                body: Any = state.buckets
            elif self.path.startswith("/api/0/buckets/aw-watcher-window_box/events"):
                body = [state.window]
            elif self.path.startswith("/api/0/buckets/aw-watcher-afk_box/events"):
                body = [state.afk]
            else:
                self.send_response(404)
                self.end_headers()
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()


def test_reads_window_and_afk_state_of_this_host(aw: tuple[str, FakeAW]) -> None:
    url, state = aw
    b = ActivityWatchBackend(url, hostname="box", clock=lambda: NOW.timestamp())
    b.start()
    s = b.sample()
    assert (s.app_name, s.title, s.idle_seconds) == ("firefox", "Pull requests - GitHub", 0.0)
    assert b.missing_signals() == ("input_counts", "lock_state")
    state.afk = {"timestamp": (NOW - timedelta(seconds=240)).isoformat(), "duration": 240,
                 "data": {"status": "afk"}}
    assert b.sample().idle_seconds == 240.0
    state.window["timestamp"] = (NOW - timedelta(minutes=10)).isoformat()  # watcher stopped
    assert not b.sample().has_foreground


def test_refuses_non_loopback_urls_and_absent_servers() -> None:
    with pytest.raises(BackendUnavailable, match="must point at this machine"):
        ActivityWatchBackend("http://example.com:5600")
    b = ActivityWatchBackend("http://127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(BackendUnavailable, match=r"no ActivityWatch server at http://127\.0\.0\.1:9"):
        b.start()


def test_chosen_on_linux_without_x_when_configured() -> None:
    assert default_backend_name("linux", {}, activitywatch_url="http://127.0.0.1:5600") == \
        "activitywatch"
    assert default_backend_name("linux", {"DISPLAY": ":0"},
                                activitywatch_url="http://127.0.0.1:5600") == "x11"


def test_agent_records_buckets_from_activitywatch(aw: tuple[str, FakeAW], home: Path) -> None:
    import time

    from engine.paths import store_path
    from engine.store import Store
    from tests.agent_helpers import make_runtime

    url, state = aw
    state.buckets["aw-watcher-window_box"]["hostname"] = __import__("socket").gethostname()
    state.buckets["aw-watcher-afk_box"]["hostname"] = __import__("socket").gethostname()
    now = datetime.now(UTC)
    state.window["timestamp"] = now.isoformat()
    state.window["duration"] = 1000
    (home / "config.toml").write_text(f'activitywatch_url = "{url}"\n')
    rt = make_runtime(home, None)
    rt._backend_arg = None  # let the runtime choose, like a Wayland session would
    import os

    old = os.environ.pop("DISPLAY", None)
    try:
        rt.start()
        time.sleep(2.3)
        rt.stop()
    finally:
        if old is not None:
            os.environ["DISPLAY"] = old
    assert rt.snapshot().sampler_backend == "activitywatch"
    st = Store.open(store_path(home), readonly=True)
    recs = list(st.records())
    st.close()
    assert recs and recs[0].segments[0].app_id == "org.mozilla.firefox"
    assert recs[0].segments[0].domain_category == "code_hosting"
    assert all(r.sources == ("activitywatch",) for r in recs)


def test_an_unconfigured_server_is_never_contacted(aw: tuple[str, FakeAW]) -> None:
    """Backend listings (doctor, self-test) connect only to a configured server (spec 2.1)."""
    from agent.doctor import _backend_report
    from agent.sampler import AW_NOT_CONFIGURED, available_backends

    url, state = aw
    assert available_backends(None)["activitywatch"] == AW_NOT_CONFIGURED
    assert _backend_report("activitywatch", None)["reason"] == AW_NOT_CONFIGURED
    assert state.paths == []
    for bid in ("aw-watcher-window_box", "aw-watcher-afk_box"):
        state.buckets[bid]["hostname"] = __import__("socket").gethostname()
    assert available_backends(url)["activitywatch"] == "ok"  # configured: asked
    assert state.paths


def test_another_hosts_buckets_are_never_read_instead(aw: tuple[str, FakeAW]) -> None:
    """Without a window bucket of this computer the backend refuses and names the hosts it saw
    (it used to read another host's bucket without a word)."""
    url, state = aw
    b = ActivityWatchBackend(url, hostname="laptop", clock=lambda: NOW.timestamp())
    with pytest.raises(BackendUnavailable, match=r"only from box, other, not from this computer \(laptop\)"):
        b.start()
    assert not any("/events" in p for p in state.paths)


def test_afk_bucket_of_another_host_is_not_used(aw: tuple[str, FakeAW]) -> None:
    url, state = aw
    del state.buckets["aw-watcher-afk_box"]
    state.buckets["aw-watcher-afk_other"] = {"id": "aw-watcher-afk_other", "type": "afkstatus",
                                             "hostname": "other"}
    b = ActivityWatchBackend(url, hostname="box", clock=lambda: NOW.timestamp())
    b.start()
    s = b.sample()
    assert s.app_name == "firefox"
    assert s.idle_seconds != s.idle_seconds  # NaN: no AFK watcher on this host
    assert not any("afk_other" in p for p in state.paths)
    assert any("no AFK watcher" in n for n in b.notes())
