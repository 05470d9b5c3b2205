"""The agent's side of the engine: config, taxonomy, and the one live engine + feature builder.

``EngineHost`` lives on the writer thread. It owns the feature builder (one per user) and the
current ``Engine``; ``swap`` replaces the engine between two buckets, carrying the smoothing
window and today's blocks over when the label order allows (spec 4.3). Everything here is
plain engine code; the agent adds no model logic of its own.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from agent.snapshot import ModelStatus
from engine.activity import ActivityRecord
from engine.config import Config
from engine.errors import ArtifactError, TaskclfError
from engine.record import Block, PredictionRecord

if TYPE_CHECKING:  # importing the pipeline loads LightGBM's C library: only when predicting
    from engine.features import FeatureBuilder, FeatureRow
    from engine.pipeline import Engine
    from engine.stream import Step
    from engine.taxonomy import Taxonomy

log = logging.getLogger("taskclf.agent.engines")

def load_config(home: Path) -> tuple[Config, list[str]]:
    """``engine.config.load_config`` (defaults + warnings); a broken file never stops the agent."""
    from engine.config import load_config as engine_load_config

    try:
        cfg, warnings = engine_load_config(home)
        return cfg, [str(w) for w in warnings]
    except TaskclfError as exc:
        return Config(), [f"config ignored: {exc}"]
    except Exception as exc:  # a loader bug must not stop the agent: defaults, and say so
        log.exception("config could not be loaded")
        return Config(), [f"config ignored: {home / 'config.toml'}: could not be read ({type(exc).__name__})"]


def load_user_taxonomy(home: Path, config: Config) -> tuple[Taxonomy | None, str | None]:
    """(Taxonomy or None for the identity mapping, warning or None)."""
    from engine.paths import inside_home
    from engine.taxonomy import load_taxonomy

    name = config.taxonomy or "taxonomy.toml"
    try:
        path = inside_home(home, name, file=home / "config.toml", field="taxonomy")
    except ArtifactError as exc:
        return None, f"taxonomy ignored: {exc}"
    if not path.exists():
        for alt in (path.with_suffix(".json"), path.with_suffix(".yaml")):
            if name == "taxonomy.toml" and alt.exists():
                path = alt
                break
        else:
            return None, None
    try:
        return load_taxonomy(path), None
    except TaskclfError as exc:
        return None, f"taxonomy ignored: {exc}"
    except Exception as exc:  # a loader bug must not stop the agent: identity mapping, and say so
        log.exception("taxonomy could not be loaded")
        return None, f"taxonomy ignored: {path}: could not be read ({type(exc).__name__})"


def new_builder() -> FeatureBuilder:
    """The agent's feature builder. It does not refuse buckets "from the future": they come
    from the agent's own aggregator, whose watermark only moves forward, and the bucket open
    while the wall clock is set back starts after the new wall time yet is a real bucket."""
    from engine.features import FeatureBuilder

    return FeatureBuilder(clock=_no_future_check)


def _no_future_check() -> float:
    return math.inf


def _log_replay_refused(rec: ActivityRecord, exc: Exception) -> None:
    log.warning("a stored bucket could not be replayed: %s", type(exc).__name__)


@dataclass(frozen=True, slots=True)
class BuiltEngine:
    """An engine built off the hot path, ready to swap in."""

    engine: Engine
    kind: str  # "model" | "rules"
    model_id: str | None
    last_good_in_use: bool = False
    source: str = "policy"  # "policy" | "last_good" | "override" | "none"
    policy_raw: bytes | None = None  # the exact bytes that validated (kept as last good)


def day_one(taxonomy: Taxonomy | None) -> Engine:
    """The engine before the user has a model (the rules or the shipped starter model)."""
    from engine.starter import day_one_engine

    engine: Engine = day_one_engine(taxonomy)
    return engine


def day_one_kind_of(engine: Engine) -> str:
    """``starter`` for the shipped starter model, else ``rules`` (what the menu says)."""
    from engine.starter import STARTER_MODEL_ID

    return "starter" if engine.bundle is not None and engine.model_id == STARTER_MODEL_ID else "rules"


class EngineHost:
    """Feature builder + live engine for one user; used from the writer thread only."""

    def __init__(self, user_id: str, *, taxonomy: Taxonomy | None = None) -> None:

        self.user_id = user_id
        self.taxonomy = taxonomy
        self.builder = new_builder()
        self.engine: Engine = day_one(taxonomy)
        self.kind = "starting"
        self.model_id: str | None = None
        self.policy_error: str | None = None
        self.last_good_in_use = False

    # -- buckets ---------------------------------------------------------------------------

    def step(self, rec: ActivityRecord) -> tuple[FeatureRow, PredictionRecord]:
        """One live bucket through the builder and the engine (``engine.stream``)."""
        from engine.stream import stream

        refused: list[Exception] = []
        for st in stream([rec], self.engine, builder=self.builder,
                         on_refused=lambda r, exc: refused.append(exc)):
            assert st.row is not None
            return st.row, st.prediction
        if refused:
            raise refused[0]
        raise TaskclfError(f"bucket {rec.bucket_start.isoformat()} was already built")

    def adopt(self, built: BuiltEngine) -> None:
        """Use ``built`` from now on, without carrying any state over (a rebuild follows)."""
        self.engine = built.engine
        self.kind, self.model_id = built.kind, built.model_id
        self.last_good_in_use = built.last_good_in_use
        self.policy_error = None

    def rebuild(self, records: Iterable[ActivityRecord], emit_from: datetime | None) -> None:
        """Start over with a fresh builder and engine state and stream ``records`` through
        both, persisting nothing: after a restart the builder and smoothing state are what
        batch inference over the same records gives."""
        from engine.stream import drain, stream

        self.builder = new_builder()
        self.engine.reset()
        drain(stream(records, self.engine, builder=self.builder, emit_from=emit_from,
                     on_refused=_log_replay_refused))

    def replay(self, records: Iterable[ActivityRecord], emit_from: datetime) -> Iterator[Step]:
        """Predict stored ``records`` from ``emit_from`` on with a scratch builder and this
        host's engine (whose state is reset before and after): the catch-up of buckets a
        crash left unpredicted."""
        from engine.stream import stream

        self.engine.reset()
        try:
            yield from stream(records, self.engine, builder=new_builder(), emit_from=emit_from,
                              on_refused=_log_replay_refused)
        finally:
            self.engine.reset()

    # -- engines ---------------------------------------------------------------------------

    def swap(self, built: BuiltEngine | None, error: str | None) -> None:
        """Install ``built`` (None + no error: back to the rules); an error keeps the old one."""
        if error is not None:
            self.policy_error = error
            if self.kind == "starting":
                self.kind = "rules"
            return

        if built is None:
            new = day_one(self.taxonomy)
            kind, last_good = day_one_kind_of(new), False
            model_id = new.model_id if kind == "starter" else None
        else:
            self.taxonomy = built.engine.taxonomy
            new, kind, model_id, last_good = (built.engine, built.kind, built.model_id,
                                              built.last_good_in_use)
        adopted = new.adopt_state(self.engine)
        if not adopted:
            log.info("new engine has another label order: smoothing starts fresh")
        self.engine = new
        self.kind, self.model_id = kind, model_id
        self.last_good_in_use = last_good
        self.policy_error = None if not last_good else self.policy_error
        log.info("engine in use: %s", model_id or "rules")

    def set_policy_error(self, error: str | None) -> None:
        self.policy_error = error

    # -- what the menu shows ---------------------------------------------------------------

    def status(self, pred: PredictionRecord | None) -> ModelStatus:
        eng = self.engine
        if pred is not None:
            threshold: float | None = pred.threshold
            source: str | None = pred.threshold_source
            calibrated = pred.calibrator.startswith("user")
        else:
            per_user = eng.per_user_thresholds
            if self.user_id in per_user:
                threshold, source = per_user[self.user_id], "per_user"
            elif eng.reject_threshold is not None:
                threshold, source = eng.reject_threshold, "global"
            else:
                threshold, source = None, None
            calibrated = False
        kind = self.kind
        return ModelStatus(
            kind=kind,
            model_id=self.model_id if kind in ("model", "starter") else None,
            calibrated_for_user=calibrated,
            threshold=threshold,
            threshold_source=source,
            policy_error=self.policy_error,
            last_good_in_use=self.last_good_in_use,
        )

    def current_block(self) -> Block | None:
        return self.engine.current_block

    def today_blocks(self) -> tuple[Block, ...]:
        return tuple(self.engine.today_blocks())

    def taxonomy_colors(self) -> dict[str, str]:
        tax = self.engine.taxonomy
        out: dict[str, str] = {}
        for name in (*tax.names, tax.reject_label):
            out[name] = tax.color_of(name)
        return out
