"""``taskclf features build``: records in, feature rows out, the builder checked from outside."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from features_helpers import CLOCK, active, bits

from engine.activity import ActivityRecord
from engine.cli.main import main
from engine.features import FeatureRow, build_rows
from engine.schema import REGISTRY_V2


def _write(path: Path, records: list[ActivityRecord], extra: list[str] = ()) -> Path:  # type: ignore[assignment]
    lines = [json.dumps(r.to_json()) for r in records] + list(extra)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_build_writes_registry_rows_equal_to_the_builder(tmp_path: Path) -> None:
    records = [active(i, keys=10 * i) for i in range(5)] + [active(9, keys=3)]
    src = _write(tmp_path / "records.jsonl", records)
    out = tmp_path / "rows.jsonl"
    assert main(["features", "build", "--input", str(src), "--output", str(out)]) == 0
    rows = _read(out)
    assert len(rows) == 6
    for obj, row in zip(rows, build_rows(records, clock=CLOCK), strict=True):
        assert [k for k in obj][: len(REGISTRY_V2)] == [n for n, _ in REGISTRY_V2]
        assert bits(FeatureRow.from_json(obj)) == bits(row)


def test_stdin_to_stdout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                         capsys: pytest.CaptureFixture[str]) -> None:
    import io
    import sys

    text = "\n".join(json.dumps(active(i).to_json()) for i in range(3)) + "\n\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    assert main(["features", "build"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and json.loads(lines[2])["session_length_so_far"] == 2.0


def test_tz_fills_only_records_without_an_offset(tmp_path: Path) -> None:
    a = active(0).to_json()
    del a["utc_offset_minutes"]  # 10:00 UTC -> 11:00 in Berlin (CET)
    b = active(1, offset=-300).to_json()  # keeps its own offset: 05:01
    src = tmp_path / "r.jsonl"
    src.write_text(json.dumps(a) + "\n" + json.dumps(b) + "\n", encoding="utf-8")
    out = tmp_path / "rows.jsonl"
    assert main(["features", "build", "--input", str(src), "--output", str(out),
                 "--tz", "Europe/Berlin"]) == 0
    assert [r["hour_of_day"] for r in _read(out)] == [11, 5]
    assert main(["features", "build", "--input", str(src), "--output", str(out)]) == 0
    assert [r["hour_of_day"] for r in _read(out)] == [10, 5]  # no zone: UTC


def test_several_users_in_one_file(tmp_path: Path) -> None:
    records = [active(0), active(0, user="user-b"), active(1), active(1, user="user-b")]
    src = _write(tmp_path / "r.jsonl", records)
    out = tmp_path / "rows.jsonl"
    assert main(["features", "build", "--input", str(src), "--output", str(out)]) == 0
    rows = _read(out)
    assert [r["user_id"] for r in rows] == ["user-a", "user-b", "user-a", "user-b"]
    assert rows[2]["session_id"] == rows[0]["session_id"] != rows[1]["session_id"]
    assert rows[3]["app_dwell_time_seconds"] == 120.0


def test_duplicate_is_skipped_with_a_warning(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    src = _write(tmp_path / "r.jsonl", [active(0), active(0, keys=5), active(1)])
    out = tmp_path / "rows.jsonl"
    assert main(["features", "build", "--input", str(src), "--output", str(out)]) == 0
    assert len(_read(out)) == 2
    assert f"{src}:2: warning: duplicate" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("records", "extra", "message"),
    [
        ([active(0), active(2), active(1)], [], ":3: bucket_start:"),
        ([active(0)], ["{not json"], ":2: not valid JSON"),
        ([active(0)], ['{"user_id": "user-a", "bucket_start": "2026-02-23T10:01:00Z", '
                       '"observed_seconds": 60, "keys": NaN}'], ":2: not valid JSON"),
        ([active(0)], ['{"user_id": "user-a", "bucket_start": "2026-02-23T10:01:00Z", '
                       '"observed_seconds": 60, "keys": -4}'], ":2: keys:"),
        ([active(0)], ['[1]'], ":2: record:"),
    ],
)
def test_bad_line_stops_with_file_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], records: list, extra: list, message: str
) -> None:
    src = _write(tmp_path / "r.jsonl", records, extra)
    out = tmp_path / "rows.jsonl"
    assert main(["features", "build", "--input", str(src), "--output", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{src}{message}" in err, err
    assert sorted(tmp_path.iterdir()) == [src]  # nothing half-written, no temp file left
    out.write_text("previous rows\n", encoding="utf-8")
    assert main(["features", "build", "--input", str(src), "--output", str(out)]) == 1
    assert out.read_text(encoding="utf-8") == "previous rows\n"  # an old output survives


def test_missing_input_and_unknown_zone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["features", "build", "--input", str(tmp_path / "nope.jsonl")]) == 1
    assert "file not found" in capsys.readouterr().err
    src = _write(tmp_path / "r.jsonl", [active(0)])
    assert main(["features", "build", "--input", str(src), "--tz", "Mars/Olympus"]) == 1
    assert "--tz: unknown time zone" in capsys.readouterr().err


def test_rows_feed_infer_rows_unchanged(tmp_path: Path, seed_bundle_dir: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from features_helpers import FIREFOX, ZOOM

    records = [active(i, keys=150, active_kb=40, active_any=50) for i in range(6)]
    records += [active(6 + i, FIREFOX, "PR - GitHub - Mozilla Firefox", scrolls=20)
                for i in range(4)]
    records += [active(20 + i, ZOOM, "Zoom Meeting") for i in range(3)]  # after a gap
    src = _write(tmp_path / "records.jsonl", records)
    rows_path = tmp_path / "rows.jsonl"
    assert main(["features", "build", "--input", str(src), "--output", str(rows_path)]) == 0
    capsys.readouterr()
    assert main(["infer", "rows", "--model-dir", str(seed_bundle_dir),
                 "--input", str(rows_path)]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    rows = _read(rows_path)
    assert len(out) == len(rows) == len(records)
    for pred, row in zip(out, rows, strict=True):
        assert pred["bucket_start"] == row["bucket_start_ts"]
        assert pred["session_id"] == row["session_id"] and pred["user_id"] == row["user_id"]
        assert abs(sum(pred["probs"]) - 1.0) < 1e-9
    # the same rows one at a time through the engine give the same predictions
    from engine.bundle import load_bundle
    from engine.pipeline import Engine

    engine = Engine.from_artifacts(load_bundle(seed_bundle_dir))
    for pred, row in zip(out, build_rows(records, clock=CLOCK), strict=True):
        rec = engine.step(row.model_features(), user_id=row.user_id,
                          bucket_start=row.bucket_start, session_id=row.session_id)
        assert list(rec.raw_probs) == pred["raw_probs"]
        assert rec.smoothed_label == pred["smoothed_label"]


def test_rows_are_written_while_records_are_still_being_read(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A long input is never held: rows reach the output file (its temporary name until the
    run succeeds) while later records have not been read yet."""
    import engine.cli.features_build as fb

    records = [json.dumps(active(i, keys=5).to_json()) + "\n" for i in range(300)]
    out = tmp_path / "rows.jsonl"
    written_before_last: list[int] = []

    def lines(_path: str):  # type: ignore[no-untyped-def]
        for i, line in enumerate(records, start=1):
            if i == len(records):
                written_before_last.append(sum(p.stat().st_size for p in tmp_path.glob(".rows.jsonl.*.tmp")))
            yield i, line

    monkeypatch.setattr(fb, "_lines", lines)
    assert main(["features", "build", "--input", "records.jsonl", "--output", str(out)]) == 0
    assert len(_read(out)) == 300
    assert written_before_last[0] > 100_000  # most of the 299 rows before were already on disk
    assert not list(tmp_path.glob("*.tmp"))
