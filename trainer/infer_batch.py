"""``taskclf infer batch``: stored buckets through the very same ``Engine`` the agent runs.

For each user the buckets of the chosen local days are fed in time order to one engine built
from the inference policy (or the ``--model-dir`` / ``--calibrator-store`` overrides). The
engine's smoothing window is warmed up with the earlier buckets of the session the first
chosen bucket belongs to, as the running agent would have seen them, so the records are the
ones the online engine produced.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import TaskclfError
from engine.frame import Frame

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


def run_batch(
    frame: Frame, make_engine: Callable[[], Any], start: date, end: date
) -> Iterator[Any]:
    """PredictionRecords of the rows of local days [start, end], per user in time order, from
    ``engine.stream`` with its one warm-up rule (the session of the first day's first bucket),
    as the agent predicts them live."""
    from engine.stream import stream

    lo, hi = start.toordinal(), end.toordinal()
    for _user, first, stop in frame.user_ranges():
        days = frame.local_day[first:stop]
        idx = np.flatnonzero((days >= lo) & (days <= hi)) + first
        if len(idx) == 0:
            continue
        keep = set(idx.tolist())
        last = int(idx[-1])
        emitted = range(int(idx[0]), last + 1)
        rows = (frame.stream_row(i) for i in range(first, last + 1))
        steps = stream(rows, make_engine(), emit_from=frame.bucket_datetime(int(idx[0])))
        for i, st in zip(emitted, steps, strict=True):
            if i in keep:
                yield st.prediction
