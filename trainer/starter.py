"""``taskclf train starter``: the shipped starter bundle, trained reproducibly from synthetic users.

The starter model is what a new user sees before labelling anything, so it must generalise to
people it has never seen: it is trained on many synthetic users (personas, sources with and
without input counters, shifted schedules) and never sees per-install keyed features (they reach
it as missing: the bundle's ``masked_columns``). The same arguments give the same
``model.txt`` byte for byte.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from engine.frame import Frame
from engine.schema import PER_INSTALL_COLUMNS
from engine.starter import STARTER_MODEL_ID
from trainer.synth import SynthConfig
from trainer.train_lgbm import TrainParams

#: Files of the shipped bundle (the trainer's other outputs stay out of the package).
BUNDLE_FILES = ("model.txt", "metadata.json", "categorical_encoders.json")

#: Fixed so the bundle does not depend on when it was trained.
TRAINED_AT = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class StarterConfig:
    users: int = 16
    days: int = 8
    seed: int = 7
    start: date = date(2025, 9, 1)

    def synth(self) -> SynthConfig:
        # no miscalibrated twins: the starter learns what tasks look like, not a user's quirks;
        # half the users have sources without input counts (ActivityWatch, Wayland)
        return SynthConfig(users=self.users, days=self.days, seed=self.seed, start=self.start,
                           miscalibrated_users=0, counterless_every=2)


STARTER_PARAMS = TrainParams(seed=7, num_leaves=15, learning_rate=0.1, max_rounds=120,
                             min_data_in_leaf=60, max_bin=31, masked_columns=PER_INSTALL_COLUMNS)


def starter_frame(cfg: StarterConfig) -> Frame:
    """The synthetic training frame of the starter model."""
    from trainer.synth import generate
    from trainer.synth_store import frame_from_days

    return frame_from_days(list(generate(cfg.synth())))


def train_starter(out_dir: Path, cfg: StarterConfig = StarterConfig(),
                  progress: Callable[[str], None] | None = None,
                  params: TrainParams = STARTER_PARAMS) -> Path:
    """Train the starter bundle and write it to ``out_dir`` (replacing what is there)."""
    import tempfile

    from engine.bundle import load_bundle
    from engine.errors import TaskclfError
    from trainer.cli import _split_for
    from trainer.train_lgbm import train

    if out_dir.name != STARTER_MODEL_ID:
        raise TaskclfError(f"{out_dir}: the starter bundle's directory must be named {STARTER_MODEL_ID!r}")
    frame = starter_frame(cfg)
    if progress:
        progress(f"{len(frame):,} synthetic buckets of {cfg.users} users x {cfg.days} days")
    split = _split_for(frame, 0, cfg.seed)
    with tempfile.TemporaryDirectory(prefix="taskclf-starter-") as tmp:
        res = train(frame, split, Path(tmp), params, now=TRAINED_AT,
                    data_provenance="synthetic", log=progress)
        staged = Path(tmp) / STARTER_MODEL_ID
        staged.mkdir()
        for name in BUNDLE_FILES:
            shutil.copyfile(res.bundle_dir / name, staged / name)
        load_bundle(staged)  # the engine's gate, under the final name
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        shutil.copytree(staged, out_dir)
    return out_dir


def describe(bundle: Any) -> str:
    return f"{bundle.run_id}: {bundle.metadata.get('n_train_rows')} rows, trained from {bundle.metadata.get('data_provenance')}"
