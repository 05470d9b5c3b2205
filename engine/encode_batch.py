"""Many feature rows encoded at once: the matrix of ``ModelBundle.encode_array`` of each row.

The single-row encoder walks a row's 38 values in Python (~10 us a row). A batch is encoded a
column at a time instead: the rows' values are taken with one ``itemgetter`` call per row, the
columns transposed in C, a categorical column mapped with one dictionary lookup per value and
a numeric column handed to numpy whole. That is exact when every numeric value is a float, an
int or a bool (numpy converts each through ``__float__``, as ``array('d')`` does) or None (the
missing value); any other value (a string, a numpy scalar, a row without a column) sends the
whole batch through ``encode_array`` row by row, so the two never differ
(tests/test_encode_batch.py compares them on generated rows).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

_NUMBERS = frozenset({float, int, bool})
_NUMBERS_OR_NONE = frozenset({float, int, bool, type(None)})
_STR_ONLY = frozenset({str})


def encode_matrix(bundle: Any, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """(len(rows), features) float64: row ``k`` is ``bundle.encode_array(rows[k])``."""
    n, width = len(rows), bundle._n_features
    fast = _columns(bundle, rows) if n else None
    if fast is None:
        x = np.empty((n, width), dtype=np.float64)
        for k, r in enumerate(rows):
            x[k] = bundle.encode_array(r)
        return x
    return fast


def _columns(bundle: Any, rows: Sequence[Mapping[str, Any]]) -> np.ndarray | None:
    """The matrix, or None when a value is outside the fast path's exact cases."""
    if bundle._n_features < 2:  # itemgetter of one name gives the value, not a tuple
        return None
    try:
        cols = list(zip(*map(bundle._getter, rows), strict=True))
    except (KeyError, TypeError):
        return None
    miss = bundle._missing
    x = np.empty((len(rows), bundle._n_features), dtype=np.float64)
    cats = set()
    for i, enc, unseen in bundle._cat_plan:
        cats.add(i)
        col = cols[i]
        if set(map(type, col)) <= _STR_ONLY:
            x[:, i] = [enc.get(v, unseen) for v in col]
        else:
            x[:, i] = [enc.get(v, unseen) if type(v) is str
                       else miss if v is None or (type(v) is float and v != v) else unseen
                       for v in col]
    for i, col in enumerate(cols):
        if i in cats:
            continue
        types = set(map(type, col))
        try:
            if types <= _NUMBERS:
                x[:, i] = col
            elif types <= _NUMBERS_OR_NONE:
                x[:, i] = [miss if v is None else v for v in col]
            else:
                return None
        except OverflowError:  # an int beyond float64: the row encoder says so its own way
            return None
    for i in bundle._masked_pos:
        x[:, i] = miss
    if bundle._zero_missing:
        x[np.isnan(x)] = miss  # missing numerics reach the model as 0.0
    return x
