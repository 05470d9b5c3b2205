"""The trainer's commands: synth, train lgbm|calibrate|tune-reject|evaluate|all, infer batch,
labels import|export|add, demo.

Kept cheap to import: every heavy import (numpy, lightgbm, scikit-learn) happens in ``run``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from engine.cli.argtypes import float_within, int_within, local_day, unit_open
from engine.cli.registry import CommandRegistry
from engine.errors import TaskclfError


def _home() -> Path:
    from engine.paths import ensure_home, resolve_home

    return ensure_home(resolve_home(None))


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _date(value: date | str | None, option: str) -> date | None:
    """A day option (already checked by its argparse type, or a string from a caller)."""
    if value is None or isinstance(value, date):
        return value
    try:
        return local_day(value)
    except argparse.ArgumentTypeError as exc:
        raise TaskclfError(f"{option}: {exc}") from None


def _range(args: argparse.Namespace) -> tuple[date | None, date | None]:
    start = _date(getattr(args, "date_from", None), "--from")
    end = _date(getattr(args, "date_to", None), "--to")
    if start and end and start > end:
        raise TaskclfError(f"--from {start} is after --to {end}")
    return start, end


def _add_range(p: argparse.ArgumentParser, required: bool = False) -> None:
    p.add_argument("--from", dest="date_from", metavar="DATE", required=required, type=local_day,
                   help="first local day (YYYY-MM-DD), inclusive")
    p.add_argument("--to", dest="date_to", metavar="DATE", required=required, type=local_day,
                   help="last local day (YYYY-MM-DD), inclusive")


def _add_store(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", action="append", metavar="PATH",
                   help="a store.sqlite3 to read (repeat to pool several users' stores; default: the home's)")


def _frame(home: Path, args: argparse.Namespace, start: date | None = None, end: date | None = None) -> Any:
    from trainer.dataset import day_range_text, load_frame, open_stores, require_rows

    stores = open_stores(home, getattr(args, "store", None))
    try:
        frame, _stats = load_frame(stores, start=start, end=end)
    finally:
        for s in stores:
            s.close()
    require_rows(frame, what=day_range_text(start, end))
    return frame


# -- synth ------------------------------------------------------------------------------------


def _synth_configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--users", type=int_within(1, 200), default=6, help="number of users (default 6)")
    p.add_argument("--days", type=int_within(1, 400), default=20, help="working days per user (default 20)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--start", metavar="DATE", type=local_day,
                   help="first day (default 2026-03-02, or the latest Monday that ends the history "
                        "before today)")
    p.add_argument("--no-feature-rows", action="store_true",
                   help="store only records and labels (the trainer rebuilds the rows)")


def _synth_run(args: argparse.Namespace) -> int:
    from engine.paths import store_path
    from engine.store import Store
    from trainer.synth import SynthConfig, fit_start, make_users
    from trainer.synth_store import write_synthetic

    start = fit_start(args.days, date.today(), _date(args.start, "--start"))
    cfg = SynthConfig(users=args.users, days=args.days, seed=args.seed, start=start)
    home = _home()
    with Store.open(store_path(home)) as store:
        existing = set(store.users()) & {u.user_id for u in make_users(cfg)}
        if existing:
            raise TaskclfError(
                f"{store_path(home)}: already holds synthetic user(s) {', '.join(sorted(existing)[:3])}: "
                "use a fresh --home"
            )
        _say(f"generating {args.users} users x {args.days} working days (seed {args.seed}) into {home}")
        totals = write_synthetic(store, cfg, home=home, progress=_say, feature_rows=not args.no_feature_rows)
    print(f"synthetic history written: {totals['records']:,} buckets, {totals['feature_rows']:,} feature rows, "
          f"{totals['spans']:,} label spans")
    return 0


# -- train ------------------------------------------------------------------------------------


def _lgbm_configure(p: argparse.ArgumentParser) -> None:
    _add_range(p)
    _add_store(p)
    p.add_argument("--dataset", action="append", metavar="DIR",
                   help="an exported dataset (taskclf export dataset) to train on; repeat to pool a team's")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--holdout-users", type=int_within(0, 1000), default=0, metavar="K",
                   help="K users (chosen from the seed) appear only in test")
    dask = p.add_mutually_exclusive_group()
    dask.add_argument("--dask-scheduler", metavar="ADDRESS",
                      help="train the --dataset rows on this Dask cluster (e.g. tcp://host:8786; taskclf[team])")
    dask.add_argument("--dask-workers", type=int_within(1, 256), metavar="N",
                      help="train the --dataset rows on a local Dask cluster of N worker processes")
    p.add_argument("--dask-timeout", type=float_within(0.1, 3600), default=30.0, metavar="SECONDS",
                   help="how long to wait for the Dask scheduler, and for its first worker (default 30)")


def _split_for(frame: Any, holdout: int, seed: int) -> Any:
    from trainer.splits import labelled_user_days, split_days

    return split_days(labelled_user_days(frame), holdout_users=holdout, seed=seed)


def _lgbm_run(args: argparse.Namespace) -> int:
    from engine.paths import models_dir
    from trainer.train_lgbm import TrainParams, train

    start, end = _range(args)  # every argument is checked before any work
    home = _home()
    if args.dask_scheduler or args.dask_workers:
        if not args.dataset or args.store:
            raise TaskclfError("--dask-scheduler / --dask-workers train from exported datasets: "
                               "give --dataset (and no --store)")
        from trainer.train_dask import train_datasets_on_dask

        res = train_datasets_on_dask([Path(d) for d in args.dataset], models_dir(home), TrainParams(seed=args.seed),
                                     scheduler=args.dask_scheduler, workers=args.dask_workers,
                                     timeout=args.dask_timeout, holdout_users=args.holdout_users,
                                     start=start, end=end, log=_say)
        print(res.bundle_dir)
        return 0
    provenance = "store"
    if args.dataset:
        if args.store:
            raise TaskclfError("--dataset and --store cannot be combined (export each store first)")
        from trainer.dataset import day_range_text, require_rows
        from trainer.dataset_read import load_datasets

        frame = load_datasets([Path(d) for d in args.dataset], start=start, end=end)
        require_rows(frame, what=day_range_text(start, end))
        provenance = "dataset"
    else:
        frame = _frame(home, args, start, end)
    split = _split_for(frame, args.holdout_users, args.seed)
    res = train(frame, split, models_dir(home), TrainParams(seed=args.seed), data_provenance=provenance,
                log=_say)
    print(res.bundle_dir)
    return 0


def _calibrate_configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model-dir", required=True, metavar="M", help="the bundle to calibrate")
    _add_range(p)
    p.add_argument("--method", choices=("temperature", "isotonic"), default="temperature")
    p.add_argument("--out", metavar="DIR", help="new store directory (default artifacts/calibrator_store/<id>)")
    _add_store(p)


def _calibrate_run(args: argparse.Namespace) -> int:
    from trainer.workflow import calibrate, load_bundle_dir

    start, end = _range(args)  # every argument is checked before any work
    home = _home()
    bundle = load_bundle_dir(home, args.model_dir)
    frame = _frame(home, args)
    out = calibrate(home, frame, bundle, method=args.method, start=start, end=end,
                    out_dir=Path(args.out).expanduser().resolve() if args.out else None, progress=_say)
    for u, pu in out.per_user.items():
        b, a = pu["before"], pu["after"]
        _say(f"  {u}: {'eligible' if pu.get('eligible') else 'not eligible (' + str(pu.get('reason')) + ')'}; "
             f"NLL {b['nll']:.3f} -> {a['nll']:.3f}, ECE {b['ece']:.3f} -> {a['ece']:.3f}")
    print(out.store_dir)
    return 0


def _tune_configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model-dir", required=True, metavar="M")
    p.add_argument("--calibrator-store", required=True, metavar="DIR")
    _add_range(p)
    p.add_argument("--reject-cost", type=unit_open, default=0.45, metavar="C",
                   help="cost of a rejected bucket relative to an error (Chow's rule; default 0.45)")
    p.add_argument("--write-policy", action="store_true", help="write models/inference_policy.json atomically")
    _add_store(p)


def _load_store(home: Path, path: str, bundle: Any) -> Any:
    from engine.calibrator_store import load_calibrator_store

    sp = Path(path).expanduser()
    if not sp.is_absolute() and not sp.exists():
        sp = home / sp
    return load_calibrator_store(sp.resolve(), bundle=bundle)


def _tune_run(args: argparse.Namespace) -> int:
    from trainer.workflow import load_bundle_dir, tune_reject

    start, end = _range(args)  # every argument is checked before any work
    home = _home()
    bundle = load_bundle_dir(home, args.model_dir)
    store = _load_store(home, args.calibrator_store, bundle)
    frame = _frame(home, args)
    out = tune_reject(home, frame, bundle, store, start=start, end=end, cost=args.reject_cost,
                      write_policy=args.write_policy, progress=_say)
    r = out.result
    print(f"reject_threshold {r.global_threshold:.4f}  reject_rate {r.global_row['reject_rate']:.3f}  "
          f"per-user {len(r.per_user)}  result {out.result_path}")
    return 0


def _evaluate_configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model-dir", required=True, metavar="M")
    p.add_argument("--calibrator-store", metavar="DIR")
    p.add_argument("--reject-threshold", type=unit_open, metavar="T",
                   help="default: the tuned thresholds of this bundle (reject_tuning.json), else 0.55")
    _add_strict(p)
    _add_store(p)


def _evaluate_run(args: argparse.Namespace) -> int:
    from engine.jsonio import read_json
    from engine.paths import reports_dir
    from trainer.report import write_report
    from trainer.workflow import evaluate_bundle, load_bundle_dir

    home = _home()
    bundle = load_bundle_dir(home, args.model_dir)
    store = _load_store(home, args.calibrator_store, bundle) if args.calibrator_store else None
    threshold, per_user = 0.55, {}
    tuned = reports_dir(home) / bundle.run_id / "reject_tuning.json"
    if tuned.exists():
        obj = read_json(tuned)
        threshold = float(obj["global"]["threshold"])
        per_user = {u: float(v["threshold"]) for u, v in obj.get("per_user", {}).items()}
        if store is None:
            per_user = {}
    if args.reject_threshold is not None:
        threshold, per_user = args.reject_threshold, {}
    from trainer.dataset import open_stores

    stores = open_stores(home, getattr(args, "store", None))
    try:  # the test days are read from the stores a day at a time, never loaded whole
        ev = evaluate_bundle(stores, bundle, store, threshold=threshold, per_user=per_user, progress=_say)
    finally:
        for s in stores:
            s.close()
    from datetime import UTC, datetime

    report = {"run_id": bundle.run_id, "created_at": datetime.now(UTC).isoformat(), "model_dir": str(bundle.path),
              "calibrator_store": str(store.path) if store is not None else None,
              "reject": {"global": {"threshold": threshold},
                         "per_user": {u: {"threshold": t} for u, t in per_user.items()}},
              "evaluation": ev}
    out = write_report(reports_dir(home) / bundle.run_id, report)
    _print_gates(ev)
    print(out / "report.md")
    return 3 if args.strict_gates and ev["failed_gates"] else 0


def _add_strict(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strict-gates", action="store_true",
                   help="exit with status 3 when a quality gate fails (the report is written either way)")


def _print_gates(ev: dict[str, Any]) -> None:
    for name, g in ev["gates"].items():
        v = g["value"]
        vs = "n/a" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))
        _say(f"  {g['status']:4}  {name:34} {vs:>8}  ({g['threshold']})")
    if ev["failed_gates"]:
        from trainer.gate_text import failed_in_plain_words

        _say(f"failed gates: {', '.join(ev['failed_gates'])}")
        for line in failed_in_plain_words(ev["gates"]):
            _say(f"  - {line}")


def _all_configure(p: argparse.ArgumentParser) -> None:
    _add_range(p)
    _add_store(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--holdout-users", type=int_within(0, 1000), default=0, metavar="K")
    p.add_argument("--method", choices=("temperature", "isotonic"), default="temperature")
    p.add_argument("--reject-cost", type=unit_open, default=0.45, metavar="C",
                   help="cost of a rejected bucket relative to an error, 0 < C < 1 (default 0.45)")
    _add_strict(p)


def _all_run(args: argparse.Namespace) -> int:
    from trainer.workflow import retrain_home

    start, end = _range(args)  # every argument is checked before any work
    home = _home()
    frame = _frame(home, args, start, end)
    res = retrain_home(home, frame, seed=args.seed, holdout_users=args.holdout_users, method=args.method,
                       cost=args.reject_cost, progress=_say)
    out = res.result
    if out is None:  # personalised instead
        print(res.message)
        return 0
    _print_gates(out.report["evaluation"])
    print(res.message)
    print(out.report_dir / "report.md")
    return 3 if args.strict_gates and out.report["evaluation"]["failed_gates"] else 0


def _starter_configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", metavar="DIR", help="where to write the bundle (default: the package's "
                   "engine/data/starter)")


def _starter_run(args: argparse.Namespace) -> int:
    from engine.starter import bundle_dir
    from trainer.starter import train_starter

    out = Path(args.out).expanduser().resolve() if args.out else bundle_dir()
    print(train_starter(out, progress=_say))
    return 0


# -- infer batch --------------------------------------------------------------------------------


def _batch_configure(p: argparse.ArgumentParser) -> None:
    _add_range(p, required=True)
    p.add_argument("--model-dir", metavar="M", help="override the policy's bundle")
    p.add_argument("--calibrator-store", metavar="DIR", help="override the policy's calibrator store")
    p.add_argument("--reject-threshold", type=unit_open, metavar="T", help="0 < T < 1")
    p.add_argument("--smooth-window", type=int_within(1, 60), metavar="W", help="1..60 buckets")
    p.add_argument("--user-id", help="only this user")
    p.add_argument("--output", metavar="FILE", help="write JSON lines here (default: stdout)")
    p.add_argument("--jobs", type=int_within(1, 64), metavar="N",
                   help="processes for a long range (default: the cores, at most 8; the lines are "
                        "the same with any number)")
    _add_store(p)


def _batch_run(args: argparse.Namespace) -> int:
    from engine.cli.text_output import TextOutput
    from trainer.dataset import open_stores
    from trainer.infer_batch import engine_maker
    from trainer.infer_parts import default_jobs, write_lines

    start, end = _range(args)  # every argument is checked before any work
    home = _home()
    assert start is not None and end is not None
    engine_args = {"model_dir": args.model_dir, "calibrator_store": args.calibrator_store,
                   "reject_threshold": args.reject_threshold, "smooth_window": args.smooth_window}
    make, source = engine_maker(home, **engine_args)
    target = str(Path(args.output).expanduser().resolve()) if args.output else "-"
    stores = open_stores(home, args.store)
    try:
        with TextOutput(target) as out:  # lines are written as they are made
            written = write_lines(home, stores, make, engine_args, start, end, out, user_id=args.user_id,
                                  jobs=args.jobs if args.jobs is not None else default_jobs())
            if not written:
                raise TaskclfError(f"no buckets between {start} and {end}"
                                   + (f" for {args.user_id}" if args.user_id else ""))
    finally:
        for s in stores:
            s.close()
    _say(f"{written:,} buckets through {source}")
    return 0


# -- labels -----------------------------------------------------------------------------------


def _default_user(home: Path, store: Any) -> str | None:
    """This machine's user: identity.json's user; else the store's only user; on a fresh home
    (no users yet) a new identity.json, as the agent's first start would make; else None."""
    from engine.identity import load_or_create_identity
    from engine.paths import identity_path

    if not identity_path(home).exists():
        users = store.users()
        if users:
            return str(users[0]) if len(users) == 1 else None
    return load_or_create_identity(home).user_id  # a broken identity.json is refused, never replaced


