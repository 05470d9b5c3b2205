"""The builder's rows feed the engine unchanged: ``Engine.step(row.model_features(), ...)``."""

from __future__ import annotations

import math
from pathlib import Path

from features_helpers import CLOCK, CODE, FIREFOX, SLACK, ZOOM, active, rec, seg

from engine.features import build_rows
from engine.labels import LABEL_ORDER


def _day() -> list:  # type: ignore[type-arg]
    recs = [active(i, CODE, "main.py", keys=200, clicks=5, mouse_px=300, active_kb=40,
                   active_any=50, events=205) for i in range(20)]
    recs += [active(20 + i, FIREFOX, "Issue - GitHub - Mozilla Firefox", keys=5, scrolls=20,
                    active_any=30) for i in range(10)]
    recs += [rec(30 + i, [seg(0, 60, ZOOM, "Zoom Meeting")], active_any=0.0) for i in range(10)]
    recs += [active(40 + i, SLACK, "general", keys=80, active_any=40) for i in range(5)]
    recs += [rec(60 + i, [], active_any=0.0) for i in range(5)]  # a new session after a gap
    return recs


def test_rows_run_through_the_rule_engine() -> None:
    from engine.pipeline import Engine

    engine = Engine.rules()
    rows = build_rows(_day(), clock=CLOCK)
    labels = []
    for row in rows:
        out = engine.step(row.model_features(), user_id=row.user_id,
                          bucket_start=row.bucket_start, session_id=row.session_id)
        assert out.session_id == row.session_id
        assert out.bucket_start == row.bucket_start.isoformat()
        assert math.isclose(sum(out.probs), 1.0, rel_tol=1e-9)
        labels.append(out.core_label)
    assert set(labels) <= set(LABEL_ORDER)
    assert len(set(labels)) >= 2  # typing, meeting and idle stretches are told apart


def test_rows_run_through_the_seed_bundle(seed_bundle_dir: Path) -> None:
    from engine.bundle import load_bundle
    from engine.pipeline import Engine

    engine = Engine.from_artifacts(load_bundle(seed_bundle_dir))
    for row in build_rows(_day(), clock=CLOCK):
        feats = row.model_features()
        x = engine.bundle.encode(feats)  # type: ignore[union-attr]
        assert len(x) == 38
        # known seed ids are encoded as known categories, not as the unknown code
        if feats["app_id"] in {"com.microsoft.VSCode", "org.mozilla.firefox", "us.zoom.xos",
                               "com.tinyspeck.slackmacgap"}:
            assert x[0] != engine.bundle.encode(dict(feats, app_id="unknown.xyz"))[0]  # type: ignore[union-attr]
        out = engine.step(feats, user_id=row.user_id, bucket_start=row.bucket_start,
                          session_id=row.session_id)
        assert all(math.isfinite(p) for p in out.probs)
