"""Which pystray backend the tray runs on, what it can do, and why none works when none does.

pystray chooses its Linux backend when ``pystray`` is imported and falls back only on
``ImportError``; a missing AppIndicator typelib raises ``ValueError`` from
``gi.require_version``, so on a stock Debian 12 with GTK ``import pystray`` fails outright.
We choose ourselves: try each backend in order (appindicator, gtk, xorg on Linux), keep the
first whose icon has a menu (``HAS_MENU``; the xorg one has none, so it is refused), and when
none is usable say what each one lacked. Everything backend-specific the tray needs (its UI
thread, icon size, tooltip, the GTK widgets for the test dump) lives here, decided from the
backend's name and pystray's capability flags.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

LINUX_ORDER = ("appindicator", "gtk", "xorg")
GLIB_BACKENDS = ("appindicator", "gtk")
HEADLESS_HINT = "The headless agent works without a tray: taskclf agent --headless"
BUS_TIMEOUT_SECONDS = 5.0


class NoTrayBackend(Exception):
    """No pystray backend with a menu can run here; the message names each one's cause."""


@dataclass(frozen=True)
class TrayBackend:
    """One usable pystray backend: its ``Icon`` class and the menu classes to build with."""

    name: str
    Icon: Any
    Menu: Any
    MenuItem: Any

    @property
    def has_menu_radio(self) -> bool:
        return bool(getattr(self.Icon, "HAS_MENU_RADIO", False))

    @property
    def has_default_action(self) -> bool:
        return bool(getattr(self.Icon, "HAS_DEFAULT_ACTION", False))

    @property
    def has_notification(self) -> bool:
        return bool(getattr(self.Icon, "HAS_NOTIFICATION", False))

    @property
    def ui_loop(self) -> str:
        """Where UI calls must run: ``glib`` (GTK main loop), ``appkit`` or ``direct``."""
        if self.name in GLIB_BACKENDS:
            return "glib"
        if self.name == "darwin":
            return "appkit"
        return "direct"

    @property
    def icon_size(self) -> int:
        """The pixel size the backend wants (it scales from there)."""
        if self.name == "win32":
            return 32
        if self.name == "darwin":
            return 44  # a 22 pt menu bar at 2x
        return 64

    def make_icon(self, name: str, title: str, menu: Any) -> Any:
        icon = self.Icon(name, None, title, menu)
        if self.name == "gtk":
            _show_title_as_tooltip(icon, title)
        return icon


