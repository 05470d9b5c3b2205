"""The tray icon, drawn with Pillow from the snapshot (spec 6.4).

A rounded square in the label's color (the taxonomy color when one is set) with the label's
initial(s); grey while paused; hollow for Mixed/Unknown; a small warning dot when the policy
was refused, the store failed or no sampler backend works. Drawn at 4x and downsampled so the
16 px Windows icon stays legible; a monochrome template variant serves the macOS menu bar.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from agent.label_colors import LABEL_COLORS
from agent.snapshot import AgentSnapshot
from agent.tray.menu_model import current_of, sampler_missing

SIZES: tuple[int, ...] = (16, 22, 32, 64)
SUPERSAMPLE = 4

PAUSED_COLOR = "#9E9E9E"
MIXED_COLOR = "#607D8B"
STARTING_COLOR = "#B0BEC5"
FALLBACK_COLOR = "#455A64"
WARNING_COLOR = "#FFB300"
WARNING_RING = "#212121"

# FreeType faces are not thread-safe: the worker and the setup thread may both draw.
_DRAW_LOCK = threading.Lock()
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True, slots=True)
class IconState:
    kind: str  # label | paused | mixed | starting
    text: str  # initials drawn on the square ("" for none)
    color: str  # #RRGGBB
    warning: bool = False


def initials(name: str) -> str:
    """``Build`` -> ``B``, ``ReadResearch`` -> ``RR``, ``Deep Work`` -> ``DW`` (at most 2)."""
    words = re.findall(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])", name.replace("/", " "))
    words = [w for w in words if w]
    if not words:
        return name[:1].upper()
    return "".join(w[0].upper() for w in words[:2])


def _color(value: str | None, fallback: str) -> str:
    return value if value is not None and _HEX.match(value) else fallback


def icon_state(s: AgentSnapshot) -> IconState:
    """The icon for a snapshot; shares ``current_of`` with the menu so both always agree."""
    cur = current_of(s)
    warning = bool(s.model.policy_error or s.store_error or sampler_missing(s))
    if cur.state == "paused":
        return IconState("paused", "", PAUSED_COLOR, warning)
    if cur.state == "starting":
        return IconState("starting", "", STARTING_COLOR, warning)
    if cur.state == "mixed" or cur.label is None:
        return IconState("mixed", "?", MIXED_COLOR, warning)
    mapped = cur.mapped or cur.label
    if mapped != cur.label and mapped in s.taxonomy_colors:
        color = _color(s.taxonomy_colors.get(mapped), LABEL_COLORS.get(cur.label, FALLBACK_COLOR))
        return IconState("label", initials(mapped), color, warning)
    color = _color(s.taxonomy_colors.get(cur.label), LABEL_COLORS.get(cur.label, FALLBACK_COLOR))
    return IconState("label", initials(cur.label), color, warning)


def _rgb(hex_color: str) -> tuple[int, int, int]:
    return (int(hex_color[1:3], 16), int(hex_color[3:5], 16), int(hex_color[5:7], 16))


def _ink_for(hex_color: str) -> tuple[int, int, int, int]:
    r, g, b = _rgb(hex_color)
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return (33, 33, 33, 255) if luminance > 150 else (255, 255, 255, 255)


@lru_cache(maxsize=32)
def _font(px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for name in ("DejaVuSans-Bold.ttf", "Arial Bold.ttf", "arialbd.ttf", "Helvetica.ttc"):
        try:
            # BASIC layout: initials need no shaping, and libraqm clashes with the HarfBuzz
            # that GTK loads into the tray process (glyph sizes come out absurd).
            return ImageFont.truetype(name, px, layout_engine=ImageFont.Layout.BASIC)
        except OSError:
            continue
    return ImageFont.load_default(size=px)


def _draw_text(d: ImageDraw.ImageDraw, box: tuple[int, int, int, int], text: str, fill: tuple[int, ...]) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    px = int(h * (0.62 if len(text) == 1 else 0.46))
    font = _font(px)
    left, top, right, bottom = d.textbbox((0, 0), text, font=font)
    d.text((x0 + (w - (right - left)) / 2 - left, y0 + (h - (bottom - top)) / 2 - top), text, font=font, fill=fill)


def _draw(state: IconState, size: int, *, template: bool) -> Image.Image:
    big = size * SUPERSAMPLE
    img = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    pad = max(1, round(big * 0.06))
    box = (pad, pad, big - pad - 1, big - pad - 1)
    radius = round(big * 0.22)
    stroke = max(SUPERSAMPLE, round(big * 0.1))
    black = (0, 0, 0, 255)
    clear = (0, 0, 0, 0)
    color = black if template else (*_rgb(state.color), 255)

    if state.kind == "mixed" or state.kind == "starting":
        d.rounded_rectangle(box, radius=radius, outline=color, width=stroke)
        if state.text:
            _draw_text(d, box, state.text, color)
    elif state.kind == "paused":
        d.rounded_rectangle(box, radius=radius, fill=color)
        bar_w = round(big * 0.12)
        gap = round(big * 0.12)
        top, bottom = round(big * 0.28), round(big * 0.72)
        cx = big // 2
        bar = clear if template else _ink_for(state.color)
        d.rectangle((cx - gap // 2 - bar_w, top, cx - gap // 2, bottom), fill=bar)
        d.rectangle((cx + gap // 2, top, cx + gap // 2 + bar_w, bottom), fill=bar)
    else:
        d.rounded_rectangle(box, radius=radius, fill=color)
        _draw_text(d, box, state.text, clear if template else _ink_for(state.color))

    if state.warning:
        r = round(big * 0.2)
        cx, cy = big - r - 1, r + 1
        ring = round(big * 0.05)
        d.ellipse((cx - r - ring, cy - r - ring, cx + r + ring, cy + r + ring), fill=clear)
        if template:
            d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=black)
        else:
            d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=_rgb(WARNING_COLOR) + (255,),
                      outline=_rgb(WARNING_RING) + (255,), width=max(1, ring // 2))
    if template:
        # Template images use only the alpha channel; keep the colour channels pure black.
        alpha = img.getchannel("A")
        img = Image.new("RGBA", img.size, (0, 0, 0, 0))
        img.putalpha(alpha)
    return img.resize((size, size), Image.Resampling.LANCZOS)


@lru_cache(maxsize=64)
def render_icon(state: IconState, size: int = 64) -> Image.Image:
    """The colour icon at ``size`` px (cached: a snapshot rarely changes the icon)."""
    if size < 8 or size > 1024:
        raise ValueError(f"icon size {size} out of range 8..1024")
    with _DRAW_LOCK:
        return _draw(state, size, template=False)


@lru_cache(maxsize=16)
def render_template(state: IconState, size: int = 22) -> Image.Image:
    """The macOS menu-bar template variant: black + alpha only (the system tints it)."""
    if size < 8 or size > 1024:
        raise ValueError(f"icon size {size} out of range 8..1024")
    with _DRAW_LOCK:
        return _draw(state, size, template=True)


def render_all(state: IconState) -> dict[int, Image.Image]:
    return {size: render_icon(state, size) for size in SIZES}
