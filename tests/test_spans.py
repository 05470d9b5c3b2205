"""The label-span overlap rule (spec 3.1): trim, split, machine vs human, newest wins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import ArtifactError
from engine.labels import CORE_LABELS, HUMAN_PROVENANCES, MACHINE_PROVENANCES
from engine.spans import (
    LabelSpan,
    SpanIndex,
    apply_span,
    bucket_is_labelled,
    check_disjoint,
    label_for_bucket,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def t(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def span(a: float, b: float, label: str = "Build", prov: str = "manual", created: float = 0.0,
         user: str = "u1", span_id: int | None = None) -> LabelSpan:
    return LabelSpan(t(a), t(b), label, user, prov, None, t(1000 + created), span_id)


def intervals(spans: list[LabelSpan]) -> list[tuple[float, float, str]]:
    return [((s.start_ts - T0).total_seconds() / 60, (s.end_ts - T0).total_seconds() / 60, s.label)
            for s in spans]


def test_new_span_trims_the_end_of_an_older_one() -> None:
    out = apply_span([span(0, 30, "Build", span_id=1)], span(20, 40, "Debug", created=1))
    assert intervals(out) == [(0, 20, "Build"), (20, 40, "Debug")]
    assert out[0].span_id == 1 and out[1].span_id is None


def test_new_span_trims_the_start_of_an_older_one() -> None:
    out = apply_span([span(10, 30, "Build", span_id=1)], span(0, 15, "Meet", created=1))
    assert intervals(out) == [(0, 15, "Meet"), (15, 30, "Build")]
    assert out[1].span_id == 1


def test_new_span_inside_an_older_one_splits_it() -> None:
    out = apply_span([span(0, 60, "Build", span_id=7)], span(20, 30, "Meet", created=1))
    assert intervals(out) == [(0, 20, "Build"), (20, 30, "Meet"), (30, 60, "Build")]
    assert [s.span_id for s in out] == [7, None, None]
    assert out[2].created_at == out[0].created_at  # the piece keeps its origin


def test_new_span_covering_older_ones_removes_them() -> None:
    old = [span(5, 10, "Build", span_id=1), span(10, 20, "Debug", span_id=2)]
    out = apply_span(old, span(0, 30, "Write", created=1))
    assert intervals(out) == [(0, 30, "Write")]


def test_other_users_are_untouched() -> None:
    other = span(0, 60, "Build", user="u2", span_id=3)
    out = apply_span([other], span(10, 20, "Meet", created=1))
    assert other in out and len(out) == 2


def test_machine_span_never_trims_a_human_one() -> None:
    human = span(10, 20, "Meet", prov="correction", created=0, span_id=1)
    rule = span(0, 30, "Build", prov="rule", created=5)
    out = apply_span([human], rule)
    assert intervals(out) == [(0, 10, "Build"), (10, 20, "Meet"), (20, 30, "Build")]
    assert human in out


def test_machine_span_fully_under_a_human_one_disappears() -> None:
    human = span(0, 60, "Meet", prov="manual", span_id=1)
    out = apply_span([human], span(10, 20, "Build", prov="synthetic", created=9))
    assert out == [human]


def test_human_span_trims_a_newer_machine_span() -> None:
    rule = span(0, 30, "Build", prov="rule", created=50, span_id=1)
    out = apply_span([rule], span(10, 20, "Debug", prov="import", created=0))
    assert intervals(out) == [(0, 10, "Build"), (10, 20, "Debug"), (20, 30, "Build")]


def test_older_human_span_loses_to_a_newer_human_span() -> None:
    newer = span(10, 20, "Debug", prov="correction", created=10, span_id=1)
    older = span(0, 30, "Build", prov="import", created=1)
    out = apply_span([newer], older)  # an old CSV imported after the correction
    assert intervals(out) == [(0, 10, "Build"), (10, 20, "Debug"), (20, 30, "Build")]


def test_equal_created_at_the_added_span_wins() -> None:
    out = apply_span([span(0, 30, "Build", created=0, span_id=1)], span(0, 30, "Meet", created=0))
    assert intervals(out) == [(0, 30, "Meet")]


def test_adjacent_spans_do_not_interact() -> None:
    a = span(0, 10, "Build", span_id=1)
    out = apply_span([a], span(10, 20, "Meet", created=1))
    assert intervals(out) == [(0, 10, "Build"), (10, 20, "Meet")]
    assert out[0] is a


def test_label_for_bucket_needs_one_span_covering_everything() -> None:
    spans = [span(0, 10, "Build"), span(10, 20, "Meet")]
    assert label_for_bucket(spans, t(0), t(1)).label == "Build"  # type: ignore[union-attr]
    assert label_for_bucket(spans, t(9), t(10)).label == "Build"  # type: ignore[union-attr]
    assert label_for_bucket(spans, t(10), t(11)).label == "Meet"  # type: ignore[union-attr]
    # covered by two spans together, but by no single one: not labelled
    assert label_for_bucket(spans, t(9.5), t(10.5)) is None
    assert not bucket_is_labelled(spans, t(19.5), t(20.5))
    assert bucket_is_labelled(spans, t(19), t(20))


def test_span_index_agrees_with_label_for_bucket() -> None:
    spans = [span(0, 10, "Build"), span(10, 20, "Meet"), span(30, 31, "Write")]
    idx = SpanIndex(spans)
    for start in range(-2, 40):
        for length in (0.5, 1, 2):
            a, b = t(start / 2), t(start / 2 + length)
            assert idx.label_for(a, b) == label_for_bucket(spans, a, b)


def test_validate_refuses_bad_spans() -> None:
    good = span(0, 1)
    assert good.validate() is good
    with pytest.raises(ArtifactError, match="end_ts"):
        span(1, 1).validate()
    with pytest.raises(ArtifactError, match="label"):
        span(0, 1, "Coding").validate()
    with pytest.raises(ArtifactError, match="label"):
        span(0, 1, "Mixed/Unknown").validate()
    with pytest.raises(ArtifactError, match="provenance"):
        span(0, 1, prov="guess").validate()
    with pytest.raises(ArtifactError, match="start_ts.*timezone"):
        LabelSpan(datetime(2026, 1, 1), t(1), "Build", "u", "manual", None, t(0)).validate()
    with pytest.raises(ArtifactError, match="confidence"):
        LabelSpan(t(0), t(1), "Build", "u", "manual", 1.5, t(0)).validate()
    with pytest.raises(ArtifactError, match="confidence"):
        LabelSpan(t(0), t(1), "Build", "u", "manual", float("nan"), t(0)).validate()
    with pytest.raises(ArtifactError, match="user_id"):
        LabelSpan(t(0), t(1), "Build", " ", "manual", None, t(0)).validate()


def test_normalized_converts_to_utc() -> None:
    tz = timezone(timedelta(hours=2))
    s = LabelSpan(t(0).astimezone(tz), t(1).astimezone(tz), "Build", "u", "manual", None,
                  t(0).astimezone(tz)).normalized()
    assert s.start_ts.utcoffset() == timedelta(0) and s.start_ts == t(0)


# --- property: after any sequence of adds the invariants hold --------------------------------

ADD = st.tuples(
    st.integers(0, 40),  # start minute
    st.integers(1, 25),  # length
    st.sampled_from(CORE_LABELS),
    st.sampled_from(sorted(HUMAN_PROVENANCES | MACHINE_PROVENANCES)),
    st.integers(0, 20),  # created_at offset (ties and reorderings included)
    st.sampled_from(["u1", "u2"]),
)


def _covered_by(spans: list[LabelSpan], user: str, minute: float) -> LabelSpan | None:
    hits = [s for s in spans if s.user_id == user and s.start_ts <= t(minute) < s.end_ts]
    assert len(hits) <= 1
    return hits[0] if hits else None


@given(st.lists(ADD, min_size=1, max_size=25))
def test_property_spans_never_overlap_and_the_winner_keeps_its_interval(adds: list) -> None:
    spans: list[LabelSpan] = []
    added: list[LabelSpan] = []
    for a, n, label, prov, created, user in adds:
        new = span(a, a + n, label, prov, created, user)
        spans = apply_span(spans, new)
        added.append(new)
        assert check_disjoint(spans) == []
        for s in spans:
            assert s.end_ts > s.start_ts
    # Every half-minute point covered by any added span is still covered, and by the span that
    # wins by priority (human over machine, then newest created_at, then the latest added).
    for user in ("u1", "u2"):
        for half in range(0, 140):
            m = half / 2
            candidates = [(i, s) for i, s in enumerate(added)
                          if s.user_id == user and s.start_ts <= t(m) < s.end_ts]
            got = _covered_by(spans, user, m)
            if not candidates:
                assert got is None
                continue
            _, best = max(candidates, key=lambda c: (c[1].is_human, c[1].created_at, c[0]))
            assert got is not None
            assert (got.label, got.provenance, got.created_at) == (
                best.label, best.provenance, best.created_at)


@given(st.lists(ADD, min_size=1, max_size=15))
def test_property_newest_human_span_is_fully_kept(adds: list) -> None:
    spans: list[LabelSpan] = []
    for i, (a, n, label, prov, _created, user) in enumerate(adds):
        # created_at increases with every add: the classic "newest wins" timeline
        spans = apply_span(spans, span(a, a + n, label, prov, i, user))
    humans = [(i, x) for i, x in enumerate(adds) if x[3] in HUMAN_PROVENANCES]
    if not humans:
        return
    i, (a, n, label, prov, _c, user) = humans[-1]
    cover = label_for_bucket([s for s in spans if s.user_id == user], t(a), t(a + n))
    assert cover is not None
    assert (cover.start_ts, cover.end_ts, cover.label, cover.created_at) == (t(a), t(a + n), label, t(1000 + i))
