"""The runtime's Privacy actions with a real store on a synchronous writer."""

from __future__ import annotations

import dataclasses
import tomllib
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from agent.exclusions import LiveExclusions
from agent.privacy_actions import PrivacyActions
from engine.activity import Segment
from engine.paths import store_path
from engine.store import Store
from tests.store_helpers import at, prediction, record


class Harness:
    def __init__(self, home: Path, now_minute: float) -> None:
        self.store = Store.open(store_path(home))
        self.now = at(now_minute).timestamp()
        self.published: list[dict[str, Any]] = []
        self.rebuilt = 0
        self.actions = PrivacyActions(
            home=home, now=lambda: self.now, bucket_seconds=60, submit=self.submit,
            after_forget=self.after_forget, exclusions=LiveExclusions(home),
            publish=lambda **kw: self.published.append(kw),
            app_names=lambda: {"unknown.zqx": "Zqx Notes"},
        )

    def submit(self, job: Any) -> Future[Any]:
        fut: Future[Any] = Future()
        try:
            fut.set_result(job(self.store))
        except Exception as exc:
            fut.set_exception(exc)
        return fut

    def after_forget(self, store: Any) -> None:
        self.rebuilt += 1


def _zqx(minute: int) -> Any:
    seg = Segment(0.0, 40.0, "unknown.zqx", "other", False, False, False, "00ff00ff00ff00ff", "non_browser")
    return dataclasses.replace(record(minute), segments=(seg, *record(minute).segments[1:]))


def test_forget_last_removes_the_window_rebuilds_and_drops_the_open_bucket(home: Path) -> None:
    h = Harness(home, 120.5)
    for m in range(0, 120):
        h.store.put_record(record(m))
        h.store.put_prediction("d1", prediction(m))
    ok, message = h.actions.forget_last(60)
    assert ok and message == "Forgot the last 60 min: 60 min of activity"
    assert h.store.count_records() == 60 and h.rebuilt == 1
    assert not h.actions.admit(record(120))  # open at the click: may hold forgotten seconds
    assert h.actions.admit(record(121))
    assert h.actions.forget_last(0) == (False, "Choose between 1 minute and 7 days.")


def test_exclude_app_edits_the_config_and_forgets_its_minutes(home: Path) -> None:
    h = Harness(home, 30.5)
    for m in range(0, 30):
        h.store.put_record(_zqx(m) if m % 3 == 0 else record(m))
    ok, message = h.actions.exclude_app("unknown.zqx")
    assert ok, message
    assert message == "Zqx Notes is never tracked; forgot 10 min of activity with it in front"
    assert tomllib.loads((home / "config.toml").read_text())["exclude_apps"] == ["unknown.zqx"]
    assert h.actions.exclusions.current.app_excluded("unknown.zqx")
    assert h.store.count_records() == 20
    assert h.published[-1] == {"foreground_app": None}
    assert h.actions.exclude_app("system.lockscreen")[0] is False


def test_the_app_in_front_most_of_a_bucket_is_offered(home: Path) -> None:
    h = Harness(home, 0)
    h.actions.note_bucket(_zqx(0))  # zqx 40 s, firefox 20 s
    assert h.published == [{"foreground_app": ("unknown.zqx", "Zqx Notes")}]
    h.actions.note_bucket(_zqx(1))
    assert len(h.published) == 1  # unchanged: no new snapshot
    locked = dataclasses.replace(record(2), segments=(
        Segment(0.0, 60.0, "system.lockscreen", "lockscreen", False, False, False, None, "non_browser"),))
    h.actions.note_bucket(locked)
    assert h.published[-1] == {"foreground_app": None}


def test_a_store_that_is_gone_is_reported(home: Path) -> None:
    h = Harness(home, 10)
    h.actions._submit = lambda job: _failing(job)
    ok, message = h.actions.forget_last(5)
    assert not ok and message == "the data file is not available"


def _failing(job: Any) -> Future[Any]:
    fut: Future[Any] = Future()
    try:
        fut.set_result(job(None))
    except Exception as exc:
        fut.set_exception(exc)
    return fut
