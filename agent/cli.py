"""The agent's commands for the ``taskclf`` dispatcher: agent, infer online, doctor, tray.

Registered through the ``taskclf.commands`` entry point; imports stay cheap (everything heavy
is imported inside ``run``).
"""

from __future__ import annotations

import argparse

from engine.cli.registry import CommandRegistry


def _backend_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=("x11", "windows", "macos", "activitywatch", "none"), default=None,
                   help="force a sampler backend (default: the one for this OS/session)")
    p.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                   help="stop after this many seconds (default: run until Ctrl+C)")
    p.add_argument("--bucket-seconds", type=int, default=60, help=argparse.SUPPRESS)
    p.add_argument("--sample-seconds", type=float, default=None, help=argparse.SUPPRESS)
    p.add_argument("--time-scale", type=float, default=1.0, help=argparse.SUPPRESS)


def _configure_agent(p: argparse.ArgumentParser) -> None:
    p.add_argument("--headless", action="store_true",
                   help="run without a tray icon, printing one line per closed bucket")
    _backend_arg(p)


def _configure_online(p: argparse.ArgumentParser) -> None:
    _backend_arg(p)
    p.add_argument("--model-dir", default=None, help="bundle directory (replaces the policy)")
    p.add_argument("--calibrator-store", default=None,
                   help="calibrator store directory bound to --model-dir")


def _check_bucket(args: argparse.Namespace) -> None:
    from engine.errors import TaskclfError

    if args.bucket_seconds < 1 or 3600 % args.bucket_seconds:
        raise TaskclfError("--bucket-seconds: must divide 3600")
    if args.duration is not None and args.duration <= 0:
        raise TaskclfError("--duration: must be positive")
    if args.time_scale < 1 or (args.time_scale != 1 and args.duration is None):
        raise TaskclfError("--time-scale: must be >= 1 and needs --duration")


def _run_agent(args: argparse.Namespace) -> int:
    from engine.paths import resolve_home

    _check_bucket(args)
    if not args.headless:
        return _run_tray(args)
    from agent.headless import run_headless

    return run_headless(resolve_home(None), duration=args.duration, backend=args.backend,
                        bucket_seconds=args.bucket_seconds, sample_seconds=args.sample_seconds,
                        time_scale=args.time_scale)


def _run_online(args: argparse.Namespace) -> int:
    from pathlib import Path

    from agent.headless import run_headless
    from agent.runtime import EngineOverrides
    from engine.errors import TaskclfError
    from engine.paths import resolve_home

    _check_bucket(args)
    overrides = None
    if args.calibrator_store and not args.model_dir:
        raise TaskclfError("--calibrator-store: needs --model-dir")
    if args.model_dir:
        home = resolve_home(None)
        mdir = Path(args.model_dir)
        if not mdir.is_absolute():
            mdir = (Path.cwd() / mdir) if (Path.cwd() / mdir).exists() else home / mdir
        cdir = Path(args.calibrator_store) if args.calibrator_store else None
        if cdir is not None and not cdir.is_absolute():
            cdir = (Path.cwd() / cdir) if (Path.cwd() / cdir).exists() else home / cdir
        from agent.reload import build_override_engine

        build_override_engine(home, mdir, cdir, None)  # refuse bad overrides before starting
        overrides = EngineOverrides(model_dir=mdir, calibrator_store=cdir)
    return run_headless(resolve_home(None), duration=args.duration, backend=args.backend,
                        bucket_seconds=args.bucket_seconds, sample_seconds=args.sample_seconds,
                        overrides=overrides, time_scale=args.time_scale)


def _run_tray(args: argparse.Namespace) -> int:
    import sys

    try:
        from agent.tray_main import run_tray  # type: ignore[attr-defined,unused-ignore]
    except ImportError as exc:
        print(f"taskclf: the tray is not available in this install ({exc}); "
              "use `taskclf agent --headless`", file=sys.stderr)
        return 1
    rc = run_tray(args)
    return int(rc or 0)


def _configure_doctor(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _run_doctor(args: argparse.Namespace) -> int:
    from agent.doctor import run_doctor

    return run_doctor(as_json=args.json)


def _configure_tray(p: argparse.ArgumentParser) -> None:
    try:
        from agent.tray_main import configure_parser  # stdlib-only at import time
    except ImportError:
        p.add_argument("--self-test", action="store_true", help="check the install and exit")
        return
    configure_parser(p)
    if not any("--self-test" in a.option_strings for a in p._actions):
        p.add_argument("--self-test", action="store_true",
                       help="check the engine, icon rendering and samplers, then exit")


def _configure_aw_import(p: argparse.ArgumentParser) -> None:
    from agent.activitywatch.cli import configure_import

    configure_import(p)


def _run_aw_import(args: argparse.Namespace) -> int:
    from agent.activitywatch.cli import run_import

    return run_import(args)


def _configure_aw_export(p: argparse.ArgumentParser) -> None:
    from agent.activitywatch.cli import configure_export

    configure_export(p)


def _run_aw_export(args: argparse.Namespace) -> int:
    from agent.activitywatch.cli import run_export

    return run_export(args)


def register(reg: CommandRegistry) -> None:
    reg.group("infer", "run the engine on feature rows or stored buckets")
    reg.group("import", "bring another tracker's history into the store")
    reg.group("export", "show taskclf's labels in another tool")
    reg.add("import activitywatch", help="import an ActivityWatch history (export file or "
            "loopback server) as activity records", configure=_configure_aw_import,
            run=_run_aw_import)
    reg.add("export activitywatch", help="write shown predictions and your labels to "
            "ActivityWatch (its own buckets)", configure=_configure_aw_export,
            run=_run_aw_export)
    reg.add("agent", help="run the agent (--headless: without a tray icon)",
            configure=_configure_agent, run=_run_agent)
    reg.add("infer online", help="alias of `agent --headless`; --model-dir/--calibrator-store "
            "replace the policy for this run", configure=_configure_online, run=_run_online)
    reg.add("doctor", help="paths, sampler backends, permissions, model/policy status",
            configure=_configure_doctor, run=_run_doctor)
    reg.add("tray", help="start the tray agent (same as taskclf-tray)",
            configure=_configure_tray, run=_run_tray)
    _register_privacy(reg)
    from agent.dayview import report

    reg.group("report", "pictures of your time")
    reg.add("report day", help="the day's timeline as an HTML page and a PNG (artifacts/days/)",
            configure=report.configure, run=report.run)


def _register_privacy(reg: CommandRegistry) -> None:
    from agent import privacy_cli as p

    reg.group("privacy", "forget recent time, never track an app, delete all data")
    reg.add("privacy forget", help="forget everything recorded in the last minutes (default 60)",
            configure=p.configure_forget, run=p.run_forget)
    reg.add("privacy exclude-app", help="never track this app (its time is recorded as excluded)",
            configure=p.configure_exclude, run=p.run_exclude)
    reg.add("privacy delete-all", help="delete the store, models, reports, logs and keys",
            configure=p.configure_delete_all, run=p.run_delete_all)
    reg.add("privacy status", help="what is never tracked", configure=p.configure_status,
            run=p.run_status)
