"""The agent loop of spec 6.2, without any GUI: the tray and ``agent --headless`` both drive it.

Threads (spec 1.4): a sampler thread ticks (1 Hz) and feeds the aggregator; each closed bucket
becomes a job on the single writer thread, which persists the record, builds the feature row,
runs the engine once, persists the prediction and publishes a new immutable ``AgentSnapshot``;
the policy watcher builds new engines off the hot path and hands them to the writer, which
swaps them in between two buckets; a notifier thread calls the subscribers. User actions from
the menu become label spans committed by the writer (waiting up to ~300 ms, else "saving…").

``import agent.runtime`` stays light: no GUI toolkit, no LightGBM Python package.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from agent.aggregator import Aggregator, Foreground, Observation, system_local_offset
from agent.sampler import Backend, GuardedBackend, Sample, open_backend
from agent.snapshot import AgentSnapshot, LearningProgress
from agent.writer import LabelQueue, Writer
from engine.activity import ActivityRecord
from engine.errors import TaskclfError
from engine.labels import CORE_LABELS, HUMAN_PROVENANCES
from engine.record import Block, PredictionRecord

log = logging.getLogger("taskclf.agent.runtime")

PAUSED_FOREVER = "forever"
#: Spans made from what the model showed carry its confidence (spec 3.1).
_FROM_PREDICTION = frozenset({"confirmation", "correction"})
LABEL_WAIT_SECONDS = 0.3
#: How far before today a restart looks for the start of a session still running.
RESUME_LOOKBACK_SECONDS = 24 * 3600
MAX_CORRECTION_SECONDS = 3600
STATE_PAUSED_UNTIL = "agent.paused_until"
PROMPT_EXPIRY_SECONDS = 3600
STORE_BUSY_TIMEOUT_MS = 2000  # a bucket write may wait this long for a reader's lock


class Clock(Protocol):
    """Where the runtime reads time (injectable for tests)."""

    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    def local_offset(self, ts: float) -> tuple[int, str | None]: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def local_offset(self, ts: float) -> tuple[int, str | None]:
        return system_local_offset(ts)


class ScaledClock(SystemClock):
    """Time running ``scale`` times faster, for end-to-end tests of minute-long rules (session
    breaks after 300 s of idleness) in seconds. Wall time starts in the past so it never runs
    ahead of the real clock within ``budget_seconds`` of real time."""

    def __init__(self, scale: float, budget_seconds: float) -> None:
        if scale < 1:
            raise ValueError("scale must be >= 1")
        self.scale = float(scale)
        self._m0 = time.monotonic()
        self._t0 = time.time()
        self._origin = self._t0 - (self.scale - 1.0) * budget_seconds

    def monotonic(self) -> float:
        return self._m0 + (time.monotonic() - self._m0) * self.scale

    def time(self) -> float:
        return self._origin + (time.time() - self._t0) * self.scale


@dataclass(frozen=True, slots=True)
class EngineOverrides:
    """``infer online --model-dir M --calibrator-store DIR``: replaces the policy for a run."""

    model_dir: Path | None = None
    calibrator_store: Path | None = None


@dataclass(frozen=True, slots=True)
class ActionResult:
    ok: bool
    message: str
    saved: bool = True  # False: queued durably, the menu says "saving…"


def iso(ts: float | datetime) -> str:
    dt = ts if isinstance(ts, datetime) else datetime.fromtimestamp(ts, tz=UTC)
    return dt.astimezone(UTC).replace(microsecond=0).isoformat()


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


class AgentRuntime:
    def __init__(
        self,
        home: Path,
        *,
        backend: str | Backend | None = None,
        bucket_seconds: int = 60,
        sample_seconds: float | None = None,
        clock: Clock | None = None,
        overrides: EngineOverrides | None = None,
        watch_interval: float = 0.5,
        sampler_timeout: float = 0.5,
        retry_seconds: float = 5.0,
    ) -> None:
        self.home = Path(home)
        self.bucket_seconds = int(bucket_seconds)
        self.clock: Clock = clock or SystemClock()
        self.overrides = overrides
        self._backend_arg = backend
        self._sample_seconds_arg = sample_seconds
        self._watch_interval = watch_interval
        self._sampler_timeout = sampler_timeout
        self._retry_seconds = retry_seconds

        self._snap_lock = threading.Lock()
        self._snap = AgentSnapshot(user_id="")
        self._subscribers: list[Callable[[AgentSnapshot], None]] = []
        self._notify_cv = threading.Condition()
        self._notify_pending: AgentSnapshot | None = None

        self._stop = threading.Event()
        self._notify_stop = threading.Event()  # set after the writer drained: last publish lands
        self._started = False
        self._threads: list[threading.Thread] = []
        self._pause_lock = threading.Lock()
        self._paused_until: float | None = None  # epoch; math.inf = until resumed
        self._pause_changed = threading.Event()

        self._override: list[Any] | None = None  # [block_id, label, disagreements]
        self._last_label_key: tuple[Any, ...] | None = None
        self._action_lock = threading.Lock()
        self._recent_rejects = 0
        self._last_prompt_at = -math.inf
        self._rng = random.Random()

        # set up in start()
        self.user_id = ""
        self.device_id = ""
        self._title_key = b""
        self._config: Any = None
        self._config_warnings: tuple[str, ...] = ()
        self._guard: GuardedBackend | None = None
        self._backend: Backend | None = None
        self._backend_note: str | None = None
        self._aggregator: Aggregator | None = None
        self._writer: Writer[Any] | None = None
        self._queue = LabelQueue(self.home)
        self._host: Any = None  # agent.engines.EngineHost, on the writer thread
        self._watcher: Any = None
        self._app_cache: dict[tuple[Any, ...], Any] = {}
        self.sample_seconds = 1.0

    # ------------------------------------------------------------------ public API

    def start(self) -> None:
        """Open everything and start the threads; returns quickly (the model loads later)."""
        if self._started:
            return
        self._started = True
        from agent import engines
        from agent.identity import Identity, load_or_create_identity, load_or_create_title_key
        from engine.paths import ensure_home

        store_error: str | None = None
        try:
            ensure_home(self.home)
        except OSError as exc:
            store_error = f"cannot create the data folder ({exc.strerror})"
        try:
            ident = load_or_create_identity(self.home)
            self._title_key = load_or_create_title_key(self.home)
        except OSError as exc:
            # read-only or full disk on first start: run in memory and say so
            import os
            import uuid

            ident = Identity(str(uuid.uuid4()), str(uuid.uuid4()))
            self._title_key = os.urandom(32)
            store_error = f"data folder not writable ({exc.strerror}): nothing is saved"
        self.user_id, self.device_id = ident.user_id, ident.device_id

        self._config, warnings = engines.load_config(self.home)
        from engine.desktop_tables import load_user_tables

        self._config_warnings = tuple(warnings) + tuple(load_user_tables(self.home))
        cfg_sample = float(getattr(self._config, "sample_seconds", 1.0) or 1.0)
        self.sample_seconds = float(self._sample_seconds_arg or cfg_sample)

        self._backend, self._backend_note = self._open_backend()
        self._guard = GuardedBackend(self._backend, timeout=self._sampler_timeout)
        self._aggregator = Aggregator(
            user_id=self.user_id,
            device_id=self.device_id,
            bucket_seconds=self.bucket_seconds,
            sample_seconds=self.sample_seconds,
            sources=(self._backend.NAME,),
            local_offset=self.clock.local_offset,
        )
        missing = list(self._backend.missing_signals())
        try:
            permissions = dict(self._backend.permissions())
            notes = tuple(self._backend.notes())
        except Exception:
            permissions, notes = {}, ()
        self._set(
            user_id=self.user_id,
            sampler_backend=self._backend.NAME,
            sampler_permissions=permissions,
            sampler_notes=notes,
            missing_signals=tuple(missing),
            config_warnings=self._config_warnings
            + ((self._backend_note,) if self._backend_note else ()),
            store_error=store_error,
        )

        self._writer = Writer(self._open_store, retry_seconds=self._retry_seconds)
        self._writer.start()
        self._writer.on_idle(self._retry_pending)
        restore = self._writer.submit(self._restore)
        try:
            restore.result(timeout=30.0)
        except Exception as exc:
            log.warning("could not restore state from the store: %s", type(exc).__name__)

        self._spawn(self._notify_loop, "taskclf-notify")
        self._spawn(self._sample_loop, "taskclf-sampler")
        from agent.reload import PolicyWatcher

        self._watcher = PolicyWatcher(
            self.home,
            submit=self._submit_engine,
            interval=self._watch_interval,
            overrides=self.overrides,
            taxonomy_loader=self._load_taxonomy,
            taxonomy_file=self._taxonomy_file,
        )
        self._watcher.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop sampling, finalise the open bucket (partial) and close the store."""
        if not self._started or self._stop.is_set():
            return
        self._stop.set()
        self._pause_changed.set()
        if self._watcher is not None:
            self._watcher.stop()
        for t in self._threads:
            if t.name == "taskclf-sampler":
                t.join(timeout)
        if self._aggregator is not None:
            for rec in self._aggregator.flush():
                self._enqueue_bucket(rec)
        if self._writer is not None:
            self._writer.stop(timeout)
        if self._guard is not None:
            self._guard.stop()
        with self._notify_cv:
            self._notify_stop.set()
            self._notify_cv.notify_all()
        for t in self._threads:
            if t.name == "taskclf-notify":
                t.join(timeout)

    def snapshot(self) -> AgentSnapshot:
        with self._snap_lock:
            return self._snap

    def subscribe(self, callback: Callable[[AgentSnapshot], None]) -> None:
        """``callback(snapshot)`` runs on the notifier thread after every publish."""
        self._subscribers.append(callback)

    def confirm(self, block_id: int) -> ActionResult:
        block = self._find_block(block_id)
        if block is None:
            return ActionResult(False, "That block is no longer shown; nothing was changed.", True)
        override = self._override
        shown = override[1] if override is not None and override[0] == block_id else block.label
        if shown not in CORE_LABELS:
            return ActionResult(False, "Nothing to confirm: the current block is Mixed/Unknown.", True)
        start = parse_iso(block.start)
        end = self._open_bucket_end()
        last = self.snapshot().last
        return self._label(
            "confirmation", start, end, shown, kind="confirmation",
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
        last = self.snapshot().last
        res = self._label(
            "correction", start, end, label, kind="correction", shown=block.label,
            confidence=last.confidence if last else None, block_start=parse_iso(block.start),
            key=("correction", block_id, label), message=f"Got it: {label}",
        )
        if res.ok:
            self._override = [block_id, label, 0]
            self._set(user_label_override=label)
        return res

    def label_last(self, minutes: int, label: str) -> ActionResult:
        if label not in CORE_LABELS:
            return ActionResult(False, f"Unknown label {label!r}.", True)
        if not isinstance(minutes, int) or not 1 <= minutes <= 24 * 60:
            return ActionResult(False, "Choose between 1 minute and 24 hours.", True)
        end = self._open_bucket_end()
        start = end - timedelta(minutes=minutes)
        return self._label(
            "manual", start, end, label, kind="manual", shown=None, confidence=None,
            block_start=None, key=("manual", minutes, label, end),
            message=f"Labelled the last {minutes} min as {label}",
        )

    def answer_prompt(self, bucket_start: str, label: str) -> ActionResult:
        if label not in CORE_LABELS:
            return ActionResult(False, f"Unknown label {label!r}.", True)
        try:
            start = parse_iso(bucket_start)
        except ValueError:
            return ActionResult(False, "That question has expired.", True)
        end = start + timedelta(seconds=self.bucket_seconds)
        last = self.snapshot().last
        shown = last.mapped_label if last and last.bucket_start == iso(start) else None
        res = self._label(
            "prompt", start, end, label, kind="prompt", shown=shown, confidence=None,
            block_start=None, key=("prompt", bucket_start, label), message="Thanks!",
            bucket_start=start,
        )
        if res.ok and self.snapshot().pending_prompt == bucket_start:
            self._set(pending_prompt=None)
        return res

    def pause(self, seconds: float | None) -> None:
        now = self.clock.time()
        until = math.inf if seconds is None else now + max(0.0, float(seconds))
        with self._pause_lock:
            self._paused_until = until
        self._pause_changed.set()
        text = PAUSED_FOREVER if until == math.inf else iso(until)
        self._set(paused_until=text)
        self._persist_state(STATE_PAUSED_UNTIL, text)

    def resume(self) -> None:
        with self._pause_lock:
            self._paused_until = None
        self._pause_changed.set()
        self._set(paused_until=None)
        self._persist_state(STATE_PAUSED_UNTIL, None)

    def reload_now(self) -> None:
        if self._watcher is not None:
            self._watcher.trigger()

    # ------------------------------------------------------------------ snapshot plumbing

    def _set(self, **changes: Any) -> AgentSnapshot:
        with self._snap_lock:
            snap = dataclasses.replace(self._snap, version=self._snap.version + 1, **changes)
            self._snap = snap
        with self._notify_cv:
            self._notify_pending = snap
            self._notify_cv.notify_all()
        return snap

    def _notify_loop(self) -> None:
        while True:
            with self._notify_cv:
                while self._notify_pending is None and not self._notify_stop.is_set():
                    self._notify_cv.wait()
                snap, self._notify_pending = self._notify_pending, None
            if snap is None:  # stopped and everything delivered
                return
            for cb in list(self._subscribers):
                try:
                    cb(snap)
                except Exception:
                    log.exception("a snapshot subscriber failed")

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    # ------------------------------------------------------------------ sampling

    def _open_backend(self) -> tuple[Backend, str | None]:
        arg = self._backend_arg
        if isinstance(arg, Backend):
            try:
                arg.start()
                return arg, None
            except Exception as exc:
                from agent.sampler._none import NoneBackend

                return NoneBackend(), f"{arg.NAME} backend failed to start: {type(exc).__name__}"
        try:
            return open_backend(arg, activitywatch_url=getattr(self._config, "activitywatch_url",
                                                                None))
        except Exception as exc:
            raise TaskclfError(str(exc)) from None

    def _paused(self, now: float) -> bool:
        with self._pause_lock:
            until = self._paused_until
        if until is None:
            return False
        if now >= until:
            self.resume()
            return False
        return True

    def _sample_loop(self) -> None:
        assert self._aggregator is not None and self._guard is not None
        agg, guard = self._aggregator, self._guard
        period = self.sample_seconds
        scale = float(getattr(self.clock, "scale", 1.0))
        next_tick = self.clock.monotonic()
        was_paused = False
        failing: str | None = None
        while not self._stop.is_set():
            try:
                wall = self.clock.time()
                if self._paused(wall):
                    if not was_paused:
                        was_paused = True
                        for rec in agg.flush():  # a pause stops storing: close the bucket
                            self._enqueue_bucket(rec)
                    self._pause_changed.wait(min(1.0, period / scale))
                    self._pause_changed.clear()
                    next_tick = self.clock.monotonic()
                    continue
                if was_paused:
                    was_paused = False
                    agg.reset_reference()
                sample = guard.sample()
                mono, wall = self.clock.monotonic(), self.clock.time()
                obs = self._observe(sample, scale)
                for rec in agg.tick(mono, wall, obs):
                    self._enqueue_bucket(rec)
                if guard.failing != failing:
                    failing = guard.failing
                    self._on_sampler_state(failing)
            except Exception:
                log.exception("sampler tick failed")
            next_tick += period
            now = self.clock.monotonic()
            if next_tick < now - period:  # we fell behind (sleep, stall): do not catch up
                next_tick = now + period
            self._stop.wait(max(0.0, next_tick - now) / scale)

    def _on_sampler_state(self, failing: str | None) -> None:
        assert self._backend is not None
        missing = list(self._backend.missing_signals())
        notes = list(self._config_warnings)
        if self._backend_note:
            notes.append(self._backend_note)
        if failing:
            missing = ["foreground", "title", "idle", "input_counts", "lock_state"]
            notes.append(f"{self._backend.NAME} {failing}: signals marked missing")
        self._set(missing_signals=tuple(dict.fromkeys(missing)), config_warnings=tuple(notes))

    def _observe(self, s: Sample, scale: float = 1.0) -> Observation:
        """Reduce a sample at once: the raw title goes no further than this function."""
        from engine.apps import LOCKSCREEN, identify_app
        from engine.titles import reduce_title

        fg: Foreground | None = None
        if s.locked:
            app = LOCKSCREEN
            fg = Foreground(app.app_id, app.category, app.is_browser, app.is_editor,
                            app.is_terminal, None, "non_browser")
        elif s.has_foreground:
            key = (s.app_name, s.exe, s.wm_class, s.bundle_id, s.hosted_app)
            cached = self._app_cache.get(key)
            if cached is not None:
                app = cached
            else:
                app = identify_app(s.app_name, exe=s.exe, wm_class=s.wm_class,
                                   bundle_id=s.bundle_id, hosted_app=s.hosted_app)
                if len(self._app_cache) > 512:
                    self._app_cache.clear()
                self._app_cache[key] = app
            th, dom = reduce_title(self._title_key, s.title, app)
            fg = Foreground(app.app_id, app.category, app.is_browser, app.is_editor,
                            app.is_terminal, th, dom)
        return Observation(foreground=fg, idle_seconds=s.idle_seconds * scale,
                           locked=bool(s.locked), counts=s.counts)

    # ------------------------------------------------------------------ writer jobs

    def _open_store(self) -> Any:
        from engine.paths import store_path
        from engine.store import Store

        return Store.open(store_path(self.home), busy_timeout_ms=STORE_BUSY_TIMEOUT_MS)

    def _enqueue_bucket(self, rec: ActivityRecord) -> None:
        if self._writer is None:
            return
        fut = self._writer.submit(lambda store: self._process_bucket(store, rec))
        fut.add_done_callback(_log_failure)

    def _store_failed(self, what: str, exc: BaseException) -> None:
        msg = _store_message(exc)
        log.warning("could not %s: %s", what, msg)
        if self.snapshot().store_error != msg:
            self._set(store_error=msg)

    def _restore(self, store: Any) -> None:
        """On the writer thread before sampling: pause state, builder/smoothing state, learning."""
        from agent import engines

        self._host = engines.EngineHost(self.user_id, taxonomy=self._load_taxonomy()[0])
        if store is None:
            if self._writer is not None and self._writer.error and not self.snapshot().store_error:
                self._set(store_error=_store_message_text(self._writer.error))
            return
        try:
            paused = store.get_state(STATE_PAUSED_UNTIL)
        except Exception as exc:
            self._store_failed("read the pause state", exc)
            paused = None
        if paused:
            until = math.inf if paused == PAUSED_FOREVER else _parse_ts(paused)
            if until is not None and until > self.clock.time():
                with self._pause_lock:
                    self._paused_until = until
                self._set(paused_until=paused)
        now = self.clock.time()
        recs = self._recent_records(store)
        self._host.rebuild(None, recs)
        current = math.floor(now / self.bucket_seconds) * self.bucket_seconds
        if recs and recs[-1].bucket_start_ts >= current and self._aggregator is not None:
            self._aggregator.skip_until(recs[-1].bucket_start_ts + self.bucket_seconds)
        self._publish_engine_state(None)
        self._refresh_learning(store)
        self._retry_pending(store)
        self._apply_retention(store)

    def _recent_records(self, store: Any) -> list[ActivityRecord]:
        """This device's records of today (local), at least of the last 15 minutes, and back to
        the start of the current session when it began before midnight (up to a day back), so a
        restart rebuilds the builder exactly as batch inference over the same records would."""
        from engine.sessions import resume_index

        now = self.clock.time()
        off, _ = self.clock.local_offset(now)
        day_start = math.floor((now + off * 60) / 86400) * 86400 - off * 60
        since = min(day_start, now - 15 * 60)
        lookback = since - RESUME_LOOKBACK_SECONDS
        lookback = math.floor(lookback / self.bucket_seconds) * self.bucket_seconds
        try:
            recs = [r for r in store.last_records(self.user_id, datetime.fromtimestamp(lookback, UTC))
                    if r.device_id == self.device_id]
        except Exception as exc:
            self._store_failed("read recent records", exc)
            return []
        first_today = next((i for i, r in enumerate(recs) if r.bucket_start_ts >= since), len(recs))
        return recs[min(first_today, resume_index(recs[:first_today + 1]))
                    if first_today < len(recs) else first_today:]

    def _apply_retention(self, store: Any) -> None:
        days = int(getattr(self._config, "activity_retention_days", 90) or 90)
        try:
            store.apply_retention(datetime.now(UTC), days)
        except Exception as exc:
            log.warning("retention skipped: %s", _store_message(exc))
        self._last_retention = self.clock.time()

    def _process_bucket(self, store: Any, rec: ActivityRecord) -> None:
        """Persist record -> features -> engine -> persist prediction -> publish."""
        if self._host is None:
            return
        if store is not None:
            try:
                if not store.put_record(rec):
                    log.info("bucket %s already stored; not predicted twice", iso(rec.bucket_start))
                    return
            except Exception as exc:
                self._store_failed("save a bucket", exc)
                store = None
        try:
            row, pred = self._host.step(rec)
        except Exception:
            log.exception("the engine failed on one bucket; the agent keeps running")
            return
        if store is not None:
            try:
                self._host.persist(store, self.device_id, rec, row, pred)
                if self.snapshot().store_error:
                    self._set(store_error=None)
            except Exception as exc:
                self._store_failed("save a prediction", exc)
        self._after_prediction(rec, pred)
        if store is not None and self.clock.time() - getattr(self, "_last_retention", 0) > 86400:
            self._apply_retention(store)

    def _after_prediction(self, rec: ActivityRecord, pred: PredictionRecord) -> None:
        override = self._override
        label = None
        if override is not None:
            if pred.smoothed_label != override[1]:
                override[2] += 1
            else:
                override[2] = 0
            if override[2] >= 2:
                self._override = None
            else:
                label = override[1]
        prompt = self._maybe_prompt(pred)
        changes: dict[str, Any] = {"user_label_override": label, "last_app_category": None}
        pending = self.snapshot().pending_prompt
        if pending is not None and prompt is None:
            ts = _parse_ts(pending)
            if ts is None or self.clock.time() - ts > PROMPT_EXPIRY_SECONDS:
                changes["pending_prompt"] = None  # a question about long ago is not asked
        if rec.segments:
            longest: dict[str, float] = {}
            for s in rec.segments:
                longest[s.app_category] = longest.get(s.app_category, 0.0) + s.seconds
            changes["last_app_category"] = max(longest, key=lambda k: longest[k])
        if prompt is not None:
            changes["pending_prompt"] = prompt
        self._publish_engine_state(pred, **changes)

    def _maybe_prompt(self, pred: PredictionRecord) -> str | None:
        cfg = self._config
        if self.snapshot().pending_prompt is not None:
            return None
        now = self.clock.monotonic()
        self._recent_rejects = self._recent_rejects + 1 if pred.rejected else 0
        if (getattr(cfg, "low_confidence_prompts", False) and self._recent_rejects >= 3
                and now - self._last_prompt_at > 3600):
            self._last_prompt_at = now
            return pred.bucket_start
        per_day = getattr(cfg, "spot_checks_per_day", 2)
        # about ``per_day`` questions over an 8-hour working day of buckets
        if (pred.model_id != "rules" and per_day and per_day > 0
                and self._rng.random() < float(per_day) * self.bucket_seconds / (8 * 3600)):
            return pred.bucket_start
        return None

    def _publish_engine_state(self, pred: PredictionRecord | None, **changes: Any) -> None:
        host = self._host
        if host is None:
            return
        status = host.status(pred)
        blocks = tuple(host.today_blocks())
        self._set(
            last=pred if pred is not None else self.snapshot().last,
            current_block=host.current_block(),
            today_blocks=blocks,
            model=status,
            taxonomy_colors=host.taxonomy_colors(),
            **changes,
        )

    def _submit_engine(self, build: Any, error: str | None) -> None:
        """From the watcher: swap in a new engine (between buckets, on the writer thread)."""
        if self._writer is None:
            return

        def job(store: Any) -> None:
            host = self._host
            if host is None:
                return
            if host.kind == "starting" and build is not None and error is None and store is not None:
                # The first engine of this run: rebuild today's state with it rather than carry
                # over the placeholder's, so a restart gives what batch inference would.
                host.rebuild(build, self._recent_records(store))
            else:
                host.swap(build, error)
            self._publish_engine_state(None)

        self._writer.submit(job)

    def _taxonomy_file(self) -> Path | None:
        from engine.paths import inside_home

        name = getattr(self._config, "taxonomy", None) or "taxonomy.toml"
        try:
            return inside_home(self.home, name, file=None, field="taxonomy")
        except TaskclfError:
            return None

    def _load_taxonomy(self) -> tuple[Any, str | None]:
        from agent import engines

        tax, warning = engines.load_user_taxonomy(self.home, self._config)
        if warning != self.snapshot().taxonomy_warning:
            self._set(taxonomy_warning=warning)
        return tax, warning

    # ------------------------------------------------------------------ labels

    def _open_bucket_end(self) -> datetime:
        now = self.clock.time()
        start = math.floor(now / self.bucket_seconds) * self.bucket_seconds
        return datetime.fromtimestamp(start + self.bucket_seconds, UTC)

    def _find_block(self, block_id: int) -> Block | None:
        snap = self.snapshot()
        for b in ((snap.current_block,) if snap.current_block else ()) + tuple(snap.today_blocks):
            if b.block_id == block_id:
                return b
        return None

    def _label(self, provenance: str, start: datetime, end: datetime, label: str, *, kind: str,
               shown: str | None, confidence: float | None, block_start: datetime | None,
               key: tuple[Any, ...], message: str,
               bucket_start: datetime | None = None) -> ActionResult:
        with self._action_lock:
            if key == self._last_label_key:
                return ActionResult(True, message, saved=not bool(self.snapshot().saving))
            now = datetime.now(UTC)
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
                _span_from_item(item).validate(where="label")
            except TaskclfError as exc:
                return ActionResult(False, str(exc), True)
            path = self._queue.put(item)
            writer = self._writer
            if writer is None:
                return ActionResult(False, "The agent is not running.", True)
            fut = writer.submit(lambda store: self._commit_label(store, item, path))
            try:
                fut.result(timeout=LABEL_WAIT_SECONDS)
            except FutureTimeout:
                self._last_label_key = key
                self._set(saving=True)
                return ActionResult(True, "Saving…", saved=False)
            except Exception as exc:
                if path is not None:
                    self._last_label_key = key
                    self._set(saving=True)
                    return ActionResult(True, "Saving… (the data file is busy)", saved=False)
                return ActionResult(False, f"Could not save: {_store_message(exc)}", True)
            self._last_label_key = key
            return ActionResult(True, message, saved=True)

    def _commit_label(self, store: Any, item: dict[str, Any], path: Path | None) -> None:
        if store is None:
            raise TaskclfError(self.snapshot().store_error or "the data file is not available")
        span = _span_from_item(item)
        fb = item["feedback"]
        store.add_label_with_feedback(
            span, kind=fb["kind"], shown_label=fb["shown_label"],
            answer_label=fb["answer_label"],
            bucket_start=parse_iso(fb["bucket_start"]) if fb["bucket_start"] else None,
            block_start=parse_iso(fb["block_start"]) if fb["block_start"] else None,
            confidence=fb["confidence"], at=parse_iso(fb["at"]),
        )
        self._queue.done(path)
        self._refresh_learning(store)

    def _retry_pending(self, store: Any) -> None:
        if store is None:
            return
        pending = self._queue.pending()
        for path, item in pending:
            try:
                self._commit_label(store, item, path)
            except TaskclfError as exc:
                log.warning("dropping an invalid queued label: %s", exc)
                self._queue.done(path)
            except Exception as exc:
                log.warning("queued label not saved yet: %s", _store_message(exc))
                break
        saving = len(self._queue) > 0
        if saving != self.snapshot().saving:
            self._set(saving=saving)

    def _refresh_learning(self, store: Any) -> None:
        try:
            spans = [s for s in store.label_spans(user_id=self.user_id)
                     if s.provenance in HUMAN_PROVENANCES]
        except Exception:
            return
        minutes = sum(s.duration_seconds for s in spans) / 60.0
        days = {s.start_ts.date() for s in spans}
        labels = {s.label for s in spans}
        progress = LearningProgress(labelled_buckets=int(minutes), labelled_days=len(days),
                                    distinct_labels=len(labels))
        if progress != self.snapshot().learning:
            self._set(learning=progress)

    def _persist_state(self, key: str, value: str | None) -> None:
        if self._writer is None:
            return

        def job(store: Any) -> None:
            if store is None:
                return
            try:
                store.set_state(key, value)
            except Exception as exc:
                self._store_failed("remember the pause", exc)

        self._writer.submit(job)


def _log_failure(fut: Any) -> None:
    """A bucket job never takes the agent down; its failure goes to the log."""
    exc = fut.exception()
    if exc is not None:
        log.error("a bucket could not be processed: %s", type(exc).__name__)


def _span_from_item(item: dict[str, Any]) -> Any:
    from engine.spans import LabelSpan

    s = item["span"]
    return LabelSpan(
        start_ts=parse_iso(s["start_ts"]), end_ts=parse_iso(s["end_ts"]), label=s["label"],
        user_id=s["user_id"], provenance=s["provenance"], confidence=s["confidence"],
        created_at=parse_iso(s["created_at"]),
    )


def _parse_ts(value: str) -> float | None:
    try:
        return parse_iso(value).timestamp()
    except ValueError:
        return None


def _store_message_text(text: str) -> str:
    low = text.lower()
    if any(w in low for w in ("readonly", "read-only", "read only", "permission",
                              "not permitted", "unable to open")):
        return "The data folder is read-only: predictions are not saved"
    if "disk" in low and "full" in low or "no space" in low:
        return "The disk is full: predictions are not saved"
    if "locked" in low or "busy" in low:
        return "The data file is busy (locked by another program)"
    return f"Data file problem: {text[:120]}"


def _store_message(exc: BaseException) -> str:
    return _store_message_text(str(exc) or type(exc).__name__)
