"""The app, site and rule tables are data; a user's own additions live in <home>/apps.toml."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.apps import identify_app, task_of
from engine.desktop_tables import DATA_DIR, load_user_tables, read_toml
from engine.errors import ArtifactError
from engine.rules import APP_CATEGORY_TASKS, rule_label
from engine.titles import domain_category

USER_TABLE = """
[[app]]
id = "com.acme.forge"
category = "editor"
names = ["AcmeForge", "acmeforge.exe"]

[[app]]
id = "com.acme.pdfview"
category = "docs"
names = ["acme-pdf"]
task = "ReadResearch"

[[site]]
keyword = "acme wiki"
category = "docs"
"""


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    load_user_tables(tmp_path / "nowhere")  # back to the shipped tables only


def test_shipped_tables_are_data_files() -> None:
    for name in ("apps.toml", "sites.toml", "rules.toml"):
        assert (DATA_DIR / name).is_file()
    assert identify_app("firefox").app_id == "org.mozilla.firefox"
    assert domain_category("Pull Request #1 · GitHub — Mozilla Firefox", is_browser=True) == "code_hosting"
    assert APP_CATEGORY_TASKS["editor"] == "Build"
    assert task_of("org.gnome.Evince") == "ReadResearch"


def test_user_additions_extend_apps_sites_and_rules(home: Path) -> None:
    assert identify_app("AcmeForge").app_id == "unknown.acmeforge"
    (home / "apps.toml").write_text(USER_TABLE)
    assert load_user_tables(home) == []
    assert identify_app(None, exe="acmeforge.exe").app_id == "com.acme.forge"
    assert identify_app("AcmeForge").category == "editor"
    assert domain_category("Release checklist - Acme Wiki — Mozilla Firefox", is_browser=True) == "docs"
    row = {"app_id": "com.acme.pdfview", "app_category": "docs", "active_seconds_any": 60.0,
           "max_idle_run_seconds": 0.0}
    assert rule_label(row) == "ReadResearch"
    # the shipped tables still apply
    assert identify_app("code").app_id == "com.microsoft.VSCode"
    # reloading without the file forgets the additions
    (home / "apps.toml").unlink()
    assert load_user_tables(home) == []
    assert identify_app("AcmeForge").app_id == "unknown.acmeforge"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('[[app]]\nid = "x"\ncategory = "spaceship"\n', "app[0].category"),
        ('[[app]]\nid = "x"\ncategory = "editor"\ntask = "Coding"\n', "app[0].task"),
        ('[[app]]\ncategory = "editor"\n', "app[0].id"),
        ('[[site]]\nkeyword = "wiki"\ncategory = "wikis"\n', "site[0].category"),
        ("app = 3\n", "app"),
        ("[[app]\n", "not valid TOML"),
    ],
)
def test_a_bad_user_table_is_ignored_with_a_warning(home: Path, text: str, field: str) -> None:
    (home / "apps.toml").write_text('[[app]]\nid = "com.acme.forge"\ncategory = "editor"\nnames = ["AcmeForge"]\n')
    assert load_user_tables(home) == []
    (home / "apps.toml").write_text(text)
    warnings = load_user_tables(home)
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert "apps.toml" in warnings[0] and field in warnings[0]
    assert identify_app("AcmeForge").app_id == "unknown.acmeforge"  # nothing of the bad file
    assert identify_app("code").app_id == "com.microsoft.VSCode"


def test_only_regular_bounded_files_are_read(tmp_path: Path) -> None:
    (tmp_path / "apps.toml").mkdir()
    with pytest.raises(ArtifactError, match="not a regular file"):
        read_toml(tmp_path / "apps.toml")
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * (2 * 1024 * 1024))
    with pytest.raises(ArtifactError, match="too large"):
        read_toml(big)
