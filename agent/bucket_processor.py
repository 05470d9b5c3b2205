"""What happens to a closed bucket, on the writer thread: persist the record, build its feature
row, run the engine once, persist the prediction, publish the new snapshot. Also the engine's
life on that thread: the restart replay, engine swaps between two buckets, retention.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent import engines
from agent.clock import Clock, iso, local_day_start, parse_ts
from agent.engines import BuiltEngine, EngineHost
from agent.labels_service import CorrectionOverride
from agent.prompts import PROMPT_EXPIRY_SECONDS, PromptScheduler
from agent.snapshot_hub import SnapshotHub
from agent.store_health import StoreHealth, is_transient, store_message
from agent.unsaved import UnsavedBucket, UnsavedBuckets
from engine.activity import ActivityRecord
from engine.config import Config
from engine.errors import TaskclfError
from engine.record import PredictionRecord
from engine.store import Store
from engine.taxonomy import Taxonomy

log = logging.getLogger("taskclf.agent.runtime")

#: How far before today a restart looks for the start of a session still running.
RESUME_LOOKBACK_SECONDS = 24 * 3600
#: At least this much of the recent past is replayed at start, even just after midnight.
MIN_REPLAY_SECONDS = 15 * 60
RETENTION_EVERY_SECONDS = 86400
#: Unpredicted buckets within this span of the first one are caught up in one stream.
CATCH_UP_SPAN_SECONDS = 24 * 3600


class BucketProcessor:
    def __init__(self, *, home: Path, config: Config, clock: Clock, bucket_seconds: int,
                 hub: SnapshotHub, health: StoreHealth, prompts: PromptScheduler,
                 override: CorrectionOverride, user_id: str, device_id: str,
                 skip_until: Callable[[float], None]) -> None:
        self._home = home
        self._config = config
        self._clock = clock
        self._bucket_seconds = bucket_seconds
        self._hub = hub
        self._health = health
        self._prompts = prompts
        self._override = override
        self.user_id = user_id
        self.device_id = device_id
        self._skip_until = skip_until
        self.host: EngineHost | None = None
        self.unsaved = UnsavedBuckets()
        self._last_retention = -float("inf")

    # -- start -----------------------------------------------------------------------------

    def load_taxonomy(self) -> tuple[Taxonomy | None, str | None]:
        tax, warning = engines.load_user_taxonomy(self._home, self._config)
        if warning != self._hub.current().taxonomy_warning:
            self._hub.set(taxonomy_warning=warning)
        return tax, warning

    def restore(self, store: Store | None) -> None:
        """Before sampling: today's builder and smoothing state from the stored records."""
        self.host = EngineHost(self.user_id, taxonomy=self.load_taxonomy()[0])
        if store is None:
            return
        recs, since = self.recent_records(store)
        self.host.rebuild(recs, since)
        current = self._clock.time() // self._bucket_seconds * self._bucket_seconds
        if recs and recs[-1].bucket_start_ts >= current:
            self._skip_until(recs[-1].bucket_start_ts + self._bucket_seconds)
        self.publish(None)
        self.apply_retention(store)

    def recent_records(self, store: Store) -> tuple[list[ActivityRecord], datetime]:
        """This device's records to replay at start, and where the replay starts predicting:
        today (local), at least the last 15 minutes; the records go back to the last session
        break before that (up to a day), so the restarted builder and engine are exactly what
        batch inference over the same records gives (``engine.stream``)."""
        from engine.sessions import resume_index

        now = self._clock.time()
        since = min(local_day_start(self._clock, now), now - MIN_REPLAY_SECONDS)
        since = since // self._bucket_seconds * self._bucket_seconds
        since_dt = datetime.fromtimestamp(since, UTC)
        lookback = datetime.fromtimestamp(since - RESUME_LOOKBACK_SECONDS, UTC)
        try:
            recs = list(store.records(user_id=self.user_id, device_id=self.device_id,
                                      start=lookback))
        except Exception as exc:
            self._health.failed("read recent records", exc)
            return [], since_dt
        first = next((i for i, r in enumerate(recs) if r.bucket_start_ts >= since), len(recs))
        if first >= len(recs):
            return [], since_dt
        return recs[min(first, resume_index(recs[:first + 1])):], since_dt

    def catch_up(self, store: Store) -> int:
        """Predict every stored bucket of this device that has no prediction (a crash between
        two transactions of an older version, or a bucket refused then): each with the state
        batch inference would have, written with its feature row in one transaction."""
        from engine.sessions import resume_index

        host = self.host
        if host is None:
            return 0
        try:
            missing = store.unpredicted_buckets(self.device_id)
        except Exception as exc:
            self._health.failed("look for unpredicted buckets", exc)
            return 0
        done = 0
        todo = set(missing)
        while todo:
            first = min(todo)
            upto = first + timedelta(seconds=CATCH_UP_SPAN_SECONDS)
            recs = list(store.records(user_id=self.user_id, device_id=self.device_id,
                                      start=first - timedelta(seconds=RESUME_LOOKBACK_SECONDS),
                                      end=upto))
            at = next((i for i, r in enumerate(recs) if r.bucket_start >= first), len(recs))
            recs = recs[resume_index(recs[:at + 1]):]
            chunk = {t for t in todo if t < upto}
            for st in host.replay(recs, first):
                bucket = st.prediction.bucket_start
                if st.record is None or st.row is None or st.record.bucket_start not in chunk:
                    continue
                try:
                    store.put_prediction_and_row(self.device_id, st.row, st.prediction)
                    done += 1
                except Exception as exc:
                    self._health.failed(f"save the prediction of {bucket}", exc)
                    return done
            todo -= chunk
        if done:
            log.info("predicted %d stored bucket(s) that had no prediction", done)
        return done

    def apply_retention(self, store: Store) -> None:
        try:
            store.apply_retention(datetime.fromtimestamp(self._clock.time(), UTC),
                                  self._config.activity_retention_days)
        except Exception as exc:
            log.warning("retention skipped: %s", store_message(exc))
        self._last_retention = self._clock.time()

    # -- buckets ---------------------------------------------------------------------------

    def process(self, store: Store | None, rec: ActivityRecord) -> None:
        """Record -> features -> engine -> record, row and prediction in one transaction ->
        publish. A bucket the store cannot take now (full disk) waits in memory."""
        host = self.host
        if host is None:
            return
        if store is not None:
            try:
                if store.has_record(rec.device_id, rec.bucket_start):
                    log.info("bucket %s already stored; not predicted twice", iso(rec.bucket_start))
                    return
            except Exception as exc:
                self._health.failed("read the data file", exc)
        try:
            row, pred = host.step(rec)
        except Exception:
            log.exception("the engine failed on one bucket; the agent keeps running")
            return
        self.unsaved.add(UnsavedBucket(rec, row, pred))
        self.save_unsaved(store)
        self._after_prediction(rec, pred)
        if store is not None and self._clock.time() - self._last_retention > RETENTION_EVERY_SECONDS:
            self.apply_retention(store)

    def save_unsaved(self, store: Store | None) -> None:
        """Write the buckets waiting in memory, oldest first (also when the writer is idle)."""
        if store is None or not self.unsaved:
            return
        while self.unsaved:
            item = self.unsaved.peek()
            try:
                store.put_bucket(item.record, item.row, item.prediction)
            except Exception as exc:
                if is_transient(exc):
                    self._health.failed("save a bucket", exc)
                    return
                log.warning("a bucket could not be saved and is dropped: %s", store_message(exc))
            self.unsaved.pop()
        self._health.ok()

    def _after_prediction(self, rec: ActivityRecord, pred: PredictionRecord) -> None:
        label = self._override.after(pred)
        pending = self._hub.current().pending_prompt
        prompt = self._prompts.after(pred, pending=pending)
        changes: dict[str, object] = {"user_label_override": label, "last_app_category": None}
        if pending is not None and prompt is None:
            ts = parse_ts(pending)
            if ts is None or self._clock.time() - ts > PROMPT_EXPIRY_SECONDS:
                changes["pending_prompt"] = None  # a question about long ago is not asked
        if rec.segments:
            longest: dict[str, float] = {}
            for s in rec.segments:
                longest[s.app_category] = longest.get(s.app_category, 0.0) + s.seconds
            changes["last_app_category"] = max(longest, key=lambda k: longest[k])
        if prompt is not None:
            changes["pending_prompt"] = prompt
        self.publish(pred, **changes)

    def publish(self, pred: PredictionRecord | None, **changes: object) -> None:
        host = self.host
        if host is None:
            return
        self._hub.set(
            last=pred if pred is not None else self._hub.current().last,
            current_block=host.current_block(),
            today_blocks=host.today_blocks(),
            model=host.status(pred),
            taxonomy_colors=host.taxonomy_colors(),
            **changes,
        )

    # -- engines ---------------------------------------------------------------------------

    def install(self, store: Store | None, built: BuiltEngine | None, error: str | None) -> None:
        """A new engine from the watcher, between two buckets."""
        host = self.host
        if host is None:
            return
        if host.kind == "starting" and store is not None:
            # The first engine of this run: predict what a crash left unpredicted, then
            # rebuild today's state with it rather than carry over the placeholder's, so a
            # restart gives what batch inference would.
            if built is not None and error is None:
                host.adopt(built)
            else:
                host.swap(built, error)
            self.catch_up(store)
            host.rebuild(*self.recent_records(store))
        else:
            host.swap(built, error)
        self.publish(None)


def taxonomy_file(home: Path, config: Config) -> Path | None:
    from engine.paths import inside_home

    try:
        return inside_home(home, config.taxonomy or "taxonomy.toml", file=None, field="taxonomy")
    except TaskclfError:
        return None
