"""Where things go in the timeline picture; shared by the HTML page and the PNG so they agree.

Units are CSS pixels in the page and pixels in the PNG. The timeline is ``WIDTH`` wide; a day
page has one tall row, a week page one row per day with the day's name on the left and its
tracked time on the right.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.dayview.model import DayView

WIDTH = 960
AXIS_H = 22  # hour labels above the first row
DAY_ROW_H = 64
WEEK_ROW_H = 30
WEEK_GAP = 10
WEEK_LABEL_W = 76
WEEK_TOTAL_W = 76
RADIUS = 8
#: Colours of the picture itself (not of labels).
TRACK_BG = "#ECEFF3"  # not-tracked time: the empty track
GRID = "#D5DAE1"
INK = "#1F2933"
MUTED = "#66727F"
PAGE_BG = "#F4F5F7"
CARD_BG = "#FFFFFF"
MINE_MARK = "#FFFFFF"


@dataclass(frozen=True, slots=True)
class Geometry:
    track_x: float
    track_w: float
    row_h: float
    row_gap: float
    first_hour: int
    end_hour: int
    rows: int

    @property
    def height(self) -> float:
        return AXIS_H + self.rows * self.row_h + (self.rows - 1) * self.row_gap + 4

    def row_y(self, i: int) -> float:
        return AXIS_H + i * (self.row_h + self.row_gap)

    def x(self, minute: float) -> float:
        span = (self.end_hour - self.first_hour) * 60
        return self.track_x + (minute - self.first_hour * 60) / span * self.track_w


def geometry(view: DayView) -> Geometry:
    if view.week:
        return Geometry(WEEK_LABEL_W, WIDTH - WEEK_LABEL_W - WEEK_TOTAL_W, WEEK_ROW_H, WEEK_GAP,
                        view.first_hour, view.end_hour, len(view.rows))
    return Geometry(0, WIDTH, DAY_ROW_H, 0, view.first_hour, view.end_hour, 1)


def hour_marks(g: Geometry) -> list[tuple[int, float]]:
    """(hour, x) of every hour line, thinned to every 2nd/3rd hour on long axes."""
    hours = g.end_hour - g.first_hour
    step = 1 if hours <= 12 else (2 if hours <= 18 else 3)
    return [(h, g.x(h * 60)) for h in range(g.first_hour, g.end_hour + 1) if (h - g.first_hour) % step == 0]
