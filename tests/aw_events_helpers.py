"""Scripted ActivityWatch events for the import/live tests.

``Script`` describes a stretch of work second by second (window, whether the hands are on the
keyboard); ``watcher_events`` turns it into the events ActivityWatch's watchers leave behind
(window events merged like heartbeats, aw-watcher-afk's back-dated AFK events with a 180 s
timeout, aw-watcher-input's 1 s count events and merged zero events). ``ReplayServer`` answers
the live backend's REST calls from those events, each known from its own timestamp, so the live
backend and the import can be fed exactly the same history.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

AFK_TIMEOUT_S = 180


@dataclass(frozen=True)
class Second:
    app: str | None
    title: str | None
    typing: bool
    on: bool = True  # False: the computer is off / asleep (no watcher runs)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat()


class _Bucket:
    """aw-server's heartbeat merge: same data within ``pulsetime`` of the last event's end
    extends it, anything else starts a new event."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def heartbeat(self, ts: float, data: dict[str, Any], pulsetime: float,
                  duration: float = 0.0) -> None:
        last = self.events[-1] if self.events else None
        if (last is not None and last["data"] == data and last["start"] <= ts
                and ts <= last["start"] + last["duration"] + pulsetime):
            last["duration"] = max(last["duration"], ts + duration - last["start"])
        else:
            self.events.append({"start": ts, "duration": duration, "data": dict(data)})


def watcher_events(t0: float, seconds: list[Second], *, with_input: bool = True
                   ) -> dict[str, list[dict[str, Any]]]:
    """Events of the window, AFK and (optionally) input watchers, oldest first, made by
    replaying each watcher's own loop against aw-server's heartbeat merge."""
    win, afk, inp = _Bucket(), _Bucket(), _Bucket()
    last_input: float | None = None
    is_afk = False
    for i, s in enumerate(seconds):
        t = t0 + i
        if not s.on:  # asleep: no watcher runs; they start afresh on wake-up
            last_input, is_afk = None, False
            continue
        if s.typing or last_input is None:
            last_input = t
        if s.app is not None:  # aw-watcher-window: every second, pulsetime 2 s
            win.heartbeat(t, {"app": s.app, "title": s.title or ""}, 2.0)
        if i % 5 == 0:  # aw-watcher-afk's loop: poll 5 s, timeout 180 s, pulsetime 185 s
            since = t - last_input

            def ping(a: bool, ts: float, d: float = 0.0) -> None:
                afk.heartbeat(ts, {"status": "afk" if a else "not-afk"}, 185.0, d)

            if is_afk and since < AFK_TIMEOUT_S:
                ping(True, last_input)
                is_afk = False
                ping(False, last_input + 0.001)
            elif not is_afk and since >= AFK_TIMEOUT_S:
                ping(False, last_input)
                is_afk = True
                ping(True, last_input + 0.001, since)
            elif is_afk:
                ping(True, last_input, since)
            else:
                ping(False, last_input)
        if with_input:  # aw-watcher-input: one event per second; zeros merge (pulsetime 1.1)
            data = {"presses": 4 if s.typing else 0,
                    "clicks": 1 if s.typing and i % 7 == 0 else 0,
                    "deltaX": 30 if s.typing else 0, "deltaY": 40 if s.typing else 0,
                    "scrollX": 0, "scrollY": 2 if s.typing and i % 5 == 0 else 0}
            idle = not any(data.values())
            inp.heartbeat(t, data, 1.1 if idle else 0.0, 1.0)
    out: dict[str, list[dict[str, Any]]] = {}
    kinds = [("currentwindow", win), ("afkstatus", afk)]
    if with_input:
        kinds.append(("os.hid.input", inp))
    for kind, bucket in kinds:
        out[kind] = [{"timestamp": iso(e["start"]), "duration": round(e["duration"], 3),
                      "data": e["data"]} for e in bucket.events]
    return out


BUCKET_IDS = {"currentwindow": "aw-watcher-window_{h}", "afkstatus": "aw-watcher-afk_{h}",
              "os.hid.input": "aw-watcher-input_{h}"}


def export_json(hosts: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    """An ``/api/0/export`` document (events newest first, like aw-server)."""
    buckets: dict[str, Any] = {}
    for host, kinds in hosts.items():
        for kind, events in kinds.items():
            bid = BUCKET_IDS[kind].format(h=host)
            buckets[bid] = {"id": bid, "type": kind, "hostname": host, "client": "test",
                            "created": events[0]["timestamp"] if events else iso(0),
                            "events": list(reversed(events))}
    return {"buckets": buckets}


def _ts(e: dict[str, Any]) -> float:
    return datetime.fromisoformat(e["timestamp"]).timestamp()


class ReplayServer:
    """Answers ``ActivityWatchBackend``'s requests as a live server would have at ``now``."""

    def __init__(self, host: str, kinds: dict[str, list[dict[str, Any]]]) -> None:
        self.host = host
        self.kinds = kinds
        self.now = 0.0

    def fetch(self, url: str) -> Any:
        u = urlparse(url)
        if u.path == "/api/0/buckets/":
            return {BUCKET_IDS[k].format(h=self.host): {
                "id": BUCKET_IDS[k].format(h=self.host), "type": k, "hostname": self.host}
                for k in self.kinds}
        bid = unquote(u.path.split("/")[4])
        kind = next(k for k in self.kinds if BUCKET_IDS[k].format(h=self.host) == bid)
        q = parse_qs(u.query)
        known = [e for e in self.kinds[kind] if _ts(e) <= self.now]
        if "start" in q:
            lo = datetime.fromisoformat(q["start"][0]).timestamp()
            known = [e for e in known if _ts(e) + e["duration"] >= lo]
        known.sort(key=_ts, reverse=True)
        limit = int(q.get("limit", ["-1"])[0])
        # the newest event as the live server has it at ``now`` (a heartbeat-extended event
        # reaches no further than now)
        out = [dict(e, duration=min(e["duration"], self.now - _ts(e))) for e in known]
        return json.loads(json.dumps(out[:limit] if limit > 0 else out))


def day_script(rng: Any, minutes: int) -> list[Second]:
    """A varied stretch: editor, terminal and browser work, reading pauses, a long absence."""
    wins = [("Code", "main.py - proj - Visual Studio Code"),
            ("Gnome-terminal", "me@box: ~/proj"),
            ("firefox", "Pull requests · acme/proj · GitHub — Mozilla Firefox"),
            ("firefox", "datetime — Python 3.12 documentation — Mozilla Firefox"),
            ("Slack", "Slack | #team | Acme")]
    out: list[Second] = []
    while len(out) < minutes * 60:
        app, title = wins[rng.randrange(len(wins))]
        kind = rng.random()
        n = rng.randint(5, 240)
        if kind < 0.1:
            out.extend(Second(app, title, False) for _ in range(rng.randint(200, 400)))  # away
        elif kind < 0.15:
            out.extend(Second(None, None, False, on=False) for _ in range(rng.randint(30, 200)))
        else:
            out.extend(Second(app, title, rng.random() < 0.6) for _ in range(n))
    return out[: minutes * 60]


def shift(events: dict[str, list[dict[str, Any]]], seconds: float) -> dict[str, list[dict[str, Any]]]:
    return {k: [dict(e, timestamp=iso(_ts(e) + seconds)) for e in v] for k, v in events.items()}


__all__ = ["Second", "ReplayServer", "day_script", "export_json", "iso", "shift",
           "watcher_events", "timedelta"]
