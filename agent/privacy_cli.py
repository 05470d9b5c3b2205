"""``taskclf privacy ...``: the tray's Privacy menu as commands.

Forgetting and deleting need the agent stopped (it holds the store and the open minute in
memory): the command takes the agent's instance lock for its whole run, so no agent can start
in the middle, and says so when an agent is running. Excluding an app only edits
``config.toml``; a running agent picks the change up within seconds.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine.errors import TaskclfError

RUNNING = ("taskclf is running for this data folder: use the tray's Privacy menu, "
           "or quit the agent first")


@contextmanager
def _agent_stopped(home: Path) -> Iterator[None]:
    from agent.lock import AlreadyRunning, InstanceLock

    lock = InstanceLock(home)
    try:
        lock.acquire()
    except AlreadyRunning:
        raise TaskclfError(RUNNING) from None
    try:
        yield
    finally:
        lock.release()


def configure_forget(p: argparse.ArgumentParser) -> None:
    p.add_argument("--last", type=int, default=60, metavar="MINUTES",
                   help="forget this many minutes up to now (default 60)")


def _now() -> datetime:
    return datetime.now(UTC)


def run_forget(args: argparse.Namespace) -> int:
    from agent.forget import forget_since
    from engine.paths import resolve_home, store_path
    from engine.store import Store

    if not 1 <= args.last <= 7 * 24 * 60:
        raise TaskclfError("--last: must be between 1 and 10080 minutes")
    home = resolve_home(None)
    if not store_path(home).exists():
        print("Nothing to forget: no data yet.")
        return 0
    with _agent_stopped(home), Store.open(store_path(home)) as store:
        done = forget_since(home, store, _now() - timedelta(minutes=args.last))
    print(f"Forgot the last {args.last} min: {done.summary()}.")
    return _scrubbed(done.scrubbed)


def _scrubbed(ok: bool) -> int:
    if ok:
        return 0
    print("taskclf: another program (a trainer run?) kept the store's journal busy, so deleted "
          "rows may still be in it; run the command again once it has finished", file=sys.stderr)
    return 1


def configure_exclude(p: argparse.ArgumentParser) -> None:
    p.add_argument("app", help="the app's name or id (as `taskclf report day` and doctor show it)")
    p.add_argument("--forget-past", action="store_true",
                   help="also forget every minute already recorded with this app in front")


def run_exclude(args: argparse.Namespace) -> int:
    from agent.forget import forget_app
    from engine.config_edit import add_to_list
    from engine.paths import ensure_home, resolve_home, store_path
    from engine.privacy import app_id_of
    from engine.store import Store

    try:
        app_id = app_id_of(args.app)
    except ValueError as exc:
        raise TaskclfError(f"app: {exc}") from None
    home = ensure_home(resolve_home(None))
    added = add_to_list(home, "exclude_apps", app_id)
    print(f"{app_id}: {'never tracked from now on' if added else 'already excluded'}.")
    if args.forget_past and store_path(home).exists():
        with _agent_stopped(home), Store.open(store_path(home)) as store:
            done = forget_app(home, store, app_id)
        print(f"Forgot {done.summary()} with {app_id} in front.")
        return _scrubbed(done.scrubbed)
    return 0


def configure_delete_all(p: argparse.ArgumentParser) -> None:
    p.add_argument("--yes", action="store_true", help="confirm: delete everything taskclf stored")


def run_delete_all(args: argparse.Namespace) -> int:
    from agent.forget import delete_everything
    from engine.paths import resolve_home

    if not args.yes:
        raise TaskclfError("this deletes the store, models, reports, logs and keys; "
                           "add --yes to confirm")
    home = resolve_home(None)
    if not home.exists():
        print("Nothing to delete.")
        return 0
    with _agent_stopped(home):
        gone = delete_everything(home)
    print(f"Deleted all taskclf data in {home} ({gone} items); settings kept.")
    return 0


def configure_status(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run_status(args: argparse.Namespace) -> int:
    import json

    from engine.config import load_config
    from engine.paths import resolve_home

    cfg, warnings = load_config(resolve_home(None))
    if args.json:
        print(json.dumps({"exclude_apps": list(cfg.exclude_apps),
                          "exclude_titles": list(cfg.exclude_titles), "warnings": warnings}))
        return 0
    print("Never tracked apps: " + (", ".join(cfg.exclude_apps) or "none"))
    print(f"Excluded title patterns: {len(cfg.exclude_titles)}")
    for w in warnings:
        print(f"warning: {w}")
    return 0
