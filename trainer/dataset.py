"""Store(s) -> the trainer's working frame (spec 5.1); the per-user loader lives in
``engine.frame_loader`` (per-user calibration uses it in an agent-only install)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from engine.errors import TaskclfError
from engine.frame import Frame
from engine.frame_loader import LoadStats, load_frame, user_frame

__all__ = ["LoadStats", "day_range_text", "load_frame", "open_stores", "require_rows", "user_frame",
           "utc_bounds"]


def open_stores(home: Path, extra: Sequence[str] | None) -> list[Any]:
    """The stores to read: each ``--store PATH`` (read-only), else the home's own store."""
    from engine.paths import store_path
    from engine.store import Store

    paths = [Path(p).expanduser().resolve() for p in extra] if extra else [store_path(home)]
    out = []
    for p in paths:
        if not p.is_file():
            raise TaskclfError(f"{p}: no store here (run the agent, `taskclf synth` or pass --store)")
        out.append(Store.open(p, readonly=True))
    return out


def require_rows(frame: Frame, *, what: str = "the chosen dates") -> None:
    if len(frame) == 0:
        raise TaskclfError(f"no activity in {what}: the store is empty for that range")
    if int((frame.y >= 0).sum()) == 0:
        raise TaskclfError(
            f"no labelled buckets in {what}: add labels (taskclf labels add / import) first"
        )


def day_range_text(start: date | None, end: date | None) -> str:
    if start is None and end is None:
        return "the store"
    return f"{start or '...'} .. {end or '...'}"


def utc_bounds(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """A UTC interval surely containing the local days [start, end] (offsets are within 18 h)."""
    lo = datetime(start.year, start.month, start.day, tzinfo=UTC) - timedelta(hours=18) if start else None
    hi = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1, hours=18) if end else None
    return lo, hi
