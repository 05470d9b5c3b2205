"""What the tray shows agrees with what the user said (real runtime and store, manual clock).

After a correction, "Label the last 15 min > Write" must show Write in the header and the icon
(not the earlier correction), and "Today" must list the user's labelled time, not only the
model's blocks.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from agent_helpers import FakeBackend, wait_for

from agent.clock import ManualClock
from agent.runtime import AgentRuntime
from agent.tray.icon import icon_state
from agent.tray.menu_model import MenuContext, MenuModel, build_menu

START = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)


@pytest.fixture
def driven(home: Path):  # type: ignore[no-untyped-def]
    (home / "config.toml").write_text("spot_checks_per_day = 0\n")
    clock = ManualClock(START)
    rt = AgentRuntime(home, backend=FakeBackend(), bucket_seconds=60, sample_seconds=1.0,
                      clock=clock, sampler_thread=False, watch_interval=0.2)
    rt.start()
    try:
        yield rt, clock
    finally:
        rt.stop()


def run_minutes(rt: AgentRuntime, clock: ManualClock, minutes: int) -> None:
    """Sample once a second for ``minutes`` and wait until the closed buckets are processed."""
    assert rt.sampler is not None
    for _ in range(minutes * 60):
        rt.sampler.tick()
        clock.advance(1.0)
    # the last tick was one second before the clock now: the bucket before the open one closed
    last_closed = datetime.fromtimestamp(clock.time() // 60 * 60 - 120, UTC).isoformat()
    wait_for(lambda: (s := rt.snapshot().last) is not None and s.bucket_start >= last_closed)


def menu(rt: AgentRuntime, clock: ManualClock) -> MenuModel:
    return build_menu(rt.snapshot(), MenuContext(now=datetime.fromtimestamp(clock.time(), UTC),
                                                 tz=UTC))


def test_label_the_last_15_min_replaces_an_earlier_correction_everywhere(driven) -> None:  # type: ignore[no-untyped-def]
    rt, clock = driven
    run_minutes(rt, clock, 20)
    block = rt.snapshot().current_block
    assert block is not None
    assert rt.correct(block.block_id, "Debug").ok
    assert menu(rt, clock).header == "Now: Debug · your label"

    res = rt.label_last(15, "Write")
    assert res.ok, res.message
    wait_for(lambda: any(u.label == "Write" for u in rt.snapshot().user_labels))
    model = menu(rt, clock)
    assert model.header == "Now: Write · your label"
    assert icon_state(rt.snapshot()).text == "W"
    today = [i.text for i in model.find("today").submenu or () if i.key.startswith("today.row.")]
    # newest first: the last 15 min up to the open bucket's end, then what is left of the
    # correction (it covered the block from 10:00); no model block: the user labelled it all
    assert today == ["10:06–10:21 Write · yours", "10:00–10:06 Debug · yours"], today


def test_today_keeps_the_users_labels_after_a_restart(home: Path) -> None:
    (home / "config.toml").write_text("spot_checks_per_day = 0\n")
    clock = ManualClock(START)
    rt = AgentRuntime(home, backend=FakeBackend(), bucket_seconds=60, sample_seconds=1.0,
                      clock=clock, sampler_thread=False)
    rt.start()
    try:
        run_minutes(rt, clock, 5)
        assert rt.label_last(5, "Review").ok
        wait_for(lambda: rt.snapshot().user_labels)
    finally:
        rt.stop()
    again = AgentRuntime(home, backend=FakeBackend(), bucket_seconds=60, sample_seconds=1.0,
                         clock=clock, sampler_thread=False)
    again.start()
    try:
        labels = again.snapshot().user_labels
        assert [(u.label, u.start, u.end) for u in labels] == [
            ("Review", "2026-03-02T10:01:00+00:00", "2026-03-02T10:06:00+00:00")]
        ctx = MenuContext(now=datetime.fromtimestamp(clock.time(), UTC), tz=ZoneInfo("Europe/Berlin"))
        today = [i.text for i in build_menu(again.snapshot(), ctx).find("today").submenu or ()
                 if i.key.startswith("today.row.")]
        assert "11:01–11:06 Review · yours" in today, today
    finally:
        again.stop()
