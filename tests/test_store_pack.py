"""The compact row format (schema 4): any JSON object packs and reads back exactly, constants
go to the shape, and a rolled-back write leaves no cached source or shape behind."""

from __future__ import annotations

import json
import math
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from store_helpers import json_scalars, json_values, prediction, record

from engine import store_codec
from engine.store import Store
from engine.store_pack import Layout, Packer, compact_prediction
from engine.store_schema import migrate

_JSON = json_values()
_KEYS = st.sampled_from(["a", "b", "user_id", "bucket_start", "model_id", "probs", "n", "ö"])


def _same_json(a: Any, b: Any) -> bool:
    """Equal as JSON values, types included (1, 1.0 and True differ; NaN equals NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, list):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same_json(a[k], b[k]) for k in a)
    return bool(a == b)


@pytest.fixture(scope="module")
def conn() -> sqlite3.Connection:
    c = sqlite3.connect(":memory:", isolation_level=None)
    migrate(c)
    return c


@given(obj=st.dictionaries(_KEYS, _JSON, max_size=8),
       derived=st.dictionaries(_KEYS, json_scalars(), max_size=3),
       constants=st.lists(_KEYS, max_size=3, unique=True))
def test_any_object_packs_and_reads_back_exactly(conn: sqlite3.Connection, obj: dict[str, Any],
                                                 derived: dict[str, Any], constants: list[str]) -> None:
    # a key the columns give is taken from them only when its value is exactly theirs
    derived = {k: obj.get(k, v) if k in obj and type(obj[k]) in (str, int, bool, type(None)) else v
               for k, v in derived.items()}
    writer, reader = Packer(), Packer()  # the reader knows only what is in the file
    shape, data = writer.pack(conn, obj, derived, tuple(constants))
    assert data[0] == store_codec.JSON_DEFLATE
    got = reader.unpack(lambda sql, args: conn.execute(sql, args).fetchall(), shape, data, derived)
    assert sorted(got) == sorted(obj)
    assert all(_same_json(got[k], obj[k]) for k in obj)


@given(values=st.lists(_JSON, max_size=8), codec=st.sampled_from([1, 2, 3]),
       zdict=st.sampled_from([b"", b"app_id\nbrowser\nnull"]))
def test_every_codec_round_trips_every_json_value(values: list[Any], codec: int, zdict: bytes) -> None:
    got = store_codec.decode(store_codec.encode(values, codec, zdict), {codec: zdict})
    assert _same_json(got, values)


def test_the_values_shared_by_rows_are_stored_once_in_the_shape(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.sqlite3") as s:
        for m in range(5):
            s.put_prediction("d1", prediction(m))
        shapes = [Layout.from_text(t) for (t,) in s._conn.execute("SELECT keys FROM shapes")]
        (layout,) = [x for x in shapes if x is not None and "label_order" in x.constants]
        assert layout.constants["model_id"] == "rules"
        assert "label_order" not in layout.plain and "probs" in layout.plain
        for data, in s._conn.execute("SELECT data FROM predictions"):  # the live path: not yet deflated
            assert b"rules" not in data and data[0] == store_codec.PLAIN
        assert s.compact_rows() == 5
        for data, in s._conn.execute("SELECT data FROM predictions"):
            assert b"rules" not in data and data[0] == store_codec.FLOATS_APART
        got = s.predictions()
        assert [p.label_order for p in got] == [prediction(0).label_order] * 5
        got[0].to_json()["label_order"].append("x")  # a caller's change stays its own
        assert s.predictions()[0].label_order == prediction(0).label_order


def test_a_rolled_back_write_leaves_no_cached_source_or_shape(tmp_path: Path) -> None:
    """The first write of a user adds its source and shapes; when that transaction fails, the
    next write must add them again rather than refer to rows the file does not have."""
    with Store.open(tmp_path / "s.sqlite3") as s:
        bad = prediction(0)
        object.__setattr__(bad, "confidence", float("nan"))
        with pytest.raises(ValueError, match="JSON compliant"):
            s.put_prediction("d1", bad)
        assert s._conn.execute("SELECT COUNT(*) FROM sources").fetchone()[0] == 0
        s.put_prediction("d1", prediction(0))
        s.put_record(record(0))
        assert [p.core_label for p in s.predictions(user_id="u1")] == ["Build"]
        assert [r.bucket_start for r in s.records(user_id="u1")] == [record(0).bucket_start]
        assert s.unreadable_rows == 0


def test_a_rolled_back_feature_row_write_leaves_no_cached_session(tmp_path: Path) -> None:
    """A new session's ``row_meta`` number added by a failed transaction must not be reused."""
    with Store.open(tmp_path / "s.sqlite3") as s:
        def put(session: str, value: object) -> None:
            s.put_feature_row(user_id="u1", device_id="d1", bucket_start=record(0).bucket_start,
                              session_id=session, schema_hash="h", feature_builder_version=1,
                              row={"session_id": session, "keys_per_min": value})

        with pytest.raises(TypeError, match="not a JSON value"):
            put("s-new", object())
        assert s._conn.execute("SELECT COUNT(*) FROM row_meta").fetchone()[0] == 0
        put("s-other", 1.0)  # takes the number the failed write had used
        put("s-new", 1.0)  # (the session is left out of the blob: the column gives it back)
        (row,) = s.feature_rows(user_id="u1")
        assert (row["session_id"], row["_schema_hash"], row["keys_per_min"]) == ("s-new", "h", 1.0)
        assert s.unreadable_rows == 0


