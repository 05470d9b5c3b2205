"""The per-bucket writes' fast path (engine.store_plan, the Packer's caches, the codec-0
encoder): a row that no longer fits the cached plan of its shape takes the general way, a cache
never names a shape, source or session a rolled-back transaction added, another connection's
writes are found, and every value reads back bit for bit."""

from __future__ import annotations

import json
import math
import sqlite3
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from store_helpers import json_values, prediction, record

from engine import store_codec
from engine.errors import ArtifactError
from engine.store import Store
from engine.store_pack import Packer, _same_floats, bucket_iso
from engine.store_plan import ShapePlan
from engine.store_schema import migrate

_JSON = json_values()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _bits(values: list[float]) -> bytes:
    return struct.pack(f"<{len(values)}d", *values)


def _json(obj: Any) -> str:
    """Exact text of a value: every float by its bits (NaN, -0.0 and the last bit told apart)."""
    return json.dumps(obj, default=str, allow_nan=True, sort_keys=False) + "|" + "".join(
        struct.pack("<d", f).hex() for f in _floats_in(obj))


def _floats_in(obj: Any) -> list[float]:
    if isinstance(obj, float):
        return [obj]
    if isinstance(obj, dict):
        return [f for v in obj.values() for f in _floats_in(v)]
    if isinstance(obj, list | tuple):
        return [f for v in obj for f in _floats_in(v)]
    return []


@given(s=st.integers(-62135596800, 253402300799))
def test_the_bucket_text_is_datetime_isoformat(s: int) -> None:
    assert bucket_iso(s) == (_EPOCH + timedelta(seconds=s)).isoformat()


@given(values=st.lists(_JSON, max_size=8), finite=st.booleans())
def test_the_live_encoder_writes_what_the_codec_writes(values: list[Any], finite: bool) -> None:
    fast = store_codec.PlainEncoder()
    try:
        want: bytes | None = store_codec.encode(values, store_codec.PLAIN, None, finite=finite)
    except ValueError:
        want = None
    if want is None:
        with pytest.raises(ValueError, match="JSON compliant"):
            fast.encode(values, finite=finite)
    else:
        assert fast.encode(values, finite=finite) == want


def test_a_refused_value_leaves_no_container_marked() -> None:
    """The reused encoder marks the containers it is inside; a refused value must not leave
    them marked, or the same list, corrected, would read as a circular reference."""
    fast = store_codec.PlainEncoder()
    values: list[Any] = [[1.0, math.nan], {"a": [2]}]
    with pytest.raises(ValueError, match="JSON compliant"):
        fast.encode(values, finite=True)
    values[0][1] = 2.0
    assert fast.encode(values, finite=True) == b'\x00[[1.0,2.0],{"a":[2]}]'


def test_the_live_encoder_still_refuses_a_cycle() -> None:
    fast = store_codec.PlainEncoder()
    loop: list[Any] = [1.0]
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference"):
        fast.encode([loop])
    assert fast.encode([[1.0]]) == b"\x00[[1.0]]"


_EDGE = st.sampled_from([0.0, -0.0, math.nan, -math.nan, math.inf, -math.inf, 0.5, 1e-300])


@given(a=st.lists(st.floats(allow_nan=True) | _EDGE, min_size=1, max_size=9), data=st.data())
def test_repeated_probabilities_are_compared_bit_for_bit(a: list[float], data: st.DataObject) -> None:
    b = data.draw(st.lists(st.floats(allow_nan=True) | _EDGE, min_size=len(a), max_size=len(a))
                  | st.just([float(struct.unpack("<d", struct.pack("<d", x))[0]) for x in a])
                  | st.just([-x if x == 0 else x for x in a]))
    assert _same_floats(a, b) is (_bits(a) == _bits(b))


def test_repeated_probabilities_are_compared_bit_for_bit_at_the_edges() -> None:
    nan = struct.unpack("<d", struct.pack("<d", math.nan))[0]
    for a, b, same in [([0.0, 0.5], [-0.0, 0.5], False), ([math.nan, 0.5], [nan, 0.5], True),
                       ([math.inf, -math.inf], [math.inf, -math.inf], True), ([0.5, 0.25], [0.5, 0.25], True),
                       ([0.5, 0.25], [0.5, math.nextafter(0.25, 1)], False)]:
        assert _same_floats(a, b) is same, (a, b)


# few values, each equal to another in some way (1, 1.0, True; 0.0, -0.0; lists of the same
# values of other types; lists of objects with the same or other keys), and few keys
_VALUE = st.sampled_from([0.0, -0.0, 1, 1.0, True, "a", None, ["a"], [1], [True], {"k": 1}, [{"x": 1}],
                          [{"x": 1}, {"y": 2}], [{"x": True}], []])
