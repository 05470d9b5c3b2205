"""Replaying a user's buckets through the online engine itself, so figures describe exactly
what the tray would have shown (the label after calibration, reject and smoothing).

``replay`` runs feature rows (one fresh engine per user, in time order, unlabelled buckets
included so smoothing sees what it would see online); with ``raw_probs`` it does the same from
raw probabilities already computed, so a calibrator can be tried on many folds without asking
the model again. ``replay_chunk`` continues one user's engine over the next chunk of rows, for
a replay that holds one chunk at a time (``trainer.eval_stream``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.frame import Frame
from engine.labels import LABEL_ORDER


@dataclass
class Replay:
    """Engine outputs for a set of rows (aligned with the frame's rows)."""

    raw: np.ndarray  # (N, C)
    probs: np.ndarray  # (N, C)
    core: np.ndarray  # (N,) class index
    rejected: np.ndarray  # (N,) bool
    accepted: list[str]
    smoothed: list[str]
    calibrator: list[str]
    records: list[Any]


def replay(
    frame: Frame,
    make_engine: Callable[[], Any],
    *,
    keep_records: bool = False,
    progress: Callable[[str], None] | None = None,
    raw_probs: np.ndarray | None = None,
) -> Replay:
    """Run every row through a fresh engine per user (rows are in (user, time) order).

    With ``raw_probs`` (N, C) the model is not asked again: each bucket enters the engine after
    its prediction (``Engine.step_raw``), which is what trying calibrators on folds needs.
    """
    return _collect(len(frame), _predict_per_user(frame, make_engine, raw_probs), keep_records)


def replay_chunk(frame: Frame, engine: Any) -> Replay:
    """Continue ``engine`` (one user's, carrying its smoothing state from the previous chunk)
    over ``frame``'s rows in order, the chunk in one batch (``Engine.step_many``, the records
    ``step`` gives): chunk after chunk gives what one ``replay`` gives."""
    from engine.stream import stream

    rows = [frame.stream_row(i) for i in range(len(frame))]  # one list: one Engine.step_many call
    return _collect(len(frame), enumerate(st.prediction for st in stream([rows], engine)), False)


def _collect(n: int, predictions: Iterable[tuple[int, Any]], keep_records: bool) -> Replay:
    """The ``Replay`` of ``n`` rows from their (row index, PredictionRecord) pairs."""
    c = len(LABEL_ORDER)
    raw = np.zeros((n, c))
    probs = np.zeros((n, c))
    core = np.zeros(n, dtype=np.int64)
    rejected = np.zeros(n, dtype=bool)
    accepted: list[str] = [""] * n
    smoothed: list[str] = [""] * n
    cal: list[str] = [""] * n
    records: list[Any] = []
    index = {lab: i for i, lab in enumerate(LABEL_ORDER)}
    for i, rec in predictions:
        raw[i] = rec.raw_probs
        probs[i] = rec.probs
        core[i] = index[rec.core_label]
        rejected[i] = rec.rejected
        accepted[i] = rec.accepted_label
        smoothed[i] = rec.smoothed_label
        cal[i] = rec.calibrator
        if keep_records:
            records.append(rec)
    return Replay(raw, probs, core, rejected, accepted, smoothed, cal, records)


def _predict_per_user(frame: Frame, make_engine: Callable[[], Any],
                      raw_probs: np.ndarray | None) -> Iterator[tuple[int, Any]]:
    """(row index, PredictionRecord) of every row with a fresh engine per user: through
    ``engine.stream`` (features), or ``Engine.step_raw`` when the raw probabilities are known."""
    from engine.stream import stream

    for user, first, stop in frame.user_ranges():
        engine = make_engine()
        if raw_probs is None:
            rows = (frame.stream_row(i) for i in range(first, stop))
            for i, st in zip(range(first, stop), stream(rows, engine), strict=True):
                yield i, st.prediction
            continue
        for i in range(first, stop):
            yield i, engine.step_raw(raw_probs[i].tolist(), user_id=user,
                                     bucket_start=frame.bucket_datetime(i),
                                     session_id=frame.session_ids[i])
