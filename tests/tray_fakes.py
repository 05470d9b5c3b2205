"""Snapshot factories and a fake agent runtime for the tray's unit tests (no display, no store)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from agent.snapshot import AgentSnapshot, LearningProgress, ModelStatus
from agent.tray.backends import TrayBackend
from engine.labels import LABEL_ORDER, MIXED_UNKNOWN
from engine.record import Block, PredictionRecord

NOW = datetime(2026, 2, 23, 11, 17, 30, tzinfo=UTC)
BLOCK_START = "2026-02-23T10:42:00+00:00"


def record(
    label: str = "Build",
    confidence: float = 0.82,
    *,
    model_id: str = "run-a",
    rejected: bool = False,
    mapped: str | None = None,
    bucket_start: str = "2026-02-23T11:16:00+00:00",
    calibrator: str = "user",
) -> PredictionRecord:
    probs = [0.0] * len(LABEL_ORDER)
    core = label if label != MIXED_UNKNOWN else "Debug"
    i = LABEL_ORDER.index(core)
    probs[i] = confidence
    rest = (1.0 - confidence) / (len(LABEL_ORDER) - 1)
    probs = [p if j == i else rest for j, p in enumerate(probs)]
    return PredictionRecord(
        bucket_start=bucket_start,
        user_id="u1",
        session_id="s1",
        model_id=model_id,
        model_sha256=None,
        label_order=LABEL_ORDER,
        raw_probs=tuple(probs),
        probs=tuple(probs),
        core_label=core,
        confidence=confidence,
        threshold=0.55,
        threshold_source="global",
        rejected=rejected,
        accepted_label=MIXED_UNKNOWN if rejected else core,
        smoothed_label=label,
        mapped_label=mapped or label,
        mapped_probs={mapped or label: 1.0},
        calibrator=calibrator,
    )


def block(
    label: str = "Build", *, block_id: int = 7, start: str = BLOCK_START, mapped: str | None = None,
    end: str = "2026-02-23T11:17:00+00:00",
) -> Block:
    return Block(block_id=block_id, label=label, mapped_label=mapped or label, start=start, end=end,
                 buckets=35)


def model_status(kind: str = "model", **kw: Any) -> ModelStatus:
    if kind == "model":
        kw.setdefault("model_id", "run-a")
        kw.setdefault("calibrated_for_user", True)
        kw.setdefault("threshold", 0.55)
        kw.setdefault("threshold_source", "per_user")
    return ModelStatus(kind=kind, **kw)


def snap(state: str = "model", **kw: Any) -> AgentSnapshot:
    """A snapshot in one of the named menu states, with keyword overrides."""
    base: dict[str, Any] = {"user_id": "u1", "sampler_backend": "x11", "version": 3}
    if state == "starting":
        base["model"] = ModelStatus(kind="starting")
    elif state == "rules":
        base.update(model=model_status("rules"), last=record(model_id="rules", confidence=1.0),
                    current_block=block())
    elif state == "model":
        base.update(model=model_status(), last=record(), current_block=block())
    elif state == "rejected":
        base.update(model=model_status(), last=record(MIXED_UNKNOWN, 0.31, rejected=True),
                    current_block=block(MIXED_UNKNOWN))
    elif state == "paused":
        base.update(model=model_status(), last=record(), current_block=block(),
                    paused_until="2026-02-23T11:32:00+00:00")
    elif state == "refused":
        base.update(model=model_status(policy_error="models/inference_policy.json: model_dir: path escapes the data directory"),
                    last=record(), current_block=block())
    elif state == "taxonomy":
        base.update(model=model_status(), last=record(mapped="Deep Work"),
                    current_block=block(mapped="Deep Work"),
                    taxonomy_colors={"Deep Work": "#123456", "Admin": "#abcdef"})
    else:
        raise ValueError(state)
    base.update(kw)
    return AgentSnapshot(**base)


@dataclass
class ActionResult:
    ok: bool
    message: str
    saved: bool = True


@dataclass
class FakeRuntime:
    """Implements the AgentRuntime methods the tray calls and records every call."""

    snap: AgentSnapshot = field(default_factory=lambda: snap("model"))
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    fail_with: str | None = None
    subscribers: list[Callable[[AgentSnapshot], None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    started: bool = False
    stopped: bool = False

    def start(self) -> None:
        self.started = True

    def stop(self, timeout: float = 5.0) -> None:
        self.stopped = True

    def snapshot(self) -> AgentSnapshot:
        return self.snap

    def subscribe(self, callback: Callable[[AgentSnapshot], None]) -> None:
        self.subscribers.append(callback)

    def publish(self, s: AgentSnapshot) -> None:
        self.snap = replace(s, version=self.snap.version + 1)
        for cb in list(self.subscribers):
            cb(self.snap)

    def _result(self) -> ActionResult:
        if self.fail_with:
            return ActionResult(False, self.fail_with, False)
        return ActionResult(True, "Saved", True)

    def confirm(self, block_id: int) -> ActionResult:
        self.calls.append(("confirm", block_id))
        return self._result()

    def correct(self, block_id: int, label: str) -> ActionResult:
        self.calls.append(("correct", block_id, label))
        return self._result()

    def label_last(self, minutes: int, label: str) -> ActionResult:
        self.calls.append(("label_last", minutes, label))
        return self._result()

    def answer_prompt(self, bucket_start: str, label: str) -> ActionResult:
        self.calls.append(("answer_prompt", bucket_start, label))
        return self._result()

    def pause(self, seconds: float | None) -> None:
        self.calls.append(("pause", seconds))
        until = "forever" if seconds is None else (NOW + timedelta(seconds=seconds)).isoformat()
        self.publish(replace(self.snap, paused_until=until))

    def resume(self) -> None:
        self.calls.append(("resume",))
        self.publish(replace(self.snap, paused_until=None))

    def reload_now(self) -> None:
        self.calls.append(("reload",))

    def forget_last(self, minutes: int) -> ActionResult:
        self.calls.append(("forget_last", minutes))
        return self._result()

    def exclude_app(self, app_id: str) -> ActionResult:
        self.calls.append(("exclude_app", app_id))
        return self._result()


LEARNING_DONE = LearningProgress(labelled_buckets=250, labelled_days=4, distinct_labels=5)


# ---------------------------------------------------------------- a fake pystray


class FakeMenuItem:
    def __init__(self, text: str, action: Any, checked: Any = None, radio: bool = False,
                 default: bool = False, enabled: bool = True) -> None:
        self.text, self.action, self.radio, self.default, self.enabled = text, action, radio, default, enabled
        self.checked = checked(self) if callable(checked) else None


class FakeMenu:
    SEPARATOR = object()

    def __init__(self, *items: Any) -> None:
        self._items = items

    @property
    def items(self) -> list[Any]:
        if len(self._items) == 1 and callable(self._items[0]):
            return list(self._items[0]())
        return list(self._items)


class FakeIcon:
    HAS_MENU = True
    HAS_MENU_RADIO = True
    HAS_DEFAULT_ACTION = True
    HAS_NOTIFICATION = True

    def __init__(self, name: str, icon: Any, title: str, menu: FakeMenu) -> None:
        self.name, self.icon, self.title, self.menu = name, icon, title, menu
        self.visible = False
        self.menu_updates = 0
        self.notes: list[str] = []
        self._stopped = threading.Event()
        self.images: list[Any] = []

    def __setattr__(self, key: str, value: Any) -> None:
        if key == "icon" and value is not None:
            self.__dict__.setdefault("images", []).append(value)
        super().__setattr__(key, value)

    def run(self, setup: Any = None) -> None:
        threading.Thread(target=setup, args=(self,), daemon=True).start()
        self._stopped.wait(20)

    def stop(self) -> None:
        self._stopped.set()

    def update_menu(self) -> None:
        self.menu_updates += 1

    def notify(self, message: str, title: str | None = None) -> None:
        self.notes.append(message)


FAKE_BACKEND = TrayBackend("fake", FakeIcon, FakeMenu, FakeMenuItem)


def find(items: list[Any], *texts: str) -> FakeMenuItem:
    """Follow menu texts down the submenus."""
    cur: Any = None
    for t in texts:
        cur = next(i for i in items if i is not FakeMenu.SEPARATOR and i.text == t)
        if isinstance(cur.action, FakeMenu):
            items = cur.action.items
    return cur


def click(item: FakeMenuItem) -> None:
    item.action(None, item)
