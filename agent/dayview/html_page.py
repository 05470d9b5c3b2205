"""The day (or week) as one self-contained HTML page: inline SVG and CSS, no script, no
external resource, so it opens offline, from a file, in any browser, and shows nothing that
could leave the machine. Block details are native SVG tooltips (``<title>``)."""

from __future__ import annotations

from html import escape

from agent.dayview import layout as L
from agent.dayview.model import (
    MIXED_COLOR,
    DayView,
    Stretch,
    Total,
    format_minutes,
    hhmm,
)
from engine.labels import MIXED_UNKNOWN

_CSS = f"""
:root {{ color-scheme: light; }}
* {{ box-sizing: border-box; }}
body {{ margin: 0; background: {L.PAGE_BG}; color: {L.INK};
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }}
main {{ width: {L.WIDTH + 80}px; margin: 0 auto; padding: 32px 0 40px; }}
.card {{ background: {L.CARD_BG}; border-radius: 16px; padding: 28px 40px 30px;
  box-shadow: 0 1px 2px rgba(16,24,40,.06), 0 4px 16px rgba(16,24,40,.06); margin-bottom: 20px; }}
.brand {{ font-size: 13px; letter-spacing: .08em; text-transform: uppercase; color: {L.MUTED};
  margin: 0 0 6px; }}
h1 {{ font-size: 30px; line-height: 1.2; margin: 0 0 18px; font-weight: 650; }}
h2 {{ font-size: 16px; margin: 0 0 14px; font-weight: 650; }}
.chips {{ display: flex; gap: 12px; flex-wrap: wrap; margin: 0 0 24px; }}
.chip {{ background: {L.PAGE_BG}; border-radius: 12px; padding: 10px 16px; min-width: 150px; }}
.chip b {{ display: block; font-size: 20px; font-weight: 650; }}
.chip span {{ color: {L.MUTED}; font-size: 13px; }}
svg.timeline {{ display: block; overflow: visible; }}
svg text {{ font-family: inherit; }}
.legend {{ display: flex; flex-wrap: wrap; gap: 8px 18px; margin-top: 16px; color: {L.MUTED};
  font-size: 13px; }}
.legend i {{ display: inline-block; width: 12px; height: 12px; border-radius: 3px;
  vertical-align: -1px; margin-right: 6px; }}
.cols {{ display: grid; grid-template-columns: 1fr 1fr; gap: 20px; }}
.cols.single {{ grid-template-columns: 1fr; }}
table.totals {{ width: 100%; border-collapse: collapse; }}
table.totals td {{ padding: 6px 0; vertical-align: middle; }}
td.name {{ width: 150px; white-space: nowrap; }}
td.name i {{ display: inline-block; width: 10px; height: 10px; border-radius: 50%;
  margin-right: 8px; }}
td.bar div {{ height: 10px; border-radius: 5px; min-width: 2px; }}
td.bar {{ padding-right: 14px !important; }}
td.time {{ width: 100px; text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }}
td.share {{ width: 52px; text-align: right; color: {L.MUTED}; font-variant-numeric: tabular-nums; }}
.mine {{ color: {L.MUTED}; font-size: 12px; margin-left: 6px; }}
.empty {{ color: {L.MUTED}; padding: 24px 0; text-align: center; }}
footer {{ color: {L.MUTED}; font-size: 12px; text-align: center; }}
"""


def _hatch() -> str:
    return (
        '<pattern id="unsure" width="8" height="8" patternUnits="userSpaceOnUse"'
        ' patternTransform="rotate(45)">'
        f'<rect width="8" height="8" fill="#DDE3E8"/><rect width="4" height="8" fill="{MIXED_COLOR}"/>'
        "</pattern>"
    )