def test_old_codec_rows_and_new_ones_read_side_by_side(tmp_path: Path) -> None:
    """Rows of schema 3 (codec 1) stay as they are after the upgrade and are still read."""
    with Store.open(tmp_path / "s.sqlite3") as s:
        s.put_record(record(0))
        zdicts = dict(s._conn.execute("SELECT codec, zdict FROM dictionaries").fetchall())
        (shape,) = s._conn.execute("SELECT shape FROM records").fetchone()
        values = store_codec.decode(s._conn.execute("SELECT data FROM records").fetchone()[0], zdicts)
        old = store_codec.encode(values, store_codec.MOVED_FLOATS, zdicts[store_codec.MOVED_FLOATS])
        s._conn.execute("UPDATE records SET data = ?", (old,))
    with Store.open(tmp_path / "s.sqlite3") as s:
        s.put_record(record(1))
        s.compact_rows()
        codecs = [d[0] for (d,) in s._conn.execute("SELECT data FROM records ORDER BY bucket_start")]
        assert codecs == [store_codec.MOVED_FLOATS, store_codec.JSON_DEFLATE]
        assert [json.dumps(r.to_json()) for r in s.records()] == [
            json.dumps(record(m).to_json()) for m in (0, 1)]
        assert shape == s._conn.execute("SELECT shape FROM records ORDER BY bucket_start").fetchone()[0]


@given(probs=st.lists(st.floats(0, 1), min_size=8, max_size=8),
       raw_same=st.booleans(), mapped=st.sampled_from(["same", "other_order", "taxonomy"]))
def test_a_prediction_reads_back_exactly_whatever_repeats_its_probabilities(
        probs: list[float], raw_same: bool, mapped: str) -> None:
    p = prediction(0)
    order = list(p.label_order)
    raw = probs if raw_same else [x / 2 for x in probs]
    maps = {"same": dict(zip(order, probs, strict=True)),
            "other_order": dict(zip(order[::-1], probs[::-1], strict=True)),
            "taxonomy": {"Focus": sum(probs[:4]), "Other": sum(probs[4:])}}[mapped]
    for k, v in (("raw_probs", tuple(raw)), ("probs", tuple(probs)), ("mapped_probs", maps)):
        object.__setattr__(p, k, v)
    with tempfile.TemporaryDirectory() as d, Store.open(Path(d) / "s.sqlite3") as s:
        s.put_prediction("d1", p)
        (got,) = s.predictions()
    assert json.dumps(got.to_json()) == json.dumps(p.to_json())
    assert list(got.to_json()["mapped_probs"]) == list(maps)


def test_repeated_probabilities_are_stored_once(tmp_path: Path) -> None:
    same, other = prediction(0), prediction(1)
    object.__setattr__(other, "raw_probs", tuple(x * x for x in other.probs))  # not renormalised
    object.__setattr__(other, "mapped_probs", {"Focus": 0.25, "Other": 0.75})
    with Store.open(tmp_path / "s.sqlite3") as s:
        s.put_prediction("d1", same)
        s.put_prediction("d1", other)
        sizes = [len(d) for (d,) in s._conn.execute("SELECT data FROM predictions ORDER BY bucket_start")]
    assert sizes[0] < sizes[1] - 20, sizes


@given(raw=st.lists(st.floats(1e-9, 1.0), min_size=8, max_size=8),
       conf_is_max=st.booleans(), mapped_exact=st.booleans())
