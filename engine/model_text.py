"""The pure-Python gate in front of LightGBM's model.txt parser (spec 3.2).

LightGBM parses trees in parallel (OpenMP) and an error inside that region, or an index it
trusts, ends the process (``terminate``, SIGSEGV) instead of returning an error. So everything
its parser reads is checked here first, the way it reads it:

- the header: ``num_class``, ``num_tree_per_iteration``, ``label_index``, ``max_feature_idx``,
  ``feature_names`` and ``feature_infos`` (one per feature), an ``objective`` LightGBM knows
  whose ``num_class:`` agrees, and ``tree_sizes``, the byte length of every tree block, which
  LightGBM uses to slice the text: they must match the trees exactly;
- every tree: the fields LightGBM requires, each array with exactly the length it expects
  (``num_leaves`` leaves, ``num_leaves - 1`` internal nodes), every number parseable (integers
  within 32 bits, values finite; thresholds may be ``inf``), ``shrinkage`` finite and > 0,
  ``is_linear`` 0, ``decision_type`` a valid bit set, categorical bounds consistent, and the
  children forming one tree (in range, no cycle, every node and leaf reached once).

Anything else is refused with one line naming the field (``Tree=12.shrinkage: ...``).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import NamedTuple

from engine.errors import ArtifactError
from engine.model_text_fast import MAX_LEAVES, MAX_TREES, canonical_trees_ok

KNOWN_OBJECTIVES = frozenset({
    "regression", "regression_l1", "huber", "fair", "poisson", "quantile", "mape", "gamma",
    "tweedie", "binary", "multiclass", "multiclassova", "cross_entropy", "cross_entropy_lambda",
    "lambdarank", "rank_xendcg",
})
_INTERNAL_INT = ("split_feature", "left_child", "right_child")
_INTERNAL_OPTIONAL_FLOAT = ("split_gain", "internal_value", "internal_weight")


# The number formats LightGBM writes (and its parser reads): checked with one C-level regex
# match per array; only the arrays whose values matter are converted to Python numbers.
_INT = r"-?\d{1,9}"
_FLOAT = r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d{1,3})?"
_INT_LIST = re.compile(rf"(?:{_INT}(?: {_INT})*)?")
_FLOAT_LIST = re.compile(rf"(?:{_FLOAT}(?: {_FLOAT})*)?")
_FLOAT_OR_INF_LIST = re.compile(rf"(?:(?:{_FLOAT}|-?inf)(?: (?:{_FLOAT}|-?inf))*)?")


_LEAF_OPTIONAL = (("leaf_weight", _FLOAT_LIST, "finite numbers"), ("leaf_count", _INT_LIST, "integers"))


def _count(text: str) -> int:
    return text.count(" ") + 1 if text else 0


def _check_list(text: str, *, path: Path | None, field: str, count: int, pattern: re.Pattern[str],
                what: str) -> None:
    """``count`` values of the given format, without converting them."""
    if not pattern.fullmatch(text):
        raise ArtifactError(path, field, f"not a list of {what}")
    if _count(text) != count:
        raise ArtifactError(path, field, f"{_count(text)} values, expected {count}")


def _ints(text: str, *, path: Path | None, field: str, count: int | None = None) -> list[int]:
    if not _INT_LIST.fullmatch(text):
        raise ArtifactError(path, field, "not a list of integers (of at most 9 digits)")
    vals = list(map(int, text.split()))
    if count is not None and len(vals) != count:
        raise ArtifactError(path, field, f"{len(vals)} values, expected {count}")
    return vals


_BITSET_LIST = re.compile(r"(?:\d{1,10}(?: \d{1,10})*)?")


def _bitsets(text: str, *, path: Path | None, field: str) -> list[int]:
    """``cat_threshold``: 32-bit unsigned words of the category bit sets."""
    if not _BITSET_LIST.fullmatch(text):
        raise ArtifactError(path, field, "not a list of 32-bit unsigned integers")
    vals = list(map(int, text.split()))
    if vals and max(vals) > 2**32 - 1:
        raise ArtifactError(path, field, "a value beyond 32 bits")
    return vals


def _floats(text: str, *, path: Path | None, field: str, allow_inf: bool = False,
            count: int | None = None) -> list[float]:
    if not (_FLOAT_OR_INF_LIST if allow_inf else _FLOAT_LIST).fullmatch(text):
        bad = "a non-finite number" if any(w in text for w in ("nan", "inf")) else None
        raise ArtifactError(path, field, f"contains {bad}" if bad else "not a list of numbers")
    vals = list(map(float, text.split()))
    if not allow_inf and not all(map(math.isfinite, vals)):
        raise ArtifactError(path, field, "contains a non-finite number")
    if count is not None and len(vals) != count:
        raise ArtifactError(path, field, f"{len(vals)} values, expected {count}")
    return vals


def _int(text: str | None, *, path: Path | None, field: str) -> int:
    if text is None:
        raise ArtifactError(path, field, "missing from the model header")
    vals = _ints(text, path=path, field=field)
    if len(vals) != 1:
        raise ArtifactError(path, field, "expected one integer")
    return vals[0]


def _header(lines: list[str], *, path: Path | None) -> dict[str, str]:
    if not lines or lines[0].strip() != "tree":
        raise ArtifactError(path, None, "not a LightGBM text model (first line is not 'tree')")
    head: dict[str, str] = {}
    for line in lines[1:]:
        if line.startswith("Tree="):
            break
        if "=" in line:
            k, _, v = line.partition("=")
            if k in head:
                raise ArtifactError(path, k, "appears twice in the model header")
            head[k] = v
    return head


def _check_objective(objective: str | None, num_class: int, *, path: Path | None) -> None:
    if objective is None:
        return  # LightGBM then predicts raw scores; the bundle gate checks the classes
    parts = objective.split()
    if not parts or parts[0] not in KNOWN_OBJECTIVES:
        raise ArtifactError(path, "objective", f"unknown or empty objective {objective[:40]!r}")
    params: dict[str, str] = {}
    for p in parts[1:]:
        k, sep, v = p.partition(":")
        if not sep:
            if not p.isidentifier():  # a flag such as "sqrt"
                raise ArtifactError(path, "objective", f"malformed parameter {p[:40]!r}")
            continue
        params[k] = v
    if parts[0] in ("multiclass", "multiclassova"):
        if _int(params.get("num_class"), path=path, field="objective.num_class") != num_class:
            raise ArtifactError(path, "objective", "num_class does not match the header's num_class")
    elif num_class != 1:
        raise ArtifactError(path, "objective", f"{parts[0]} has one output, the header says {num_class}")
    for k, v in params.items():
        if k != "num_class":
            _floats(v, path=path, field=f"objective.{k}", count=1)


def _check_tree(tree: dict[str, str], idx: int, n_features: int, *, path: Path | None) -> None:
    where = f"Tree={idx}"
    if "num_leaves" not in tree:
        raise ArtifactError(path, f"{where}.num_leaves", "missing")
    n_leaves = _int(tree["num_leaves"], path=path, field=f"{where}.num_leaves")
    if not 1 <= n_leaves <= MAX_LEAVES:
        raise ArtifactError(path, f"{where}.num_leaves", f"out of range ({n_leaves})")
    if "num_cat" not in tree:
        raise ArtifactError(path, f"{where}.num_cat", "missing")
    num_cat = _int(tree["num_cat"], path=path, field=f"{where}.num_cat")
    if num_cat < 0:
        raise ArtifactError(path, f"{where}.num_cat", "negative")
    if "leaf_value" not in tree:
        raise ArtifactError(path, f"{where}.leaf_value", "missing")
    leaves = _floats(tree["leaf_value"], path=path, field=f"{where}.leaf_value")
    if len(leaves) != n_leaves:
        raise ArtifactError(path, f"{where}.leaf_value", f"{len(leaves)} values for {n_leaves} leaves")
    if "shrinkage" in tree:
        (shrinkage,) = _floats(tree["shrinkage"], path=path, field=f"{where}.shrinkage", count=1)
        if shrinkage <= 0:
            raise ArtifactError(path, f"{where}.shrinkage", "must be > 0")
    if "is_linear" in tree and _ints(tree["is_linear"], path=path, field=f"{where}.is_linear", count=1) != [0]:
        raise ArtifactError(path, f"{where}.is_linear", "linear trees are not supported")
    n_internal = n_leaves - 1
    if n_internal == 0:  # LightGBM reads nothing more of a one-leaf tree
        if num_cat:
            raise ArtifactError(path, f"{where}.num_cat", "a one-leaf tree has no categorical split")
        return
    for key, pattern, what in _LEAF_OPTIONAL:
        if key in tree:
            _check_list(tree[key], path=path, field=f"{where}.{key}", count=n_leaves, pattern=pattern, what=what)
    arrays: dict[str, list[int]] = {}
    for field in _INTERNAL_INT:
        if field not in tree:
            raise ArtifactError(path, f"{where}.{field}", "missing")
        arrays[field] = _ints(tree[field], path=path, field=f"{where}.{field}", count=n_internal)
    if "decision_type" in tree:
        arrays["decision_type"] = _ints(tree["decision_type"], path=path, field=f"{where}.decision_type",
                                        count=n_internal)
    if "internal_count" in tree:
        _check_list(tree["internal_count"], path=path, field=f"{where}.internal_count", count=n_internal,
                    pattern=_INT_LIST, what="integers")
    for field in _INTERNAL_OPTIONAL_FLOAT:
        if field in tree:
            _check_list(tree[field], path=path, field=f"{where}.{field}", count=n_internal,
                        pattern=_FLOAT_LIST, what="finite numbers")
    if "threshold" not in tree:
        raise ArtifactError(path, f"{where}.threshold", "missing")
    # LightGBM writes "inf" thresholds itself (a split that only routes missing values).
    thresholds = _floats(tree["threshold"], path=path, field=f"{where}.threshold", allow_inf=True)
    if len(thresholds) != n_internal:
        raise ArtifactError(path, f"{where}.threshold", f"{len(thresholds)} values for {n_internal} nodes")
    for f in arrays["split_feature"]:
        if not 0 <= f < n_features:
            raise ArtifactError(path, f"{where}.split_feature", f"feature index {f} out of range")
    if num_cat > 0:
        if "cat_boundaries" not in tree or "cat_threshold" not in tree:
            raise ArtifactError(path, f"{where}.cat_boundaries", "missing for a tree with categorical splits")
        check_categories(tree["cat_boundaries"], tree["cat_threshold"], num_cat, path=path, where=where)
    n_categorical = 0
    for node, dt in enumerate(arrays.get("decision_type", [0] * n_internal)):
        if not 0 <= dt <= 15 or (dt >> 2) & 3 == 3:
            raise ArtifactError(path, f"{where}.decision_type", f"invalid decision type {dt}")
        if dt & 1:  # categorical split: threshold indexes cat_boundaries
            n_categorical += 1
            t = thresholds[node]
            if num_cat == 0 or not math.isfinite(t) or t != int(t) or not 0 <= int(t) < num_cat:
                raise ArtifactError(path, f"{where}.threshold", "categorical split index out of range")
    if n_categorical and n_categorical != num_cat:
        raise ArtifactError(path, f"{where}.num_cat", f"{num_cat} for {n_categorical} categorical splits")
    _check_children(arrays["left_child"], arrays["right_child"], n_leaves, where=where, path=path)


def check_categories(bounds_text: str, words_text: str, num_cat: int, *, path: Path | None,
                     where: str) -> None:
    """``cat_boundaries`` (``num_cat + 1`` non-decreasing offsets from 0) into ``cat_threshold``
    (32-bit words of the category bit sets)."""
    bounds = _ints(bounds_text, path=path, field=f"{where}.cat_boundaries")
    cats = _bitsets(words_text, path=path, field=f"{where}.cat_threshold")
    if len(bounds) != num_cat + 1 or bounds[0] != 0 or bounds[-1] != len(cats) or any(
        nxt < prev for prev, nxt in zip(bounds[:-1], bounds[1:], strict=True)
    ):
        raise ArtifactError(path, f"{where}.cat_boundaries", "inconsistent with cat_threshold")


def _check_children(left: list[int], right: list[int], n_leaves: int, *, where: str,
                    path: Path | None) -> None:
    """Children: >= 0 internal node, < 0 leaf ~c. Every node reached exactly once from the root."""
    n_internal = len(left)
    seen_nodes = [False] * n_internal
    seen_leaves = [False] * n_leaves
    stack = [0]
    while stack:
        node = stack.pop()
        if seen_nodes[node]:
            raise ArtifactError(path, f"{where}.left_child", "the tree contains a cycle or a shared node")
        seen_nodes[node] = True
        for child in (left[node], right[node]):
            if child >= 0:
                if child >= n_internal:
                    raise ArtifactError(path, f"{where}.left_child", f"child index {child} out of range")
                stack.append(child)
            else:
                leaf = -child - 1
                if leaf >= n_leaves:
                    raise ArtifactError(path, f"{where}.left_child", f"leaf index {leaf} out of range")
                if seen_leaves[leaf]:
                    raise ArtifactError(path, f"{where}.left_child", "a leaf is reached twice")
                seen_leaves[leaf] = True
    if not all(seen_nodes) or not all(seen_leaves):
        raise ArtifactError(path, f"{where}.left_child", "some nodes are unreachable")


def _tree_blocks(text: str, lines: list[str], *, path: Path | None) -> list[tuple[int, dict[str, str]]]:
    """The trees in order: (index, fields). Fields appear once; every line of a tree is a field."""
    trees: list[tuple[int, dict[str, str]]] = []
    current: dict[str, str] | None = None
    ended = False
    for line in lines:
        if line.startswith("Tree="):
            try:
                idx = int(line[5:])
            except ValueError:
                raise ArtifactError(path, line[:40], "invalid tree header") from None
            if idx != len(trees):
                raise ArtifactError(path, f"Tree={idx}", f"trees out of order (expected {len(trees)})")
            if len(trees) >= MAX_TREES:
                raise ArtifactError(path, None, "too many trees")
            current = {}
            trees.append((idx, current))
        elif line.startswith("end of trees"):
            ended = True
            break
        elif current is not None and line:
            k, sep, v = line.partition("=")
            if not sep:
                raise ArtifactError(path, f"Tree={len(trees) - 1}", f"unexpected line {line[:40]!r}")
            if k in current:
                raise ArtifactError(path, f"Tree={len(trees) - 1}.{k}", "appears twice")
            current[k] = v
    if not trees:
        raise ArtifactError(path, None, "the model has no trees")
    if not ended:
        raise ArtifactError(path, None, "truncated: no 'end of trees' line")
    return trees


def _check_tree_sizes(text: str, sizes_text: str, n_trees: int, *, path: Path | None) -> None:
    """``tree_sizes`` are the byte lengths LightGBM slices the trees by: they must be exact."""
    sizes = _ints(sizes_text, path=path, field="tree_sizes", count=n_trees)
    data = text.encode("utf-8")
    start = data.find(b"\nTree=0\n") + 1
    end = data.find(b"\nend of trees", start) + 1
    if start <= 0 or end <= 0 or any(s <= 0 for s in sizes) or sum(sizes) != end - start:
        raise ArtifactError(path, "tree_sizes", "do not match the trees")
    pos = start
    for i, size in enumerate(sizes):
        if not data.startswith(f"Tree={i}\n".encode(), pos):
            raise ArtifactError(path, "tree_sizes", f"do not match the trees (at Tree={i})")
        pos += size


class ModelHeader(NamedTuple):
    """What the tree checks need from a model's checked header."""

    first_tree: int  # offset of the first "Tree=" line (0: none)
    lines: list[str]  # the header's lines
    fields: dict[str, str]
    n_features: int
    per_iter: int


