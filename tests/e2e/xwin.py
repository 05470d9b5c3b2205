"""A tiny X11 window with a chosen WM_CLASS and title, for the end-to-end tests.

Usage: python xwin.py INSTANCE CLASS TITLE [--no-pid]
Sets WM_CLASS, WM_NAME, _NET_WM_NAME and _NET_WM_PID like a real toolkit does (``--no-pid``:
no _NET_WM_PID, like many plain X clients, so the app is known by its WM_CLASS alone), maps the
window and serves events until killed.
"""

from __future__ import annotations

import os
import sys

from Xlib import X, Xatom, display


def main() -> None:
    instance, cls, title = sys.argv[1], sys.argv[2], sys.argv[3]
    d = display.Display()
    screen = d.screen()
    win = screen.root.create_window(
        10, 10, 400, 300, 1, screen.root_depth,
        background_pixel=screen.white_pixel,
        event_mask=X.ExposureMask | X.KeyPressMask | X.ButtonPressMask | X.StructureNotifyMask,
    )
    win.set_wm_class(instance, cls)
    # WM_NAME is Latin-1; toolkits put the real (UTF-8) title in _NET_WM_NAME below
    win.set_wm_name(title.encode("latin-1", "replace").decode("latin-1"))
    utf8 = d.intern_atom("UTF8_STRING")
    win.change_property(d.intern_atom("_NET_WM_NAME"), utf8, 8, title.encode("utf-8"))
    if "--no-pid" not in sys.argv[4:]:
        win.change_property(d.intern_atom("_NET_WM_PID"), Xatom.CARDINAL, 32, [os.getpid()])
    win.map()
    d.flush()
    print(win.id, flush=True)
    while True:
        d.next_event()


if __name__ == "__main__":
    main()
