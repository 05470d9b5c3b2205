"""Today's rows: the user's labels over the model's blocks, in the user's local day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from agent.snapshot import UserLabel
from agent.tray.today import TodayRow, local_midnight, today_rows
from engine.record import Block


def blk(i: int, label: str, start: str, end: str) -> Block:
    return Block(block_id=i, label=label, mapped_label=label, start=start, end=end, buckets=1)


def lab(label: str, start: str, end: str) -> UserLabel:
    return UserLabel(start=start, end=end, label=label)


def spans(rows: list[TodayRow]) -> list[tuple[str, str, str, bool]]:
    return [(r.start.strftime("%H:%M"), r.end.strftime("%H:%M"), r.label, r.yours) for r in rows]


NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_a_user_label_cuts_the_models_block() -> None:
    rows = today_rows((blk(1, "Build", "2026-03-02T09:00:00+00:00", "2026-03-02T10:00:00+00:00"),),
                      (lab("Write", "2026-03-02T09:20:00+00:00", "2026-03-02T09:35:00+00:00"),),
                      NOW, UTC)
    assert spans(rows) == [("09:00", "09:20", "Build", False), ("09:20", "09:35", "Write", True),
                           ("09:35", "10:00", "Build", False)]


def test_a_label_with_no_model_block_under_it_is_listed() -> None:
    rows = today_rows((), (lab("Meet", "2026-03-02T08:00:00+00:00", "2026-03-02T08:30:00+00:00"),), NOW, UTC)
    assert spans(rows) == [("08:00", "08:30", "Meet", True)]


def test_the_later_of_two_overlapping_labels_wins() -> None:
    rows = today_rows((), (lab("Debug", "2026-03-02T09:00:00+00:00", "2026-03-02T10:00:00+00:00"),
                           lab("Write", "2026-03-02T09:45:00+00:00", "2026-03-02T10:00:00+00:00")), NOW, UTC)
    assert spans(rows) == [("09:00", "09:45", "Debug", True), ("09:45", "10:00", "Write", True)]


def test_local_day_at_utc_minus_8_and_plus_13() -> None:
    """A label from the user's yesterday is not today's, whatever the UTC date says."""
    la, auckland = ZoneInfo("America/Los_Angeles"), ZoneInfo("Pacific/Auckland")
    # 17:00 UTC on 2 March is 09:00 in Los Angeles (midnight = 08:00 UTC)
    labels = (lab("Review", "2026-03-02T07:00:00+00:00", "2026-03-02T09:00:00+00:00"),)
    rows = today_rows((), labels, datetime(2026, 3, 2, 17, 0, tzinfo=UTC), la)
    assert spans(rows) == [("08:00", "09:00", "Review", True)]  # clipped at local midnight
    # 23:30 UTC on 2 March is 12:30 on 3 March in Auckland (UTC+13; midnight = 11:00 UTC)
    rows = today_rows((), labels, datetime(2026, 3, 2, 23, 30, tzinfo=UTC), auckland)
    assert rows == []  # that was yesterday in Auckland
    later = (lab("Review", "2026-03-02T10:30:00+00:00", "2026-03-02T12:00:00+00:00"),)
    rows = today_rows((), later, datetime(2026, 3, 2, 23, 30, tzinfo=UTC), auckland)
    assert spans(rows) == [("11:00", "12:00", "Review", True)]


def test_local_midnight_across_a_dst_change() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # 29 March 2026: clocks go forward at 02:00; midnight is still 23:00 UTC the day before
    assert local_midnight(datetime(2026, 3, 29, 12, tzinfo=UTC), berlin) == datetime(2026, 3, 28, 23, tzinfo=UTC)
    # the next day midnight is 22:00 UTC
    assert local_midnight(datetime(2026, 3, 30, 12, tzinfo=UTC), berlin) == datetime(2026, 3, 29, 22, tzinfo=UTC)


minutes = st.integers(0, 600)


@given(st.lists(st.tuples(minutes, st.integers(1, 120)), max_size=6),
       st.lists(st.tuples(minutes, st.integers(1, 120), st.sampled_from(["Write", "Debug", "Meet"])),
                max_size=6))
def test_rows_never_overlap_and_the_user_always_wins(model: list[tuple[int, int]],
                                                     users: list[tuple[int, int, str]]) -> None:
    base = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)

    def at(m: int) -> str:
        return (base + timedelta(minutes=m)).isoformat()

    # model blocks never overlap each other: lay them end to end
    blocks, t = [], 0
    for i, (gap, length) in enumerate(model):
        t += gap % 60
        blocks.append(blk(i, "Build", at(t), at(t + length)))
        t += length
    labels = tuple(lab(name, at(s), at(s + n)) for s, n, name in users)
    rows = today_rows(tuple(blocks), labels, base + timedelta(hours=20), UTC)
    for a, b in zip(rows, rows[1:], strict=False):
        assert a.end <= b.start
    for m in range(0, 800, 7):  # every minute a user labelled shows their latest label
        instant = base + timedelta(minutes=m, seconds=30)
        mine = [name for s, n, name in users if s <= m + 0.5 < s + n]
        row = next((r for r in rows if r.start <= instant < r.end), None)
        if mine:
            assert row is not None and row.yours and row.label == mine[-1]
        elif any(datetime.fromisoformat(bk.start) <= instant < datetime.fromisoformat(bk.end) for bk in blocks):
            assert row is not None and not row.yours and row.label == "Build"
        else:
            assert row is None
