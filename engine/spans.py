"""Label spans and the overlap rule (spec 3.1).

A label span says "from ``start_ts`` (inclusive) to ``end_ts`` (exclusive) this user was doing
``label``". Spans of one user never overlap. Adding a span resolves conflicts with a strict
priority: a human span (manual, correction, confirmation, prompt, import) always beats a machine
span (rule, synthetic); within the same group the newer ``created_at`` wins (on a tie the span
being added wins). The loser is trimmed, split in two, or removed; when the *new* span loses, it
is the one that is clipped, so a rule span never overwrites what the user said.

Everything here is pure: the store applies the result of :func:`apply_span` in one transaction.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from engine.errors import ArtifactError
from engine.jsonio import finite_float
from engine.labels import CORE_LABEL_SET, HUMAN_PROVENANCES, PROVENANCES


@dataclass(frozen=True, slots=True)
class LabelSpan:
    """One labelled interval of one user; datetimes are timezone-aware (UTC)."""

    start_ts: datetime
    end_ts: datetime
    label: str
    user_id: str
    provenance: str
    confidence: float | None
    created_at: datetime
    span_id: int | None = None

    @property
    def is_human(self) -> bool:
        return self.provenance in HUMAN_PROVENANCES

    @property
    def duration_seconds(self) -> float:
        return (self.end_ts - self.start_ts).total_seconds()

    def validate(self, *, where: str | None = None) -> LabelSpan:
        """Refuse an impossible span with one line naming the field; return self."""
        for name in ("start_ts", "end_ts", "created_at"):
            value = getattr(self, name)
            if not isinstance(value, datetime):
                raise ArtifactError(where, name, "expected a datetime")
            if value.tzinfo is None or value.utcoffset() is None:
                raise ArtifactError(where, name, "must be timezone-aware (UTC)")
        if self.end_ts <= self.start_ts:
            raise ArtifactError(where, "end_ts", "must be after start_ts")
        if not isinstance(self.label, str) or self.label not in CORE_LABEL_SET:
            raise ArtifactError(
                where, "label", f"unknown label {self.label!r} (expected one of the 8 core labels)"
            )
        if not isinstance(self.user_id, str) or not self.user_id.strip():
            raise ArtifactError(where, "user_id", "must be a non-empty string")
        if self.provenance not in PROVENANCES:
            raise ArtifactError(
                where,
                "provenance",
                f"unknown provenance {self.provenance!r} (expected one of {sorted(PROVENANCES)})",
            )
        if self.confidence is not None:
            c = self.confidence
            if not isinstance(c, int | float) or finite_float(c) is None:
                raise ArtifactError(where, "confidence", "must be a finite number or empty")
            if not 0.0 <= float(c) <= 1.0:
                raise ArtifactError(where, "confidence", "must be within 0..1")
        return self

    def normalized(self) -> LabelSpan:
        """The same span with every datetime converted to UTC."""
        return replace(
            self,
            start_ts=self.start_ts.astimezone(UTC),
            end_ts=self.end_ts.astimezone(UTC),
            created_at=self.created_at.astimezone(UTC),
        )

    def covers(self, start: datetime, end: datetime) -> bool:
        return self.start_ts <= start and end <= self.end_ts

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.start_ts < end and start < self.end_ts


def _beats(a: LabelSpan, b: LabelSpan) -> bool:
    """True when ``a`` (the span being added) takes precedence over ``b`` (an existing one)."""
    if a.is_human != b.is_human:
        return a.is_human
    return a.created_at >= b.created_at


def _subtract(span: LabelSpan, start: datetime, end: datetime) -> list[LabelSpan]:
    """``span`` minus ``[start, end)``: zero, one or two pieces. The left piece keeps the id."""
    if not span.overlaps(start, end):
        return [span]
    pieces: list[LabelSpan] = []
    if span.start_ts < start:
        pieces.append(replace(span, end_ts=start))
    if end < span.end_ts:
        right = replace(span, start_ts=end)
        if pieces:  # a split: the right piece is a new span
            right = replace(right, span_id=None)
        pieces.append(right)
    return pieces


def resolve(existing: Sequence[LabelSpan], new: LabelSpan) -> tuple[list[LabelSpan], list[LabelSpan]]:
    """Apply the overlap rule to ``new`` against ``existing``.

    Returns ``(kept, new_pieces)``: ``kept`` is ``existing`` after trimming (split pieces after
    the first have ``span_id=None``), ``new_pieces`` is what survives of ``new`` (empty when
    higher-priority spans cover it entirely, several pieces when they cut holes into it).
    Spans of other users are returned untouched.
    """
    winners: list[LabelSpan] = []
    losers: list[LabelSpan] = []
    untouched: list[LabelSpan] = []
    for old in existing:
        if old.user_id != new.user_id or not old.overlaps(new.start_ts, new.end_ts):
            untouched.append(old)
        elif _beats(new, old):
            losers.append(old)
        else:
            winners.append(old)
    new_pieces = [replace(new, span_id=None)]
    for w in sorted(winners, key=lambda s: s.start_ts):
        new_pieces = [p for piece in new_pieces for p in _subtract(piece, w.start_ts, w.end_ts)]
    kept = untouched + winners
    for old in losers:
        # Winners never overlap losers (existing spans are disjoint), so removing the whole
        # interval of ``new`` from a loser equals removing the surviving pieces of ``new``.
        kept.extend(_subtract(old, new.start_ts, new.end_ts))
    return kept, new_pieces


def apply_span(existing: list[LabelSpan], new: LabelSpan) -> list[LabelSpan]:
    """The full set of spans after adding ``new`` (pure), ordered by user, start."""
    kept, pieces = resolve(existing, new)
    return sort_spans(kept + pieces)


def sort_spans(spans: Iterable[LabelSpan]) -> list[LabelSpan]:
    return sorted(spans, key=lambda s: (s.user_id, s.start_ts, s.end_ts))


def label_for_bucket(spans: Iterable[LabelSpan], start: datetime, end: datetime) -> LabelSpan | None:
    """The span covering all of ``[start, end)``, or None (partly covered is not labelled).

    ``spans`` should be one user's spans; they never overlap, so at most one covers a bucket.
    Given several users' spans, the highest-priority covering span is returned.
    """
    best: LabelSpan | None = None
    for s in spans:
        if s.covers(start, end) and (best is None or _beats(s, best)):
            best = s
    return best


def bucket_is_labelled(spans: Iterable[LabelSpan], start: datetime, end: datetime) -> bool:
    return label_for_bucket(spans, start, end) is not None


class SpanIndex:
    """Fast ``label_for_bucket`` over one user's (disjoint) spans, for building datasets."""

    def __init__(self, spans: Iterable[LabelSpan]) -> None:
        self._spans = sorted(spans, key=lambda s: (s.start_ts, s.end_ts))
        self._starts = [s.start_ts for s in self._spans]

    def __len__(self) -> int:
        return len(self._spans)

    def label_for(self, start: datetime, end: datetime) -> LabelSpan | None:
        i = bisect.bisect_right(self._starts, start) - 1
        # Disjoint spans: only the last span starting at or before ``start`` can cover it.
        if i >= 0 and self._spans[i].covers(start, end):
            return self._spans[i]
        return None


def check_disjoint(spans: Iterable[LabelSpan]) -> list[tuple[LabelSpan, LabelSpan]]:
    """Pairs of overlapping spans of the same user (empty when the invariant holds)."""
    bad: list[tuple[LabelSpan, LabelSpan]] = []
    ordered = sort_spans(spans)
    for a, b in zip(ordered, ordered[1:], strict=False):
        if a.user_id == b.user_id and b.start_ts < a.end_ts:
            bad.append((a, b))
    return bad
