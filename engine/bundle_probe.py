"""Guards against a malformed model.txt before LightGBM's C code sees it (spec 3.2).

A corrupt tree can abort the process (an out-of-range child index) or hang prediction (a cycle)
inside LightGBM. ``check_model_text`` walks every tree in pure Python; ``probe_bundle`` then
loads the bundle and predicts a few rows in a short-lived subprocess with a timeout, so only a
bundle that survives both is ever loaded into a long-running process.

Run as ``python -m engine.bundle_probe DIR`` (what ``probe_bundle`` does): exit 0 and ``ok`` when
the bundle loads and predicts finite probabilities, else exit 1 with the reason on stderr.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

from engine.errors import ArtifactError, TaskclfError

_INT_FIELDS = ("split_feature", "left_child", "right_child", "decision_type")
MAX_TREES = 100_000
MAX_LEAVES = 1 << 20


def _ints(text: str, *, path: Path | None, field: str) -> list[int]:
    try:
        return [int(x) for x in text.split()]
    except ValueError:
        raise ArtifactError(path, field, "not a list of integers") from None


def _floats(text: str, *, path: Path | None, field: str, allow_inf: bool = False) -> list[float]:
    try:
        vals = [float(x) for x in text.split()]
    except ValueError:
        raise ArtifactError(path, field, "not a list of numbers") from None
    ok = (lambda v: v == v) if allow_inf else math.isfinite
    if not all(ok(v) for v in vals):
        raise ArtifactError(path, field, "contains a non-finite number")
    return vals


def _header(lines: list[str], *, path: Path | None) -> dict[str, str]:
    head: dict[str, str] = {}
    for line in lines:
        if line.startswith("Tree="):
            break
        if "=" in line:
            k, _, v = line.partition("=")
            head[k.strip()] = v.strip()
    if not lines or lines[0].strip() != "tree":
        raise ArtifactError(path, None, "not a LightGBM text model (first line is not 'tree')")
    for key in ("num_class", "max_feature_idx", "feature_names"):
        if key not in head:
            raise ArtifactError(path, key, "missing from the model header")
    return head


def _check_tree(tree: dict[str, str], idx: int, n_features: int, *, path: Path | None) -> None:
    where = f"Tree={idx}"
    try:
        n_leaves = int(tree.get("num_leaves", ""))
    except ValueError:
        raise ArtifactError(path, f"{where}.num_leaves", "missing or not an integer") from None
    if not 1 <= n_leaves <= MAX_LEAVES:
        raise ArtifactError(path, f"{where}.num_leaves", f"out of range ({n_leaves})")
    if "leaf_value" not in tree:
        raise ArtifactError(path, f"{where}.leaf_value", "missing")
    leaves = _floats(tree["leaf_value"], path=path, field=f"{where}.leaf_value")
    if len(leaves) != n_leaves:
        raise ArtifactError(path, f"{where}.leaf_value", f"{len(leaves)} values for {n_leaves} leaves")
    n_internal = n_leaves - 1
    if n_internal == 0:
        return
    arrays: dict[str, list[int]] = {}
    for field in _INT_FIELDS:
        if field not in tree:
            raise ArtifactError(path, f"{where}.{field}", "missing")
        arr = _ints(tree[field], path=path, field=f"{where}.{field}")
        if len(arr) != n_internal:
            raise ArtifactError(
                path, f"{where}.{field}", f"{len(arr)} values for {n_internal} internal nodes"
            )
        arrays[field] = arr
    if "threshold" not in tree:
        raise ArtifactError(path, f"{where}.threshold", "missing")
    # LightGBM writes "inf" thresholds itself (a split that only routes missing values).
    thresholds = _floats(tree["threshold"], path=path, field=f"{where}.threshold", allow_inf=True)
    if len(thresholds) != n_internal:
        raise ArtifactError(path, f"{where}.threshold", f"{len(thresholds)} values for {n_internal} nodes")
    for f in arrays["split_feature"]:
        if not 0 <= f < n_features:
            raise ArtifactError(path, f"{where}.split_feature", f"feature index {f} out of range")
    try:
        num_cat = int(tree.get("num_cat", "0"))
    except ValueError:
        raise ArtifactError(path, f"{where}.num_cat", "not an integer") from None
    if num_cat < 0:
        raise ArtifactError(path, f"{where}.num_cat", "negative")
    if num_cat > 0:
        bounds = _ints(tree.get("cat_boundaries", ""), path=path, field=f"{where}.cat_boundaries")
        cats = _ints(tree.get("cat_threshold", ""), path=path, field=f"{where}.cat_threshold")
        if len(bounds) != num_cat + 1 or bounds[0] != 0 or bounds[-1] != len(cats) or any(
            nxt < prev for prev, nxt in zip(bounds[:-1], bounds[1:], strict=True)
        ):
            raise ArtifactError(path, f"{where}.cat_boundaries", "inconsistent with cat_threshold")
    for node, dt in enumerate(arrays["decision_type"]):
        if dt & 1:  # categorical split: threshold indexes cat_boundaries
            t = thresholds[node]
            if num_cat == 0 or not math.isfinite(t) or t != int(t) or not 0 <= int(t) < num_cat:
                raise ArtifactError(path, f"{where}.threshold", "categorical split index out of range")
    # Children: >= 0 internal node, < 0 leaf ~c. Every node reached exactly once from the root.
    left, right = arrays["left_child"], arrays["right_child"]
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


def check_model_text(text: str, *, path: Path | None = None) -> None:
    """Refuse (``ArtifactError``) a model.txt whose trees could crash or hang LightGBM."""
    lines = text.splitlines()
    head = _header(lines, path=path)
    try:
        num_class = int(head["num_class"])
        n_features = int(head["max_feature_idx"]) + 1
        per_iter = int(head.get("num_tree_per_iteration", head["num_class"]))
    except ValueError:
        raise ArtifactError(path, "num_class", "header numbers are not integers") from None
    if not 1 <= num_class <= 1000 or not 1 <= n_features <= 100_000 or per_iter < 1:
        raise ArtifactError(path, "num_class", "header numbers out of range")
    if len(head["feature_names"].split()) != n_features:
        raise ArtifactError(path, "feature_names", "count does not match max_feature_idx")
    n_trees = 0
    current: dict[str, str] | None = None
    expected = 0

    def finish(tree: dict[str, str] | None) -> None:
        if tree is not None:
            _check_tree(tree, n_trees - 1, n_features, path=path)

    for line in lines:
        if line.startswith("Tree="):
            finish(current)
            try:
                idx = int(line[5:])
            except ValueError:
                raise ArtifactError(path, line[:40], "invalid tree header") from None
            if idx != expected:
                raise ArtifactError(path, f"Tree={idx}", f"trees out of order (expected {expected})")
            expected += 1
            n_trees += 1
            if n_trees > MAX_TREES:
                raise ArtifactError(path, None, "too many trees")
            current = {}
        elif line.startswith("end of trees") or line.startswith("feature_importances"):
            finish(current)
            current = None
            break
        elif current is not None and "=" in line:
            k, _, v = line.partition("=")
            current[k] = v
    else:
        finish(current)
    if n_trees == 0:
        raise ArtifactError(path, None, "the model has no trees")
    if n_trees % per_iter:
        raise ArtifactError(path, "num_tree_per_iteration", f"{n_trees} trees is not a multiple of {per_iter}")


#: The argument a frozen (PyInstaller) executable takes to run the probe: a frozen app's
#: ``sys.executable`` is the app itself, which cannot run ``-m engine.bundle_probe``.
FROZEN_PROBE_FLAG = "--probe-bundle"


def probe_command(bundle_dir: Path) -> list[str]:
    """The subprocess command that probes ``bundle_dir``, frozen or not."""
    if getattr(sys, "frozen", False):
        return [sys.executable, FROZEN_PROBE_FLAG, str(bundle_dir)]
    return [sys.executable, "-m", "engine.bundle_probe", str(bundle_dir)]


def run_frozen_probe(argv: list[str]) -> int | None:
    """Entry hook for frozen executables: run the probe when asked to, else return None."""
    if argv[:1] == [FROZEN_PROBE_FLAG]:
        return _probe_main(argv[1:])
    return None


def probe_bundle(bundle_dir: Path, timeout: float = 15.0) -> None:
    """Load and predict ``bundle_dir`` in a short-lived subprocess; raise ``ArtifactError`` if it
    fails, crashes or does not answer within ``timeout`` seconds."""
    bundle_dir = Path(bundle_dir)
    try:
        proc = subprocess.run(
            probe_command(bundle_dir),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=str(Path(__file__).resolve().parent.parent),
        )
    except subprocess.TimeoutExpired:
        raise ArtifactError(bundle_dir, None, f"model did not answer within {timeout:g} s") from None
    if proc.returncode == 0 and proc.stdout.strip().endswith("ok"):
        return
    if proc.returncode < 0:
        raise ArtifactError(bundle_dir, None, f"loading the model crashed (signal {-proc.returncode})")
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    reason = lines[-1] if lines else f"probe exited with status {proc.returncode}"
    raise ArtifactError(bundle_dir, None, f"probe failed: {reason}")


def _probe_main(argv: list[str]) -> int:
    import numpy as np

    from engine.bundle import load_bundle

    if len(argv) != 1:
        print("usage: python -m engine.bundle_probe BUNDLE_DIR", file=sys.stderr)
        return 2
    try:
        bundle = load_bundle(Path(argv[0]))
        rows = [
            bundle.encode({}),
            np.zeros(len(bundle.feature_names)),
            np.full(len(bundle.feature_names), np.nan),
            np.linspace(-5.0, 500.0, len(bundle.feature_names)),
        ]
        batch = bundle.predict_raw(np.vstack(rows))
        single = np.vstack([bundle.predict_raw(r) for r in rows])
        for p in (batch, single):
            if not np.all(np.isfinite(p)) or not np.allclose(p.sum(axis=1), 1.0, atol=1e-6):
                raise ArtifactError(bundle.path, None, "model predicts non-finite or unnormalised probabilities")
        if not np.allclose(batch, single, atol=1e-12):
            raise ArtifactError(bundle.path, None, "batch and single-row predictions differ")
    except TaskclfError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(_probe_main(sys.argv[1:]))
