"""``taskclf infer batch``: stored buckets through the very same ``Engine`` the agent runs.

For each user the buckets of the chosen local days are fed in time order to one engine built
from the inference policy (or the ``--model-dir`` / ``--calibrator-store`` overrides). The
engine's smoothing window is warmed up with the earlier buckets of the session the first
chosen bucket belongs to, as the running agent would have seen them, so the records are the
ones the online engine produced.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from engine.errors import TaskclfError
from engine.store_rows import DEFAULT_SPAN, OnChunk, user_rows
from trainer.dataset import utc_bounds

log = logging.getLogger(__name__)


def load_taxonomy_or_identity(home: Path) -> Any:
    """The user's taxonomy when there is a valid one (as the agent does), else identity."""
    from engine.errors import ArtifactError
    from engine.paths import taxonomy_path
    from engine.taxonomy import Taxonomy, load_taxonomy

    p = taxonomy_path(home)
    if not p.exists():
        return Taxonomy.identity()
    try:
        return load_taxonomy(p)
    except ArtifactError as exc:
        log.warning("taxonomy refused, using one bucket per label: %s", exc)
        return Taxonomy.identity()


def engine_maker(
    home: Path,
    *,
    model_dir: str | None = None,
    calibrator_store: str | None = None,
    reject_threshold: float | None = None,
    smooth_window: int | None = None,
) -> tuple[Callable[[], Any], str]:
    """A factory of fresh engines (one per user) and a description of where it came from."""
    from engine.pipeline import Engine

    taxonomy = load_taxonomy_or_identity(home)
    if model_dir is None:
        if calibrator_store is not None:
            raise TaskclfError("--calibrator-store needs --model-dir (the store is bound to a bundle)")
        from engine.paths import policy_path
        from engine.policy import load_policy

        if not policy_path(home).exists():
            # no model yet: exactly what the agent runs on day one (same engine, same tables)
            from engine.desktop_tables import load_user_tables
            from engine.starter import day_one_engine, day_one_kind

            for warning in load_user_tables(home):
                log.warning("%s", warning)
            if reject_threshold is not None or smooth_window is not None:
                raise TaskclfError("--reject-threshold / --smooth-window need a policy or --model-dir "
                                   "(day one runs as the agent does)")

            def day_one() -> Any:
                return day_one_engine(taxonomy)

            kind = day_one_kind()
            return day_one, ("the starter model" if kind == "starter" else "the rules") + " (no policy yet, as the agent)"
        loaded = load_policy(home)
        pol = loaded.policy

        def from_policy() -> Any:
            return Engine.from_artifacts(
                loaded.bundle, loaded.store,
                reject_threshold=reject_threshold if reject_threshold is not None else pol.reject_threshold,
                per_user_thresholds=pol.per_user_reject_thresholds,
                smooth_window=smooth_window or pol.smooth_window, taxonomy=taxonomy,
            )

        return from_policy, f"policy {loaded.path}"
    from engine.calibrator_store import load_calibrator_store
    from trainer.workflow import load_bundle_dir

    bundle = load_bundle_dir(home, model_dir)
    store = None
    if calibrator_store is not None:
        sp = Path(calibrator_store).expanduser()
        if not sp.is_absolute() and not sp.exists():
            sp = home / sp
        store = load_calibrator_store(sp.resolve(), bundle=bundle)

    def from_overrides() -> Any:
        return Engine.from_artifacts(bundle, store, reject_threshold=reject_threshold,
                                     smooth_window=smooth_window or 3, taxonomy=taxonomy)

    return from_overrides, f"bundle {bundle.run_id}"


#: rows read before the first emitted bucket, for the warm-up (its session's start)
WARM_UP_MARGIN = timedelta(hours=12)


class WarmUpIncomplete(Exception):
    """A part's first emitted bucket may belong to a session begun before the rows read."""


@dataclass(frozen=True)
class Part:
    """A piece of a run, in UTC time: the buckets ``lo <= bucket_start < hi`` (``None``: open)
    of the chosen local days, with rows read from ``read_from``; ``run_from`` is where the whole
    run reads from (a warm-up reaching back there is the run's own)."""

    lo: datetime | None
    hi: datetime | None
    read_from: datetime
    run_from: datetime


def run_window(start: date, end: date) -> tuple[datetime, datetime]:
    """The UTC interval a run over local days [start, end] reads: room for every offset and
    for the session of the first chosen bucket."""
    lo, hi = utc_bounds(start, end)
    assert lo is not None and hi is not None
    return lo - WARM_UP_MARGIN, hi + WARM_UP_MARGIN


def batch_predictions(
    stores: Iterable[Any],
    make_engine: Callable[[], Any],
    start: date,
    end: date,
    *,
    user_id: str | None = None,
    span: timedelta = DEFAULT_SPAN,
    on_chunk: OnChunk | None = None,
    part: Part | None = None,
) -> Iterator[Any]:
    """PredictionRecords of the buckets of local days [start, end], per store and user (in the
    store's order) in time order, from ``engine.stream`` with its one warm-up rule (the session
    of the first chosen bucket), as the agent predicts them live.

    Rows are read ``span`` at a time (``engine.store_rows``) and predictions yielded as they are
    made: what is held is one chunk of rows and one session of warm-up, whatever the range.
    With ``part`` only that piece of the run is predicted, exactly as the whole run predicts
    it: when the session of its first bucket may have begun before ``part.read_from``, the
    rows are read again from further back (up to where the run reads from)."""
    lo_day, hi_day = start.toordinal(), end.toordinal()
    window = run_window(start, end)
    for store in stores:
        for user in store.users():
            if user_id not in (None, user):
                continue
            if part is None:
                yield from _user_predictions(store, user, make_engine, lo_day, hi_day, window, None,
                                             False, span, on_chunk)
                continue
            read_from = part.read_from
            while True:
                sure = read_from <= part.run_from
                read = (max(read_from, part.run_from), part.hi if part.hi is not None else window[1])
                try:
                    yield from _user_predictions(store, user, make_engine, lo_day, hi_day, read,
                                                 part.lo, not sure, span, on_chunk)
                    break
                except WarmUpIncomplete:  # raised before anything was yielded
                    read_from -= 8 * (part.lo - read_from if part.lo is not None else WARM_UP_MARGIN)


_NOTHING = object()


def _user_predictions(store: Any, user: str, make_engine: Callable[[], Any], lo_day: int, hi_day: int,
                      read: tuple[datetime, datetime], emit_lo: datetime | None, check_warm_up: bool,
                      span: timedelta, on_chunk: OnChunk | None) -> Iterator[Any]:
    """One user's records of the chosen days among the rows read in ``read`` (from the first
    at or after ``emit_lo``); with ``check_warm_up``, ``WarmUpIncomplete`` when no session
    change is seen before the first among the rows read (its session may have begun before)."""
    from engine.stream import StreamRow, stream

    prev: Any = _NOTHING
    changed = False

    def chosen(r: StreamRow) -> bool:
        nonlocal prev, changed
        if lo_day <= r.local_day.toordinal() <= hi_day and (emit_lo is None or r.bucket_start >= emit_lo):
            if check_warm_up and not changed and (prev is _NOTHING or prev == r.session_id):
                raise WarmUpIncomplete
            return True
        if prev is not _NOTHING and prev != r.session_id:
            changed = True
        prev = r.session_id
        return False

    rows = user_rows(store, user, start=read[0], end=read[1], span=span, on_chunk=on_chunk)
    for st in stream(rows.chunks, make_engine(), emit_when=chosen):
        if lo_day <= st.local_day.toordinal() <= hi_day:
            yield st.prediction
