"""Bad input to the feature builder: a clear error or a documented handling, never a silent
wrong feature; and the builder's state is untouched by a refused record."""

from __future__ import annotations

import dataclasses
import logging
import re
from datetime import datetime, timedelta

import pytest
from features_helpers import CLOCK, CODE, T0, active, bits, rec, seg

from engine.features import FeatureBuilder, FeatureInputError


def _builder() -> FeatureBuilder:
    return FeatureBuilder(clock=CLOCK)


def _reference(records):  # type: ignore[no-untyped-def]
    b = _builder()
    return [bits(b.push(r)) for r in records]  # type: ignore[arg-type]


def test_out_of_order_record_is_refused_and_state_kept() -> None:
    b = _builder()
    b.push(active(0))
    b.push(active(2))
    with pytest.raises(FeatureInputError, match="bucket_start.*time order"):
        b.push(active(1))
    row = b.push(active(3))
    assert row is not None
    assert bits(row) == _reference([active(0), active(2), active(3)])[-1]


def test_duplicate_bucket_is_ignored_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    b = _builder()
    b.push(active(0, keys=10))
    with caplog.at_level(logging.WARNING, logger="engine.features"):
        assert b.push(active(0, keys=999)) is None  # the first record of a bucket wins
    assert "duplicate" in caplog.text
    row = b.push(active(1, keys=20))
    assert row is not None
    assert row.model_features()["keys_per_min_delta"] == 10.0
    assert bits(row) == _reference([active(0, keys=10), active(1, keys=20)])[-1]


def test_record_of_another_user_is_refused() -> None:
    b = _builder()
    b.push(active(0))
    with pytest.raises(FeatureInputError, match="user_id"):
        b.push(active(1, user="user-b"))
    assert b.push(active(1)) is not None


def test_record_from_the_future_is_refused() -> None:
    now = T0 + timedelta(minutes=5)
    b = FeatureBuilder(clock=now.timestamp)
    assert b.push(active(5)) is not None  # the open bucket finalised at a stop: allowed
    with pytest.raises(FeatureInputError, match="future"):
        b.push(active(6))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"keys": -1.0}, "keys"),
        ({"mouse_px": float("inf")}, "mouse_px"),
        ({"clicks": -0.5}, "clicks"),
        ({"input_events": -3.0}, "input_events"),
        ({"active_seconds_any": float("nan")}, "active_seconds_any"),
        ({"max_idle_run_seconds": 61.0}, "max_idle_run_seconds"),
        ({"observed_seconds": float("nan")}, "observed_seconds"),
        ({"observed_seconds": 75.0}, "observed_seconds"),
        ({"locked_seconds": 61.0}, "locked_seconds"),
        ({"user_id": ""}, "user_id"),
        ({"utc_offset_minutes": 5000}, "utc_offset_minutes"),
        ({"bucket_start": T0 + timedelta(seconds=30)}, "bucket_start"),
    ],
)
def test_invalid_values_are_refused_naming_the_field(change: dict, field: str) -> None:
    b = _builder()
    b.push(active(0))
    bad = dataclasses.replace(active(1), **change)
    with pytest.raises(FeatureInputError, match=re.escape(field)) as ei:
        b.push(bad)
    assert field in str(ei.value)
    # nothing half-applied: the next good record gives the reference row
    row = b.push(active(1))
    assert row is not None and bits(row) == _reference([active(0), active(1)])[-1]


@pytest.mark.parametrize(
    ("segments", "field"),
    [
        ((seg(0, 61, CODE, "a"),), "segments[0]"),
        ((seg(0, 40, CODE, "a"), seg(30, 20, CODE, "b")), "segments[1]"),
        ((seg(-1, 10, CODE, "a"),), "segments[0]"),
        ((seg(0, float("nan"), CODE, "a"),), "segments[0]"),
        ((dataclasses.replace(seg(0, 10, CODE, "a"), title_hash="My Secret Title"),),
         "segments[0].title_hash"),
        ((dataclasses.replace(seg(0, 10, CODE, "a"), app_category="games"),),
         "segments[0].app_category"),
        ((dataclasses.replace(seg(0, 10, CODE, "a"), is_browser=True),),
         "segments[0].is_browser"),
        ((dataclasses.replace(seg(0, 10, CODE, "a"), app_id=""),), "segments[0].app_id"),
    ],
)
def test_invalid_segments_are_refused(segments: tuple, field: str) -> None:
    with pytest.raises(FeatureInputError, match=re.escape(field)) as ei:
        _builder().push(rec(0, segments, active_any=10))
    assert field in str(ei.value)


def test_more_foreground_than_observed_is_refused() -> None:
    with pytest.raises(FeatureInputError, match="segments"):
        _builder().push(rec(0, [seg(0, 50, CODE, "a")], observed=40, active_any=10))


def test_naive_bucket_start_is_refused() -> None:
    naive = dataclasses.replace(active(0), bucket_start=datetime(2026, 2, 23, 10, 0))
    with pytest.raises(FeatureInputError, match="bucket_start"):
        _builder().push(naive)


def test_reset_forgets_the_user_and_the_order() -> None:
    b = _builder()
    b.push(active(5))
    b.reset()
    assert b.user_id is None and b.state_size == (0, 0)
    row = b.push(active(0, user="user-b"))
    assert row is not None and row.model_features()["idle_return_indicator"] is True


def test_non_utc_aware_start_is_normalised() -> None:
    from datetime import timezone

    plus2 = timezone(timedelta(hours=2))
    r = dataclasses.replace(active(0), bucket_start=T0.astimezone(plus2))
    row = _builder().push(r)
    assert row is not None and row.bucket_start == T0 and row.bucket_start.tzinfo is not None
    assert row.bucket_start.utcoffset() == timedelta(0)
