"""The online engine: stages 2-8 of spec 4.1, one call per closed bucket.

``Engine.step`` encodes the feature row, predicts raw probabilities, calibrates, decides
(confidence, threshold, reject), smooths causally over the current session, maps into the
taxonomy and extends the current block, and returns one frozen :class:`PredictionRecord`.

Speed matters (spec 7.2: within 2x of LightGBM's single-row fast call), so everything that can
be is prepared when the engine is built: encoders are dictionaries, the model is called through
the C fast path with a preallocated row, calibration and mapping work on lists of 8 Python
floats, per-user choices are cached. State is bounded: a smoothing window of ``w`` entries,
today's blocks, a capped per-user cache.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from engine.calibration import Calibrator, IdentityCalibrator
from engine.errors import ArtifactError
from engine.labels import MIXED_UNKNOWN
from engine.record import ENGINE_VERSION, Block, OpenPredictionRecord, PredictionRecord
from engine.rules import RULES_MODEL_ID, RulePredictor
from engine.taxonomy import Taxonomy
from engine.timebounds import to_utc

if TYPE_CHECKING:
    from engine.bundle import ModelBundle
    from engine.calibrator_store import CalibratorStore
    from engine.policy import LoadedPolicy

DEFAULT_REJECT_THRESHOLD = 0.55
DEFAULT_SMOOTH_WINDOW = 3
#: Not smoothed: shown exactly for the buckets accepted as such (no majority delay at either
#: end of a break; docs/decisions.md).
BREAK_IDLE = "BreakIdle"
MAX_SMOOTH_WINDOW = 60
BUCKET_SECONDS = 60
MAX_CACHED_USERS = 1024
MAX_BLOCKS_PER_DAY = 2 * 1440

_IDENTITY = IdentityCalibrator()


def check_threshold(value: Any, *, field: str = "reject_threshold") -> float:
    """A reject threshold: a finite number with 0 < t < 1."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ArtifactError(None, field, "must be a number")
    t = float(value)
    if not math.isfinite(t) or not 0.0 < t < 1.0:
        raise ArtifactError(None, field, f"must be between 0 and 1 (exclusive), got {value!r}")
    return t


