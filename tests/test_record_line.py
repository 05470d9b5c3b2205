"""``engine.record_line``: a PredictionRecord's line is exactly the JSON encoder's text of
``to_json()`` (compact, ``allow_nan=False``), for any record, and refuses what it refuses."""

from __future__ import annotations

import json
import math

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.record import PredictionRecord
from engine.record_line import RecordLines

LABELS = ("BreakIdle", "Build", "Communicate", "Debug", "Meet", "ReadResearch", "Review", "Write")


def _encoder(ensure_ascii: bool) -> json.JSONEncoder:
    return json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=ensure_ascii)


def _record(**changes: object) -> PredictionRecord:
    raw = (0.019761077747846446, 0.035925573548849316, 0.38684121703523644, 0.008609864216454119,
           0.2236085210432786, 0.17979431772357593, 0.033359147717118405, 0.11210028096764073)
    fields: dict[str, object] = dict(
        bucket_start="2024-01-01T08:13:00+00:00", user_id="user-01", session_id="304c08f01c61",
        model_id="starter", model_sha256="fc" * 32, label_order=LABELS, raw_probs=raw, probs=raw,
        core_label="Communicate", confidence=0.38684121703523644, threshold=0.55,
        threshold_source="default", rejected=True, accepted_label="Mixed/Unknown",
        smoothed_label="Mixed/Unknown", mapped_label="Mixed/Unknown",
        mapped_probs={"Focus": 0.5, "Talk": 1e-05, "Away": 0.49999}, calibrator="identity")
    fields.update(changes)
    return PredictionRecord(**fields)  # type: ignore[arg-type]


def test_a_known_record_gives_the_known_line() -> None:
    # the line infer batch wrote for this record before the fast writer existed
    want = (
        '{"bucket_start":"2024-01-01T08:13:00+00:00","user_id":"user-01","session_id":"304c08f01c61",'
        '"model_id":"starter","model_sha256":"' + "fc" * 32 + '","label_order":["BreakIdle","Build",'
        '"Communicate","Debug","Meet","ReadResearch","Review","Write"],"raw_probs":[0.019761077747846446,'
        '0.035925573548849316,0.38684121703523644,0.008609864216454119,0.2236085210432786,'
        '0.17979431772357593,0.033359147717118405,0.11210028096764073],"probs":[0.019761077747846446,'
        '0.035925573548849316,0.38684121703523644,0.008609864216454119,0.2236085210432786,'
        '0.17979431772357593,0.033359147717118405,0.11210028096764073],"core_label":"Communicate",'
        '"confidence":0.38684121703523644,"threshold":0.55,"threshold_source":"default","rejected":true,'
        '"accepted_label":"Mixed/Unknown","smoothed_label":"Mixed/Unknown","mapped_label":"Mixed/Unknown",'
        '"mapped_probs":{"Focus":0.5,"Talk":1e-05,"Away":0.49999},"calibrator":"identity","engine_version":"1"}'
    )
    assert RecordLines().line(_record()) == want


_floats = st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                    st.sampled_from([0.0, -0.0, 1.0, 1e-05, 7.2e-05, 0.0001, 1e16, 9999999999999998.0, 2.5e-07]),
                    st.floats(1e-6, 1.0))
_texts = st.text(max_size=8)


@st.composite
def _records(draw: st.DrawFn) -> PredictionRecord:
    n = draw(st.integers(1, 4))
    labels = tuple(draw(st.lists(_texts, min_size=n, max_size=n)))
    raw = tuple(draw(st.lists(_floats, min_size=n, max_size=n)))
    same = draw(st.booleans())
    probs = tuple(-v if v == 0 else v for v in raw) if same else tuple(draw(st.lists(_floats, min_size=n, max_size=n)))
    odd = st.sampled_from([math.nan, math.inf, -math.inf, 1, True])  # refused, or not a float
    if draw(st.booleans()):
        raw = raw[:-1] + (draw(odd),)
    keys = draw(st.lists(_texts, max_size=4, unique=True))
    return _record(bucket_start=draw(_texts), user_id=draw(_texts), session_id=draw(st.none() | _texts),
                   model_id=draw(_texts), model_sha256=draw(st.none() | _texts), label_order=labels,
                   raw_probs=raw, probs=probs, core_label=draw(_texts), confidence=draw(_floats | odd),
                   threshold=draw(_floats | odd), threshold_source=draw(_texts), rejected=draw(st.booleans()),
                   accepted_label=draw(_texts), smoothed_label=draw(_texts), mapped_label=draw(_texts),
                   mapped_probs={k: draw(_floats) for k in keys}, calibrator=draw(_texts))


@given(st.lists(_records(), min_size=1, max_size=5), st.booleans(), st.sampled_from([None, orjson.dumps]))
def test_lines_are_the_json_encoders_text(records: list[PredictionRecord], ensure_ascii: bool,
                                          float_array: object) -> None:
    # one writer: its caches see several records; with orjson's floats or repr's
    lines = RecordLines(ensure_ascii=ensure_ascii, float_array=float_array)  # type: ignore[arg-type]
    enc = _encoder(ensure_ascii)
    for rec in records:
        try:
            want = enc.encode(rec.to_json())
        except ValueError as exc:
            with pytest.raises(ValueError, match=str(exc)[:20]):
                lines.line(rec)
            continue
        assert lines.line(rec) == want


@pytest.mark.parametrize("float_array", [None, orjson.dumps])
def test_calibrated_floats_equal_to_integer_raw_values_keep_their_own_text(float_array: object) -> None:
    # 1.0 == 1, but the encoder writes them as "1.0" and "1": probs must not reuse raw's text
    rec = _record(label_order=("Build",), raw_probs=(1,), probs=(1.0,), confidence=1.0,
                  mapped_probs={})
    line = RecordLines(float_array=float_array).line(rec)  # type: ignore[arg-type]
    assert '"raw_probs":[1],"probs":[1.0],' in line
    assert line == _encoder(True).encode(rec.to_json())


def test_a_nan_probability_is_refused_as_the_encoder_does() -> None:
    rec = _record(raw_probs=(math.nan,) * 8)
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        RecordLines().line(rec)


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False) | st.floats(1e-6, 1.0), min_size=1, max_size=24))
def test_orjsons_floats_are_used_only_where_they_are_reprs_text(values: list[float]) -> None:
    want = ",".join(map(repr, values))
    assert RecordLines(float_array=orjson.dumps)._floats(values) == want


def test_a_float_writer_that_differs_from_repr_is_not_used() -> None:
    def exponent_always(values: list[float]) -> bytes:
        return ("[" + ",".join(f"{v:e}" for v in values) + "]").encode()

    def fails(values: list[float]) -> bytes:
        raise RuntimeError("no")

    for writer in (exponent_always, fails):
        assert RecordLines(float_array=writer)._float_array is None
    assert RecordLines(float_array=orjson.dumps)._float_array is orjson.dumps
    assert RecordLines(float_array=orjson.dumps).line(_record()) == RecordLines().line(_record())