def _block(s: Stretch, g: L.Geometry, y: float) -> str:
    x0, x1 = g.x(s.start), g.x(s.end)
    fill = "url(#unsure)" if s.label == MIXED_UNKNOWN else s.color
    name = s.name if s.name == s.label or s.label == MIXED_UNKNOWN else f"{s.name} ({s.label})"
    tip = f"{hhmm(s.start)}–{hhmm(s.end)} {name} · {format_minutes(s.minutes)}"
    if s.mine:
        tip += " · your label"
    out = (
        f'<rect class="block" x="{x0:.2f}" y="{y:.2f}" width="{max(x1 - x0, 0.5):.2f}"'
        f' height="{g.row_h:.2f}" fill="{fill}" data-label="{escape(s.label)}"'
        f' data-start="{hhmm(s.start)}" data-end="{hhmm(s.end)}" data-mine="{int(s.mine)}">'
        f"<title>{escape(tip)}</title></rect>"
    )
    if s.mine and x1 - x0 >= 4:
        mark_h = 4 if g.row_h > 40 else 3
        out += (
            f'<rect x="{x0 + 1.5:.2f}" y="{y + g.row_h - mark_h - 4:.2f}" width="{x1 - x0 - 3:.2f}"'
            f' height="{mark_h}" rx="{mark_h / 2}" fill="{L.MINE_MARK}" fill-opacity=".85"/>'
        )
    return out