def check_header(text: str, *, path: Path | None = None) -> ModelHeader:
    """The header's fields, checked (``ArtifactError`` otherwise)."""
    first_tree = text.find("\nTree=") + 1
    head_lines = (text[:first_tree] if first_tree else text).split("\n")
    head = _header(head_lines, path=path)
    num_class = _int(head.get("num_class"), path=path, field="num_class")
    n_features = _int(head.get("max_feature_idx"), path=path, field="max_feature_idx") + 1
    per_iter = _int(head.get("num_tree_per_iteration", head.get("num_class")), path=path,
                    field="num_tree_per_iteration")
    label_index = _int(head.get("label_index"), path=path, field="label_index")
    if not 1 <= num_class <= 1000 or not 1 <= n_features <= 100_000 or not 1 <= per_iter <= 1000:
        raise ArtifactError(path, "num_class", "header numbers out of range")
    if per_iter != num_class:
        raise ArtifactError(path, "num_tree_per_iteration", f"{per_iter}, expected num_class ({num_class})")
    if label_index < 0:
        raise ArtifactError(path, "label_index", "negative")
    for key in ("feature_names", "feature_infos"):
        if key not in head:
            raise ArtifactError(path, key, "missing from the model header")
        if len(head[key].split()) != n_features or head[key] != head[key].strip():
            raise ArtifactError(path, key, "count does not match max_feature_idx")
    if "version" in head and head["version"] not in ("v2", "v3", "v4"):
        raise ArtifactError(path, "version", f"unknown model format {head['version'][:20]!r}")
    _check_objective(head.get("objective"), num_class, path=path)
    return ModelHeader(first_tree, head_lines, head, n_features, per_iter)


