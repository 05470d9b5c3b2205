"""Where ActivityWatch events come from: an ``/api/0/export`` file, streamed, or a loopback
aw-server's REST API, read a day at a time. Either way memory stays bounded by one event (file)
or one day of events (server), however long the history.

An export is ``{"buckets": {id: {"id", "type", "hostname", "created", "events": [...]}}}``.
Its keys may come in any order (aw-server sorts them, so ``events`` comes before ``type``), so
a file is read twice: once for the buckets' metadata, then once per bucket used for its events.
"""

from __future__ import annotations

import json
import os
import stat
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from agent.activitywatch.events import BUCKET_TYPES, parse_time
from engine.errors import ArtifactError, TaskclfError

#: Refuse files beyond this (a year of 1 s heartbeats is about 3 GB).
MAX_EXPORT_BYTES = 64 * 1024**3
#: One server page: a day of events of one bucket.
DAY_S = 86400.0
_HTTP_MAX_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class BucketInfo:
    id: str
    type: str
    hostname: str
    created: float | None = None
    last_updated: float | None = None


class ExportFile:
    """An ``/api/0/export`` JSON file (or one bucket's export), read as a stream."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.label = str(self.path)
        self._open().close()  # refuse a missing, special or oversized file at once

    def _open(self) -> IO[bytes]:
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except FileNotFoundError:
            raise ArtifactError(self.path, None, "file not found") from None
        except OSError as exc:
            raise ArtifactError(self.path, None, f"cannot read ({exc.strerror})") from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise ArtifactError(self.path, None, "not a regular file")
        if st.st_size > MAX_EXPORT_BYTES:
            os.close(fd)
            raise ArtifactError(self.path, None,
                                f"file too large ({st.st_size} bytes > {MAX_EXPORT_BYTES})")
        return os.fdopen(fd, "rb")

    def _fail(self, field: str | None, exc: BaseException) -> ArtifactError:
        text = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        return ArtifactError(self.path, field, f"not a valid ActivityWatch export ({text})")

    def buckets(self) -> list[BucketInfo]:
        """Every bucket's id, type and host (one streaming pass; events are skipped)."""
        import ijson

        meta: dict[str, dict[str, Any]] = {}
        bid: str | None = None
        seen_buckets = False
        try:
            with self._open() as fh:
                for prefix, event, value in ijson.parse(fh, use_float=True):
                    if prefix == "" and event not in ("start_map", "map_key", "end_map"):
                        raise ArtifactError(self.path, None,
                                            "not an ActivityWatch export (expected a JSON object)")
                    if prefix == "buckets":
                        if event == "start_map":
                            seen_buckets = True
                        elif event == "map_key":
                            bid = str(value)
                            meta[bid] = {}
                        elif event not in ("end_map",):
                            raise ArtifactError(self.path, "buckets", "expected an object")
                        continue
                    if bid is not None and prefix.startswith(f"buckets.{bid}."):
                        key = prefix[len(bid) + 9:]
                        if key in ("type", "hostname", "created", "last_updated"):
                            meta[bid][key] = value
        except ArtifactError:
            raise
        except (ijson.JSONError, ijson.IncompleteJSONError, UnicodeDecodeError, ValueError) as exc:
            raise self._fail(None, exc) from None
        if not seen_buckets:
            raise ArtifactError(self.path, "buckets", "missing (not an ActivityWatch export)")
        return [_bucket_info(b, m, self.path) for b, m in meta.items()]

    def events(self, bucket: BucketInfo, start: float | None = None,
               end: float | None = None) -> Iterator[Any]:
        """The raw event objects of one bucket, one at a time (all of them: the caller keeps
        those inside its range)."""
        import ijson

        try:
            with self._open() as fh:
                yield from ijson.items(fh, f"buckets.{bucket.id}.events.item", use_float=True)
        except (ijson.JSONError, ijson.IncompleteJSONError, UnicodeDecodeError) as exc:
            raise self._fail(f"buckets.{bucket.id}.events", exc) from None


def _bucket_info(bid: str, meta: dict[str, Any], where: str | Path) -> BucketInfo:
    btype, host = meta.get("type"), meta.get("hostname")
    if not isinstance(btype, str):
        raise ArtifactError(where, f"buckets.{bid}.type", "missing or not a string")
    if not isinstance(host, str):
        if btype in BUCKET_TYPES:
            raise ArtifactError(where, f"buckets.{bid}.hostname", "missing or not a string")
        host = ""

    def when(key: str) -> float | None:
        try:
            return parse_time(meta.get(key), str(where), f"buckets.{bid}.{key}")
        except ArtifactError:
            return None

    return BucketInfo(bid, btype, host, when("created"), when("last_updated"))


