"""``infer batch`` streams: its records are those of one engine run over the whole history
(computed here independently, bucket by bucket), whether the store holds feature rows or they
are rebuilt from records, and the rows it holds at once do not grow with the number of days."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.bundle import load_bundle
from engine.features import FeatureBuilder
from engine.pipeline import Engine
from engine.starter import bundle_dir
from engine.store import Store
from trainer.synth import SynthConfig
from trainer.synth_store import write_synthetic

START = date(2026, 3, 2)  # a Monday: four working days, Mon..Thu


@pytest.fixture(scope="module", params=["stored rows", "records only"])
def home(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    h = tmp_path_factory.mktemp("batch")
    with Store.open(h / "store.sqlite3") as st:
        write_synthetic(st, SynthConfig(users=2, days=4, seed=3, start=START),
                        feature_rows=request.param == "stored rows")
    return h


def _starter_engine() -> Engine:
    return Engine.from_artifacts(load_bundle(bundle_dir()), None, smooth_window=3)


def _whole_history(home: Path, first: date, last: date) -> list[dict[str, Any]]:
    """Every user's records through one builder and one engine from the first bucket on; the
    records of local days [first, last] kept."""
    out = []
    with Store.open(home / "store.sqlite3", readonly=True) as st:
        for user in st.users():
            builder, engine = FeatureBuilder(), _starter_engine()
            for rec in st.records(user_id=user):
                row = builder.push(rec)
                assert row is not None
                day = (rec.bucket_start + timedelta(minutes=rec.utc_offset_minutes)).date()
                pred = engine.step(row.model_features(), user_id=user, bucket_start=rec.bucket_start,
                                   session_id=row.session_id, local_day=day)
                if first <= day <= last:
                    out.append(pred.to_json())
    return out


def test_infer_batch_equals_one_run_over_the_whole_history(home: Path, tmp_path: Path) -> None:
    from engine.cli.main import main

    out = tmp_path / "preds.jsonl"
    first, last = START + timedelta(days=1), START + timedelta(days=2)
    assert main(["--home", str(home), "infer", "batch", "--from", first.isoformat(), "--to", last.isoformat(),
                 "--model-dir", str(bundle_dir()), "--output", str(out)]) == 0
    want = _whole_history(home, first, last)
    assert len(want) > 1500  # two users, two desk days each
    # byte for byte what the JSON encoder writes for each record (the output before lines
    # were assembled directly)
    encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
    assert out.read_bytes() == "".join(encode(w) + "\n" for w in want).encode("utf-8")


@pytest.mark.parametrize("days", [1, 4])
def test_rows_held_at_once_do_not_grow_with_the_days(home: Path, days: int) -> None:
    from trainer.infer_batch import batch_predictions

    chunks: list[int] = []
    with Store.open(home / "store.sqlite3", readonly=True) as st:
        n = sum(1 for _ in batch_predictions([st], _starter_engine, START, START + timedelta(days=days - 1),
                                             span=timedelta(hours=2), on_chunk=chunks.append))
    assert n > 400 * days  # every desk day came through
    assert sum(chunks) >= n  # every emitted row was read in some chunk ...
    assert max(chunks) <= 120  # ... of at most two hours of one-minute buckets, for 1 day or 4


def test_parts_on_processes_write_the_lines_of_one_run(home: Path) -> None:
    # parts of one day each (the real minimum is two weeks), on two processes; a user whose
    # rows are rebuilt from records is one part
    from io import StringIO

    from engine.schema import FEATURE_BUILDER_VERSION, SCHEMA_HASH_V2
    from trainer.dataset import open_stores
    from trainer.infer_parts import plan_parts, write_lines

    first, last = START, START + timedelta(days=3)
    engine_args = {"model_dir": str(bundle_dir())}
    stores = open_stores(home, None)
    try:
        stored = stores[0].row_coverage(stores[0].users()[0], SCHEMA_HASH_V2,
                                        FEATURE_BUILDER_VERSION).stored_rows_usable
        plan = plan_parts(stores, first, last, user_id=None, jobs=2, min_part_days=1)
        one, many = StringIO(), StringIO()
        n1 = write_lines(home, stores, _starter_engine, engine_args, first, last, one, user_id=None, jobs=1)
        n2 = write_lines(home, stores, _starter_engine, engine_args, first, last, many, user_id=None, jobs=2,
                         min_part_days=1)
    finally:
        for s in stores:
            s.close()
    assert len(plan) == (4 if stored else 2)  # two users, two parts each (one per job), or one
    assert n1 == n2 > 3000
    assert many.getvalue() == one.getvalue()
