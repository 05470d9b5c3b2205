"""The starter model: a small bundle shipped with the package, used before a user has a model.

It is trained reproducibly from the synthetic world (``taskclf train starter``), stored as
package data in ``engine/data/starter/`` (LightGBM text + JSON, like any bundle) and loaded
through the same gate as any other bundle. The agent and ``infer batch`` use it on a home
without an inference policy; the user's own calibrator (when one exists) goes on top.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: The directory name is the bundle's run id, so predictions carry ``model_id = "starter"``.
STARTER_MODEL_ID = "starter"


def bundle_dir() -> Path:
    """Where the shipped starter bundle lives (inside the installed package or the app bundle)."""
    return Path(__file__).resolve().parent / "data" / STARTER_MODEL_ID


def available() -> bool:
    """Whether this installation ships a starter bundle (a source checkout always does)."""
    d = bundle_dir()
    return (d / "model.txt").is_file() and (d / "metadata.json").is_file()


#: What runs before a user has a model of their own ("starter" or "rules"); chosen from
#: benchmarks/first_day_bench.py's measurements (docs/decisions.md).
DAY_ONE = "rules"


def day_one_kind() -> str:
    """``starter`` when this installation ships the starter bundle and it is the choice, else
    ``rules``."""
    return "starter" if DAY_ONE == "starter" and available() else "rules"


def day_one_engine(taxonomy: Any = None, *, kind: str | None = None) -> Any:
    """The engine of day one (``engine.pipeline.Engine``): the agent and ``infer batch`` on a
    home without a policy both build it here, so they agree bucket for bucket. A starter bundle
    that does not load falls back to the rules."""
    from engine.errors import ArtifactError
    from engine.pipeline import Engine

    if (kind or day_one_kind()) == "starter":
        try:
            from engine.bundle import load_bundle

            return Engine.from_artifacts(load_bundle(bundle_dir()), taxonomy=taxonomy)
        except ArtifactError:
            pass
    return Engine.rules(taxonomy)