#: Stands for "this machine's user" while a CSV is checked before the store is opened.
_MACHINE_USER = "\x00this machine's user"


def _import_configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE.csv")
    p.add_argument("--skip-bad-lines", action="store_true", help="import the good lines, list the bad ones")
    p.add_argument("--user-id", help="user for rows without a user_id (default: this machine's user)")


def check_no_overlaps(spans: list[Any], source: str) -> None:
    """Spans of one file must not overlap each other (which one would the user mean?)."""
    by_user: dict[str, list[tuple[Any, int]]] = {}
    for i, s in enumerate(spans):
        by_user.setdefault(s.user_id, []).append((s, i))
    for u, items in by_user.items():
        items.sort(key=lambda x: x[0].start_ts)
        for (a, ia), (b, ib) in zip(items, items[1:], strict=False):
            if b.start_ts < a.end_ts:
                raise TaskclfError(
                    f"{source}: spans {ia + 1} and {ib + 1} of user {u} overlap "
                    f"({a.start_ts.isoformat()}..{a.end_ts.isoformat()} and {b.start_ts.isoformat()}..); "
                    "nothing was imported"
                )


def _import_run(args: argparse.Namespace) -> int:
    from engine.labels_csv import import_spans
    from engine.paths import store_path
    from engine.store import Store

    path = Path(args.file).expanduser()
    # The file is read and checked before the home is touched; rows without a user_id are
    # given this machine's user once the store says who that is.
    result = import_spans(path, user_id_default=args.user_id or _MACHINE_USER, skip_bad_lines=args.skip_bad_lines)
    home = _home()
    with Store.open(store_path(home)) as store:
        spans = result.spans
        if any(s.user_id == _MACHINE_USER for s in spans):
            user = _default_user(home, store)
            if not user:
                raise TaskclfError(f"{path}: rows without a user_id need --user-id (this home has several users)")
            spans = [replace(s, user_id=user) if s.user_id == _MACHINE_USER else s for s in spans]
        check_no_overlaps(spans, str(path))
        stored = store.add_label_spans(spans) if spans else []
    for e in result.errors:
        _say(f"skipped: {e}")
    for w in result.warnings:
        _say(f"note: {w}")
    print(f"imported {len(result.spans)} span(s) ({len(stored)} stored piece(s)); "
          f"{len(result.errors)} bad line(s) skipped")
    return 0


