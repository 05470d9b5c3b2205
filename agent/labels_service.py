"""Labels from the menu (spec 6.2): confirm, correct, label the last N minutes, answer a prompt.

Each becomes a label span plus a feedback event. The item goes to the durable queue first
(``pending_labels/``), then to the writer; the call waits up to ``LABEL_WAIT_SECONDS`` and
otherwise answers "Saving…". Queued items are retried when the writer is idle and at the next
start, so nothing the user said is lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.clock import Clock, iso, parse_iso
from agent.learning import learning_progress
from agent.snapshot import UserLabel
from agent.snapshot_hub import SnapshotHub
from agent.store_health import store_message
from agent.writer import LabelQueue, Writer
from engine.errors import TaskclfError
from engine.labels import CORE_LABELS
from engine.record import Block, PredictionRecord
from engine.spans import LabelSpan
from engine.store import Store

if TYPE_CHECKING:
    from engine.bundle import ModelBundle

log = logging.getLogger("taskclf.agent.runtime")

LABEL_WAIT_SECONDS = 0.3
MAX_CORRECTION_SECONDS = 3600
#: A correction is shown until the model's smoothed label disagreed this many buckets in a row.
OVERRIDE_DISAGREEMENTS = 2
#: The user's spans published for "Today" (a local day seen from any zone fits in 38 hours).
RECENT_LABELS_SECONDS = 38 * 3600
#: Spans made from what the model showed carry its confidence (spec 3.1).
_FROM_PREDICTION = frozenset({"confirmation", "correction"})


@dataclass(frozen=True, slots=True)
class ActionResult:
    ok: bool
    message: str
    saved: bool = True  # False: queued durably, the menu says "saving…"


class CorrectionOverride:
    """The user's label shown for a block after a correction, until the model disagrees."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._block_id: int | None = None
        self._label: str | None = None
        self._disagreements = 0

    def set(self, block_id: int, label: str) -> None:
        with self._lock:
            self._block_id, self._label, self._disagreements = block_id, label, 0

    def clear(self) -> None:
        """Forget the override (the block it was for was forgotten)."""
        with self._lock:
            self._block_id, self._label, self._disagreements = None, None, 0

    def for_block(self, block_id: int) -> str | None:
        with self._lock:
            return self._label if self._block_id == block_id else None

    def after(self, pred: PredictionRecord) -> str | None:
        """The label to show after ``pred`` (None: the model's)."""
        with self._lock:
            if self._label is None:
                return None
            self._disagreements = 0 if pred.smoothed_label == self._label else \
                self._disagreements + 1
            if self._disagreements >= OVERRIDE_DISAGREEMENTS:
                self._block_id, self._label = None, None
            return self._label


def span_from_item(item: dict[str, Any]) -> LabelSpan:
    s = item["span"]
    return LabelSpan(
        start_ts=parse_iso(s["start_ts"]), end_ts=parse_iso(s["end_ts"]), label=s["label"],
        user_id=s["user_id"], provenance=s["provenance"], confidence=s["confidence"],
        created_at=parse_iso(s["created_at"]),
    )


