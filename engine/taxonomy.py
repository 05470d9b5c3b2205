"""The user's taxonomy (spec 3.5): display buckets over the core labels.

A taxonomy changes what the user *sees* (``mapped_label``, ``mapped_probs``), never the core
decision, the confidence or the reject the thresholds were tuned for. Read from TOML (the
default ``taxonomy.toml``), JSON, or YAML when PyYAML is installed. Core labels no bucket names
fall into an automatic ``Other`` bucket (last); a label in several buckets splits its
probability evenly between them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import ArtifactError
from engine.jsonio import finite_float, loads_strict, read_bounded_bytes
from engine.labels import CORE_LABEL_SET, LABEL_ORDER, MIXED_UNKNOWN
from engine.tomlio import loads_toml

MAX_TAXONOMY_BYTES = 256 * 1024
MAX_BUCKETS = 64
OTHER_BUCKET = "Other"
OTHER_COLOR = "#757575"
REJECT_COLOR = "#9E9E9E"
_COLOR_RE = re.compile(r"^#[0-9A-Fa-f]{6}$")
AGGREGATIONS = ("sum", "max")

#: Colours of the identity taxonomy (one bucket per core label).
DEFAULT_COLORS: dict[str, str] = {
    "Build": "#2E7D32",
    "Debug": "#C62828",
    "Review": "#6A1B9A",
    "Write": "#EF6C00",
    "ReadResearch": "#00838F",
    "Communicate": "#1565C0",
    "Meet": "#AD1457",
    "BreakIdle": "#9E9D24",
}


@dataclass(frozen=True, slots=True)
class TaxonomyBucket:
    name: str
    core_labels: tuple[str, ...]
    color: str


class TaxonomyMapper:
    """Precomputed mapping for one label order: the per-bucket hot path of step 7."""

    __slots__ = ("names", "_terms", "_label_to_bucket", "_aggregation", "reject_label", "_zero", "_identity")

    def __init__(self, taxonomy: Taxonomy, label_order: Sequence[str]) -> None:
        self.names = tuple(b.name for b in taxonomy.buckets)
        self.reject_label = taxonomy.reject_label
        counts = {lab: 0 for lab in label_order}
        for b in taxonomy.buckets:
            for lab in b.core_labels:
                counts[lab] = counts.get(lab, 0) + 1
        terms: list[tuple[int, int, float]] = []
        for bi, b in enumerate(taxonomy.buckets):
            for lab in b.core_labels:
                if lab in label_order:
                    ci = list(label_order).index(lab)
                    terms.append((bi, ci, taxonomy.reweight.get(lab, 1.0) / counts[lab]))
        self._terms = tuple(terms)
        self._aggregation = taxonomy.aggregation
        # One bucket per label, in label order, no weights: mapping is a relabelling.
        self._identity = list(self._terms) == [(i, i, 1.0) for i in range(len(label_order))] and len(
            self.names
        ) == len(label_order)
        self._zero = [0.0] * len(self.names)
        l2b = {lab: taxonomy.bucket_of(lab) for lab in label_order}
        l2b[MIXED_UNKNOWN] = taxonomy.reject_label
        self._label_to_bucket = l2b

    def map_label(self, label: str) -> str:
        return self._label_to_bucket.get(label, self.reject_label)

    def map_probs(self, p: Sequence[float]) -> dict[str, float]:
        """Reweight, aggregate (sum or max) into buckets, renormalise to sum 1."""
        if self._identity:
            s = sum(p)
            return dict(zip(self.names, [v / s for v in p], strict=True))
        m = self._zero.copy()
        if self._aggregation == "sum":
            for bi, ci, f in self._terms:
                m[bi] += p[ci] * f
        else:
            for bi, ci, f in self._terms:
                v = p[ci] * f
                if v > m[bi]:
                    m[bi] = v
        s = sum(m)
        if not s > 0 or not math.isfinite(s):
            u = 1.0 / len(m)
            return dict.fromkeys(self.names, u)
        return {n: v / s for n, v in zip(self.names, m, strict=True)}


class Taxonomy:
    """A validated taxonomy. Build with :func:`load_taxonomy`, :func:`taxonomy_from_obj` or
    :meth:`Taxonomy.identity`."""

    __slots__ = ("buckets", "reject_label", "aggregation", "reweight", "version", "source", "_colors", "_first")

    def __init__(
        self,
        buckets: Sequence[TaxonomyBucket],
        *,
        reject_label: str = MIXED_UNKNOWN,
        aggregation: str = "sum",
        reweight: Mapping[str, float] | None = None,
        version: str = "1",
        source: Path | None = None,
    ) -> None:
        self.buckets = tuple(buckets)
        self.reject_label = reject_label
        self.aggregation = aggregation
        self.reweight = dict(reweight or {})
        self.version = version
        self.source = source
        self._colors = {b.name: b.color for b in self.buckets}
        self._colors.setdefault(reject_label, REJECT_COLOR)
        first: dict[str, str] = {}
        for b in self.buckets:
            for lab in b.core_labels:
                first.setdefault(lab, b.name)
        self._first = first

    @classmethod
    def identity(cls) -> Taxonomy:
        """One bucket per core label, in the canonical label order."""
        return cls([TaxonomyBucket(lab, (lab,), DEFAULT_COLORS[lab]) for lab in LABEL_ORDER])

    @property
    def is_identity(self) -> bool:
        return (
            self.reject_label == MIXED_UNKNOWN
            and not self.reweight
            and all(b.core_labels == (b.name,) for b in self.buckets)
            and len(self.buckets) == len(CORE_LABEL_SET)
        )

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.buckets)

    def bucket_of(self, label: str) -> str:
        """The first bucket containing ``label``; the reject label for Mixed/Unknown."""
        if label == MIXED_UNKNOWN:
            return self.reject_label
        return self._first.get(label, self.reject_label)

    def color_of(self, mapped_label: str) -> str:
        return self._colors.get(mapped_label, OTHER_COLOR)

    def mapper(self, label_order: Sequence[str]) -> TaxonomyMapper:
        return TaxonomyMapper(self, label_order)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "version": self.version,
            "reject_label": self.reject_label,
            "aggregation": self.aggregation,
            "buckets": [
                {"name": b.name, "core_labels": list(b.core_labels), "color": b.color} for b in self.buckets
            ],
        }
        if self.reweight:
            out["reweight"] = dict(self.reweight)
        return out

    def __repr__(self) -> str:
        return f"Taxonomy({list(self.names)!r}, aggregation={self.aggregation!r})"


def _str(obj: Mapping[str, Any], key: str, default: str, path: Path | None) -> str:
    v = obj.get(key, default)
    if not isinstance(v, str) or not v.strip():
        raise ArtifactError(path, key, "must be a non-empty string")
    return v


def taxonomy_from_obj(obj: Any, *, path: Path | None = None) -> Taxonomy:
    """Validate a parsed taxonomy (the rules of spec 3.5) or raise ``ArtifactError``."""
    if not isinstance(obj, dict):
        raise ArtifactError(path, None, "taxonomy must be a table/object")
    version = obj.get("version", "1")
    if isinstance(version, int) and not isinstance(version, bool):
        version = str(version)
    if version != "1":
        raise ArtifactError(path, "version", f"unsupported taxonomy version {version!r} (expected \"1\")")
    reject_label = _str(obj, "reject_label", MIXED_UNKNOWN, path)
    aggregation = obj.get("aggregation", "sum")
    if aggregation not in AGGREGATIONS:
        raise ArtifactError(path, "aggregation", f"must be 'sum' or 'max', got {aggregation!r}")
    raw_buckets = obj.get("buckets")
    if not isinstance(raw_buckets, list) or not raw_buckets:
        raise ArtifactError(path, "buckets", "must be a non-empty list of buckets")
    if len(raw_buckets) > MAX_BUCKETS:
        raise ArtifactError(path, "buckets", f"at most {MAX_BUCKETS} buckets")
    buckets: list[TaxonomyBucket] = []
    seen: set[str] = set()
    for i, b in enumerate(raw_buckets):
        where = f"buckets[{i}]"
        if not isinstance(b, dict):
            raise ArtifactError(path, where, "must be a table/object")
        name = b.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ArtifactError(path, f"{where}.name", "must be a non-empty string")
        if len(name) > 64:
            raise ArtifactError(path, f"{where}.name", "longer than 64 characters")
        if name in seen:
            raise ArtifactError(path, f"{where}.name", f"duplicate bucket name {name!r}")
        if name == reject_label:
            raise ArtifactError(path, f"{where}.name", "must differ from reject_label")
        seen.add(name)
        labels = b.get("core_labels")
        if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
            raise ArtifactError(path, f"{where}.core_labels", "must be a non-empty list of core labels")
        for lab in labels:
            if lab not in CORE_LABEL_SET:
                raise ArtifactError(path, f"{where}.core_labels", f"{lab!r} is not a core label")
        if len(set(labels)) != len(labels):
            raise ArtifactError(path, f"{where}.core_labels", "lists a label twice")
        color = b.get("color")
        if color is None:
            color = DEFAULT_COLORS.get(labels[0], OTHER_COLOR)
        if not isinstance(color, str) or not _COLOR_RE.match(color):
            raise ArtifactError(path, f"{where}.color", f"must be #RRGGBB, got {color!r}")
        buckets.append(TaxonomyBucket(name, tuple(labels), color.upper()))
    covered = {lab for b in buckets for lab in b.core_labels}
    uncovered = tuple(lab for lab in LABEL_ORDER if lab not in covered)
    if uncovered:
        if OTHER_BUCKET in seen:
            idx = next(i for i, b in enumerate(buckets) if b.name == OTHER_BUCKET)
            ob = buckets.pop(idx)
            buckets.append(TaxonomyBucket(OTHER_BUCKET, ob.core_labels + uncovered, ob.color))
        else:
            if reject_label == OTHER_BUCKET:
                raise ArtifactError(path, "reject_label", "'Other' is needed for labels in no bucket")
            buckets.append(TaxonomyBucket(OTHER_BUCKET, uncovered, OTHER_COLOR))
    rw = obj.get("reweight")
    reweight: dict[str, float] = {}
    if rw is not None:
        if not isinstance(rw, dict):
            raise ArtifactError(path, "reweight", "must be a table of label = weight")
        for lab, w in rw.items():
            if lab not in CORE_LABEL_SET:
                raise ArtifactError(path, f"reweight.{lab}", "not a core label")
            f = finite_float(w) if isinstance(w, int | float) else None
            if f is None or f <= 0:
                raise ArtifactError(path, f"reweight.{lab}", "weight must be a finite number > 0")
            if f > 1e6:
                raise ArtifactError(path, f"reweight.{lab}", "weight is unreasonably large (> 1e6)")
            reweight[lab] = f
    return Taxonomy(
        buckets, reject_label=reject_label, aggregation=aggregation, reweight=reweight,
        version="1", source=path,
    )


def parse_taxonomy_text(text: str, *, fmt: str, path: Path | None = None) -> Taxonomy:
    """Parse ``text`` as ``toml``, ``json`` or ``yaml`` and validate it."""
    obj: Any
    if fmt == "toml":
        obj = loads_toml(text, path=path)
    elif fmt == "json":
        obj = loads_strict(text, path=path)
    elif fmt == "yaml":
        try:
            import yaml
        except ImportError:
            raise ArtifactError(path, None, "YAML taxonomies need PyYAML; use TOML or JSON") from None
        try:
            obj = yaml.safe_load(text)
        except (yaml.YAMLError, RecursionError, ValueError, TypeError) as exc:
            raise ArtifactError(path, None, f"not valid YAML ({' '.join(str(exc).split())[:160]})") from None
        # YAML admits NaN/inf and odd types; a JSON round trip keeps only plain data.
        try:
            obj = json.loads(json.dumps(obj, allow_nan=False, default=str))
        except (ValueError, RecursionError):
            raise ArtifactError(path, None, "contains non-finite numbers or numbers too large") from None
    else:
        raise ArtifactError(path, None, f"unknown taxonomy format {fmt!r}")
    return taxonomy_from_obj(obj, path=path)


def load_taxonomy(path: Path) -> Taxonomy:
    """Read a taxonomy file; the format follows the extension (.toml default, .json, .yaml)."""
    p = Path(path)
    try:
        text = read_bounded_bytes(p, MAX_TAXONOMY_BYTES).decode("utf-8")
    except UnicodeDecodeError:
        raise ArtifactError(p, None, "not UTF-8 text") from None
    suffix = p.suffix.lower()
    fmt = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}.get(suffix, "toml")
    return parse_taxonomy_text(text, fmt=fmt, path=p)
