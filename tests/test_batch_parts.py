"""A part of an ``infer batch`` run predicts its buckets exactly as the whole run: when the
session of its first bucket may have begun before the rows it read, it reads again from
further back (a tie of the smoothing vote follows the previous smoothed label, so the start
of a session can matter to its last bucket)."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from features_helpers import CLOCK, CODE, SLACK, T0, active  # noqa: E402

from engine.features import FeatureBuilder  # noqa: E402
from engine.pipeline import Engine  # noqa: E402
from engine.store import Store  # noqa: E402
from trainer.infer_batch import WARM_UP_MARGIN, Part, batch_predictions, run_window  # noqa: E402
from trainer.infer_parts import MAX_DEFAULT_JOBS, default_jobs, plan_parts  # noqa: E402

FIRST = T0.date()
LAST = FIRST + timedelta(days=2)


def _engine() -> Engine:
    return Engine.rules(smooth_window=2)  # two votes: every disagreement is a tie


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    # one session of three days: a minute of the editor, a minute of chat, and so on (it
    # starts with the editor, the parts read from a minute of chat)
    records = [active(m, CODE if m % 2 else SLACK) for m in range(1, 3 * 1440)]
    builder = FeatureBuilder(clock=CLOCK)
    rows = [r for r in map(builder.push, records) if r is not None]
    assert len({r.session_id for r in rows}) == 1
    path = tmp_path_factory.mktemp("parts") / "store.sqlite3"
    with Store.open(path) as st:
        st.put_records(records)
        st.put_feature_rows(rows)
    with Store.open(path, readonly=True) as st:
        yield st


def _bucket(rec: Any) -> str:
    return str(rec.bucket_start)


def test_parts_equal_the_whole_run_when_a_session_crosses_the_cuts(store: Store) -> None:
    whole = list(batch_predictions([store], _engine, FIRST, LAST))
    plan = plan_parts([store], FIRST, LAST, user_id=None, jobs=3, min_part_days=1)
    assert len(plan) == 3  # cut at both midnights, inside the session
    parted = [rec for _, user, part in plan
              for rec in batch_predictions([store], _engine, FIRST, LAST, user_id=user, part=part)]
    assert [_bucket(r) for r in parted] == [_bucket(r) for r in whole]
    assert parted == whole


def test_without_reading_back_the_session_start_a_part_would_differ(store: Store) -> None:
    # the same cut with the run taken to start where the part reads: what the check prevents
    whole = list(batch_predictions([store], _engine, FIRST, LAST))
    run_from, _ = run_window(FIRST, LAST)
    _, _, part = plan_parts([store], FIRST, LAST, user_id=None, jobs=3, min_part_days=1)[1]
    assert part.lo is not None and part.read_from == part.lo - WARM_UP_MARGIN > run_from
    naive = Part(part.lo, part.hi, part.read_from, part.read_from)
    got = list(batch_predictions([store], _engine, FIRST, LAST, part=naive))
    want = [r for r in whole if part.lo.isoformat() <= r.bucket_start < part.hi.isoformat()]
    assert [_bucket(r) for r in got] == [_bucket(r) for r in want]
    assert [r.smoothed_label for r in got] != [r.smoothed_label for r in want]
    checked = list(batch_predictions([store], _engine, FIRST, LAST, part=part))
    assert checked == want


def test_one_job_is_one_part_the_run_itself(store: Store) -> None:
    plan = plan_parts([store], FIRST, LAST, user_id=None, jobs=1, min_part_days=1)
    run_from, _ = run_window(FIRST, LAST)
    assert plan == [(0, "user-a", Part(None, None, run_from, run_from))]


def test_a_failed_worker_fails_the_run_with_its_reason(store: Store) -> None:
    from io import StringIO

    from engine.errors import TaskclfError
    from trainer.infer_parts import write_lines

    out = StringIO()
    with pytest.raises(TaskclfError, match=r"a part of the run failed: taskclf: .*no-such-bundle"):
        write_lines(Path(store.path).parent, [store], _engine, {"model_dir": "/no-such-bundle"}, FIRST, LAST,
                    out, user_id=None, jobs=2, min_part_days=1)


@pytest.mark.parametrize(("cores", "want"), [({0}, 1), ({0, 1, 2}, 3), (set(range(32)), MAX_DEFAULT_JOBS)])
def test_the_default_jobs_are_the_cores_the_process_may_use_at_most_a_bound(
        monkeypatch: pytest.MonkeyPatch, cores: set[int], want: int) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: cores, raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 64)
    assert default_jobs() == want


def test_without_an_affinity_the_default_jobs_are_the_machines_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr("os.sched_getaffinity", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 3)
    assert default_jobs() == 3
    monkeypatch.setattr("os.cpu_count", lambda: None)
    assert default_jobs() == 1
