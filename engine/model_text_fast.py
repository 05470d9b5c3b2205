"""The model.txt gate's fast path: the trees of a canonical LightGBM text model, in numpy passes.

:func:`engine.model_text.check_model_text` runs this first, after the header checks. It answers
``True`` only when every tree is laid out exactly as LightGBM writes it (the same fields in the
same order, ``Tree=0..n-1``, exact ``tree_sizes``) and passes every check of the reference gate;
anything else, an unusual but valid layout as much as a broken model, returns ``False`` and the
reference gate (one regex and a Python walk per array) decides and names the field. So it never
accepts a model the reference refuses (tests/test_model_text_fast.py checks this on mutations),
and a good model costs a handful of numpy passes over its bytes instead.

The reference's number formats become checks on the sequence of non-digit bytes: what may
follow what (``-`` only opens a token or an exponent, at most one ``.``, an exponent of 1 to 3
digits...) and how many digits lie between them. Where the reference converts numbers, so does
this, with stricter bounds where that is cheaper (``leaf_value`` tokens of at most 40 characters
and 2 exponent digits are finite without converting them).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from functools import cache

import numpy as np

from engine.errors import ArtifactError

MAX_TREES = 100_000
MAX_LEAVES = 1 << 20
TREE_FIELDS = (
    "num_leaves", "num_cat", "split_feature", "split_gain", "threshold", "decision_type",
    "left_child", "right_child", "leaf_value", "leaf_weight", "leaf_count", "internal_value",
    "internal_weight", "internal_count",
)
_V = r"([^\n]*)\n"
#: One tree as LightGBM writes it; groups: index, the 14 fields, the categorical block (whole,
#: then its two values), is_linear, shrinkage.
_TREE = re.compile(
    "Tree=([0-9]{1,9})\n" + "".join(f"{k}={_V}" for k in TREE_FIELDS)
    + f"((?:cat_boundaries={_V}cat_threshold={_V})?)is_linear={_V}shrinkage={_V}\n\n"
)
#: Characters of a tree block outside the captured values.
_TREE_FIXED = len("Tree=\n") + sum(len(k) + 2 for k in TREE_FIELDS) + len("is_linear=\nshrinkage=\n\n\n")
_UINT_LINES = re.compile(r"(?:[0-9]{1,9}\n)*")
_INF_TOKEN = re.compile(r"(?<![^\n ])-?inf(?![^\n ])")

# Kinds of the non-digit bytes. A separator is a space (between values) or a newline (between
# the arrays of one buffer). XS is an exponent's sign; a '+' anywhere else stays invalid.
_SEP, _MINUS, _DOT, _EXP, _XS, _PLUS, _OTHER = range(7)
_KIND = np.full(256, _OTHER, dtype=np.uint8)
_KIND[[ord(" "), ord("\n")]] = _SEP
_KIND[ord("-")] = _MINUS
_KIND[ord(".")] = _DOT
_KIND[[ord("e"), ord("E")]] = _EXP
_KIND[ord("+")] = _PLUS
_UNBOUNDED = 1 << 40


@cache
def _digit_bounds(integers: bool, max_exp: int) -> tuple[np.ndarray, np.ndarray]:
    """For each (kind, next kind): the fewest and most digits allowed between them (a pair
    not listed is refused: fewest > most)."""
    lo = np.ones(64, dtype=np.int64)
    hi = np.zeros(64, dtype=np.int64)

    def allow(a: int, b: int, least: int, most: int) -> None:
        lo[a * 8 + b], hi[a * 8 + b] = least, most

    if integers:  # -?\d{1,9}
        allow(_SEP, _SEP, 1, 9)
        allow(_SEP, _MINUS, 0, 0)
        allow(_MINUS, _SEP, 1, 9)
        return lo, hi
    # -?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d{1,max_exp})?
    allow(_SEP, _SEP, 1, _UNBOUNDED)
    allow(_SEP, _MINUS, 0, 0)
    allow(_SEP, _DOT, 0, _UNBOUNDED)
    allow(_SEP, _EXP, 1, _UNBOUNDED)
    allow(_MINUS, _SEP, 1, _UNBOUNDED)
    allow(_MINUS, _DOT, 0, _UNBOUNDED)
    allow(_MINUS, _EXP, 1, _UNBOUNDED)
    allow(_DOT, _SEP, 0, _UNBOUNDED)  # with a digit on one side of the dot (checked apart)
    allow(_DOT, _EXP, 0, _UNBOUNDED)
    allow(_EXP, _XS, 0, 0)
    allow(_EXP, _SEP, 1, max_exp)
    allow(_XS, _SEP, 1, max_exp)
    return lo, hi


def number_counts(values: Sequence[str], *, integers: bool = False, max_exp: int = 3,
                  max_token: int | None = None) -> np.ndarray | None:
    """How many numbers each string of ``values`` lists, or ``None`` unless every one is a
    non-empty list of numbers separated by single spaces: integers of at most 9 digits
    (``integers``), else decimals whose exponent has at most ``max_exp`` digits; with
    ``max_token``, no number longer than that many characters."""
    text = "\n" + "\n".join(values) + "\n"
    if not text.isascii():
        return None
    a = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    pos = np.flatnonzero((a - 48) >= 10)  # the non-digit bytes (uint8 arithmetic wraps)
    kind = _KIND[a[pos]]
    if (kind == _OTHER).any():
        return None
    digits = np.diff(pos) - 1  # digits between consecutive non-digit bytes
    if not integers:
        after_exp = np.zeros(kind.size, dtype=bool)
        after_exp[1:] = (kind[:-1] == _EXP) & (digits == 0)
        kind[((kind == _MINUS) | (kind == _PLUS)) & after_exp] = _XS
        dots = np.flatnonzero(kind == _DOT)  # never first or last: those are separators
        if dots.size and not ((digits[dots - 1] + digits[dots]) > 0).all():
            return None
    lo, hi = _digit_bounds(integers, max_exp)
    pair = kind[:-1].astype(np.int64) * 8 + kind[1:]
    if not ((digits >= lo[pair]) & (digits <= hi[pair])).all():
        return None
    seps = pos[kind == _SEP]
    if max_token is not None and int(np.diff(seps).max()) - 1 > max_token:
        return None
    lines = np.flatnonzero(a[seps] == 10)  # among the separators, the newlines
    counts: np.ndarray = np.diff(lines)
    return counts


def _ints(values: Sequence[str]) -> np.ndarray:
    """The integers of already validated lists, in order."""
    return np.fromstring(" ".join(values), dtype=np.int64, sep=" ")


def canonical_trees_ok(text: str, start: int, head: Mapping[str, str], *, n_features: int,
                       per_iter: int) -> bool:
    """Whether the trees from ``start`` (the ``Tree=0`` line) pass every check of the reference
    gate in their canonical layout; ``False`` also when unsure (the reference then decides)."""
    try:
        return _trees_ok(text, start, head, n_features=n_features, per_iter=per_iter)
    except (ArtifactError, ValueError, OverflowError, IndexError):
        return False


def _trees_ok(text: str, start: int, head: Mapping[str, str], *, n_features: int,
              per_iter: int) -> bool:
    end = text.find("\nend of trees", start) + 1
    if end <= 0:
        return False
    trees = _TREE.findall(text, start, end)
    n = len(trees)
    if not 1 <= n <= MAX_TREES or n % per_iter:
        return False
    cols = list(zip(*trees, strict=True))
    (index, num_leaves, num_cat, split_feature, split_gain, threshold, decision_type, left,
     right, leaf_value, leaf_weight, leaf_count, internal_value, internal_weight, internal_count,
     cat_block, cat_bounds, cat_words, is_linear, shrinkage) = cols
    if list(index) != [str(i) for i in range(n)]:
        return False
    # The matches tile the trees' text exactly (then no line was skipped) and tree_sizes, the
    # byte lengths LightGBM slices the text by, are exactly theirs (the trees are ASCII).
    sizes = [_TREE_FIXED + sum(map(len, t)) - len(t[16]) - len(t[17]) for t in trees]
    if sum(sizes) != end - start:
        return False
    if "tree_sizes" in head and head["tree_sizes"] != " ".join(map(str, sizes)):
        return False
    if any(v != "0" for v in is_linear):
        return False
    # num_leaves, num_cat: one non-negative integer each
    if not _UINT_LINES.fullmatch("\n".join(num_leaves) + "\n") or not _UINT_LINES.fullmatch(
        "\n".join(num_cat) + "\n"
    ):
        return False
    leaves = np.array([int(v) for v in num_leaves], dtype=np.int64)
    cats = np.array([int(v) for v in num_cat], dtype=np.int64)
    if leaves.min() < 1 or leaves.max() > MAX_LEAVES:
        return False
    # Every tree: leaf_value (finite, one per leaf) and shrinkage (one finite number > 0).
    if not _counts_are(number_counts(leaf_value, max_exp=2, max_token=40), leaves):
        return False
    if not _counts_are(number_counts(shrinkage, max_exp=2, max_token=40), np.ones(n, dtype=np.int64)):
        return False
    if min(map(float, shrinkage)) <= 0:
        return False
    multi = leaves > 1
    if cats[~multi].any():  # a one-leaf tree has no categorical split
        return False
    if not multi.any():
        return True
    rows = np.flatnonzero(multi).tolist()

    def pick(col: tuple[str, ...]) -> Sequence[str]:
        return col if len(rows) == n else [col[i] for i in rows]

    n_leaves = leaves[multi]
    n_internal = n_leaves - 1
    for col, expected in ((internal_count, n_internal), (leaf_count, n_leaves)):
        if not _counts_are(number_counts(pick(col), integers=True), expected):
            return False
    floats = [v for col in (split_gain, internal_value, internal_weight) for v in pick(col)]
    if not _counts_are(number_counts(floats), np.tile(n_internal, 3)):
        return False
    if not _counts_are(number_counts(pick(leaf_weight)), n_leaves):
        return False
    thresholds = pick(threshold)
    checked = [t if "inf" not in t else _INF_TOKEN.sub("0", t) for t in thresholds]
    if not _counts_are(number_counts(checked), n_internal):
        return False
    ints = [v for col in (split_feature, left, right, decision_type) for v in pick(col)]
    if not _counts_are(number_counts(ints, integers=True), np.tile(n_internal, 4)):
        return False
    total = int(n_internal.sum())
    values = _ints(ints)
    if values.size != 4 * total:
        return False
    feature, lc, rc, dtype = (values[i * total:(i + 1) * total] for i in range(4))
    if feature.min() < 0 or feature.max() >= n_features:
        return False
    if ((dtype < 0) | (dtype > 15) | (((dtype >> 2) & 3) == 3)).any():
        return False
    if not _children_ok(lc, rc, n_internal, n_leaves):
        return False
    return _categorical_ok(dtype & 1, n_internal, cats[multi], thresholds,
                           pick(cat_block), pick(cat_bounds), pick(cat_words))


def _counts_are(counts: np.ndarray | None, expected: np.ndarray) -> bool:
    return counts is not None and bool(np.array_equal(counts, expected))


def _children_ok(left: np.ndarray, right: np.ndarray, n_internal: np.ndarray,
                 n_leaves: np.ndarray) -> bool:
    """Every tree is one tree: each internal child comes after its parent (as LightGBM numbers
    them) and each non-root node and each leaf is some node's child exactly once; then every
    node is reached once from the root and nothing forms a cycle."""
    total = int(n_internal.sum())
    node_start = np.repeat(np.cumsum(n_internal) - n_internal, n_internal)
    local = np.arange(total, dtype=np.int64) - node_start
    per_node_internal = np.repeat(n_internal, n_internal)
    per_node_leaves = np.repeat(n_leaves, n_internal)
    leaf_start = np.repeat(np.cumsum(n_leaves) - n_leaves, n_internal)
    child_nodes = np.zeros(total, dtype=np.int64)
    child_leaves = np.zeros(int(n_leaves.sum()), dtype=np.int64)
    for child in (left, right):
        inner = child >= 0
        c = child[inner]
        if not ((c > local[inner]) & (c < per_node_internal[inner])).all():
            return False
        leaf = -child[~inner] - 1
        if not (leaf < per_node_leaves[~inner]).all():
            return False
        child_nodes += np.bincount(node_start[inner] + c, minlength=total)
        child_leaves += np.bincount(leaf_start[~inner] + leaf, minlength=child_leaves.size)
    expected = np.ones(total, dtype=np.int64)
    expected[np.cumsum(n_internal) - n_internal] = 0  # roots
    return bool(np.array_equal(child_nodes, expected) and (child_leaves == 1).all())


def _categorical_ok(is_cat: np.ndarray, n_internal: np.ndarray, cats: np.ndarray,
                    thresholds: Sequence[str], blocks: Sequence[str], bounds: Sequence[str],
                    words: Sequence[str]) -> bool:
    """Categorical splits only in trees declaring them, each threshold an index into the
    tree's ``cat_boundaries``, which must agree with ``cat_threshold`` (the few categorical
    trees are checked with the reference's own parsers)."""
    from engine.model_text import check_categories

    per_tree = np.add.reduceat(is_cat, np.cumsum(n_internal) - n_internal)
    if per_tree[cats == 0].any():
        return False
    node_start = np.cumsum(n_internal) - n_internal
    for t in np.flatnonzero(cats > 0).tolist():
        num_cat = int(cats[t])
        if not blocks[t]:
            return False
        check_categories(bounds[t], words[t], num_cat, path=None, where="")
        n_cat = int(per_tree[t])
        if n_cat and n_cat != num_cat:
            return False
        start = int(node_start[t])
        nodes = np.flatnonzero(is_cat[start:start + int(n_internal[t])]).tolist()
        tokens = thresholds[t].split(" ")
        for node in nodes:
            v = float(tokens[node])
            if not math.isfinite(v) or v != int(v) or not 0 <= int(v) < num_cat:
                return False
    return True
