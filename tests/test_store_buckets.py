"""A closed bucket's record, feature row and prediction are written in one transaction, and
the store can say which stored buckets still lack a prediction."""

from __future__ import annotations

from pathlib import Path

import pytest
from store_helpers import at, prediction, record

from engine.features import FeatureBuilder
from engine.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "s.sqlite3")


def test_put_bucket_writes_all_three_or_nothing(store: Store) -> None:
    b = FeatureBuilder(validate=False, clock=lambda: float("inf"))
    rec = record(0)
    row = b.push(rec)
    assert row is not None
    assert store.put_bucket(rec, row, prediction(0)) is True
    assert store.put_bucket(rec, row, prediction(0, label="Debug")) is False  # already stored
    assert [p.core_label for p in store.predictions()] == ["Build"]
    assert len(list(store.feature_rows())) == 1
    rec1 = record(1)
    row1 = b.push(rec1)
    assert row1 is not None
    bad = prediction(1)
    object.__setattr__(bad, "bucket_start", "not a time")
    with pytest.raises(Exception, match="not an ISO timestamp"):
        store.put_bucket(rec1, row1, bad)
    assert store.count_records() == 1  # the record was not written either


def test_unpredicted_buckets_lists_records_without_prediction(store: Store) -> None:
    store.put_records([record(m) for m in range(4)])
    store.put_prediction("d1", prediction(1))
    assert store.unpredicted_buckets("d1") == [at(0), at(2), at(3)]
    assert store.unpredicted_buckets("d1", since=at(2)) == [at(2), at(3)]
    assert store.unpredicted_buckets("other") == []
    b = FeatureBuilder(validate=False, clock=lambda: float("inf"))
    row = None
    for m in range(3):
        row = b.push(record(m))
    assert row is not None
    store.put_prediction_and_row("d1", row, prediction(2))
    assert store.unpredicted_buckets("d1") == [at(0), at(3)]
