"""The same picture as the page, drawn with Pillow (to share, or to look at without a browser).

Drawn at 2x for crisp text and edges, from the same layout as the page's SVG; the header, the
timeline with its hour grid, the legend and the totals by label (and by category).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from agent.dayview import layout as L
from agent.dayview.model import MIXED_COLOR, DayView, Total, format_minutes
from engine.labels import MIXED_UNKNOWN

SCALE = 2
PAD = 40
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@lru_cache(maxsize=16)
def _font(px: int, bold: bool = False) -> Font:
    names = ("DejaVuSans-Bold.ttf", "Arial Bold.ttf", "arialbd.ttf") if bold else (
        "DejaVuSans.ttf", "Arial.ttf", "arial.ttf")
    for name in names:
        try:
            # BASIC layout: libraqm's HarfBuzz clashes with the one GTK loads into the tray
            # process (glyphs come out absurdly large); Latin labels need no shaping.
            return ImageFont.truetype(name, px * SCALE, layout_engine=ImageFont.Layout.BASIC)
        except OSError:
            continue
    return ImageFont.load_default(size=px * SCALE)


def _rgb(hex_color: str) -> tuple[int, int, int]:
    return int(hex_color[1:3], 16), int(hex_color[3:5], 16), int(hex_color[5:7], 16)


class _Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.img = Image.new("RGB", (width * SCALE, height * SCALE), _rgb(L.CARD_BG))
        self.d = ImageDraw.Draw(self.img)

    def rect(self, x0: float, y0: float, x1: float, y1: float, color: str, radius: float = 0) -> None:
        box = (round(x0 * SCALE), round(y0 * SCALE), round(x1 * SCALE) - 1, round(y1 * SCALE) - 1)
        if box[2] < box[0]:
            box = (box[0], box[1], box[0], box[3])
        if radius:
            self.d.rounded_rectangle(box, radius=radius * SCALE, fill=_rgb(color))
        else:
            self.d.rectangle(box, fill=_rgb(color))

    def hatch(self, x0: float, y0: float, x1: float, y1: float) -> None:
        """Mixed/Unknown: diagonal stripes, clipped to the block."""
        w, h = max(1, round((x1 - x0) * SCALE)), max(1, round((y1 - y0) * SCALE))
        tile = Image.new("RGB", (w, h), _rgb("#DDE3E8"))
        td = ImageDraw.Draw(tile)
        step = 8 * SCALE
        for k in range(-h, w + h, step):
            td.polygon([(k, h), (k + h, 0), (k + h + step // 2, 0), (k + step // 2, h)], fill=_rgb(MIXED_COLOR))
        self.img.paste(tile, (round(x0 * SCALE), round(y0 * SCALE)))

    def round_corners(self, x0: float, y0: float, x1: float, y1: float, radius: float) -> None:
        """Clip what was drawn in the box to a rounded rectangle (blocks at the track's ends)."""
        box = (round(x0 * SCALE), round(y0 * SCALE), round(x1 * SCALE), round(y1 * SCALE))
        region = self.img.crop(box)
        mask = Image.new("L", region.size, 0)
        ImageDraw.Draw(mask).rounded_rectangle((0, 0, region.width - 1, region.height - 1),
                                               radius=radius * SCALE, fill=255)
        clipped = Image.new("RGB", region.size, _rgb(L.CARD_BG))
        clipped.paste(region, (0, 0), mask)
        self.img.paste(clipped, box[:2])

    def text(self, x: float, y: float, text: str, px: int, color: str, *, bold: bool = False,
             anchor: str = "la") -> None:
        self.d.text((x * SCALE, y * SCALE), text, font=_font(px, bold), fill=_rgb(color), anchor=anchor)


def _draw_timeline(c: _Canvas, view: DayView, ox: float, oy: float) -> float:
    g = L.geometry(view)
    marks = L.hour_marks(g)
    for h, x in marks:
        anchor = "ls" if x <= g.track_x + 1 else ("rs" if x >= g.track_x + g.track_w - 1 else "ms")
        c.text(ox + x, oy + 14, f"{h:02d}:00", 12, L.MUTED, anchor=anchor)
    for i, row in enumerate(view.rows):
        y = oy + g.row_y(i)
        c.rect(ox + g.track_x, y, ox + g.track_x + g.track_w, y + g.row_h, L.TRACK_BG, L.RADIUS)
        for _h, x in marks[1:-1]:
            c.rect(ox + x, y, ox + x + 1, y + g.row_h, L.GRID)
        for s in row.stretches:
            x0, x1 = ox + g.x(s.start), ox + g.x(s.end)
            if s.label == MIXED_UNKNOWN:
                c.hatch(x0, y, x1, y + g.row_h)
            else:
                c.rect(x0, y, x1, y + g.row_h, s.color)
            if s.mine and x1 - x0 >= 4:
                mark_h = 4 if g.row_h > 40 else 3
                c.rect(x0 + 1.5, y + g.row_h - mark_h - 4, x1 - 1.5, y + g.row_h - 4, L.MINE_MARK, mark_h / 2)
        c.round_corners(ox + g.track_x, y, ox + g.track_x + g.track_w, y + g.row_h, L.RADIUS)
        if view.week:
            cy = y + g.row_h / 2
            c.text(ox, cy, row.day.strftime("%a %-d"), 13, L.INK, bold=True, anchor="lm")
            c.text(ox + L.WIDTH, cy, format_minutes(row.tracked_minutes) if row.tracked_minutes else "—",
                   13, L.MUTED, anchor="rm")
    return oy + g.height


def _draw_totals(c: _Canvas, title: str, totals: tuple[Total, ...], x: float, y: float, w: float,
                 tracked: int) -> float:
    c.text(x, y, title, 16, L.INK, bold=True)
    y += 30
    top = max((t.minutes for t in totals), default=1) or 1
    bar_x, bar_w = x + 150, w - 150 - 160
    for t in totals:
        cy = y + 10
        c.rect(x, cy - 5, x + 10, cy + 5, t.color, 5)
        c.text(x + 18, cy, t.name, 14, L.INK, anchor="lm")
        bw = max(2.0, bar_w * t.minutes / top)
        if t.name == MIXED_UNKNOWN:
            c.hatch(bar_x, cy - 5, bar_x + bw, cy + 5)
        else:
            c.rect(bar_x, cy - 5, bar_x + bw, cy + 5, t.color, 5)
        c.text(x + w - 52, cy, format_minutes(t.minutes), 14, L.INK, anchor="rm")
        share = round(100 * t.minutes / tracked) if tracked else 0
        c.text(x + w, cy, f"{share}%", 14, L.MUTED, anchor="rm")
        y += 30
    return y


def render_png(view: DayView, path: Path) -> Path:
    g = L.geometry(view)
    n_totals = max(len(view.by_label), len(view.by_bucket or ()))
    height = int(PAD + 22 + 44 + g.height + 64 + 30 + 30 * max(n_totals, 1) + PAD)
    width = L.WIDTH + 2 * PAD
    c = _Canvas(width, height)
    c.text(PAD, PAD, f"TASKCLF · YOUR {'WEEK' if view.week else 'DAY'}", 12, L.MUTED)
    c.text(PAD, PAD + 20, view.title, 28, L.INK, bold=True)
    tracked = view.tracked_minutes
    summary = f"Tracked {format_minutes(tracked)}"
    real = [t for t in (view.by_bucket or view.by_label) if t.name != MIXED_UNKNOWN]
    if real:
        summary += f" · mostly {real[0].name} ({format_minutes(real[0].minutes)})"
    c.text(L.WIDTH + PAD, PAD + 34, summary, 14, L.MUTED, anchor="rm")
    y = _draw_timeline(c, view, PAD, PAD + 66)
    c.text(PAD, y + 14, "Striped: unsure (Mixed/Unknown)  ·  light grey: not tracked (paused, away or off)"
           "  ·  white bar: your own label", 12, L.MUTED)
    y += 52
    if view.by_bucket is not None:
        half = (L.WIDTH - 40) / 2
        _draw_totals(c, "By label", view.by_label, PAD, y, half, tracked)
        _draw_totals(c, "By category", view.by_bucket, PAD + half + 40, y, half, tracked)
    elif view.by_label:
        _draw_totals(c, "By label", view.by_label, PAD, y, L.WIDTH, tracked)
    else:
        c.text(PAD + L.WIDTH / 2, y + 20, "Nothing was tracked on this day.", 14, L.MUTED, anchor="mm")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    c.img.save(tmp, format="PNG", optimize=True)
    tmp.replace(path)
    return path
