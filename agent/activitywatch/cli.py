"""``taskclf import activitywatch`` and ``taskclf export activitywatch`` (argument handling)."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from engine.errors import TaskclfError


def parse_when(value: str, option: str, *, end: bool = False) -> float:
    """``YYYY-MM-DD`` (a local day; as ``--to`` the whole day is included) or an ISO-8601
    date-time (local time when it has no offset), as epoch seconds."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = datetime.strptime(text, "%Y-%m-%d")
            if end:
                day += timedelta(days=1)
            return day.astimezone().timestamp()
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise TaskclfError(f"{option}: expected YYYY-MM-DD or an ISO-8601 date-time, got "
                           f"{value[:40]!r}") from None
    if dt.tzinfo is None:
        dt = dt.astimezone()
    if not 1990 <= dt.year <= 2200:
        raise TaskclfError(f"{option}: year {dt.year} is out of range")
    return dt.timestamp()


def _range(args: argparse.Namespace) -> tuple[float | None, float | None]:
    start = parse_when(args.date_from, "--from") if args.date_from else None
    end = parse_when(args.date_to, "--to", end=True) if args.date_to else None
    if start is not None and end is not None and end <= start:
        raise TaskclfError("--to: must be after --from")
    return start, end


def _add_range(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="date_from", metavar="D", default=None,
                   help="first day (YYYY-MM-DD, local) or ISO date-time")
    p.add_argument("--to", dest="date_to", metavar="D", default=None,
                   help="last day, included (YYYY-MM-DD, local) or ISO date-time (excluded)")


def configure_import(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", default=None, metavar="FILE",
                   help="an ActivityWatch export (Settings > Export all buckets as JSON)")
    p.add_argument("--server", default=None, metavar="URL",
                   help="read a running aw-server instead (loopback only, e.g. "
                        "http://127.0.0.1:5600)")
    p.add_argument("--host", default=None, metavar="NAME",
                   help="the host whose buckets to import when the data holds several")
    _add_range(p)
    p.add_argument("--quiet", action="store_true", help="no progress lines")


class _Progress:
    """Progress lines on stderr, at most one every ``every`` seconds."""

    def __init__(self, quiet: bool, every: float = 2.0) -> None:
        self.quiet, self.every = quiet, every
        self._last = -1e18

    def __call__(self, text: str) -> None:
        now = time.monotonic()
        if self.quiet or (now - self._last < self.every and not text.startswith("reading")):
            return
        self._last = now
        print(f"taskclf: {text}", file=sys.stderr, flush=True)


def run_import(args: argparse.Namespace) -> int:
    from agent.activitywatch.importer import import_activitywatch
    from agent.activitywatch.source import ExportFile, ServerSource
    from engine.paths import resolve_home

    if (args.file is None) == (args.server is None):
        raise TaskclfError("import activitywatch: give an export FILE or --server URL (one of them)")
    start, end = _range(args)
    source = ExportFile(Path(args.file)) if args.file else ServerSource(args.server)
    report = import_activitywatch(resolve_home(None), source, host=args.host, start=start,
                                  end=end, progress=_Progress(args.quiet))
    for line in report.lines():
        print(line)
    return 0


def configure_export(p: argparse.ArgumentParser) -> None:
    dest = p.add_mutually_exclusive_group()
    dest.add_argument("--server", default=None, metavar="URL",
                      help="write into a running aw-server (loopback only); default: the "
                           "configured activitywatch_url, else http://127.0.0.1:5600")
    dest.add_argument("--output", default=None, metavar="FILE",
                      help="write an ActivityWatch import file instead")
    _add_range(p)


def run_export(args: argparse.Namespace) -> int:
    from agent.activitywatch.exporter import export_activitywatch
    from engine.paths import resolve_home

    start, end = _range(args)
    report = export_activitywatch(resolve_home(None), server=args.server,
                                  output=Path(args.output) if args.output else None,
                                  start=start, end=end)
    for line in report.lines():
        print(line)
    return 0
