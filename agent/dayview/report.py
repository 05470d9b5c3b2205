"""``taskclf report day``: write the day's (or week's) page and picture into ``artifacts/days``.

Used by the command and by the tray's "Open today's timeline". Reads the store read-only, so
it runs next to a running agent.
"""

from __future__ import annotations

import argparse
import os
import sys
import webbrowser
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from agent.dayview.model import ZoneOf, load_view, local_zone
from engine.errors import TaskclfError


@dataclass(frozen=True, slots=True)
class Written:
    html: Path
    png: Path
    tracked_minutes: int


def days_of(day: date, week: bool) -> list[date]:
    """``day`` alone, or Monday..Sunday of its week."""
    if not week:
        return [day]
    monday = day - timedelta(days=day.weekday())
    return [monday + timedelta(days=i) for i in range(7)]


def pick_user(home: Path, store: Any, user_id: str | None) -> str:
    """The agent's own user (identity.json), else the store's only user, else ``--user``."""
    if user_id:
        return user_id
    from engine.paths import identity_path

    if identity_path(home).exists():
        from agent.identity import load_or_create_identity

        return load_or_create_identity(home).user_id
    users = store.users()
    if len(users) == 1:
        return str(users[0])
    if not users:
        raise TaskclfError("no data yet: start the agent (taskclf tray) and come back later")
    raise TaskclfError(f"the store has {len(users)} users: choose one with --user")


def write_report(
    home: Path,
    day: date,
    *,
    week: bool = False,
    user_id: str | None = None,
    zone_of: ZoneOf = local_zone,
    now: datetime | None = None,
) -> Written:
    from agent.dayview.html_page import render_html
    from agent.dayview.png import render_png
    from agent.engines import load_config, load_user_taxonomy
    from engine.jsonio import atomic_write_bytes
    from engine.paths import days_dir, store_path
    from engine.store import Store

    if not store_path(home).exists():
        raise TaskclfError("no data yet: start the agent (taskclf tray) and come back later")
    cfg, _ = load_config(home)
    taxonomy, _warning = load_user_taxonomy(home, cfg)
    days = days_of(day, week)
    stamp = (now or datetime.now()).astimezone()
    zone = stamp.tzname() or "local time"
    with Store.open(store_path(home), readonly=True) as store:
        user = pick_user(home, store, user_id)
        view = load_view(store, user, days, zone_of, taxonomy=taxonomy, now=stamp, zone=zone)
    folder = days_dir(home)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    stem = f"week-{days[0].isoformat()}" if week else day.isoformat()
    html = folder / f"{stem}.html"
    atomic_write_bytes(html, render_html(view).encode("utf-8"), mode=0o600)
    png = render_png(view, folder / f"{stem}.png")
    os.chmod(png, 0o600)
    return Written(html, png, view.tracked_minutes)


def open_page(path: Path) -> bool:
    """Open in the user's browser; False when no browser could be started."""
    try:
        return bool(webbrowser.open(path.resolve().as_uri()))
    except webbrowser.Error:
        return False


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--date", default=None, metavar="YYYY-MM-DD", help="the day (default: today)")
    p.add_argument("--week", action="store_true", help="the whole week (Monday to Sunday) of that day")
    p.add_argument("--open", action="store_true", help="open the page in the browser")
    p.add_argument("--user", default=None, help="user id (default: this agent's user)")


def run(args: argparse.Namespace) -> int:
    from engine.paths import resolve_home

    try:
        day = date.fromisoformat(args.date) if args.date else datetime.now().astimezone().date()
    except ValueError:
        raise TaskclfError(f"--date: not a date (YYYY-MM-DD): {args.date!r}") from None
    out = write_report(resolve_home(None), day, week=args.week, user_id=args.user)
    print(out.html)
    print(out.png)
    if args.open and not open_page(out.html):
        print("taskclf: could not start a browser; open the file above", file=sys.stderr)
    return 0
