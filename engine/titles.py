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
from typing import Any

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

def _load_sites() -> tuple[tuple[tuple[str, str], ...], dict[str, str], frozenset[str]]:
    from engine.desktop_tables import DATA_DIR, parse_sites, shipped

    data = shipped("sites.toml")
    path = DATA_DIR / "sites.toml"
    keywords = tuple((r.keyword, r.category) for r in parse_sites(data, path, DOMAIN_CATEGORIES))
    exact = {str(e["part"]).casefold(): str(e["category"]) for e in data.get("exact_part", [])}
    suffixes = frozenset(str(x).casefold() for x in data.get("browser_suffixes", []))
    if not set(exact.values()) <= set(DOMAIN_CATEGORIES):
        raise ArtifactError(path, "exact_part", "unknown domain category")
    return keywords, exact, suffixes


def _compile(keywords: tuple[tuple[str, str], ...]) -> tuple[tuple[re.Pattern[str], str], ...]:
    # Whole-word matching: "mdn" must not match inside "admin", "bing" not inside "combing".
    return tuple(
        (re.compile(r"(?<![a-z0-9])" + re.escape(k.strip()) + r"(?![a-z0-9])"), c)
        for k, c in keywords
    )


# Keyword -> category, most specific first (``engine/data/sites.toml``): the first keyword found
# in the title decides, scanning from the end of the title (where browsers put the site name).
_SITE_KEYWORDS, _EXACT_PARTS, _BROWSER_SUFFIXES = _load_sites()
_PATTERNS = _compile(_SITE_KEYWORDS)
_SPLIT = re.compile(r"\s+[-\u2013\u2014|\u00b7:]\s+")
# The user's own sites (``<home>/apps.toml``), tried before the shipped ones.
_USER_PATTERNS: list[tuple[re.Pattern[str], str]] = []


def set_user_sites(rows: list[Any]) -> None:
    """Replace the user's own site keywords (rows of ``engine.desktop_tables.SiteRow``)."""
    _USER_PATTERNS[:] = _compile(tuple((r.keyword, r.category) for r in rows))


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
    patterns = (*_USER_PATTERNS, *_PATTERNS) if _USER_PATTERNS else _PATTERNS
    for part in reversed(parts):
        for pattern, category in patterns:
            if pattern.search(part):
                return category
    # Keywords that span a separator (" / x").
    for pattern, category in patterns:
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
