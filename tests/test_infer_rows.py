"""``taskclf infer rows``: the command end to end, batch == one at a time, bad lines."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from engine_helpers import (
    SEED_BUNDLE,
    STORE_TEMPERATURE,
    parity_lines,
    policy_obj,
    seed_home,
    seed_rows,
    write_json,
)

from engine.cli.infer_rows import infer_lines
from engine.cli.main import main
from engine.errors import TaskclfError
from engine.paths import policy_path
from engine.pipeline import Engine
from engine.record import PredictionRecord

ROOT = Path(__file__).resolve().parent.parent


def _write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line]


def test_file_output_equals_feeding_rows_one_at_a_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = seed_rows()[:60]
    for i, r in enumerate(rows):
        r["session_id"] = "s1" if i < 30 else "s2"
    inp = _write_rows(tmp_path / "rows.jsonl", rows)
    rc = main([
        "infer", "rows", "--model-dir", str(SEED_BUNDLE), "--calibrator-store", str(STORE_TEMPERATURE),
        "--reject-threshold", "0.6", "--input", str(inp), "--start", "2026-02-23T08:00:00Z",
    ])
    assert rc == 0
    got = _records(capsys.readouterr().out)
    from engine.bundle import load_bundle
    from engine.calibrator_store import load_calibrator_store

    b = load_bundle(SEED_BUNDLE)
    e = Engine.from_artifacts(b, load_calibrator_store(STORE_TEMPERATURE, bundle=b), reject_threshold=0.6)
    t = datetime(2026, 2, 23, 8, 0, tzinfo=UTC)
    want = []
    for i, r in enumerate(rows):
        features = {k: v for k, v in r.items() if k not in ("user_id", "session_id")}
        rec = e.step(features, user_id=r["user_id"], bucket_start=t + timedelta(minutes=i), session_id=r["session_id"])
        want.append(json.loads(json.dumps(rec.to_json())))
    assert got == want
    assert [PredictionRecord.from_json(g) for g in got][5].to_json() == got[5]
    # and against the seed's own numbers, which the engine did not compute
    same_calibrator = 0
    for g, line in zip(got, parity_lines()[:60], strict=True):
        assert max(abs(a - b) for a, b in zip(g["raw_probs"], line["raw_probs"], strict=True)) < 1e-9
        if g["calibrator"] == line["temperature"]["calibrator"]:
            same_calibrator += 1
            assert max(abs(a - b) for a, b in zip(g["probs"], line["temperature"]["probs"], strict=True)) < 1e-9
    assert same_calibrator >= 30


def test_rules_without_a_model_and_bucket_starts_kept(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rows = [
        {"user_id": "u", "bucket_start": "2026-02-23T10:00:00+00:00", "app_category": "lockscreen"},
        {"user_id": "u", "app_category": "lockscreen"},
        {"user_id": "u", "bucket_start": "2026-02-23T10:05:00Z", "app_category": "meeting"},
    ]
    assert main(["infer", "rows", "--input", str(_write_rows(tmp_path / "r.jsonl", rows))]) == 0
    out = _records(capsys.readouterr().out)
    assert [o["bucket_start"] for o in out] == [
        "2026-02-23T10:00:00+00:00", "2026-02-23T10:01:00+00:00", "2026-02-23T10:05:00+00:00",
    ]
    assert {o["model_id"] for o in out} == {"rules"}
    assert [o["accepted_label"] for o in out] == ["BreakIdle", "BreakIdle", "Meet"]



def test_registry_column_bucket_start_ts_is_read_too(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rows = [
        {"user_id": "u", "bucket_start_ts": "2026-02-23T10:00:00+00:00", "app_category": "lockscreen"},
        {"user_id": "u", "bucket_start_ts": "2026-02-23T10:07:00+00:00", "app_category": "lockscreen"},
    ]
    assert main(["infer", "rows", "--input", str(_write_rows(tmp_path / "r.jsonl", rows))]) == 0
    out = _records(capsys.readouterr().out)
    assert [o["bucket_start"] for o in out] == ["2026-02-23T10:00:00+00:00", "2026-02-23T10:07:00+00:00"]


BAD = [
    '{"user_id": "u", "app_category": "meeting"}',
    "",
    "{not json",
    '{"user_id": "u", "keys_per_min": "fast"}',
    '{"app_category": "meeting"}',
    '{"user_id": "u", "bucket_start": "yesterday"}',
    '{"user_id": "u", "app_category": "chat"}',
    '{"user_id": "u", "bucket_start": "1970-01-01T00:00:00Z"}',
]


def test_bad_lines_stop_with_their_line_number() -> None:
    out = io.StringIO()
    with pytest.raises(TaskclfError, match=r"^line 3: not valid JSON"):
        infer_lines(Engine.rules(), BAD, out, on_error="stop")
    assert len(_records(out.getvalue())) == 1  # what came before stays written


def test_bad_lines_are_skipped_and_reported() -> None:
    out, err = io.StringIO(), io.StringIO()
    written, bad = infer_lines(Engine.rules(), BAD, out, on_error="skip", err=err)
    assert (written, bad) == (2, 5)
    lines = err.getvalue().splitlines()
    assert [ln.split(":")[1].strip() for ln in lines] == [f"skipped line {n}" for n in (3, 4, 5, 6, 8)]
    assert "keys_per_min" in lines[1] and "user_id" in lines[2] and "bucket_start" in lines[3]
    assert "not after" in lines[4]


def test_policy_option_uses_the_policy(home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    seed_home(home)
    write_json(policy_path(home), policy_obj(reject_threshold=0.42, per_user_reject_thresholds={"user-a": 0.9}))
    rows = [dict(seed_rows()[0]), next(dict(r) for r in seed_rows() if r["user_id"] != "user-a")]
    assert rows[0]["user_id"] == "user-a"
    rc = main(["infer", "rows", "--home", str(home), "--policy", str(policy_path(home)), "--input", str(_write_rows(tmp_path / "r.jsonl", rows))])
    assert rc == 0
    out = _records(capsys.readouterr().out)
    by_user = {o["user_id"]: o for o in out}
    assert by_user["user-a"]["threshold"] == 0.9
    assert by_user[rows[1]["user_id"]]["threshold"] == 0.42  # no threshold of its own: the global one
    assert all(o["calibrator"] == "user" for o in out)


def test_user_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["infer", "rows", "--model-dir", str(tmp_path / "none"), "--input", "/dev/null"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not found" in err
    assert main(["infer", "rows", "--reject-threshold", "1.5", "--input", "/dev/null"]) == 1
    assert "reject_threshold" in capsys.readouterr().err
    bad_tax = tmp_path / "t.toml"
    bad_tax.write_text("buckets = 3")
    assert main(["infer", "rows", "--taxonomy", str(bad_tax), "--input", "/dev/null"]) == 1
    assert "t.toml: buckets" in capsys.readouterr().err


def test_the_readme_command_runs_from_the_console_script() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "engine.cli.main", "infer", "rows", "--model-dir", str(SEED_BUNDLE), "--input", "examples/rows.jsonl"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = _records(proc.stdout)
    assert len(out) == 12
    assert out[3]["accepted_label"] != out[3]["smoothed_label"]  # the example's blip is smoothed away
