"""The privacy controls' effects on the home: forget a time window or an app, delete everything.

Shared by the tray's Privacy menu (run on the agent's writer thread, with its store) and the
``taskclf privacy`` commands (with a store of their own while no agent runs). Forgetting
leaves no trace: the rows go, the day pages that showed them go, labels still waiting in the
durable queue go, and the store is scrubbed (WAL folded in, VACUUM, WAL emptied).
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from engine.activity import BUCKET_SECONDS
from engine.paths import (
    artifacts_dir,
    days_dir,
    identity_path,
    logs_dir,
    models_dir,
    pending_labels_dir,
    store_path,
    title_key_path,
)

log = logging.getLogger("taskclf.agent.forget")


@dataclass(frozen=True, slots=True)
class Forgotten:
    """What one privacy action removed (for the menu's acknowledgement and the CLI)."""

    rows: dict[str, int] = field(default_factory=dict)
    files: int = 0
    scrubbed: bool = True

    @property
    def buckets(self) -> int:
        return int(self.rows.get("records", 0))

    def summary(self) -> str:
        minutes = self.buckets
        spans = self.rows.get("label_spans", 0)
        text = f"{minutes} min of activity"
        if spans:
            text += f", {spans} label{'s' if spans != 1 else ''}"
        return text


def forget_since(home: Path, store: Any, start: datetime) -> Forgotten:
    """Forget everything recorded from ``start`` on (the tray's "Forget the last hour"),
    including the whole bucket ``start`` falls in (part of it is inside the window)."""
    start = datetime.fromtimestamp(start.timestamp() // BUCKET_SECONDS * BUCKET_SECONDS, UTC)
    rows = store.forget_between(start, None)
    files = _drop_queued_labels(home, start) + _drop_day_pages(home, start.date() - timedelta(days=1))
    scrubbed = bool(store.scrub())
    return Forgotten(rows, files, scrubbed)


def forget_app(home: Path, store: Any, app_id: str) -> Forgotten:
    """Forget every bucket in which ``app_id`` was in front (its labels are the user's and
    name no app, so they stay)."""
    buckets = store.buckets_with_app(app_id)
    rows = store.forget_buckets(buckets) if buckets else {"records": 0}
    scrubbed = bool(store.scrub())
    return Forgotten(rows, 0, scrubbed)


def delete_everything(home: Path) -> int:
    """Remove the store, models, reports and day pages, logs, keys and queued labels.

    Kept: ``config.toml`` and the taxonomy (the user's settings, including what never to
    track) and the instance lock. Returns how many files and folders went. The store must be
    closed by the caller first.
    """
    gone = 0
    db = store_path(home)
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"),
                 db.with_name(db.name + "-journal"), identity_path(home), title_key_path(home)):
        gone += _unlink(path)
    for folder in (models_dir(home), artifacts_dir(home), logs_dir(home), pending_labels_dir(home)):
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)
            gone += 1
        else:
            gone += _unlink(folder)
    return gone


def _unlink(path: Path) -> int:
    try:
        path.unlink()
        return 1
    except FileNotFoundError:
        return 0
    except OSError as exc:
        log.warning("could not remove %s: %s", path.name, exc.strerror)
        return 0


def _drop_queued_labels(home: Path, start: datetime) -> int:
    """Labels still waiting for the store whose span ends after ``start``."""
    folder = pending_labels_dir(home)
    dropped = 0
    try:
        names = [p for p in folder.iterdir() if p.suffix == ".json" and p.is_file()]
    except OSError:
        return 0
    for path in names:
        try:
            item = json.loads(path.read_text(encoding="utf-8"))
            end = datetime.fromisoformat(str(item["span"]["end_ts"]).replace("Z", "+00:00"))
            inside = end > start
        except (OSError, ValueError, KeyError, TypeError):
            inside = True  # unreadable: it may hold anything, so it goes
        if inside:
            dropped += _unlink(path)
    return dropped


def _drop_day_pages(home: Path, since: date) -> int:
    """Day pages (``YYYY-MM-DD.*`` and week pages) that may show the forgotten time."""
    folder = days_dir(home)
    dropped = 0
    try:
        pages = [p for p in folder.iterdir() if p.is_file()]
    except OSError:
        return 0
    for path in pages:
        stem = path.stem.removeprefix("week-")
        try:
            day = date.fromisoformat(stem)
        except ValueError:
            continue
        if day + timedelta(days=7) >= since:
            dropped += _unlink(path)
    return dropped
