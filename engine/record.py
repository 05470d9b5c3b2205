"""The engine's output record, one per bucket (spec 4.2).

A plain slotted, frozen dataclass: validation happens once, when artifacts load, not per
bucket (a pydantic model per bucket would eat the speed budget).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ENGINE_VERSION = "1"


@dataclass(frozen=True, slots=True)
class PredictionRecord:
    bucket_start: str  # ISO-8601 UTC, e.g. "2026-02-23T10:00:00+00:00"
    user_id: str
    session_id: str | None
    model_id: str  # bundle run_id, or "rules"
    model_sha256: str | None
    label_order: tuple[str, ...]
    raw_probs: tuple[float, ...]
    probs: tuple[float, ...]  # calibrated, in label_order
    core_label: str
    confidence: float
    threshold: float
    threshold_source: str  # "per_user" | "global" | "default"
    rejected: bool
    accepted_label: str
    smoothed_label: str
    mapped_label: str
    mapped_probs: dict[str, float]  # taxonomy bucket -> probability (sums to 1)
    calibrator: str  # "user" | "global" | "identity" (+ fallback note, e.g. "global (user degenerate)")
    engine_version: str = ENGINE_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "bucket_start": self.bucket_start,
            "user_id": self.user_id,
            "session_id": self.session_id,
            "model_id": self.model_id,
            "model_sha256": self.model_sha256,
            "label_order": list(self.label_order),
            "raw_probs": list(self.raw_probs),
            "probs": list(self.probs),
            "core_label": self.core_label,
            "confidence": self.confidence,
            "threshold": self.threshold,
            "threshold_source": self.threshold_source,
            "rejected": self.rejected,
            "accepted_label": self.accepted_label,
            "smoothed_label": self.smoothed_label,
            "mapped_label": self.mapped_label,
            "mapped_probs": dict(self.mapped_probs),
            "calibrator": self.calibrator,
            "engine_version": self.engine_version,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> PredictionRecord:
        return cls(
            bucket_start=obj["bucket_start"],
            user_id=obj["user_id"],
            session_id=obj.get("session_id"),
            model_id=obj["model_id"],
            model_sha256=obj.get("model_sha256"),
            label_order=tuple(obj["label_order"]),
            raw_probs=tuple(float(x) for x in obj["raw_probs"]),
            probs=tuple(float(x) for x in obj["probs"]),
            core_label=obj["core_label"],
            confidence=float(obj["confidence"]),
            threshold=float(obj["threshold"]),
            threshold_source=obj["threshold_source"],
            rejected=bool(obj["rejected"]),
            accepted_label=obj["accepted_label"],
            smoothed_label=obj["smoothed_label"],
            mapped_label=obj["mapped_label"],
            mapped_probs={str(k): float(v) for k, v in obj["mapped_probs"].items()},
            calibrator=obj["calibrator"],
            engine_version=str(obj.get("engine_version", ENGINE_VERSION)),
        )


class OpenPredictionRecord:
    """A :class:`PredictionRecord` being filled: the same slots without the frozen guard.

    The frozen dataclass's ``__init__`` sets each of its 19 fields through
    ``object.__setattr__`` (about 3 us a bucket); this plain ``__init__`` stores them directly
    (about 0.5 us), and the engine then switches the object's class to ``PredictionRecord``,
    which CPython allows between classes of identical slots. The result is an ordinary frozen
    ``PredictionRecord`` (tests/test_engine_pipeline.py compares it field by field).
    """

    __slots__ = PredictionRecord.__slots__

    def __init__(
        self, bucket_start: str, user_id: str, session_id: str | None, model_id: str,
        model_sha256: str | None, label_order: tuple[str, ...], raw_probs: tuple[float, ...],
        probs: tuple[float, ...], core_label: str, confidence: float, threshold: float,
        threshold_source: str, rejected: bool, accepted_label: str, smoothed_label: str,
        mapped_label: str, mapped_probs: dict[str, float], calibrator: str,
        engine_version: str = ENGINE_VERSION,
    ) -> None:
        self.bucket_start = bucket_start
        self.user_id = user_id
        self.session_id = session_id
        self.model_id = model_id
        self.model_sha256 = model_sha256
        self.label_order = label_order
        self.raw_probs = raw_probs
        self.probs = probs
        self.core_label = core_label
        self.confidence = confidence
        self.threshold = threshold
        self.threshold_source = threshold_source
        self.rejected = rejected
        self.accepted_label = accepted_label
        self.smoothed_label = smoothed_label
        self.mapped_label = mapped_label
        self.mapped_probs = mapped_probs
        self.calibrator = calibrator
        self.engine_version = engine_version


@dataclass(frozen=True, slots=True)
class Block:
    """A run of consecutive buckets with the same smoothed label and no gap (spec 4.1 step 8)."""

    block_id: int
    label: str  # smoothed core label or Mixed/Unknown
    mapped_label: str
    start: str  # ISO UTC of the first bucket
    end: str  # ISO UTC of the end of the last bucket (exclusive)
    buckets: int
