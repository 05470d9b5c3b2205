"""kill -9 of the agent at random moments, many times (spec 7.3): the store always opens and
passes ``PRAGMA integrity_check``, no label the agent reported as saved is lost, at most the
bucket that was open is lost, and every stored bucket has its prediction (they are written in
one transaction)."""

from __future__ import annotations

import math
import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from engine.paths import store_path
from engine.store import Store

pytestmark = [pytest.mark.slow]

HERE = Path(__file__).resolve().parent
CYCLES = 50


def test_kill_minus_nine_loop(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    zygote = subprocess.Popen([sys.executable, str(HERE / "kill9_zygote.py")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              cwd=HERE.parent.parent)
    assert zygote.stdin is not None and zygote.stdout is not None
    rng = random.Random(1234)
    last_seen = 0.0
    try:
        for cycle in range(CYCLES):
            zygote.stdin.write(f"{cycle} {home}\n")
            zygote.stdin.flush()
            pid = int(zygote.stdout.readline())
            started = tmp_path / f"started.{cycle}"
            deadline = time.monotonic() + 30
            while not started.exists():
                assert time.monotonic() < deadline, "agent did not start"
                time.sleep(0.01)
            time.sleep(rng.uniform(0.2, 2.5))
            t_kill = time.time()
            os.kill(pid, signal.SIGKILL)
            gone = time.monotonic() + 10
            while True:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                assert time.monotonic() < gone, "killed agent still there"
                time.sleep(0.005)

            st = Store.open(store_path(home))
            try:
                assert st.integrity_check() == "ok"
                recs = list(st.records())
                preds = {p.bucket_start for p in st.predictions()}
                spans = {(s.start_ts.isoformat(), s.label) for s in st.label_spans()}
            finally:
                st.close()
            starts = [r.bucket_start for r in recs]
            assert len(starts) == len(set(starts))
            # every bucket of this run that closed well before the kill is there: at most the
            # open bucket (and one closing at the very moment of the kill) is lost
            mine = [int(r.bucket_start_ts) for r in recs if r.bucket_start_ts > last_seen]
            if mine:
                must = set(range(mine[0], math.floor(t_kill - 0.5)))
                assert must <= set(mine), (cycle, sorted(must - set(mine)))
                last_seen = mine[-1]
            missing = [r for r in recs if r.bucket_start.isoformat() not in preds]
            assert missing == [], (cycle, [r.bucket_start.isoformat() for r in missing])
            log = tmp_path / "committed.log"
            committed = log.read_text().split("\n") if log.exists() else []
            for line in filter(None, committed):
                iso, label = line.split()
                assert (datetime.fromisoformat(iso).isoformat(), label) in spans, line
    finally:
        zygote.stdin.close()
        zygote.wait(10)
    assert len([ln for ln in (tmp_path / "committed.log").read_text().split("\n") if ln]) > CYCLES