def _export_configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output", metavar="FILE", help="write the CSV here (default: stdout)")
    p.add_argument("--user-id")


def _export_run(args: argparse.Namespace) -> int:
    import io

    from engine.labels_csv import export_spans, export_spans_to_path
    from engine.paths import store_path
    from engine.store import Store

    home = _home()
    if not store_path(home).exists():
        raise TaskclfError(f"{store_path(home)}: no store yet (nothing to export)")
    with Store.open(store_path(home), readonly=True) as store:
        spans = store.label_spans(user_id=args.user_id)
    if args.output:
        # Owner-only and atomic: labels are personal data.
        n = export_spans_to_path(spans, Path(args.output).expanduser().resolve())
        _say(f"{n} span(s) written to {args.output}")
    else:
        buf = io.StringIO()
        export_spans(spans, buf)
        sys.stdout.write(buf.getvalue())
    return 0


def _add_configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--start", required=True, help="ISO time; without an offset it is local time")
    p.add_argument("--end", required=True, help="ISO time (exclusive)")
    p.add_argument("--label", required=True, help="Build, Debug, Review, Write, ReadResearch, Communicate, Meet, BreakIdle")
    p.add_argument("--user-id", help="default: this machine's user")
    p.add_argument("--provenance", default="manual", choices=("manual", "correction", "confirmation", "prompt", "import"))


