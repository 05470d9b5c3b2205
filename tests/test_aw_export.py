"""``taskclf export activitywatch --output``: an ActivityWatch import file with labels and
confidences only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from agent.identity import load_or_create_identity, load_or_create_title_key
from engine.paths import store_path
from engine.store import Store
from tests.store_helpers import prediction, record, span


def _home(home: Path) -> None:
    ident = load_or_create_identity(home)
    load_or_create_title_key(home)
    st = Store.open(store_path(home))
    for m, label in ((0, "Build"), (1, "Build"), (2, "Debug")):
        st.put_record(record(m, user=ident.user_id, device=ident.device_id))
        st.put_prediction(ident.device_id, prediction(m, user=ident.user_id, label=label))
    st.add_label_span(span(0, 3, "Debug", user=ident.user_id))
    st.close()


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"TASKCLF_HOME": str(home), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path.cwd()),
           "TZ": "UTC"}
    return subprocess.run([sys.executable, "-m", "engine.cli.main", "export", "activitywatch",
                           *args], capture_output=True, text=True, env=env, timeout=120)


def test_output_file_holds_our_two_buckets_and_nothing_else(home: Path, tmp_path: Path) -> None:
    _home(home)
    out = tmp_path / "new" / "aw.json"
    p = _cli(home, "--output", str(out), "--from", "2026-03-02", "--to", "2026-03-02")
    assert p.returncode == 0, p.stderr
    assert "wrote 2 prediction events and 1 label events" in p.stdout
    doc = json.loads(out.read_text())
    assert sorted(b["type"] for b in doc["buckets"].values()) == ["app.taskclf.label",
                                                                  "app.taskclf.prediction"]
    events = [e for b in doc["buckets"].values() for e in b["events"]]
    assert {k for e in events for k in e["data"]} <= {"label", "confidence"}
    assert [e["data"]["label"] for e in events] == ["Build", "Debug", "Debug"]
    raw = out.read_text()
    ident = json.loads((home / "identity.json").read_text())
    for secret in (ident["user_id"], ident["device_id"], "0123456789abcdef", "org.gnome.Terminal"):
        assert secret not in raw


def test_bad_destinations_are_one_line_errors(home: Path, tmp_path: Path) -> None:
    _home(home)
    p = _cli(home, "--output", str(tmp_path))
    assert p.returncode == 1 and p.stderr.strip() == f"taskclf: error: --output: {tmp_path} is a folder"
    p = _cli(home, "--server", "http://example.com:5600")
    assert p.returncode == 1 and p.stderr.startswith("taskclf: error: --server:")
    assert len(p.stderr.strip().splitlines()) == 1