def candidate_names(platform: str = sys.platform, env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The backends to try, in order; ``PYSTRAY_BACKEND`` (pystray's own switch) forces one."""
    env = os.environ if env is None else env
    forced = env.get("PYSTRAY_BACKEND", "").strip()
    if forced:
        return (forced,)
    if platform == "darwin":
        return ("darwin",)
    if platform.startswith("win"):
        return ("win32",)
    return LINUX_ORDER


def _import_pystray() -> Any:
    """``import pystray`` without letting its own backend choice fail (we choose afterwards)."""
    if "pystray" in sys.modules:
        return sys.modules["pystray"]
    old = os.environ.get("PYSTRAY_BACKEND")
    os.environ["PYSTRAY_BACKEND"] = "dummy"
    try:
        import pystray
    finally:
        if old is None:
            os.environ.pop("PYSTRAY_BACKEND", None)
        else:
            os.environ["PYSTRAY_BACKEND"] = old
    return pystray


def load_backend_module(name: str) -> Any:
    """The module ``pystray._<name>`` with ``Menu``/``MenuItem`` reachable through pystray."""
    pystray = _import_pystray()
    module = importlib.import_module(f"pystray._{name}")
    return _Loaded(module.Icon, pystray.Menu, pystray.MenuItem)


@dataclass(frozen=True)
class _Loaded:
    Icon: Any
    Menu: Any
    MenuItem: Any


def explain(name: str, exc: BaseException) -> str:
    """The real cause of a backend failing to load, with what to install."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] == "gi":
        return ("PyGObject is not installed (pip install 'taskclf[tray-linux]', or the "
                "distribution's python3-gi)")
    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").startswith("Xlib"):
        return "python-xlib is not installed"
    if "AppIndicator3" in text:
        return ("no AppIndicator typelib (Debian/Ubuntu: gir1.2-ayatanaappindicator3-0.1; "
                "GNOME also needs the AppIndicator extension)")
    if "Namespace Gtk" in text or "Namespace Gdk" in text:
        return "no GTK 3 typelib (Debian/Ubuntu: gir1.2-gtk-3.0)"
    if isinstance(exc, KeyError) or "No module named 'pystray._" in text:
        return "pystray has no backend of that name"
    return f"{type(exc).__name__}: {text}"[:160]


def choose_backend(
    platform: str = sys.platform,
    env: Mapping[str, str] | None = None,
    load: Callable[[str], Any] = load_backend_module,
) -> TrayBackend:
    """The first backend in order that loads and has a menu; NoTrayBackend names each cause."""
    reasons: list[str] = []
    for name in candidate_names(platform, env):
        try:
            loaded = load(name)
        except Exception as exc:  # ImportError, gi's ValueError, Xlib's connection errors, ...
            reasons.append(f"{name}: {explain(name, exc)}")
            continue
        if not getattr(loaded.Icon, "HAS_MENU", False):
            reasons.append(f"{name}: has no menu, so you could not correct or label anything")
            continue
        return TrayBackend(name, loaded.Icon, loaded.Menu, loaded.MenuItem)
    raise NoTrayBackend(f"no tray backend works here ({'; '.join(reasons)}). {HEADLESS_HINT}")


# ---------------------------------------------------------------- what the desktop provides


def session_bus_problem(connect: Callable[[], Any] | None = None,
                        timeout: float = BUS_TIMEOUT_SECONDS) -> str | None:
    """Why the GTK backends cannot reach a D-Bus session bus, or None.

    pystray's GTK icon opens the session bus for notifications as its loop starts; without one
    it raises inside the loop and leaves a thread waiting forever. Checked first, in a daemon
    thread so that a bus that never answers cannot hang the start either.
    """
    if connect is None:
        if not os.environ.get("DBUS_SESSION_BUS_ADDRESS") and not _runtime_dir_bus():
            return (f"no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set); {_BUS_ADVICE} "
                    f"{HEADLESS_HINT}")
        connect = _connect_session_bus
    result: dict[str, str | None] = {}

    def attempt() -> None:
        try:
            connect()
            result["problem"] = None
        except Exception as exc:
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            result["problem"] = text.split(": ", 1)[-1] if "-quark: " in text else text

    worker = threading.Thread(target=attempt, name="taskclf-bus-check", daemon=True)
    worker.start()
    worker.join(timeout)
    if "problem" not in result:
        cause = f"it did not answer within {timeout:.0f} s"
    elif result["problem"] is None:
        return None
    else:
        cause = str(result["problem"])
    return f"no D-Bus session bus ({cause}); {_BUS_ADVICE} {HEADLESS_HINT}"


_BUS_ADVICE = "the Linux tray needs the desktop session's bus: start it from your desktop session."


def _runtime_dir_bus() -> bool:
    """systemd's per-user bus at $XDG_RUNTIME_DIR/bus, which GLib finds without the variable."""
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    return bool(runtime_dir) and os.path.exists(os.path.join(runtime_dir or "", "bus"))


def _connect_session_bus() -> Any:
    from gi.repository import Gio

    return Gio.bus_get_sync(Gio.BusType.SESSION, None)


def tray_host_problem(backend: str, xembed_host: Callable[[], bool],
                      sni_host: Callable[[], bool]) -> str | None:
    """Why the icon cannot appear (no system tray on this desktop), or None.

    GTK's status icon docks into an XEmbed tray (``_NET_SYSTEM_TRAY_S<n>``); an AppIndicator
    is shown by a StatusNotifierWatcher (and falls back to XEmbed when there is none).
    """
    if backend not in GLIB_BACKENDS:
        return None  # Windows and macOS always have their notification area / menu bar
    checks = [xembed_host] if backend == "gtk" else [sni_host, xembed_host]
    for check in checks:
        try:
            if check():
                return None
        except Exception:
            continue
    return ("no system tray is running on this desktop, so the taskclf icon cannot be shown; "
            "the agent keeps recording. Enable a tray (GNOME: the AppIndicator extension) or "
            "use taskclf agent --headless")


def xembed_host_present(env: Mapping[str, str] | None = None) -> bool:
    """An X client owns ``_NET_SYSTEM_TRAY_S<screen>`` (python-xlib, a pystray dependency)."""
    from Xlib import X, display

    env = os.environ if env is None else env
    d = display.Display(env.get("DISPLAY"))
    try:
        atom = d.intern_atom(f"_NET_SYSTEM_TRAY_S{d.get_default_screen()}")
        return bool(d.get_selection_owner(atom) != X.NONE)
    finally:
        d.close()


def sni_host_present() -> bool:
    """A StatusNotifierWatcher is on the session bus (it shows AppIndicator icons)."""
    from gi.repository import Gio, GLib

    bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)
    reply = bus.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                          "NameHasOwner", GLib.Variant("(s)", ("org.kde.StatusNotifierWatcher",)),
                          GLib.VariantType("(b)"), Gio.DBusCallFlags.NONE, 2000, None)
    return bool(reply.unpack()[0])


# ---------------------------------------------------------------- GTK details


def _show_title_as_tooltip(icon: Any, title: str) -> None:
    """GTK's status icon shows its tooltip, not its title: keep the two in step."""
    original = icon._update_title
    status_icon = getattr(icon, "_status_icon", None)
    if status_icon is not None:
        status_icon.set_tooltip_text(title)

    def update_title() -> None:
        original()
        status_icon = getattr(icon, "_status_icon", None)
        if status_icon is not None:
            status_icon.set_tooltip_text(icon.title)

    icon._update_title = update_title


def gtk_menu_texts(backend: TrayBackend, icon: Any) -> tuple[list[Any], str | None] | None:
    """The labels and tooltip GTK really shows (for the test dump); None off the GTK backend."""
    if backend.name != "gtk":
        return None
    handle = getattr(icon, "_menu_handle", None)
    if handle is None:
        return None

    def walk(menu: Any) -> list[Any]:
        out: list[Any] = []
        for child in menu.get_children():
            if type(child).__name__ == "SeparatorMenuItem":
                out.append({"separator": True})
                continue
            label = child.get_child()
            text = label.get_text() if hasattr(label, "get_text") else child.get_label()
            entry: dict[str, Any] = {"text": text, "sensitive": bool(child.get_sensitive())}
            if hasattr(child, "get_active"):
                entry["active"] = bool(child.get_active())
            sub = child.get_submenu()
            if sub is not None:
                entry["submenu"] = walk(sub)
            out.append(entry)
        return out

    try:
        status_icon = getattr(icon, "_status_icon", None)
        tooltip = status_icon.get_tooltip_text() if status_icon is not None else None
        return walk(handle), tooltip
    except Exception:
        return None


def release_setup_thread(icon: Any) -> None:
    """After the loop failed to start: let pystray's setup thread (not a daemon) finish."""
    mark_ready = getattr(icon, "_mark_ready", None)
    if callable(mark_ready):
        try:
            mark_ready()
        except Exception:
            pass