def check_smooth_window(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SMOOTH_WINDOW:
        raise ArtifactError(None, "smooth_window", f"must be an integer from 1 to {MAX_SMOOTH_WINDOW}")
    return int(value)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


class _BlockState:
    """The open block, mutable (a frozen ``Block`` is made only when asked for)."""

    __slots__ = ("block_id", "label", "mapped_label", "start", "end", "buckets", "session_id", "day")

    def __init__(
        self, block_id: int, label: str, mapped_label: str, start: float, session_id: str | None, day: date
    ) -> None:
        self.block_id = block_id
        self.label = label
        self.mapped_label = mapped_label
        self.start = start
        self.end = start + BUCKET_SECONDS
        self.buckets = 1
        self.session_id = session_id
        self.day = day

    def freeze(self) -> Block:
        return Block(
            block_id=self.block_id, label=self.label, mapped_label=self.mapped_label,
            start=_iso(self.start), end=_iso(self.end), buckets=self.buckets,
        )


class Engine:
    """One model (or the rules) + calibrators + thresholds + smoothing + taxonomy."""

    def __init__(
        self,
        *,
        bundle: ModelBundle | None,
        store: CalibratorStore | None = None,
        reject_threshold: float | None = None,
        per_user_thresholds: Mapping[str, float] | None = None,
        smooth_window: int = DEFAULT_SMOOTH_WINDOW,
        taxonomy: Taxonomy | None = None,
    ) -> None:
        self.bundle = bundle
        self.store = store
        if bundle is not None:
            self.label_order: tuple[str, ...] = bundle.label_order
            self.model_id = bundle.run_id
            self.model_sha256: str | None = bundle.model_sha256
            self._rules: RulePredictor | None = None
        else:
            self._rules = RulePredictor()
            self.label_order = self._rules.label_order
            self.model_id = RULES_MODEL_ID
            self.model_sha256 = None
        if store is not None and bundle is not None:
            from engine.calibrator_store import check_binding

            check_binding(store, bundle)
        self.reject_threshold = None if reject_threshold is None else check_threshold(reject_threshold)
        self.per_user_thresholds: dict[str, float] = {
            str(u): check_threshold(t, field=f"per_user_reject_thresholds.{u}")
            for u, t in (per_user_thresholds or {}).items()
        }
        self.smooth_window = check_smooth_window(smooth_window)
        self.taxonomy = taxonomy if taxonomy is not None else Taxonomy.identity()
        self._mapper = self.taxonomy.mapper(self.label_order)
        self._n = len(self.label_order)
        self._window_s = float(BUCKET_SECONDS * self.smooth_window)
        self._user_cache: dict[str, tuple[tuple[tuple[Calibrator, str], ...], float, str]] = {}
        self.reset()

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_artifacts(
        cls,
        bundle: ModelBundle,
        store: CalibratorStore | None = None,
        *,
        reject_threshold: float | None = None,
        per_user_thresholds: Mapping[str, float] | None = None,
        smooth_window: int = DEFAULT_SMOOTH_WINDOW,
        taxonomy: Taxonomy | None = None,
    ) -> Engine:
        return cls(
            bundle=bundle, store=store, reject_threshold=reject_threshold,
            per_user_thresholds=per_user_thresholds, smooth_window=smooth_window, taxonomy=taxonomy,
        )

    @classmethod
    def from_loaded_policy(cls, loaded: LoadedPolicy, taxonomy: Taxonomy | None = None) -> Engine:
        pol = loaded.policy
        return cls(
            bundle=loaded.bundle, store=loaded.store, reject_threshold=pol.reject_threshold,
            per_user_thresholds=pol.per_user_reject_thresholds, smooth_window=pol.smooth_window,
            taxonomy=taxonomy,
        )

    @classmethod
    def rules(cls, taxonomy: Taxonomy | None = None, smooth_window: int = DEFAULT_SMOOTH_WINDOW) -> Engine:
        return cls(bundle=None, taxonomy=taxonomy, smooth_window=smooth_window)

    # -- state ----------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the stream: smoothing window, blocks, last bucket."""
        self._last_t: float | None = None
        self._session: str | None = None
        self._votes: deque[tuple[float, str]] = deque(maxlen=self.smooth_window)
        self._prev_smoothed: str | None = None
        self._block: _BlockState | None = None
        self._closed: deque[Block] = deque(maxlen=MAX_BLOCKS_PER_DAY)
        # Blocks closed since today's were last asked for: frozen only when asked (the agent
        # asks once a bucket, a batch run never), which keeps two ISO timestamps per closed
        # block off the per-bucket path.
        self._closing: deque[_BlockState] = deque(maxlen=MAX_BLOCKS_PER_DAY)
        self._closed_day: date | None = None
        self._next_block_id = 1

    def adopt_state(self, old: Engine) -> bool:
        """Carry the smoothing window and today's blocks over from ``old`` (hot reload, 4.3).

        Only when the label orders are equal; returns whether the state was adopted.
        """
        if old.label_order != self.label_order:
            return False
        self._last_t = old._last_t
        self._session = old._session
        self._votes = deque(old._votes, maxlen=self.smooth_window)
        self._prev_smoothed = old._prev_smoothed
        mapl = self._mapper.map_label
        self._closed = deque(
            (
                Block(b.block_id, b.label, mapl(b.label), b.start, b.end, b.buckets)
                for b in old._closed_blocks()
            ),
            maxlen=MAX_BLOCKS_PER_DAY,
        )
        self._closing.clear()
        self._closed_day = old._closed_day
        self._next_block_id = old._next_block_id
        ob = old._block
        if ob is not None:
            nb = _BlockState(ob.block_id, ob.label, mapl(ob.label), ob.start, ob.session_id, ob.day)
            nb.end, nb.buckets = ob.end, ob.buckets
            self._block = nb
        else:
            self._block = None
        return True

    @property
    def current_block(self) -> Block | None:
        return self._block.freeze() if self._block is not None else None

    def today_blocks(self) -> tuple[Block, ...]:
        """The closed blocks of the current block's day, then the open block."""
        cur = self._block
        if cur is None:
            return tuple(self._closed_blocks())
        return (*self._closed_blocks(), cur.freeze())

    def _closed_blocks(self) -> deque[Block]:
        closing = self._closing
        if closing:
            self._closed.extend([b.freeze() for b in closing])
            closing.clear()
        return self._closed

    # -- per-user choices -------------------------------------------------------------------
    def _user_choice(self, user_id: str) -> tuple[tuple[tuple[Calibrator, str], ...], float, str]:
        hit = self._user_cache.get(user_id)
        if hit is not None:
            return hit
        store = self.store
        chain: tuple[tuple[Calibrator, str], ...]
        if store is None:
            chain = ((_IDENTITY, "identity"),)
        else:
            cal, src = store.lookup(user_id)
            if src == "user":
                chain = (
                    (cal, "user"),
                    (store.global_calibrator, "global (user degenerate)"),
                    (_IDENTITY, "identity (user and global degenerate)"),
                )
            else:
                chain = ((cal, "global"), (_IDENTITY, "identity (global degenerate)"))
        t = self.per_user_thresholds.get(user_id)
        if t is not None:
            thr, tsrc = t, "per_user"
        elif self.reject_threshold is not None:
            thr, tsrc = self.reject_threshold, "global"
        else:
            thr, tsrc = DEFAULT_REJECT_THRESHOLD, "default"
        if len(self._user_cache) >= MAX_CACHED_USERS:
            self._user_cache.clear()
        choice = (chain, thr, tsrc)
        self._user_cache[user_id] = choice
        return choice

    # -- the pipeline ---------------------------------------------------------------------------
    def predict_raw_row(self, features: Mapping[str, Any]) -> list[float]:
        """Stages 2-3: encode and predict (raw probabilities in ``label_order``)."""
        b = self.bundle
        if b is not None:
            return b.predict_features(features)
        assert self._rules is not None
        return self._rules.predict(features)

    def step(
        self,
        features: Mapping[str, Any],
        *,
        user_id: str,
        bucket_start: datetime,
        session_id: str | None,
        local_day: date | None = None,
    ) -> PredictionRecord:
        """Run one bucket through stages 2-8; buckets must come in increasing time order.

        ``local_day`` is the user's own date of the bucket (from the record's UTC offset): the
        day whose blocks "today" lists. Without it the UTC date is used."""
        bucket_start, t = self._next_bucket(bucket_start)
        # 2-3. encode + predict
        b = self.bundle
        if b is not None:
            raw = b.predict_array(b.encode_array(features))
        else:
            assert self._rules is not None
            raw = self._rules.predict(features)
        return self._finish(raw, t, user_id, bucket_start, session_id, local_day)

    def _next_bucket(self, bucket_start: datetime) -> tuple[datetime, float]:
        """The bucket's aware start and timestamp; buckets must come in increasing time order
        (smoothing and blocks assume it)."""
        if bucket_start.tzinfo is None:
            bucket_start = bucket_start.replace(tzinfo=UTC)
        t = bucket_start.timestamp()
        last = self._last_t
        if last is not None and t <= last:
            raise ValueError(
                f"bucket {bucket_start.isoformat()} is not after the previous one ({_iso(last)})"
            )
        return bucket_start, t

    def step_raw(
        self,
        raw: list[float],
        *,
        user_id: str,
        bucket_start: datetime,
        session_id: str | None,
    ) -> PredictionRecord:
        """Stages 4-8 for a bucket whose raw probabilities (``label_order``) are already known:
        replays that try other calibrators or thresholds without asking the model again."""
        bucket_start, t = self._next_bucket(bucket_start)
        if len(raw) != self._n:
            raise ValueError(f"expected {self._n} raw probabilities, got {len(raw)}")
        return self._finish(list(raw), t, user_id, bucket_start, session_id)

    def step_many(
        self,
        rows: Sequence[Mapping[str, Any]],
        *,
        user_ids: Sequence[str],
        bucket_starts: Sequence[datetime],
        session_ids: Sequence[str | None],
        local_days: Sequence[date | None] | None = None,
    ) -> list[PredictionRecord]:
        """``step`` over many buckets, with one batch call to the model.

        The records are identical to calling ``step`` on each row in turn (LightGBM's batch
        and single-row predictions agree bit for bit); the buckets must be in order.
        """
        n = len(rows)
        if not (len(user_ids) == len(bucket_starts) == len(session_ids) == n):
            raise ValueError("rows, user_ids, bucket_starts and session_ids differ in length")
        starts = [bs if bs.tzinfo is not None else bs.replace(tzinfo=UTC) for bs in bucket_starts]
        stamps = [bs.timestamp() for bs in starts]
        prev = self._last_t
        for ts, bs in zip(stamps, starts, strict=True):
            if prev is not None and ts <= prev:
                raise ValueError(f"bucket {bs.isoformat()} is not after the previous one ({_iso(prev)})")
            prev = ts
        b = self.bundle
        if b is not None:
            raws = b.predict_features_batch(rows)
        else:
            assert self._rules is not None
            raws = [self._rules.predict(r) for r in rows]
        finish = self._finish
        days = local_days if local_days is not None else [None] * n
        if len(days) != n:
            raise ValueError("local_days differs in length from rows")
        return [
            finish(raw, ts, uid, bs, sid, day)
            for raw, ts, uid, bs, sid, day in zip(raws, stamps, user_ids, starts, session_ids, days,
                                                  strict=True)
        ]

    def _finish(
        self, raw: list[float], t: float, user_id: str, bucket_start: datetime,
        session_id: str | None, local_day: date | None = None,
    ) -> PredictionRecord:
        """Stages 4-8 for one bucket whose raw probabilities are known."""
        last = self._last_t
        # 4. calibrate (user -> global -> identity; degenerate rows fall through)
        choice = self._user_cache.get(user_id)
        chain, threshold, tsrc = choice if choice is not None else self._user_choice(user_id)
        probs: list[float] | None = None
        cal_name = "identity"
        for cal, name in chain:
            probs = cal.apply_row(raw)
            if probs is not None:
                cal_name = name
                break
        if probs is None:  # unreachable: identity is never degenerate
            probs = _IDENTITY.apply_row(raw) or raw
        # 5. decide
        conf = max(probs)
        if probs.count(conf) == 1:
            idx = probs.index(conf)
        else:  # ties: the higher raw probability, then the first in label order
            idx = -1
            best = -1.0
            for i, v in enumerate(probs):
                if v == conf and raw[i] > best:
                    best, idx = raw[i], i
        core = self.label_order[idx]
        rejected = conf < threshold
        accepted = MIXED_UNKNOWN if rejected else core
        # 6. smooth (causal, per session, window (t - 60w, t])
        votes = self._votes
        if session_id != self._session or last is None:
            votes.clear()
            self._prev_smoothed = None
            self._session = session_id
        else:
            horizon = t - self._window_s
            while votes and votes[0][0] <= horizon:
                votes.popleft()
        votes.append((t, accepted))
        n_votes = len(votes)
        if n_votes == 1 or accepted == BREAK_IDLE:
            smoothed = accepted  # a break shows at once
        elif n_votes <= 3:  # the default window: decide without building a tally
            smoothed = self._vote3(votes, accepted)
        else:
            smoothed = self._vote(votes)
        if smoothed == BREAK_IDLE and accepted != BREAK_IDLE:
            smoothed = self._vote(votes, skip=BREAK_IDLE)  # a break ends when the bucket is not idle
        self._prev_smoothed = smoothed
        # 7. map
        mapper = self._mapper
        mapped_label = mapper.map_label(smoothed)
        mapped_probs = mapper.map_probs(probs)
        # 8. segments
        self._extend_block(t, smoothed, mapped_label, session_id,
                           local_day if local_day is not None else bucket_start.date())
        self._last_t = t
        # Filled unfrozen, positionally, then frozen by a class switch (see OpenPredictionRecord).
        rec: Any = OpenPredictionRecord(
            bucket_start.isoformat() if bucket_start.tzinfo is UTC else _iso(t),
            user_id,
            session_id,
            self.model_id,
            self.model_sha256,
            self.label_order,
            tuple(raw),
            tuple(probs),
            core,
            conf,
            threshold,
            tsrc,
            rejected,
            accepted,
            smoothed,
            mapped_label,
            mapped_probs,
            cal_name,
            ENGINE_VERSION,
        )
        rec.__class__ = PredictionRecord
        return rec

    def _vote3(self, votes: deque[tuple[float, str]], newest: str) -> str:
        """``_vote`` for two or three votes (same rules, no dictionary)."""
        prev = self._prev_smoothed
        if len(votes) == 2:
            older = votes[0][1]
            if older == newest:
                return newest
            return older if prev == older else newest  # a tie: previous, else most recent
        a, b = votes[0][1], votes[1][1]
        if b == newest or a == newest:
            return newest
        if a == b:
            return a
        # three different labels: a tie of all three
        if prev is not None and prev in (a, b):
            return prev
        return newest

    def _vote(self, votes: deque[tuple[float, str]], skip: str | None = None) -> str:
        """The majority of the votes (``skip`` left out, at least one vote remains)."""
        counts: dict[str, int] = {}
        for _, lab in votes:
            if lab != skip:
                counts[lab] = counts.get(lab, 0) + 1
        top = max(counts.values())
        tied = [lab for lab, c in counts.items() if c == top]
        if len(tied) == 1:
            return tied[0]
        prev = self._prev_smoothed
        if prev is not None and prev in tied:
            return prev
        for _, lab in reversed(votes):  # the most recent of the tied labels
            if lab in tied:
                return lab
        return tied[0]  # pragma: no cover

    def _extend_block(
        self, t: float, label: str, mapped_label: str, session_id: str | None, day: date
    ) -> None:
        cur = self._block
        if (
            cur is not None
            and cur.label == label
            and cur.end == t
            and cur.session_id == session_id
        ):
            cur.end = t + BUCKET_SECONDS
            cur.buckets += 1
            cur.mapped_label = mapped_label
            return
        if cur is not None:
            if cur.day != self._closed_day:
                self._closed.clear()
                self._closing.clear()
                self._closed_day = cur.day
            self._closing.append(cur)
        if self._closed_day != day:
            self._closed.clear()  # a new day: only today's blocks are kept
            self._closing.clear()
            self._closed_day = day
        self._block = _BlockState(self._next_block_id, label, mapped_label, t, session_id, day)
        self._next_block_id += 1

    def __repr__(self) -> str:
        return f"Engine(model_id={self.model_id!r}, window={self.smooth_window})"


def parse_bucket_start(value: Any, *, field: str = "bucket_start") -> datetime:
    """An ISO-8601 timestamp (``Z`` accepted; naive means UTC) as an aware datetime."""
    if not isinstance(value, str) or not value:
        raise ArtifactError(None, field, "must be an ISO-8601 timestamp string")
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ArtifactError(None, field, f"not an ISO-8601 timestamp: {value[:40]!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    to_utc(dt, where=None, field=field)  # within the supported years
    return dt


def next_bucket(prev: datetime) -> datetime:
    return prev + timedelta(seconds=BUCKET_SECONDS)
