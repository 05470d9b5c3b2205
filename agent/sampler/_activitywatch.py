"""ActivityWatch backend: the current window, AFK state and (with aw-watcher-input) input
counts from a local aw-server (spec 2.1).

For users (e.g. on Wayland) who already run ActivityWatch's watchers. Reads the newest events of
this host's ``currentwindow``, ``afkstatus`` and ``os.hid.input`` buckets over aw-server's REST
API, on loopback only (the URL is checked again here, whatever the config said), and turns them
into a sample with ``agent.activitywatch.events.sample_at``, the very function the import uses.
Only this computer's buckets are read: another host's data is never taken instead.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from agent.activitywatch.events import (
    AFK_TYPE,
    INPUT_TYPE,
    WINDOW_TYPE,
    AfkEvent,
    InputEvent,
    WindowEvent,
    afk_event,
    counts_at,
    input_event,
    sample_at,
    window_event,
)
from agent.sampler._base import Backend, BackendUnavailable, Sample
from engine.errors import ArtifactError

Fetch = Callable[[str], Any]
DEFAULT_URL = "http://127.0.0.1:5600"
BUCKET_REFRESH_S = 60.0


def _http_get_json(url: str, timeout: float = 0.5) -> Any:
    # A local server only: never follow a proxy setting to another host.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout) as resp:  # noqa: S310 - loopback URL checked
        return json.loads(resp.read(1_000_000).decode("utf-8"))


def host_buckets(buckets: Any, hostname: str) -> tuple[dict[str, str], list[str]]:
    """This host's bucket id per type (window, AFK, input) and the other hosts seen."""
    if not isinstance(buckets, dict):
        raise BackendUnavailable("aw-server answered something that is not a bucket list")
    mine: dict[str, str] = {}
    others: set[str] = set()
    for b in buckets.values():
        if not isinstance(b, dict) or b.get("type") not in (WINDOW_TYPE, AFK_TYPE, INPUT_TYPE):
            continue
        bid, host = b.get("id"), b.get("hostname")
        if not isinstance(bid, str):
            continue
        if host == hostname:
            mine.setdefault(str(b["type"]), bid)
        elif isinstance(host, str):
            others.add(host)
    return mine, sorted(others)


class ActivityWatchBackend(Backend):
    NAME = "activitywatch"
    HAS_FOREGROUND = True
    HAS_TITLE = True
    HAS_IDLE = True
    HAS_INPUT_COUNTS = False  # True once this host's aw-watcher-input bucket is found
    HAS_LOCK_STATE = False

    def __init__(self, url: str | None = None, *, fetch: Fetch | None = None,
                 hostname: str | None = None, clock: Callable[[], float] = time.time) -> None:
        from engine.config import check_loopback_url

        try:
            self.url = check_loopback_url(url or DEFAULT_URL)
        except ValueError as exc:
            raise BackendUnavailable(f"activitywatch_url: {exc}") from None
        self.fetch = fetch or _http_get_json
        self.hostname = hostname or socket.gethostname()
        self.clock = clock
        self._buckets: dict[str, str] = {}
        self._other_hosts: list[str] = []
        self._buckets_at = -1e18
        self._counted_until: float | None = None  # input events up to here are counted

    def _find_buckets(self) -> None:
        now = self.clock()
        if self._buckets.get(WINDOW_TYPE) and now - self._buckets_at < BUCKET_REFRESH_S:
            return
        self._buckets_at = now
        self._buckets, self._other_hosts = host_buckets(
            self.fetch(f"{self.url}/api/0/buckets/"), self.hostname)
        self.HAS_INPUT_COUNTS = INPUT_TYPE in self._buckets

    def start(self) -> None:
        try:
            self._find_buckets()
        except (OSError, urllib.error.URLError, ValueError) as exc:
            raise BackendUnavailable(f"no ActivityWatch server at {self.url} ({exc})") from None
        if WINDOW_TYPE not in self._buckets:
            if self._other_hosts:
                raise BackendUnavailable(
                    f"ActivityWatch at {self.url} has window data only from "
                    f"{', '.join(self._other_hosts)}, not from this computer ({self.hostname})")
            raise BackendUnavailable("ActivityWatch has no window watcher bucket for this computer")

    def _events(self, kind: str, query: str) -> list[Any]:
        bucket = self._buckets.get(kind)
        if bucket is None:
            return []
        events = self.fetch(f"{self.url}/api/0/buckets/{quote(bucket, safe='')}/events?{query}")
        return events if isinstance(events, list) else []

    def sample(self) -> Sample:
        self._find_buckets()
        now = self.clock()
        win: WindowEvent | None = None
        afk: AfkEvent | None = None
        try:
            got = self._events(WINDOW_TYPE, "limit=1")
            win = window_event(got[0]) if got else None
        except ArtifactError:
            win = None
        try:
            got = self._events(AFK_TYPE, "limit=1")
            afk = afk_event(got[0]) if got else None
        except ArtifactError:
            afk = None
        inputs: list[InputEvent] | None = None
        since = now - 1.0
        if INPUT_TYPE in self._buckets:
            # events posted late (aw-watcher-input sends each second after it ends) are still
            # counted, once: everything that started after the last counted event
            if self._counted_until is not None and now - 5.0 < self._counted_until < since:
                since = self._counted_until
            query = datetime.fromtimestamp(now - 5.0, tz=UTC).isoformat()
            inputs = []
            for obj in self._events(INPUT_TYPE, f"start={quote(query)}&limit=100"):
                try:
                    inputs.append(input_event(obj))
                except ArtifactError:
                    continue
            fresh = [e.start for e in inputs if since < e.start <= now]
            self._counted_until = max(fresh) if fresh else since
        return sample_at(now, win, afk, counts_at(now, inputs, since))

    def notes(self) -> list[str]:
        out = [f"reading the current window from ActivityWatch at {self.url}"]
        if INPUT_TYPE not in self._buckets:
            out.append("ActivityWatch has no input watcher (aw-watcher-input) for this computer: "
                       "input counts are not available")
        if AFK_TYPE not in self._buckets:
            out.append("ActivityWatch has no AFK watcher: idle time is missing")
        return out
