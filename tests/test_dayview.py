"""The day timeline: minutes as the user saw them, totals, the page and the picture."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from PIL import Image

from agent.dayview import layout
from agent.dayview.html_page import render_html
from agent.dayview.model import LABEL_COLORS, build_view
from agent.dayview.png import PAD, SCALE
from agent.dayview.report import days_of, write_report
from engine.cli.main import main
from engine.spans import LabelSpan
from engine.taxonomy import taxonomy_from_obj
from tests.dayview_helpers import DAY, MIDNIGHT, MINE, SHOWN, fill_day, minutes_by_label_from_store

NOW = datetime(2026, 3, 4, 18, 0, tzinfo=UTC)


def _shown() -> list[tuple[datetime, str]]:
    return [(MIDNIGHT + timedelta(minutes=m), lab) for a, b, lab in SHOWN for m in range(a, b)]


def _mine() -> list[LabelSpan]:
    a, b, lab = MINE
    return [LabelSpan(MIDNIGHT + timedelta(minutes=a), MIDNIGHT + timedelta(minutes=b), lab, "u1",
                      "correction", 0.6, MIDNIGHT)]


def _view(**kw: object) -> object:
    return build_view([DAY], lambda d: UTC, _shown(), _mine(), now=NOW, zone="UTC", **kw)  # type: ignore[arg-type]


def test_stretches_follow_the_shown_labels_and_the_users_own() -> None:
    view = _view()
    got = [(s.start, s.end, s.label, s.mine) for s in view.rows[0].stretches]  # type: ignore[attr-defined]
    assert got == [
        (540, 600, "Build", False), (600, 630, "Meet", True), (630, 645, "Mixed/Unknown", False),
        (660, 720, "Debug", False), (780, 870, "Write", False), (870, 900, "BreakIdle", False),
    ]
    assert (view.first_hour, view.end_hour) == (8, 18)  # type: ignore[attr-defined]


def test_totals_count_minutes_per_shown_label_most_first() -> None:
    view = _view()
    totals = [(t.name, t.minutes, t.mine_minutes) for t in view.by_label]  # type: ignore[attr-defined]
    assert totals == [("Write", 90, 0), ("Build", 60, 0), ("Debug", 60, 0), ("Meet", 30, 30),
                      ("BreakIdle", 30, 0), ("Mixed/Unknown", 15, 0)]
    assert view.by_bucket is None and view.tracked_minutes == 285  # type: ignore[attr-defined]


def test_a_taxonomy_names_and_colours_the_blocks_and_adds_bucket_totals() -> None:
    tax = taxonomy_from_obj({"buckets": [
        {"name": "Deep <Work>", "core_labels": ["Build", "Debug", "Write"], "color": "#3F51B5"},
        {"name": "Talk", "core_labels": ["Meet", "Communicate"], "color": "#F4511E"}]})
    view = _view(taxonomy=tax)
    first = view.rows[0].stretches[0]  # type: ignore[attr-defined]
    assert (first.name, first.color) == ("Deep <Work>", "#3F51B5")
    assert [(t.name, t.minutes) for t in view.by_bucket] == [  # type: ignore[attr-defined]
        ("Deep <Work>", 210), ("Talk", 30), ("Other", 30), ("Mixed/Unknown", 15)]
    page = render_html(view)  # type: ignore[arg-type]
    assert "Deep &lt;Work&gt;" in page and "Deep <Work>" not in page


def test_local_time_moves_the_blocks_with_the_zone() -> None:
    plus2 = timezone(timedelta(hours=2))
    view = build_view([DAY], lambda d: plus2, _shown(), [], now=NOW, zone="+02")
    assert view.rows[0].stretches[0].start == 11 * 60  # 09:00 UTC is 11:00 at +02
    assert view.end_hour == 18  # the last block (15:00 UTC) ends at 17:00 local


def test_the_axis_widens_to_early_and_late_work() -> None:
    shown = [(MIDNIGHT + timedelta(hours=6, minutes=30), "Build"),
             (MIDNIGHT + timedelta(hours=21, minutes=10), "Write")]
    view = build_view([DAY], lambda d: UTC, shown, [], now=NOW, zone="UTC")
    assert (view.first_hour, view.end_hour) == (6, 22)


def test_the_page_is_self_contained() -> None:
    page = render_html(_view())  # type: ignore[arg-type]
    assert "<script" not in page.lower()
    assert re.findall(r"(?:src|href)\s*=", page) == []
    assert re.findall(r"https?://", page) == ["http://"]  # the SVG namespace only
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert 'data-label="Meet" data-minutes="30"' in page


def test_week_has_one_row_per_day_monday_first() -> None:
    assert days_of(date(2026, 3, 4), True)[0] == date(2026, 3, 2)
    assert len(days_of(date(2026, 3, 4), True)) == 7
    view = build_view(days_of(DAY, True), lambda d: UTC, _shown(), _mine(), now=NOW, zone="UTC")
    assert [r.tracked_minutes for r in view.rows] == [0, 0, 285, 0, 0, 0, 0]
    assert view.title == "Week of 2 March 2026"


def _rgb(hex_color: str) -> tuple[int, int, int]:
    return int(hex_color[1:3], 16), int(hex_color[3:5], 16), int(hex_color[5:7], 16)


def test_report_writes_page_and_picture_with_blocks_in_place(home: Path) -> None:
    fill_day(home)
    out = write_report(home, DAY, user_id="u1", zone_of=lambda d: UTC, now=NOW)
    assert out.html == home / "artifacts" / "days" / "2026-03-04.html"
    assert out.tracked_minutes == sum(minutes_by_label_from_store(home).values())
    assert out.png.stat().st_mode & 0o777 == 0o600
    img = Image.open(out.png).convert("RGB")
    top = PAD + 66 + layout.AXIS_H  # where the PNG draws the track (see png.render_png)
    y = (top + layout.DAY_ROW_H * 0.3) * SCALE

    def x_of(minute: float) -> float:
        return (PAD + (minute - 8 * 60) / 600 * layout.WIDTH) * SCALE

    for a, b, label in SHOWN:
        if label == "Mixed/Unknown" or (a, b) == MINE[:2]:
            continue
        assert img.getpixel((x_of((a + b) / 2), y)) == _rgb(LABEL_COLORS[label]), label
    assert img.getpixel((x_of(sum(MINE[:2]) / 2), y)) == _rgb(LABEL_COLORS["Meet"])
    assert img.getpixel((x_of(12 * 60 + 30), y)) == _rgb(layout.TRACK_BG)  # not tracked


def test_report_day_command(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "day", "--date", "2026-03-04"]) == 1
    assert "no data yet" in capsys.readouterr().err
    fill_day(home)
    assert main(["report", "day", "--date", "2026-03-04"]) == 1  # two users, no identity
    assert "choose one with --user" in capsys.readouterr().err
    assert main(["report", "day", "--date", "2026-03-04", "--user", "u1", "--week"]) == 0
    out = capsys.readouterr().out.split()
    assert out == [str(home / "artifacts/days/week-2026-03-02.html"),
                   str(home / "artifacts/days/week-2026-03-02.png")]
    assert main(["report", "day", "--date", "4 March"]) == 1
    assert "--date: not a date" in capsys.readouterr().err
