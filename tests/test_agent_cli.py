"""The agent's commands and small parts: doctor, single instance, argument errors, identity,
redacted logs, and what `import agent.runtime` (and a running agent) pulls into memory."""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.identity import load_or_create_identity, load_or_create_title_key
from agent.lock import AlreadyRunning, InstanceLock
from agent.logs import redact, setup_logging
from engine.errors import ArtifactError

ROOT = Path(__file__).resolve().parent.parent


def taskclf(*args: str, home: Path, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    e = dict(os.environ if env is None else env)
    e.pop("DISPLAY", None)
    return subprocess.run([sys.executable, "-m", "engine.cli.main", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=timeout, env=e, cwd=ROOT)


def test_doctor_json_reports_backends_paths_and_model(home: Path) -> None:
    r = taskclf("doctor", "--json", home=home)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["home"] == str(home)
    assert rep["backend"] == "none"  # no DISPLAY here
    assert set(rep["backends"]) == {"x11", "windows", "macos", "activitywatch", "none"}
    assert rep["backends"]["x11"]["available"] is False
    assert "DISPLAY" in rep["backends"]["x11"]["reason"]
    assert rep["backends"]["none"]["missing_signals"]
    assert rep["model"]["status"].startswith("rules")
    text = taskclf("doctor", home=home)
    assert text.returncode == 0 and "backend:" in text.stdout and "model:" in text.stdout


def test_doctor_reports_a_refused_policy(home: Path) -> None:
    (home / "models").mkdir()
    (home / "models" / "inference_policy.json").write_text("{not json")
    rep = json.loads(taskclf("doctor", "--json", home=home).stdout)
    assert rep["model"]["status"] == "refused" and "JSON" in rep["model"]["reason"]


def test_second_instance_says_so_and_exits_zero(home: Path) -> None:
    lock = InstanceLock(home)
    lock.acquire()
    try:
        r = taskclf("agent", "--headless", "--backend", "none", "--duration", "5", home=home)
        assert r.returncode == 0
        assert "already running" in r.stdout
        with pytest.raises(AlreadyRunning, match="taskclf is already running for"):
            InstanceLock(home).acquire()
    finally:
        lock.release()
    InstanceLock(home).acquire()  # released: free again


def test_headless_runs_for_a_duration_and_prints_buckets(home: Path) -> None:
    r = taskclf("agent", "--headless", "--backend", "none", "--duration", "2.5",
                "--bucket-seconds", "1", "--sample-seconds", "0.1", home=home)
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stdout.splitlines() if not ln.startswith("#")]
    assert len(lines) >= 2
    # no window with --backend none: the day-one rules are unsure (no confidence shown)
    assert all("rules" in ln and ("%" in ln or " unsure " in ln) for ln in lines), lines


@pytest.mark.parametrize("args, needle", [
    (["agent", "--headless", "--bucket-seconds", "7"], "--bucket-seconds"),
    (["infer", "online", "--model-dir", "/etc"], "escapes"),
    (["infer", "online", "--calibrator-store", "x"], "--model-dir"),
])
def test_bad_arguments_give_one_line(home: Path, args: list[str], needle: str) -> None:
    r = taskclf(*args, home=home)
    assert r.returncode == 1
    assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_identity_and_title_key_are_created_once_with_0600(home: Path) -> None:
    a = load_or_create_identity(home)
    b = load_or_create_identity(home)
    assert a == b and a.user_id != a.device_id
    key = load_or_create_title_key(home)
    assert len(key) == 32 and load_or_create_title_key(home) == key
    for name in ("identity.json", "title.key"):
        assert (home / name).stat().st_mode & 0o777 == 0o600


def test_broken_identity_is_refused_with_one_line(home: Path) -> None:
    (home / "identity.json").write_text('{"user_id": "not-a-uuid", "device_id": 3}')
    with pytest.raises(ArtifactError, match=r"identity\.json: user_id") as err:
        load_or_create_identity(home)
    assert "identity.json: user_id" in str(err.value)


def test_logs_are_redacted_and_rotating(home: Path) -> None:
    assert "<redacted>" in redact("opened https://example.com/secret?q=1 now")
    assert "alice@example.com" not in redact("mail from alice@example.com")
    path = setup_logging(home)
    assert path is not None
    logging.getLogger("taskclf.test").warning("title was '%s'", "Quarterly secret plan")
    for h in logging.getLogger("taskclf").handlers:
        h.flush()
    text = path.read_text()
    assert "Quarterly secret plan" not in text and "<redacted>" in text
    assert path.stat().st_mode & 0o777 == 0o600


def test_log_files_are_private_even_after_rotation_and_an_older_wider_file(home: Path) -> None:
    logs = home / "logs"
    logs.mkdir(parents=True)
    (logs / "agent.log").write_text("older\n")
    os.chmod(logs / "agent.log", 0o644)
    path = setup_logging(home)
    assert path is not None and path.stat().st_mode & 0o777 == 0o600
    handler = next(h for h in logging.getLogger("taskclf").handlers
                   if isinstance(h, logging.handlers.RotatingFileHandler))
    handler.doRollover()
    logging.getLogger("taskclf.test").warning("after the rollover")
    handler.flush()
    assert sorted(p.name for p in logs.iterdir()) == ["agent.log", "agent.log.1"]
    assert {p.stat().st_mode & 0o777 for p in logs.iterdir()} == {0o600}
    assert "after the rollover" in path.read_text()


def test_running_agent_imports_no_heavy_or_gui_modules(home: Path) -> None:
    code = (
        "import sys, time, json\n"
        "from pathlib import Path\n"
        "from agent.runtime import AgentRuntime\n"
        f"rt = AgentRuntime(Path({str(home)!r}), backend='none', bucket_seconds=1,"
        " sample_seconds=0.1)\n"
        "rt.start(); time.sleep(1.5); rt.stop()\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=ROOT, env=env, check=True).stdout
    mods = set(json.loads(out.strip().splitlines()[-1]))
    assert not mods & {"sklearn", "scipy", "pandas", "lightgbm", "pystray", "PIL", "tkinter",
                       "gi", "trainer"}


@pytest.mark.slow
def test_infer_online_overrides_replace_the_policy_for_the_run(home: Path, seed_dir: Path) -> None:
    import shutil

    bundle = next((seed_dir / "models").iterdir())
    shutil.copytree(bundle, home / "models" / bundle.name)
    shutil.copytree(seed_dir / "calibrator_store_temperature",
                    home / "artifacts" / "calibrator_store")
    r = taskclf("infer", "online", "--model-dir", f"models/{bundle.name}",
                "--calibrator-store", "artifacts/calibrator_store", "--backend", "none",
                "--duration", "4", "--bucket-seconds", "1", "--sample-seconds", "0.1", home=home)
    assert r.returncode == 0, r.stderr
    assert f"# engine: {bundle.name}" in r.stdout
    assert any(ln.endswith(bundle.name) for ln in r.stdout.splitlines() if not ln.startswith("#"))
    assert not (home / "models" / "inference_policy.last_good.json").exists()


def test_logged_exceptions_keep_the_place_but_not_the_text(home: Path) -> None:
    path = setup_logging(home)
    assert path is not None
    try:
        raise ValueError("Quarterly-secret-title")
    except ValueError:
        logging.getLogger("taskclf.test").exception("a failure")
    for h in logging.getLogger("taskclf").handlers:
        h.flush()
    text = path.read_text()
    assert "Quarterly-secret-title" not in text
    assert "ValueError at test_agent_cli.py:" in text


def test_doctor_detects_wayland_without_x(home: Path) -> None:
    env = dict(os.environ, WAYLAND_DISPLAY="wayland-0", XDG_SESSION_TYPE="wayland")
    env.pop("DISPLAY", None)
    r = taskclf("doctor", "--json", home=home, env=env)
    rep = json.loads(r.stdout)
    assert rep["session"]["wayland"] is True and rep["backend"] == "none"
    assert "Wayland" in taskclf("doctor", home=home, env=env).stdout


def test_snapshot_carries_the_backend_permissions_and_notes(home: Path) -> None:
    from agent.sampler._macos import MacBackend
    from tests.agent_helpers import make_runtime
    from tests.test_sampler_backends import FakeMac

    rt = make_runtime(home, MacBackend(FakeMac(ax=False, im=True)))
    rt.start()
    try:
        snap = rt.snapshot()
        assert snap.sampler_backend == "macos"
        assert snap.sampler_permissions == {"accessibility": "missing",
                                            "input_monitoring": "granted"}
        assert any("Accessibility" in n for n in snap.sampler_notes)
        assert "title" in snap.missing_signals
    finally:
        rt.stop()


def test_ctrl_c_finalises_the_open_bucket(home: Path) -> None:
    import signal
    import time

    from engine.paths import store_path
    from engine.store import Store

    env = dict(os.environ)
    env.pop("DISPLAY", None)
    p = subprocess.Popen([sys.executable, "-m", "engine.cli.main", "--home", str(home), "agent",
                          "--headless", "--backend", "none"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    assert p.stdout is not None
    assert p.stdout.readline().startswith("# taskclf agent")
    time.sleep(2.0)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    st = Store.open(store_path(home), readonly=True)
    recs = list(st.records())
    preds = st.predictions()
    st.close()
    assert len(recs) >= 1 and len(preds) == len(recs)
    assert 0 < recs[-1].observed_seconds < 60  # the partial bucket of the stop
    shown = recs[-1].bucket_start.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    assert shown in out  # and its line was printed
