"""``taskclf train lgbm --dataset DIR...``: a bundle trained in-process from exported datasets,
loadable by the engine; a tampered or repeated dataset is refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.bundle import load_bundle
from engine.cli.main import main
from tests.conftest import in_ci

try:
    import pyarrow  # noqa: F401
except ImportError:  # the [team] extra: CI installs it, so there a missing pyarrow fails
    if in_ci():
        raise
    pytest.skip("pyarrow is not installed (pip install -e '.[team]')", allow_module_level=True)


@pytest.mark.slow
def test_a_bundle_trained_from_a_dataset_loads_and_masks_per_install_columns(
    home: Path, exported: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "lgbm", "--dataset", str(exported)]) == 0
    bundle_dir = Path(capsys.readouterr().out.strip().splitlines()[-1])
    bundle = load_bundle(bundle_dir)
    assert bundle.metadata["data_provenance"] == "dataset"
    assert "window_title_bucket" in bundle.masked_columns
    manifest = json.loads((exported / "manifest.json").read_text())
    assert sorted(bundle.metadata["split"]["users"]) == sorted({f["user"] for f in manifest["files"]})


def test_a_tampered_dataset_is_refused_in_one_line(
    home: Path, exported: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(exported, copy)
    victim = next(copy.rglob("*.parquet"))
    victim.write_bytes(victim.read_bytes()[:-10] + b"0123456789")
    assert main(["train", "lgbm", "--dataset", str(copy)]) == 1
    err = capsys.readouterr().err
    assert "sha256 does not match the manifest" in err and len(err.strip().splitlines()) == 1
    assert not (home / "models").exists()


def test_the_same_dataset_twice_is_refused(home: Path, exported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "lgbm", "--dataset", str(exported), "--dataset", str(exported)]) == 1
    assert "user-month already read from" in capsys.readouterr().err
