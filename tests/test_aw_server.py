"""Against a real ActivityWatch server (aw-server from PyPI, testing mode, a free loopback port):
heartbeats go in through aw-client as ActivityWatch's watchers send them; taskclf imports them
(export file and REST API), samples them live, and writes its labels back, read through
aw-client. Without aw-server installed these tests skip locally and FAIL in CI."""

from __future__ import annotations

import json
import math
import shutil
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.activitywatch.importer import import_activitywatch, import_device_id
from agent.activitywatch.source import ExportFile, ServerSource
from agent.aggregator import Aggregator
from agent.identity import load_or_create_identity, load_or_create_title_key
from agent.observe import Observer
from agent.sampler._activitywatch import ActivityWatchBackend, _http_get_json
from engine.activity import ActivityRecord
from engine.paths import store_path
from engine.store import Store
from tests.awserver_helpers import AWServer, client, missing_prerequisites, start_aw_server
from tests.conftest import in_ci
from tests.test_aw_import import assert_same_records

pytestmark = pytest.mark.slow

T0 = datetime(2026, 3, 3, 13, 58, 40, tzinfo=UTC)
HOST = socket.gethostname()


def _utc(ts: float) -> tuple[int, str | None]:
    return 0, "UTC"


@pytest.fixture(scope="module")
def aw_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AWServer]:
    missing = missing_prerequisites()
    if missing:
        msg = (f"the ActivityWatch tests need {', '.join(missing)} "
               "(pip install -c ci/constraints.txt '.[aw-test]')")
        if in_ci():
            pytest.fail(msg)
        pytest.skip(msg)
    try:
        server = start_aw_server(tmp_path_factory.mktemp("aw"))
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        server.stop()


def stored(home: Path) -> list[ActivityRecord]:
    st = Store.open(store_path(home), readonly=True)
    try:
        return list(st.records())
    finally:
        st.close()


# One minute of varied work and a pause, second by second: (app, title, typing).
SCRIPT: list[tuple[str, str, bool]] = (
    [("Code", "billing.py - acme - Visual Studio Code", i % 4 != 0) for i in range(45)]
    + [("firefox", "Add retries by jk · Pull Request #12 · acme/api · GitHub — Mozilla Firefox",
        i % 9 == 0) for i in range(50)]
    + [("Gnome-terminal", "me@box: ~/acme — pytest", i < 5) for i in range(30)]
    + [("Slack", "Slack | #team | Acme", i % 3 == 0) for i in range(25)]
)


def feed(server: AWServer, host: str, *, with_input: bool, on_tick: Any = None) -> None:
    """Send SCRIPT as the window, AFK and input watchers would (heartbeats through aw-client);
    ``on_tick(t)`` runs after each second's heartbeats (the live backend samples there)."""
    from aw_core.models import Event

    win, afk = client(server, "aw-watcher-window", host), client(server, "aw-watcher-afk", host)
    b_win, b_afk, b_inp = (f"aw-watcher-window_{host}", f"aw-watcher-afk_{host}",
                           f"aw-watcher-input_{host}")
    win.create_bucket(b_win, "currentwindow")
    afk.create_bucket(b_afk, "afkstatus")
    inp = None
    if with_input:
        inp = client(server, "aw-watcher-input", host)
        inp.create_bucket(b_inp, "os.hid.input")
    last_input = T0
    for i, (app, title, typing) in enumerate(SCRIPT):
        now = T0 + timedelta(seconds=i)
        if typing:
            last_input = now
        win.heartbeat(b_win, Event(timestamp=now, data={"app": app, "title": title}),
                      pulsetime=2.0)
        if i % 5 == 0:  # the user never leaves for 3 minutes here: not-afk throughout
            afk.heartbeat(b_afk, Event(timestamp=last_input, data={"status": "not-afk"}),
                          pulsetime=185.0)
        if inp is not None:
            data = {"presses": 3 if typing else 0, "clicks": 1 if typing and i % 6 == 0 else 0,
                    "deltaX": 12 if typing else 0, "deltaY": 5 if typing else 0,
                    "scrollX": 0, "scrollY": 1 if i % 10 == 0 else 0}
            zero = not any(data.values())
            inp.heartbeat(b_inp, Event(timestamp=now, duration=1.0, data=data),
                          pulsetime=1.1 if zero else 0.0)
        if on_tick is not None:
            on_tick(now.timestamp())


def export_file(server: AWServer, path: Path) -> Path:
    path.write_text(json.dumps(server.get_json("/api/0/export")))
    return path


