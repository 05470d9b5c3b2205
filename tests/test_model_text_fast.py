"""The model.txt gate's vectorised fast path accepts only what the reference checks accept.

``check_model_text`` runs ``engine.model_text_fast`` on a canonical LightGBM layout and falls
back to the reference checks (``fast=False``) for anything it declines; so on every input the
verdict and the one-line reason must be the reference's, and the fast path must take the real
models (else it saves nothing).
"""

from __future__ import annotations

import math

import pytest
from engine_helpers import SEED_BUNDLE
from hypothesis import given
from hypothesis import strategies as st
from model_mutations import mutations, with_consistent_tree_sizes

from engine.errors import ArtifactError
from engine.model_text import (
    _FLOAT_LIST,
    _INT_LIST,
    check_header,
    check_model_text,
    fast_path_accepts,
)
from engine.model_text_fast import _ints, number_counts

SEED_TEXT = (SEED_BUNDLE / "model.txt").read_text()


def _first_trees(text: str, n: int) -> str:
    """The seed model cut to its first ``n`` trees (a smaller valid model: fast to check)."""
    start = text.index("\nTree=0\n") + 1
    cut = text.index(f"\nTree={n}\n", start) + 1
    end = text.index("\nend of trees", start) + 1
    return with_consistent_tree_sizes(text[:cut] + text[end:])


SMALL_TEXT = _first_trees(SEED_TEXT, 24)  # three iterations of 8 classes, categorical splits too


def _verdict(text: str, *, fast: bool) -> str:
    try:
        check_model_text(text, fast=fast)
    except ArtifactError as exc:
        return str(exc)
    return "accepted"


def _fast_accepts(text: str) -> bool:
    """The fast path's own answer on the trees (False when the header is refused first)."""
    try:
        header = check_header(text)
    except ArtifactError:
        return False
    return fast_path_accepts(text, header)


def test_the_fast_path_takes_the_real_models() -> None:
    assert "num_cat=1" in SMALL_TEXT
    assert _fast_accepts(SEED_TEXT)
    assert _fast_accepts(SMALL_TEXT)


def test_mutations_get_the_reference_verdict_and_reason() -> None:
    verdicts = {"accepted": 0, "refused": 0}
    for desc, text in mutations(SMALL_TEXT, 200, seed=3):
        fast, reference = _verdict(text, fast=True), _verdict(text, fast=False)
        assert fast == reference, desc
        if _fast_accepts(text):
            assert reference == "accepted", desc
        verdicts["accepted" if reference == "accepted" else "refused"] += 1
    assert verdicts["refused"] > 130  # the mutations do reach the checks


def _renumbered(text: str) -> str:
    """Tree 0 with its internal node 1 and that node's child 5 swapped: the same tree, a valid
    but unusual numbering (a child before its parent) that the fast path leaves to the
    reference."""
    lines = text.split("\n")
    i = lines.index("Tree=0")
    fields = {line.split("=", 1)[0]: j for j, line in enumerate(lines[i:i + 20], start=i)}

    assert lines[fields["left_child"]].split("=")[1].split(" ")[1] == "5"

    def swap(values: list[str]) -> list[str]:
        values[1], values[5] = values[5], values[1]
        return values

    def relabel(v: str) -> str:
        return {"1": "5", "5": "1"}.get(v, v)

    for key in ("split_feature", "split_gain", "threshold", "decision_type", "internal_value",
                "internal_weight", "internal_count", "left_child", "right_child"):
        j = fields[key]
        values = swap(lines[j].split("=", 1)[1].split(" "))
        if key.endswith("_child"):
            values = [relabel(v) for v in values]
        lines[j] = f"{key}={' '.join(values)}"
    return "\n".join(lines)


def test_a_valid_model_the_fast_path_declines_is_still_accepted() -> None:
    text = _renumbered(SMALL_TEXT)
    assert text != SMALL_TEXT
    assert not _fast_accepts(text)
    assert _verdict(text, fast=True) == "accepted"


def test_a_cycle_is_refused_with_the_reference_reason() -> None:
    lines = SMALL_TEXT.split("\n")
    j = next(k for k, line in enumerate(lines) if line.startswith("left_child="))
    values = lines[j].split("=", 1)[1].split(" ")
    values[1] = "0"  # node 1's left child is the root
    lines[j] = "left_child=" + " ".join(values)
    text = with_consistent_tree_sizes("\n".join(lines))
    with pytest.raises(ArtifactError, match=r"Tree=0\.left_child: the tree contains a cycle"):
        check_model_text(text)


_TOKENS = st.text(alphabet="0123456789.-+eEinf", min_size=1, max_size=7)
_LISTS = st.lists(_TOKENS, min_size=1, max_size=4).map(" ".join) | st.text(
    alphabet="0123456789.-+eE in\tf", min_size=0, max_size=12
)


@given(st.lists(_LISTS, min_size=1, max_size=4))
def test_number_formats_are_the_reference_regexes(values: list[str]) -> None:
    for integers, pattern in ((False, _FLOAT_LIST), (True, _INT_LIST)):
        counts = number_counts(values, integers=integers)
        expected = all(v and pattern.fullmatch(v) for v in values)
        assert (counts is not None) == expected, (integers, values)
        if counts is not None:
            assert counts.tolist() == [len(v.split(" ")) for v in values]


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=6))
def test_floats_as_python_writes_them_pass(values: list[float]) -> None:
    texts = [repr(v).replace("e+", "e") for v in values]
    counts = number_counts([" ".join(texts)])
    assert counts is not None and counts.tolist() == [len(values)]


@given(st.text(alphabet="0123456789", min_size=1, max_size=45), st.integers(0, 99))
def test_short_leaf_values_are_finite(mantissa: str, exponent: int) -> None:
    token = f"{mantissa}e{exponent}"
    counts = number_counts([token], max_exp=2, max_token=40)
    assert (counts is not None) == (len(token) <= 40)
    assert counts is None or math.isfinite(float(token))


@given(st.lists(st.lists(st.integers(-999_999_999, 999_999_999), min_size=1, max_size=5),
                min_size=1, max_size=5))
def test_integers_parse_exactly(rows: list[list[int]]) -> None:
    values = [" ".join(map(str, r)) for r in rows]
    assert number_counts(values, integers=True) is not None
    assert _ints(values).tolist() == [v for r in rows for v in r]
