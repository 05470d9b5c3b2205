"""Raw Input bytes as Windows writes them (x64 and x86) -> the counters; Win32 signatures.

The byte layouts are packed by hand with ``struct`` from the Win32 headers, independently of the
ctypes structures under test, so a wrong structure (button flags read at offset 2 instead of 4)
fails here on any OS.
"""

from __future__ import annotations

import ctypes
import re
import struct
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.sampler._base import CounterBox
from agent.sampler._win_rawinput import (
    SIGNATURES,
    KeyEvent,
    MouseEvent,
    declare,
    decode_raw_input,
    raw_input_types,
)
from agent.sampler._windows import WinInputCounter

HEADER = {8: "<IIQQ", 4: "<IIII"}  # dwType, dwSize, hDevice, wParam
# usFlags, (padding to the union), usButtonFlags, usButtonData, ulRawButtons, lLastX, lLastY, ulExtraInformation
MOUSE = "<HHHHIiiI"
KEYBOARD = "<HHHHII"  # MakeCode, Flags, Reserved, VKey, Message, ExtraInformation
LEFT_DOWN, RIGHT_DOWN, WHEEL = 0x0001, 0x0004, 0x0400


def mouse_bytes(ptr: int, flags: int, data: int, *, us_flags: int = 0) -> bytes:
    body = struct.pack(MOUSE, us_flags, 0, flags, data & 0xFFFF, 0xDEAD, 7, -3, 0xBEEF)
    return struct.pack(HEADER[ptr], 0, 0, 0x1234, 0x5678) + body


def keyboard_bytes(ptr: int, vkey: int, flags: int) -> bytes:
    body = struct.pack(KEYBOARD, 0x1E, flags, 0, vkey, 0x0100, 0)
    return struct.pack(HEADER[ptr], 1, 0, 0x1234, 0x5678) + body


@pytest.mark.parametrize("ptr", [8, 4])
def test_layout_matches_the_win32_headers(ptr: int) -> None:
    t = raw_input_types(ptr)
    assert ctypes.sizeof(t.header) == {8: 24, 4: 16}[ptr]
    assert t.mouse.usButtonFlags.offset == 4 and t.mouse.usButtonData.offset == 6
    assert t.mouse.ulRawButtons.offset == 8 and ctypes.sizeof(t.mouse) == 24
    assert t.keyboard.VKey.offset == 6 and ctypes.sizeof(t.keyboard) == 16
    assert t.rawinput.data.offset == ctypes.sizeof(t.header)


@pytest.mark.parametrize("ptr", [8, 4])
def test_click_and_wheel_are_read_from_real_byte_layouts(ptr: int) -> None:
    box = CounterBox()
    counter = WinInputCounter(box)
    for raw in (mouse_bytes(ptr, LEFT_DOWN, 0, us_flags=0x0001),
                mouse_bytes(ptr, RIGHT_DOWN | WHEEL, -240)):
        event = decode_raw_input(raw, ptr)
        assert isinstance(event, MouseEvent)
        counter.mouse(event.button_flags, event.button_data, None)
    counts = box.take()
    assert counts.clicks == 2
    assert counts.scrolls == 2.0  # -240 is two notches down


@pytest.mark.parametrize("ptr", [8, 4])
def test_keyboard_from_real_byte_layouts(ptr: int) -> None:
    assert decode_raw_input(keyboard_bytes(ptr, 0x41, 0), ptr) == KeyEvent(0x41, 0)
    assert decode_raw_input(keyboard_bytes(ptr, 0x08, 1), ptr) == KeyEvent(0x08, 1)


@pytest.mark.parametrize("ptr", [8, 4])
def test_short_or_unknown_input_is_ignored(ptr: int) -> None:
    raw = mouse_bytes(ptr, LEFT_DOWN, 0)
    assert decode_raw_input(raw[:10], ptr) is None
    assert decode_raw_input(raw[:-4], ptr) is None
    hid = struct.pack(HEADER[ptr], 2, 0, 0, 0) + b"\0" * 24  # RIM_TYPEHID
    assert decode_raw_input(hid, ptr) is None
    with pytest.raises(ValueError, match="pointer size must be 4 or 8"):
        raw_input_types(2)


@given(st.sampled_from([4, 8]), st.integers(0, 0xFFFF), st.integers(-0x8000, 0x7FFF))
def test_any_flags_and_wheel_delta_round_trip(ptr: int, flags: int, delta: int) -> None:
    assert decode_raw_input(mouse_bytes(ptr, flags, delta), ptr) == MouseEvent(flags, delta & 0xFFFF)


def test_every_win32_call_has_a_declared_signature() -> None:
    """Each user32/kernel32 function the backend calls gets restype and argtypes."""
    source = (Path(__file__).resolve().parent.parent / "agent" / "sampler" / "_windows.py").read_text()
    for lib in ("user32", "kernel32"):
        called = set(re.findall(rf"{lib}\.([A-Z]\w+)", source))
        assert called, lib
        assert called <= set(SIGNATURES[lib]), sorted(called - set(SIGNATURES[lib]))


def test_declare_sets_pointer_sized_handles() -> None:
    names = {f: SimpleNamespace() for f in SIGNATURES["kernel32"]}
    dll = SimpleNamespace(**names)
    declare(dll, "kernel32")
    handle = dll.GetModuleHandleW.restype
    assert ctypes.sizeof(handle) == ctypes.sizeof(ctypes.c_void_p)  # not a truncating C int
    assert dll.GetModuleHandleW.argtypes[0] is ctypes.c_wchar_p
    user = SimpleNamespace(**{f: SimpleNamespace() for f in SIGNATURES["user32"]})
    declare(user, "user32")
    assert ctypes.sizeof(user.DefWindowProcW.restype) == ctypes.sizeof(ctypes.c_void_p)
    assert all(isinstance(getattr(user, f).argtypes, list) for f in SIGNATURES["user32"])
