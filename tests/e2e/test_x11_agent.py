"""The headless agent on a real X server (Xvfb + openbox), driven with xdotool: app ids and
seconds per bucket, input counts, idle seconds, no raw title anywhere, no listening socket,
and a session break after idleness (time scaled so 300 s of idleness take 30 s)."""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from engine.paths import store_path
from engine.store import Store
from tests.e2e.xsession import XSession
from tests.store_helpers import readable

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SECRET = "ZQXSECRET-launch-plan"


def start_agent(home: Path, xs: XSession, *extra: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "engine.cli.main", "--home", str(home), "agent", "--headless",
           "--backend", "x11", *extra]
    p = subprocess.Popen(cmd, env=xs.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    assert p.stdout is not None
    header = p.stdout.readline()
    assert header.startswith("# taskclf agent: backend x11"), header + (p.stderr.read() if p.poll() is not None else "")  # type: ignore[union-attr]
    return p


def stop_agent(p: subprocess.Popen[str]) -> str:
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    return out


def wait_boundary(period: float, after: float = 0.3) -> float:
    """Sleep until just after the next multiple of ``period`` (epoch); return that boundary."""
    now = time.time()
    b = (math.floor(now / period) + 1) * period
    time.sleep(b + after - now)
    return b


def listening_sockets(pid: int) -> list[object]:
    proc = psutil.Process(pid)
    out = []
    for kind in ("inet", "unix"):
        for c in proc.net_connections(kind=kind):
            if c.status == psutil.CONN_LISTEN or (kind == "unix" and c.raddr == "" and c.laddr):
                out.append(c)
    return out


def test_headless_agent_records_what_happens_on_a_real_x_server(tmp_path: Path,
                                                                xsession: XSession) -> None:
    xs = xsession
    home = tmp_path / "home"
    code = xs.window("code", "Code", f"{SECRET} main.py - Visual Studio Code")
    term = xs.window("gnome-terminal-server", "Gnome-terminal", "bash ~/src")
    xs.activate(code)
    agent = start_agent(home, xs, "--bucket-seconds", "5", "--sample-seconds", "0.25")
    try:
        time.sleep(1.0)
        assert listening_sockets(agent.pid) == []
        b0 = wait_boundary(5)
        # bucket b0: the editor, typing, clicking, moving the mouse
        xs.activate(code)
        xs.xdotool("type", "--delay", "30", "hello world")
        xs.xdotool("key", "BackSpace", "ctrl+s")
        xs.xdotool("mousemove", "--window", code, "50", "50")  # inside the editor's client area
        xs.xdotool("mousemove", "--window", code, "350", "250")
        for _ in range(3):
            xs.xdotool("click", "1")
        xs.xdotool("click", "5")
        time.sleep(max(0.0, b0 + 5 + 0.02 - time.time()))
        # bucket b0+5: the terminal, a few keys
        xs.activate(term)
        # input is counted when a sample is taken: a second's slack keeps a sampler that runs
        # late on a loaded machine from counting these keys in the bucket before
        time.sleep(max(0.0, b0 + 6.0 - time.time()))
        xs.xdotool("type", "--delay", "30", "ls -l")
        time.sleep(max(0.0, b0 + 10 + 0.02 - time.time()))
        # bucket b0+10: half editor, half terminal
        xs.activate(code)
        time.sleep(max(0.0, b0 + 12.5 - time.time()))
        xs.activate(term)
        # buckets b0+15 and b0+20: nobody touches anything
        time.sleep(max(0.0, b0 + 25.4 - time.time()))
        assert listening_sockets(agent.pid) == []
    finally:
        out = stop_agent(agent)
    assert out.count("\n") >= 5
    st = Store.open(store_path(home), readonly=True)
    recs = {r.bucket_start.timestamp(): r for r in st.records()}
    n_preds = len(st.predictions())
    st.close()
    assert n_preds == len(recs)

    def seconds(rec, app):  # type: ignore[no-untyped-def]
        return sum(s.seconds for s in rec.segments if s.app_id == app)

    r0, r1, r2, r3, r4 = (recs[b0 + 5 * i] for i in range(5))
    assert seconds(r0, "com.microsoft.VSCode") >= 4.2
    assert r0.observed_seconds >= 4.5 and r0.observed_seconds <= 5.0
    assert 11 <= r0.keys <= 14, r0.keys  # 11 typed + BackSpace + ctrl+s
    assert r0.backspaces == 1 and r0.shortcuts == 1
    assert r0.clicks == 3 and r0.scrolls == 1
    assert r0.mouse_px >= 300
    assert seconds(r1, "org.gnome.Terminal") >= 4.2
    assert 4 <= r1.keys <= 6
    assert abs(seconds(r2, "com.microsoft.VSCode") - 2.5) <= 0.8
    assert abs(seconds(r2, "org.gnome.Terminal") - 2.5) <= 0.8
    for idle in (r3, r4):
        assert idle.keys == 0 and idle.clicks == 0
        assert idle.active_seconds_any <= 0.5
        assert idle.max_idle_run_seconds >= 4.4
    assert r4.leading_idle_seconds >= 4.4 and r4.trailing_idle_seconds >= 4.4
    # the secret title is nowhere on disk: store, WAL, logs, queue
    for f in home.rglob("*"):
        if f.is_file():
            data = readable(f.read_bytes())  # packed store rows inflated too
            assert SECRET.encode() not in data, f
            assert SECRET.encode("utf-16-le") not in data, f
    assert SECRET not in out


def test_session_break_after_idleness(tmp_path: Path, xsession: XSession) -> None:
    """60 s buckets with time running 20x: 440 s of idleness take 22 s."""
    xs = xsession
    home = tmp_path / "home"
    code = xs.window("code", "Code", "notes.md - Visual Studio Code")
    xs.activate(code)
    agent = start_agent(home, xs, "--time-scale", "20", "--duration", "120",
                        "--sample-seconds", "2")
    try:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 7:  # ~140 scaled seconds of typing
            xs.xdotool("type", "--delay", "40", "abc")
            time.sleep(0.2)
        time.sleep(22)  # 440 scaled seconds without input (300 needed; margin for stalls)
        t1 = time.monotonic()
        while time.monotonic() - t1 < 7:
            xs.xdotool("type", "--delay", "40", "xyz")
            time.sleep(0.2)
    finally:
        stop_agent(agent)
    st = Store.open(store_path(home), readonly=True)
    rows = list(st.feature_rows())
    st.close()
    sessions = [r["session_id"] for r in rows]
    assert len(rows) >= 9
    kpm = [r.get("keys_per_min") or 0 for r in rows]
    # the first bucket typed in again after the long idle run opens a new session
    first_active_after = next(i for i in range(3, len(rows)) if kpm[i] > 0 and kpm[i - 1] == 0)
    assert sessions[first_active_after] != sessions[0]
    assert len(set(sessions[:first_active_after])) == 1, "idle buckets stay in the old session"
    assert rows[first_active_after]["idle_return_indicator"] in (True, 1, 1.0)