def _add_run(args: argparse.Namespace) -> int:
    from engine.labels_csv import span_from_cli
    from engine.paths import store_path
    from engine.store import Store

    # Checked before the home is touched: times, label, provenance (the user comes later).
    span = span_from_cli(start=args.start, end=args.end, label=args.label, user_id=args.user_id or "-",
                         provenance=args.provenance)
    home = _home()
    with Store.open(store_path(home)) as store:
        user = args.user_id or _default_user(home, store)
        if not user:
            raise TaskclfError("--user-id: needed (this home has no identity.json and several or no users)")
        stored = store.add_label_span(replace(span, user_id=user))
    print(f"labelled {stored.start_ts.isoformat()} .. {stored.end_ts.isoformat()} as {stored.label} for {user}")
    return 0


# -- demo -------------------------------------------------------------------------------------


def _demo_configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--users", type=int_within(2, 50), default=6)
    p.add_argument("--days", type=int_within(10, 400), default=20)
    p.add_argument("--seed", type=int, default=0)


def _demo_run(args: argparse.Namespace) -> int:
    from trainer.demo import run_demo

    home_arg = getattr(args, "home", None)  # only an explicit --home; never the user's real data
    return run_demo(home=Path(home_arg).expanduser().resolve() if home_arg else None, users=args.users,
                    days=args.days, seed=args.seed, out=sys.stdout)


