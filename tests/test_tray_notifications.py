"""Notifications for the agent's questions: off by default, capped per day, spaced out."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tray_fakes import record, snap

from agent.tray.notifications import PromptNotifier, PromptPolicy

T = datetime(2026, 2, 23, 9, 0, tzinfo=UTC)


def asked(n: PromptNotifier, minute: int, *, low: bool = False, now_minute: int | None = None):
    bucket = (T + timedelta(minutes=minute)).isoformat()
    last = record("Build", 0.3 if low else 0.9, rejected=low, bucket_start=bucket)
    s = snap("model", last=last, pending_prompt=bucket)
    return n.observe(s, T + timedelta(minutes=now_minute if now_minute is not None else minute))


def test_off_by_default() -> None:
    n = PromptNotifier(PromptPolicy())
    assert asked(n, 0) is None
    assert asked(n, 100, low=True) is None
    assert n.counts.spot_checks == 0 and n.counts.low_confidence == 0


def test_spot_checks_capped_per_day_and_spaced(tmp_path: Path) -> None:
    n = PromptNotifier(PromptPolicy(notifications=True, spot_checks_per_day=2, min_gap_minutes=60),
                       state_path=tmp_path / "p.json")
    assert asked(n, 0) == (T).isoformat()
    assert asked(n, 30) is None  # too soon after the last one
    assert asked(n, 61) is not None
    assert asked(n, 200) is None  # 2 a day
    assert n.counts.spot_checks == 2
    # a restart keeps today's count
    n2 = PromptNotifier(n.policy, state_path=tmp_path / "p.json")
    assert asked(n2, 300) is None
    # the next day starts afresh
    assert asked(n2, 24 * 60 + 5) is not None
    assert n2.counts.spot_checks == 1


def test_same_prompt_notifies_once_and_paused_never() -> None:
    n = PromptNotifier(PromptPolicy(notifications=True, min_gap_minutes=0))
    assert asked(n, 0) is not None
    assert asked(n, 0, now_minute=3) is None  # the same pending question seen again
    s = snap("paused", pending_prompt=(T + timedelta(minutes=9)).isoformat())
    assert n.observe(s, T + timedelta(minutes=10)) is None


def test_low_confidence_prompts_have_their_own_switch_and_cap() -> None:
    n = PromptNotifier(PromptPolicy(low_confidence_prompts=True, max_low_confidence_per_day=2,
                                    min_gap_minutes=0))
    assert asked(n, 0) is None  # a spot check: notifications are off
    assert asked(n, 1, low=True) is not None
    assert asked(n, 2, low=True) is not None
    assert asked(n, 3, low=True) is None
    assert n.counts.low_confidence == 2


def test_corrupt_state_file_and_bad_prompt(tmp_path: Path) -> None:
    p = tmp_path / "p.json"
    p.write_text("{not json")
    n = PromptNotifier(PromptPolicy(notifications=True), state_path=p)
    assert n.counts.spot_checks == 0
    s = replace(snap("model"), pending_prompt="yesterday-ish")
    assert n.observe(s, T) is None
    assert asked(n, 0) is not None
    assert '"spot_checks": 1' in p.read_text()


def test_policy_from_config() -> None:
    class Cfg:
        notifications = True
        low_confidence_prompts = False
        spot_checks_per_day = -3

    p = PromptPolicy.from_config(Cfg())
    assert p.notifications and not p.low_confidence_prompts and p.spot_checks_per_day == 0
    assert PromptPolicy.from_config(None) == PromptPolicy()
