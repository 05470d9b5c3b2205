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
