"""Exported datasets are read one user-month file at a time into one frame: the rows, labels and
order are those of every file's rows put together and sorted by (user, time)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.frame import Frame
from tests.conftest import in_ci

try:
    import pyarrow  # noqa: F401
except ImportError:  # the [team] extra: CI installs it, so there a missing pyarrow fails
    if in_ci():
        raise
    pytest.skip("pyarrow is not installed (pip install -e '.[team]')", allow_module_level=True)


def _sorted_concat(frames: list[Frame]) -> Frame:
    whole = Frame.concat(frames)
    return whole.take(np.lexsort((whole.bucket_start, np.asarray(whole.user_ids, dtype=object))))


def test_datasets_load_file_by_file_into_the_sorted_union_of_their_rows(exported: Path) -> None:
    from trainer.dataset_read import list_dataset_files, load_datasets, read_dataset_file

    files = list_dataset_files([exported])
    assert len({f.entry["path"].split("/")[0] for f in files}) == 4
    want = _sorted_concat([read_dataset_file(f) for f in reversed(files)])
    got = load_datasets([exported])
    assert len(got) == len(want) == sum(f.entry["rows"] for f in files) > 0
    assert got.numeric.dtype == np.float32 and np.array_equal(got.numeric, want.numeric, equal_nan=True)
    assert got.categorical == want.categorical and got.user_ids == want.user_ids
    assert got.provenance == want.provenance and got.session_ids == want.session_ids
    assert np.array_equal(got.bucket_start, want.bucket_start) and np.array_equal(got.local_day, want.local_day)
    assert np.array_equal(got.y, want.y) and (got.y >= 0).any()


def test_a_manifest_row_count_only_sizes_the_block() -> None:
    from trainer.dataset_read import MAX_MONTH_ROWS, _rows_hint

    assert _rows_hint(480) == 480
    assert _rows_hint(10**12) == MAX_MONTH_ROWS == 44_640
    assert _rows_hint("many") == _rows_hint(-3) == _rows_hint(None) == 0
