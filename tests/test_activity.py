"""ActivityRecord (spec 2.2): JSON round trip, validation naming the field, defaults."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest
from features_helpers import CODE, FIREFOX, active, rec, seg

from engine.activity import RECORD_VERSION, ActivityRecord, record_from_json
from engine.errors import ArtifactError


def _same(a: ActivityRecord, b: ActivityRecord) -> bool:
    return json.dumps(a.to_json()) == json.dumps(b.to_json())


def test_json_round_trip_keeps_everything() -> None:
    r = rec(0, [seg(0, 25, CODE, "a"), seg(25, 35, FIREFOX, "Inbox - Gmail")], keys=12,
            backspaces=1, clicks=3, active_kb=10, active_any=20, leading=5, trailing=35,
            max_idle=35, events=15, locked=0)
    obj = r.to_json()
    text = json.dumps(obj, allow_nan=False)  # NaN is written as null, never as NaN
    back = ActivityRecord.from_json(json.loads(text))
    assert back == ActivityRecord.from_json(obj)
    assert _same(back, r)
    assert obj["record_version"] == RECORD_VERSION
    assert obj["bucket_start"] == "2026-02-23T10:00:00+00:00"
    assert obj["mouse_px"] is None and math.isnan(back.mouse_px)
    assert obj["segments"][1]["domain_category"] == "email_web"


def test_missing_counters_read_as_nan_and_flags_follow_the_category() -> None:
    obj = {"user_id": "u", "bucket_start": "2026-02-23T10:00:00Z", "observed_seconds": 60,
           "segments": [{"offset_s": 0, "seconds": 60, "app_id": "org.mozilla.firefox",
                         "app_category": "browser", "title_hash": None,
                         "domain_category": "unknown"}]}
    r = record_from_json(obj)
    assert math.isnan(r.keys) and math.isnan(r.mouse_px) and r.active_seconds_any == 0.0
    assert r.segments[0].is_browser is True and r.segments[0].is_editor is False
    assert r.utc_offset_minutes == 0 and r.device_id == ""
    assert r.bucket_start == datetime(2026, 2, 23, 10, 0, tzinfo=UTC)


def test_default_zone_fills_a_missing_offset_only() -> None:
    from zoneinfo import ZoneInfo

    obj = active(0).to_json()
    obj["utc_offset_minutes"] = 330
    assert record_from_json(obj, default_tz=ZoneInfo("America/New_York")).utc_offset_minutes == 330
    del obj["utc_offset_minutes"]
    r = record_from_json(obj, default_tz=ZoneInfo("America/New_York"))
    assert r.utc_offset_minutes == -300 and r.tz_name == "America/New_York"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda o: o.update(keys=-1), "keys"),
        (lambda o: o.update(keys="many"), "keys"),
        (lambda o: o.update(keys=True), "keys"),
        (lambda o: o.update(keys=1e12), "keys"),
        (lambda o: o.update(observed_seconds=None), "observed_seconds"),
        (lambda o: o.update(observed_seconds=61), "observed_seconds"),
        (lambda o: o.update(active_seconds_any=None), "active_seconds_any"),
        (lambda o: o.update(bucket_start="2026-02-23T10:00:30+00:00"), "bucket_start"),
        (lambda o: o.update(bucket_start="2026-02-23T10:00:00"), "bucket_start"),
        (lambda o: o.update(bucket_start=12), "bucket_start"),
        (lambda o: o.update(record_version=2), "record_version"),
        (lambda o: o.update(user_id=""), "user_id"),
        (lambda o: o.pop("user_id"), "user_id"),
        (lambda o: o.update(utc_offset_minutes=1.5), "utc_offset_minutes"),
        (lambda o: o.update(bucket_seconds=0), "bucket_seconds"),
        (lambda o: o.update(sources="agent"), "sources"),
        (lambda o: o.update(segments={}), "segments"),
        (lambda o: o["segments"][0].update(seconds=70), "segments[0]"),
        (lambda o: o["segments"][0].update(offset_s=None), "segments[0].offset_s"),
        (lambda o: o["segments"][0].update(is_editor="yes"), "segments[0].is_editor"),
        (lambda o: o["segments"][0].update(is_editor=False), "segments[0].is_browser"),
        (lambda o: o["segments"][0].update(app_category="games"), "segments[0].app_category"),
        (lambda o: o["segments"][0].update(domain_category="shopping"), "segments[0].domain_category"),
        (lambda o: o["segments"][0].update(title_hash="Secret Title Text"), "segments[0].title_hash"),
        (lambda o: o["segments"][0].pop("app_id"), "segments[0].app_id"),
        (lambda o: o.update(segments=[1]), "segments[0]"),
        (lambda o: o.update(locked_seconds=61), "locked_seconds"),
    ],
)
def test_bad_records_are_refused_naming_the_field(mutate, field: str) -> None:  # type: ignore[no-untyped-def]
    obj = active(0).to_json()
    mutate(obj)
    with pytest.raises(ArtifactError, match=r"^records\.jsonl:7: ") as ei:
        record_from_json(obj, where="records.jsonl:7")
    msg = str(ei.value)
    assert msg.startswith("records.jsonl:7: ") and field in msg, msg
    assert "\n" not in msg


def test_not_an_object() -> None:
    with pytest.raises(ArtifactError, match="expected a JSON object"):
        record_from_json([1, 2])


def test_validate_returns_the_record() -> None:
    r = active(0)
    assert r.validate() is r
