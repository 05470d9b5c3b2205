"""``taskclf models install / list / pack``: a verified bundle becomes live; anything refused
leaves the home byte for byte as it was, with one line saying why."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.bundle_archive import sums_text, unpack_archive
from engine.cli.main import main
from engine.errors import ArtifactError
from engine.model_install import install_bundle, list_models
from engine.policy import load_policy
from tests.engine_helpers import BUNDLE_ID, SEED_BUNDLE, policy_obj, seed_home, write_json


def _snapshot(home: Path) -> dict[str, str]:
    return {p.relative_to(home).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(home.rglob("*"))}


def _bundle_folder(tmp: Path, *, calibration: dict | None = None, name: str = BUNDLE_ID) -> Path:
    d = tmp / "share" / name
    shutil.copytree(SEED_BUNDLE, d)
    if calibration is not None:
        write_json(d / "calibration.json", calibration)
    (d / "SHA256SUMS").write_text(sums_text(d))
    return d


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _tar_of(folder: Path, out: Path) -> Path:
    members: list[tuple[tarfile.TarInfo, bytes | None]] = []
    top = tarfile.TarInfo(folder.name)
    top.type = tarfile.DIRTYPE
    members.append((top, None))
    for p in sorted(folder.iterdir()):
        data = p.read_bytes()
        info = tarfile.TarInfo(f"{folder.name}/{p.name}")
        info.size = len(data)
        members.append((info, data))
    return _tar(out, members)


def _cli_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 1
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    return err


TEMPERATURE = {"global_calibrator": {"type": "temperature", "temperature": 1.7},
               "reject_threshold": 0.42, "smooth_window": 5}


def test_folder_install_makes_the_bundle_live_with_its_global_calibrator(home: Path, tmp_path: Path) -> None:
    src = _bundle_folder(tmp_path, calibration=TEMPERATURE)
    out = install_bundle(home, src, personalise=lambda h: "ran")
    loaded = load_policy(home)
    assert loaded.bundle.run_id == BUNDLE_ID
    assert loaded.policy.reject_threshold == 0.42
    assert loaded.policy.smooth_window == 5
    assert loaded.store is not None
    assert loaded.store.global_calibrator.to_json() == {"type": "temperature", "temperature": 1.7}
    assert loaded.store.user_calibrators == {}
    assert out.personalisation == "ran"
    models, note = list_models(home)
    assert [(m.run_id, m.live) for m in models] == [(BUNDLE_ID, True)]
    assert note is None
    assert not [p for p in (home / "models").iterdir() if p.name.startswith(".install-")]


def test_install_without_calibration_uses_identity_and_the_default_threshold(home: Path, tmp_path: Path) -> None:
    install_bundle(home, _bundle_folder(tmp_path))
    loaded = load_policy(home)
    assert loaded.store is not None and loaded.store.global_calibrator.to_json() == {"type": "identity"}
    assert loaded.policy.reject_threshold == 0.55


def test_pack_then_install_carries_the_live_global_calibration_and_no_user_calibrators(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_home(home)
    write_json(home / "models" / "inference_policy.json", policy_obj())
    archive = tmp_path / "team.tar.gz"
    assert main(["models", "pack", "--out", str(archive)]) == 0
    with tarfile.open(archive) as tar:
        names = sorted(m.name for m in tar.getmembers())
        cal = json.loads(tar.extractfile(f"{BUNDLE_ID}/calibration.json").read())  # type: ignore[union-attr]
    assert f"{BUNDLE_ID}/SHA256SUMS" in names
    assert "user-a" not in json.dumps(cal)
    assert cal["reject_threshold"] == 0.5
    other = tmp_path / "other"
    other.mkdir()
    assert main(["--home", str(other), "models", "install", str(archive), "--no-personalize"]) == 0
    assert "installed and live" in capsys.readouterr().out
    loaded = load_policy(other)
    assert loaded.store is not None
    assert loaded.store.global_calibrator.to_json() == cal["global_calibrator"]
    assert main(["--home", str(other), "models", "list"]) == 0
    assert f"* {BUNDLE_ID}" in capsys.readouterr().out


def test_a_new_install_replaces_the_live_policy(home: Path, tmp_path: Path) -> None:
    seed_home(home)
    write_json(home / "models" / "inference_policy.json", policy_obj())
    install_bundle(home, _bundle_folder(tmp_path, calibration=TEMPERATURE, name="team-2026-12"))
    assert load_policy(home).bundle.run_id == "team-2026-12"
    assert [(m.run_id, m.live) for m in list_models(home)[0]] == [(BUNDLE_ID, False), ("team-2026-12", True)]


def _corrupt_model(folder: Path) -> None:
    text = (folder / "model.txt").read_text()
    (folder / "model.txt").write_text(text.replace("num_class=8", "num_class=7", 1))


@pytest.mark.parametrize(
    "case, match",
    [
        ("corrupt model", "num_class|model_sha256"),
        ("wrong sha256", "sha256 does not match the file"),
        ("unlisted file", "file is not listed"),
        ("bad calibration", "reject_threshold"),
    ],
)
def test_a_refused_bundle_changes_nothing(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, match: str
) -> None:
    seed_home(home)
    write_json(home / "models" / "inference_policy.json", policy_obj())
    src = _bundle_folder(tmp_path, calibration=TEMPERATURE, name="incoming")
    if case == "corrupt model":
        _corrupt_model(src)
        (src / "SHA256SUMS").write_text(sums_text(src))
    elif case == "wrong sha256":
        (src / "metrics.json").write_text("{}")
    elif case == "unlisted file":
        (src / "notes.txt").write_text("hello")
    else:
        write_json(src / "calibration.json", {**TEMPERATURE, "reject_threshold": 1.5})
        (src / "SHA256SUMS").write_text(sums_text(src))
    before = _snapshot(home)
    for source in (src, _tar_of(src, tmp_path / "incoming.tar.gz")):
        err = _cli_error(capsys, ["models", "install", str(source)])
        assert re.search(match, err), err
        assert _snapshot(home) == before


def _info(name: str, **kw: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    for k, v in kw.items():
        setattr(info, k, v)
    return info


@pytest.mark.parametrize(
    "members, match",
    [
        ([(_info("../evil.txt", size=2), b"hi")], "leaves the bundle folder"),
        ([(_info("/etc/evil", size=2), b"hi")], "leaves the bundle folder"),
        ([(_info("b/../../evil", size=2), b"hi")], "leaves the bundle folder"),
        ([(_info("b/link", type=tarfile.SYMTYPE, linkname="/etc/passwd"), None)], "links and devices"),
        ([(_info("b/hard", type=tarfile.LNKTYPE, linkname="b/model.txt"), None)], "links and devices"),
        ([(_info("b/fifo", type=tarfile.FIFOTYPE), None)], "links and devices"),
        ([(_info("b/sub/model.txt", size=2), b"hi")], "directly inside one bundle folder"),
        ([(_info("a/x.txt", size=1), b"x"), (_info("b/y.txt", size=1), b"y")], "exactly one bundle folder"),
        ([(_info("b/model.txt", size=2), b"hi")], "SHA256SUMS: required"),
    ],
)
def test_hostile_archives_are_refused_in_one_line(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], members: list, match: str
) -> None:
    archive = _tar(tmp_path / "hostile.tar.gz", members)
    before = _snapshot(home)
    err = _cli_error(capsys, ["models", "install", str(archive)])
    assert match in err
    assert _snapshot(home) == before
    assert not (tmp_path / "evil.txt").exists()


def test_not_a_gzip_archive_is_refused(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bogus = tmp_path / "x.tar.gz"
    bogus.write_bytes(b"not a tarball at all")
    assert "not a readable .tar.gz" in _cli_error(capsys, ["models", "install", str(bogus)])


def test_a_symlink_in_a_bundle_folder_is_refused(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _bundle_folder(tmp_path)
    (src / "metrics.json").unlink()
    (src / "metrics.json").symlink_to("/etc/passwd")
    assert "links and folders are refused" in _cli_error(capsys, ["models", "install", str(src)])
    assert _snapshot(home) == {}


def test_a_different_bundle_under_an_installed_run_id_is_refused(home: Path, tmp_path: Path) -> None:
    install_bundle(home, _bundle_folder(tmp_path))
    other = tmp_path / "second"
    other.mkdir()
    src = _bundle_folder(other)
    text = (src / "model.txt").read_text()
    (src / "model.txt").write_text(text + "\n")
    src_meta = json.loads((src / "metadata.json").read_text())
    src_meta.pop("model_sha256", None)
    write_json(src / "metadata.json", src_meta)
    (src / "SHA256SUMS").write_text(sums_text(src))
    before = _snapshot(home)
    with pytest.raises(ArtifactError, match="different bundle with this run id"):
        install_bundle(home, src)
    assert _snapshot(home) == before


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(alphabet="ab./\\-_", min_size=1, max_size=12))
def test_no_member_name_writes_outside_the_staging_folder(tmp_path: Path, name: str) -> None:
    """Whatever a member is called, extraction either refuses it or writes inside ``dest``."""
    work = tmp_path / f"w{abs(hash(name))}"
    dest = work / "dest"
    dest.mkdir(parents=True)
    archive = _tar(work / "a.tar.gz", [(_info(name, size=1), b"x"), (_info("b/SHA256SUMS", size=0), b"")])
    try:
        unpack_archive(archive, dest)
    except ArtifactError:
        pass
    written = {p for p in work.rglob("*") if p.is_file()} - {archive}
    assert all(p.resolve().is_relative_to(dest.resolve()) for p in written), written


def test_personalisation_is_skipped_with_a_reason_on_a_home_without_activity(home: Path, tmp_path: Path) -> None:
    from engine.model_install import personalise_this_user

    out = install_bundle(home, _bundle_folder(tmp_path), personalise=personalise_this_user)
    assert out.personalisation == "skipped: no activity recorded in this home yet"


def test_a_running_agent_picks_the_installed_bundle_up_by_hot_reload(home: Path, tmp_path: Path) -> None:
    from agent.reload import PolicyWatcher
    from tests.agent_helpers import wait_for

    seed_home(home)
    write_json(home / "models" / "inference_policy.json", policy_obj())
    calls: list[tuple[object, str | None]] = []
    watcher = PolicyWatcher(home, submit=lambda built, err: calls.append((built, err)), interval=0.1)
    watcher.start()
    try:
        wait_for(lambda: calls, timeout=60)
        assert getattr(calls[-1][0], "model_id", None) == BUNDLE_ID
        install_bundle(home, _bundle_folder(tmp_path, calibration=TEMPERATURE, name="team-2026-12"))
        wait_for(lambda: getattr(calls[-1][0], "model_id", None) == "team-2026-12", timeout=60)
        assert calls[-1][1] is None
    finally:
        watcher.stop()
