"""What a day looked like, minute by minute, as the user was shown it (the timeline's data).

Per minute: the label the tray showed (the smoothed label after reject, so Mixed/Unknown when
the model was unsure), replaced by the user's own label wherever a human label span covers the
minute (those minutes are marked as the user's). Minutes with neither are not tracked (paused,
away from the computer, or off). Times are the user's local time; totals count minutes.
Rendering (HTML, PNG) lives next door and only reads this.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from agent.label_colors import LABEL_COLORS
from engine.labels import CORE_LABELS, HUMAN_PROVENANCES, MIXED_UNKNOWN
from engine.spans import LabelSpan

MIXED_COLOR = "#90A4AE"
OTHER_COLOR = "#757575"
#: The axis shows at least this working day, widened to whole hours around the data.
DEFAULT_FIRST_HOUR = 8
DEFAULT_END_HOUR = 18


@dataclass(frozen=True, slots=True)
class Stretch:
    """Consecutive minutes of one row with the same shown label (and the same owner)."""

    start: int  # minute of the local day, inclusive
    end: int  # exclusive
    label: str  # core label or Mixed/Unknown
    name: str  # what the user sees: the taxonomy bucket when one is set, else the label
    color: str
    mine: bool  # the user's own label

    @property
    def minutes(self) -> int:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class DayRow:
    day: date
    stretches: tuple[Stretch, ...]

    @property
    def tracked_minutes(self) -> int:
        return sum(s.minutes for s in self.stretches)


@dataclass(frozen=True, slots=True)
class Total:
    name: str
    minutes: int
    color: str
    mine_minutes: int = 0


@dataclass(frozen=True, slots=True)
class DayView:
    title: str
    rows: tuple[DayRow, ...]
    first_hour: int
    end_hour: int
    by_label: tuple[Total, ...]  # core labels and Mixed/Unknown, most minutes first
    by_bucket: tuple[Total, ...] | None  # taxonomy buckets, when a taxonomy is set
    generated_at: datetime
    zone: str

    @property
    def tracked_minutes(self) -> int:
        return sum(r.tracked_minutes for r in self.rows)

    @property
    def week(self) -> bool:
        return len(self.rows) > 1


class Colors:
    """Label -> colour and display name, with the user's taxonomy when one is set."""

    def __init__(self, taxonomy: Any = None) -> None:
        self.taxonomy = taxonomy if taxonomy is not None and not taxonomy.is_identity else None

    def name(self, label: str) -> str:
        if self.taxonomy is None or label == MIXED_UNKNOWN:
            return label
        return str(self.taxonomy.bucket_of(label))

    def color(self, label: str) -> str:
        if label == MIXED_UNKNOWN:
            return MIXED_COLOR
        if self.taxonomy is not None:
            return str(self.taxonomy.color_of(self.taxonomy.bucket_of(label)))
        return LABEL_COLORS.get(label, OTHER_COLOR)

    def label_color(self, label: str) -> str:
        """The core label's own colour (the per-label totals)."""
        return MIXED_COLOR if label == MIXED_UNKNOWN else LABEL_COLORS.get(label, OTHER_COLOR)


