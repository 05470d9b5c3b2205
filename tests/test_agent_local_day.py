""""Today" is the user's local day: the blocks of the day survive UTC midnight (16:00 at UTC-8)
and end at local midnight (11:00 UTC at UTC+13); a restart replays from local midnight, also
on the days the clocks change. The runtime runs on a manual clock in the given zone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agent.clock import ManualClock, local_day_start
from agent.sampler import Sample
from tests.agent_helpers import FakeBackend, editor_sample, manual_runtime, run_for, start_manual

LA = ZoneInfo("America/Los_Angeles")
AUCKLAND = ZoneInfo("Pacific/Auckland")


def _slack() -> Sample:
    s = editor_sample()
    return Sample(app_name="slack", exe="slack", wm_class=("slack", "Slack"), title="general",
                  idle_seconds=0.1, locked=False, counts=s.counts)


class _Switching(FakeBackend):
    """The editor until ``switch_at`` (wall time), then Slack: a new block starts there."""

    def __init__(self, clock: ManualClock, switch_at: float) -> None:
        super().__init__(lambda n: _slack() if clock.time() >= switch_at else editor_sample())


def _blocks_across(home: Path, tz: ZoneInfo, local_start: datetime, switch: datetime,
                   minutes: int) -> list[str]:
    clock = ManualClock(local_start.replace(tzinfo=tz), tz=tz)
    rt = manual_runtime(home, clock, _Switching(clock, switch.replace(tzinfo=tz).timestamp()))
    start_manual(rt)
    try:
        run_for(rt, clock, minutes * 60)
        return [b.start for b in rt.snapshot().today_blocks]
    finally:
        rt.stop()


def test_blocks_survive_utc_midnight_at_utc_minus_8(home: Path) -> None:
    # 15:40 -> 16:20 local (23:40 -> 00:20 UTC), a new block at 16:05 local
    starts = _blocks_across(home, LA, datetime(2026, 3, 2, 15, 40, 10),
                            datetime(2026, 3, 2, 16, 5), 40)
    # the Slack block shows from 16:06 (smoothing needs two of three buckets)
    assert starts == ["2026-03-02T23:40:00+00:00", "2026-03-03T00:06:00+00:00"]


def test_blocks_end_at_local_midnight_at_utc_plus_13(home: Path) -> None:
    # 23:40 -> 00:20 local (10:40 -> 11:20 UTC), a new block at 00:05 local
    starts = _blocks_across(home, AUCKLAND, datetime(2026, 3, 2, 23, 40, 10),
                            datetime(2026, 3, 3, 0, 5), 40)
    # the editor block of the previous local day is gone; Slack shows from 00:06
    assert starts == ["2026-03-02T11:06:00+00:00"]


@pytest.mark.parametrize(("now", "midnight"), [
    # spring forward (02:00 -> 03:00): midnight was PST (UTC-8), now is PDT (UTC-7)
    (datetime(2026, 3, 8, 10, 0, tzinfo=LA), datetime(2026, 3, 8, 8, 0, tzinfo=UTC)),
    # fall back (02:00 -> 01:00): midnight was PDT (UTC-7), now is PST (UTC-8)
    (datetime(2026, 11, 1, 10, 0, tzinfo=LA), datetime(2026, 11, 1, 7, 0, tzinfo=UTC)),
    (datetime(2026, 11, 1, 0, 30, tzinfo=LA), datetime(2026, 11, 1, 7, 0, tzinfo=UTC)),
    (datetime(2026, 4, 5, 12, 0, tzinfo=AUCKLAND), datetime(2026, 4, 4, 11, 0, tzinfo=UTC)),
])
def test_local_day_start_across_dst(now: datetime, midnight: datetime) -> None:
    clock = ManualClock(now, tz=now.tzinfo)  # type: ignore[arg-type]
    assert local_day_start(clock, now.timestamp()) == midnight.timestamp()


def test_restart_on_a_dst_day_replays_from_local_midnight(home: Path) -> None:
    from agent.bucket_processor import BucketProcessor

    clock = ManualClock(datetime(2026, 3, 8, 0, 50, 10, tzinfo=LA), tz=LA)
    rt = manual_runtime(home, clock)
    start_manual(rt)
    try:
        run_for(rt, clock, 2 * 3600 + 40 * 60)  # to 04:30 PDT, across the change at 02:00
    finally:
        rt.stop()
    rt2 = manual_runtime(home, clock)
    start_manual(rt2)
    try:
        assert isinstance(rt2.processor, BucketProcessor)
        from engine.paths import store_path
        from engine.store import Store

        with Store.open(store_path(home), readonly=True) as st:
            recs, since = rt2.processor.recent_records(st)
        assert since == datetime(2026, 3, 8, 8, 0, tzinfo=UTC)  # 00:00 PST
        blocks = rt2.snapshot().today_blocks
        assert blocks and blocks[0].start == "2026-03-08T08:50:00+00:00"  # 00:50 PST
    finally:
        rt2.stop()
