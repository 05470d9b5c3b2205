"""Choosing the pystray backend: fall back in order, refuse one without a menu, name real causes.

Fake backend loaders stand in for pystray's modules, so these run on any OS without a display.
"""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from tray_fakes import FAKE_BACKEND, FakeIcon, FakeMenu, FakeMenuItem, FakeRuntime

from agent.tray.app import TrayApp
from agent.tray.backends import (
    LINUX_ORDER,
    NoTrayBackend,
    TrayBackend,
    candidate_names,
    choose_backend,
    session_bus_problem,
    tray_host_problem,
)


def icon_class(*, menu: bool = True, radio: bool = True, default: bool = True) -> type:
    return type("Icon", (FakeIcon,), {"HAS_MENU": menu, "HAS_MENU_RADIO": radio,
                                     "HAS_DEFAULT_ACTION": default})


def loader(outcomes: dict[str, Any]) -> Any:
    """A load function: an exception is raised, a class becomes the backend's Icon."""
    tried: list[str] = []

    def load(name: str) -> Any:
        tried.append(name)
        outcome = outcomes[name]
        if isinstance(outcome, BaseException):
            raise outcome
        return SimpleNamespace(Icon=outcome, Menu=FakeMenu, MenuItem=FakeMenuItem)

    load.tried = tried  # type: ignore[attr-defined]
    return load


NO_INDICATOR = ValueError("Namespace AyatanaAppIndicator3 not available")


def test_debian_12_with_gtk_but_no_appindicator_typelib_gets_gtk() -> None:
    load = loader({"appindicator": NO_INDICATOR, "gtk": icon_class(), "xorg": icon_class(menu=False)})
    backend = choose_backend("linux", {"DISPLAY": ":0"}, load)
    assert backend.name == "gtk"
    assert load.tried == ["appindicator", "gtk"]
    assert backend.ui_loop == "glib" and backend.icon_size == 64


def test_appindicator_is_preferred_when_it_loads() -> None:
    load = loader({"appindicator": icon_class(default=False), "gtk": icon_class(), "xorg": icon_class()})
    backend = choose_backend("linux", {}, load)
    assert backend.name == "appindicator" and not backend.has_default_action


def test_a_backend_without_a_menu_is_refused_and_every_cause_is_named() -> None:
    no_gi = ModuleNotFoundError("No module named 'gi'", name="gi")
    load = loader({"appindicator": no_gi, "gtk": no_gi, "xorg": icon_class(menu=False)})
    with pytest.raises(NoTrayBackend, match=r"appindicator: PyGObject is not installed.*"
                                            r"gtk: PyGObject is not installed.*xorg: has no menu.*"
                                            r"taskclf agent --headless"):
        choose_backend("linux", {}, load)


def test_missing_typelibs_are_named_with_the_package_to_install() -> None:
    load = loader({"appindicator": NO_INDICATOR,
                   "gtk": ValueError("Namespace Gtk not available"),
                   "xorg": icon_class(menu=False)})
    with pytest.raises(NoTrayBackend, match=r"gir1\.2-ayatanaappindicator3-0\.1.*gir1\.2-gtk-3\.0"):
        choose_backend("linux", {}, load)


def test_pystray_backend_variable_forces_one_and_xorg_is_still_refused() -> None:
    load = loader({"xorg": icon_class(menu=False, radio=False)})
    with pytest.raises(NoTrayBackend, match=r"^no tray backend works here \(xorg: has no menu"):
        choose_backend("linux", {"PYSTRAY_BACKEND": "xorg"}, load)
    assert load.tried == ["xorg"]


def test_candidates_per_platform() -> None:
    assert candidate_names("linux", {}) == LINUX_ORDER == ("appindicator", "gtk", "xorg")
    assert candidate_names("darwin", {}) == ("darwin",)
    assert candidate_names("win32", {}) == ("win32",)
    assert candidate_names("freebsd14", {"PYSTRAY_BACKEND": "gtk"}) == ("gtk",)
    assert TrayBackend("win32", FakeIcon, FakeMenu, FakeMenuItem).icon_size == 32
    assert TrayBackend("darwin", FakeIcon, FakeMenu, FakeMenuItem).ui_loop == "appkit"


