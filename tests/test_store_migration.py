"""Migration of stores written by schema versions 2 and 5 (tests/fixtures/store-v2 and
store-v5, made by those versions' own code) to the current format: everything reads back
exactly as it did."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import store_codec
from engine.errors import ArtifactError
from engine.record import PredictionRecord
from engine.store import SCHEMA_VERSION, Store

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "store-v2"
FIXTURE_V5 = Path(__file__).resolve().parent / "fixtures" / "store-v5"


def _dump(s: Store, version: int = 2) -> dict[str, Any]:
    return {
        "schema_version": version,
        "records": [r.to_json() for r in s.records()],
        "feature_rows": list(s.feature_rows()),
        "predictions": [p.to_json() for p in s.predictions()],
        "label_spans": [[x.span_id, x.start_ts.isoformat(), x.end_ts.isoformat(), x.label, x.user_id,
                         x.provenance, x.confidence, x.created_at.isoformat()] for x in s.label_spans()],
        "feedback": [[e.event_id, e.kind, e.shown_label, e.answer_label, str(e.bucket_start),
                      str(e.block_start), e.confidence, str(e.at)] for e in s.feedback()],
        "state": s.get_state("paused_until"),
    }


def test_a_version_2_store_migrates_losing_nothing(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    shutil.copy(FIXTURE / "store.sqlite3", path)
    expected = json.loads((FIXTURE / "expected.json").read_text())
    assert len(expected["records"]) == 40 and expected["schema_version"] == 2
    with pytest.raises(ArtifactError, match="older than"):
        Store.open(path, readonly=True)
    with Store.open(path) as s:
        assert s.schema_version() == SCHEMA_VERSION == 6
        assert s.integrity_check() == "ok"
        # the same JSON (NaN included), key for key
        assert json.dumps(_dump(s), sort_keys=True) == json.dumps(expected, sort_keys=True)
        assert s._conn.execute("SELECT COUNT(*) FROM unreadable_rows").fetchone()[0] == 0
        assert s._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        # the learning tally is counted from the history: spans 08:07-08:14 (7 buckets) and
        # 08:14-08:29 (15), both manual, over records of every minute 08:07-08:46 at UTC+1
        day = (datetime(2026, 3, 2, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)).days
        assert s.labelled_days("user-01") == [(day, "Communicate", 7), (day, "ReadResearch", 15)]
    with Store.open(path, readonly=True) as r:  # readers are fine now, and see the same
        assert json.dumps(_dump(r), sort_keys=True) == json.dumps(expected, sort_keys=True)
    # half, plus the pages of the learning tally (schema 5) and row_meta (schema 6) tables,
    # one each in this tiny store
    assert path.stat().st_size < (FIXTURE / "store.sqlite3").stat().st_size / 2 + 2 * 4096


def _v5_store(tmp_path: Path) -> Path:
    path = tmp_path / "store.sqlite3"
    shutil.copy(FIXTURE_V5 / "store.sqlite3", path)
    path.chmod(0o600)
    return path


def _v5_expected() -> dict[str, Any]:
    expected = json.loads((FIXTURE_V5 / "expected.json").read_text())
    labelled = expected.pop("labelled_days")
    assert expected["schema_version"] == 5 and len(expected["records"]) == 60
    assert labelled == [[20514, "Build", 28], [20514, "Communicate", 2], [20514, "Meet", 30]]
    return expected


def _data_bytes(path: Path, table: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(f"SELECT SUM(LENGTH(data)) FROM {table}").fetchone()[0])
    finally:
        conn.close()


def test_a_version_5_store_migrates_losing_nothing(tmp_path: Path) -> None:
    """Starter-model, grouped-taxonomy and rules predictions, feature rows of one session:
    the same JSON bit for bit after the upgrade, and new predictions written smaller."""
    path = _v5_store(tmp_path)
    expected = _v5_expected()
    before = {t: _data_bytes(path, t) for t in ("predictions", "feature_rows")}
    with pytest.raises(ArtifactError, match="older than"):
        Store.open(path, readonly=True)
    with Store.open(path) as s:
        assert s.schema_version() == SCHEMA_VERSION == 6
        assert s.integrity_check() == "ok"
        assert s._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert json.dumps(_dump(s, 5), sort_keys=True) == json.dumps(expected, sort_keys=True)
        assert s.labelled_days("user-01") == [(20514, "Build", 28), (20514, "Communicate", 2), (20514, "Meet", 30)]
        assert s._conn.execute("SELECT COUNT(*) FROM unreadable_rows").fetchone()[0] == 0
        columns = [r[1] for r in s._conn.execute("PRAGMA table_info(feature_rows)")]
        assert columns == ["src", "bucket_start", "meta", "shape", "data"]
        assert s._conn.execute("SELECT COUNT(*) FROM row_meta").fetchone()[0] == len(
            {(r["session_id"], r["_schema_hash"]) for r in expected["feature_rows"]})
        # the stored predictions stay as they were; the same predictions written again are
        # smaller (a tenth of a device's history: the starter model's)
        old = [bytes(d) for (d,) in s._conn.execute("SELECT data FROM predictions ORDER BY bucket_start")]
        assert {d[0] for d in old} == {store_codec.JSON_DEFLATE}
        for p in expected["predictions"][:20]:
            s.put_prediction("d-new", PredictionRecord.from_json(p))
        assert s.compact_rows() == 20  # the upgrade marked every older row as compressed
        new = [bytes(d) for (d,) in s._conn.execute(
            "SELECT data FROM predictions WHERE src = (SELECT src FROM sources WHERE device_id = 'd-new')"
            " ORDER BY bucket_start")]
        assert {d[0] for d in new} == {store_codec.FLOATS_APART}
        assert sum(map(len, new)) < 0.8 * sum(map(len, old[:20])), (sum(map(len, new)), sum(map(len, old[:20])))
        got = [p.to_json() for p in s.predictions() if p.session_id is not None]
        assert json.dumps(got[1::2][:20], sort_keys=True) == json.dumps(expected["predictions"][:20], sort_keys=True)
        s._conn.execute("DELETE FROM predictions WHERE src = (SELECT src FROM sources WHERE device_id = 'd-new')")
        assert s.unreadable_rows == 0
    with Store.open(path, readonly=True) as r:
        assert json.dumps(_dump(r, 5), sort_keys=True) == json.dumps(expected, sort_keys=True)
    assert {t: _data_bytes(path, t) for t in ("predictions", "feature_rows")} == before


def test_an_unparsable_old_row_is_kept_aside_not_lost(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    shutil.copy(FIXTURE / "store.sqlite3", path)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE records SET record = 'not json' WHERE id = (SELECT MIN(id) FROM records)")
    conn.commit()
    conn.close()
    with Store.open(path) as s:
        assert s.count_records() == 39
        kept = s._conn.execute("SELECT tbl, payload FROM unreadable_rows").fetchall()
        assert kept == [("records", "not json")]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**60, 2**60) | st.floats(allow_nan=True)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=12,
)


@given(values=st.lists(_JSON, max_size=8), zdict=st.sampled_from([b"", b"app_id\nbrowser\nnull"]))
def test_codec_round_trips_every_json_value_bit_for_bit(values: list[Any], zdict: bytes) -> None:
    blob = store_codec.encode(values, 1, zdict)
    got = store_codec.decode(blob, {1: zdict})
    assert json.dumps(got) == json.dumps(values)
    assert [type(v) for v in got] == [type(v) for v in values]


def test_codec_refuses_damaged_blobs_with_value_error() -> None:
    for blob, reason in [(b"", "empty"), (b"\x07abc", "unknown codec"), (b"\x01\xff\xff", "decompress")]:
        with pytest.raises(ValueError, match=reason):
            store_codec.decode(blob, {1: b""})
