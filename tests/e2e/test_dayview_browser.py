"""The day page in a real browser: headless Chromium loads the file (offline, no script), takes
a screenshot, and the blocks are found in their colours where their times put them; the totals
on the page equal the store's minutes. The screenshot is saved to test-artifacts/dayview/."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from agent.dayview import layout
from agent.dayview.model import LABEL_COLORS, MIXED_COLOR
from agent.dayview.report import write_report
from tests.conftest import artifact_dir, in_ci
from tests.dayview_helpers import DAY, MINE, SHOWN, fill_day, minutes_by_label_from_store

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(180)]

WINDOW = (1200, 1100)


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        msg = "the browser test needs Chromium (Debian package: chromium)"
        if in_ci():
            pytest.fail(msg)
        pytest.skip(msg)
    return exe


def screenshot(page: Path, out: Path) -> Image.Image:
    exe = _chromium()
    with tempfile.TemporaryDirectory() as profile:
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--hide-scrollbars", "--force-device-scale-factor=1", f"--user-data-dir={profile}",
               f"--screenshot={out}", f"--window-size={WINDOW[0]},{WINDOW[1]}", page.as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.exists(), f"chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr[-800:]}"
    return Image.open(out).convert("RGB")


def _rgb(hex_color: str) -> tuple[int, int, int]:
    return int(hex_color[1:3], 16), int(hex_color[3:5], 16), int(hex_color[5:7], 16)


def _close(a: tuple[int, ...], b: tuple[int, ...], tol: int = 6) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def find_track(img: Image.Image) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the timeline's track: the rows in which the empty-track
    colour spans most of the width (the legend's small swatch of that colour does not)."""
    bg = _rgb(layout.TRACK_BG)
    px = img.load()
    assert px is not None
    w, h = img.size
    rows = []
    for y in range(h):
        xs = [x for x in range(0, w, 1) if px[x, y] == bg]
        if xs and xs[-1] - xs[0] > w // 2:
            rows.append((y, xs[0], xs[-1]))
    assert rows, "no timeline track in the screenshot"
    return min(r[1] for r in rows), rows[0][0], max(r[2] for r in rows), rows[-1][0]


def test_day_page_in_chromium(home: Path) -> None:
    fill_day(home)
    now = datetime(2026, 3, 4, 18, 0, tzinfo=UTC)
    out = write_report(home, DAY, user_id="u1", zone_of=lambda d: UTC, now=now)
    art = artifact_dir("dayview")
    shot = screenshot(out.html, art / "day-chromium.png")
    shutil.copy(out.png, art / "day-pillow.png")

    left, top, right, bottom = find_track(shot)
    width = right - left + 1
    assert abs(width - layout.WIDTH) <= 2, (left, right)
    assert abs((bottom - top + 1) - layout.DAY_ROW_H) <= 2, (top, bottom)
    y = round(top + (bottom - top) * 0.3)

    def x_of(minute: float) -> int:  # the axis runs 08:00-18:00 for this day (docs/timeline.md)
        return round(left + (minute - 8 * 60) / 600 * width)

    for a, b, label in SHOWN:
        if label == "Mixed/Unknown" or (a, b) == MINE[:2]:
            continue
        got = shot.getpixel((x_of((a + b) / 2), y))
        assert _close(got, _rgb(LABEL_COLORS[label])), (label, got)
        # the block starts where its time puts it (one pixel of anti-aliasing either side)
        assert _close(shot.getpixel((x_of(a) + 2, y)), _rgb(LABEL_COLORS[label])), label
        assert not _close(shot.getpixel((x_of(a) - 2, y)), _rgb(LABEL_COLORS[label])), label
    assert _close(shot.getpixel((x_of(sum(MINE[:2]) / 2), y)), _rgb(LABEL_COLORS["Meet"]))
    # the user's own label carries its white bar near the bottom of the block
    bar_y = bottom - 4 - 2
    assert _close(shot.getpixel((x_of(sum(MINE[:2]) / 2), bar_y)), (255, 255, 255), tol=40)
    # unsure time is striped: both stripe colours within the block
    a, b = SHOWN[2][0], SHOWN[2][1]
    strip = [shot.getpixel((x, y)) for x in range(x_of(a) + 2, x_of(b) - 2)]
    assert any(_close(p, _rgb(MIXED_COLOR), 10) for p in strip)
    assert any(_close(p, _rgb("#DDE3E8"), 10) for p in strip)
    # nothing tracked over lunch: the empty track
    assert shot.getpixel((x_of(12 * 60 + 30), y)) == _rgb(layout.TRACK_BG)

    # the totals the page shows are the store's minutes
    page = out.html.read_text(encoding="utf-8")
    shown = {m[0]: int(m[1]) for m in re.findall(r'data-label="([^"]+)" data-minutes="(\d+)"', page)}
    assert shown == minutes_by_label_from_store(home)
