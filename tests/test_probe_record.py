"""A model that passed the subprocess probe is not probed again, in this process or a later one,
until its model.txt or the LightGBM library changes; a failure is never remembered."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from engine_helpers import SEED_BUNDLE

import engine.bundle_probe as bundle_probe
import engine.probe_record as probe_record
from engine.errors import ArtifactError
from engine.probe_record import MAX_ENTRIES, probe_once, record_path


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    dst = tmp_path / "home" / "models" / SEED_BUNDLE.name
    shutil.copytree(SEED_BUNDLE, dst)
    return dst


@pytest.fixture
def probes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The probes that ran (a stand-in that passes unless the model says 'crash')."""
    calls: list[Path] = []

    def fake(bundle_dir: Path, timeout: float = 15.0) -> None:
        calls.append(Path(bundle_dir))
        if b"crash" in (Path(bundle_dir) / "model.txt").read_bytes()[-100:]:
            raise ArtifactError(bundle_dir, None, "loading the model crashed (signal 11)")

    monkeypatch.setattr(bundle_probe, "probe_bundle", fake)
    monkeypatch.setattr(probe_record, "_PASSED", set())
    return calls


def _new_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probe_record, "_PASSED", set())


def test_a_passed_model_is_probed_once_across_processes(bundle: Path, probes: list[Path],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    home = bundle.parent.parent
    assert probe_once(home, bundle, timeout=5) is True
    assert probe_once(home, bundle, timeout=5) is False
    _new_process(monkeypatch)
    assert probe_once(home, bundle, timeout=5) is False
    assert probes == [bundle]
    moved = bundle.parent / "renamed"  # models install probes the staged copy, then renames it
    bundle.rename(moved)
    assert probe_once(home, moved, timeout=5) is False
    assert len(json.loads(record_path(home).read_text())["passed"]) == 1


def test_a_changed_model_or_library_is_probed_again(bundle: Path, probes: list[Path],
                                                    monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home = bundle.parent.parent
    probe_once(home, bundle, timeout=5)
    with open(bundle / "model.txt", "a") as fh:
        fh.write("\n")
    assert probe_once(home, bundle, timeout=5) is True
    other_lib = tmp_path / "lib_lightgbm.so"
    other_lib.write_bytes(b"another build")
    monkeypatch.setenv("TASKCLF_LIGHTGBM_LIB", str(other_lib))
    _new_process(monkeypatch)
    assert probe_once(home, bundle, timeout=5) is True
    assert len(probes) == 3


def test_a_failed_probe_is_not_remembered(bundle: Path, probes: list[Path],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    home = bundle.parent.parent
    with open(bundle / "model.txt", "a") as fh:
        fh.write("crash\n")
    for _ in range(2):
        with pytest.raises(ArtifactError, match="crashed"):
            probe_once(home, bundle, timeout=5)
        _new_process(monkeypatch)
    assert len(probes) == 2
    assert not record_path(home).exists()


@pytest.mark.parametrize("content", [b"{not json", b'{"passed": "all"}', b"[1, 2]", b'{"passed": [1, null]}',
                                     b" " * (2 * probe_record.MAX_RECORD_BYTES)])
def test_an_unreadable_record_means_probing_again(bundle: Path, probes: list[Path], content: bytes) -> None:
    home = bundle.parent.parent
    record_path(home).write_bytes(content)
    assert probe_once(home, bundle, timeout=5) is True
    assert probe_once(home, bundle, timeout=5) is False
    assert len(json.loads(record_path(home).read_text())["passed"]) == 1


def test_the_record_stays_bounded(bundle: Path, probes: list[Path]) -> None:
    home = bundle.parent.parent
    record_path(home).write_text(json.dumps({"version": 1, "passed": [f"k{i}" for i in range(3 * MAX_ENTRIES)]}))
    probe_once(home, bundle, timeout=5)
    passed = json.loads(record_path(home).read_text())["passed"]
    assert len(passed) == MAX_ENTRIES and passed[-1] == probe_record.probe_key(bundle)


def test_an_installed_model_is_not_probed_again_by_the_agent(tmp_path: Path, probes: list[Path],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.model_install import install_bundle

    src = tmp_path / "share" / SEED_BUNDLE.name
    shutil.copytree(SEED_BUNDLE, src)
    home = tmp_path / "installed-home"
    outcome = install_bundle(home, src)
    assert len(probes) == 1
    _new_process(monkeypatch)
    assert probe_once(home, outcome.bundle_dir, timeout=5) is False
    assert len(probes) == 1
