"""The starter model: a small bundle shipped with the package, used before a user has a model.

It is trained reproducibly from the synthetic world (``taskclf train starter``), stored as
package data in ``engine/data/starter/`` (LightGBM text + JSON, like any bundle) and loaded
through the same gate as any other bundle. The agent and ``infer batch`` use it on a home
without an inference policy; the user's own calibrator (when one exists) goes on top.
"""

from __future__ import annotations

from pathlib import Path

#: The directory name is the bundle's run id, so predictions carry ``model_id = "starter"``.
STARTER_MODEL_ID = "starter"


def bundle_dir() -> Path:
    """Where the shipped starter bundle lives (inside the installed package or the app bundle)."""
    return Path(__file__).resolve().parent / "data" / STARTER_MODEL_ID


def available() -> bool:
    """Whether this installation ships a starter bundle (a source checkout always does)."""
    d = bundle_dir()
    return (d / "model.txt").is_file() and (d / "metadata.json").is_file()
