"""ActivityWatch backend: the current window and AFK state from a local aw-server (spec 2.1).

For users (e.g. on Wayland) who already run ActivityWatch's watchers. Reads the newest event of
the ``currentwindow`` and ``afkstatus`` buckets of this host over aw-server's REST API, on
loopback only (the URL is checked again here, whatever the config said). Input counts are not
available (NaN); idle time comes from the AFK watcher (0 while not AFK, else the time since the
AFK period started); the title is reduced by the sampler thread like any other.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

from agent.sampler._base import NAN, Backend, BackendUnavailable, Sample

Fetch = Callable[[str], Any]
DEFAULT_URL = "http://127.0.0.1:5600"
BUCKET_REFRESH_S = 60.0


def _http_get_json(url: str, timeout: float = 0.5) -> Any:
    # A local server only: never follow a proxy setting to another host.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout) as resp:  # noqa: S310 - loopback URL checked
        return json.loads(resp.read(1_000_000).decode("utf-8"))


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _parse_ts(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class ActivityWatchBackend(Backend):
    NAME = "activitywatch"
    HAS_FOREGROUND = True
    HAS_TITLE = True
    HAS_IDLE = True
    HAS_INPUT_COUNTS = False
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
        self._window_bucket: str | None = None
        self._afk_bucket: str | None = None
        self._buckets_at = -1e18

    def _find_buckets(self) -> None:
        now = self.clock()
        if self._window_bucket and now - self._buckets_at < BUCKET_REFRESH_S:
            return
        self._buckets_at = now
        buckets = self.fetch(f"{self.url}/api/0/buckets/")
        if not isinstance(buckets, dict):
            raise BackendUnavailable("aw-server answered something that is not a bucket list")

        def pick(kind: str) -> str | None:
            found = [b for b in buckets.values()
                     if isinstance(b, dict) and b.get("type") == kind and isinstance(b.get("id"), str)]
            mine = [b for b in found if b.get("hostname") == self.hostname]
            chosen = (mine or found)
            return str(chosen[0]["id"]) if chosen else None

        self._window_bucket = pick("currentwindow")
        self._afk_bucket = pick("afkstatus")

    def start(self) -> None:
        try:
            self._find_buckets()
        except (OSError, urllib.error.URLError, ValueError) as exc:
            raise BackendUnavailable(f"no ActivityWatch server at {self.url} ({exc})") from None
        if self._window_bucket is None:
            raise BackendUnavailable("ActivityWatch has no window watcher bucket")

    def _newest(self, bucket: str | None) -> dict[str, Any] | None:
        if bucket is None:
            return None
        events = self.fetch(f"{self.url}/api/0/buckets/{quote(bucket, safe='')}/events?limit=1")
        if isinstance(events, list) and events and isinstance(events[0], dict):
            return events[0]
        return None

    def sample(self) -> Sample:
        self._find_buckets()
        now = self.clock()
        win = self._newest(self._window_bucket)
        app = title = None
        if win is not None:
            data: dict[str, Any] = _obj(win.get("data"))
            start = _parse_ts(win.get("timestamp"))
            raw_dur = win.get("duration")
            dur = float(raw_dur) if isinstance(raw_dur, int | float) else 0.0
            # a window event older than a minute is stale (watcher stopped): no foreground
            if start is not None and now - (start + dur) <= 60:
                app = data.get("app") if isinstance(data.get("app"), str) else None
                title = data.get("title") if isinstance(data.get("title"), str) else None
        idle = NAN
        afk = self._newest(self._afk_bucket)
        if afk is not None:
            data = _obj(afk.get("data"))
            status = data.get("status")
            start = _parse_ts(afk.get("timestamp"))
            if status == "not-afk":
                idle = 0.0
            elif status == "afk" and start is not None:
                idle = max(0.0, now - start)
        return Sample(app_name=app, title=title, idle_seconds=idle)

    def notes(self) -> list[str]:
        out = [f"reading the current window from ActivityWatch at {self.url}; input counts are "
               "not available"]
        if self._afk_bucket is None:
            out.append("ActivityWatch has no AFK watcher: idle time is missing")
        return out