def test_import_from_the_export_file_and_the_api_agree(aw_server: AWServer,
                                                      tmp_path: Path) -> None:
    host = "import-host"
    feed(aw_server, host, with_input=True)
    path = export_file(aw_server, tmp_path / "export.json")
    homes = []
    for name, source in (("file", ExportFile(path)), ("api", ServerSource(aw_server.url))):
        home = tmp_path / name
        if homes:  # the same user and title key: the records must be equal byte for byte
            shutil.copytree(homes[0], home)
            for f in home.glob("store.sqlite3*"):
                f.unlink()
        else:
            home.mkdir()
        rep = import_activitywatch(home, source, host=host, local_offset=_utc)
        assert rep.imported >= 3 and rep.skipped_agent == 0
        homes.append(home)
    via_file, via_api = stored(homes[0]), stored(homes[1])
    assert_same_records(via_file, via_api)
    apps = [s.app_id for r in via_file for s in r.segments]
    assert {"com.microsoft.VSCode", "org.mozilla.firefox", "com.tinyspeck.slackmacgap"} <= set(apps)
    # 13:58:40-14:01:10 with an input watcher: counts known while it ran, unknown (not 0) in
    # the minute after the watchers stopped
    known = [r for r in via_file if r.bucket_start.strftime("%H:%M") in ("13:58", "13:59", "14:00")]
    assert len(known) == 3 and all(r.keys > 0 for r in known)
    assert math.isnan(via_file[-1].keys)
    assert any(s.domain_category == "code_hosting" for r in via_file for s in r.segments)


def test_live_backend_and_import_give_the_same_records(aw_server: AWServer, tmp_path: Path,
                                                       home: Path) -> None:
    """Sample the real server live, second by second while the heartbeats arrive, through the
    agent's Observer and Aggregator; then import the server's export: same records."""
    host = "live-host"
    ident = load_or_create_identity(home)
    observer = Observer(load_or_create_title_key(home))
    agg = Aggregator(user_id=ident.user_id, device_id=import_device_id(ident.user_id, host),
                     sources=("activitywatch",), local_offset=_utc)
    now = {"t": 0.0}
    # the agent's 0.5 s per request (behind its sampler guard) is too short on a loaded CI
    # machine; the test waits for every answer instead
    backend = ActivityWatchBackend(aw_server.url, hostname=host, clock=lambda: now["t"],
                                   fetch=lambda url: _http_get_json(url, timeout=60))
    live: list[ActivityRecord] = []
    started = {"ok": False}

    def on_tick(t: float) -> None:
        now["t"] = t
        if not started["ok"]:
            backend.start()
            started["ok"] = True
        live.extend(agg.tick(t, t, observer.observe(backend.sample())))

    feed(aw_server, host, with_input=True, on_tick=on_tick)
    assert backend.capabilities()["input_counts"] is True
    path = export_file(aw_server, tmp_path / "export.json")
    import_activitywatch(home, ExportFile(path), host=host, local_offset=_utc,
                         end=now["t"] + 1)
    live.extend(agg.flush())
    assert_same_records(stored(home), live)


