"""Store -> labelled rows: stored rows, rebuilt rows and in-memory rows are the same rows."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np

from engine.frame import Frame, local_date_from
from engine.store import Store
from trainer.dataset import load_frame
from trainer.synth import SynthConfig, generate
from trainer.synth_store import frame_from_days, write_synthetic


def _same(a: Frame, b: Frame) -> None:
    assert len(a) == len(b) > 0
    np.testing.assert_array_equal(a.numeric, b.numeric)  # NaN in the same places
    assert a.categorical == b.categorical
    assert a.user_ids == b.user_ids and a.session_ids == b.session_ids
    np.testing.assert_array_equal(a.bucket_start, b.bucket_start)
    np.testing.assert_array_equal(a.local_day, b.local_day)
    np.testing.assert_array_equal(a.y, b.y)
    assert a.provenance == b.provenance


def test_stored_rebuilt_and_in_memory_rows_agree(tmp_path: Path) -> None:
    cfg = SynthConfig(users=2, days=2, seed=8)
    with_rows, records_only = tmp_path / "a.sqlite3", tmp_path / "b.sqlite3"
    with Store.open(with_rows) as s:
        write_synthetic(s, cfg)
    with Store.open(records_only) as s:
        write_synthetic(s, cfg, feature_rows=False)
    with Store.open(with_rows, readonly=True) as s:
        stored, st1 = load_frame([s])
    with Store.open(records_only, readonly=True) as s:
        rebuilt, st2 = load_frame([s])
    assert st1.rebuilt_users == 0 and st2.rebuilt_users == 2
    _same(stored, rebuilt)
    _same(stored, frame_from_days(list(generate(cfg))))
    assert 0 < stored.labelled_mask().mean() < 1


def test_date_range_and_user_selection(tmp_path: Path) -> None:
    cfg = SynthConfig(users=2, days=3, seed=8)
    with Store.open(tmp_path / "s.sqlite3") as s:
        write_synthetic(s, cfg, feature_rows=False)
        days = cfg.working_days()
        frame, _ = load_frame([s], start=days[1], end=days[1], users=["user-02"])
    assert set(frame.user_ids) == {"user-02"}
    assert set(frame.local_day.tolist()) == {days[1].toordinal()}


def test_local_day_from_a_stored_row_matches_the_offset() -> None:
    from datetime import UTC, datetime, timedelta

    for offset in (-720, -300, 0, 330, 840):
        for hour in range(24):
            t = datetime(2026, 3, 2, hour, 15, tzinfo=UTC)
            local = t + timedelta(minutes=offset)
            assert local_date_from(t, local.weekday(), None) == local.date()
            assert local_date_from(t, None, offset) == local.date()
    assert local_date_from(datetime(2026, 3, 2, tzinfo=UTC), None, None) == date(2026, 3, 2)
