"""The agent loop of spec 6.2, without any GUI: the tray and ``agent --headless`` both drive it.

``AgentRuntime`` is a thin facade over small collaborators, each with one job:

- ``SamplerLoop`` (agent/sampler_loop.py): ticks, reduces each sample at once, feeds the
  aggregator; closed buckets become jobs on the writer;
- ``Writer`` (agent/writer.py): the store's single writer thread; every job runs there in order;
- ``BucketProcessor`` (agent/bucket_processor.py): record -> feature row -> engine ->
  prediction -> snapshot, the restart replay, engine swaps between buckets, retention;
- ``LabelService`` (agent/labels_service.py): the menu's label actions and the durable queue;
- ``PromptScheduler`` (agent/prompts.py), ``PauseControl`` (agent/pause.py),
  ``StoreHealth`` (agent/store_health.py), ``SnapshotHub`` (agent/snapshot_hub.py);
- ``PolicyWatcher`` (agent/reload.py) builds new engines off the hot path.

All of them read time from one injectable ``Clock`` (agent/clock.py). With
``sampler_thread=False`` no sampler thread runs and a test calls ``tick()`` after moving a
``ManualClock``; ``sync()`` waits until the writer has done everything queued so far.

``import agent.runtime`` stays light: no GUI toolkit, no LightGBM Python package.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent import engines
from agent.aggregator import Aggregator
from agent.bucket_processor import BucketProcessor, taxonomy_file
from agent.clock import Clock, ScaledClock, SystemClock, iso, parse_iso
from agent.engines import BuiltEngine
from agent.exclusions import LiveExclusions
from agent.labels_service import ActionResult, LabelService
from agent.pause import PAUSED_FOREVER, STATE_PAUSED_UNTIL, PauseControl
from agent.personalize_trigger import PersonalizeTrigger
from agent.privacy_actions import PrivacyActions
from agent.prompts import PromptScheduler
from agent.reload import PolicyWatcher
from agent.sampler import Backend, GuardedBackend, open_backend
from agent.sampler_loop import SamplerLoop
from agent.snapshot import AgentSnapshot
from agent.snapshot_hub import SnapshotHub, Subscriber
from agent.store_health import StoreHealth, store_message_text
from agent.writer import Writer
from engine.activity import ActivityRecord
from engine.config import Config
from engine.errors import TaskclfError
from engine.store import Store

if TYPE_CHECKING:
    from engine.bundle import ModelBundle

__all__ = [
    "PAUSED_FOREVER", "ActionResult", "AgentRuntime", "Clock", "EngineOverrides",
    "ScaledClock", "SystemClock", "iso", "parse_iso",
]

log = logging.getLogger("taskclf.agent.runtime")

STORE_BUSY_TIMEOUT_MS = 2000  # a bucket write may wait this long for a reader's lock
RESTORE_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class EngineOverrides:
    """``infer online --model-dir M --calibrator-store DIR``: replaces the policy for a run."""

    model_dir: Path | None = None
    calibrator_store: Path | None = None


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
        sampler_thread: bool = True,
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
        self._sampler_thread_wanted = sampler_thread

        self._hub = SnapshotHub()
        self._health = StoreHealth(self._hub)
        self._stop = threading.Event()
        self._started = False
        self._sampler_thread: threading.Thread | None = None
        self.pause_control = PauseControl(self.clock, self._hub, self._persist_pause)
        self.labels = LabelService(home=self.home, hub=self._hub, clock=self.clock,
                                   bucket_seconds=self.bucket_seconds, writer=lambda: self._writer,
                                   deployed_bundle=self._deployed_bundle)
        self.exclusions = LiveExclusions(self.home, clock=self.clock.monotonic)
        self.privacy = PrivacyActions(
            home=self.home, now=self.clock.time, bucket_seconds=self.bucket_seconds,
            submit=self._submit_job, after_forget=self._after_forget, exclusions=self.exclusions,
            publish=self._hub.set,
            app_names=lambda: dict(self.sampler.app_names) if self.sampler is not None else {},
        )

        # set up in start()
        self.user_id = ""
        self.device_id = ""
        self.sample_seconds = 1.0
        self.config = Config()
        self._config_warnings: tuple[str, ...] = ()
        self._backend_note: str | None = None
        self._writer: Writer[Store] | None = None
        self._watcher: PolicyWatcher | None = None
        self.sampler: SamplerLoop | None = None
        self.processor: BucketProcessor | None = None
        self.prompts: PromptScheduler | None = None
        self.personalizer: PersonalizeTrigger | None = None

    # ------------------------------------------------------------------ public API

    def start(self) -> None:
        """Open everything and start the threads; returns quickly (the model loads later)."""
        if self._started:
            return
        self._started = True
        title_key, store_error = self._load_identity()
        self.labels.user_id = self.user_id
        self.labels.queue.clean_partial_writes()
        self.config, warnings = engines.load_config(self.home)
        from engine.desktop_tables import load_user_tables

        self._config_warnings = tuple(warnings) + tuple(load_user_tables(self.home))
        self.sample_seconds = float(self._sample_seconds_arg or self.config.sample_seconds or 1.0)

        backend, self._backend_note = self._open_backend()
        aggregator = Aggregator(
            user_id=self.user_id, device_id=self.device_id, bucket_seconds=self.bucket_seconds,
            sample_seconds=self.sample_seconds, sources=(backend.NAME,),
            local_offset=self.clock.local_offset,
        )
        self.sampler = SamplerLoop(
            backend=backend,
            guard=GuardedBackend(backend, timeout=self._sampler_timeout, clock=self.clock.monotonic),
            aggregator=aggregator, clock=self.clock, pause=self.pause_control,
            title_key=title_key, sample_seconds=self.sample_seconds,
            on_bucket=self._enqueue_bucket, on_sampler_state=self._on_sampler_state,
            exclusions=self.exclusions,
        )
        try:
            permissions = dict(backend.permissions())
            notes = tuple(backend.notes())
        except Exception:
            permissions, notes = {}, ()
        self._hub.set(
            user_id=self.user_id, sampler_backend=backend.NAME,
            sampler_permissions=permissions, sampler_notes=notes,
            missing_signals=tuple(backend.missing_signals()),
            config_warnings=self._config_warnings
            + ((self._backend_note,) if self._backend_note else ()),
            store_error=store_error,
        )
        self.prompts = PromptScheduler(self.config, bucket_seconds=self.bucket_seconds,
                                       clock=self.clock)
        self.processor = BucketProcessor(
            home=self.home, config=self.config, clock=self.clock,
            bucket_seconds=self.bucket_seconds, hub=self._hub, health=self._health,
            prompts=self.prompts, override=self.labels.override, user_id=self.user_id,
            device_id=self.device_id, skip_until=aggregator.skip_until,
        )

        self._writer = Writer(self._open_store, retry_seconds=self._retry_seconds)
        self._writer.start()
        self._writer.on_idle(self.labels.retry_pending)
        self._writer.on_idle(self.processor.save_unsaved)
        restore = self._writer.submit(self._restore)
        try:
            restore.result(timeout=RESTORE_TIMEOUT_SECONDS)
        except Exception as exc:
            log.warning("could not restore state from the store: %s", type(exc).__name__)

        self._hub.start()
        if self._sampler_thread_wanted:
            self._sampler_thread = threading.Thread(
                target=self.sampler.run, args=(self._stop,), name="taskclf-sampler", daemon=True)
            self._sampler_thread.start()
        processor = self.processor
        self._watcher = PolicyWatcher(
            self.home, submit=self._submit_engine, interval=self._watch_interval,
            overrides=self.overrides, taxonomy_loader=processor.load_taxonomy,
            taxonomy_file=lambda: taxonomy_file(self.home, self.config),
        )
        self._watcher.start()
        self.personalizer = PersonalizeTrigger(self.home, clock=self.clock, hub=self._hub,
                                               mode=self.config.personalize)
        self._hub.subscribe(self.personalizer.observe)
        if self.config.activitywatch_export:  # loopback only: the URL was checked on load
            from agent.activitywatch.upkeep import ExportUpkeep

            upkeep = ExportUpkeep(self.home, self.config.activitywatch_url)
            threading.Thread(target=upkeep.run, args=(self._stop,), name="taskclf-aw-export",
                             daemon=True).start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop sampling, finalise the open bucket (partial) and close the store."""
        if not self._started or self._stop.is_set():
            return
        self._stop.set()
        self.pause_control.changed.set()
        if self._watcher is not None:
            self._watcher.stop()
        if self._sampler_thread is not None:
            self._sampler_thread.join(timeout)
        if self.sampler is not None:
            self.sampler.flush()
        if self._writer is not None:
            self._writer.submit(self._last_save)
            self._writer.stop(timeout)
        if self.sampler is not None:
            self.sampler.guard.stop()
        self._hub.stop(timeout)

    def snapshot(self) -> AgentSnapshot:
        return self._hub.current()

    def subscribe(self, callback: Subscriber) -> None:
        """``callback(snapshot)`` runs on the notifier thread after every publish."""
        self._hub.subscribe(callback)

    def confirm(self, block_id: int) -> ActionResult:
        return self.labels.confirm(block_id)

    def correct(self, block_id: int, label: str) -> ActionResult:
        return self.labels.correct(block_id, label)

    def label_last(self, minutes: int, label: str) -> ActionResult:
        return self.labels.label_last(minutes, label)

    def answer_prompt(self, bucket_start: str, label: str) -> ActionResult:
        return self.labels.answer_prompt(bucket_start, label)

    def pause(self, seconds: float | None) -> None:
        self.pause_control.pause(seconds)

    def resume(self) -> None:
        self.pause_control.resume()

    def reload_now(self) -> None:
        if self._watcher is not None:
            self._watcher.trigger()

    def forget_last(self, minutes: int) -> ActionResult:
        """Privacy ▸ Forget the last hour (blocks until the store is scrubbed)."""
        ok, message = self.privacy.forget_last(minutes)
        return ActionResult(ok, message, True)

    def exclude_app(self, app_id: str) -> ActionResult:
        """Privacy ▸ Never track <app>: config.toml, then its past minutes are forgotten."""
        ok, message = self.privacy.exclude_app(app_id)
        return ActionResult(ok, message, True)

    # ------------------------------------------------------------------ driving by hand

    def tick(self) -> None:
        """One sampler tick at the clock's current time (with ``sampler_thread=False``)."""
        if self.sampler is None:
            raise RuntimeError("start() the runtime first")
        self.sampler.tick()

    def sync(self, timeout: float = 10.0) -> None:
        """Wait until the writer has run every job queued before this call."""
        if self._writer is not None:
            self._writer.submit(lambda store: None).result(timeout=timeout)

    # ------------------------------------------------------------------ wiring

    def _load_identity(self) -> tuple[bytes, str | None]:
        from agent.identity import Identity, load_or_create_identity, load_or_create_title_key
        from engine.paths import ensure_home

        store_error: str | None = None
        try:
            ensure_home(self.home)
        except OSError as exc:
            store_error = f"cannot create the data folder ({exc.strerror})"
        try:
            ident = load_or_create_identity(self.home)
            title_key = load_or_create_title_key(self.home)
        except OSError as exc:
            # read-only or full disk on first start: run in memory and say so
            ident = Identity(str(uuid.uuid4()), str(uuid.uuid4()))
            title_key = os.urandom(32)
            store_error = f"data folder not writable ({exc.strerror}): nothing is saved"
        self.user_id, self.device_id = ident.user_id, ident.device_id
        return title_key, store_error

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
            return open_backend(arg, activitywatch_url=self.config.activitywatch_url)
        except Exception as exc:
            raise TaskclfError(str(exc)) from None

    def _on_sampler_state(self, failing: str | None) -> None:
        assert self.sampler is not None
        backend = self.sampler.backend
        missing = list(backend.missing_signals())
        notes = list(self._config_warnings)
        if self._backend_note:
            notes.append(self._backend_note)
        if failing:
            missing = ["foreground", "title", "idle", "input_counts", "lock_state"]
            notes.append(f"{backend.NAME} {failing}: signals marked missing")
        self._hub.set(missing_signals=tuple(dict.fromkeys(missing)), config_warnings=tuple(notes))

    def _open_store(self) -> Store:
        from engine.paths import store_path

        return Store.open(store_path(self.home), busy_timeout_ms=STORE_BUSY_TIMEOUT_MS)

    def _enqueue_bucket(self, rec: ActivityRecord) -> None:
        writer, processor = self._writer, self.processor
        if writer is None or processor is None or not self.privacy.admit(rec):
            return

        def job(store: Store | None) -> None:
            processor.process(store, rec)
            self.privacy.note_bucket(rec)
            if self.snapshot().saving:  # labels wait too: the store may take them again
                self.labels.retry_pending(store)

        writer.submit(job).add_done_callback(_log_failure)

    def _submit_job(self, job: Callable[[Store | None], Any]) -> Future[Any]:
        if self._writer is None:
            raise RuntimeError("the agent is not running")
        return self._writer.submit(job)

    def _after_forget(self, store: Store) -> None:
        """On the writer thread after forgetting: rebuild today's state from what is left."""
        processor = self.processor
        if processor is None or processor.host is None:
            return
        self.labels.override.clear()
        processor.host.rebuild(*processor.recent_records(store))
        self._hub.set(pending_prompt=None, user_label_override=None)
        processor.publish(None)  # "Now" stays (memory only); today's blocks are rebuilt
        self.labels.refresh_learning(store)

    def _restore(self, store: Store | None) -> None:
        """On the writer thread before sampling: pause, builder/smoothing state, labels."""
        assert self.processor is not None
        self.processor.restore(store)
        if store is None:
            if self._writer is not None and self._writer.error and not self.snapshot().store_error:
                self._hub.set(store_error=store_message_text(self._writer.error))
            return
        try:
            self.pause_control.restore(store.get_state(STATE_PAUSED_UNTIL))
        except Exception as exc:
            self._health.failed("read the pause state", exc)
        self.labels.refresh_learning(store)
        self.labels.refresh_user_labels(store)
        self.labels.retry_pending(store)

    def _last_save(self, store: Store | None) -> None:
        if self.processor is None:
            return
        self.processor.save_unsaved(store)
        self.labels.retry_pending(store)
        if self.processor.unsaved:
            log.warning("%d bucket(s) could not be saved before stopping",
                        len(self.processor.unsaved))

    def _submit_engine(self, built: BuiltEngine | None, error: str | None) -> None:
        """From the watcher: swap in a new engine (between buckets, on the writer thread)."""
        writer, processor = self._writer, self.processor
        if writer is None or processor is None:
            return
        writer.submit(lambda store: processor.install(store, built, error))

    def _deployed_bundle(self) -> ModelBundle | None:
        """The bundle of the engine in use (None for the rules), for the eligibility count."""
        host = self.processor.host if self.processor is not None else None
        return host.engine.bundle if host is not None else None

    def _persist_pause(self, value: str | None) -> None:
        if self._writer is None:
            return

        def job(store: Store | None) -> None:
            if store is None:
                return
            try:
                store.set_state(STATE_PAUSED_UNTIL, value)
            except Exception as exc:
                self._health.failed("remember the pause", exc)

        self._writer.submit(job)


def _log_failure(fut: object) -> None:
    """A bucket job never takes the agent down; its failure goes to the log."""
    from concurrent.futures import Future

    assert isinstance(fut, Future)
    exc = fut.exception()
    if exc is not None:
        log.error("a bucket could not be processed: %s", type(exc).__name__)
