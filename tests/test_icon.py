"""The tray icon: state per snapshot, pixels per state, sizes, template variant."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from tray_fakes import block, record, snap

from agent.snapshot import AgentSnapshot
from agent.tray.icon import (
    LABEL_COLORS,
    MIXED_COLOR,
    PAUSED_COLOR,
    SIZES,
    STARTING_COLOR,
    IconState,
    icon_state,
    initials,
    render_all,
    render_icon,
    render_template,
)
from engine.labels import CORE_LABELS


def centre_rgb(img: Image.Image, frac: float = 0.25) -> tuple[int, int, int, int]:
    """Colour at a point inside the square but off the glyph."""
    px = img.getpixel((int(img.width * frac), int(img.height * 0.8)))
    assert isinstance(px, tuple)
    return px  # type: ignore[return-value]


def pixels(img: Image.Image) -> np.ndarray:
    """Every pixel as one RGBA row (Pillow's per-pixel ``getdata`` is deprecated)."""
    return np.asarray(img.convert("RGBA")).reshape(-1, 4)


def hex_rgb(h: str) -> tuple[int, int, int]:
    return int(h[1:3], 16), int(h[3:5], 16), int(h[5:7], 16)


def close(a: tuple[int, ...], b: tuple[int, ...], tol: int = 12) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=False))


def test_initials() -> None:
    assert [initials(lab) for lab in CORE_LABELS] == ["B", "D", "R", "W", "RR", "C", "M", "BI"]
    assert initials("Deep Work") == "DW"
    assert initials("admin") == "A"
    assert initials("Deep Work and more") == "DW"


def test_state_per_snapshot() -> None:
    assert icon_state(snap("model")) == IconState("label", "B", LABEL_COLORS["Build"])
    assert icon_state(snap("rules")) == IconState("label", "B", LABEL_COLORS["Build"])
    assert icon_state(snap("paused")) == IconState("paused", "", PAUSED_COLOR)
    assert icon_state(snap("rejected")) == IconState("mixed", "?", MIXED_COLOR)
    assert icon_state(snap("starting")).kind == "starting"
    # before the runtime's first publish, the snapshot's default "none" sampler is no warning
    assert icon_state(AgentSnapshot(user_id="")) == IconState("starting", "", STARTING_COLOR)
    assert icon_state(AgentSnapshot(user_id="u1")).warning is True  # started, no sampler
    assert icon_state(snap("refused")).warning is True
    assert icon_state(snap("model", sampler_backend="none")).warning is True
    assert icon_state(snap("model", store_error="disk full")).warning is True
    assert icon_state(snap("model", user_label_override="Meet")) == IconState("label", "M", LABEL_COLORS["Meet"])


def test_taxonomy_color_and_initials() -> None:
    assert icon_state(snap("taxonomy")) == IconState("label", "DW", "#123456")
    # a bad colour in the taxonomy falls back to the label's colour
    s = snap("taxonomy", taxonomy_colors={"Deep Work": "red"})
    assert icon_state(s) == IconState("label", "DW", LABEL_COLORS["Build"])
    # a taxonomy that keeps the core name may recolour it
    s2 = snap("model", taxonomy_colors={"Build": "#010203"})
    assert icon_state(s2).color == "#010203"


@pytest.mark.parametrize("size", SIZES)
def test_label_icon_is_filled_with_label_colour(size: int) -> None:
    img = render_icon(IconState("label", "B", "#2E7D32"), size)
    assert img.size == (size, size) and img.mode == "RGBA"
    assert close(centre_rgb(img), (*hex_rgb("#2E7D32"), 255), tol=40 if size == 16 else 12)
    assert img.getpixel((0, 0))[3] == 0  # rounded corner is transparent


def test_glyph_is_drawn_in_contrasting_ink() -> None:
    img = render_icon(IconState("label", "B", "#2E7D32"), 64)
    px = pixels(img)
    whites = int(((px[:, :3] > 230).all(axis=1) & (px[:, 3] > 200)).sum())
    assert whites > 100  # the white "B"
    light = render_icon(IconState("label", "B", "#FFEB3B"), 64)
    lpx = pixels(light)
    darks = int(((lpx[:, :3].max(axis=1) < 60) & (lpx[:, 3] > 200)).sum())
    assert darks > 100  # dark ink on a light colour


def test_hollow_mixed_and_grey_paused() -> None:
    mixed = render_icon(IconState("mixed", "?", MIXED_COLOR), 64)
    assert mixed.getpixel((20, 52))[3] == 0  # inside the outline: transparent
    assert mixed.getpixel((5, 32))[3] > 200  # the outline
    paused = render_icon(IconState("paused", "", PAUSED_COLOR), 64)
    r, g, b, a = paused.getpixel((12, 52))
    assert a == 255 and max(r, g, b) - min(r, g, b) < 8  # grey, no hue


def test_warning_dot() -> None:
    plain = render_icon(IconState("label", "B", "#2E7D32"), 64)
    warn = render_icon(IconState("label", "B", "#2E7D32", warning=True), 64)
    r, g, b, _ = warn.getpixel((51, 13))
    assert close((r, g, b), hex_rgb("#FFB300"), tol=20)
    assert plain.getpixel((51, 13))[:3] != warn.getpixel((51, 13))[:3]


def test_template_is_black_with_alpha_only() -> None:
    for state in (IconState("label", "RR", "#00838F", True), IconState("paused", "", PAUSED_COLOR)):
        img = render_template(state, 22)
        assert img.size == (22, 22)
        px = pixels(img)
        assert not px[:, :3].any()
        assert (px[:, 3] > 200).any() and (px[:, 3] == 0).any()


def test_render_all_sizes_and_bounds() -> None:
    imgs = render_all(IconState("label", "W", "#1565C0"))
    assert sorted(imgs) == list(SIZES)
    with pytest.raises(ValueError, match=r"icon size 4 out of range"):
        render_icon(IconState("label", "W", "#1565C0"), 4)


@given(st.sampled_from(CORE_LABELS), st.booleans(), st.booleans(), st.integers(0, 3))
def test_every_label_state_renders(label: str, paused: bool, warning: bool, size_i: int) -> None:
    s = snap("model", last=record(label), current_block=block(label),
             paused_until="forever" if paused else None,
             sampler_backend="none" if warning else "x11")
    st_ = icon_state(s)
    assert st_.warning is warning
    assert st_.kind == ("paused" if paused else "label")
    img = render_icon(st_, SIZES[size_i])
    assert img.getbbox() is not None
    assert replace(st_) == st_


def test_gallery_writes_every_state(tmp_path: Path) -> None:
    from agent.tray.gallery import STATES, write_gallery

    paths = write_gallery(tmp_path)
    names = {p.name for p in paths}
    for state in STATES:
        assert {f"{state}-64.png", f"{state}-22.png", f"{state}-template.png"} <= names
    with Image.open(tmp_path / "gallery.png") as im:
        assert im.width > 600 and im.height == 76 * len(STATES)
    # the committed gallery in docs/ covers the same states
    docs = Path(__file__).resolve().parent.parent / "docs" / "icons"
    assert {f"{s}-64.png" for s in STATES} <= {p.name for p in docs.glob("*.png")}
