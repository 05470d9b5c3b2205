"""PNG plots of the quality report, drawn with Pillow (no plotting library needed).

Confusion matrix (row-normalised heat map with counts), reliability diagram before/after
calibration, per-class F1 bars.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

BG = (255, 255, 255)
FG = (33, 33, 33)
GRID = (220, 220, 220)
BLUE = (21, 101, 192)
ORANGE = (230, 120, 20)
GREEN = (46, 125, 50)
RED = (198, 40, 40)


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=13)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _save(img: Image.Image, path: Path) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    img.save(tmp, format="PNG", optimize=True)
    tmp.replace(path)
    return path


def confusion_png(cm: Sequence[Sequence[int]], labels: Sequence[str], path: Path, title: str) -> Path:
    n = len(labels)
    cell, left, top = 64, 120, 70
    w, h = left + n * cell + 20, top + n * cell + 110
    img = Image.new("RGB", (w, h), BG)
    d = ImageDraw.Draw(img)
    f = _font()
    d.text((10, 10), title, fill=FG, font=f)
    d.text((left, top - 40), "predicted ->", fill=FG, font=f)
    for i in range(n):
        total = sum(cm[i]) or 1
        d.text((10, top + i * cell + cell // 2 - 7), labels[i][:14], fill=FG, font=f)
        for j in range(n):
            v = cm[i][j]
            share = v / total
            shade = int(255 - 200 * share)
            color = (shade, shade, 255) if i != j else (shade, 255, shade)
            x0, y0 = left + j * cell, top + i * cell
            d.rectangle([x0, y0, x0 + cell - 2, y0 + cell - 2], fill=color, outline=GRID)
            d.text((x0 + 6, y0 + cell // 2 - 7), str(v), fill=FG, font=f)
    for j in range(n):
        x0 = left + j * cell
        txt = Image.new("RGB", (100, 16), BG)
        ImageDraw.Draw(txt).text((0, 0), labels[j][:14], fill=FG, font=f)
        img.paste(txt.rotate(90, expand=True), (x0 + cell // 2 - 8, top + n * cell + 4))
    return _save(img, path)


def reliability_png(before: Sequence[dict[str, Any]], after: Sequence[dict[str, Any]], path: Path,
                    title: str) -> Path:
    size, pad = 420, 60
    img = Image.new("RGB", (size + 2 * pad + 140, size + 2 * pad), BG)
    d = ImageDraw.Draw(img)
    f = _font()
    d.text((10, 10), title, fill=FG, font=f)

    def xy(conf: float, acc: float) -> tuple[float, float]:
        return pad + conf * size, pad + (1 - acc) * size

    for k in range(11):
        v = k / 10
        d.line([xy(v, 0), xy(v, 1)], fill=GRID)
        d.line([xy(0, v), xy(1, v)], fill=GRID)
    d.line([xy(0, 0), xy(1, 1)], fill=(150, 150, 150), width=1)
    d.rectangle([pad, pad, pad + size, pad + size], outline=FG)
    for series, color in ((before, ORANGE), (after, BLUE)):
        pts = [xy(b["confidence"], b["accuracy"]) for b in series if b["count"] > 0]
        if len(pts) > 1:
            d.line(pts, fill=color, width=2)
        for x, y in pts:
            d.ellipse([x - 3, y - 3, x + 3, y + 3], fill=color)
    for k in (0, 5, 10):  # tick values on both axes
        v = k / 10
        x, y = xy(v, 0)
        d.text((x - 8, y + 4), f"{v:g}", fill=FG, font=f)
        x, y = xy(0, v)
        d.text((x - 24, y - 6), f"{v:g}", fill=FG, font=f)
    d.text((pad + size // 2 - 30, pad + size + 22), "confidence", fill=FG, font=f)
    d.text((4, pad - 20), "accuracy", fill=FG, font=f)
    lx = pad + size + 16
    d.rectangle([lx, pad, lx + 12, pad + 12], fill=ORANGE)
    d.text((lx + 18, pad - 1), "raw", fill=FG, font=f)
    d.rectangle([lx, pad + 22, lx + 12, pad + 34], fill=BLUE)
    d.text((lx + 18, pad + 21), "calibrated", fill=FG, font=f)
    return _save(img, path)


def f1_png(per_class: dict[str, dict[str, Any]], labels: Sequence[str], path: Path, title: str) -> Path:
    bar_h, left, top = 26, 120, 40
    width = 420
    img = Image.new("RGB", (left + width + 80, top + len(labels) * (bar_h + 8) + 30), BG)
    d = ImageDraw.Draw(img)
    f = _font()
    d.text((10, 10), title, fill=FG, font=f)
    gx = left + 0.65 * width
    for i, lab in enumerate(labels):
        y0 = top + i * (bar_h + 8)
        v = float(per_class.get(lab, {}).get("f1", 0.0))
        d.text((10, y0 + 6), lab[:14], fill=FG, font=f)
        d.rectangle([left, y0, left + width, y0 + bar_h], outline=GRID)
        d.rectangle([left, y0, left + v * width, y0 + bar_h], fill=GREEN if v >= 0.65 else RED)
        d.text((left + width + 8, y0 + 6), f"{v:.2f}", fill=FG, font=f)
    d.line([(gx, top - 6), (gx, top + len(labels) * (bar_h + 8))], fill=FG, width=1)
    return _save(img, path)
