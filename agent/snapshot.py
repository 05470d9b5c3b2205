"""The immutable snapshot the worker publishes after each bucket; the tray only reads it."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.eligibility import Eligibility
from engine.record import Block, PredictionRecord


@dataclass(frozen=True, slots=True)
class ModelStatus:
    kind: str  # "starting" | "rules" | "starter" | "model"
    model_id: str | None = None  # bundle run_id when kind == "model"
    calibrated_for_user: bool = False  # a per-user calibrator exists for this user
    threshold: float | None = None
    threshold_source: str | None = None
    policy_error: str | None = None  # why the last policy was refused (old engine kept)
    last_good_in_use: bool = False  # running inference_policy.last_good.json


@dataclass(frozen=True, slots=True)
class LearningProgress:
    """Labelled minutes/days/labels toward personal tuning (``engine.eligibility``)."""

    labelled_buckets: int = 0
    labelled_days: int = 0
    distinct_labels: int = 0

    def _eligibility(self) -> Eligibility:
        return Eligibility(self.labelled_buckets, self.labelled_days, self.distinct_labels)

    @property
    def complete(self) -> bool:
        return self._eligibility().eligible

    def line(self) -> str:
        """"Personal tuning: 120 of 200 labelled minutes, 2 of 3 days"."""
        return self._eligibility().line()


@dataclass(frozen=True, slots=True)
class UserLabel:
    """One of the user's own label spans (ISO UTC), as stored: shown over the model's blocks."""

    start: str
    end: str
    label: str


@dataclass(frozen=True, slots=True)
class AgentSnapshot:
    user_id: str
    last: PredictionRecord | None = None  # prediction of the last closed bucket
    current_block: Block | None = None
    today_blocks: tuple[Block, ...] = ()
    user_labels: tuple[UserLabel, ...] = ()  # the user's spans of the last day and a half
    user_label_override: str | None = None  # the user's correction shown for the block
    paused_until: str | None = None  # ISO UTC; "forever" when paused until resumed
    model: ModelStatus = field(default_factory=lambda: ModelStatus(kind="starting"))
    learning: LearningProgress = field(default_factory=LearningProgress)
    personal_note: str | None = None  # what the last background personal tuning did, in plain words
    taxonomy_colors: dict[str, str] = field(default_factory=dict)  # mapped label -> #RRGGBB
    taxonomy_warning: str | None = None
    config_warnings: tuple[str, ...] = ()
    sampler_backend: str = "none"
    missing_signals: tuple[str, ...] = ()
    store_error: str | None = None  # e.g. read-only data dir, disk full
    pending_prompt: str | None = None  # ISO UTC of the bucket a spot check asks about
    saving: bool = False  # a label waits in the durable queue
    version: int = 0  # bumps on every publish
    last_app_category: str | None = None  # app category of the last closed bucket (headless line)
    sampler_permissions: dict[str, str] = field(default_factory=dict)  # e.g. accessibility: missing
    sampler_notes: tuple[str, ...] = ()  # what is missing and how to grant it (doctor's sentences)
    #: (app id, name the OS reports) of the app last in front, for "Never track <app>"; memory only
    foreground_app: tuple[str, str] | None = None

    @property
    def paused(self) -> bool:
        return self.paused_until is not None
