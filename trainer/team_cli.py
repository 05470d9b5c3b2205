"""The team commands of the trainer: ``export dataset`` (needs taskclf[team] for pyarrow)."""

from __future__ import annotations

import argparse
import sys

from engine.cli.argtypes import local_day
from engine.cli.registry import CommandRegistry


def _dataset_configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, metavar="DIR", help="a new (or empty) folder to write")
    p.add_argument("--from", dest="start", type=local_day, default=None, help="first local day (YYYY-MM-DD)")
    p.add_argument("--to", dest="end", type=local_day, default=None, help="last local day (YYYY-MM-DD)")


def _dataset_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from engine.errors import TaskclfError
    from engine.paths import resolve_home

    if args.start and args.end and args.start > args.end:
        raise TaskclfError("--from is after --to")
    try:
        from trainer.dataset_export import export_dataset
    except ImportError as exc:
        raise TaskclfError("export dataset needs pyarrow: install taskclf[team]") from exc
    out = export_dataset(resolve_home(None), Path(args.out), start=args.start, end=args.end)
    m = out.manifest
    sys.stdout.write(f"wrote {m['rows']:,} labelled buckets of {m['users']} user(s) in {len(m['files'])} "
                     f"file(s) to {out.out_dir} (manifest.json lists them with their SHA-256)\n")
    return 0


def register(reg: CommandRegistry) -> None:
    reg.group("export", "show taskclf's labels in another tool")
    reg.add("export dataset", help="this home's labelled feature rows as Parquet, to share with a team",
            configure=_dataset_configure, run=_dataset_run)
