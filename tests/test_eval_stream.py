"""The evaluation replay in bounded chunks gives the figures of the in-memory evaluation.

The expected report (tests/fixtures/eval-golden/expected.json) was written by the evaluation as
it was before it streamed (the whole test part replayed at once), on a fixed dataset: the
starter bundle over 3 synthetic users x 6 working days (seed 5). Counts must match exactly;
float figures to 1e-12 (chunked sums add in another order).
"""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.frame import Frame
from engine.replay import Replay

pytestmark = pytest.mark.slow

GOLDEN = json.loads((Path(__file__).parent / "fixtures" / "eval-golden" / "expected.json").read_text())
EXPECTED = GOLDEN["evaluation"]
HOLDOUT = ["user-03"]
THRESHOLD, PER_USER = 0.55, {"user-02": 0.4}


def _test_days(days: dict[str, list[date]]) -> dict[str, set[int]]:
    """The last 3 local days of user-01 and user-02, every day of the held-out user-03."""
    return {u: {d.toordinal() for d in (ds if u in HOLDOUT else ds[-3:])} for u, ds in days.items()}


def _store(tmp: Path, *, feature_rows: bool) -> Path:
    from engine.store import Store
    from trainer.synth import SynthConfig
    from trainer.synth_store import write_synthetic

    path = tmp / ("rows.sqlite3" if feature_rows else "records.sqlite3")
    with Store.open(path) as s:
        write_synthetic(s, SynthConfig(users=3, days=6, seed=5, start=date(2025, 3, 3)), feature_rows=feature_rows)
    return path


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("eval-stream")
    return {"stored rows": _store(tmp, feature_rows=True), "rebuilt rows": _store(tmp, feature_rows=False)}


@pytest.fixture(scope="module")
def bundle() -> Any:
    from engine.bundle import load_bundle
    from engine.starter import bundle_dir

    return load_bundle(bundle_dir())


@pytest.fixture(scope="module")
def loaded(stores: dict[str, Path]) -> tuple[Frame, dict[str, set[int]]]:
    from engine.store import Store
    from trainer.dataset import load_frame

    with Store.open(stores["stored rows"], readonly=True) as s:
        frame, _ = load_frame([s])
        days = {u: s.days(u) for u in s.users()}
    assert {u: [d.isoformat() for d in ds] for u, ds in days.items()} == GOLDEN["days"]
    return frame, _test_days(days)


def _tally() -> Any:
    from trainer.evaluate import EvalTally

    return EvalTally.for_store(None, eligibility={}, holdout_users=HOLDOUT)


def _make_engine(bundle: Any) -> Any:
    from trainer.workflow import engine_factory

    return engine_factory(bundle, None, THRESHOLD, PER_USER, 3)


