"""``Store.labelled_buckets``: the labelled history read from keys only (the agent's learning
progress after each label), equal to what decoding every record would give."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from store_helpers import T0, at, record, span

from engine.labels import HUMAN_PROVENANCES
from engine.spans import SpanIndex
from engine.store import Store


def test_covered_buckets_with_offsets_and_labels(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.sqlite3") as s:
        s.put_records([record(m) for m in range(6)])
        s.put_record(dataclasses.replace(record(7), utc_offset_minutes=-480))
        s.add_label_span(span(1, 3, "Build"))  # buckets 1, 2
        s.add_label_span(span(3.5, 8, "Meet"))  # 4, 5, 7 (3 only half, 6 not recorded)
        s.add_label_span(span(0, 1, "Write", prov="rule"))  # a machine label: not counted
        t = int(T0.timestamp())
        assert s.labelled_buckets("u1", HUMAN_PROVENANCES) == [
            (t + 60, 60, "Build"), (t + 120, 60, "Build"), (t + 240, 60, "Meet"),
            (t + 300, 60, "Meet"), (t + 420, -480, "Meet")]
        assert [b for b, _, _ in s.labelled_buckets("u1", HUMAN_PROVENANCES, start=at(4), end=at(5))] == [
            t + 240, t + 300, t + 420]  # every bucket of the spans overlapping the range
        assert s.labelled_buckets("u2", HUMAN_PROVENANCES) == []


@given(spans=st.lists(st.tuples(st.integers(0, 60), st.integers(1, 20), st.sampled_from(["manual", "rule"])),
                      max_size=5),
       minutes=st.sets(st.integers(0, 80), max_size=30))
def test_equals_decoding_every_record(tmp_path_factory: pytest.TempPathFactory,
                                      spans: list[tuple[int, int, str]], minutes: set[int]) -> None:
    with Store.open(tmp_path_factory.mktemp("lb") / "s.sqlite3") as s:
        s.put_records([record(m) for m in sorted(minutes)])
        for a, n, prov in spans:
            s.add_label_span(span(a + 0.5 * (a % 3 == 0), a + n, "Debug", prov=prov))
        index = SpanIndex([x for x in s.label_spans() if x.provenance in HUMAN_PROVENANCES])
        expected = [(int(r.bucket_start.timestamp()), r.utc_offset_minutes, hit.label)
                    for r in s.records() if (hit := index.label_for(r.bucket_start, r.bucket_end))]
        assert s.labelled_buckets("u1", HUMAN_PROVENANCES) == expected
