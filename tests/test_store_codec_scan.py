"""The store's JSON text decoded by calling the C scanner directly gives exactly what
``json.loads`` gives (value, or error and its message), for the texts a store holds and for
damaged ones, with and without floats moved out of the text (codec 1 / 3)."""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from store_helpers import json_values

from engine import store_codec

_JSON = json_values(int_bits=70, max_leaves=12)
#: pieces that make a text almost JSON: cut, padded, doubled, a stray token
_DAMAGE = st.sampled_from(["", " ", "\n", "]", "[", ",", "NaN", "x", '"', "1", "[]", " [1]"])


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values, types and float bits included (NaN equals NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def _outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "value", fn()
    except (ValueError, RecursionError) as exc:
        return type(exc).__name__, str(exc)


def _reference_moved(text: str, floats: tuple[float, ...]) -> Any:
    """Codec 1's reading as it was written first: ``json.loads`` with a fresh decoder."""
    it: Iterator[float] = iter(floats)

    def take(_: str) -> float:
        got = next(it, None)
        if got is None:
            raise ValueError("fewer floats than places for them")
        return got

    out = json.loads(text, parse_constant=take)
    if next(it, None) is not None:
        raise ValueError("more floats than places for them")
    return out


def _assert_same_outcome(got: tuple[str, Any], want: tuple[str, Any]) -> None:
    assert got[0] == want[0]
    if got[0] == "value":
        assert _same(got[1], want[1])
    else:
        assert got[1] == want[1]


@given(values=st.lists(_JSON, max_size=6), before=_DAMAGE, after=_DAMAGE, cut=st.integers(0, 3))
def test_plain_text_decodes_as_json_loads_does(values: list[Any], before: str, after: str, cut: int) -> None:
    text = before + json.dumps(values, separators=(",", ":"), ensure_ascii=False) + after
    text = text[:len(text) - cut]
    _assert_same_outcome(_outcome(lambda: store_codec._loads(text)), _outcome(lambda: json.loads(text)))


@given(values=st.lists(_JSON, max_size=6), extra=st.integers(-2, 2), before=_DAMAGE, after=_DAMAGE)
def test_moved_floats_decode_as_a_fresh_decoder_does(values: list[Any], extra: int, before: str,
                                                     after: str) -> None:
    floats: list[float] = []
    skeleton = store_codec._split_floats(values, floats)
    text = before + json.dumps(skeleton, separators=(",", ":"), ensure_ascii=False) + after
    # too few or too many floats for the text's places: the same error either way
    moved = tuple(floats[:len(floats) + extra] if extra < 0 else floats + [0.5] * extra)
    _assert_same_outcome(_outcome(lambda: store_codec._loads_moved(text, moved)),
                         _outcome(lambda: _reference_moved(text, moved)))


def test_a_failed_read_leaves_nothing_behind_for_the_next() -> None:
    with pytest.raises(ValueError, match="fewer floats than places"):
        store_codec._loads_moved("[NaN,NaN]", (1.5,))
    assert store_codec._loads_moved("[NaN,2]", (0.1 + 0.2,)) == [0.30000000000000004, 2]


def test_leading_whitespace_and_trailing_data_are_json_loads_own_answers() -> None:
    assert store_codec._loads(" [1,2.5] ") == [1, 2.5]
    with pytest.raises(json.JSONDecodeError, match="Extra data"):
        store_codec._loads("[1],[2]")
