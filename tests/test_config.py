"""config.toml (spec 6.6): defaults, unknown keys reported, bad values fall back, never a crash."""

from __future__ import annotations

import string
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.config import Config, default_config_text, load_config, parse_config

DEFAULTS = Config()


def write(home: Path, text: str | bytes) -> None:
    p = home / "config.toml"
    if isinstance(text, str):
        p.write_text(text, encoding="utf-8")
    else:
        p.write_bytes(text)


def test_defaults_match_the_spec() -> None:
    got = {f.name: getattr(DEFAULTS, f.name) for f in fields(Config)}
    assert got == {
        "sample_seconds": 1.0, "notifications": False, "spot_checks_per_day": 2,
        "low_confidence_prompts": False, "activity_retention_days": 90, "activitywatch_url": None,
        "activitywatch_export": False,
        "taxonomy": "taxonomy.toml", "log_level": "WARNING", "personalize": "auto", "exclude_apps": (),
        "exclude_titles": (),
    }


def test_absent_file_gives_defaults_without_warnings(home: Path) -> None:
    assert load_config(home) == (DEFAULTS, [])


def test_every_key_is_read(home: Path) -> None:
    write(home, """
sample_seconds = 2
notifications = true
spot_checks_per_day = 0
low_confidence_prompts = true
activity_retention_days = 30
activitywatch_url = "http://localhost:5600/"
taxonomy = "my/taxonomy.json"
log_level = "debug"
activitywatch_export = true
""")
    cfg, warnings = load_config(home)
    assert warnings == []
    assert cfg == Config(2.0, True, 0, True, 30, "http://localhost:5600", "my/taxonomy.json", "DEBUG",
                         activitywatch_export=True)
    assert cfg.taxonomy_path(home) == home / "my" / "taxonomy.json"


def test_unknown_keys_are_reported_and_ignored(home: Path) -> None:
    write(home, 'sample_secs = 2\nlog_level = "INFO"\n[agent]\nx = 1\n')
    cfg, warnings = load_config(home)
    assert cfg == Config(log_level="INFO")
    assert len(warnings) == 2
    assert "unknown key 'sample_secs'" in warnings[0] and str(home / "config.toml") in warnings[0]
    assert "unknown key 'agent'" in warnings[1]


@pytest.mark.parametrize(
    ("line", "key", "reason"),
    [
        ("sample_seconds = 0", "sample_seconds", "within"),
        ("sample_seconds = \"1\"", "sample_seconds", "expected a number"),
        ("sample_seconds = nan", "sample_seconds", "expected a number"),
        ("sample_seconds = inf", "sample_seconds", "expected a number"),
        ("notifications = \"yes\"", "notifications", "true or false"),
        ("notifications = 1", "notifications", "true or false"),
        ("spot_checks_per_day = 2.5", "spot_checks_per_day", "whole number"),
        ("spot_checks_per_day = -1", "spot_checks_per_day", "within"),
        ("spot_checks_per_day = true", "spot_checks_per_day", "whole number"),
        ("activity_retention_days = 0", "activity_retention_days", "within"),
        ("activitywatch_url = \"http://example.com:5600\"", "activitywatch_url", "this machine"),
        ("activitywatch_url = \"http://127.0.0.1.evil.com\"", "activitywatch_url", "this machine"),
        ("activitywatch_url = \"ftp://127.0.0.1\"", "activitywatch_url", "http"),
        ("activitywatch_url = \"http://u:p@localhost:5600\"", "activitywatch_url", "credentials"),
        ("activitywatch_url = \"http://localhost:99999\"", "activitywatch_url", "not a valid URL"),
        ("activitywatch_url = 5600", "activitywatch_url", "URL string"),
        ("taxonomy = \"../../etc/taxonomy.toml\"", "taxonomy", "escapes"),
        ("taxonomy = \"/etc/taxonomy.toml\"", "taxonomy", "escapes"),
        ("taxonomy = \"taxonomy.exe\"", "taxonomy", ".toml"),
        ("log_level = \"LOUD\"", "log_level", "WARNING"),
    ],
)
def test_bad_values_fall_back_to_defaults(home: Path, line: str, key: str, reason: str) -> None:
    write(home, f'{line}\nlog_level = "ERROR"\n' if key != "log_level" else line + "\n")
    cfg, warnings = load_config(home)
    assert getattr(cfg, key) == getattr(DEFAULTS, key)
    if key != "log_level":
        assert cfg.log_level == "ERROR"  # the good keys of the same file still apply
    assert len(warnings) == 1
    assert f": {key}: " in warnings[0] and reason in warnings[0] and "using the default" in warnings[0]


