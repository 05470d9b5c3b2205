"""``taskclf export dataset``: only labelled buckets, pseudonymous users, no per-install or title
columns, one Parquet file per user-month, a manifest whose counts and SHA-256s are true."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from engine.cli.main import main
from engine.paths import store_path
from engine.schema import FEATURE_BUILDER_VERSION, SCHEMA_HASH_V2
from engine.store import Store
from tests.conftest import in_ci
from tests.store_helpers import record, span
from trainer.synth import SynthConfig
from trainer.synth_store import write_synthetic

try:
    import pyarrow.parquet as pq
except ImportError:  # the [team] extra: CI installs it, so there a missing pyarrow fails
    if in_ci():
        raise
    pytest.skip("pyarrow is not installed (pip install -e '.[team]')", allow_module_level=True)

ALICE, BOB = "alice.smith@example.org", "bob.jones@example.org"
APRIL = 31 * 1440  # minutes from 2 March 09:00 to 2 April 09:00


def _fill(home: Path) -> None:
    with Store.open(store_path(home)) as store:
        store.put_records([record(m, user=ALICE) for m in range(0, 30)])
        store.put_records([record(APRIL + m, user=ALICE) for m in range(0, 20)])
        store.put_records([record(m, user=BOB, device="laptop-of-bob-02") for m in range(0, 30)])
        store.add_label_spans([
            span(0, 10, "Build", user=ALICE),                      # 10 labelled buckets
            span(APRIL + 5, APRIL + 8, "Debug", user=ALICE, prov="correction"),  # 3
            span(20, 26, "Write", user=BOB, prov="confirmation"),  # 6
        ])


def _pseudonym(home: Path, user: str) -> str:
    salt = (home / "team_export_salt").read_bytes()
    return hmac.new(salt, user.encode(), hashlib.sha256).hexdigest()[:16]


def test_export_writes_only_labelled_rows_per_user_month(home: Path, tmp_path: Path) -> None:
    _fill(home)
    out = tmp_path / "share"
    assert main(["export", "dataset", "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    u1, u2 = _pseudonym(home, ALICE), _pseudonym(home, BOB)
    got = {(f["user"], f["month"], f["rows"]) for f in manifest["files"]}
    assert got == {(u1, "2026-03", 10), (u1, "2026-04", 3), (u2, "2026-03", 6)}
    assert manifest["rows"] == 19 and manifest["users"] == 2
    assert manifest["schema_hash"] == "a15f4751a947" and manifest["feature_builder_version"] == 1
    for f in manifest["files"]:
        path = out / f["path"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == f["sha256"]
        table = pq.read_table(path)
        assert table.num_rows == f["rows"]
        assert set(table.column("user").to_pylist()) == {f["user"]}
        assert None not in table.column("label").to_pylist()
    april = pq.read_table(out / u1 / "2026-04.parquet").to_pydict()
    assert set(april["label"]) == {"Debug"} and set(april["provenance"]) == {"correction"}
    assert april["local_day"][0] == date(2026, 4, 2)
    assert set(april["schema_hash"]) == {"a15f4751a947"}


def test_export_holds_no_user_id_title_session_device_or_per_install_column(home: Path, tmp_path: Path) -> None:
    _fill(home)
    out = tmp_path / "share"
    assert main(["export", "dataset", "--out", str(out)]) == 0
    for path in out.rglob("*.parquet"):
        names = set(pq.read_schema(path).names)
        assert not names & {"window_title_bucket", "window_title_hash", "session_id", "device_id", "user_id",
                            "source_ids"}
        data = path.read_bytes()
        for secret in (ALICE.encode(), BOB.encode(), b"laptop-of-bob-02", b"0123456789abcdef"):
            assert secret not in data
    assert ALICE.encode() not in (out / "manifest.json").read_bytes()


def test_pseudonyms_are_stable_across_exports_of_one_home_and_the_range_filters(
    home: Path, tmp_path: Path
) -> None:
    _fill(home)
    assert main(["export", "dataset", "--out", str(tmp_path / "a")]) == 0
    assert main(["export", "dataset", "--out", str(tmp_path / "b"), "--from", "2026-04-01"]) == 0
    first = json.loads((tmp_path / "a" / "manifest.json").read_text())
    second = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert [(f["user"], f["month"], f["rows"]) for f in second["files"]] == [(_pseudonym(home, ALICE), "2026-04", 3)]
    assert second["files"][0]["user"] in {f["user"] for f in first["files"]}
    assert second["from"] == "2026-04-01"


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--to", "2026-01-31"], "no labelled buckets in this home in that range"),
        (["--from", "2026-05-01", "--to", "2026-04-01"], "--from is after --to"),
    ],
)
def test_export_refusals_are_one_line(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      argv: list[str], match: str) -> None:
    _fill(home)
    assert main(["export", "dataset", "--out", str(tmp_path / "x"), *argv]) == 1
    err = capsys.readouterr().err
    assert match in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_a_non_empty_out_folder_is_refused(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(home)
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    assert main(["export", "dataset", "--out", str(tmp_path / "x")]) == 1
    assert "exists and is not an empty folder" in capsys.readouterr().err
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine"


def test_a_records_only_home_exports_the_same_files_as_one_with_stored_rows(tmp_path: Path) -> None:
    """What the agent's sampler stores (records, labels) exports exactly what a home that also
    stored feature rows does: the export rebuilds the rows with the one builder. team_data.py
    relies on it to write its synthetic homes without feature rows."""
    cfg = SynthConfig(users=2, days=2, seed=5)
    manifests = {}
    for name, rows in (("with-rows", True), ("records-only", False)):
        home = tmp_path / name
        home.mkdir()
        (home / "team_export_salt").write_bytes(bytes(range(32)))  # the same pseudonyms in both
        with Store.open(store_path(home)) as store:
            write_synthetic(store, cfg, feature_rows=rows)
            stored = store.row_coverage("user-01", SCHEMA_HASH_V2, FEATURE_BUILDER_VERSION).feature_rows
        assert (stored > 0) is rows
        assert main(["--home", str(home), "export", "dataset", "--out", str(tmp_path / f"{name}-share")]) == 0
        manifests[name] = json.loads((tmp_path / f"{name}-share" / "manifest.json").read_text())
    a, b = manifests["with-rows"], manifests["records-only"]
    assert a["rows"] == b["rows"] > 1000
    assert [(f["path"], f["rows"], f["labels"]) for f in a["files"]] == [
        (f["path"], f["rows"], f["labels"]) for f in b["files"]]
    for f in a["files"]:
        ta = pq.read_table(tmp_path / "with-rows-share" / f["path"])
        tb = pq.read_table(tmp_path / "records-only-share" / f["path"])
        assert ta.schema == tb.schema
        for col in ta.column_names:
            va, vb = ta.column(col).to_numpy(), tb.column(col).to_numpy()
            if va.dtype.kind == "f":
                np.testing.assert_array_equal(va, vb, err_msg=col)  # NaN in the same places
            else:
                assert va.tolist() == vb.tolist(), col