def fast_path_accepts(text: str, header: ModelHeader) -> bool:
    """Whether the vectorised checks accept the trees (in LightGBM's own layout only)."""
    return bool(
        header.first_tree
        and text.startswith("Tree=0\n", header.first_tree)
        and not any(line.startswith("end of trees") for line in header.lines)
        and canonical_trees_ok(text, header.first_tree, header.fields, n_features=header.n_features,
                               per_iter=header.per_iter)
    )


def check_model_text(text: str, *, path: Path | None = None, fast: bool = True) -> None:
    """Refuse (``ArtifactError``) a model.txt that LightGBM could crash or hang on.

    After the header, the trees of a model in LightGBM's own layout go through the vectorised
    fast path (engine/model_text_fast.py), which accepts only what the reference checks below
    accept; anything else, or ``fast=False``, goes through the reference checks, which name the
    field at fault.
    """
    header = check_header(text, path=path)
    if fast and fast_path_accepts(text, header):
        return
    lines = text.split("\n")
    trees = _tree_blocks(text, lines, path=path)
    for idx, tree in trees:
        _check_tree(tree, idx, header.n_features, path=path)
    if len(trees) % header.per_iter:
        raise ArtifactError(path, "num_tree_per_iteration",
                            f"{len(trees)} trees is not a multiple of {header.per_iter}")
    if "tree_sizes" in header.fields:
        _check_tree_sizes(text, header.fields["tree_sizes"], len(trees), path=path)
