"""The store's single writer thread and the durable queue for labels (spec 6.1).

Every write of the agent runs as a job, in order, on one thread that owns the one write
connection; readers elsewhere never see half a bucket. A label from the menu is first put in
the durable queue (one small file per label, written atomically), then handed to the writer;
the menu waits up to ~300 ms for the commit and otherwise says "saving…". Queued labels are
retried until they commit (also after a restart), so nothing the user said is lost.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Generic, TypeVar

from engine.jsonio import atomic_write_bytes, dumps

log = logging.getLogger("taskclf.agent.writer")

T = TypeVar("T")
S = TypeVar("S")

PENDING_DIR = "pending_labels"
#: Labels kept in memory while the disk is full (far more than a day of clicks).
MAX_MEMORY_LABELS = 1000


class WriterStopped(RuntimeError):
    pass


class Writer(Generic[S]):
    """Runs jobs ``fn(store)`` in submission order on one thread.

    ``open_store`` is called on the writer thread (SQLite connections belong to the thread that
    made them); when it fails, ``error`` says why and jobs receive ``None`` as the store.
    """

    def __init__(self, open_store: Callable[[], S], *, name: str = "taskclf-writer",
                 retry_seconds: float = 5.0) -> None:
        self._open_store = open_store
        self._q: queue.Queue[tuple[Callable[[S | None], Any], Future[Any]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._ready = threading.Event()
        self.store: S | None = None
        self.error: str | None = None
        self.retry_seconds = retry_seconds
        self._last_open_try = 0.0
        self._idle_hooks: list[Callable[[S | None], None]] = []

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10.0)

    def on_idle(self, hook: Callable[[S | None], None]) -> None:
        """``hook(store)`` runs on the writer thread when the queue is empty (retries)."""
        self._idle_hooks.append(hook)

    def _try_open(self) -> None:
        self._last_open_try = time.monotonic()
        try:
            self.store = self._open_store()
            self.error = None
        except Exception as exc:
            self.store = None
            self.error = str(exc) or type(exc).__name__
            log.warning("store unavailable: %s", self.error)

    def _run(self) -> None:
        self._try_open()
        self._ready.set()
        while True:
            try:
                item = self._q.get(timeout=self.retry_seconds)
            except queue.Empty:
                if self.store is None and time.monotonic() - self._last_open_try >= self.retry_seconds:
                    self._try_open()
                for hook in self._idle_hooks:
                    try:
                        hook(self.store)
                    except Exception:
                        log.exception("writer idle hook failed")
                continue
            if item is None:
                break
            fn, fut = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn(self.store))
            except BaseException as exc:  # the job's caller decides what a failure means
                fut.set_exception(exc)
        close = getattr(self.store, "close", None)
        if callable(close):
            try:
                close()
            except Exception:
                pass
        self.store = None

    def submit(self, fn: Callable[[S | None], T]) -> Future[T]:
        fut: Future[T] = Future()
        if not self._thread.is_alive() and self._ready.is_set():
            fut.set_exception(WriterStopped("the writer has stopped"))
            return fut
        self._q.put((fn, fut))
        return fut

    def stop(self, timeout: float = 5.0) -> None:
        """Run the jobs already queued, then close the store."""
        if self._thread.is_alive():
            self._q.put(None)
            self._thread.join(timeout)

    @property
    def on_writer_thread(self) -> bool:
        return threading.current_thread() is self._thread


class LabelQueue:
    """Labels not yet committed, one JSON file each under ``<home>/pending_labels``.

    A file is written (fsynced, renamed) before the commit is attempted and deleted after it
    succeeded, so a crash between the two can replay a label but never lose one. When the disk
    is full the label waits in memory instead (bounded), until the store takes it. Temporary
    files a kill left behind (``.*.tmp``, never renamed, so never a queued label) are removed
    at start.
    """

    def __init__(self, home: Path, *, memory_limit: int = MAX_MEMORY_LABELS) -> None:
        self.dir = home / PENDING_DIR
        self._memory: dict[Path, dict[str, Any]] = {}
        self._memory_limit = memory_limit
        self._lock = threading.Lock()

    def put(self, item: dict[str, Any]) -> Path | None:
        """Persist ``item``; None when it cannot be kept (read-only folder, or too many labels
        already waiting in memory)."""
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.json"
        path = self.dir / name
        try:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            atomic_write_bytes(path, dumps(item).encode("utf-8"), mode=0o600)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                log.warning("cannot queue a label durably: %s", exc.strerror or type(exc).__name__)
                return None
            with self._lock:
                if len(self._memory) >= self._memory_limit:
                    log.warning("disk full and %d labels waiting: this one is not kept",
                                len(self._memory))
                    return None
                if not self._memory:
                    log.warning("disk full: labels wait in memory until they are saved")
                self._memory[path] = item
        return path

    def pending(self) -> list[tuple[Path, dict[str, Any]]]:
        out: list[tuple[Path, dict[str, Any]]] = []
        with self._lock:
            out.extend(self._memory.items())
        try:
            names = sorted(p for p in self.dir.iterdir() if p.suffix == ".json")
        except OSError:
            names = []
        for p in names:
            try:
                obj = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                log.warning("skipping an unreadable queued label %s", p.name)
                continue
            if isinstance(obj, dict):
                out.append((p, obj))
        return sorted(out, key=lambda pair: pair[0].name)

    def done(self, path: Path | None) -> None:
        if path is None:
            return
        with self._lock:
            if self._memory.pop(path, None) is not None:
                return
        try:
            os.unlink(path)
        except OSError:
            pass

    def clean_partial_writes(self) -> int:
        """Remove the temporary files of writes a kill interrupted; returns how many."""
        removed = 0
        try:
            leftovers = [p for p in self.dir.iterdir()
                         if p.name.startswith(".") and p.suffix == ".tmp"]
        except OSError:
            return 0
        for p in leftovers:
            try:
                if p.is_file() and not p.is_symlink():
                    p.unlink()
                    removed += 1
            except OSError:
                pass
        if removed:
            log.info("removed %d unfinished label file(s) left by an interrupted run", removed)
        return removed

    def __len__(self) -> int:
        with self._lock:
            n = len(self._memory)
        try:
            return n + sum(1 for p in self.dir.iterdir() if p.suffix == ".json")
        except OSError:
            return n
