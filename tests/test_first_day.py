"""Day one: what runs before the user has a model, the same online and in `infer batch`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.activity import record_from_json
from engine.paths import store_path
from engine.store import Store

FIXTURE = Path(__file__).parent / "fixtures" / "first_day" / "x11-morning"


def _records() -> list:  # type: ignore[type-arg]
    lines = (FIXTURE / "records.jsonl").read_text().splitlines()
    return [record_from_json(json.loads(line)) for line in lines if line.strip()]


def test_infer_batch_without_a_policy_gives_what_the_agent_shows(tmp_path: Path) -> None:
    from agent.engines import EngineHost
    from engine.cli.main import main

    recs = _records()
    home = tmp_path / "home"
    home.mkdir()
    with Store.open(store_path(home)) as st:
        st.put_records(recs)
    out = tmp_path / "batch.jsonl"
    day = recs[0].bucket_start.date().isoformat()
    assert main(["--home", str(home), "infer", "batch", "--from", day, "--to", day,
                 "--output", str(out)]) == 0
    batch = [json.loads(line) for line in out.read_text().splitlines()]
    host = EngineHost(recs[0].user_id)
    online = [host.step(r)[1].to_json() for r in recs]
    assert len(batch) == len(online) == len(recs)
    keys = ("bucket_start", "model_id", "probs", "core_label", "rejected", "smoothed_label",
            "mapped_label", "mapped_probs")
    assert [{k: b[k] for k in keys} for b in batch] == [{k: o[k] for k in keys} for o in online]
    assert {b["model_id"] for b in batch} == {"rules"}
    # and it is not a constant: the session shows several tasks
    assert len({b["smoothed_label"] for b in batch}) >= 5


def test_the_starter_engine_runs_the_shipped_bundle() -> None:
    from agent.engines import day_one_kind_of
    from engine.starter import STARTER_MODEL_ID, day_one_engine

    starter = day_one_engine(kind="starter")
    rules = day_one_engine(kind="rules")
    assert starter.model_id == STARTER_MODEL_ID and day_one_kind_of(starter) == "starter"
    assert rules.model_id == "rules" and day_one_kind_of(rules) == "rules"


@pytest.mark.parametrize(("kind", "text"), [("starter", "Starter model"), ("rules", "Rules")])
def test_the_menu_says_which_engine_runs_on_day_one(kind: str, text: str) -> None:
    from datetime import UTC, datetime

    from agent.snapshot import ModelStatus
    from agent.tray.menu_model import MenuContext, _model_menu

    status = ModelStatus(kind=kind, model_id="starter" if kind == "starter" else None,
                         calibrated_for_user=False, threshold=None, threshold_source=None,
                         policy_error=None, last_good_in_use=False)

    class Snap:
        model = status

    item = _model_menu(Snap(), MenuContext(now=datetime(2026, 3, 2, tzinfo=UTC)))  # type: ignore[arg-type]
    status_item = next(i for i in item.submenu or () if i.key == "model.status")
    assert status_item.text.startswith(text)


@pytest.mark.slow
def test_rules_on_the_recorded_sessions_stay_useful() -> None:
    """The first-day benchmark's figures for the rules, as a floor (0.84 / 0.79 / 1 % and BreakIdle
    precision 0.97 over the four sessions; 0.85 / 0.80 / 1.00 on x11-thursday, which nothing was
    tuned on; see docs/decisions.md)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from first_day_bench import TARGETS, activitywatch_session, evaluate, x11_sessions

    aw = activitywatch_session()
    assert aw is not None
    res = evaluate([aw, *x11_sessions()], ("rules",))["rules"]
    total = res["all"]
    assert total["minutes"] == 663
    assert total["accuracy"] >= 0.8
    assert total["macro_f1"] >= 0.75
    assert total["mixed_unknown_rate"] <= 0.1
    assert total["precision"]["BreakIdle"] >= TARGETS["breakidle_precision"]
    untuned = res["x11-thursday"]
    assert untuned["accuracy"] >= TARGETS["accuracy"] and untuned["macro_f1"] >= TARGETS["macro_f1"]
    assert untuned["mixed_unknown_rate"] <= TARGETS["mixed_unknown_rate"]
    assert untuned["precision"]["BreakIdle"] >= TARGETS["breakidle_precision"]
    assert set(total["predicted"]) and sum(v > 0 for v in total["predicted"].values()) >= 7