class ServerSource:
    """A loopback aw-server, read through its REST API a day at a time."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        from engine.config import check_loopback_url

        try:
            self.url = check_loopback_url(url)
        except ValueError as exc:
            raise TaskclfError(f"--server: {exc}") from None
        self.label = self.url
        self.timeout = timeout

    def _get(self, path: str) -> Any:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(self.url + path, timeout=self.timeout) as resp:  # noqa: S310
                data = resp.read(_HTTP_MAX_BYTES + 1)
        except (OSError, urllib.error.URLError) as exc:
            raise TaskclfError(f"ActivityWatch at {self.url}: cannot read {path} ({exc})") from None
        if len(data) > _HTTP_MAX_BYTES:
            raise ArtifactError(self.url + path, None, "answer too large")
        try:
            return json.loads(data.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ArtifactError(self.url + path, None, f"not JSON ({exc})") from None

    def buckets(self) -> list[BucketInfo]:
        got = self._get("/api/0/buckets/")
        if not isinstance(got, dict):
            raise ArtifactError(self.url + "/api/0/buckets/", None, "expected an object")
        out = []
        for bid, meta in got.items():
            if isinstance(meta, dict):
                out.append(_bucket_info(str(bid), meta, self.url + "/api/0/buckets/"))
        return out

    def _page(self, path: str, start: float | None, end: float, limit: int) -> list[Any]:
        q = f"end={quote(_iso(end))}&limit={limit}"
        if start is not None:
            q += f"&start={quote(_iso(start))}"
        page = self._get(f"{path}?{q}")
        if not isinstance(page, list):
            raise ArtifactError(self.url + path, None, "expected a list of events")
        return page

    def events(self, bucket: BucketInfo, start: float | None = None,
               end: float | None = None) -> Iterator[Any]:
        """The bucket's events in ``[start, end)``, newest first, at most a day per request;
        empty stretches are skipped by asking for the next older event. The server cuts events
        at a page's edges: a piece ending at an edge and the same event's piece starting there
        are joined again, so an AFK period keeps its true start."""
        path = f"/api/0/buckets/{quote(bucket.id, safe='')}/events"
        cursor = end if end is not None else datetime.now(UTC).timestamp() + DAY_S
        held: dict[str, Any] | None = None  # the oldest piece of the previous (later) page
        while start is None or cursor > start:
            newest = self._page(path, None, cursor, 1)
            if not newest or not isinstance(newest[0], dict):
                break
            t = _ts(newest[0])
            if t is None:
                yield newest[0]  # let the caller name the bad field
                return
            lo = t - DAY_S if start is None else max(start, t - DAY_S)
            page = [e for e in self._page(path, lo, cursor, -1) if isinstance(e, dict)]
            page.sort(key=lambda e: _ts(e) or 0.0, reverse=True)
            if held is not None and page and _joins(page[0], held, cursor):
                page[0] = dict(page[0], duration=page[0]["duration"] + held["duration"])
            elif held is not None:
                yield held
            held = None
            if page and _ts(page[-1]) == lo and lo != start:
                held = page.pop()
            yield from page
            if lo >= cursor:
                break
            cursor = lo
        if held is not None:
            yield held


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat()


def _ts(event: dict[str, Any]) -> float | None:
    try:
        return parse_time(event.get("timestamp"), None, "timestamp")
    except ArtifactError:
        return None


def _joins(earlier: dict[str, Any], later: dict[str, Any], edge: float) -> bool:
    """Are these the two pieces of one event the server cut at ``edge``?"""
    t0, d0 = _ts(earlier), earlier.get("duration")
    if t0 is None or not isinstance(d0, int | float):
        return False
    return (abs(t0 + float(d0) - edge) < 1e-3 and _ts(later) == edge
            and isinstance(later.get("duration"), int | float)
            and earlier.get("data") == later.get("data"))


def choose_host(buckets: list[BucketInfo], host: str | None, where: str) -> str:
    """The one host to import: ``host`` when given, else the only one; never a silent mix."""
    hosts = sorted({b.hostname for b in buckets if b.type in BUCKET_TYPES})
    if not hosts:
        raise TaskclfError(f"{where}: no ActivityWatch window, AFK or input buckets found")
    if host is not None:
        if host not in hosts:
            raise TaskclfError(f"{where}: no buckets of host {host!r} (hosts: {', '.join(hosts)})")
        return host
    if len(hosts) > 1:
        raise TaskclfError(f"{where}: data of {len(hosts)} hosts ({', '.join(hosts)}); "
                           "choose one with --host NAME")
    return hosts[0]