def timeline_svg(view: DayView) -> str:
    g = L.geometry(view)
    parts = [
        f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{L.WIDTH}"'
        f' height="{g.height:.0f}" viewBox="0 0 {L.WIDTH} {g.height:.0f}" role="img"'
        f' aria-label="{escape(view.title)} timeline">',
        f"<defs>{_hatch()}",
    ]
    for i in range(len(view.rows)):
        y = g.row_y(i)
        parts.append(
            f'<clipPath id="row{i}"><rect x="{g.track_x}" y="{y}" width="{g.track_w}"'
            f' height="{g.row_h}" rx="{L.RADIUS}"/></clipPath>'
        )
    parts.append("</defs>")
    for h, x in L.hour_marks(g):
        anchor = "start" if x <= g.track_x + 1 else ("end" if x >= g.track_x + g.track_w - 1 else "middle")
        parts.append(
            f'<text x="{x:.2f}" y="14" font-size="12" fill="{L.MUTED}" text-anchor="{anchor}">{h:02d}:00</text>'
        )
    for i, row in enumerate(view.rows):
        y = g.row_y(i)
        parts.append(
            f'<rect class="track" x="{g.track_x}" y="{y}" width="{g.track_w}" height="{g.row_h}"'
            f' rx="{L.RADIUS}" fill="{L.TRACK_BG}"/>'
        )
        parts.append(f'<g clip-path="url(#row{i})">')
        for _h, x in L.hour_marks(g)[1:-1]:
            parts.append(f'<line x1="{x:.2f}" x2="{x:.2f}" y1="{y}" y2="{y + g.row_h}" stroke="{L.GRID}"/>')
        parts.extend(_block(s, g, y) for s in row.stretches)
        parts.append("</g>")
        if view.week:
            cy = y + g.row_h / 2 + 4
            parts.append(
                f'<text x="0" y="{cy:.1f}" font-size="13" font-weight="600" fill="{L.INK}">'
                f'{row.day.strftime("%a %-d")}</text>'
            )
            parts.append(
                f'<text x="{L.WIDTH}" y="{cy:.1f}" font-size="13" fill="{L.MUTED}" text-anchor="end">'
                f"{format_minutes(row.tracked_minutes) if row.tracked_minutes else '—'}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _legend(view: DayView) -> str:
    seen: dict[str, str] = {}
    for row in view.rows:
        for s in row.stretches:
            if s.label != MIXED_UNKNOWN:
                seen.setdefault(s.name, s.color)
    items = [f'<span><i style="background:{c}"></i>{escape(n)}</span>' for n, c in seen.items()]
    items.append(
        f'<span><i style="background:repeating-linear-gradient(45deg,{MIXED_COLOR} 0 3px,#DDE3E8 3px 6px)">'
        "</i>Unsure (Mixed/Unknown)</span>"
    )
    items.append(f'<span><i style="background:{L.TRACK_BG}"></i>Not tracked (paused, away or off)</span>')
    items.append('<span><i style="background:#607D8B;height:4px;vertical-align:2px"></i>'
                 "White bar: your own label</span>")
    return f'<div class="legend">{"".join(items)}</div>'


def _totals_table(title: str, totals: tuple[Total, ...], kind: str, tracked: int) -> str:
    if not totals:
        return ""
    top = max(t.minutes for t in totals) or 1
    rows = []
    for t in totals:
        bar = "url(#unsure)" if t.name == MIXED_UNKNOWN else t.color
        bar_css = (f"repeating-linear-gradient(45deg,{MIXED_COLOR} 0 3px,#DDE3E8 3px 6px)"
                   if bar.startswith("url") else bar)
        mine = f'<span class="mine">{format_minutes(t.mine_minutes)} yours</span>' if t.mine_minutes else ""
        share = round(100 * t.minutes / tracked) if tracked else 0
        rows.append(
            f'<tr class="total" data-{kind}="{escape(t.name)}" data-minutes="{t.minutes}">'
            f'<td class="name"><i style="background:{t.color}"></i>{escape(t.name)}</td>'
            f'<td class="bar"><div style="width:{100 * t.minutes / top:.1f}%;background:{bar_css}"></div></td>'
            f'<td class="time">{format_minutes(t.minutes)}{mine}</td><td class="share">{share}%</td></tr>'
        )
    return f'<div><h2>{escape(title)}</h2><table class="totals">{"".join(rows)}</table></div>'


def _chips(view: DayView) -> str:
    tracked = view.tracked_minutes
    chips = [("Tracked", format_minutes(tracked))]
    real = [t for t in (view.by_bucket or view.by_label) if t.name != MIXED_UNKNOWN]
    if real:
        chips.append((f"Mostly {real[0].name}", format_minutes(real[0].minutes)))
    mine = sum(t.mine_minutes for t in view.by_label)
    chips.append(("Your own labels", format_minutes(mine)))
    unsure = sum(t.minutes for t in view.by_label if t.name == MIXED_UNKNOWN)
    chips.append(("Unsure", format_minutes(unsure)))
    return '<div class="chips">' + "".join(
        f'<div class="chip"><b>{escape(v)}</b><span>{escape(k)}</span></div>' for k, v in chips
    ) + "</div>"


def render_html(view: DayView) -> str:
    tracked = view.tracked_minutes
    if tracked:
        body = timeline_svg(view) + _legend(view)
    else:
        body = timeline_svg(view) + '<p class="empty">Nothing was tracked on this day.</p>'
    tables = _totals_table("By label", view.by_label, "label", tracked)
    if view.by_bucket is not None:
        tables += _totals_table("By category", view.by_bucket, "bucket", tracked)
    cols = "cols" if view.by_bucket is not None else "cols single"
    generated = view.generated_at.strftime("%-d %b %Y %H:%M")
    # The SVG pattern used by the Mixed/Unknown bars lives in the timeline's <defs>.
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:\">"
        f"<title>{escape(view.title)} · taskclf</title><style>{_CSS}</style></head><body><main>"
        f'<section class="card"><p class="brand">taskclf · your {"week" if view.week else "day"}</p>'
        f"<h1>{escape(view.title)}</h1>{_chips(view)}{body}</section>"
        f'<section class="card"><div class="{cols}">{tables or "<p class=empty>No totals yet.</p>"}'
        "</div></section>"
        f"<footer>Made on this computer by taskclf at {escape(generated)} ({escape(view.zone)})."
        " Nothing on this page left it.</footer>"
        "</main></body></html>\n"
    )