def test_menu_follows_the_backend_flags(tmp_path: Path) -> None:
    """No radio marks or default item where the backend cannot show them."""
    plain = TrayBackend("plain", icon_class(radio=False, default=False), FakeMenu, FakeMenuItem)
    app = TrayApp(FakeRuntime(), tmp_path, backend=plain)
    items = _flatten(app.pystray_items(app.model.items))
    assert items and not any(i.radio for i in items) and not any(i.default for i in items)
    rich = TrayApp(FakeRuntime(), tmp_path, backend=FAKE_BACKEND)
    rich_items = _flatten(rich.pystray_items(rich.model.items))
    assert any(i.radio for i in rich_items) and any(i.default for i in rich_items)


def _flatten(items: list[Any]) -> list[FakeMenuItem]:
    out: list[FakeMenuItem] = []
    for it in items:
        if it is FakeMenu.SEPARATOR:
            continue
        out.append(it)
        if isinstance(it.action, FakeMenu):
            out.extend(_flatten(it.action.items))
    return out


def test_session_bus_problem_names_the_cause() -> None:
    def refuse() -> None:
        raise RuntimeError("g-io-error-quark: Could not connect: No such file or directory (1)")

    problem = session_bus_problem(refuse)
    assert problem is not None
    assert problem.startswith("no D-Bus session bus (Could not connect: No such file or directory (1))")
    assert session_bus_problem(lambda: object()) is None


def test_a_bus_that_never_answers_cannot_hang_the_start() -> None:
    never = threading.Event()
    try:
        problem = session_bus_problem(lambda: never.wait(), timeout=0.2)
    finally:
        never.set()
    assert problem is not None and "did not answer" in problem


def test_tray_host_problem() -> None:
    def broken() -> bool:
        raise OSError("cannot connect")

    def yes() -> bool:
        return True

    def no() -> bool:
        return False

    assert tray_host_problem("gtk", yes, no) is None
    assert tray_host_problem("appindicator", no, yes) is None  # a StatusNotifierWatcher is enough
    assert tray_host_problem("appindicator", yes, no) is None  # its XEmbed fallback too
    msg = tray_host_problem("gtk", no, yes)  # GTK's status icon needs an XEmbed tray
    assert msg is not None and msg.startswith("no system tray is running")
    assert tray_host_problem("gtk", broken, broken) is not None
    assert tray_host_problem("win32", no, no) is None and tray_host_problem("darwin", no, no) is None


class FailingIcon(FakeIcon):
    """An icon whose loop cannot start (pystray raises inside ``run``)."""

    released = False

    def run(self, setup: Any = None) -> None:
        raise RuntimeError("g-io-error-quark: the loop could not start")

    def _mark_ready(self) -> None:
        FailingIcon.released = True


def test_a_loop_that_cannot_start_raises_and_releases_pystrays_setup_thread(tmp_path: Path) -> None:
    backend = TrayBackend("fake", FailingIcon, FakeMenu, FakeMenuItem)
    app = TrayApp(FakeRuntime(), tmp_path, backend=backend)
    with pytest.raises(RuntimeError, match="the loop could not start"):
        app.run()
    assert FailingIcon.released


def test_no_tray_host_is_logged_and_notified(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    checks: list[int] = []

    def host_problem() -> str | None:
        checks.append(1)
        return "no system tray is running on this desktop"

    rt = FakeRuntime()
    app = TrayApp(rt, tmp_path, backend=FAKE_BACKEND, host_problem=host_problem, host_grace=0.0,
                  start_runtime=True)
    done = threading.Thread(target=app.run, daemon=True)
    with caplog.at_level("WARNING", logger="taskclf.tray"):
        done.start()
        for _ in range(500):
            if len(checks) >= 2 and app._icon is not None and app._icon.notes:
                break
            threading.Event().wait(0.01)
        notes = list(app._icon.notes) if app._icon is not None else []
        app.quit()
        done.join(5)
    assert len(checks) == 2  # checked again after the grace (a panel may come up late)
    assert notes == ["no system tray is running on this desktop"]
    assert "no system tray is running" in caplog.text
