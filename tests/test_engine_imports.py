"""Running the engine on a real bundle imports neither ``lightgbm`` nor its heavy friends."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from engine_helpers import SEED_BUNDLE, STORE_ISOTONIC

ROOT = Path(__file__).resolve().parent.parent

CODE = f"""
import json, sys
from datetime import datetime, timezone
from pathlib import Path
from engine.bundle import load_bundle
from engine.calibrator_store import load_calibrator_store
from engine.pipeline import Engine
from engine.policy import InferencePolicy
from engine.taxonomy import Taxonomy
b = load_bundle(Path({str(SEED_BUNDLE)!r}))
s = load_calibrator_store(Path({str(STORE_ISOTONIC)!r}), bundle=b)
e = Engine.from_artifacts(b, s, reject_threshold=0.5, taxonomy=Taxonomy.identity())
r = e.step({{"app_id": "us.zoom.xos"}}, user_id="user-a",
           bucket_start=datetime(2026, 1, 1, tzinfo=timezone.utc), session_id=None)
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}})))
"""


def test_engine_with_a_model_loads_no_heavy_modules() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CODE], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    ).stdout
    mods = set(json.loads(out.strip().splitlines()[-1]))
    assert not mods & {"lightgbm", "sklearn", "scipy", "pandas", "agent", "trainer", "PIL", "pystray"}
