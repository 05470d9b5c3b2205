"""``taskclf features build``: activity records (JSON lines) -> v2 feature rows (JSON lines).

Lets a user or a test check the one feature builder from outside. Records of several users
may be mixed in one file: each user gets its own builder, rows come out in input order. Hour
and day come from each record's ``utc_offset_minutes``; ``--tz`` only fills records that lack
it. A bad line stops the run with ``FILE:LINE: field: reason`` and ``--output`` is left
untouched (rows go to a temporary file that replaces it only at the end).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

MAX_LINE_CHARS = 1_000_000


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input", default="-", metavar="FILE",
                   help="activity records, one JSON object per line ('-' = stdin, the default)")
    p.add_argument("--output", default="-", metavar="FILE",
                   help="where to write the feature rows ('-' = stdout, the default)")
    p.add_argument("--tz", default=None, metavar="ZONE",
                   help="IANA time zone (e.g. Europe/Berlin) for records without "
                        "utc_offset_minutes; records that have it keep their own offset")


def run(args: argparse.Namespace) -> int:
    import json

    from engine.activity import record_from_json
    from engine.cli.text_output import TextOutput
    from engine.errors import TaskclfError
    from engine.features import FeatureBuilder, FeatureInputError, FeatureRow
    from engine.jsonio import loads_strict

    tz = _zone(args.tz) if args.tz else None
    src_name = "<stdin>" if args.input == "-" else args.input
    builders: dict[str, FeatureBuilder] = {}
    written = skipped = 0
    dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode
    with TextOutput(args.output) as out:
        for lineno, line in _lines(args.input):
            where = f"{src_name}:{lineno}"
            if not line.strip():
                continue
            if len(line) > MAX_LINE_CHARS:
                raise TaskclfError(f"{where}: line longer than {MAX_LINE_CHARS} characters")
            obj: Any = loads_strict(line, path=where)
            record = record_from_json(obj, where=where, default_tz=tz)
            builder = builders.get(record.user_id)
            if builder is None:
                builder = builders[record.user_id] = FeatureBuilder()
            try:
                row: FeatureRow | None = builder.push(record)
            except FeatureInputError as exc:
                raise TaskclfError(f"{where}: {exc}") from None
            if row is None:
                skipped += 1
                print(f"{where}: warning: duplicate bucket ignored", file=sys.stderr)
                continue
            out.write(dumps(row.to_json()) + "\n")
            written += 1
    if args.output != "-" or skipped:
        print(f"{written} rows from {len(builders)} user(s)"
              + (f", {skipped} duplicate(s) skipped" if skipped else ""), file=sys.stderr)
    return 0


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from engine.errors import TaskclfError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TaskclfError(f"--tz: unknown time zone {name[:60]!r}") from None


def _lines(path: str) -> Any:
    """(line number, text) pairs; a read or decoding failure is one user error line."""
    from engine.errors import ArtifactError

    if path == "-":
        yield from enumerate(sys.stdin, start=1)
        return
    try:
        with open(path, encoding="utf-8") as fh:
            yield from enumerate(fh, start=1)
    except FileNotFoundError:
        raise ArtifactError(path, None, "file not found") from None
    except UnicodeDecodeError:
        raise ArtifactError(path, None, "not UTF-8 text") from None
    except OSError as exc:
        raise ArtifactError(path, None, f"cannot read ({exc.strerror})") from None
