"""Window titles, reduced at sampling time (spec 2.1, 2.4).

A raw title is used once, in ``reduce_title``, and goes no further: what is kept is a keyed
hash (HMAC-SHA256 with the per-install ``title.key``, first 16 hex, so equal titles can be
counted without being readable or guessable from a dictionary) and, for browsers, a coarse
``domain_category`` from a keyword table of well-known sites.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

from engine.apps import AppInfo
from engine.errors import ArtifactError, MissingFileError
from engine.jsonio import read_bounded_bytes

TITLE_KEY_BYTES = 32

DOMAIN_CATEGORIES: tuple[str, ...] = (
    "search",
    "docs",
    "social",
    "video",
    "code_hosting",
    "news",
    "email_web",
    "productivity",
    "chat",
    "meeting_web",
    "design",
    "other",
    "unknown",
    "non_browser",
)

# Keyword -> category, most specific first: the first keyword found in the title decides,
# scanning from the end of the title (where browsers put the site name) to the start.
_SITE_KEYWORDS: tuple[tuple[str, str], ...] = (
    # meetings in the browser (before "google" / "microsoft" generic matches)
    ("google meet", "meeting_web"),
    ("meet.google.com", "meeting_web"),
    ("zoom meeting", "meeting_web"),
    ("zoom", "meeting_web"),
    ("microsoft teams", "meeting_web"),
    ("teams.microsoft.com", "meeting_web"),
    ("webex", "meeting_web"),
    ("jitsi", "meeting_web"),
    ("whereby", "meeting_web"),
    # web mail
    ("gmail", "email_web"),
    ("outlook", "email_web"),
    ("proton mail", "email_web"),
    ("protonmail", "email_web"),
    ("fastmail", "email_web"),
    ("yahoo mail", "email_web"),
    ("icloud mail", "email_web"),
    ("hey.com", "email_web"),
    # chat
    ("slack", "chat"),
    ("discord", "chat"),
    ("whatsapp", "chat"),
    ("telegram", "chat"),
    ("messenger", "chat"),
    ("mattermost", "chat"),
    ("rocket.chat", "chat"),
    ("google chat", "chat"),
    # code hosting and review
    ("github", "code_hosting"),
    ("gitlab", "code_hosting"),
    ("bitbucket", "code_hosting"),
    ("gitea", "code_hosting"),
    ("codeberg", "code_hosting"),
    ("sourcehut", "code_hosting"),
    ("gerrit", "code_hosting"),
    ("pull request", "code_hosting"),
    ("merge request", "code_hosting"),
    # documentation and reference
    ("stack overflow", "docs"),
    ("stackoverflow", "docs"),
    ("stack exchange", "docs"),
    ("mdn web docs", "docs"),
    ("mdn", "docs"),
    ("read the docs", "docs"),
    ("readthedocs", "docs"),
    ("docs.rs", "docs"),
    ("python documentation", "docs"),
    ("documentation", "docs"),
    ("docs.python.org", "docs"),
    ("cppreference", "docs"),
    ("devdocs", "docs"),
    ("wikipedia", "docs"),
    ("api reference", "docs"),
    ("developer.mozilla.org", "docs"),
    ("learn.microsoft.com", "docs"),
    ("arxiv", "docs"),
    ("google scholar", "docs"),
    ("chatgpt", "docs"),
    ("claude", "docs"),
    # productivity suites and project tools
    ("google docs", "productivity"),
    ("google sheets", "productivity"),
    ("google slides", "productivity"),
    ("google drive", "productivity"),
    ("google calendar", "productivity"),
    ("google forms", "productivity"),
    ("office 365", "productivity"),
    ("microsoft 365", "productivity"),
    ("sharepoint", "productivity"),
    ("onedrive", "productivity"),
    ("dropbox", "productivity"),
    ("confluence", "productivity"),
    ("notion", "productivity"),
    ("jira", "productivity"),
    ("linear", "productivity"),
    ("asana", "productivity"),
    ("trello", "productivity"),
    ("clickup", "productivity"),
    ("monday.com", "productivity"),
    ("airtable", "productivity"),
    ("todoist", "productivity"),
    ("overleaf", "productivity"),
    ("miro", "productivity"),
    # design
    ("figma", "design"),
    ("canva", "design"),
    ("dribbble", "design"),
    ("behance", "design"),
    ("excalidraw", "design"),
    ("sketch cloud", "design"),
    # video
    ("youtube", "video"),
    ("netflix", "video"),
    ("vimeo", "video"),
    ("twitch", "video"),
    ("prime video", "video"),
    ("disney+", "video"),
    ("hulu", "video"),
    # social
    ("twitter", "social"),
    ("reddit", "social"),
    ("facebook", "social"),
    ("instagram", "social"),
    ("linkedin", "social"),
    ("mastodon", "social"),
    ("bluesky", "social"),
    ("hacker news", "social"),
    ("threads", "social"),
    ("tiktok", "social"),
    ("pinterest", "social"),
    (" / x", "social"),
    # news
    ("bbc news", "news"),
    ("bbc", "news"),
    ("cnn", "news"),
    ("the guardian", "news"),
    ("new york times", "news"),
    ("nytimes", "news"),
    ("reuters", "news"),
    ("bloomberg", "news"),
    ("the verge", "news"),
    ("ars technica", "news"),
    ("techcrunch", "news"),
    ("washington post", "news"),
    ("financial times", "news"),
    ("google news", "news"),
    ("der spiegel", "news"),
    ("le monde", "news"),
    # search (after the Google products above)
    ("google search", "search"),
    ("bing", "search"),
    ("duckduckgo", "search"),
    ("ecosia", "search"),
    ("startpage", "search"),
    ("kagi", "search"),
    ("yandex", "search"),
    ("baidu", "search"),
    ("perplexity", "search"),
    # browser-internal and everyday sites
    ("new tab", "other"),
    ("about:blank", "other"),
    ("settings", "other"),
    ("amazon", "other"),
    ("ebay", "other"),
    ("google maps", "other"),
    ("paypal", "other"),
)

# Whole-word matching: "mdn" must not match inside "admin", "bing" not inside "combing".
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(r"(?<![a-z0-9])" + re.escape(k.strip()) + r"(?![a-z0-9])"), c)
    for k, c in _SITE_KEYWORDS
)
_SPLIT = re.compile(r"\s+[-\u2013\u2014|\u00b7:]\s+")
# Site names too generic to search for inside text, recognised only as a whole title part.
_EXACT_PARTS: dict[str, str] = {"meet": "meeting_web", "x": "social", "mail": "email_web",
                                "calendar": "productivity", "teams": "meeting_web"}
_BROWSER_SUFFIXES: frozenset[str] = frozenset({
    "google chrome", "chrome", "chromium", "mozilla firefox", "firefox", "firefox developer edition",
    "microsoft edge", "microsoft\u200b edge", "edge", "safari", "brave", "opera", "vivaldi", "arc",
    "personal", "work",
})


def title_hash(key: bytes, title: str) -> str:
    """HMAC-SHA256(key, title) as the first 16 hex characters."""
    return hmac.new(key, title.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:16]


def domain_category(title: str, *, is_browser: bool) -> str:
    """The coarse kind of site a browser title shows; ``non_browser`` for other apps.

    Browsers write ``<page> - <site> - <browser>``; the parts are scanned from the right, so
    the site name decides before words of the page title do.
    """
    if not is_browser:
        return "non_browser"
    text = title.casefold().strip()
    if not text:
        return "unknown"
    parts = _SPLIT.split(text)
    while len(parts) > 1 and parts[-1] in _BROWSER_SUFFIXES:
        parts.pop()  # "<page> - <site> - Google Chrome" (or " - Personal - Microsoft Edge")
    text = " - ".join(parts)
    for part in parts:
        exact = _EXACT_PARTS.get(part)
        if exact is not None:
            return exact
    for part in reversed(parts):
        for pattern, category in _PATTERNS:
            if pattern.search(part):
                return category
    # Keywords that span a separator (" / x").
    for pattern, category in _PATTERNS:
        if pattern.search(text):
            return category
    return "unknown"


def reduce_title(key: bytes, title: str | None, app: AppInfo) -> tuple[str | None, str]:
    """(title_hash, domain_category) of one foreground window; the raw title goes no further.

    No title (or an empty one) hashes to None. A lock screen has no title worth keeping.
    """
    if app.category == "lockscreen":
        return None, "non_browser"
    if not title or not title.strip():
        return None, ("unknown" if app.is_browser else "non_browser")
    return title_hash(key, title), domain_category(title, is_browser=app.is_browser)


def load_or_create_title_key(path: Path) -> bytes:
    """The per-install title key: 32 random bytes, created once with mode 0600.

    Creation is atomic (write a temp file, then hard-link it into place), so two processes
    starting together end up with the same key and a crash never leaves a short key behind.
    """
    data: bytes | None
    try:  # a regular file, read bounded: a FIFO or a device here never freezes the start
        data = read_bounded_bytes(path, 4096)
    except MissingFileError:
        data = None
    if data is None:
        data = _create_key(path)
    if len(data) != TITLE_KEY_BYTES:
        raise ArtifactError(path, None, f"title key must be {TITLE_KEY_BYTES} bytes, got {len(data)}")
    return data


def _create_key(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(TITLE_KEY_BYTES)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.chmod(tmp, 0o600)
        except OSError:
            pass
        try:
            os.link(tmp, path)
        except FileExistsError:
            return path.read_bytes()  # another process won the race: use its key
        except OSError:
            if path.exists():
                return path.read_bytes()
            os.replace(tmp, path)
            return key
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    return key
