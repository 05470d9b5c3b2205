"""The demo's replay, ``infer batch`` and the agent's restart share one warm-up rule: a session
running at midnight is predicted the same way by each (it used to restart at midnight in the
demo's replay)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from features_helpers import CODE, FIREFOX, SLACK, active

from engine.pipeline import Engine
from engine.store import Store

DAY = date(2026, 3, 3)
START = datetime(2026, 3, 2, 22, 30, tzinfo=UTC)


def _store(tmp_path: Path) -> Store:
    st = Store.open(tmp_path / "store.sqlite3")
    apps = [CODE, CODE, FIREFOX, SLACK, CODE]
    st.put_records([active(m, apps[m % 5], start=START) for m in range(150)])  # 22:30 -> 01:00
    return st


def test_demo_replay_equals_batch_for_a_session_running_at_midnight(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trainer.demo import replay_day
    from trainer.infer_batch import batch_predictions

    monkeypatch.setattr(Engine, "from_loaded_policy", classmethod(lambda cls, loaded, tax: Engine.rules(tax)))
    store = _store(tmp_path)
    try:
        online, offset = replay_day(tmp_path, store, None, "user-a", DAY)
        batch = list(batch_predictions([store], Engine.rules, DAY, DAY))
    finally:
        store.close()
    assert offset == 0
    assert len(online) == 60  # 00:00 -> 00:59
    assert [p.to_json() for p in online] == [p.to_json() for p in batch]
    # one session since 22:30: the midnight bucket continues it
    assert len({p.session_id for p in online}) == 1
    first: Any = online[0]
    assert first.bucket_start == "2026-03-03T00:00:00+00:00"
