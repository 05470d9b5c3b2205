"""Raw Input's memory layout and the Win32 signatures the Windows backend calls.

Kept apart from the OS calls so that both are checked on any OS: the structures are built from
fixed-width ctypes types for a given pointer size (x64: 8, x86: 4), so a test can decode the
bytes Windows writes for either architecture. ``wintypes`` is not used for the layouts because
its ``DWORD``/``LONG`` are 8 bytes on 64-bit Linux and macOS.

``RAWMOUSE`` starts with ``usFlags`` followed by a union of ``ulButtons`` and
``{usButtonFlags, usButtonData}``, which the union aligns to 4 bytes: the button flags sit at
offset 4 and the wheel delta at offset 6 (not 2 and 4).
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from functools import cache
from typing import Any

RIM_TYPEMOUSE, RIM_TYPEKEYBOARD = 0, 1


@dataclass(frozen=True)
class RawInputTypes:
    """The Raw Input structures for one pointer size."""

    header: Any
    mouse: Any
    keyboard: Any
    rawinput: Any


@cache
def raw_input_types(pointer_bytes: int = ctypes.sizeof(ctypes.c_void_p)) -> RawInputTypes:
    if pointer_bytes not in (4, 8):
        raise ValueError(f"pointer size must be 4 or 8 bytes, not {pointer_bytes}")
    handle: Any = ctypes.c_uint64 if pointer_bytes == 8 else ctypes.c_uint32

    class RAWINPUTHEADER(ctypes.Structure):
        _fields_ = [("dwType", ctypes.c_uint32), ("dwSize", ctypes.c_uint32),
                    ("hDevice", handle), ("wParam", handle)]

    class _Buttons(ctypes.Structure):
        _fields_ = [("usButtonFlags", ctypes.c_uint16), ("usButtonData", ctypes.c_uint16)]

    class _ButtonsUnion(ctypes.Union):
        _anonymous_ = ("buttons",)
        _fields_ = [("ulButtons", ctypes.c_uint32), ("buttons", _Buttons)]

    class RAWMOUSE(ctypes.Structure):
        _anonymous_ = ("u",)
        _fields_ = [("usFlags", ctypes.c_uint16), ("u", _ButtonsUnion),
                    ("ulRawButtons", ctypes.c_uint32), ("lLastX", ctypes.c_int32),
                    ("lLastY", ctypes.c_int32), ("ulExtraInformation", ctypes.c_uint32)]

    class RAWKEYBOARD(ctypes.Structure):
        _fields_ = [("MakeCode", ctypes.c_uint16), ("Flags", ctypes.c_uint16),
                    ("Reserved", ctypes.c_uint16), ("VKey", ctypes.c_uint16),
                    ("Message", ctypes.c_uint32), ("ExtraInformation", ctypes.c_uint32)]

    class _Data(ctypes.Union):
        _fields_ = [("mouse", RAWMOUSE), ("keyboard", RAWKEYBOARD)]

    class RAWINPUT(ctypes.Structure):
        _fields_ = [("header", RAWINPUTHEADER), ("data", _Data)]

    return RawInputTypes(RAWINPUTHEADER, RAWMOUSE, RAWKEYBOARD, RAWINPUT)


@dataclass(frozen=True)
class MouseEvent:
    button_flags: int
    button_data: int


@dataclass(frozen=True)
class KeyEvent:
    vkey: int
    flags: int


def decode_raw_input(data: bytes | bytearray, pointer_bytes: int = ctypes.sizeof(ctypes.c_void_p),
                     ) -> MouseEvent | KeyEvent | None:
    """One ``RAWINPUT`` as ``GetRawInputData`` wrote it -> the fields the counters need."""
    types = raw_input_types(pointer_bytes)
    header_size = ctypes.sizeof(types.header)
    if len(data) < header_size:
        return None
    header = types.header.from_buffer_copy(bytes(data[:header_size]))
    if header.dwType == RIM_TYPEMOUSE:
        need = header_size + ctypes.sizeof(types.mouse)
        if len(data) < need:
            return None
        mouse = types.mouse.from_buffer_copy(bytes(data[header_size:need]))
        return MouseEvent(int(mouse.usButtonFlags), int(mouse.usButtonData))
    if header.dwType == RIM_TYPEKEYBOARD:
        need = header_size + ctypes.sizeof(types.keyboard)
        if len(data) < need:
            return None
        kb = types.keyboard.from_buffer_copy(bytes(data[header_size:need]))
        return KeyEvent(int(kb.VKey), int(kb.Flags))
    return None


# Every user32/kernel32 function the backend calls, with its real signature: without
# ``restype`` ctypes assumes a C int, which truncates handles (``GetModuleHandleW``) on x64.
# Types are named as strings and resolved from ``ctypes.wintypes`` on Windows.
SIGNATURES: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {
    "user32": {
        "GetForegroundWindow": ("HWND", ()),
        "GetWindowTextLengthW": ("c_int", ("HWND",)),
        "GetWindowTextW": ("c_int", ("HWND", "LPWSTR", "c_int")),
        "GetWindowThreadProcessId": ("DWORD", ("HWND", "LPDWORD")),
        "EnumChildWindows": ("BOOL", ("HWND", "c_void_p", "LPARAM")),
        "GetLastInputInfo": ("BOOL", ("c_void_p",)),
        "OpenInputDesktop": ("HANDLE", ("DWORD", "BOOL", "DWORD")),
        "CloseDesktop": ("BOOL", ("HANDLE",)),
        "PostThreadMessageW": ("BOOL", ("DWORD", "UINT", "WPARAM", "LPARAM")),
        "DefWindowProcW": ("LRESULT", ("HWND", "UINT", "WPARAM", "LPARAM")),
        "GetRawInputData": ("UINT", ("HANDLE", "UINT", "c_void_p", "PUINT", "UINT")),
        "GetCursorPos": ("BOOL", ("c_void_p",)),
        "RegisterClassW": ("ATOM", ("c_void_p",)),
        "CreateWindowExW": ("HWND", ("DWORD", "LPCWSTR", "LPCWSTR", "DWORD", "c_int", "c_int",
                                     "c_int", "c_int", "HWND", "HMENU", "HINSTANCE", "LPVOID")),
        "RegisterRawInputDevices": ("BOOL", ("c_void_p", "UINT", "UINT")),
        "GetMessageW": ("BOOL", ("c_void_p", "HWND", "UINT", "UINT")),
        "TranslateMessage": ("BOOL", ("c_void_p",)),
        "DispatchMessageW": ("LRESULT", ("c_void_p",)),
        "DestroyWindow": ("BOOL", ("HWND",)),
    },
    "kernel32": {
        "GetTickCount": ("DWORD", ()),
        "GetModuleHandleW": ("HMODULE", ("LPCWSTR",)),
        "GetCurrentThreadId": ("DWORD", ()),
    },
}


def resolve_type(name: str) -> Any:
    """A signature's type name -> the ctypes type (``LRESULT`` is pointer-sized and signed)."""
    if name == "LRESULT":
        return ctypes.c_ssize_t
    if name.startswith("c_"):
        return getattr(ctypes, name)
    from ctypes import wintypes

    return getattr(wintypes, name)


def declare(dll: Any, library: str) -> Any:
    """Set ``restype``/``argtypes`` on every function of ``library`` the backend calls."""
    for fname, (res, args) in SIGNATURES[library].items():
        fn = getattr(dll, fname)
        fn.restype = resolve_type(res)
        fn.argtypes = [resolve_type(a) for a in args]
    return dll
