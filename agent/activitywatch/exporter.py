"""``taskclf export activitywatch``: taskclf's task types in ActivityWatch's timeline.

Two buckets of their own per host, next to the user's window buckets:

* ``taskclf-predictions_<host>`` (type ``app.taskclf.prediction``): the label the tray showed
  (after smoothing, reject and the taxonomy), consecutive equal buckets merged into one event,
  ``{"label", "confidence"}`` (the shown label's mean probability);
* ``taskclf-labels_<host>`` (type ``app.taskclf.label``): the user's own label spans,
  ``{"label", "confidence"}`` (confidence only when the user gave one).

Only labels and confidences leave taskclf: never title hashes, app ids, user or device ids,
model ids or keys. Writing to a server replaces our own events of the exported range (so
exporting again never duplicates); ``--output`` writes a file ActivityWatch can import.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from engine.errors import TaskclfError

PREDICTION_TYPE = "app.taskclf.prediction"
LABEL_TYPE = "app.taskclf.label"
CLIENT = "taskclf"
_TIMEOUT_S = 30.0


def bucket_ids(host: str) -> dict[str, str]:
    return {PREDICTION_TYPE: f"taskclf-predictions_{host}", LABEL_TYPE: f"taskclf-labels_{host}"}


@dataclass
class ExportReport:
    destination: str
    counts: dict[str, int] = field(default_factory=dict)
    replaced: int = 0

    def lines(self) -> list[str]:
        return [f"wrote {self.counts.get(PREDICTION_TYPE, 0)} prediction events and "
                f"{self.counts.get(LABEL_TYPE, 0)} label events to {self.destination}"
                + (f" (replacing {self.replaced} earlier ones)" if self.replaced else "")]


def _event(start: datetime, seconds: float, label: str, confidence: float | None) -> dict[str, Any]:
    data: dict[str, Any] = {"label": label}
    if confidence is not None:
        data["confidence"] = round(float(confidence), 3)
    return {"timestamp": start.astimezone(UTC).isoformat(), "duration": float(seconds),
            "data": data}


def prediction_events(preds: list[Any], bucket_seconds: int = 60) -> list[dict[str, Any]]:
    """Shown labels, a run of equal consecutive buckets as one event (mean confidence)."""
    out: list[dict[str, Any]] = []
    run: list[tuple[datetime, str, float]] = []

    def close() -> None:
        if run:
            conf = sum(c for _, _, c in run) / len(run)
            out.append(_event(run[0][0], bucket_seconds * len(run), run[0][1], conf))
            run.clear()

    for p in preds:
        start = datetime.fromisoformat(p.bucket_start)
        label = p.mapped_label
        conf = float(p.mapped_probs.get(label, p.confidence))
        if run and (label != run[-1][1] or start != run[-1][0] + timedelta(seconds=bucket_seconds)):
            close()
        run.append((start, label, conf))
    close()
    return out


def label_events(spans: list[Any]) -> list[dict[str, Any]]:
    return [_event(s.start_ts, s.duration_seconds, s.label, s.confidence) for s in spans]


def collect(home: Path, start: float | None, end: float | None) -> dict[str, list[dict[str, Any]]]:
    """The events to export from ``home``'s store, per bucket type."""
    from agent.identity import load_or_create_identity
    from engine.paths import store_path
    from engine.store import Store

    path = store_path(home)
    if not path.exists():
        raise TaskclfError(f"{path}: no store yet (run the agent or import a history first)")
    user = load_or_create_identity(home).user_id
    lo = datetime.fromtimestamp(start, tz=UTC) if start is not None else None
    hi = datetime.fromtimestamp(end, tz=UTC) if end is not None else None
    store = Store.open(path, readonly=True)
    try:
        preds = store.predictions(user_id=user, start=lo, end=hi)
        spans = [s for s in store.label_spans(user_id=user, start=lo, end=hi)
                 if s.is_human and (lo is None or s.start_ts >= lo)]
    finally:
        store.close()
    return {PREDICTION_TYPE: prediction_events(preds), LABEL_TYPE: label_events(spans)}


