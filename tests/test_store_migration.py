"""Migration of a store written by schema version 2 (tests/fixtures/store-v2, made by that
version's own code) to the compact format: everything reads back exactly as it did."""

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
from engine.store import SCHEMA_VERSION, Store

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "store-v2"


def _dump(s: Store) -> dict[str, Any]:
    return {
        "schema_version": 2,
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
        assert s.schema_version() == SCHEMA_VERSION == 5
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
    # half, plus the one page of the learning tally table (schema 5) in this tiny store
    assert path.stat().st_size < (FIXTURE / "store.sqlite3").stat().st_size / 2 + 4096


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