def test_wayland_session_reads_windows_from_a_local_server(
        aw_server: AWServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import agent.sampler
    import agent.sampler._activitywatch as aw_backend
    from agent.sampler import open_backend

    # the agent's 0.5 s probe and requests are too short on a loaded CI machine
    monkeypatch.setattr(agent.sampler, "AW_PROBE_TIMEOUT_S", 60.0)
    monkeypatch.setattr(aw_backend, "_http_get_json",
                        lambda url, timeout=60.0: _http_get_json(url, timeout=60.0))

    feed(aw_server, HOST, with_input=False)
    env = {"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0", "XDG_SESSION_TYPE": "wayland"}
    backend, note = open_backend(None, env=env, activitywatch_url=aw_server.url)
    try:
        assert backend.NAME == "activitywatch" and note is None
        assert "input_counts" in backend.missing_signals()  # no input watcher on this host
    finally:
        backend.stop()


def test_export_writes_our_labels_into_their_own_buckets(aw_server: AWServer,
                                                        home: Path) -> None:
    from agent.activitywatch.exporter import export_activitywatch
    from tests.store_helpers import prediction, record, span

    ident = load_or_create_identity(home)
    load_or_create_title_key(home)
    st = Store.open(store_path(home))
    for m, label, conf in ((0, "Build", 0.8), (1, "Build", 0.6), (2, "Review", 0.7),
                           (3, "Review", 0.9), (5, "Build", 0.75)):
        st.put_record(record(m, user=ident.user_id, device=ident.device_id))
        st.put_prediction(ident.device_id, prediction(m, user=ident.user_id, label=label,
                                                      conf=conf))
    st.add_label_span(span(0, 2, "Debug", user=ident.user_id))
    st.add_label_span(span(2, 4, "Review", user=ident.user_id, confidence=0.5))
    st.close()
    host = "export-host"
    rep = export_activitywatch(home, server=aw_server.url, host=host)
    c = client(aw_server, "reader")
    preds = sorted(c.get_events(f"taskclf-predictions_{host}"), key=lambda e: e.timestamp)
    labels = sorted(c.get_events(f"taskclf-labels_{host}"), key=lambda e: e.timestamp)
    # runs of the shown label (09:00-09:02 Build, 09:02-09:04 Review, 09:05 Build)
    assert [(e.timestamp.strftime("%H:%M"), e.duration.total_seconds(), e.data["label"])
            for e in preds] == [("09:00", 120.0, "Build"), ("09:02", 120.0, "Review"),
                                ("09:05", 60.0, "Build")]
    assert [e.data for e in labels] == [{"label": "Debug"},
                                        {"label": "Review", "confidence": 0.5}]
    assert rep.counts == {"app.taskclf.prediction": 3, "app.taskclf.label": 2}
    assert {k for e in preds for k in e.data} == {"label", "confidence"}
    assert all(0.0 <= e.data["confidence"] <= 1.0 for e in preds)
    assert c.get_buckets()[f"taskclf-labels_{host}"]["type"] == "app.taskclf.label"
    # exporting again replaces our events instead of duplicating them
    again = export_activitywatch(home, server=aw_server.url, host=host)
    assert again.replaced == 5
    assert len(c.get_events(f"taskclf-predictions_{host}")) == 3
    # nothing but labels and confidences left taskclf
    raw = json.dumps(aw_server.get_json("/api/0/export"))
    for secret in (ident.user_id, ident.device_id, (home / "title.key").read_bytes().hex(),
                   "0123456789abcdef", "org.gnome.Terminal", "rules"):
        assert secret not in raw


def test_export_to_a_file_aw_can_import(aw_server: AWServer, home: Path, tmp_path: Path) -> None:
    from agent.activitywatch.exporter import export_activitywatch
    from tests.store_helpers import prediction

    ident = load_or_create_identity(home)
    st = Store.open(store_path(home))
    st.put_prediction(ident.device_id, prediction(0, user=ident.user_id, label="Write"))
    st.close()
    out = tmp_path / "sub" / "taskclf-aw.json"
    export_activitywatch(home, output=out, host="file-host")
    c = client(aw_server, "importer")
    doc = json.loads(out.read_text())
    c._post("import", doc)  # what ActivityWatch's "Import" does with the file
    got = c.get_events("taskclf-predictions_file-host")
    assert [e.data["label"] for e in got] == ["Write"]


def test_agent_upkeep_keeps_today_in_activitywatch(aw_server: AWServer, home: Path) -> None:
    from agent.activitywatch.upkeep import ExportUpkeep, local_midnight
    from tests.store_helpers import prediction

    ident = load_or_create_identity(home)
    st = Store.open(store_path(home))
    st.put_prediction(ident.device_id, prediction(0, user=ident.user_id, label="Meet"))
    st.close()
    clock = datetime(2026, 3, 2, 9, 30, tzinfo=UTC).timestamp()
    up = ExportUpkeep(home, aw_server.url, clock=lambda: clock)
    assert local_midnight(clock) <= datetime(2026, 3, 2, 9, 0, tzinfo=UTC).timestamp()
    assert up.run_once() and up.run_once()  # twice: replaced, not duplicated
    got = client(aw_server, "reader").get_events(f"taskclf-predictions_{HOST}")
    assert [e.data["label"] for e in got] == ["Meet"]


def test_the_agent_runs_the_upkeep_when_configured(aw_server: AWServer, home: Path) -> None:
    import dataclasses

    from tests.agent_helpers import make_runtime, wait_for
    from tests.store_helpers import prediction

    ident = load_or_create_identity(home)
    minute = datetime.now(UTC).replace(second=0, microsecond=0)  # today, whatever the zone
    st = Store.open(store_path(home))
    st.put_prediction(ident.device_id, dataclasses.replace(
        prediction(0, user=ident.user_id, label="ReadResearch"), bucket_start=minute.isoformat()))
    st.close()
    (home / "config.toml").write_text(
        f'activitywatch_url = "{aw_server.url}"\nactivitywatch_export = true\n')
    reader = client(aw_server, "reader")

    def exported() -> bool:
        try:
            events = reader.get_events(f"taskclf-predictions_{HOST}")
        except Exception:
            return False
        return any(e.data.get("label") == "ReadResearch" for e in events)

    rt = make_runtime(home)
    rt.start()
    try:
        assert wait_for(exported, timeout=120)
    finally:
        rt.stop()