def _same(got: Any, want: Any, where: str = "") -> None:
    """Equal figures: counts, labels and gate states exactly, floats to 1e-12 (a gain of zero
    may print as -0.0 % or +0.0 %)."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), where
        for k in want:
            _same(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _same(g, w, f"{where}[{i}]")
    elif isinstance(want, float) and not isinstance(got, bool):
        assert isinstance(got, float | int), where
        assert got == pytest.approx(want, rel=1e-12, abs=1e-12) or (math.isnan(got) and math.isnan(want)), where
    elif isinstance(want, str):
        assert isinstance(got, str) and got.replace("-0.0%", "+0.0%") == want.replace("-0.0%", "+0.0%"), where
    else:
        assert got == want and type(got) is type(want), where


def test_the_expected_report_holds_the_figures_it_claims() -> None:
    """Headline figures of the pre-streaming run, written out so a change to the file shows."""
    assert EXPECTED["test_buckets"] == 4821
    assert EXPECTED["test_labelled_buckets"] == 3570
    assert EXPECTED["scores_smoothed"]["macro_f1"] == pytest.approx(0.7553110629436537, rel=1e-12)
    assert EXPECTED["reject_rate"] == pytest.approx(0.0383737813731591, rel=1e-12)
    assert EXPECTED["flap_rate_smoothed"] == pytest.approx(0.09043766853349927, rel=1e-12)
    assert EXPECTED["calibration"]["raw"]["brier"] == pytest.approx(0.43047316955182985, rel=1e-12)
    assert EXPECTED["failed_gates"] == ["reject_rate", "calibration"]


@pytest.mark.parametrize("chunk_rows", [97, 2048])
def test_streaming_a_frame_in_chunks_gives_the_in_memory_report(loaded: Any, bundle: Any, chunk_rows: int) -> None:
    from trainer.eval_stream import frame_test_chunks, replay_evaluate

    frame, days = loaded
    chunks = list(frame_test_chunks(frame, days, chunk_rows=chunk_rows))
    assert max(len(c) for c in chunks) <= chunk_rows
    assert all(len(set(c.user_ids)) == 1 for c in chunks)
    _same(replay_evaluate(iter(chunks), _make_engine(bundle), _tally()).result(), EXPECTED)


@pytest.mark.parametrize("source", ["stored rows", "rebuilt rows"])
def test_streaming_from_the_store_a_day_at_a_time_gives_the_in_memory_report(
        stores: dict[str, Path], loaded: Any, bundle: Any, source: str) -> None:
    from engine.store import Store
    from trainer.eval_stream import replay_evaluate, store_test_chunks

    _, days = loaded
    read: list[int] = []
    with Store.open(stores[source], readonly=True) as s:
        chunks = store_test_chunks([s], days, chunk_rows=97, on_chunk=read.append)
        got = replay_evaluate(chunks, _make_engine(bundle), _tally()).result()
    _same(got, EXPECTED)
    # read a day at a time: no read holds more than one day's buckets (a day is at most 1,440)
    assert len(read) >= 18 and max(read) <= 1440


def _slice(rep: Replay, a: int, b: int) -> Replay:
    return Replay(rep.raw[a:b], rep.probs[a:b], rep.core[a:b], rep.rejected[a:b], rep.accepted[a:b],
                  rep.smoothed[a:b], rep.calibrator[a:b], [])


@pytest.fixture(scope="module")
def replayed(loaded: Any, bundle: Any) -> tuple[Frame, Replay]:
    from engine.replay import replay

    frame, days = loaded
    test = frame.take(np.flatnonzero(frame.day_mask(days)))
    return test, replay(test, _make_engine(bundle))


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(min_value=1, max_value=4820), max_size=40, unique=True))
def test_the_tally_does_not_depend_on_where_the_chunks_are_cut(replayed: tuple[Frame, Replay],
                                                              cuts: list[int]) -> None:
    """Counts, confusion matrices, flaps across a cut, calibration sums: any chunking is one pass."""
    from trainer.evaluate import evaluate

    test, rep = replayed
    assert len(test) == EXPECTED["test_buckets"]
    tally = _tally()
    edges = [0, *sorted(cuts), len(test)]
    for a, b in zip(edges, edges[1:], strict=False):
        tally.add(test.take(np.arange(a, b)), _slice(rep, a, b))
    whole = evaluate(test, rep, global_calibrator=tally.global_calibrator, user_calibrators={},
                     eligibility={}, holdout_users=HOLDOUT)
    _same(tally.result(), EXPECTED)
    _same(whole, EXPECTED)


def test_evaluation_without_a_split_or_labelled_test_days_says_so(bundle: Any, loaded: Any) -> None:
    from types import SimpleNamespace

    from engine.errors import TaskclfError
    from trainer.splits import Split
    from trainer.workflow import evaluate_bundle

    frame, _ = loaded
    no_split = SimpleNamespace(run_id="r1", split=None, path=bundle.path)
    with pytest.raises(TaskclfError, match="r1 records no split: it has no test days"):
        evaluate_bundle(frame, no_split, None, threshold=0.5, per_user=None)
    other_days = Split(days={"user-01": {"test": [date(2030, 1, 2)]}}).to_json()
    elsewhere = SimpleNamespace(run_id="r2", split=other_days, path=bundle.path)
    with pytest.raises(TaskclfError, match="r2: no labelled buckets on its test days"):
        evaluate_bundle(frame, elsewhere, None, threshold=0.5, per_user=None)