class LabelService:
    def __init__(self, *, home: Path, hub: SnapshotHub, clock: Clock, bucket_seconds: int,
                 writer: Callable[[], Writer[Store] | None],
                 deployed_bundle: Callable[[], ModelBundle | None] = lambda: None) -> None:
        self._hub = hub
        self._deployed_bundle = deployed_bundle
        self._clock = clock
        self._bucket_seconds = bucket_seconds
        self._writer = writer
        self.queue = LabelQueue(home)
        self.override = CorrectionOverride()
        self.user_id = ""
        self._lock = threading.Lock()
        self._last_key: tuple[object, ...] | None = None

    # -- the menu's actions ----------------------------------------------------------------

    def confirm(self, block_id: int) -> ActionResult:
        block = self._find_block(block_id)
        if block is None:
            return ActionResult(False, "That block is no longer shown; nothing was changed.", True)
        shown = self.override.for_block(block_id) or block.label
        if shown not in CORE_LABELS:
            return ActionResult(False, "Nothing to confirm: the current block is Mixed/Unknown.", True)
        start = parse_iso(block.start)
        last = self._hub.current().last
        return self._label(
            "confirmation", start, self._open_bucket_end(), shown, kind="confirmation",
            shown=shown, confidence=last.confidence if last else None,
            block_start=start, key=("confirmation", block_id, shown),
            message=f"Thanks: {shown} confirmed",
        )

    def correct(self, block_id: int, label: str) -> ActionResult:
        if label not in CORE_LABELS:
            return ActionResult(False, f"Unknown label {label!r}.", True)
        block = self._find_block(block_id)
        if block is None:
            return ActionResult(False, "That block is no longer shown; nothing was changed.", True)
        end = self._open_bucket_end()
        start = max(parse_iso(block.start), end - timedelta(seconds=MAX_CORRECTION_SECONDS))
        last = self._hub.current().last
        res = self._label(
            "correction", start, end, label, kind="correction", shown=block.label,
            confidence=last.confidence if last else None, block_start=parse_iso(block.start),
            key=("correction", block_id, label), message=f"Got it: {label}",
        )
        if res.ok:
            self.override.set(block_id, label)
            self._hub.set(user_label_override=label)
        return res

    def label_last(self, minutes: int, label: str) -> ActionResult:
        if label not in CORE_LABELS:
            return ActionResult(False, f"Unknown label {label!r}.", True)
        if not isinstance(minutes, int) or not 1 <= minutes <= 24 * 60:
            return ActionResult(False, "Choose between 1 minute and 24 hours.", True)
        end = self._open_bucket_end()
        res = self._label(
            "manual", end - timedelta(minutes=minutes), end, label, kind="manual", shown=None,
            confidence=None, block_start=None, key=("manual", minutes, label, end),
            message=f"Labelled the last {minutes} min as {label}",
        )
        if res.ok:  # the span reaches the open bucket: the header and icon show it, as after
            block = self._hub.current().current_block  # a correction (not an older one)
            self.override.set(block.block_id if block is not None else -1, label)
            self._hub.set(user_label_override=label)
        return res

    def answer_prompt(self, bucket_start: str, label: str) -> ActionResult:
        if label not in CORE_LABELS:
            return ActionResult(False, f"Unknown label {label!r}.", True)
        try:
            start = parse_iso(bucket_start)
        except ValueError:
            return ActionResult(False, "That question has expired.", True)
        end = start + timedelta(seconds=self._bucket_seconds)
        last = self._hub.current().last
        shown = last.mapped_label if last and last.bucket_start == iso(start) else None
        res = self._label(
            "prompt", start, end, label, kind="prompt", shown=shown, confidence=None,
            block_start=None, key=("prompt", bucket_start, label), message="Thanks!",
            bucket_start=start,
        )
        if res.ok and self._hub.current().pending_prompt == bucket_start:
            self._hub.set(pending_prompt=None)
        return res

    # -- on the writer thread --------------------------------------------------------------

    def commit(self, store: Store | None, item: dict[str, Any], path: Path | None) -> None:
        if store is None:
            raise TaskclfError(self._hub.current().store_error or "the data file is not available")
        fb = item["feedback"]
        store.add_label_with_feedback(
            span_from_item(item), kind=fb["kind"], shown_label=fb["shown_label"],
            answer_label=fb["answer_label"],
            bucket_start=parse_iso(fb["bucket_start"]) if fb["bucket_start"] else None,
            block_start=parse_iso(fb["block_start"]) if fb["block_start"] else None,
            confidence=fb["confidence"], at=parse_iso(fb["at"]),
        )
        self.queue.done(path)
        self.refresh_learning(store)
        self.refresh_user_labels(store)

    def retry_pending(self, store: Store | None) -> None:
        if store is None:
            return
        for path, item in self.queue.pending():
            try:
                self.commit(store, item, path)
            except TaskclfError as exc:
                log.warning("dropping an invalid queued label: %s", exc)
                self.queue.done(path)
            except Exception as exc:
                log.warning("queued label not saved yet: %s", store_message(exc))
                break
        saving = len(self.queue) > 0
        if saving != self._hub.current().saving:
            self._hub.set(saving=saving)

    def refresh_learning(self, store: Store) -> None:
        try:
            progress = learning_progress(store, self.user_id, self._deployed_bundle())
        except Exception:
            return
        if progress != self._hub.current().learning:
            self._hub.set(learning=progress)

    def refresh_user_labels(self, store: Store) -> None:
        """Publish the user's recent spans as stored (overlaps resolved), for "Today"."""
        since = datetime.fromtimestamp(self._clock.time(), UTC) - timedelta(seconds=RECENT_LABELS_SECONDS)
        try:
            spans = store.label_spans(user_id=self.user_id, start=since)
        except Exception:
            return
        labels = tuple(UserLabel(iso(s.start_ts), iso(s.end_ts), s.label) for s in spans)
        if labels != self._hub.current().user_labels:
            self._hub.set(user_labels=labels)

    # -- helpers ---------------------------------------------------------------------------

    def _open_bucket_end(self) -> datetime:
        now = self._clock.time()
        start = now // self._bucket_seconds * self._bucket_seconds
        return datetime.fromtimestamp(start + self._bucket_seconds, UTC)

    def _find_block(self, block_id: int) -> Block | None:
        snap = self._hub.current()
        for b in ((snap.current_block,) if snap.current_block else ()) + tuple(snap.today_blocks):
            if b.block_id == block_id:
                return b
        return None

    def _label(self, provenance: str, start: datetime, end: datetime, label: str, *, kind: str,
               shown: str | None, confidence: float | None, block_start: datetime | None,
               key: tuple[object, ...], message: str,
               bucket_start: datetime | None = None) -> ActionResult:
        with self._lock:
            if key == self._last_key:
                return ActionResult(True, message, saved=not self._hub.current().saving)
            now = datetime.fromtimestamp(self._clock.time(), UTC)
            item = {
                "span": {
                    "start_ts": start.isoformat(), "end_ts": end.isoformat(), "label": label,
                    "user_id": self.user_id, "provenance": provenance,
                    "confidence": confidence if provenance in _FROM_PREDICTION else None,
                    "created_at": now.isoformat(),
                },
                "feedback": {
                    "kind": kind, "shown_label": shown, "answer_label": label,
                    "bucket_start": bucket_start.isoformat() if bucket_start else None,
                    "block_start": block_start.isoformat() if block_start else None,
                    "confidence": confidence, "at": now.isoformat(),
                },
            }
            try:
                span_from_item(item).validate(where="label")
            except TaskclfError as exc:
                return ActionResult(False, str(exc), True)
            path = self.queue.put(item)
            writer = self._writer()
            if writer is None:
                return ActionResult(False, "The agent is not running.", True)
            fut = writer.submit(lambda store: self.commit(store, item, path))
            try:
                fut.result(timeout=LABEL_WAIT_SECONDS)
            except FutureTimeout:
                self._last_key = key
                self._hub.set(saving=True)
                return ActionResult(True, "Saving…", saved=False)
            except Exception as exc:
                if path is not None:
                    self._last_key = key
                    self._hub.set(saving=True)
                    why = "the disk is full" if "full" in store_message(exc) else "the data file is busy"
                    return ActionResult(True, f"Saving… ({why})", saved=False)
                return ActionResult(False, f"Could not save: {store_message(exc)}", True)
            self._last_key = key
            return ActionResult(True, message, saved=True)
