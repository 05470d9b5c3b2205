"""model.txt structure checks and the subprocess probe (spec 3.2)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from engine_helpers import SEED_BUNDLE, copy_bundle

from engine.bundle import load_bundle
from engine.bundle_probe import check_model_text, probe_bundle
from engine.errors import ArtifactError

TEXT = (SEED_BUNDLE / "model.txt").read_text()


def _tree0_line(key: str) -> str:
    m = re.search(rf"Tree=0\n(?:.*\n)*?({key}=.*)\n", TEXT)
    assert m
    return m.group(1)


def _mutate(key: str, fn) -> str:  # type: ignore[no-untyped-def]
    line = _tree0_line(key)
    vals = line.split("=", 1)[1].split()
    new = f"{key}=" + " ".join(fn(vals))
    return TEXT.replace(line, new, 1)


def test_seed_model_passes() -> None:
    check_model_text(TEXT)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (_mutate("left_child", lambda v: ["99", *v[1:]]), "out of range"),
        (_mutate("right_child", lambda v: ["-999", *v[1:]]), "out of range"),
        (_mutate("left_child", lambda v: ["0", *v[1:]]), "cycle"),
        (_mutate("split_feature", lambda v: ["38", *v[1:]]), "feature index 38"),
        (_mutate("leaf_value", lambda v: ["nan", *v[1:]]), "non-finite"),
        (_mutate("leaf_value", lambda v: v[1:]), "values for"),
        (_mutate("threshold", lambda v: ["abc", *v[1:]]), "numbers"),
        (_mutate("threshold", lambda v: ["nan", *v[1:]]), "non-finite"),
        (TEXT.replace("Tree=1\n", "Tree=7\n", 1), "out of order"),
        ("not a model", "first line"),
        (TEXT.split("Tree=0")[0], "no trees"),
    ],
)
def test_broken_trees_are_refused(text: str, reason: str) -> None:
    with pytest.raises(ArtifactError, match=reason):
        check_model_text(text)


def test_load_bundle_refuses_a_cyclic_model_before_lightgbm_sees_it(tmp_path: Path) -> None:
    bdir = copy_bundle(tmp_path)
    (bdir / "model.txt").write_text(_mutate("left_child", lambda v: ["0", *v[1:]]))
    with pytest.raises(ArtifactError, match="cycle"):
        load_bundle(bdir)


def test_probe_accepts_the_seed_bundle() -> None:
    probe_bundle(SEED_BUNDLE, timeout=60)


def test_probe_refuses_a_broken_bundle(tmp_path: Path) -> None:
    bdir = copy_bundle(tmp_path)
    (bdir / "model.txt").write_text(_mutate("right_child", lambda v: ["-999", *v[1:]]))
    with pytest.raises(ArtifactError, match="probe failed.*out of range"):
        probe_bundle(bdir, timeout=60)


def test_probe_times_out(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="did not answer"):
        probe_bundle(SEED_BUNDLE, timeout=0.01)


def test_models_with_categorical_splits_and_inf_thresholds_pass() -> None:
    """What LightGBM itself writes: categorical splits, ``inf`` thresholds, one-leaf trees."""
    import lightgbm as lgb  # a core dependency: never skipped
    import numpy as np
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 38))
    x[:, 0] = rng.integers(0, 10, 600)
    x[:, 1] = rng.integers(0, 8, 600)
    x[rng.random((600, 38)) < 0.1] = np.nan
    y = (np.nan_to_num(x[:, 0]).astype(int) % 4 + (np.nan_to_num(x[:, 5]) > 0)) % 8
    params = {"objective": "multiclass", "num_class": 8, "verbose": -1, "num_leaves": 15,
              "min_data_in_leaf": 5, "cat_smooth": 1, "min_data_per_group": 5, "num_threads": 1}
    ds = lgb.Dataset(x, y, categorical_feature=[0, 1])
    text = lgb.train(params, ds, 12).model_to_string()
    assert "num_cat=1" in text or "num_cat=2" in text
    check_model_text(text)
    stump = lgb.train({**params, "min_data_in_leaf": 1000}, lgb.Dataset(x, y), 2).model_to_string()
    check_model_text(stump)


def test_frozen_executables_probe_through_their_own_flag(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A frozen app's sys.executable is the app: it must get a flag, not ``-m``."""
    import sys

    from engine import bundle_probe

    assert bundle_probe.probe_command(tmp_path)[1:3] == ["-m", "engine.bundle_probe"]
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert bundle_probe.probe_command(tmp_path) == [sys.executable, "--probe-bundle", str(tmp_path)]
    assert bundle_probe.run_frozen_probe(["--help"]) is None
    assert bundle_probe.run_frozen_probe(["--probe-bundle", str(tmp_path / "missing")]) == 1


def test_category_bit_sets_use_all_32_bits() -> None:
    """``cat_threshold`` words are unsigned 32-bit: LightGBM writes 10-digit values for
    categories 31 and up (a trained model was once refused for it)."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from model_mutations import with_consistent_tree_sizes

    start = TEXT.index("\nTree=1\n")
    i = TEXT.index("\ncat_threshold=", start) + 1
    j = TEXT.index("\n", i)
    words = TEXT[i + len("cat_threshold="):j].split()
    text = TEXT[:i] + "cat_threshold=" + " ".join(["4294967295"] * len(words)) + TEXT[j:]
    check_model_text(with_consistent_tree_sizes(text))
    too_big = TEXT[:i] + "cat_threshold=" + " ".join(["4294967296"] * len(words)) + TEXT[j:]
    with pytest.raises(ArtifactError, match=r"Tree=1\.cat_threshold: a value beyond 32 bits"):
        check_model_text(with_consistent_tree_sizes(too_big))