def _request(method: str, url: str, body: Any = None) -> Any:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    data = None if body is None else json.dumps(body).encode("utf-8")
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with opener.open(req, timeout=_TIMEOUT_S) as resp:  # noqa: S310 - loopback checked
            raw = resp.read(64 * 1024 * 1024)
    except urllib.error.HTTPError as exc:
        raise TaskclfError(f"ActivityWatch refused {method} {url}: HTTP {exc.code}") from None
    except (OSError, urllib.error.URLError) as exc:
        raise TaskclfError(f"no ActivityWatch server at {url} ({exc})") from None
    try:
        return json.loads(raw) if raw.strip() else None
    except ValueError:
        return None


def write_server(url: str, host: str, events: dict[str, list[dict[str, Any]]],
                 start: float | None, end: float | None) -> ExportReport:
    """Create our buckets when missing, drop our events of the range, insert the new ones."""
    from engine.config import check_loopback_url

    try:
        base = check_loopback_url(url)
    except ValueError as exc:
        raise TaskclfError(f"--server: {exc}") from None
    report = ExportReport(base)
    existing = _request("GET", f"{base}/api/0/buckets/")
    existing = existing if isinstance(existing, dict) else {}
    for btype, bid in bucket_ids(host).items():
        api = f"{base}/api/0/buckets/{quote(bid, safe='')}"
        if bid not in existing:
            _request("POST", api, {"client": CLIENT, "type": btype, "hostname": host})
        else:
            query = "limit=-1"
            if start is not None:
                query += "&start=" + quote(datetime.fromtimestamp(start, tz=UTC).isoformat())
            if end is not None:
                query += "&end=" + quote(datetime.fromtimestamp(end, tz=UTC).isoformat())
            old = _request("GET", f"{api}/events?{query}")
            for ev in old if isinstance(old, list) else []:
                if isinstance(ev, dict) and isinstance(ev.get("id"), int) and _starts_in(ev, start):
                    _request("DELETE", f"{api}/events/{ev['id']}")
                    report.replaced += 1
        if events[btype]:
            _request("POST", f"{api}/events", events[btype])
        report.counts[btype] = len(events[btype])
    return report


def _starts_in(ev: dict[str, Any], start: float | None) -> bool:
    """Replace only events that start in the range (the server also lists those that began
    earlier and reach into it; they stay as they are)."""
    if start is None:
        return True
    try:
        return datetime.fromisoformat(str(ev.get("timestamp"))).timestamp() >= start - 1e-3
    except ValueError:
        return False


def write_file(path: Path, host: str, events: dict[str, list[dict[str, Any]]]) -> ExportReport:
    """An ActivityWatch import file (``POST /api/0/import`` or its web UI's import)."""
    from engine.jsonio import atomic_write_bytes

    now = datetime.now(UTC).isoformat()
    doc = {"buckets": {bid: {"id": bid, "type": btype, "client": CLIENT, "hostname": host,
                             "created": now, "data": {}, "events": events[btype]}
                       for btype, bid in bucket_ids(host).items()}}
    if path.is_dir():
        raise TaskclfError(f"--output: {path} is a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, json.dumps(doc, indent=1).encode("utf-8"), mode=0o600)
    except OSError as exc:
        raise TaskclfError(f"--output: cannot write {path} ({exc.strerror or exc})") from None
    return ExportReport(str(path), {t: len(v) for t, v in events.items()})


def export_activitywatch(home: Path, *, server: str | None = None, output: Path | None = None,
                         start: float | None = None, end: float | None = None,
                         host: str | None = None) -> ExportReport:
    """Export ``home``'s shown predictions and labels to a server (default: the configured
    ``activitywatch_url``, else ActivityWatch's default port) or to ``output``."""
    host = host or socket.gethostname()
    if output is None and server is None:
        from agent.engines import load_config
        from agent.sampler._activitywatch import DEFAULT_URL

        server = getattr(load_config(home)[0], "activitywatch_url", None) or DEFAULT_URL
    events = collect(home, start, end)
    if output is not None:
        return write_file(output, host, events)
    assert server is not None
    return write_server(server, host, events, start, end)
