"""End to end: the headless agent personalises itself in the background.

A home with a deployed bundle whose shared calibration is badly over-confident, and a user with
a few days of labelled history the bundle never trained on. The agent runs on a manual clock;
30 more minutes are labelled through the runtime's API; the agent starts ``taskclf personalize``
as a separate process, which writes a new store and policy; the policy watcher hot-reloads it
and the next prediction records carry ``calibrator: "user"``.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.clock import ManualClock
from tests.agent_helpers import manual_runtime, run_for, start_manual, wait_for

SOURCE_USER = "user-05"
HISTORY_DAYS = 5


def _home_with_history(demo_home: Path, home: Path) -> tuple[str, datetime]:
    from engine.calibration import TemperatureCalibrator
    from engine.calibrator_store import write_calibrator_store
    from engine.paths import calibrator_stores_dir
    from engine.policy import load_policy, policy_for, write_policy
    from engine.store import Store

    shutil.copytree(demo_home / "models", home / "models")
    bundle = load_policy(demo_home).bundle
    bdir = home / "models" / bundle.path.name
    from engine.bundle import load_bundle

    b = load_bundle(bdir)
    store_dir = write_calibrator_store(calibrator_stores_dir(home) / "overconfident", method="temperature",
                                       global_calibrator=TemperatureCalibrator(0.35), user_calibrators={},
                                       bundle=b)
    write_policy(home, policy_for(home, bdir, store_dir, 0.5))
    user, device = str(uuid.uuid4()), str(uuid.uuid4())
    (home / "identity.json").write_text(json.dumps({"user_id": user, "device_id": device}))
    with Store.open(demo_home / "store.sqlite3", readonly=True) as src:
        days = sorted({r.bucket_start.date() for r in src.records(user_id=SOURCE_USER)})[:HISTORY_DAYS]
        lo = datetime.combine(days[0], datetime.min.time(), UTC)
        hi = datetime.combine(days[-1], datetime.min.time(), UTC) + timedelta(days=1)
        recs = [dataclasses.replace(r, user_id=user, device_id=device)
                for r in src.records(user_id=SOURCE_USER, start=lo, end=hi)]
        spans = [dataclasses.replace(s, user_id=user, provenance="manual", span_id=None)
                 for s in src.label_spans(user_id=SOURCE_USER, start=lo, end=hi)
                 if s.start_ts >= lo and s.end_ts <= hi]
    with Store.open(home / "store.sqlite3") as dst:
        dst.put_records(recs)
        dst.add_label_spans(spans)
    return user, hi + timedelta(hours=9)


@pytest.mark.slow
def test_agent_personalises_in_the_background_and_hot_reloads(demo_home: Path, tmp_path: Path) -> None:
    from engine.eligibility import store_eligibility
    from engine.jsonio import atomic_write_json
    from engine.paths import artifacts_dir
    from engine.store import Store

    home = tmp_path / "home"
    user, start = _home_with_history(demo_home, home)
    with Store.open(home / "store.sqlite3", readonly=True) as st:
        prior = store_eligibility(st, user)
    assert prior.eligible
    # as if the last background run happened at today's count: only new labels make one due
    atomic_write_json(artifacts_dir(home) / "personalize_state.json", {"minutes": prior.minutes})

    clock = ManualClock(start)
    rt = manual_runtime(home, clock, watch_interval=0.1)
    start_manual(rt)
    try:
        assert rt.snapshot().model.kind == "model"
        run_for(rt, clock, 40 * 60)  # 40 minutes of activity
        assert rt.snapshot().last is not None and rt.snapshot().last.calibrator == "global"
        assert rt.personalizer is not None and rt.personalizer.runs == 0
        res = rt.label_last(35, "Build")
        assert res.ok, res
        rt.sync()
        note = wait_for(lambda: (rt.snapshot().personal_note or "").startswith(("Personalised", "Not", "Personal tuning failed"))
                        and rt.snapshot().personal_note, timeout=240, interval=0.2)
        assert note.startswith("Personalised on "), note
        assert rt.personalizer.runs == 1
        log = (home / "logs" / "personalize.log").read_text()
        assert "NLL" in log and "shown accuracy" in log  # before/after figures


        def next_bucket_is_personal() -> bool:  # the watcher hot-reloads the policy on its own thread
            run_for(rt, clock, 60)
            last = rt.snapshot().last
            return last is not None and last.calibrator == "user"

        wait_for(next_bucket_is_personal, timeout=120, interval=0.2)
        assert rt.snapshot().model.calibrated_for_user
    finally:
        rt.stop()
    with Store.open(home / "store.sqlite3", readonly=True) as st:
        preds = st.predictions(user_id=user, start=start)
    assert preds[0].calibrator == "global" and preds[-1].calibrator == "user"
