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
from datetime import date, timedelta
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


def batch_predictions(
    stores: Iterable[Any],
    make_engine: Callable[[], Any],
    start: date,
    end: date,
    *,
    user_id: str | None = None,
    span: timedelta = DEFAULT_SPAN,
    on_chunk: OnChunk | None = None,
) -> Iterator[Any]:
    """PredictionRecords of the buckets of local days [start, end], per store and user (in the
    store's order) in time order, from ``engine.stream`` with its one warm-up rule (the session
    of the first chosen bucket), as the agent predicts them live.

    Rows are read ``span`` at a time (``engine.store_rows``) and predictions yielded as they are
    made: what is held is one chunk of rows and one session of warm-up, whatever the range."""
    from engine.stream import StreamRow, stream

    lo_day, hi_day = start.toordinal(), end.toordinal()
    lo, hi = utc_bounds(start, end)
    assert lo is not None and hi is not None
    window = (lo - timedelta(hours=12), hi + timedelta(hours=12))  # room for the session's start

    def chosen(r: StreamRow) -> bool:
        return lo_day <= r.local_day.toordinal() <= hi_day

    for store in stores:
        for user in store.users():
            if user_id not in (None, user):
                continue
            rows = user_rows(store, user, start=window[0], end=window[1], span=span, on_chunk=on_chunk)
            for st in stream(rows.chunks, make_engine(), emit_when=chosen):
                if lo_day <= st.local_day.toordinal() <= hi_day:
                    yield st.prediction
