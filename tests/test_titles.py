"""Title reduction at sampling time (spec 2.1, 2.4): a keyed hash and a coarse site kind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.apps import LOCKSCREEN, identify_app
from engine.errors import ArtifactError
from engine.titles import (
    DOMAIN_CATEGORIES,
    domain_category,
    load_or_create_title_key,
    reduce_title,
    title_hash,
)


def test_title_hash_is_hmac_sha256_first_16_hex() -> None:
    # RFC 4231 test case 2: HMAC-SHA256("Jefe", "what do ya want for nothing?")
    assert title_hash(b"Jefe", "what do ya want for nothing?") == "5bdcc146bf60754e"


def test_title_hash_depends_on_the_key() -> None:
    assert title_hash(b"a" * 32, "x") != title_hash(b"b" * 32, "x")
    assert title_hash(b"a" * 32, "x") == title_hash(b"a" * 32, "x")


@pytest.mark.parametrize(
    ("title", "category"),
    [
        ("Pull requests · acme/app - GitHub - Google Chrome", "code_hosting"),
        ("Merge request !12 - GitLab — Mozilla Firefox", "code_hosting"),
        ("python - How to sort a dict - Stack Overflow - Mozilla Firefox", "docs"),
        ("Array.prototype.map() - JavaScript | MDN", "docs"),
        ("(3) YouTube", "video"),
        ("Inbox (12) - me@example.com - Gmail", "email_web"),
        ("Q3 plan - Google Docs", "productivity"),
        ("[PROJ-12] Fix login - Jira", "productivity"),
        ("general (Channel) - Acme - Slack", "chat"),
        ("Meet - abc-defg-hij", "meeting_web"),
        ("Zoom Meeting", "meeting_web"),
        ("weather tomorrow - Google Search", "search"),
        ("Home / X", "social"),
        ("r/python - Reddit", "social"),
        ("BBC News - Home", "news"),
        ("Untitled - Figma", "design"),
        ("New Tab", "other"),
        ("Some small page", "unknown"),
        ("Inbox (14) - me@acme.io - Acme Mail — Mozilla Firefox", "email_web"),
        ("Re: Q2 plan - me@acme.io - Acme Mail", "email_web"),
        ("Calendar - Tuesday, 10 March 2026", "email_web"),
        ("Week of 9 March - Google Calendar - Google Chrome", "email_web"),
        ("RFC 9110: HTTP Semantics", "docs"),
        ("Exponential backoff and jitter | AWS Architecture Blog", "docs"),
        ("How we test | by Jane Doe | Medium", "docs"),
        ("Mailchimp - Campaigns", "unknown"),
        ("", "unknown"),
    ],
)
def test_domain_category_examples(title: str, category: str) -> None:
    assert domain_category(title, is_browser=True) == category


def test_keywords_match_whole_words_and_the_site_part_first() -> None:
    assert domain_category("Administration panel", is_browser=True) == "unknown"  # not "mdn"
    assert domain_category("combing tips", is_browser=True) == "unknown"  # not "bing"
    # the page talks about YouTube, the site is GitHub: the site decides
    assert domain_category("youtube-dl issues - GitHub", is_browser=True) == "code_hosting"


def test_non_browsers_are_non_browser() -> None:
    assert domain_category("Issue - GitHub", is_browser=False) == "non_browser"


def test_reduce_title() -> None:
    key = b"k" * 32
    ff, code = identify_app("firefox"), identify_app("code")
    assert reduce_title(key, "Issue - GitHub", ff) == (title_hash(key, "Issue - GitHub"), "code_hosting")
    assert reduce_title(key, "main.py", code) == (title_hash(key, "main.py"), "non_browser")
    assert reduce_title(key, None, ff) == (None, "unknown")
    assert reduce_title(key, "   ", code) == (None, "non_browser")
    assert reduce_title(key, "Lock", LOCKSCREEN) == (None, "non_browser")


@given(st.text(max_size=200), st.booleans())
def test_domain_category_is_total(title: str, is_browser: bool) -> None:
    c = domain_category(title, is_browser=is_browser)
    assert c in DOMAIN_CATEGORIES
    assert (c == "non_browser") == (not is_browser)
    h = title_hash(b"k" * 32, title)
    assert len(h) == 16 and set(h) <= set("0123456789abcdef")


def test_title_key_created_once_with_0600(tmp_path: Path) -> None:
    path = tmp_path / "home" / "title.key"
    key = load_or_create_title_key(path)
    assert len(key) == 32
    assert load_or_create_title_key(path) == key
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["title.key"]  # no temp file left
    assert load_or_create_title_key(tmp_path / "other.key") != key


def test_wrong_size_title_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "title.key"
    path.write_bytes(b"short")
    with pytest.raises(ArtifactError, match="title.key.*32 bytes"):
        load_or_create_title_key(path)
