"""The online engine (spec 4.1-4.3): decisions, smoothing, mapping, blocks, invariants."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import copy_bundle, seed_bundle, seed_rows, seed_store
from hypothesis import given
from hypothesis import strategies as st

from engine.bundle import load_bundle
from engine.labels import LABEL_ORDER, MIXED_UNKNOWN
from engine.pipeline import DEFAULT_REJECT_THRESHOLD, MAX_BLOCKS_PER_DAY, MAX_CACHED_USERS, Engine
from engine.schema import MODEL_COLUMNS
from engine.taxonomy import taxonomy_from_obj

T0 = datetime(2026, 2, 23, 9, 0, tzinfo=UTC)

# Rows the rule baseline labels with certainty (one-hot -> accepted at any threshold < 1).
ROWS: dict[str, dict[str, Any]] = {
    "B": {"app_category": "lockscreen"},  # BreakIdle
    "M": {"app_category": "meeting"},  # Meet
    "C": {"app_category": "chat", "active_seconds_any": 50.0},  # Communicate
    "R": {"app_category": "browser", "scroll_events_per_min": 20.0, "keys_per_min": 1.0, "active_seconds_any": 50.0},
    "?": {"app_category": "other", "active_seconds_any": 50.0},  # Mixed/Unknown (rejected)
    "W": {"app_category": "docs", "active_seconds_any": 50.0},  # Write (no input counters)
}
NAMES = {"B": "BreakIdle", "M": "Meet", "C": "Communicate", "R": "ReadResearch", "?": MIXED_UNKNOWN,
         "W": "Write"}


def _run(seq: str, *, window: int = 3, sessions: str | None = None, gaps: dict[int, int] | None = None) -> list[str]:
    e = Engine.rules(smooth_window=window)
    out = []
    t = T0
    for i, ch in enumerate(seq):
        if i:
            t += timedelta(minutes=1 + (gaps or {}).get(i, 0))
        sid = sessions[i] if sessions else "s"
        rec = e.step(ROWS[ch], user_id="u", bucket_start=t, session_id=sid)
        assert rec.accepted_label == NAMES[ch]
        out.append(next(k for k, v in NAMES.items() if v == rec.smoothed_label))
    return out


def test_a_one_bucket_blip_is_suppressed() -> None:
    assert "".join(_run("WWMWW")) == "WWWWW"


def test_a_real_change_shows_after_two_buckets() -> None:
    assert "".join(_run("WWWMMM")) == "WWWWMM"


def test_window_one_is_the_identity() -> None:
    seq = "BMBCR?RBW"
    assert "".join(_run(seq, window=1)) == seq


def test_a_new_session_starts_a_fresh_window() -> None:
    assert "".join(_run("WWWM", sessions="aaab")) == "WWWM"


def test_ties_prefer_the_previous_smoothed_label_then_the_most_recent() -> None:
    assert "".join(_run("WMCR")) == "WWWR"  # [W,M,C] tie keeps W; [M,C,R] tie: R most recent
    assert "".join(_run("WWMM", window=4)) == "WWWW"


def test_the_window_is_in_time_not_in_rows() -> None:
    assert "".join(_run("WWM", gaps={2: 10})) == "WWM"  # the W buckets are 11 minutes old


def test_mixed_unknown_votes_too() -> None:
    assert "".join(_run("WW??W")) == "WWW??"  # two rejects outvote one W
    assert "".join(_run("W?W")) == "WWW"


def test_a_break_shows_at_once_and_ends_with_the_first_other_bucket() -> None:
    # the majority would show the break one bucket late and keep it one bucket too long
    assert "".join(_run("CCBBBCC")) == "CCBBBCC"
    assert "".join(_run("CCCCBBCC", window=5)) == "CCCCBBCC"
    assert "".join(_run("BBB?CC")) == "BBB??C"  # back, unclear at first (ties keep the previous)


def test_activity_inside_a_break_is_not_shown_as_the_break() -> None:
    assert "".join(_run("BBCBB")) == "BBCBB"
    assert "".join(_run("CCBCC")) == "CCBCC"


def _break_probs(p: float) -> list[float]:
    rest = (1.0 - p) / (len(LABEL_ORDER) - 1)
    return [p if lab == "BreakIdle" else rest for lab in LABEL_ORDER]


def test_a_break_the_model_is_unsure_of_still_shows_at_once_once_accepted() -> None:
    e = Engine.rules(smooth_window=5)
    shown = []
    for i, raw in enumerate([ROWS["C"]] * 4 + [_break_probs(0.6)] + [ROWS["C"]]):
        t = T0 + timedelta(minutes=i)
        if isinstance(raw, dict):
            rec = e.step(raw, user_id="u", bucket_start=t, session_id="s")
        else:
            rec = e.step_raw(raw, user_id="u", bucket_start=t, session_id="s")
            assert rec.accepted_label == "BreakIdle" and rec.confidence == pytest.approx(0.6)
        shown.append(rec.smoothed_label)
    assert shown == ["Communicate"] * 4 + ["BreakIdle", "Communicate"]
    rejected = e.step_raw(_break_probs(0.5), user_id="u", bucket_start=T0 + timedelta(minutes=9),
                          session_id="s")
    assert rejected.accepted_label == MIXED_UNKNOWN and rejected.smoothed_label != "BreakIdle"


@given(seq=st.text(alphabet="BMCR?W", min_size=1, max_size=40), window=st.integers(1, 6))
def test_a_break_is_shown_exactly_when_the_bucket_is_accepted_as_one(seq: str, window: int) -> None:
    shown = _run(seq, window=window)
    assert [c == "B" for c in shown] == [c == "B" for c in seq]


def _engine(**kw: Any) -> Engine:
    return Engine.from_artifacts(seed_bundle(), seed_store("temperature"), **kw)


def test_thresholds_per_user_then_global_then_default() -> None:
    e = _engine(reject_threshold=0.3, per_user_thresholds={"user-a": 0.9})
    row = seed_rows()[0]
    a = e.step(row, user_id="user-a", bucket_start=T0, session_id=None)
    b = e.step(row, user_id="user-z", bucket_start=T0 + timedelta(minutes=1), session_id=None)
    assert (a.threshold, a.threshold_source) == (0.9, "per_user")
    assert (b.threshold, b.threshold_source) == (0.3, "global")
    c = _engine().step(row, user_id="user-a", bucket_start=T0, session_id=None)
    assert (c.threshold, c.threshold_source) == (DEFAULT_REJECT_THRESHOLD, "default")


def test_calibrator_per_user_with_global_fallback_and_identity_without_store() -> None:
    row = seed_rows()[3]
    e = _engine()
    assert e.step(row, user_id="user-b", bucket_start=T0, session_id=None).calibrator == "user"
    assert e.step(row, user_id="stranger", bucket_start=T0 + timedelta(minutes=1), session_id=None).calibrator == "global"
    bare = Engine.from_artifacts(seed_bundle())
    rec = bare.step(row, user_id="user-b", bucket_start=T0, session_id=None)
    assert rec.calibrator == "identity" and rec.probs == pytest.approx(rec.raw_probs, abs=1e-15)


def test_reject_is_strict_at_the_threshold() -> None:
    row = seed_rows()[10]
    conf = _engine().step(row, user_id="user-c", bucket_start=T0, session_id=None).confidence
    at = _engine(reject_threshold=conf).step(row, user_id="user-c", bucket_start=T0, session_id=None)
    assert at.confidence == conf and not at.rejected and at.accepted_label == at.core_label
    above = _engine(reject_threshold=math.nextafter(conf, 1.0)).step(row, user_id="user-c", bucket_start=T0, session_id=None)
    assert above.rejected and above.accepted_label == MIXED_UNKNOWN
    assert above.core_label == at.core_label and above.probs == at.probs


def test_ties_in_calibrated_probs_are_broken_by_raw_then_label_order() -> None:
    from engine.calibration import IsotonicCalibrator

    class Plateau:  # maps everything above 0.01 to the same value
        kind = "isotonic"
        inner = IsotonicCalibrator([([0.0, 0.01, 1.0], [0.0, 0.5, 0.5])] * 8)

        def apply_row(self, p: list[float]) -> list[float] | None:
            return self.inner.apply_row(p)

    e = Engine.rules()
    e._user_cache["u"] = (((Plateau(), "user"),), 0.1, "global")  # type: ignore[assignment]
    rec = e.step(ROWS["M"], user_id="u", bucket_start=T0, session_id=None)
    assert rec.core_label == "Meet"  # equal calibrated values; Meet's raw probability is 1.0
    e2 = Engine.rules()
    e2._user_cache["u"] = (((Plateau(), "user"),), 0.1, "global")  # type: ignore[assignment]
    rec2 = e2.step(ROWS["?"], user_id="u", bucket_start=T0, session_id=None)
    assert rec2.core_label == LABEL_ORDER[0]  # uniform raw too: first in label order


_feature_values: dict[str, st.SearchStrategy[Any]] = {
    "app_id": st.sampled_from(["com.microsoft.VSCode", "us.zoom.xos", "com.apple.mail", "zzz", None]),
    "app_category": st.sampled_from(["editor", "meeting", "email", "browser", "lockscreen", "?", None]),
    "domain_category": st.sampled_from(["non_browser", "docs", "video", "unknown", None]),
}
_any_value = st.one_of(st.none(), st.booleans(), st.floats(-1e6, 1e6), st.just(math.nan))
_row = st.builds(
    lambda base, over: {**base, **over},
    st.sampled_from(seed_rows() + [{}]),
    st.dictionaries(
        st.sampled_from(MODEL_COLUMNS),
        st.deferred(lambda: _any_value),
        max_size=6,
    ).flatmap(
        lambda d: st.fixed_dictionaries(
            {k: _feature_values.get(k, _any_value) for k in d}
        )
    ),
)


@given(
    rows=st.lists(st.tuples(_row, st.sampled_from(["user-a", "user-b", "nobody"]), st.integers(1, 400)), min_size=1, max_size=12),
    method=st.sampled_from(["temperature", "isotonic"]),
)
def test_invariants_hold_for_any_rows(rows: list[tuple[dict[str, Any], str, int]], method: str) -> None:
    tax = taxonomy_from_obj({"buckets": [{"name": "Focus", "core_labels": ["Build", "Debug", "Write"]}], "reweight": {"Meet": 3}})
    e = Engine.from_artifacts(seed_bundle(), seed_store(method), reject_threshold=0.6, per_user_thresholds={"user-b": 0.4}, taxonomy=tax)
    t = T0
    for row, uid, gap in rows:
        t += timedelta(minutes=gap)
        r = e.step(row, user_id=uid, bucket_start=t, session_id="s")
        assert r.label_order == LABEL_ORDER
        for vec in (r.raw_probs, r.probs, tuple(r.mapped_probs.values())):
            assert all(math.isfinite(v) and v >= 0 for v in vec)
            assert abs(sum(vec) - 1) < 1e-9
        assert r.confidence == max(r.probs)
        assert r.core_label == LABEL_ORDER[r.probs.index(r.confidence)] or r.probs.count(r.confidence) > 1
        assert r.rejected == (r.confidence < r.threshold)
        assert r.accepted_label == (MIXED_UNKNOWN if r.rejected else r.core_label)
        assert set(r.mapped_probs) == {"Focus", "Other"}
        assert r.mapped_label == ("Mixed/Unknown" if r.smoothed_label == MIXED_UNKNOWN else tax.bucket_of(r.smoothed_label))
        json.dumps(r.to_json(), allow_nan=False)


def test_same_inputs_give_identical_records() -> None:
    rows = seed_rows()
    def run() -> list[Any]:
        e = _engine(reject_threshold=0.5)
        return [
            e.step(r, user_id=r["user_id"], bucket_start=T0 + timedelta(minutes=i), session_id="s")
            for i, r in enumerate(rows)
        ]
    assert run() == run()


def test_buckets_must_come_in_order() -> None:
    e = Engine.rules()
    e.step({}, user_id="u", bucket_start=T0, session_id=None)
    with pytest.raises(ValueError, match="not after"):
        e.step({}, user_id="u", bucket_start=T0, session_id=None)
    with pytest.raises(ValueError, match="not after"):
        e.step({}, user_id="u", bucket_start=T0 - timedelta(minutes=5), session_id=None)


def test_naive_timestamps_are_utc_and_long_gaps_are_fine() -> None:
    e = Engine.rules()
    r = e.step({}, user_id="u", bucket_start=datetime(2026, 1, 1, 12, 0), session_id=None)
    assert r.bucket_start == "2026-01-01T12:00:00+00:00"
    e.step(ROWS["B"], user_id="u", bucket_start=datetime(2027, 6, 1, tzinfo=UTC), session_id=None)


def test_blocks_extend_split_on_change_or_gap_and_keep_only_today() -> None:
    e = Engine.rules(smooth_window=1)
    t = T0
    for ch in "BBBMM":
        e.step(ROWS[ch], user_id="u", bucket_start=t, session_id="s")
        t += timedelta(minutes=1)
    blocks = e.today_blocks()
    assert [(b.label, b.buckets) for b in blocks] == [("BreakIdle", 3), ("Meet", 2)]
    assert blocks[0].start == "2026-02-23T09:00:00+00:00" and blocks[0].end == "2026-02-23T09:03:00+00:00"
    assert e.current_block == blocks[-1]
    e.step(ROWS["M"], user_id="u", bucket_start=t + timedelta(minutes=5), session_id="s")  # gap
    assert [b.buckets for b in e.today_blocks()] == [3, 2, 1]
    e.step(ROWS["M"], user_id="u", bucket_start=T0 + timedelta(days=1), session_id="s2")
    assert [(b.label, b.start[:10]) for b in e.today_blocks()] == [("Meet", "2026-02-24")]


def test_state_stays_bounded_over_a_long_run() -> None:
    e = Engine.rules(smooth_window=5)
    t = T0
    for i in range(6000):
        e.step(ROWS["BMCR?"[i % 5 if i % 7 else 0]], user_id=f"user-{i}", bucket_start=t, session_id=str(i // 50))
        t += timedelta(minutes=1)
    assert len(e._votes) <= 5
    assert len(e._closed) <= MAX_BLOCKS_PER_DAY
    assert len(e._user_cache) <= MAX_CACHED_USERS
    assert all(b.start[:10] == e.today_blocks()[-1].start[:10] for b in e.today_blocks())


def test_adopt_state_carries_the_window_and_blocks_over() -> None:
    old = _engine(smooth_window=3)
    rows = seed_rows()
    t = T0
    for r in rows[:4]:
        old.step(r, user_id="user-a", bucket_start=t, session_id="s")
        t += timedelta(minutes=1)
    new = Engine.from_artifacts(seed_bundle(), seed_store("isotonic"), smooth_window=3)
    assert new.adopt_state(old)
    assert new.today_blocks() == old.today_blocks()
    a = old.step(rows[4], user_id="user-a", bucket_start=t, session_id="s")
    b = new.step(rows[4], user_id="user-a", bucket_start=t, session_id="s")
    fresh = Engine.from_artifacts(seed_bundle(), seed_store("isotonic"), smooth_window=3)
    c = fresh.step(rows[4], user_id="user-a", bucket_start=t, session_id="s")
    assert b.accepted_label == c.accepted_label
    if a.accepted_label == b.accepted_label:
        assert b.smoothed_label == a.smoothed_label
    with pytest.raises(ValueError, match="not after the previous one"):
        new.step(rows[0], user_id="user-a", bucket_start=t, session_id="s")  # stream position kept


def test_adopt_state_refuses_another_label_order(tmp_path: Path) -> None:
    bdir = copy_bundle(tmp_path)
    meta = json.loads((bdir / "metadata.json").read_text())
    meta["label_order"] = list(reversed(LABEL_ORDER))
    (bdir / "metadata.json").write_text(json.dumps(meta))
    other = Engine.from_artifacts(load_bundle(bdir))
    old = Engine.rules()
    old.step(ROWS["B"], user_id="u", bucket_start=T0, session_id=None)
    assert not other.adopt_state(old)
    assert other.today_blocks() == ()


def test_rules_engine_output_shape() -> None:
    r = Engine.rules().step(ROWS["?"], user_id="u", bucket_start=T0, session_id=None)
    assert r.model_id == "rules" and r.model_sha256 is None
    assert r.raw_probs == (1 / 8,) * 8 and r.rejected and r.mapped_label == MIXED_UNKNOWN
    r2 = Engine.rules().step(ROWS["C"], user_id="u", bucket_start=T0, session_id=None)
    assert r2.confidence == 1.0 and r2.core_label == "Communicate" and r2.mapped_probs["Communicate"] == 1.0


def test_invalid_engine_settings_are_refused() -> None:
    from engine.errors import ArtifactError

    for kw, needle in (({"reject_threshold": 1.0}, "reject_threshold: must be between 0 and 1"),
                       ({"reject_threshold": 0}, "reject_threshold: must be between 0 and 1"),
                       ({"smooth_window": 0}, "smooth_window: must be an integer from 1"),
                       ({"per_user_thresholds": {"u": 2}}, r"per_user_reject_thresholds\.u: must be between 0 and 1")):
        with pytest.raises(ArtifactError, match=needle):
            _engine(**kw)


@given(
    labels=st.lists(st.sampled_from(["A", "B", "C"]), min_size=2, max_size=3),
    prev=st.one_of(st.none(), st.sampled_from(["A", "B", "C"])),
)
def test_the_short_window_vote_equals_the_general_vote(labels: list[str], prev: str | None) -> None:
    from collections import deque

    e = Engine.rules()
    e._prev_smoothed = prev
    votes = deque((float(i), lab) for i, lab in enumerate(labels))
    assert e._vote3(votes, labels[-1]) == e._vote(votes)


@pytest.mark.parametrize("kind", ["model", "rules"])
def test_step_many_equals_stepping_one_at_a_time(kind: str) -> None:
    rows = seed_rows()[:120] if kind == "model" else [ROWS["BMCR?"[i % 5]] for i in range(40)]
    users = [r.get("user_id", "u") for r in rows]
    starts = [T0 + timedelta(minutes=i + (i // 17) * 3) for i in range(len(rows))]
    sessions = [f"s{i // 50}" for i in range(len(rows))]
    def make() -> Engine:
        return _engine(reject_threshold=0.5) if kind == "model" else Engine.rules()
    one = make()
    want = [one.step(r, user_id=u, bucket_start=t, session_id=s) for r, u, t, s in zip(rows, users, starts, sessions, strict=True)]
    many = make()
    got = many.step_many(rows[:70], user_ids=users[:70], bucket_starts=starts[:70], session_ids=sessions[:70])
    got += many.step_many(rows[70:], user_ids=users[70:], bucket_starts=starts[70:], session_ids=sessions[70:])
    assert got == want
    assert many.today_blocks() == one.today_blocks()
    with pytest.raises(ValueError, match="not after"):
        many.step_many(rows[:2], user_ids=users[:2], bucket_starts=[starts[-1], starts[-1]], session_ids=sessions[:2])
    assert many.step_many([], user_ids=[], bucket_starts=[], session_ids=[]) == []


@given(st.lists(st.tuples(st.sampled_from("BMCR?"), st.integers(1, 3000), st.booleans()), min_size=1, max_size=40),
       st.integers(1, 5))
def test_blocks_are_the_same_asked_every_bucket_or_once(steps: list[tuple[str, int, bool]], window: int) -> None:
    """Closed blocks are frozen only when asked for: asking after every bucket (the agent) or
    only at the end (a batch run) gives the same blocks."""
    eager, lazy = Engine.rules(smooth_window=window), Engine.rules(smooth_window=window)
    t, session = T0, 0
    seen: list[Any] = []
    for ch, gap, new_session in steps:
        t += timedelta(minutes=1 if gap > 2000 else gap)
        session += new_session
        for e in (eager, lazy):
            e.step(ROWS[ch], user_id="u", bucket_start=t, session_id=str(session))
        seen = list(eager.today_blocks())
    assert list(lazy.today_blocks()) == seen
    assert all(b.start[:10] == seen[-1].start[:10] for b in seen)
    assert [b.block_id for b in seen] == sorted(b.block_id for b in seen)


def test_records_are_ordinary_frozen_prediction_records() -> None:
    import dataclasses

    from engine.record import PredictionRecord

    e = _engine(reject_threshold=0.5)
    rec = e.step(seed_rows()[0], user_id="user-a", bucket_start=T0, session_id="s")
    assert type(rec) is PredictionRecord
    assert rec == PredictionRecord(**{f.name: getattr(rec, f.name) for f in dataclasses.fields(rec)})
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field"):
        rec.user_id = "someone else"  # type: ignore[misc]
    assert dataclasses.replace(rec, user_id="x").user_id == "x"
