"""``engine.encode_batch``: a batch of rows encodes to exactly the rows ``encode_array``
gives one at a time, bit for bit, whatever the values (the fast path or the fallback)."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
import pytest
from engine_helpers import seed_bundle, seed_rows
from hypothesis import given
from hypothesis import strategies as st

from engine.bundle import ModelBundle, load_bundle
from engine.encode_batch import encode_matrix
from engine.starter import bundle_dir


@lru_cache(maxsize=1)
def _starter() -> ModelBundle:
    return load_bundle(bundle_dir())


def _one_at_a_time(bundle: ModelBundle, rows: list[dict[str, Any]]) -> np.ndarray:
    return np.array([list(bundle.encode_array(r)) for r in rows], dtype=np.float64).reshape(
        len(rows), len(bundle.feature_names))


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool((a.view(np.int64) == b.view(np.int64)).all())


_cat_values = st.sampled_from([None, math.nan, "x", "__unknown__", "code", "Browser", 3, True])
_num_values = st.one_of(st.floats(), st.integers(-(2**60), 2**60), st.booleans(), st.none())
_breaking = st.sampled_from(["a string", "a missing column", "a huge int"])


@given(st.sampled_from(["seed (missing as 0)", "starter (missing as NaN)"]), st.integers(1, 12),
       st.lists(st.tuples(st.integers(0, 99), st.integers(0, 99), _cat_values), max_size=6),
       st.lists(st.tuples(st.integers(0, 99), st.integers(0, 99), _num_values), max_size=12),
       st.none() | st.tuples(st.integers(0, 99), st.integers(0, 99), _breaking))
def test_a_batch_encodes_as_its_rows_one_at_a_time(
        which: str, n: int, cat_edits: list[tuple[int, int, Any]], num_edits: list[tuple[int, int, Any]],
        breaking: tuple[int, int, str] | None) -> None:
    from engine.encode_batch import _columns

    bundle = seed_bundle() if which.startswith("seed") else _starter()
    cats = [c for c in bundle.feature_names if c in bundle.encoders]
    nums = [c for c in bundle.feature_names if c not in bundle.encoders]
    base = seed_rows()
    rows = [dict(base[k % len(base)]) for k in range(n)]
    for k, c, value in cat_edits:
        rows[k % n][cats[c % len(cats)]] = value
    for k, c, value in num_edits:
        rows[k % n][nums[c % len(nums)]] = value
    if breaking is not None:
        k, c, how = breaking
        row, name = rows[k % n], nums[c % len(nums)]
        if how == "a missing column":
            del row[name]
        else:
            row[name] = "9" if how == "a string" else 2**1100
    try:
        want = _one_at_a_time(bundle, rows)
    except OverflowError:  # the row encoder refuses an int beyond float64, and so does the batch
        with pytest.raises(OverflowError, match="too large"):
            encode_matrix(bundle, rows)
        return
    assert _same_bits(encode_matrix(bundle, rows), want)
    assert (_columns(bundle, rows) is None) == (breaking is not None)  # the fast path when it can


def test_rows_of_floats_and_strings_take_the_fast_path() -> None:
    from engine.encode_batch import _columns

    bundle = _starter()
    rows = seed_rows()[:20]
    fast = _columns(bundle, rows)
    assert fast is not None  # the stored rows' common case, no fallback
    assert _same_bits(fast, _one_at_a_time(bundle, rows))
    assert _columns(bundle, [*rows[:3], {**rows[3], "hour_of_day": "9"}]) is None  # a string: fallback


def test_missing_values_reach_each_model_as_it_expects() -> None:
    # the seed bundle takes missing numerics as 0.0, the starter as NaN; an unknown category is
    # the bundle's unknown code, a missing one the missing value
    for bundle, missing in ((seed_bundle(), 0.0), (_starter(), math.nan)):
        num = next(c for c in bundle.feature_names if c not in bundle.encoders)
        cat, cat2 = [c for c in bundle.feature_names if c in bundle.encoders][:2]
        rows = [dict(r) for r in seed_rows()[:4]]
        rows[0][num], rows[1][num], rows[2][cat], rows[3][cat2] = math.nan, None, "no such app", None
        x = encode_matrix(bundle, rows)
        i, j, k = (bundle.feature_names.index(c) for c in (num, cat, cat2))
        unknown = bundle.encoders[cat].get("__unknown__", missing)
        assert _same_bits(x[[0, 1, 2, 3], [i, i, j, k]], np.array([missing, missing, unknown, missing]))
        assert _same_bits(x, _one_at_a_time(bundle, rows))