@pytest.mark.parametrize("url", ["http://127.0.0.1:5600", "https://[::1]:5600/api", "http://LOCALHOST"])
def test_loopback_urls_are_accepted(home: Path, url: str) -> None:
    write(home, f'activitywatch_url = "{url}"\n')
    cfg, warnings = load_config(home)
    assert warnings == [] and cfg.activitywatch_url == url


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("sample_seconds = = 1\n", "not valid TOML"),
        ("sample_seconds = 1\nsample_seconds = 2\n", "not valid TOML"),
        (b"\xff\xfe bad", "not UTF-8"),
        ("x = [" * 5000, "not valid TOML"),
    ],
)
def test_broken_file_gives_defaults_and_one_warning(home: Path, content: str | bytes, reason: str) -> None:
    write(home, content)
    cfg, warnings = load_config(home)
    assert cfg == DEFAULTS
    assert len(warnings) == 1 and reason in warnings[0] and "using defaults" in warnings[0]
    assert "\n" not in warnings[0]


def test_huge_file_is_not_read(home: Path) -> None:
    write(home, "# " + "x" * (300 * 1024) + "\n")
    cfg, warnings = load_config(home)
    assert cfg == DEFAULTS and "too large" in warnings[0]


def test_unreadable_file_gives_defaults(home: Path) -> None:
    (home / "config.toml").mkdir()  # a directory where the file should be
    cfg, warnings = load_config(home)
    assert cfg == DEFAULTS and len(warnings) == 1 and "using defaults" in warnings[0]


def test_default_config_text_is_valid_and_documents_every_key(home: Path) -> None:
    text = default_config_text()
    for f in fields(Config):
        assert f"# {f.name} = " in text
    # uncommented, it parses to exactly the defaults (the url line aside, which is an example)
    body = "\n".join(line[2:].split("#")[0] for line in text.splitlines()[1:]
                     if "activitywatch_url" not in line)
    write(home, body)
    assert load_config(home) == (DEFAULTS, [])


_toml_value = st.one_of(
    st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False), st.booleans(),
    st.text(alphabet=string.printable, max_size=30), st.lists(st.integers(), max_size=3),
)


@given(st.dictionaries(st.sampled_from([f.name for f in fields(Config)] + ["other"]), _toml_value))
def test_property_any_values_give_a_valid_config(data: dict) -> None:
    home = Path("/tmp/taskclf-config-home")
    cfg, warnings = parse_config(data, home=home)
    for f in fields(Config):
        value = getattr(cfg, f.name)
        given = data.get(f.name)
        if isinstance(value, tuple) and isinstance(given, list):
            given = tuple(given)
        if f.name in data and value == getattr(DEFAULTS, f.name) and given != value:
            assert any(f.name in w for w in warnings)
    assert 0.1 <= cfg.sample_seconds <= 30 and cfg.activity_retention_days >= 1
    assert cfg.log_level in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
    assert all(any(str(k) in w for k in data) for w in warnings)  # each names its key


@given(st.binary(max_size=300) | st.text(max_size=300))
def test_property_no_file_content_crashes_the_loader(content: bytes | str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        home = Path(d)
        write(home, content)
        cfg, warnings = load_config(home)
        assert isinstance(cfg, Config) and all(isinstance(w, str) for w in warnings)


def test_tilde_is_not_expanded(home: Path) -> None:
    write(home, 'taxonomy = "~0/taxonomy.toml"\n')  # "~0" is no user: must not crash
    cfg, warnings = load_config(home)
    assert warnings == [] and cfg.taxonomy_path(home) == home / "~0" / "taxonomy.toml"
