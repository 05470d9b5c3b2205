"""Wayland sessions: never the x11 sampler's partial picture; ActivityWatch when it answers on
loopback, otherwise a clear note (doctor, tray menu) saying what is missing and how to get it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.sampler import (
    WAYLAND_NO_WINDOWS,
    default_backend_name,
    is_wayland_session,
    open_backend,
)

XWAYLAND = {"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"}
DEAD_URL = "http://127.0.0.1:9"  # the discard port: nothing answers


def test_a_wayland_session_is_detected_even_with_xwaylands_display() -> None:
    assert is_wayland_session(XWAYLAND)
    assert is_wayland_session({"DISPLAY": ":0", "XDG_SESSION_TYPE": "wayland"})
    assert is_wayland_session({"WAYLAND_DISPLAY": "wayland-1"})
    assert not is_wayland_session({"DISPLAY": ":0", "XDG_SESSION_TYPE": "x11"})


def test_wayland_picks_activitywatch_when_it_answers_else_none_never_x11() -> None:
    asked: list[str] = []

    def probe(answers: bool):  # type: ignore[no-untyped-def]
        def p(url: str) -> bool:
            asked.append(url)
            return answers
        return p

    assert default_backend_name("linux", XWAYLAND, probe=probe(True)) == "activitywatch"
    assert asked == ["http://127.0.0.1:5600"]  # ActivityWatch's default port, on loopback
    assert default_backend_name("linux", XWAYLAND, activitywatch_url="http://127.0.0.1:5666",
                                probe=probe(False)) == "none"
    assert asked[-1] == "http://127.0.0.1:5666"
    # an X11 session is not asked anything
    n = len(asked)
    assert default_backend_name("linux", {"DISPLAY": ":0"}, probe=probe(True)) == "x11"
    assert len(asked) == n


def test_without_activitywatch_the_agent_says_what_is_missing_and_how_to_fix_it() -> None:
    backend, reason = open_backend(None, env=XWAYLAND, activitywatch_url=DEAD_URL)
    assert backend.NAME == "none"
    assert reason == WAYLAND_NO_WINDOWS
    assert "cannot read foreground windows" in reason
    assert "aw-watcher-window-wayland" in reason and "activitywatch_url" in reason


def test_forcing_x11_on_wayland_runs_it_but_says_what_it_cannot_see(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import agent.sampler as sampler
    from tests.agent_helpers import FakeBackend

    class X11(FakeBackend):
        NAME = "x11"

    monkeypatch.setattr(sampler, "create_backend", lambda name, **kw: X11())
    backend, reason = open_backend("x11", env=XWAYLAND)
    assert backend.NAME == "x11"
    assert reason is not None and "only XWayland apps" in reason
    backend, reason = open_backend("x11", env={"DISPLAY": ":0"})
    assert backend.NAME == "x11" and reason is None


def test_doctor_on_wayland_without_activitywatch(home: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from agent.doctor import run_doctor

    for k, v in XWAYLAND.items():
        monkeypatch.setenv(k, v)
    (home / "config.toml").write_text(f'activitywatch_url = "{DEAD_URL}"\n')
    run_doctor(home=home)
    out = capsys.readouterr().out
    assert f"windows:   {WAYLAND_NO_WINDOWS}" in out
    assert "backend:   none" in out
    run_doctor(home=home, as_json=True)
    report = json.loads(capsys.readouterr().out)
    assert report["wayland"] == {"session": True, "activitywatch_url": None,
                                 "advice": WAYLAND_NO_WINDOWS}


def test_the_tray_menu_shows_the_wayland_note(home: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.tray.menu_model import warning_lines
    from tests.agent_helpers import make_runtime, wait_for

    for k, v in XWAYLAND.items():
        monkeypatch.setenv(k, v)
    (home / "config.toml").write_text(f'activitywatch_url = "{DEAD_URL}"\n')
    rt = make_runtime(home, None)
    rt._backend_arg = None  # let the runtime choose, as the tray does
    rt.start()
    try:
        snap = wait_for(lambda: (s := rt.snapshot()).sampler_backend == "none" and s)
        lines = warning_lines(snap)
    finally:
        rt.stop()
    assert f"⚠ {WAYLAND_NO_WINDOWS}" in lines
