"""One-line mutations of a LightGBM model.txt, and a bundle holding one, for the crash fuzzing of
every command that loads bundles (tests/test_model_mutations.py, benchmarks/model_fuzz.py).

Each mutation changes, drops, duplicates or truncates at ONE line, the way a bad disk, a bad
edit or a hostile file would: header numbers (num_class, max_feature_idx, tree_sizes...), an
empty objective, a tree's arrays one element short or long, out-of-range children, a negative
shrinkage, a truncated tree. metadata.json is rewritten with the mutated model's sha256 so the
mutation reaches the model checks (a stale sha256 alone would refuse every one of them).
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from collections.abc import Iterator
from pathlib import Path

TREE_KEYS = (
    "num_leaves", "num_cat", "split_feature", "split_gain", "threshold", "decision_type",
    "left_child", "right_child", "leaf_value", "leaf_weight", "leaf_count", "internal_value",
    "internal_weight", "internal_count", "is_linear", "shrinkage", "cat_boundaries", "cat_threshold",
)
HEADER_KEYS = (
    "version", "num_class", "num_tree_per_iteration", "label_index", "max_feature_idx", "objective",
    "feature_names", "feature_infos", "tree_sizes",
)
SCALARS = ("", "0", "-1", "1", "2", "7", "9", "38", "-5", "1000000", "2147483648", "-2147483649",
           "99999999999999999999", "nan", "inf", "-inf", "x", "1e308", "-0.5", "0.5", "3.5")


def _value_mutations(key: str, value: str, rng: random.Random) -> str:
    parts = value.split()
    kind = rng.randrange(9)
    if kind == 0 or not parts:
        return rng.choice(SCALARS)
    if kind == 1:  # one element fewer
        return " ".join(parts[:-1])
    if kind == 2:  # one element more
        return " ".join([*parts, rng.choice(parts)])
    if kind == 3:  # one element replaced by a scalar
        i = rng.randrange(len(parts))
        return " ".join([*parts[:i], rng.choice(SCALARS) or "0", *parts[i + 1:]])
    if kind == 4:  # negated element
        i = rng.randrange(len(parts))
        p = parts[i]
        return " ".join([*parts[:i], p[1:] if p.startswith("-") else "-" + p, *parts[i + 1:]])
    if kind == 5:  # an integer element off by a lot
        i = rng.randrange(len(parts))
        try:
            n = int(parts[i])
        except ValueError:
            return " ".join(parts[:i] + ["nan"] + parts[i + 1:])
        return " ".join([*parts[:i], str(n + rng.choice((-100, -40, 40, 100, 2**31))), *parts[i + 1:]])
    if kind == 6:  # the whole array empty
        return ""
    if kind == 7:  # the objective/version emptied or changed
        return rng.choice(("", "multiclass", "binary", "regression", "multiclass num_class:3",
                           "multiclassova num_class:8", "lambdarank", "v1", "v9"))
    return " ".join(parts[: max(0, len(parts) // 2)])


def mutate_once(text: str, rng: random.Random) -> tuple[str, str]:
    """One mutation of ``text``: (description, mutated text)."""
    lines = text.split("\n")
    end = next(i for i, line in enumerate(lines) if line.startswith("end of trees"))
    kind = rng.randrange(10)
    if kind < 6:  # change a value in a tree
        keys = [i for i in range(end) if lines[i].split("=", 1)[0] in TREE_KEYS]
        i = rng.choice(keys)
        key, _, value = lines[i].partition("=")
        new = _value_mutations(key, value, rng)
        lines[i] = f"{key}={new}"
        return f"line {i + 1}: {key}={new[:40]}", "\n".join(lines)
    if kind < 8:  # change a header value
        keys = [i for i in range(20) if lines[i].split("=", 1)[0] in HEADER_KEYS]
        i = rng.choice(keys)
        key, _, value = lines[i].partition("=")
        new = _value_mutations(key, value, rng)
        lines[i] = f"{key}={new}"
        return f"line {i + 1}: {key}={new[:40]}", "\n".join(lines)
    if kind == 8:  # drop or duplicate a line
        i = rng.randrange(1, end)
        if rng.random() < 0.5:
            return f"line {i + 1} dropped", "\n".join(lines[:i] + lines[i + 1:])
        return f"line {i + 1} duplicated", "\n".join(lines[: i + 1] + lines[i:])
    i = rng.randrange(1, end)  # truncated at a line (and maybe within it)
    cut = lines[i][: rng.randrange(len(lines[i]) + 1)]
    return f"truncated at line {i + 1}", "\n".join([*lines[:i], cut])


def with_consistent_tree_sizes(text: str) -> str:
    """``text`` with ``tree_sizes`` recomputed from its trees, as a careful forger would write
    it (LightGBM slices the trees by these sizes, so a stale list is caught on its own)."""
    start = text.find("\nTree=0\n") + 1
    end = text.find("\nend of trees", start) + 1
    if start <= 0 or end <= 0 or "\ntree_sizes=" not in text[:start]:
        return text
    body = text[start:end]
    marks = [i for i in range(len(body)) if body.startswith("Tree=", i) and (i == 0 or body[i - 1] == "\n")]
    sizes = [len(body[a:b].encode()) for a, b in zip(marks, [*marks[1:], len(body)], strict=True)]
    head_lines = text[:start].split("\n")
    head_lines = [f"tree_sizes={' '.join(map(str, sizes))}" if ln.startswith("tree_sizes=") else ln
                  for ln in head_lines]
    return "\n".join(head_lines) + body + text[end:]


def mutations(text: str, count: int, seed: int = 0) -> Iterator[tuple[str, str]]:
    """``count`` distinct one-line mutations (each different from the original); every other
    one keeps ``tree_sizes`` consistent, so the checks behind that one are exercised too."""
    rng = random.Random(seed)
    seen: set[str] = {hashlib.sha256(text.encode()).hexdigest()}
    while len(seen) <= count:
        desc, out = mutate_once(text, rng)
        if rng.random() < 0.5 and "tree_sizes=" not in desc:
            desc, out = f"{desc} (tree_sizes kept consistent)", with_consistent_tree_sizes(out)
        digest = hashlib.sha256(out.encode()).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        yield desc, out


def write_bundle(src: Path, dst: Path, model_text: str) -> Path:
    """A copy of bundle ``src`` at ``dst`` whose model.txt is ``model_text`` (sha256 updated)."""
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    data = model_text.encode("utf-8")
    (dst / "model.txt").write_bytes(data)
    meta = json.loads((dst / "metadata.json").read_text())
    if "model_sha256" in meta:
        meta["model_sha256"] = hashlib.sha256(data).hexdigest()
    (dst / "metadata.json").write_text(json.dumps(meta, indent=2))
    return dst
