"""``taskclf-tray`` (GUI script) and ``taskclf tray``: start the agent with its tray icon.

Also ``taskclf-tray --self-test`` (spec 8): loads the bundled starter model, runs a few buckets
through the feature builder and the engine, renders the menu and the icon to PNG, starts this
platform's own sampler and takes one sample (on Linux that needs an X display), and exits 0
only when everything works. The build script runs it on the frozen bundle, so it must not
depend on anything outside the installed package.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("taskclf.tray")

NO_DISPLAY_MESSAGE = (
    "No graphical session found (DISPLAY and WAYLAND_DISPLAY are not set). "
    "Run the headless agent instead: taskclf agent --headless"
)


def configure_parser(p: argparse.ArgumentParser) -> None:
    """The options of ``taskclf tray`` (the dispatcher adds --home and -v)."""
    p.add_argument("--backend", default=None, help="force a sampler backend (see taskclf doctor)")
    p.add_argument("--bucket-seconds", type=int, default=60, help=argparse.SUPPRESS)


def display_problem(
    platform: str = sys.platform, env: os._Environ[str] | dict[str, str] | None = None,
) -> str | None:
    """Why the tray cannot start on this desktop, or None. Checked before choosing a backend."""
    env = os.environ if env is None else env
    if (platform.startswith("linux") or "bsd" in platform) and not env.get("DISPLAY") \
            and not env.get("WAYLAND_DISPLAY"):
        return NO_DISPLAY_MESSAGE
    return None


def desktop_problem(backend: Any, bus_problem: Any = None) -> str | None:
    """What the chosen backend needs from the desktop and does not get (the session bus)."""
    if backend.ui_loop != "glib":
        return None
    from agent.tray.backends import session_bus_problem

    return (bus_problem or session_bus_problem)()


def _host_problem(backend_name: str) -> Any:
    from agent.tray.backends import sni_host_present, tray_host_problem, xembed_host_present

    return lambda: tray_host_problem(backend_name, xembed_host_present, sni_host_present)


def _config(home: Path) -> Any:
    try:
        from engine.config import load_config

        return load_config(home)[0]
    except Exception:  # a broken config never stops the tray; the runtime reports it
        return None


def _start_logging(home: Path) -> Path | None:
    """The same rotating, redacted 0600 log as the headless agent (agent/logs.py)."""
    from agent.logs import setup_logging

    config = _config(home)
    return setup_logging(home, level=str(getattr(config, "log_level", "INFO") or "INFO"),
                         console=True)


def run_tray(args: argparse.Namespace) -> int:
    """Entry of ``taskclf tray``: runtime + tray on the main thread until Quit."""
    from engine.paths import resolve_home

    home = resolve_home(getattr(args, "home", None))
    if getattr(args, "self_test", False):
        return self_test(getattr(args, "self_test_out", None))
    problem = display_problem()
    if problem is not None:
        print(f"taskclf: {problem}", file=sys.stderr)
        return 1
    if sys.platform.startswith("linux"):
        # A tray icon draws no OpenGL; without this GDK maps Mesa/LLVM (~50 MB of RSS).
        os.environ.setdefault("GDK_GL", "disable")
    from agent.lock import AlreadyRunning, InstanceLock

    lock = InstanceLock(home)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        print(f"taskclf: {exc}; nothing to do.")
        return 0
    except OSError as exc:  # a read-only data folder: the runtime reports it in the menu
        log.warning("could not take the single-instance lock: %s", exc)
    restart: list[bool] = []
    try:
        rc = _run_with_lock(home, args, restart)
    finally:
        lock.release()
    if restart:
        restart_fresh()
    return rc


def _refuse(message: str) -> int:
    """One line on stderr (and in the log file), exit status 1."""
    log.warning("not starting: %s", message, extra={"console": False})
    print(f"taskclf: {message}", file=sys.stderr)
    return 1


def _run_with_lock(home: Path, args: argparse.Namespace, restart: list[bool]) -> int:
    """Choose the backend, check the desktop, then run runtime + tray until Quit (``restart``
    gets an entry when the user deleted all data: the caller starts afresh)."""
    from agent.tray.backends import NoTrayBackend, choose_backend

    log_path = _start_logging(home)
    try:
        backend = choose_backend()
    except NoTrayBackend as exc:
        return _refuse(str(exc))
    log.info("tray backend: %s", backend.name)
    problem = desktop_problem(backend)
    if problem is not None:
        return _refuse(problem)

    from agent.autostart import autostart_for, tray_command
    from agent.runtime import AgentRuntime
    from agent.tray.app import TrayApp, trainer_command
    from agent.tray.notifications import STATE_FILE, PromptNotifier, PromptPolicy

    runtime = AgentRuntime(
        home,
        backend=getattr(args, "backend", None),
        bucket_seconds=int(getattr(args, "bucket_seconds", None) or 60),
    )
    app: Any = None
    try:
        config = _config(home)
        policy = PromptPolicy.from_config(config)
        app = TrayApp(
            runtime,
            home,
            backend=backend,
            host_problem=_host_problem(backend.name),
            log_path=log_path,
            autostart=autostart_for(tray_command(home)),
            prompts=PromptNotifier(policy, state_path=home / STATE_FILE),
            notify_enabled=policy.notifications,
            trainer=trainer_command(),
            start_runtime=True,  # after the icon is up: the icon shows "Starting…" at once
        )
        try:
            return app.run()
        except Exception as exc:  # the icon's loop could not start: one line, the rest in the log
            log.warning("the tray could not start", exc_info=True, extra={"console": False})
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return _refuse(f"the tray could not start ({backend.name}: {first[:160]}); "
                           f"details in {log_path or 'the log'}")
    finally:
        runtime.stop()
        if app is not None and app.restart_requested:
            restart.append(True)


def restart_fresh() -> None:
    """After "Delete all my data": the same command again, as a new process image (the lock
    was released first), so nothing of the deleted data survives in memory either."""
    sys.stdout.flush()
    sys.stderr.flush()
    if getattr(sys, "frozen", False):
        os.execv(sys.executable, sys.argv)
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


# ---------------------------------------------------------------- self-test


def sample_once(platform: str = sys.platform, env: dict[str, str] | None = None,
                create: Any = None, timeout: float = 5.0) -> str:
    """Start this platform's own sampler backend and take one sample (the self-test's check).

    Nothing of the sample is printed but which signals it carried: no app name, no title.
    """
    from agent.sampler import create_backend, default_backend_name

    env = dict(os.environ) if env is None else env
    own = "windows" if platform.startswith("win") else "macos" if platform == "darwin" else "x11"
    if own == "x11" and default_backend_name(platform, env) != "x11":
        raise RuntimeError("x11: no X display to sample (DISPLAY is not set); run the self-test "
                           "in a desktop session")
    backend = (create or create_backend)(own)
    result: dict[str, Any] = {}

    def take() -> None:
        try:
            backend.start()
            result["sample"] = backend.sample()
        except Exception as exc:
            result["error"] = exc

    worker = threading.Thread(target=take, name="taskclf-selftest-sample", daemon=True)
    worker.start()
    worker.join(timeout)
    try:
        backend.stop()
    except Exception:
        pass
    if "error" in result:
        exc = result["error"]
        raise RuntimeError(f"{own}: {type(exc).__name__}: {exc}") from None
    if "sample" not in result:
        raise RuntimeError(f"{own}: no sample within {timeout:g} s")
    sample = result["sample"]
    idle = getattr(sample, "idle_seconds", float("nan"))
    if not isinstance(idle, float | int) or idle != idle:
        raise RuntimeError(f"{own}: the sample has no idle time from the OS")
    seen = "a foreground app" if (sample.app_name or getattr(sample, "exe", None)
                                  or getattr(sample, "bundle_id", None)) else "no foreground app"
    missing = backend.missing_signals()
    return (f"{own}: one sample, {seen}, idle {idle:.0f} s"
            + (f", missing {', '.join(missing)}" if missing else ""))


SELFTEST_START = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)  # a Tuesday, 10:00


def _selftest_records(user: str, n: int) -> list[Any]:
    from datetime import timedelta

    from engine.activity import ActivityRecord, Segment
    from engine.apps import identify_app

    # A fixed weekday morning in the past: the model's time-of-day features make the result
    # depend on the hour, and a self-test must give the same answer whenever it runs.
    t0 = SELFTEST_START
    apps = [identify_app("code"), identify_app("firefox"), identify_app("Slack")]
    out = []
    for i in range(n):
        app = apps[i % len(apps)]
        seg = Segment(0.0, 60.0, app.app_id, app.category, app.is_browser, app.is_editor,
                      app.is_terminal, None, "unknown")
        out.append(ActivityRecord(
            user_id=user, device_id="selftest", bucket_start=t0 + timedelta(minutes=i),
            observed_seconds=60.0, utc_offset_minutes=0, segments=(seg,), keys=40.0 + i,
            backspaces=3.0, shortcuts=1.0, clicks=5.0, scrolls=2.0, mouse_px=800.0,
            active_seconds_keyboard=30.0, active_seconds_mouse=20.0, active_seconds_any=45.0,
            max_idle_run_seconds=8.0, leading_idle_seconds=0.0, trailing_idle_seconds=2.0,
            input_events=60.0, sources=("selftest",),
        ))
    return out


def self_test(out_dir: Path | None = None, *, buckets: int = 5) -> int:
    """Exercise engine, menu, icon and samplers without a display; print a table; 0 = ok."""
    from dataclasses import replace

    rows: list[tuple[str, str, str]] = []

    def check(name: str, fn: Any) -> Any:
        t0 = time.perf_counter()
        try:
            detail = fn()
        except Exception as exc:
            rows.append((name, "FAIL", f"{type(exc).__name__}: {exc}"[:160]))
            return None
        rows.append((name, "ok", f"{detail} ({(time.perf_counter() - t0) * 1000:.0f} ms)"))
        return detail if detail is not None else True

    state: dict[str, Any] = {}

    def load_engine() -> str:
        from engine import starter
        from engine.bundle import load_bundle
        from engine.pipeline import Engine

        if not starter.available():
            raise RuntimeError(f"the bundled starter model is missing ({starter.bundle_dir()})")
        bundle = load_bundle(starter.bundle_dir())
        state["engine"] = Engine.from_artifacts(bundle, reject_threshold=0.3)
        return f"bundled model {starter.STARTER_MODEL_ID}"

    def lightgbm_library() -> str:
        from engine.lgbm_c import find_library, load_library

        load_library()
        return find_library().name

    def run_buckets() -> str:
        from engine.features import FeatureBuilder

        engine = state["engine"]
        fb = FeatureBuilder()
        preds = []
        for rec in _selftest_records("selftest-user", buckets):
            row = fb.push(rec)
            if row is None:
                raise RuntimeError("the feature builder dropped a bucket")
            preds.append(engine.step(row.model_features(), user_id=rec.user_id,
                                     bucket_start=rec.bucket_start, session_id=row.session_id))
        if preds[-1].model_id == "rules":
            raise RuntimeError("the buckets were labelled by the rules, not the model")
        state["preds"] = preds
        return f"{len(preds)} buckets, last {preds[-1].smoothed_label} ({preds[-1].confidence:.2f})"

    def render() -> str:
        from datetime import UTC, datetime

        from agent.snapshot import AgentSnapshot, ModelStatus
        from agent.tray.icon import SIZES, icon_state, render_icon, render_template
        from agent.tray.menu_model import MenuContext, build_menu

        engine = state["engine"]
        last = state["preds"][-1]
        kind = "rules" if last.model_id == "rules" else "model"
        snap = AgentSnapshot(user_id="selftest-user", last=last, current_block=engine.current_block,
                             today_blocks=engine.today_blocks(), sampler_backend="selftest",
                             model=ModelStatus(kind=kind, model_id=None if kind == "rules" else last.model_id))
        model = build_menu(snap, MenuContext(now=datetime.now(UTC)))
        target = out_dir or Path(tempfile.mkdtemp(prefix="taskclf-selftest-"))
        target.mkdir(parents=True, exist_ok=True)
        from PIL import Image

        written = 0
        for s in (snap, replace(snap, paused_until="forever")):
            st = icon_state(s)
            for size in SIZES:
                path = target / f"icon-{st.kind}-{size}.png"
                render_icon(st, size).save(path)
                with Image.open(path) as im:
                    if im.size != (size, size):
                        raise RuntimeError(f"{path.name}: wrong size {im.size}")
                written += 1
            render_template(st, 22).save(target / f"icon-{st.kind}-template.png")
        return f"menu '{model.header}', {written} PNGs in {target}"

    check("engine", load_engine)
    check("lightgbm library", lightgbm_library)
    if "engine" in state:
        check("buckets", run_buckets)
    if "preds" in state:
        check("menu and icon", render)
    check("sampler", sample_once)

    width = max(len(r[0]) for r in rows)
    for name, status, detail in rows:
        print(f"{name:<{width}}  {status:<4}  {detail}")
    failed = [r for r in rows if r[1] != "ok"]
    if not failed and len(rows) == 5:
        print("self-test passed")
        return 0
    print("self-test FAILED", file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="taskclf-tray", description="The taskclf tray agent.")
    parser.add_argument("--home", default=None, help="data directory (default: TASKCLF_HOME or the OS default)")
    parser.add_argument("--self-test", action="store_true",
                        help="check the engine, icon rendering and samplers without a display, then exit")
    parser.add_argument("--self-test-out", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("-v", "--verbose", action="count", default=0)
    configure_parser(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose > 1 else
                        logging.INFO if args.verbose else logging.WARNING)
    if args.home:
        os.environ["TASKCLF_HOME"] = str(Path(args.home).expanduser().resolve())
    if args.self_test:
        return self_test(args.self_test_out)
    return run_tray(args)


if __name__ == "__main__":
    sys.exit(main())
