"""exclude_apps / exclude_titles in config.toml, the config editor, and `taskclf privacy`."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.apps import AppInfo
from engine.cli.main import main
from engine.config import load_config
from engine.config_edit import add_to_list, set_top_level
from engine.errors import ArtifactError
from engine.paths import store_path
from engine.privacy import Exclusions, app_id_of
from engine.store import Store
from tests.store_helpers import record


def _write(home: Path, text: str) -> None:
    (home / "config.toml").write_text(text, encoding="utf-8")


def test_exclusions_load_and_apply(home: Path) -> None:
    _write(home, 'exclude_apps = ["Slack", "zqxapp"]\nexclude_titles = ["bank", "^Secret "]\n')
    cfg, warnings = load_config(home)
    assert warnings == []
    assert cfg.exclude_apps == ("com.tinyspeck.slackmacgap", "unknown.zqxapp")
    ex = cfg.exclusions()
    assert ex.app_excluded("unknown.zqxapp") and not ex.app_excluded("org.mozilla.firefox")
    assert ex.title_excluded("My BANK account - Firefox")  # any case
    assert ex.title_excluded("Secret plan.txt") and not ex.title_excluded("Not Secret plan")
    assert not ex.title_excluded(None) and not ex.title_excluded("")


def test_one_bad_pattern_is_reported_and_the_others_still_apply(home: Path) -> None:
    _write(home, 'exclude_titles = ["ok", "(unclosed", 3]\nexclude_apps = ["", "firefox"]\n')
    cfg, warnings = load_config(home)
    assert cfg.exclude_titles == ("ok",)
    assert cfg.exclude_apps == ("org.mozilla.firefox",)
    assert len(warnings) == 3
    assert any("exclude_titles: entry 2: not a regular expression" in w for w in warnings)
    assert any("exclude_titles: entry 3: expected a non-empty string" in w for w in warnings)
    assert any("exclude_apps: entry 1" in w for w in warnings)


def test_not_a_list_falls_back_with_a_warning(home: Path) -> None:
    _write(home, 'exclude_titles = "bank"\n')
    cfg, warnings = load_config(home)
    assert cfg.exclude_titles == () and "exclude_titles: expected a list of strings" in warnings[0]


def test_long_titles_are_matched_on_a_bounded_prefix() -> None:
    ex = Exclusions.of(titles=["needle"])
    assert ex.title_excluded("x" * 100 + "needle")
    assert not ex.title_excluded("x" * 5000 + "needle")


def test_app_id_of_accepts_ids_and_reported_names() -> None:
    assert app_id_of("firefox") == "org.mozilla.firefox"
    assert app_id_of("org.mozilla.firefox") == "org.mozilla.firefox"
    assert app_id_of("unknown.zqx") == "unknown.zqx"
    assert app_id_of("ZQX App.exe") == "unknown.zqx-app"
    with pytest.raises(ValueError, match="expected an app name"):
        app_id_of("  ")


def test_editor_keeps_comments_and_other_keys(home: Path) -> None:
    _write(home, "# mine\nsample_seconds = 2  # faster\n\n[extra]\nx = 1\n")
    assert add_to_list(home, "exclude_apps", "unknown.a") is True
    assert add_to_list(home, "exclude_apps", "unknown.a") is False
    assert add_to_list(home, "exclude_apps", 'we"ird\\name') is True
    text = (home / "config.toml").read_text()
    assert text.startswith("# mine\nsample_seconds = 2  # faster\n")
    data = tomllib.loads(text)
    assert data["exclude_apps"] == ["unknown.a", 'we"ird\\name'] and data["extra"] == {"x": 1}
    assert (home / "config.toml").stat().st_mode & 0o777 == 0o600


def test_editor_replaces_a_multi_line_array(home: Path) -> None:
    _write(home, 'exclude_apps = [\n  "a",\n  "b",\n]\nlog_level = "INFO"\n')
    add_to_list(home, "exclude_apps", "c")
    text = (home / "config.toml").read_text()
    assert text == 'exclude_apps = ["a", "b", "c"]\nlog_level = "INFO"\n'


def test_editor_refuses_a_broken_file_and_leaves_it(home: Path) -> None:
    _write(home, "this is = = not toml\n")
    with pytest.raises(ArtifactError, match="cannot be edited safely"):
        add_to_list(home, "exclude_apps", "x")
    assert (home / "config.toml").read_text() == "this is = = not toml\n"


@given(st.lists(st.text(st.characters(blacklist_categories=("Cs",)), max_size=20), max_size=5))
def test_property_editor_round_trips_any_strings(values: list[str]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        h = Path(d)
        (h / "config.toml").write_text('log_level = "INFO"\n[t]\nk = 1\n')
        set_top_level(h, "exclude_titles", values)
        data = tomllib.loads((h / "config.toml").read_text())
        assert data == {"log_level": "INFO", "exclude_titles": values, "t": {"k": 1}}


# ---- the commands


def test_privacy_exclude_app_command_edits_the_config(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["privacy", "exclude-app", "ZqxApp"]) == 0
    assert "unknown.zqxapp: never tracked from now on" in capsys.readouterr().out
    assert load_config(home)[0].exclude_apps == ("unknown.zqxapp",)
    assert main(["privacy", "status", "--json"]) == 0
    assert '"exclude_apps": ["unknown.zqxapp"]' in capsys.readouterr().out


def test_privacy_forget_command_forgets_the_last_minutes(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent import privacy_cli
    from tests.store_helpers import at

    monkeypatch.setattr(privacy_cli, "_now", lambda: at(90))
    with Store.open(store_path(home)) as store:
        for m in range(0, 90):
            store.put_record(record(m))
    assert main(["privacy", "forget", "--last", "30"]) == 0
    assert "Forgot the last 30 min: 30 min of activity" in capsys.readouterr().out
    with Store.open(store_path(home), readonly=True) as store:
        assert store.count_records() == 60


def test_privacy_commands_refuse_while_the_agent_runs(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from agent.lock import InstanceLock

    Store.open(store_path(home)).close()
    lock = InstanceLock(home)
    lock.acquire()
    try:
        assert main(["privacy", "forget"]) == 1
        assert main(["privacy", "delete-all", "--yes"]) == 1
    finally:
        lock.release()
    err = capsys.readouterr().err
    assert err.count("taskclf is running for this data folder") == 2
    assert store_path(home).exists()


def test_privacy_delete_all_needs_yes_and_keeps_settings(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from agent.identity import load_or_create_identity, load_or_create_title_key

    load_or_create_identity(home)
    load_or_create_title_key(home)
    with Store.open(store_path(home)) as store:
        store.put_record(record(0))
    for d in ("models/run1", "artifacts/days", "logs", "pending_labels"):
        (home / d).mkdir(parents=True)
        (home / d / "f").write_text("x")
    _write(home, 'exclude_apps = ["vim"]\n')
    assert main(["privacy", "delete-all"]) == 1
    assert "add --yes to confirm" in capsys.readouterr().err
    assert store_path(home).exists()
    assert main(["privacy", "delete-all", "--yes"]) == 0
    left = sorted(p.name for p in home.iterdir())
    assert left == ["agent.lock", "config.toml"]


# ---- what the sampler keeps


def test_screen_replaces_an_excluded_app_and_drops_excluded_titles() -> None:
    from agent.exclusions import screen
    from engine.apps import identify_app

    ex = Exclusions.of(apps=["unknown.zqx"], titles=["bank"])
    app = identify_app("zqx")
    assert screen(app, "anything", ex) == (AppInfo("excluded", "other"), None, False)
    ff = identify_app("firefox")
    assert screen(ff, "My Bank - Firefox", ex) == (ff, None, True)
    assert screen(ff, "Docs - Firefox", ex) == (ff, "Docs - Firefox", True)


def test_live_exclusions_follow_the_file_and_survive_a_broken_one(home: Path) -> None:
    import os

    from agent.exclusions import LiveExclusions

    now = [0.0]
    live = LiveExclusions(home, clock=lambda: now[0], check_seconds=2.0)
    assert not live.get()
    _write(home, 'exclude_apps = ["zqx"]\n')
    assert live.get().app_excluded("unknown.zqx") is False  # checked at most every 2 s
    now[0] = 2.5
    assert live.get().app_excluded("unknown.zqx")
    _write(home, "not [ toml")
    os.utime(home / "config.toml", ns=(1, 1))
    now[0] = 5.0
    assert live.get().app_excluded("unknown.zqx")  # the last good list is kept
    assert live.warnings and "not valid TOML" in live.warnings[0]