def test_a_prediction_stores_what_it_derives_from_its_probabilities_once(
        raw: list[float], conf_is_max: bool, mapped_exact: bool) -> None:
    """The identity calibrator's renormalised probabilities, the identity taxonomy's
    renormalised map and a confidence equal to the top probability are stored as markers and
    read back bit for bit; a value that differs in the last bit is stored as it is."""
    p = prediction(0)
    order = list(p.label_order)
    s = math.fsum(raw)
    probs = [x / s for x in raw]  # what engine.calibration.IdentityCalibrator computes
    t = sum(probs)
    mapped = [v / t for v in probs]  # what an identity taxonomy computes
    if not mapped_exact:
        mapped[3] = math.nextafter(mapped[3], 2.0)
    conf = max(probs) if conf_is_max else math.nextafter(max(probs), 0.0)
    for k, v in (("raw_probs", tuple(raw)), ("probs", tuple(probs)), ("confidence", conf),
                 ("mapped_probs", dict(zip(order, mapped, strict=True)))):
        object.__setattr__(p, k, v)
    compact = compact_prediction(p.to_json())
    assert compact["probs"] == ("=raw/fsum" if probs != raw else probs)
    assert (compact["confidence"] == "=max") is conf_is_max
    assert (compact["mapped_probs"] in ("=probs/sum", "=probs")) is mapped_exact
    with tempfile.TemporaryDirectory() as d, Store.open(Path(d) / "s.sqlite3") as st_:
        st_.put_prediction("d1", p)
        (got,) = st_.predictions()
    assert _same_json(got.to_json(), p.to_json())


def test_a_damaged_float_blob_is_a_value_error_not_a_crash() -> None:
    blob = store_codec.encode([0.123456789012345, "x"], store_codec.FLOATS_APART, b"")
    for bad, reason in [(blob[:5], "fewer floats"), (b"\x03\xff", "bad varint"),
                        (blob[:1] + b"\x09" + blob[2:], "fewer floats")]:
        with pytest.raises(ValueError, match=reason):
            store_codec.decode(bad, {store_codec.FLOATS_APART: b""})


def _codecs(s: Store, table: str) -> list[int]:
    return [d[0] for (d,) in s._conn.execute(f"SELECT data FROM {table} ORDER BY src, bucket_start")]


def test_the_live_path_stores_rows_uncompressed_and_the_daily_pass_deflates_them(tmp_path: Path) -> None:
    """What the agent writes per bucket is deflated later, reading back the same before and
    after; the pass walks from where it last ended, and an old bucket written after it (a
    catch-up) is deflated at once."""
    with Store.open(tmp_path / "s.sqlite3") as s:
        s.put_records([record(m) for m in range(3)])  # bulk: deflated at once
        for m in range(3, 6):
            s.put_record(record(m))
            s.put_prediction("d1", prediction(m))
            s.put_feature_row(user_id="u1", device_id="d1", bucket_start=record(m).bucket_start,
                              session_id="s1", schema_hash="h", feature_builder_version=1,
                              row={"keys_per_min": m / 7})
        assert _codecs(s, "records") == [store_codec.JSON_DEFLATE] * 3 + [store_codec.PLAIN] * 3
        assert set(_codecs(s, "predictions")) == set(_codecs(s, "feature_rows")) == {store_codec.PLAIN}
        before = ([json.dumps(r.to_json()) for r in s.records()], [json.dumps(p.to_json()) for p in s.predictions()],
                  [json.dumps(r) for r in s.feature_rows()])
        sizes = sum(len(d) for (d,) in s._conn.execute("SELECT data FROM records"))
        now = record(10).bucket_start
        assert s.apply_retention(now) == s.apply_retention(now)  # the daily pass deflates
        assert _codecs(s, "records") == [store_codec.JSON_DEFLATE] * 6
        assert _codecs(s, "predictions") == [store_codec.FLOATS_APART] * 3
        assert _codecs(s, "feature_rows") == [store_codec.JSON_DEFLATE] * 3
        assert sum(len(d) for (d,) in s._conn.execute("SELECT data FROM records")) < sizes
        assert s.compact_rows() == 0
        s.put_record(record(6))  # live
        s.put_prediction("d1", prediction(-2000))  # more than a day before the pass's mark
        assert _codecs(s, "records")[-1] == store_codec.PLAIN
        assert _codecs(s, "predictions")[0] == store_codec.FLOATS_APART
        assert s.compact_rows() == 1
    with Store.open(tmp_path / "s.sqlite3", readonly=True) as r:
        assert [json.dumps(x.to_json()) for x in r.records()][:6] == before[0]
        assert [json.dumps(p.to_json()) for p in r.predictions()][1:] == before[1]
        assert [json.dumps(x) for x in r.feature_rows()] == before[2]
        assert r.unreadable_rows == 0
