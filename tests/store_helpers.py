"""Small builders for store tests (records, predictions, spans)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from engine.activity import ActivityRecord, Segment
from engine.labels import LABEL_ORDER
from engine.record import PredictionRecord
from engine.spans import LabelSpan

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def record(minute: int, *, user: str = "u1", device: str = "d1", keys: float = 10.0) -> ActivityRecord:
    return ActivityRecord(
        user_id=user,
        device_id=device,
        bucket_start=at(minute),
        observed_seconds=60.0,
        utc_offset_minutes=60,
        segments=(
            Segment(0.0, 40.0, "org.gnome.Terminal", "terminal", False, False, True, "0123456789abcdef", "non_browser"),
            Segment(40.0, 20.0, "firefox", "browser", True, False, False, None, "docs"),
        ),
        keys=keys,
        clicks=3.0,
        active_seconds_any=50.0,
        max_idle_run_seconds=10.0,
        tz_name="Europe/Berlin",
        sources=("x11",),
    )


def prediction(minute: int, *, user: str = "u1", label: str = "Build", conf: float = 0.8) -> PredictionRecord:
    probs = tuple(0.9 if lab == label else 0.1 / 7 for lab in LABEL_ORDER)
    return PredictionRecord(
        bucket_start=at(minute).isoformat(),
        user_id=user,
        session_id="s1",
        model_id="rules",
        model_sha256=None,
        label_order=LABEL_ORDER,
        raw_probs=probs,
        probs=probs,
        core_label=label,
        confidence=conf,
        threshold=0.5,
        threshold_source="default",
        rejected=conf < 0.5,
        accepted_label=label,
        smoothed_label=label,
        mapped_label=label,
        mapped_probs={label: 1.0},
        calibrator="identity",
    )


def span(a: float, b: float, label: str = "Build", *, prov: str = "manual", created: float = 0.0,
         user: str = "u1", confidence: float | None = None) -> LabelSpan:
    return LabelSpan(at(a), at(b), label, user, prov, confidence, at(10_000 + created))


def readable(data: bytes) -> bytes:
    """``data`` plus every DEFLATE stream found in it, inflated (with the store's dictionary of
    its codec byte): what someone reading the file could recover, for privacy checks of packed
    store rows."""
    import zlib

    from engine.store_codec import JSON_DEFLATE, MOVED_FLOATS, dictionary_v1
    from engine.store_pack import dictionary_words, dictionary_words_v2

    zdicts = {MOVED_FLOATS: dictionary_v1(dictionary_words()),
              JSON_DEFLATE: dictionary_v1(dictionary_words_v2())}
    out = [data]
    for codec, zdict in zdicts.items():
        start = data.find(bytes([codec]))
        while start != -1:
            try:
                dec = zlib.decompressobj(-15, zdict=zdict)
                out.append(dec.decompress(data[start + 1:start + 4097], 1 << 16))
            except zlib.error:
                pass
            start = data.find(bytes([codec]), start + 1)
    return b"".join(out)


def json_scalars(*, int_bits: int = 62) -> st.SearchStrategy[object]:
    """A JSON scalar, NaN and big ints included."""
    return (st.none() | st.booleans() | st.integers(-2**int_bits, 2**int_bits)
            | st.floats(allow_nan=True) | st.text(max_size=6))


def json_values(*, int_bits: int = 62, max_leaves: int = 10) -> st.SearchStrategy[object]:
    """Any JSON-shaped value (NaN and huge ints included): what the store's codecs must carry."""
    return st.recursive(
        json_scalars(int_bits=int_bits),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
        max_leaves=max_leaves,
    )
