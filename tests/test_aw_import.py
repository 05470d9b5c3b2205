"""``taskclf import activitywatch`` on scripted exports: one aggregation path with the live
backend, idempotence, the agent's own records winning, hosts, missing signals, bad files."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.activitywatch.importer import import_activitywatch, import_device_id
from agent.activitywatch.source import ExportFile
from agent.aggregator import Aggregator
from agent.identity import load_or_create_identity, load_or_create_title_key
from agent.observe import Observer
from agent.sampler._activitywatch import ActivityWatchBackend
from engine.activity import ActivityRecord
from engine.errors import ArtifactError, TaskclfError
from engine.paths import store_path
from engine.store import Store
from tests.aw_events_helpers import (
    ReplayServer,
    Second,
    day_script,
    export_json,
    watcher_events,
)
from tests.store_helpers import readable

T0 = datetime(2026, 3, 2, 8, 59, 30, tzinfo=UTC).timestamp()
UTC_OFFSET = (0, "UTC")


def _offset(ts: float) -> tuple[int, str | None]:
    return UTC_OFFSET


def write_export(path: Path, hosts: dict[str, dict[str, list[dict[str, Any]]]]) -> Path:
    path.write_text(json.dumps(export_json(hosts)))
    return path


def stored(home: Path) -> list[ActivityRecord]:
    st_ = Store.open(store_path(home), readonly=True)
    try:
        return list(st_.records())
    finally:
        st_.close()


def live_records(home: Path, host: str, kinds: dict[str, list[dict[str, Any]]],
                 seconds: list[Second]) -> list[ActivityRecord]:
    """What the agent would have stored: the live backend sampled at every second the
    computer was on, reduced by the agent's Observer, aggregated by the agent's Aggregator."""
    ident = load_or_create_identity(home)
    observer = Observer(load_or_create_title_key(home))
    server = ReplayServer(host, kinds)
    backend = ActivityWatchBackend("http://127.0.0.1:5600", fetch=server.fetch, hostname=host,
                                   clock=lambda: server.now)
    backend.start()
    agg = Aggregator(user_id=ident.user_id, device_id=import_device_id(ident.user_id, host),
                     sources=("activitywatch",), local_offset=_offset)
    out: list[ActivityRecord] = []
    spans = [(datetime.fromisoformat(e["timestamp"]).timestamp(), e["duration"])
             for k in ("currentwindow", "afkstatus") for e in kinds[k]]
    streams = [[(datetime.fromisoformat(e["timestamp"]).timestamp(), e["duration"])
                for e in kinds[k]] for k in ("currentwindow", "afkstatus")]
    assert spans
    for i in range(len(seconds) + 120):
        t = T0 + i
        # the computer counts as on while the newest window or AFK event (of those started by
        # then) has not been over for more than a minute (docs/activitywatch.md)
        newest = [max((e for e in evs if e[0] <= t), default=None) for evs in streams]
        if not any(e is not None and t <= e[0] + e[1] + 60 for e in newest):
            continue
        server.now = T0 + i
        out.extend(agg.tick(T0 + i, T0 + i, observer.observe(backend.sample())))
    out.extend(agg.flush())
    return out


def assert_same_records(a: list[ActivityRecord], b: list[ActivityRecord]) -> None:
    assert [r.bucket_start for r in a] == [r.bucket_start for r in b]
    for ra, rb in zip(a, b, strict=True):
        for f in fields(ActivityRecord):
            va, vb = getattr(ra, f.name), getattr(rb, f.name)
            if isinstance(va, float) and math.isnan(va):
                assert isinstance(vb, float) and math.isnan(vb), (ra.bucket_start, f.name)
            else:
                assert va == vb, (ra.bucket_start, f.name, va, vb)


@pytest.mark.parametrize("with_input", [True, False])
def test_import_gives_the_live_backends_records_field_by_field(
        tmp_path: Path, home: Path, with_input: bool) -> None:
    seconds = day_script(random.Random(7), 50)
    kinds = watcher_events(T0, seconds, with_input=with_input)
    path = write_export(tmp_path / "aw.json", {"box": kinds})
    report = import_activitywatch(home, ExportFile(path), local_offset=_offset)
    imported = stored(home)
    assert report.imported == len(imported) > 40
    assert_same_records(imported, live_records(home, "box", kinds, seconds))
    typed = [r for r in imported if r.active_seconds_any > 0]
    assert typed and any(r.segments for r in imported)
    if with_input:
        assert any(r.keys > 0 for r in imported)
    else:  # no input watcher: counts unknown, never 0
        assert all(math.isnan(r.keys) and math.isnan(r.clicks) for r in imported)
        assert any("input counts stay unknown" in line for line in report.lines())


@settings(max_examples=15)
@given(seed=st.integers(0, 10_000), with_input=st.booleans(), minutes=st.integers(2, 25))
def test_import_equals_live_for_any_script(tmp_path_factory: pytest.TempPathFactory,
                                           seed: int, with_input: bool, minutes: int) -> None:
    home = tmp_path_factory.mktemp("home")
    seconds = day_script(random.Random(seed), minutes)
    kinds = watcher_events(T0, seconds, with_input=with_input)
    if not kinds["currentwindow"] and not kinds["afkstatus"]:
        return
    path = write_export(tmp_path_factory.mktemp("x") / "aw.json", {"box": kinds})
    import_activitywatch(home, ExportFile(path), local_offset=_offset)
    assert_same_records(stored(home), live_records(home, "box", kinds, seconds))


def _simple(minutes: int = 10) -> list[Second]:
    return [Second("Code", "main.py - proj - Visual Studio Code", i % 3 != 0)
            for i in range(minutes * 60)]


def test_import_is_idempotent_and_the_agents_records_win(tmp_path: Path, home: Path) -> None:
    kinds = watcher_events(T0, _simple(10), with_input=False)
    path = write_export(tmp_path / "aw.json", {"box": kinds})
    ident = load_or_create_identity(home)
    # the agent recorded two of those buckets itself
    agent_rec = [ActivityRecord(user_id=ident.user_id, device_id=ident.device_id,
                                bucket_start=datetime(2026, 3, 2, 9, m, tzinfo=UTC),
                                observed_seconds=60.0, utc_offset_minutes=0,
                                active_seconds_any=60.0, sources=("x11",)) for m in (3, 4)]
    st_ = Store.open(store_path(home))
    st_.put_records(agent_rec)
    st_.close()
    first = import_activitywatch(home, ExportFile(path), local_offset=_offset)
    assert first.skipped_agent == 2 and first.already_imported == 0
    assert first.imported == first.records - 2
    after_first = stored(home)
    second = import_activitywatch(home, ExportFile(path), local_offset=_offset)
    assert (second.imported, second.already_imported, second.skipped_agent) == \
        (0, first.imported, 2)
    assert [r.to_json() for r in stored(home)] == [r.to_json() for r in after_first]
    mine = [r for r in after_first if r.bucket_start.minute in (3, 4)]
    assert [r.sources for r in mine] == [("x11",), ("x11",)]
    assert "skipped 2 the agent had already recorded" in "\n".join(first.lines())


def test_several_hosts_are_listed_and_never_mixed(tmp_path: Path, home: Path) -> None:
    a = watcher_events(T0, _simple(5), with_input=False)
    b = watcher_events(T0, [Second("Slack", "Slack | #x", True)] * 300, with_input=False)
    path = write_export(tmp_path / "aw.json", {"laptop": a, "desktop": b})
    with pytest.raises(TaskclfError, match=r"2 hosts \(desktop, laptop\); choose one with --host"):
        import_activitywatch(home, ExportFile(path), local_offset=_offset)
    assert not store_path(home).exists() or stored(home) == []
    with pytest.raises(TaskclfError, match=r"no buckets of host 'nas' \(hosts: desktop, laptop\)"):
        import_activitywatch(home, ExportFile(path), host="nas", local_offset=_offset)
    rep = import_activitywatch(home, ExportFile(path), host="desktop", local_offset=_offset)
    apps = {s.app_id for r in stored(home) for s in r.segments}
    assert rep.host == "desktop" and apps == {"com.tinyspeck.slackmacgap"}


def test_from_and_to_limit_the_range(tmp_path: Path, home: Path) -> None:
    kinds = watcher_events(T0, _simple(30), with_input=False)
    path = write_export(tmp_path / "aw.json", {"box": kinds})
    start = datetime(2026, 3, 2, 9, 10, tzinfo=UTC).timestamp()
    end = datetime(2026, 3, 2, 9, 15, tzinfo=UTC).timestamp()
    import_activitywatch(home, ExportFile(path), start=start, end=end, local_offset=_offset)
    got = [r.bucket_start.strftime("%H:%M") for r in stored(home)]
    assert got == ["09:10", "09:11", "09:12", "09:13", "09:14"]


def test_no_raw_title_or_app_path_reaches_the_home(tmp_path: Path, home: Path) -> None:
    secret = "Offer letter for Jane Roe - salary 123456 — Mozilla Firefox"
    seconds = [Second("/opt/firefox/firefox-bin", secret, True)] * 300
    kinds = watcher_events(T0, seconds, with_input=False)
    path = write_export(tmp_path / "aw.json", {"box": kinds})
    import_activitywatch(home, ExportFile(path), local_offset=_offset)
    assert stored(home)
    for f in home.rglob("*"):
        if f.is_file():
            data = readable(f.read_bytes())
            for needle in (b"Jane Roe", b"123456", b"/opt/firefox", b"Offer letter"):
                assert needle not in data, (f, needle)


@pytest.mark.parametrize(("text", "field"), [
    ('{"buckets": {"w": {"type": "currentwindow", "hostname": "h", "events": '
     '[{"timestamp": "yesterday", "duration": 1, "data": {}}]}}}',
     r"aw.json: buckets.w.events\[0\].timestamp: not an ISO-8601 timestamp"),
    ('{"buckets": {"w": {"type": "afkstatus", "hostname": "h", "events": '
     '[{"timestamp": "2026-03-02T09:00:00+00:00", "duration": 1, "data": {"status": "away"}}]}}}',
     r"aw.json: buckets.w.events\[0\].data.status: expected 'afk' or 'not-afk'"),
    ('{"buckets": {"w": {"type": "currentwindow", "hostname": "h", "events": '
     '[{"timestamp": "2026-03-02T09:00:00+00:00", "duration": -5, "data": {}}]}}}',
     r"aw.json: buckets.w.events\[0\].duration: out of range"),
    ('{"buckets": {"w": {"type": "currentwindow", "events": []}}}',
     r"aw.json: buckets.w.hostname: missing"),
    ('{"bucket": {}}', r"aw.json: buckets: missing"),
    ('[1, 2]', r"aw.json: not an ActivityWatch export"),
    ('{"buckets": {"w": {"type": "currentwindow", "hostname": "h", "events": [{"timest',
     r"aw.json: .*not a valid ActivityWatch export"),
])
def test_a_malformed_export_is_refused_naming_file_and_field(
        tmp_path: Path, home: Path, text: str, field: str) -> None:
    path = tmp_path / "aw.json"
    path.write_text(text)
    with pytest.raises(ArtifactError, match=field):
        import_activitywatch(home, ExportFile(path), local_offset=_offset)


def test_special_files_are_refused(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    with pytest.raises(ArtifactError, match="fifo.json: not a regular file"):
        ExportFile(fifo)
    with pytest.raises(ArtifactError, match="nope.json: file not found"):
        ExportFile(tmp_path / "nope.json")


def test_cli_reports_one_line_errors_and_progress(tmp_path: Path, home: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"buckets": {"w": {"type": "currentwindow", "events": []}}}')
    env = {"TASKCLF_HOME": str(home), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path.cwd()),
           "TZ": "UTC"}
    cmd = [sys.executable, "-m", "engine.cli.main", "import", "activitywatch"]
    p = subprocess.run([*cmd, str(bad)], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 1
    assert p.stderr.strip().splitlines() == [
        f"taskclf: error: {bad}: buckets.w.hostname: missing or not a string"]
    good = write_export(tmp_path / "aw.json",
                        {"box": watcher_events(T0, _simple(3), with_input=False)})
    p = subprocess.run([*cmd, str(good), "--from", "2026-03-02", "--to", "2026-03-02"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "reading aw-watcher-window_box (currentwindow)" in p.stderr
    # 08:59:30-09:02:30 and the minute after the last event: buckets 08:59 to 09:03
    assert "imported 5 new buckets" in p.stdout, p.stdout
    p = subprocess.run([*cmd, str(good), "--server", "http://127.0.0.1:5600"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 1 and "give an export FILE or --server URL" in p.stderr


FIXTURE = Path(__file__).parent / "fixtures" / "activitywatch"


def test_the_recorded_session_imports_with_its_labels(home: Path) -> None:
    """The recorded day (README there): > 2 h, several apps and sites, idle, no input watcher."""
    from engine.labels_csv import import_spans

    rep = import_activitywatch(home, ExportFile(FIXTURE / "session-2026-03-10.json"),
                               local_offset=_offset)
    recs = stored(home)
    assert rep.host == "ws-mara" and len(recs) == rep.imported == 349
    assert all(math.isnan(r.keys) for r in recs)  # no aw-watcher-input: unknown, not 0
    apps = {s.app_id for r in recs for s in r.segments}
    assert {"com.microsoft.VSCode", "org.mozilla.firefox", "com.tinyspeck.slackmacgap",
            "us.zoom.xos", "md.obsidian"} <= apps, apps
    domains = {s.domain_category for r in recs for s in r.segments}
    assert {"code_hosting", "docs", "meeting_web", "productivity"} <= domains, domains
    assert sum(r.max_idle_run_seconds >= 59 for r in recs) > 40  # lunch and coffee
    result = import_spans(FIXTURE / "session-2026-03-10.labels.csv", user_id_default="u")
    spans = result.spans
    assert len(spans) == 17 and not result.errors
    assert (spans[-1].end_ts - spans[0].start_ts).total_seconds() > 5 * 3600
    assert {s.label for s in spans} == {"Build", "Debug", "Review", "Write", "ReadResearch",
                                        "Communicate", "Meet", "BreakIdle"}
