"""The app table (spec 2.4): every OS's names of an app resolve to one id and category."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import apps
from engine.apps import CATEGORIES, LOCKSCREEN, UNKNOWN_APP, AppInfo, identify_app


@pytest.mark.parametrize(
    ("hints", "app_id", "category"),
    [
        ({"name": "firefox"}, "org.mozilla.firefox", "browser"),
        ({"name": None, "exe": "firefox.exe"}, "org.mozilla.firefox", "browser"),
        ({"name": "Firefox"}, "org.mozilla.firefox", "browser"),
        ({"name": None, "wm_class": ("Navigator", "firefox")}, "org.mozilla.firefox", "browser"),
        ({"name": None, "bundle_id": "org.mozilla.firefox"}, "org.mozilla.firefox", "browser"),
        ({"name": "Google Chrome"}, "com.google.Chrome", "browser"),
        ({"name": None, "exe": "chrome.exe"}, "com.google.Chrome", "browser"),
        ({"name": None, "wm_class": ("google-chrome", "Google-chrome")}, "com.google.Chrome", "browser"),
        ({"name": None, "exe": "Code.exe"}, "com.microsoft.VSCode", "editor"),
        ({"name": None, "wm_class": ("code", "Code")}, "com.microsoft.VSCode", "editor"),
        ({"name": "Visual Studio Code"}, "com.microsoft.VSCode", "editor"),
        ({"name": None, "exe": "idea64.exe"}, "com.jetbrains.intellij", "editor"),
        ({"name": None, "wm_class": ("jetbrains-idea-ce", "jetbrains-idea-ce")},
         "com.jetbrains.intellij", "editor"),
        ({"name": "Terminal", "bundle_id": "com.apple.Terminal"}, "com.apple.Terminal", "terminal"),
        ({"name": None, "wm_class": ("gnome-terminal-server", "Gnome-terminal")},
         "org.gnome.Terminal", "terminal"),
        ({"name": None, "exe": "WindowsTerminal.exe"}, "com.microsoft.WindowsTerminal", "terminal"),
        ({"name": None, "exe": "slack.exe"}, "com.tinyspeck.slackmacgap", "chat"),
        ({"name": None, "wm_class": ("slack", "Slack")}, "com.tinyspeck.slackmacgap", "chat"),
        ({"name": None, "exe": "Zoom.exe"}, "us.zoom.xos", "meeting"),
        ({"name": "zoom.us"}, "us.zoom.xos", "meeting"),
        ({"name": None, "exe": "ms-teams.exe"}, "com.microsoft.teams2", "meeting"),
        ({"name": "Mail"}, "com.apple.mail", "email"),
        ({"name": None, "exe": "OUTLOOK.EXE"}, "com.microsoft.Outlook", "email"),
        ({"name": None, "wm_class": ("Mail", "thunderbird")}, "org.mozilla.thunderbird", "email"),
        ({"name": "Notes"}, "com.apple.Notes", "docs"),
        ({"name": None, "exe": "WINWORD.EXE"}, "com.microsoft.Word", "docs"),
        ({"name": "Finder"}, "com.apple.finder", "file_manager"),
        ({"name": None, "exe": "explorer.exe"}, "com.microsoft.explorer", "file_manager"),
        ({"name": None, "wm_class": ("org.gnome.Nautilus", "Org.gnome.Nautilus")},
         "org.gnome.Nautilus", "file_manager"),
        ({"name": "Figma"}, "com.figma.Desktop", "design"),
        ({"name": None, "exe": "Postman.exe"}, "com.postmanlabs.mac", "devtools"),
        ({"name": "Spotify"}, "com.spotify.client", "media"),
        ({"name": None, "exe": "Taskmgr.exe"}, "com.microsoft.taskmgr", "utilities"),
        ({"name": "Jira"}, "com.atlassian.jira", "project_mgmt"),
        ({"name": None, "exe": "LockApp.exe"}, LOCKSCREEN.app_id, "lockscreen"),
        ({"name": "loginwindow"}, LOCKSCREEN.app_id, "lockscreen"),
        ({"name": None, "wm_class": ("xscreensaver", "XScreenSaver")}, LOCKSCREEN.app_id, "lockscreen"),
    ],
)
def test_names_each_os_reports(hints: dict, app_id: str, category: str) -> None:
    info = identify_app(**hints)
    assert (info.app_id, info.category) == (app_id, category)


def test_every_seed_vocabulary_id_is_in_the_table(seed_bundle_dir: Path) -> None:
    vocab = json.loads((seed_bundle_dir / "categorical_encoders.json").read_text())
    seed_ids = [a for a in vocab["app_id"] if a != "__unknown__"]
    known = {a.app_id: a for a in apps.known_apps()}
    for app_id in seed_ids:
        assert app_id in known, app_id
        assert identify_app(None, bundle_id=app_id) == known[app_id]
        assert known[app_id].category in vocab["app_category"], app_id


def test_every_category_group_is_covered() -> None:
    present = {a.category for a in apps.known_apps()}
    assert present == set(CATEGORIES) - {"other"}


def test_no_reported_name_maps_to_two_apps() -> None:
    owner: dict[str, str] = {}
    clashes = []
    for app_id, _category, names in apps._TABLE:
        for n in (app_id, *names):
            k = apps._key(n)
            if owner.setdefault(k, app_id) != app_id:
                clashes.append(f"{n!r}: {owner[k]} and {app_id}")
    assert not clashes, clashes


def test_flags_follow_the_category() -> None:
    for a in apps.known_apps():
        assert a.is_browser == (a.category == "browser")
        assert a.is_editor == (a.category == "editor")
        assert a.is_terminal == (a.category == "terminal")
    assert identify_app("firefox").is_browser and identify_app("code").is_editor
    assert identify_app("iTerm2").is_terminal


def test_uwp_frame_host_resolves_through_the_hosted_app() -> None:
    calc = identify_app("ApplicationFrameHost", exe="ApplicationFrameHost.exe", hosted_app="Calculator")
    assert calc == identify_app("Calculator") and calc.category == "utilities"
    unknown = identify_app(None, exe="ApplicationFrameHost.exe", hosted_app="Contoso Notes")
    assert unknown == AppInfo("unknown.contoso-notes", "other")
    # without the hosted app the frame host is never taken for an app of its own
    assert identify_app(None, exe="ApplicationFrameHost.exe").app_id == "unknown"


def test_most_specific_known_hint_wins() -> None:
    # a bundle id beats a display name that another app also uses
    assert identify_app("Code", bundle_id="com.apple.Terminal").app_id == "com.apple.Terminal"
    # an unknown bundle id falls back to a known executable or name
    assert identify_app("Slack", bundle_id="com.example.wrapper").app_id == "com.tinyspeck.slackmacgap"
    # the exe beats the window-class and the name
    assert identify_app("Firefox", exe="chrome.exe", wm_class=("x", "Firefox")).app_id == "com.google.Chrome"


def test_unknown_apps() -> None:
    assert identify_app(None) is UNKNOWN_APP
    assert identify_app("") is UNKNOWN_APP
    assert AppInfo("unknown", "other") == UNKNOWN_APP
    assert identify_app("My Tool.exe") == AppInfo("unknown.my-tool", "other")
    assert identify_app(None, wm_class=("weird_thing", "Weird_Thing")).app_id == "unknown.weird-thing"
    assert identify_app(None, bundle_id="com.example.App") == AppInfo("unknown.com.example.app", "other")
    assert identify_app("Foo.app").app_id == "unknown.foo"


@given(st.text(max_size=80), st.one_of(st.none(), st.text(max_size=40)),
       st.one_of(st.none(), st.tuples(st.text(max_size=20), st.text(max_size=20))))
def test_any_hint_gives_a_well_formed_app(name: str, exe: str | None, wm: tuple | None) -> None:
    info = identify_app(name, exe=exe, wm_class=wm)
    assert info.category in CATEGORIES
    assert info.app_id == "unknown" or info.category != "other" or re.fullmatch(
        r"unknown\.[a-z0-9.+\-]{1,64}", info.app_id)
    assert "\n" not in info.app_id and len(info.app_id) <= 72
