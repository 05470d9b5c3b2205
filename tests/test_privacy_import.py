"""An ActivityWatch import honours exclude_apps / exclude_titles like the live sampler."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

from agent.activitywatch.importer import import_activitywatch
from agent.activitywatch.source import ExportFile
from engine.paths import store_path
from engine.store import Store
from tests.aw_events_helpers import Second, export_json, watcher_events
from tests.store_helpers import readable

T0 = 1772441970.0  # 2026-03-02 08:59:30 UTC
SLACK_TITLE = "Slack | #layoffs | Acme"
BANK_TITLE = "My Bank - statements — Mozilla Firefox"


def test_import_drops_excluded_apps_and_titles(tmp_path: Path, home: Path) -> None:
    (home / "config.toml").write_text('exclude_apps = ["Slack"]\nexclude_titles = ["bank"]\n')
    seconds = ([Second("Slack", SLACK_TITLE, True)] * 120 + [Second("firefox", BANK_TITLE, True)] * 120
               + [Second("Code", "main.py - Visual Studio Code", True)] * 120)
    path = tmp_path / "aw.json"
    path.write_text(json.dumps(export_json({"box": watcher_events(T0, seconds)})))
    import_activitywatch(home, ExportFile(path), local_offset=lambda ts: (0, "UTC"))
    with Store.open(store_path(home), readonly=True) as st:
        segs = [s for r in st.records() for s in r.segments]
    apps = {s.app_id for s in segs}
    assert "excluded" in apps and "com.tinyspeck.slackmacgap" not in apps
    ff = [s for s in segs if s.app_id == "org.mozilla.firefox"]
    assert ff and all(s.title_hash is None for s in ff)
    key = (home / "title.key").read_bytes()
    data = b"".join(readable(p.read_bytes()) for p in home.rglob("*") if p.is_file() and p.name != "config.toml")
    for title in (SLACK_TITLE, BANK_TITLE):
        digest = hmac.new(key, title.encode(), hashlib.sha256).hexdigest()[:16].encode()
        assert digest not in data
    assert b"slackmacgap" not in data