def _isotonic_fitter(raw: Any, y: Any, w: Any, shared: Any, days: Any) -> Any:
    """Per-user isotonic maps for ``taskclf personalize`` (kept as fitted, like the trainer's)."""
    from trainer.calibrate import fit_isotonic

    return fit_isotonic(raw, y, w)


def register(reg: CommandRegistry) -> None:
    from engine.fitters import register_fitter

    register_fitter("isotonic", _isotonic_fitter)
    reg.group("train", "train, calibrate, tune and evaluate models (offline)")
    reg.group("infer", "run the engine on feature rows or stored buckets")
    reg.group("labels", "label spans: import, export, add")
    reg.add("synth", help="write a synthetic multi-user history into the store", configure=_synth_configure,
            run=_synth_run)
    reg.add("train lgbm", help="train a LightGBM bundle into models/<run_id>/", configure=_lgbm_configure,
            run=_lgbm_run)
    reg.add("train calibrate", help="fit a calibrator store bound to a bundle", configure=_calibrate_configure,
            run=_calibrate_run)
    reg.add("train tune-reject", help="tune global and per-user reject thresholds", configure=_tune_configure,
            run=_tune_run)
    reg.add("train evaluate", help="quality report of a bundle on its test days", configure=_evaluate_configure,
            run=_evaluate_run)
    reg.add("train all", help="train, calibrate, tune, write the policy and the quality report",
            configure=_all_configure, run=_all_run)
    reg.add("train starter", help="train the shipped starter model from the synthetic world",
            configure=_starter_configure, run=_starter_run)
    reg.add("infer batch", help="stored buckets through the online engine (JSON lines)",
            configure=_batch_configure, run=_batch_run)
    reg.add("labels import", help="import label spans from CSV", configure=_import_configure, run=_import_run)
    reg.add("labels export", help="export label spans as CSV", configure=_export_configure, run=_export_run)
    reg.add("labels add", help="add one label span", configure=_add_configure, run=_add_run)
    reg.add("demo", help="synthetic history -> train -> calibrate -> tune -> policy -> replay, in about a minute",
            configure=_demo_configure, run=_demo_run)
    from trainer import team_cli

    team_cli.register(reg)
