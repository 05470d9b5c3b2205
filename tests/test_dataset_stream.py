"""The trainer's dataset reading builds its float32 frame chunk by chunk: the frame holds the
rows one builder pass over each user's records gives (computed here independently, bucket by
bucket), labelled by the spans covering each bucket, for stored and rebuilt rows alike; the
rows materialised at once do not grow with the number of days."""

from __future__ import annotations

import math
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from engine.features import FeatureBuilder
from engine.frame_loader import load_frame
from engine.labels import LABEL_ORDER
from engine.schema import CATEGORICAL_COLUMNS, NUMERIC_MODEL_COLUMNS
from engine.store import Store
from trainer.synth import SynthConfig
from trainer.synth_store import write_synthetic

START = date(2026, 3, 2)


def _history(root: Path, days: int, feature_rows: bool) -> Path:
    path = root / f"{days}-{feature_rows}" / "store.sqlite3"
    if not path.exists():
        with Store.open(path) as st:
            write_synthetic(st, SynthConfig(users=2, days=days, seed=5, start=START), feature_rows=feature_rows)
    return path


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("histories")


def _num(v: object) -> float:
    if v is None:
        return math.nan
    return float(v)  # type: ignore[arg-type]


@pytest.mark.parametrize("feature_rows", [True, False], ids=["stored rows", "records only"])
def test_frame_holds_one_builder_pass_over_each_users_records(root: Path, feature_rows: bool) -> None:
    path = _history(root, 3, feature_rows)
    with Store.open(path, readonly=True) as st:
        frame, stats = load_frame([st], span=timedelta(hours=5))
        users = st.users()
        want_rows, want_y, want_cats, want_sessions, want_days = [], [], [], [], []
        for user in users:
            spans = st.label_spans(user_id=user)
            builder = FeatureBuilder()
            for rec in st.records(user_id=user):
                row = builder.push(rec)
                assert row is not None
                f = row.features
                want_rows.append([_num(f[c]) for c in NUMERIC_MODEL_COLUMNS])
                want_cats.append(tuple(f[c] for c in CATEGORICAL_COLUMNS))
                want_sessions.append(row.session_id)
                want_days.append((rec.bucket_start + timedelta(minutes=rec.utc_offset_minutes)).toordinal())
                t0, t1 = rec.bucket_start, rec.bucket_start + timedelta(seconds=60)
                cover = [s for s in spans if s.start_ts <= t0 and t1 <= s.end_ts and s.label in LABEL_ORDER]
                want_y.append(LABEL_ORDER.index(cover[0].label) if cover else -1)
    assert stats.rebuilt_users == (0 if feature_rows else 2)
    assert frame.numeric.dtype == np.float32
    assert len(frame) == len(want_rows) > 2000
    assert np.array_equal(frame.numeric, np.asarray(want_rows, dtype=np.float32), equal_nan=True)
    assert frame.y.tolist() == want_y
    assert 0 < sum(1 for v in want_y if v >= 0) < len(want_y)
    assert list(zip(*(frame.categorical[c] for c in CATEGORICAL_COLUMNS), strict=True)) == want_cats
    assert frame.session_ids == want_sessions
    assert frame.local_day.tolist() == want_days


@pytest.mark.parametrize("days", [1, 4])
def test_rows_materialised_at_once_do_not_grow_with_the_days(root: Path, days: int) -> None:
    chunks: list[int] = []
    with Store.open(_history(root, days, True), readonly=True) as st:
        frame, _ = load_frame([st], span=timedelta(hours=2), on_chunk=chunks.append)
    assert len(frame) > 400 * 2 * days  # every desk day of both users
    assert sum(chunks) == len(frame)
    assert max(chunks) <= 120  # two hours of one-minute buckets, for 1 day or 4
