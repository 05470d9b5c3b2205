"""``taskclf infer rows``: the engine on JSON-lines feature rows, one output record per line.

Lines are consecutive buckets of one stream, in input order; a line without ``bucket_start``
is the previous one + 60 s (the first defaults to ``--start``). Heavy imports happen in ``run``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from engine.errors import TaskclfError

if TYPE_CHECKING:
    from engine.pipeline import Engine

DEFAULT_START = "1970-01-01T00:00:00+00:00"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model-dir", type=Path, help="model bundle directory (default: the rule baseline)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--calibrator-store", type=Path, help="calibrator store bound to --model-dir")
    src.add_argument("--policy", type=Path, help="inference policy file (model, store, thresholds)")
    p.add_argument("--taxonomy", type=Path, help="taxonomy file (.toml, .json, .yaml)")
    p.add_argument("--reject-threshold", type=float, help="global reject threshold, 0 < X < 1")
    p.add_argument("--smooth-window", type=int, help="rolling-majority window in buckets (default 3)")
    p.add_argument("--input", type=Path, help="JSON-lines input (default: stdin)")
    p.add_argument(
        "--on-error", choices=("stop", "skip"), default="stop",
        help="on a bad input line: stop (exit 1) or report it and go on",
    )
    p.add_argument(
        "--start", default=DEFAULT_START,
        help="bucket_start of the first line when it has none (ISO-8601, default %(default)s)",
    )


def build_engine(args: argparse.Namespace) -> Engine:
    from engine.bundle import load_bundle
    from engine.calibrator_store import load_calibrator_store
    from engine.paths import resolve_home
    from engine.pipeline import DEFAULT_SMOOTH_WINDOW, Engine
    from engine.policy import load_policy
    from engine.taxonomy import load_taxonomy

    taxonomy = load_taxonomy(args.taxonomy) if args.taxonomy is not None else None
    if args.policy is not None:
        if args.model_dir is not None:
            raise TaskclfError("use either --policy or --model-dir (with --calibrator-store)")
        loaded = load_policy(resolve_home(None), args.policy)
        pol = loaded.policy
        return Engine.from_artifacts(
            loaded.bundle,
            loaded.store,
            reject_threshold=args.reject_threshold if args.reject_threshold is not None else pol.reject_threshold,
            per_user_thresholds=pol.per_user_reject_thresholds,
            smooth_window=args.smooth_window if args.smooth_window is not None else pol.smooth_window,
            taxonomy=taxonomy,
        )
    window = args.smooth_window if args.smooth_window is not None else DEFAULT_SMOOTH_WINDOW
    if args.model_dir is None:
        if args.calibrator_store is not None:
            raise TaskclfError("--calibrator-store needs --model-dir")
        if args.reject_threshold is not None:
            from engine.pipeline import check_threshold

            check_threshold(args.reject_threshold)
        return Engine.rules(taxonomy=taxonomy, smooth_window=window)
    bundle = load_bundle(args.model_dir)
    store = (
        load_calibrator_store(args.calibrator_store, bundle=bundle)
        if args.calibrator_store is not None
        else None
    )
    return Engine.from_artifacts(
        bundle, store, reject_threshold=args.reject_threshold, smooth_window=window, taxonomy=taxonomy
    )


def _lines(stream: IO[bytes]) -> Iterator[bytes]:
    yield from stream


def infer_lines(
    engine: Engine,
    lines: Iterable[bytes | str],
    out: IO[str],
    *,
    on_error: str = "stop",
    start: str = DEFAULT_START,
    err: IO[str] | None = None,
) -> tuple[int, int]:
    """Feed ``lines`` through ``engine``; write one JSON record per row to ``out``.

    Returns (records written, bad lines). With ``on_error="stop"`` the first bad line raises
    ``TaskclfError`` (records before it are already written).
    """
    import json

    from engine.errors import ArtifactError
    from engine.pipeline import next_bucket, parse_bucket_start
    from engine.rows import parse_row_line

    err = err if err is not None else sys.stderr
    prev = None
    first = parse_bucket_start(start, field="--start")
    written = bad = 0
    dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode
    for n, line in enumerate(lines, start=1):
        try:
            row = parse_row_line(line, line_no=n)
            if row is None:
                continue
            ts = row.bucket_start or (next_bucket(prev) if prev is not None else first)
            if prev is not None and ts <= prev:
                raise ArtifactError(f"line {n}", "bucket_start", "is not after the previous line's bucket")
            rec = engine.step(row.features, user_id=row.user_id, bucket_start=ts, session_id=row.session_id)
        except ArtifactError as exc:
            bad += 1
            if on_error == "stop":
                raise TaskclfError(str(exc)) from None
            print(f"taskclf: skipped {exc}", file=err)
            continue
        prev = ts
        out.write(dumps(rec.to_json()))
        out.write("\n")
        written += 1
    return written, bad


def run(args: argparse.Namespace) -> int:
    engine = build_engine(args)
    out = sys.stdout
    try:
        with contextlib.ExitStack() as stack:
            if args.input is not None:
                try:
                    fh: IO[bytes] = stack.enter_context(open(args.input, "rb"))
                except OSError as exc:
                    raise TaskclfError(f"{args.input}: cannot read ({exc.strerror})") from None
            else:
                fh = sys.stdin.buffer
            _, bad = infer_lines(engine, _lines(fh), out, on_error=args.on_error, start=args.start)
    finally:
        out.flush()
    if bad:
        print(f"taskclf: {bad} bad line(s) skipped", file=sys.stderr)
    return 0
