"""Write the icon gallery shown in docs/tray.md: ``python -m agent.tray.gallery docs/icons``."""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw

from agent.tray.icon import (
    LABEL_COLORS,
    MIXED_COLOR,
    PAUSED_COLOR,
    STARTING_COLOR,
    IconState,
    initials,
    render_icon,
    render_template,
)

STATES: dict[str, IconState] = {
    **{f"label-{lab}": IconState("label", initials(lab), color) for lab, color in LABEL_COLORS.items()},
    "taxonomy-deep-work": IconState("label", "DW", "#3949AB"),
    "mixed-unknown": IconState("mixed", "?", MIXED_COLOR),
    "paused": IconState("paused", "", PAUSED_COLOR),
    "starting": IconState("starting", "", STARTING_COLOR),
    "warning": IconState("label", "B", LABEL_COLORS["Build"], warning=True),
}


def write_gallery(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, state in STATES.items():
        for size in (64, 22):
            p = out / f"{name}-{size}.png"
            render_icon(state, size).save(p)
            written.append(p)
        p = out / f"{name}-template.png"
        render_template(state, 22).save(p)
        written.append(p)
    # one contact sheet: a row per state, 64/32/22/16 px on a light and a dark bar
    cell, names = 76, list(STATES)
    sheet = Image.new("RGBA", (cell * 9 + 180, cell * len(names)), (255, 255, 255, 255))
    d = ImageDraw.Draw(sheet)
    for row, name in enumerate(names):
        y = row * cell
        d.rectangle((180 + cell * 4, y, 180 + cell * 8 - 1, y + cell - 1), fill=(48, 48, 48, 255))
        d.text((6, y + cell // 2 - 6), name, fill=(0, 0, 0, 255))
        for col, size in enumerate((64, 32, 22, 16)):
            for bg in (0, 1):
                im = render_icon(STATES[name], size)
                x = 180 + bg * cell * 4 + col * cell + (cell - size) // 2
                sheet.alpha_composite(im, (x, y + (cell - size) // 2))
        t = render_template(STATES[name], 22)
        sheet.alpha_composite(t, (180 + cell * 8 + (cell - 22) // 2, y + (cell - 22) // 2))
    p = out / "gallery.png"
    sheet.save(p)
    written.append(p)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/icons")
    for path in write_gallery(target):
        print(path)
