"""Hostile files never stop the agent: every loader turns every parse failure into one line
naming the file, reads only regular files and always within a bound, and the policy watcher
survives whatever a loader does."""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import SEED_BUNDLE, policy_obj, seed_home

from agent.engines import BuiltEngine, load_config, load_user_taxonomy
from agent.reload import PolicyWatcher, _probe_key
from engine.bundle import load_bundle
from engine.calibration import calibrator_from_json
from engine.config import load_config as engine_load_config
from engine.errors import ArtifactError
from engine.jsonio import read_bounded_bytes, read_json
from engine.labels_csv import import_spans
from engine.policy import load_policy
from engine.rows import parse_row_line
from engine.taxonomy import load_taxonomy
from engine.titles import load_or_create_title_key
from tests.agent_helpers import wait_for

HUGE_INT = "1" * 5000  # beyond Python's 4,300-digit int conversion limit
BIG_INT = "9" * 400  # parses, but float() of it overflows


def finishes(fn: Callable[[], Any], seconds: float = 10.0) -> Any:
    """Run ``fn`` in a thread and fail (rather than hang the suite) if it does not return."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed back to the test thread
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"{fn} did not return within {seconds} s"
    if "error" in box:
        raise box["error"]
    return box.get("value")


# -- parse failures are one line ------------------------------------------------------------------


def test_taxonomy_with_a_5000_digit_integer_is_one_line(tmp_path: Path) -> None:
    p = tmp_path / "taxonomy.toml"
    p.write_text(f'version = "1"\nx = {HUGE_INT}\n')
    with pytest.raises(ArtifactError, match=r"taxonomy\.toml: not valid TOML \(a number has too many digits\)"):
        load_taxonomy(p)


def test_taxonomy_with_an_overflowing_weight_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "taxonomy.toml"
    p.write_text(f'[[buckets]]\nname = "Deep"\ncore_labels = ["Build"]\n[reweight]\nBuild = {BIG_INT}\n')
    with pytest.raises(ArtifactError, match=r"reweight\.Build: weight must be a finite number > 0"):
        load_taxonomy(p)


def test_yaml_taxonomy_with_a_huge_integer_is_one_line(tmp_path: Path) -> None:
    import yaml  # noqa: F401  (PyYAML is a dependency of the YAML taxonomy; CI installs it)
    p = tmp_path / "taxonomy.yaml"
    p.write_text(f"version: {HUGE_INT}\n")
    with pytest.raises(ArtifactError, match=r"taxonomy\.yaml: not valid YAML"):
        load_taxonomy(p)


def test_the_agent_reports_a_broken_taxonomy_and_keeps_the_identity_mapping(home: Path) -> None:
    (home / "taxonomy.toml").write_text(f"x = {HUGE_INT}\n")
    cfg, _ = load_config(home)
    tax, warning = load_user_taxonomy(home, cfg)
    assert tax is None
    assert warning is not None and warning.startswith("taxonomy ignored: ") and "too many digits" in warning


@pytest.mark.parametrize(("text", "expected"), [
    (f"sample_seconds = {HUGE_INT}\n", r"config\.toml: not valid TOML \(a number has too many digits\); using defaults"),
    (f"sample_seconds = {BIG_INT}\n", r"config\.toml: sample_seconds: must be within 0\.1\.\.30; using the default"),
    ("a = " + "[" * 5000 + "]" * 5000 + "\n", r"config\.toml: not valid TOML .*; using defaults"),
])
def test_a_broken_config_falls_back_to_defaults_with_one_warning(home: Path, text: str, expected: str) -> None:
    (home / "config.toml").write_text(text)
    cfg, warnings = engine_load_config(home)
    assert cfg.sample_seconds == 1.0
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert __import__("re").search(expected, warnings[0]), warnings[0]


@pytest.mark.parametrize("value", [BIG_INT, f"-{BIG_INT}", "1e400"])
def test_numbers_too_large_for_a_float_are_refused_by_name(value: str) -> None:
    with pytest.raises(ArtifactError, match=r"temperature: must be a finite number > 0"):
        calibrator_from_json(json.loads(f'{{"type": "temperature", "temperature": {value}}}'))
    with pytest.raises(ArtifactError, match=r"^line 3: app_switch_count_last_5m: must be finite"):
        parse_row_line(f'{{"user_id": "u", "bucket_start": "2026-01-01T00:00:00Z", '
                       f'"app_switch_count_last_5m": {value}}}', line_no=3)


def test_a_policy_with_a_huge_threshold_is_refused(home: Path) -> None:
    seed_home(home)
    p = home / "models" / "inference_policy.json"
    p.write_text(json.dumps(policy_obj()).replace('"reject_threshold": 0.5', f'"reject_threshold": {BIG_INT}'))
    with pytest.raises(ArtifactError, match=r"inference_policy\.json: reject_threshold"):
        load_policy(home)


# -- only regular files, always bounded -----------------------------------------------------------


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    p = tmp_path / "pipe"
    os.mkfifo(p)
    return p


def _swap_for(target: Path, special: Path) -> None:
    target.unlink(missing_ok=True)
    target.symlink_to(special)


@pytest.mark.parametrize("special", ["fifo", "/dev/zero", "/dev/null"])
def test_the_bounded_reader_refuses_anything_but_a_regular_file(tmp_path: Path, fifo: Path, special: str) -> None:
    src = fifo if special == "fifo" else Path(special)
    target = tmp_path / "file.json"
    _swap_for(target, src)
    with pytest.raises(ArtifactError, match=r"file\.json: not a regular file"):
        finishes(lambda: read_bounded_bytes(target, 1024))
    with pytest.raises(ArtifactError, match=r"file\.json: not a regular file"):
        finishes(lambda: read_json(target))


def test_the_bounded_reader_refuses_a_folder_and_a_large_file(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"not a regular file|cannot read"):
        read_bounded_bytes(tmp_path, 10)
    big = tmp_path / "big"
    big.write_bytes(b"x" * 11)
    with pytest.raises(ArtifactError, match=r"big: file too large \(11 bytes > 10\)"):
        read_bounded_bytes(big, 10)
    assert read_bounded_bytes(big, 11) == b"x" * 11


@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_special_files_in_the_home_never_freeze_a_loader(home: Path, fifo: Path, special: str) -> None:
    src = fifo if special == "fifo" else Path(special)
    _swap_for(home / "config.toml", src)
    cfg, warnings = finishes(lambda: engine_load_config(home))
    assert cfg.sample_seconds == 1.0 and len(warnings) == 1
    assert "config.toml: not a regular file; using defaults" in warnings[0]

    _swap_for(home / "taxonomy.toml", src)
    with pytest.raises(ArtifactError, match=r"taxonomy\.toml: not a regular file"):
        finishes(lambda: load_taxonomy(home / "taxonomy.toml"))

    _swap_for(home / "labels.csv", src)
    with pytest.raises(ArtifactError, match=r"labels\.csv: not a regular file"):
        finishes(lambda: import_spans(home / "labels.csv", user_id_default="u"))

    _swap_for(home / "title.key", src)
    with pytest.raises(ArtifactError, match=r"title\.key: not a regular file"):
        finishes(lambda: load_or_create_title_key(home / "title.key"))


@pytest.mark.parametrize("name", ["model.txt", "metadata.json", "categorical_encoders.json"])
def test_a_bundle_file_linked_to_dev_zero_is_refused(tmp_path: Path, name: str) -> None:
    bdir = tmp_path / SEED_BUNDLE.name
    shutil.copytree(SEED_BUNDLE, bdir)
    _swap_for(bdir / name, Path("/dev/zero"))
    with pytest.raises(ArtifactError, match=rf"{name}: not a regular file"):
        finishes(lambda: load_bundle(bdir))
    if name == "model.txt":
        assert finishes(lambda: _probe_key(bdir)) is None


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[BuiltEngine | None, str | None]] = []

    def __call__(self, built: BuiltEngine | None, error: str | None) -> None:
        self.calls.append((built, error))


@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_the_watcher_refuses_a_special_model_or_policy_without_freezing(home: Path, fifo: Path, special: str) -> None:
    src = fifo if special == "fifo" else Path(special)
    paths = seed_home(home)
    _swap_for(paths["bundle"] / "model.txt", src)
    (home / "models" / "inference_policy.json").write_text(json.dumps(policy_obj()))
    rec = Recorder()
    w = PolicyWatcher(home, submit=rec, interval=0.05, probe_timeout=30)
    w.start()
    try:
        wait_for(lambda: any(err for _, err in rec.calls), timeout=60)
        err = next(err for _, err in rec.calls if err)
        assert "model.txt: not a regular file" in err
        n = len(rec.calls)
        _swap_for(home / "models" / "inference_policy.json", src)
        wait_for(lambda: len(rec.calls) > n, timeout=60)
        assert rec.calls[-1][0] is None
        assert "inference_policy.json: not a regular file" in str(rec.calls[-1][1])
        assert w._thread.is_alive()
    finally:
        w.stop()


# -- the watcher is supervised -------------------------------------------------------------------


def test_the_watcher_survives_a_loader_that_raises_and_then_recovers(home: Path) -> None:
    rec = Recorder()
    state = {"raise": True}

    def taxonomy_loader() -> tuple[Any, str | None]:
        if state["raise"]:
            raise ValueError("a loader bug")
        return None, None

    w = PolicyWatcher(home, submit=rec, interval=0.05, taxonomy_loader=taxonomy_loader)
    w.start()
    try:
        wait_for(lambda: w.failures >= 2, timeout=30)  # the initial load and its fallback
        assert w._thread.is_alive() and rec.calls == []
        state["raise"] = False
        w.trigger()
        wait_for(lambda: rec.calls, timeout=30)
        built, err = rec.calls[-1]
        assert err is None and built is not None and built.kind == "rules"
        assert w._thread.is_alive()
    finally:
        w.stop()