def day_bounds(day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """[local midnight, next local midnight) of ``day`` in ``tz`` as aware datetimes."""
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return start, end


def minute_labels(
    day: date,
    tz: tzinfo,
    shown: Iterable[tuple[datetime, str]],
    spans: Sequence[LabelSpan],
) -> dict[int, tuple[str, bool]]:
    """Minute of the local day -> (label, the user's own) from shown labels and label spans."""
    start, end = day_bounds(day, tz)
    out: dict[int, tuple[str, bool]] = {}
    for at, label in shown:
        local = at.astimezone(tz)
        if start <= local < end:
            out[local.hour * 60 + local.minute] = (label, False)
    human = sorted((s for s in spans if s.provenance in HUMAN_PROVENANCES), key=lambda s: s.start_ts)
    starts = [s.start_ts for s in human]
    for minute in range(24 * 60):
        mid = start + timedelta(minutes=minute, seconds=30)  # wall-clock minute of the day
        i = bisect.bisect_right(starts, mid) - 1
        if i >= 0 and human[i].end_ts > mid:
            out[minute] = (human[i].label, True)
    return out


def stretches_of(minutes: dict[int, tuple[str, bool]], colors: Colors) -> tuple[Stretch, ...]:
    out: list[Stretch] = []
    cur: list[Any] | None = None
    for m in sorted(minutes):
        label, mine = minutes[m]
        if cur is not None and cur[1] == m and cur[2] == label and cur[3] == mine:
            cur[1] = m + 1
            continue
        if cur is not None:
            out.append(Stretch(cur[0], cur[1], cur[2], colors.name(cur[2]), colors.color(cur[2]), cur[3]))
        cur = [m, m + 1, label, mine]
    if cur is not None:
        out.append(Stretch(cur[0], cur[1], cur[2], colors.name(cur[2]), colors.color(cur[2]), cur[3]))
    return tuple(out)


def totals(rows: Sequence[DayRow], colors: Colors) -> tuple[tuple[Total, ...], tuple[Total, ...] | None]:
    by_label: Counter[str] = Counter()
    mine_label: Counter[str] = Counter()
    by_bucket: Counter[str] = Counter()
    mine_bucket: Counter[str] = Counter()
    bucket_color: dict[str, str] = {}
    for row in rows:
        for s in row.stretches:
            by_label[s.label] += s.minutes
            by_bucket[s.name] += s.minutes
            bucket_color[s.name] = s.color
            if s.mine:
                mine_label[s.label] += s.minutes
                mine_bucket[s.name] += s.minutes
    def ranked(c: Counter[str], names: Sequence[str]) -> list[str]:
        """Most minutes first; ties in the label (or taxonomy) order."""
        order = {n: i for i, n in enumerate(names)}
        return sorted(c, key=lambda k: (-c[k], order.get(k, len(order)), k))

    label_order = (*CORE_LABELS, MIXED_UNKNOWN)
    labels = tuple(Total(k, by_label[k], colors.label_color(k), mine_label[k])
                   for k in ranked(by_label, label_order))
    if colors.taxonomy is None:
        return labels, None
    names = (*colors.taxonomy.names, MIXED_UNKNOWN)
    buckets = tuple(Total(k, by_bucket[k], bucket_color[k], mine_bucket[k])
                    for k in ranked(by_bucket, names))
    return labels, buckets


def axis_hours(rows: Sequence[DayRow]) -> tuple[int, int]:
    """Whole hours covering every stretch, and at least 08:00-18:00."""
    first, end = DEFAULT_FIRST_HOUR, DEFAULT_END_HOUR
    for row in rows:
        for s in row.stretches:
            first = min(first, s.start // 60)
            end = max(end, -(-s.end // 60))
    return first, min(end, 24)


ZoneOf = Callable[[date], tzinfo]


def local_zone(day: date) -> tzinfo:
    """The machine's UTC offset on ``day`` (taken at noon, so a DST change is honoured)."""
    zone = datetime.combine(day, time(12)).astimezone().tzinfo
    assert zone is not None
    return zone


def build_view(
    days: Sequence[date],
    zone_of: ZoneOf,
    shown: Sequence[tuple[datetime, str]],
    spans: Sequence[LabelSpan],
    *,
    taxonomy: Any = None,
    now: datetime,
    zone: str,
) -> DayView:
    """The view of ``days`` (one row each) from shown labels per bucket and label spans."""
    colors = Colors(taxonomy)
    rows = tuple(DayRow(d, stretches_of(minute_labels(d, zone_of(d), shown, spans), colors))
                 for d in days)
    by_label, by_bucket = totals(rows, colors)
    first, end = axis_hours(rows)
    if len(days) == 1:
        title = days[0].strftime("%A, %-d %B %Y")
    else:
        title = f"Week of {days[0].strftime('%-d %B %Y')}"
    return DayView(title, rows, first, end, by_label, by_bucket, now, zone)


def load_view(
    store: Any,
    user_id: str,
    days: Sequence[date],
    zone_of: ZoneOf,
    *,
    taxonomy: Any = None,
    now: datetime,
    zone: str,
) -> DayView:
    """Read the shown labels and label spans of ``days`` from the store and build the view."""
    start, _ = day_bounds(days[0], zone_of(days[0]))
    _, end = day_bounds(days[-1], zone_of(days[-1]))
    shown = [
        (datetime.fromisoformat(p.bucket_start.replace("Z", "+00:00")), p.smoothed_label)
        for p in store.predictions(user_id=user_id, start=start, end=end)
    ]
    spans = store.label_spans(user_id=user_id, start=start, end=end)
    return build_view(days, zone_of, shown, spans, taxonomy=taxonomy, now=now, zone=zone)


def format_minutes(minutes: int) -> str:
    """``7 min``, ``1 h 05 min``, ``3 h``."""
    h, m = divmod(int(minutes), 60)
    if h == 0:
        return f"{m} min"
    return f"{h} h" if m == 0 else f"{h} h {m:02d} min"


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"
