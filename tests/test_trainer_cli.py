"""The trainer's commands on small homes: the happy path and every kind of bad input."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.store import Store
from trainer.synth import SynthConfig, generate


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def _fill(home: Path, *, users: int = 2, days: int = 3, labels: str = "normal") -> None:
    with Store.open(home / "store.sqlite3") as store:
        for d in generate(SynthConfig(users=users, days=days, seed=1)):
            store.put_records(d.records)
            if labels == "normal":
                store.add_label_spans(d.spans)
            elif labels == "one-class":
                store.add_label_spans([replace(s, label="Build") for s in d.spans])


def test_synth_writes_records_rows_spans_and_is_deterministic(home: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(capsys, "synth", "--users", "2", "--days", "2", "--seed", "4")
    assert rc == 0 and "feature rows" in out
    other = tmp_path / "other"
    rc2, _, _ = _run(capsys, "synth", "--users", "2", "--days", "2", "--seed", "4", "--home", str(other))
    assert rc2 == 0

    def dump(h: Path) -> tuple[list[str], list[str], list[str]]:
        with Store.open(h / "store.sqlite3", readonly=True) as s:
            recs = [json.dumps(r.to_json(), sort_keys=True) for r in s.records()]
            rows = [json.dumps(r, sort_keys=True) for r in s.feature_rows()]
            spans = [repr(sp.__class__(*[getattr(sp, f) for f in ("start_ts", "end_ts", "label", "user_id",
                                                                   "provenance", "confidence", "created_at")]))
                     for sp in s.label_spans()]
        return recs, rows, spans

    a, b = dump(home), dump(other)
    assert a == b and len(a[0]) == len(a[1]) > 500 and a[2]
    manifest = json.loads((home / "artifacts" / "synth" / "manifest.json").read_text())
    assert set(manifest["personas"]) == {"user-01", "user-02"}
    rc3, _, err = _run(capsys, "synth", "--users", "2", "--days", "2")
    assert rc3 == 1 and "already holds synthetic user" in err


def test_train_lgbm_then_calibrate_and_tune_on_a_small_home(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(home, users=2, days=6)
    rc, out, err = _run(capsys, "train", "lgbm", "--seed", "2")
    assert rc == 0, err
    bundle = Path(out.strip().splitlines()[-1])
    assert (bundle / "model.txt").is_file() and bundle.parent == home / "models"
    rc, out, err = _run(capsys, "train", "calibrate", "--model-dir", str(bundle), "--method", "isotonic")
    assert rc == 0, err
    store_dir = Path(out.strip().splitlines()[-1])
    assert json.loads((store_dir / "store.json").read_text())["method"] == "isotonic"
    assert "not eligible" in err  # one calibration day per user: below the 3-day bound
    assert not list((store_dir / "users").iterdir())
    rc, out, err = _run(capsys, "train", "tune-reject", "--model-dir", str(bundle), "--calibrator-store",
                        str(store_dir), "--write-policy")
    assert rc == 0, err
    assert (home / "models" / "inference_policy.json").is_file()
    from engine.policy import load_policy

    assert load_policy(home).bundle.run_id == bundle.name


def test_bad_dates_are_refused(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(home)
    rc, _, err = _run(capsys, "train", "lgbm", "--from", "2026-03-05", "--to", "2026-03-02")
    assert rc == 1 and "--from 2026-03-05 is after --to 2026-03-02" in err
    rc, _, err = _run(capsys, "train", "all", "--from", "2031-01-01", "--to", "2031-01-31")
    assert rc == 1 and "no activity in 2031-01-01 .. 2031-01-31" in err
    rc, _, err = _run(capsys, "train", "lgbm", "--from", "March")
    assert rc == 2 and "--from: not a date" in err  # a usage error, before any work


def test_empty_home_no_labels_one_class_and_too_little_history(home: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _run(capsys, "train", "all")
    assert rc == 1 and "no store here" in err
    _fill(home, labels="none")
    rc, _, err = _run(capsys, "train", "lgbm")
    assert rc == 1 and "no labelled buckets" in err
    one = tmp_path / "one"
    one.mkdir()
    _fill(one, labels="one-class")
    rc, _, err = _run(capsys, "train", "lgbm", "--home", str(one))
    assert rc == 1 and "only one class" in err
    few = tmp_path / "few"
    few.mkdir()
    _fill(few, days=3)
    rc, _, err = _run(capsys, "train", "all", "--home", str(few))
    assert rc == 1 and "too little labelled history" in err
    for h in (home, one, few):
        assert not (h / "models").exists() or not [p for p in (h / "models").iterdir() if p.is_dir()]


def test_not_a_bundle_is_refused(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(home)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "model.txt").write_text("not a model")
    (tmp_path / "junk" / "metadata.json").write_text("{}")
    rc, _, err = _run(capsys, "train", "calibrate", "--model-dir", str(tmp_path / "nothing"))
    assert rc == 1 and "not a model bundle directory" in err
    rc, _, err = _run(capsys, "train", "calibrate", "--model-dir", str(tmp_path / "junk"))
    assert rc == 1 and "junk" in err and "\n" not in err.strip()
    assert not (home / "artifacts" / "calibrator_store").exists()


CSV_HEADER = "start_ts,end_ts,label,user_id,provenance,confidence,created_at\n"


def test_labels_import_export_add(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.csv"
    good.write_text(CSV_HEADER
                    + "2026-03-02T09:00:00+00:00,2026-03-02T10:00:00+00:00,Build,u1,manual,,2026-03-02T10:05:00+00:00\n"
                    + "2026-03-02T10:00:00+00:00,2026-03-02T10:30:00+00:00,Meet,u1,manual,,2026-03-02T10:35:00+00:00\n")
    rc, out, err = _run(capsys, "labels", "import", str(good))
    assert rc == 0 and "imported 2 span(s)" in out, err
    rc, out, err = _run(capsys, "labels", "add", "--start", "2026-03-02T11:00:00+00:00",
                        "--end", "2026-03-02T11:20:00+00:00", "--label", "debug", "--user-id", "u1")
    assert rc == 0 and "as Debug for u1" in out, err
    export = tmp_path / "out.csv"
    rc, _, err = _run(capsys, "labels", "export", "--output", str(export))
    assert rc == 0, err
    lines = export.read_text().splitlines()
    assert export.stat().st_mode & 0o777 == 0o600  # labels are personal data
    assert len(lines) == 4 and lines[1].startswith("2026-03-02T09:00:00+00:00,2026-03-02T10:00:00+00:00,Build,u1")
    rc, out, _ = _run(capsys, "labels", "export")
    assert out.splitlines() == lines


def test_labels_import_reports_bad_lines_and_imports_nothing(home: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(CSV_HEADER
                   + "2026-03-02T09:00:00+00:00,2026-03-02T10:00:00+00:00,Build,u1,manual,,\n"
                   + "2026-03-02T10:00:00+00:00,2026-03-02T09:30:00+00:00,Meet,u1,manual,,\n"
                   + "2026-03-02T11:00:00+00:00,2026-03-02T12:00:00+00:00,Coding,u1,manual,,\n")
    rc, _, err = _run(capsys, "labels", "import", str(bad))
    assert rc == 1 and "line 3" in err and "nothing was imported" in err
    assert not (home / "store.sqlite3").exists()  # the file is checked before the home is touched
    rc, out, err = _run(capsys, "labels", "import", str(bad), "--skip-bad-lines")
    assert rc == 0 and "imported 1 span(s)" in out and "2 bad line(s) skipped" in out
    assert "line 4" in err


def test_overlapping_spans_in_one_file_are_refused(home: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "overlap.csv"
    f.write_text(CSV_HEADER
                 + "2026-03-02T09:00:00+00:00,2026-03-02T10:00:00+00:00,Build,u1,manual,,\n"
                 + "2026-03-02T09:30:00+00:00,2026-03-02T10:30:00+00:00,Debug,u1,manual,,\n"
                 + "2026-03-02T09:30:00+00:00,2026-03-02T10:30:00+00:00,Debug,u2,manual,,\n")
    rc, _, err = _run(capsys, "labels", "import", str(f))
    assert rc == 1 and "spans 1 and 2 of user u1 overlap" in err
    with Store.open(home / "store.sqlite3", readonly=True) as s:
        assert s.label_spans() == []


def test_help_of_every_trainer_command(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["synth"], ["train", "lgbm"], ["train", "calibrate"], ["train", "tune-reject"],
                 ["train", "evaluate"], ["train", "all"], ["infer", "batch"], ["labels", "import"],
                 ["labels", "export"], ["labels", "add"], ["demo"]):
        assert main([*argv, "--help"]) == 0
        assert "--home" in capsys.readouterr().out