_KEY = st.sampled_from(["a", "b", "model_id", "segments"])


@settings(max_examples=400)
@given(data=st.data(), keys=st.lists(_KEY, unique=True, max_size=4), derived_keys=st.lists(_KEY, unique=True, max_size=2))
def test_the_cached_plans_pack_exactly_as_the_general_way(data: st.DataObject, keys: list[str],
                                                          derived_keys: list[str]) -> None:
    """Rows of the same keys whose values vary (a constant changes, a value becomes the
    columns' one, a nested list changes keys), and now and then other keys: packed through one
    long-lived writer, whose plans are reused, exactly as through a new one for each row."""
    same = st.tuples(st.fixed_dictionaries(dict.fromkeys(keys, _VALUE)),
                     st.fixed_dictionaries(dict.fromkeys(derived_keys, _VALUE)))
    other = st.tuples(st.dictionaries(_KEY, _VALUE, max_size=5), st.dictionaries(_KEY, _VALUE, max_size=3))
    rows = data.draw(st.lists(same | same | same | other, min_size=2, max_size=8))
    _pack_both_ways(rows)


@pytest.mark.parametrize("rows", [
    [({"a": 1, "b": 2.5}, {"a": 1}), ({"a": 1.0, "b": 2.5}, {"a": 1}), ({"a": True, "b": 2.5}, {"a": 1})],
    [({"model_id": [1], "b": 2.5}, {}), ({"model_id": [True], "b": 2.5}, {}), ({"model_id": [1], "b": 0.5}, {})],
    [({"model_id": 1, "b": 2.5}, {}), ({"model_id": True, "b": 2.5}, {}), ({"model_id": 1.0, "b": 0.5}, {})],
])
def test_values_equal_but_of_another_type_are_told_apart(rows: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    _pack_both_ways(rows)


def _pack_both_ways(rows: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrate(conn)
    for constants, nested in ((("model_id", "a"), ("segments",)), ((), ())):
        kept = Packer()
        for obj, derived in rows:
            want = Packer().pack(conn, obj, derived, constants, nested=nested, uncompressed=True)
            assert kept.pack(conn, obj, derived, constants, nested=nested, uncompressed=True) == want


def _put_prediction(s: Store, minute: int, **changes: Any) -> None:
    p = prediction(minute)
    for k, v in changes.items():
        object.__setattr__(p, k, v)
    s.put_prediction("d1", p)


@pytest.mark.parametrize(("base", "changed"), [
    ({"model_id": "bundle-1"}, {"model_id": "bundle-2"}),  # a constant of the shape changes
    ({"threshold": 0.0}, {"threshold": -0.0}),  # equal to 0.0, but its own value
    ({"threshold": 1.0}, {"threshold": 1}),  # equal to 1.0, another type
    ({}, {"label_order": ("Debug", *prediction(0).label_order[1:])}),
    ({}, {"model_sha256": "ab" * 32}),
])
def test_a_row_that_no_longer_fits_its_plan_gets_its_own_shape(
        tmp_path: Path, base: dict[str, Any], changed: dict[str, Any]) -> None:
    with Store.open(tmp_path / "s.sqlite3") as s:
        _put_prediction(s, 0, **base)
        _put_prediction(s, 1, **changed)
        _put_prediction(s, 2, **base)
        got = s.predictions()
        shapes = [json.loads(t) for (t,) in s._conn.execute("SELECT keys FROM shapes")]
        assert s.unreadable_rows == 0
    assert len(shapes) == 2  # the first and third share one
    (key, value), = changed.items()
    assert [_json(shape["constants"][key]) for shape in shapes] == [
        _json(v) for v in (base.get(key, getattr(prediction(0), key)), value)]
    assert [getattr(p, key) for p in got] == [getattr(prediction(0), key) if key not in base else base[key],
                                              value, base.get(key, getattr(prediction(0), key))]
    assert [math.copysign(1.0, p.threshold) for p in got] == [
        math.copysign(1.0, x.get("threshold", 0.5)) for x in (base, changed, base)]


def test_a_record_whose_segments_change_keys_or_vanish_reads_back(tmp_path: Path) -> None:
    """The nested lists (segments) are part of the shape: a record without segments, then one
    with, then without again, each read back exactly."""
    recs = [record(0), record(1), record(2)]
    object.__setattr__(recs[0], "segments", ())
    object.__setattr__(recs[2], "segments", ())
    object.__setattr__(recs[1], "sources", ("x11", "synthetic"))
    with Store.open(tmp_path / "s.sqlite3") as s:
        for r in recs:
            assert s.put_record(r)
        got = list(s.records())
    assert [_json(r.to_json()) for r in got] == [_json(r.to_json()) for r in recs]


def test_a_rolled_back_shape_is_not_reused_by_its_plan(tmp_path: Path) -> None:
    """A bucket written in one transaction (``put_bucket``) that fails after its prediction's new
    shape was added: the next prediction of that model must add the shape again, not name the
    number the rolled-back transaction had given it (other shapes take those in between)."""
    with Store.open(tmp_path / "s.sqlite3") as s:
        s.put_prediction("d1", prediction(0))
        row = _Row(record(1))
        bad = prediction(1)
        object.__setattr__(bad, "model_id", "bundle-new")
        object.__setattr__(bad, "confidence", math.nan)  # refused after its shape is added
        with pytest.raises(ValueError, match="JSON compliant"):
            s.put_bucket(record(1), row, bad)
        assert s._conn.execute("SELECT COUNT(*) FROM records").fetchone()[0] == 0
        s.put_record(record(5))  # a new shape: takes one of the rolled-back numbers
        _row(s, 5, "s1")
        _put_prediction(s, 3, model_id="bundle-new")
        _put_prediction(s, 2, model_id="bundle-other")
        got = [p.model_id for p in s.predictions()]
        assert s.unreadable_rows == 0
    assert got == ["rules", "bundle-other", "bundle-new"]


def test_another_connections_sources_shapes_and_sessions_are_found(tmp_path: Path) -> None:
    """Two writable connections (the agent and a CLI import, say): what one adds, the other
    finds by its content and never confuses with its own cached numbers."""
    path = tmp_path / "s.sqlite3"
    with Store.open(path) as a, Store.open(path) as b:
        a.put_prediction("d1", prediction(0))
        _row(a, 0, "s-a")
        b.put_prediction("d2", prediction(1, user="u2"))
        _put_prediction(b, 2, model_id="bundle-b")
        _row(b, 2, "s-b")
        _put_prediction(a, 3, model_id="bundle-b")  # b's shape, new to a
        _row(a, 3, "s-b")  # b's session, new to a
        a.put_prediction("d2", prediction(4, user="u2"))  # b's source, new to a
        _row(a, 4, "s-a")
        assert a._conn.execute("SELECT COUNT(*) FROM shapes").fetchone()[0] == len(
            {t for (t,) in a._conn.execute("SELECT keys FROM shapes")})
        assert a.integrity_check() == "ok"
    with Store.open(path, readonly=True) as r:
        preds = [(p.user_id, p.model_id) for p in r.predictions()]
        rows = [(x["session_id"], x["keys_per_min"]) for x in r.feature_rows()]
        assert r.unreadable_rows == 0
    assert preds == [("u1", "rules"), ("u2", "rules"), ("u1", "bundle-b"), ("u1", "bundle-b"), ("u2", "rules")]
    assert rows == [("s-a", 0.0), ("s-b", 2.0), ("s-b", 3.0), ("s-a", 4.0)]


def _row(s: Store, minute: int, session: str) -> None:
    s.put_feature_row(user_id="u1", device_id="d1", bucket_start=record(minute).bucket_start,
                      session_id=session, schema_hash="h", feature_builder_version=1,
                      row={"session_id": session, "keys_per_min": float(minute)})


class _Row:
    """A feature row as ``put_bucket`` takes it."""

    def __init__(self, rec: Any) -> None:
        self.user_id, self.device_id, self.bucket_start = rec.user_id, rec.device_id, rec.bucket_start
        self.session_id, self.schema_hash, self.feature_builder_version = "s1", "h", 1

    def to_json(self) -> dict[str, Any]:
        return {"session_id": self.session_id, "keys_per_min": 1.25}


def test_a_plan_keeps_its_own_copy_of_a_shared_list() -> None:
    """A caller changing a row's list after the write must not change what later rows are
    compared with."""
    order = ["a", "b"]
    plan = ShapePlan(1, ("x",), {"x": 1.0, "order": order}, {}, (), {"order": order}, (), ("order",), ())
    order.append("c")
    assert plan.fits({"x": 2.0, "order": ["a", "b"]}, {})
    assert not plan.fits({"x": 2.0, "order": ["a", "b", "c"]}, {})
    assert not plan.fits({"x": 2.0, "order": ["a", 1]}, {})


def test_a_refused_record_is_named_in_its_error(tmp_path: Path) -> None:
    """Validation runs without the record's name first; a refused one still gets it."""
    bad = record(0)
    object.__setattr__(bad, "observed_seconds", 500.0)
    with Store.open(tmp_path / "s.sqlite3") as s:
        for put in (s.put_record, lambda r: s.put_records([r])):
            with pytest.raises(ArtifactError, match=r"^record 2026-03-02T09:00:00\+00:00: observed_seconds: must be"):
                put(bad)
        assert s.count_records() == 0
