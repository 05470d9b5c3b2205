"""A secret window title never appears in any record or feature row bytes (spec 2.1, 7.4)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from features_helpers import CLOCK, KEY, T0, rec

from engine.activity import ActivityRecord, Segment
from engine.apps import identify_app
from engine.features import build_rows
from engine.titles import reduce_title

SECRET = "Quarterly layoffs plan - CONFIDENTIAL-7f3a9"
SECRET_URL = "https://intranet.example.com/hr/secret-7f3a9"


def _records() -> list[ActivityRecord]:
    out = []
    for i, (name, title) in enumerate([("code.exe", SECRET), ("firefox", f"{SECRET_URL} - Mozilla Firefox"),
                                       ("Slack", SECRET), ("zoom.exe", None)]):
        app = identify_app(name)
        h, d = reduce_title(KEY, title, app)
        segment = Segment(0, 60, app.app_id, app.category, app.is_browser, app.is_editor,
                          app.is_terminal, h, d)
        out.append(rec(i, [segment], keys=30, active_any=20))
    return out


def _needles() -> list[bytes]:
    words = [SECRET, SECRET_URL, "CONFIDENTIAL", "7f3a9", "layoffs", "intranet", "secret"]
    out = []
    for w in words:
        for variant in (w, w.lower(), w.upper()):
            out.append(variant.encode("utf-8"))
            out.append(json.dumps(variant).encode("utf-8"))
            out.append(variant.encode("utf-16-le"))
    return out


def test_secret_title_never_reaches_records_or_rows() -> None:
    records = _records()
    rows = build_rows(records, clock=CLOCK)
    blobs = [repr(r).encode() for r in records]
    blobs += [json.dumps(r.to_json()).encode() for r in records]
    blobs += [json.dumps(row.to_json()).encode() for row in rows]
    blobs += [repr(row).encode() for row in rows]
    blobs += [repr(row.model_features()).encode() for row in rows]
    data = b"\n".join(blobs)
    for needle in _needles():
        assert needle not in data, needle
    assert rows[0].window_title_hash is not None  # the title was seen, only as a hash


def test_secret_title_never_reaches_cli_output(tmp_path: Path) -> None:
    src = tmp_path / "records.jsonl"
    src.write_text("".join(json.dumps(r.to_json()) + "\n" for r in _records()), encoding="utf-8")
    out = tmp_path / "rows.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "engine.cli.main", "features", "build", "--input", str(src),
         "--output", str(out)],
        capture_output=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    data = out.read_bytes() + src.read_bytes() + proc.stdout + proc.stderr
    for needle in _needles():
        assert needle not in data, needle
    assert T0.isoformat().encode() in out.read_bytes()
