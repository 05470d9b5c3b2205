"""Every command, every bad input: a non-zero exit, ONE line on stderr naming the problem, no
traceback, and nothing done before the arguments were checked.

The table runs the real entry point in-process (``engine.cli.main.main``); one case runs the
console script in a subprocess to check what a user's terminal shows.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.cli.main import main

Setup = Callable[[Path], list[str]]
TODAY = datetime.now(UTC).date()
NEXT_YEAR = TODAY.year + 1


def _csv(rows: str) -> Setup:
    def setup(tmp: Path) -> list[str]:
        (tmp / "labels.csv").write_text("start_ts,end_ts,label,user_id\n" + rows + "\n")
        return [str(tmp / "labels.csv")]

    return setup


def _rows(line: str) -> Setup:
    def setup(tmp: Path) -> list[str]:
        (tmp / "rows.jsonl").write_text(line + "\n")
        return ["--input", str(tmp / "rows.jsonl")]

    return setup


def _nothing(tmp: Path) -> list[str]:
    return []


ADD = ["labels", "add", "--label", "Build", "--user-id", "u"]
BAD_HOME_COMMANDS = [
    ["synth", "--users", "1", "--days", "1"],
    ["train", "all"],
    ["train", "lgbm"],
    ["train", "calibrate", "--model-dir", "m"],
    ["train", "evaluate", "--model-dir", "m"],
    ["infer", "batch", "--from", "2026-03-02", "--to", "2026-03-03"],
    ["labels", "add", "--start", "2026-03-02T10:00", "--end", "2026-03-02T11:00", "--label", "Build"],
    ["labels", "import", "x.csv"],
    ["labels", "export"],
    ["doctor"],
    ["agent", "--headless", "--backend", "none", "--duration", "1"],
    ["demo"],
]

# (id, argv after "taskclf", extra argv made by a setup function, needle expected on stderr)
CASES: list[tuple[str, list[str], Setup, str]] = [
    *[(f"home-is-a-file:{' '.join(argv[:2])}", argv, _nothing, "is a file, not a folder")
      for argv in BAD_HOME_COMMANDS],
    ("add-year-1", [*ADD, "--start", "0001-01-01T00:00", "--end", "0001-01-01T01:00"], _nothing,
     "--start: must be within the years 1970..2199"),
    ("add-year-9999", [*ADD, "--start", "9999-12-31T22:00", "--end", "9999-12-31T23:00"], _nothing,
     "--start: must be within the years 1970..2199"),
    ("add-year-1-utc", [*ADD, "--start", "0001-01-01T00:00Z", "--end", "2026-01-01T01:00Z"], _nothing,
     "--start: must be within the years"),
    ("add-future", [*ADD, "--start", f"{NEXT_YEAR}-03-02T10:00", "--end", f"{NEXT_YEAR}-03-02T11:00"],
     _nothing, "--end: " + str(NEXT_YEAR)),
    ("add-bad-label", [*ADD[:2], "--label", "Coding", "--start", "2026-03-02T10:00", "--end",
                       "2026-03-02T11:00"], _nothing, "--label: unknown label 'Coding'"),
    ("add-end-before-start", [*ADD, "--start", "2026-03-02T11:00", "--end", "2026-03-02T10:00"],
     _nothing, "--end: must be after start_ts"),
    ("import-year-1", ["labels", "import"], _csv("0001-01-01T00:00:00+05:00,0001-01-01T01:00:00+05:00,Build,u"),
     "line 2: start_ts: must be within the years"),
    ("import-year-9999", ["labels", "import"], _csv("9999-12-31T23:00:00-05:00,9999-12-31T23:30:00-05:00,Build,u"),
     "line 2: start_ts: must be within the years"),
    ("import-future", ["labels", "import"], _csv(f"{NEXT_YEAR}-01-01T00:00:00Z,{NEXT_YEAR}-01-01T01:00:00Z,Build,u"),
     "line 2: end_ts: " + str(NEXT_YEAR)),
    ("import-missing-file", ["labels", "import", "no-such.csv"], _nothing, "no-such.csv: file not found"),
    ("infer-rows-year-1", ["infer", "rows"], _rows('{"user_id": "u", "bucket_start": "0001-01-01T00:00:00+05:00"}'),
     "line 1: bucket_start: must be within the years"),
    ("infer-rows-year-9999", ["infer", "rows"], _rows('{"user_id": "u", "bucket_start": "9999-12-31T23:59:00-05:00"}'),
     "line 1: bucket_start: must be within the years"),
    ("train-all-reject-cost", ["train", "all", "--reject-cost", "5"], _nothing, "--reject-cost: must be within (0, 1)"),
    ("train-all-reject-cost-nan", ["train", "all", "--reject-cost", "nan"], _nothing, "--reject-cost: not a finite number"),
    ("train-all-holdout", ["train", "all", "--holdout-users", "-1"], _nothing, "--holdout-users: must be within 0..1000"),
    ("train-all-from-after-to", ["train", "all", "--from", "2026-03-05", "--to", "2026-03-01"], _nothing,
     "--from 2026-03-05 is after --to 2026-03-01"),
    ("train-lgbm-bad-date", ["train", "lgbm", "--from", "2026-02-30"], _nothing, "--from: not a date"),
    ("tune-reject-cost", ["train", "tune-reject", "--model-dir", "m", "--calibrator-store", "s", "--reject-cost", "1"],
     _nothing, "--reject-cost: must be within (0, 1)"),
    ("evaluate-threshold", ["train", "evaluate", "--model-dir", "m", "--reject-threshold", "1.5"], _nothing,
     "--reject-threshold: must be within (0, 1)"),
    ("batch-smooth-window", ["infer", "batch", "--from", "2026-03-02", "--to", "2026-03-02", "--smooth-window", "0"],
     _nothing, "--smooth-window: must be within 1..60"),
    ("batch-year-9999", ["infer", "batch", "--from", "9999-12-30", "--to", "9999-12-31"], _nothing,
     "--from: 9999-12-30: must be within the years"),
    ("synth-users", ["synth", "--users", "0"], _nothing, "--users: must be within 1..200"),
    ("synth-days", ["synth", "--days", "1000"], _nothing, "--days: must be within 1..400"),
    ("synth-start-year-1", ["synth", "--start", "0001-01-01"], _nothing, "--start: 0001-01-01: must be within the years"),
    ("demo-users", ["demo", "--users", "1"], _nothing, "--users: must be within 2..50"),
    ("unknown-option", ["labels", "export", "--bogus"], _nothing, "unrecognized arguments: --bogus"),
    ("missing-required", ["labels", "add"], _nothing, "the following arguments are required: --start, --end, --label"),
    ("export-no-store", ["labels", "export"], _nothing, "no store yet"),
]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    rc = main(argv)
    return rc, capsys.readouterr().err


def _assert_one_line(rc: int, err: str, needle: str) -> None:
    assert rc != 0
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert needle in lines[0], lines[0]


@pytest.mark.parametrize(("argv", "setup", "needle"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_no_work(
    argv: list[str], setup: Setup, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    home = tmp_path / "home"
    if needle == "is a file, not a folder":
        home.write_text("not a folder")
    monkeypatch.setenv("TASKCLF_HOME", str(home))
    rc, err = _run([*argv, *setup(tmp_path), "--home", str(home)], capsys)
    _assert_one_line(rc, err, needle)
    if home.is_dir():  # nothing was trained, stored or written before the check failed
        assert not (home / "models").exists() and not (home / "store.sqlite3").exists()
    elif needle == "is a file, not a folder":
        assert home.read_text() == "not a folder"


def test_labels_add_on_a_full_disk_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    from engine.store import Store

    def full(self: Store, span: object) -> object:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Store, "add_label_span", full)
    home = tmp_path / "home"
    monkeypatch.setenv("TASKCLF_HOME", str(home))
    rc, err = _run([*ADD, "--start", "2026-03-02T10:00", "--end", "2026-03-02T11:00", "--home", str(home)], capsys)
    _assert_one_line(rc, err, "database or disk is full")


def test_an_os_error_is_one_line_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    import errno

    import engine.jsonio as jsonio

    def no_space(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out" / "labels.csv"))

    home = tmp_path / "home"
    monkeypatch.setenv("TASKCLF_HOME", str(home))
    assert main([*ADD, "--start", "2026-03-02T10:00", "--end", "2026-03-02T11:00"]) == 0
    capsys.readouterr()
    monkeypatch.setattr(jsonio, "atomic_write_bytes", no_space)
    import engine.labels_csv as labels_csv

    monkeypatch.setattr(labels_csv, "atomic_write_bytes", no_space, raising=False)
    rc, err = _run(["labels", "export", "--output", str(tmp_path / "out" / "labels.csv")], capsys)
    _assert_one_line(rc, err, "labels.csv: No space left on device")


def test_labels_add_on_a_fresh_home_labels_this_machines_user(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    import json

    home = tmp_path / "fresh"
    monkeypatch.setenv("TASKCLF_HOME", str(home))
    assert main(["labels", "add", "--start", "2026-03-02T10:00", "--end", "2026-03-02T11:00", "--label", "Build"]) == 0
    user = json.loads((home / "identity.json").read_text())["user_id"]
    assert f"as Build for {user}" in capsys.readouterr().out
    # the same user again next time, and in the export
    assert main(["labels", "add", "--start", "2026-03-02T11:00", "--end", "2026-03-02T11:30", "--label", "Debug"]) == 0
    out = tmp_path / "new" / "folder" / "labels.csv"
    assert main(["labels", "export", "--output", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 3 and all(line.split(",")[3] == user for line in lines[1:])


@pytest.mark.parametrize("group", ["train", "labels", "infer"])
def test_a_group_without_a_subcommand_prints_its_own_help(group: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([group]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: taskclf {group} ")
    assert "Traceback" not in err


def test_the_console_shows_one_line_for_a_home_that_is_a_file(tmp_path: Path) -> None:
    home = tmp_path / "file"
    home.write_text("x")
    proc = subprocess.run([sys.executable, "-m", "engine.cli.main", "labels", "export", "--home", str(home)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr == f"taskclf: error: {home}: the data directory (--home or TASKCLF_HOME) is a file, not a folder\n"
