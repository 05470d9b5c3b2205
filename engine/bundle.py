"""Model bundles ``models/<run_id>/``: the load gate of spec 3.2, encoding and raw prediction.

A bundle is refused as a whole (one ``ArtifactError`` line naming the file and the field) unless
every check passes; a refused bundle never reaches the caller half-loaded. Categorical
vocabularies become dictionaries at load time so that encoding a row is a handful of dict
look-ups; the model runs in LightGBM's C library through :mod:`engine.lgbm_c`.
"""

from __future__ import annotations

import hashlib
import math
import operator
import re
from array import array
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import ArtifactError
from engine.jsonio import finite_float, read_bounded_bytes, read_json
from engine.labels import CORE_LABEL_SET
from engine.model_text import check_model_text
from engine.schema import (
    CATEGORICAL_COLUMNS,
    FEATURE_BUILDER_VERSION,
    KNOWN_SCHEMA_HASHES,
    MODEL_COLUMNS,
    SCHEMA_VERSION,
)

BUNDLE_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
UNKNOWN_CATEGORY = "__unknown__"
MAX_MODEL_BYTES = 64 * 1024 * 1024
MAX_METADATA_BYTES = 4 * 1024 * 1024
MISSING_VALUE_MODES = ("nan", "zero")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")

def read_model_text_bytes(path: Path) -> bytes:
    """model.txt's bytes: a regular file of at most ``MAX_MODEL_BYTES`` (a FIFO, a device or a
    link to ``/dev/zero`` is refused instead of read forever)."""
    return read_bounded_bytes(path, MAX_MODEL_BYTES)


def sha256_file(path: Path) -> str:
    """The sha256 of a model file, read through the same bound as loading it."""
    return hashlib.sha256(read_model_text_bytes(path)).hexdigest()


def _labels(value: Any, *, path: Path, field: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise ArtifactError(path, field, "must be a list of label names")
    if len(set(value)) != len(value):
        raise ArtifactError(path, field, "contains duplicate labels")
    if set(value) != CORE_LABEL_SET:
        extra = sorted(set(value) - CORE_LABEL_SET)
        missing = sorted(CORE_LABEL_SET - set(value))
        raise ArtifactError(
            path, field, f"not the v1 label set (unknown: {extra or 'none'}, missing: {missing or 'none'})"
        )
    return tuple(value)


def check_schema(meta: Mapping[str, Any], *, path: Path) -> None:
    """``schema_version`` must be v2 and ``schema_hash`` must recompute (others refused by name)."""
    version = meta.get("schema_version")
    if version is None:
        raise ArtifactError(path, "schema_version", "required field is missing")
    if not isinstance(version, str):
        raise ArtifactError(path, "schema_version", "must be a string")
    if version != SCHEMA_VERSION:
        raise ArtifactError(
            path, "schema_version", f"schema {version!r} is not supported (this version reads v2 only)"
        )
    h = meta.get("schema_hash")
    if h is None:
        raise ArtifactError(path, "schema_hash", "required field is missing")
    if h != KNOWN_SCHEMA_HASHES[SCHEMA_VERSION]:
        raise ArtifactError(
            path, "schema_hash", f"{h!r} does not match the v2 schema hash {KNOWN_SCHEMA_HASHES['v2']}"
        )


class ModelBundle:
    """A loaded, validated bundle. Immutable after construction; cheap to share read-only."""

    __slots__ = (
        "run_id", "path", "metadata", "label_order", "label_set", "missing_values",
        "model_sha256", "declared_sha256", "feature_names", "encoders", "split",
        "prior_correction", "feature_builder_version", "booster", "n_classes", "_names",
        "_missing", "_getter", "_n_features", "_zero_missing", "_cat_plan", "masked_columns",
        "_masked_pos",
    )

    def __init__(
        self,
        *,
        run_id: str,
        path: Path,
        metadata: dict[str, Any],
        label_order: tuple[str, ...],
        missing_values: str,
        model_sha256: str,
        declared_sha256: str | None,
        vocabularies: dict[str, list[str]],
        prior_correction: tuple[float, ...] | None,
        feature_builder_version: int | None,
        booster: Any,
        masked_columns: tuple[str, ...] = (),
    ) -> None:
        self.run_id = run_id
        self.path = path
        self.metadata = metadata
        self.label_order = label_order
        self.label_set = tuple(metadata.get("label_set", label_order))
        self.missing_values = missing_values
        self.model_sha256 = model_sha256
        self.declared_sha256 = declared_sha256
        self.feature_names: tuple[str, ...] = tuple(booster.feature_names)
        self.split = metadata.get("split")
        self.prior_correction = prior_correction
        self.feature_builder_version = feature_builder_version
        self.booster = booster
        self.n_classes = len(label_order)
        self._missing = math.nan if missing_values == "nan" else 0.0
        miss = self._missing
        self.encoders: dict[str, dict[str, float]] = {}
        for col, vocab in vocabularies.items():
            self.encoders[col] = {v: float(i) for i, v in enumerate(vocab)}
        self._names = self.feature_names
        self._getter = operator.itemgetter(*self.feature_names)
        self._n_features = len(self.feature_names)
        self._zero_missing = missing_values == "zero"
        self._cat_plan = tuple(
            (i, self.encoders[name], self.encoders[name].get(UNKNOWN_CATEGORY, miss))
            for i, name in enumerate(self.feature_names)
            if name in self.encoders
        )
        self.masked_columns = masked_columns
        self._masked_pos = tuple(self.feature_names.index(c) for c in masked_columns)

    # -- encoding -------------------------------------------------------------------------
    def encode_array(self, features: Mapping[str, Any]) -> array:
        """The model's input row (``array('d')``, the booster's feature order).

        Never raises for missing keys, ``None``, NaN, unseen categories or wrong types: those
        become the bundle's missing value (or the ``__unknown__`` code for categories). The
        common case (numbers, ``None`` and strings where they belong) stays in C-level loops.
        """
        try:  # one C call when every column is present (the feature builder's rows)
            vals: list[Any] = list(self._getter(features))
        except (KeyError, TypeError):
            vals = list(map(features.get, self._names))
        miss = self._missing
        for i, enc, unseen in self._cat_plan:
            v = vals[i]
            if type(v) is str:
                vals[i] = enc.get(v, unseen)
            elif v is None or (type(v) is float and v != v):
                vals[i] = miss
            else:
                vals[i] = unseen
        for i in self._masked_pos:
            vals[i] = miss
        if None in vals:
            vals = [miss if v is None else v for v in vals]
        try:
            arr = array("d", vals)
        except TypeError:  # a wrong type in a numeric column: treat it as missing
            arr = array("d", [_to_float(v, miss) for v in vals])
        if self._zero_missing:
            s = sum(arr)
            if s != s:  # a NaN (or inf - inf) somewhere: missing numerics reach the model as 0.0
                arr = array("d", [miss if v != v else v for v in arr])
        return arr

    def encode_list(self, features: Mapping[str, Any]) -> list[float]:
        """The model's input row as Python floats."""
        return self.encode_array(features).tolist()

    def encode(self, features: Mapping[str, Any]) -> np.ndarray:
        """The 38-float model row (a fresh numpy array)."""
        return np.array(self.encode_array(features), dtype=np.float64)

    # -- prediction -----------------------------------------------------------------------
    def predict_raw(self, x: np.ndarray) -> np.ndarray:
        """Raw class probabilities in ``label_order`` for one row (C,) or a batch (N, C).

        ``prior_correction`` (when the bundle has one) is multiplied in and rows renormalised:
        calibrators are fitted on, and applied to, these corrected probabilities.
        """
        arr = np.asarray(x, dtype=np.float64)
        if arr.ndim == 1:
            p = self.booster.predict_row(arr)
        elif arr.ndim == 2:
            p = self.booster.predict_matrix(arr)
        else:
            raise ValueError(f"expected a row or a batch of rows, got shape {arr.shape}")
        if self.prior_correction is not None:
            p = p * np.asarray(self.prior_correction)
            p = p / p.sum(axis=-1, keepdims=True)
        return p

    def predict_array(self, row: array) -> list[float]:
        """Hot path: one encoded row -> raw probabilities (Python floats, ``label_order``)."""
        if len(row) != self._n_features:
            raise ValueError(f"expected {self._n_features} values, got {len(row)}")
        p = self.booster.predict_row_into(row.buffer_info()[0]).tolist()
        pc = self.prior_correction
        if pc is not None:
            p = [a * b for a, b in zip(p, pc, strict=True)]
            s = sum(p)
            p = [a / s for a in p]
        return p

    def predict_list(self, values: Sequence[float]) -> list[float]:
        """One encoded row (any float sequence) -> raw probabilities (Python floats)."""
        return self.predict_array(array("d", values))

    def predict_features_batch(self, rows: Sequence[Mapping[str, Any]]) -> list[list[float]]:
        """Stages 2-3 for many rows in one batch call (same numbers as one row at a time)."""
        if not rows:
            return []
        from engine.encode_batch import encode_matrix

        out: list[list[float]] = self.booster.predict_matrix(encode_matrix(self, rows)).tolist()
        pc = self.prior_correction
        if pc is not None:
            fixed = []
            for p in out:
                q = [a * b for a, b in zip(p, pc, strict=True)]
                s = sum(q)
                fixed.append([a / s for a in q])
            out = fixed
        return out

    def predict_features(self, features: Mapping[str, Any]) -> list[float]:
        """Stages 2-3 of the pipeline for one feature row."""
        return self.predict_array(self.encode_array(features))

    def __repr__(self) -> str:
        return f"ModelBundle({self.run_id!r}, missing_values={self.missing_values!r})"


def _to_float(v: Any, miss: float) -> float:
    """Numbers (and bools) as floats; anything else, and NaN, as the missing value."""
    if isinstance(v, int | float) or (hasattr(v, "__float__") and not isinstance(v, str | bytes)):
        try:
            f = float(v)
        except (TypeError, ValueError, OverflowError):
            return miss
        return f if f == f else miss
    return miss


def _vocabularies(path: Path) -> dict[str, list[str]]:
    obj = read_json(path, max_bytes=MAX_METADATA_BYTES)
    if not isinstance(obj, dict):
        raise ArtifactError(path, None, "must be a JSON object {column: [values...]}")
    out: dict[str, list[str]] = {}
    for col in CATEGORICAL_COLUMNS:
        if col not in obj:
            raise ArtifactError(path, col, "categorical column is missing")
        vocab = obj[col]
        if not isinstance(vocab, list) or not all(isinstance(v, str) for v in vocab):
            raise ArtifactError(path, col, "must be a list of strings")
        if len(set(vocab)) != len(vocab):
            raise ArtifactError(path, col, "vocabulary contains duplicates")
        out[col] = sorted(vocab)  # the code is always the index in the sorted list
    return out


def _optional_sha(meta: Mapping[str, Any], *, path: Path) -> str | None:
    v = meta.get("model_sha256")
    if v is None:
        return None
    if not isinstance(v, str) or not _HEX64.match(v):
        raise ArtifactError(path, "model_sha256", "must be 64 lowercase hex characters")
    return v


def _prior_correction(meta: Mapping[str, Any], n: int, *, path: Path) -> tuple[float, ...] | None:
    v = meta.get("prior_correction")
    if v is None:
        return None
    if not isinstance(v, list) or len(v) != n:
        raise ArtifactError(path, "prior_correction", f"must be a list of {n} positive numbers")
    out = []
    for i, x in enumerate(v):
        f = finite_float(x) if isinstance(x, int | float) else None
        if f is None or f <= 0:
            raise ArtifactError(path, f"prior_correction[{i}]", "must be a finite number > 0")
        out.append(f)
    return tuple(out)


def _masked_columns(meta: Mapping[str, Any], *, path: Path) -> tuple[str, ...]:
    """``masked_columns``: model columns that always reach this model as missing."""
    v = meta.get("masked_columns")
    if v is None:
        return ()
    if not isinstance(v, list) or not all(isinstance(c, str) for c in v):
        raise ArtifactError(path, "masked_columns", "must be a list of column names")
    for c in v:
        if c not in MODEL_COLUMNS or c in CATEGORICAL_COLUMNS:
            raise ArtifactError(path, "masked_columns", f"{c!r} is not a numeric model column")
    return tuple(dict.fromkeys(v))


def read_metadata(bundle_dir: Path) -> dict[str, Any]:
    meta_path = bundle_dir / "metadata.json"
    meta = read_json(meta_path, max_bytes=MAX_METADATA_BYTES)
    if not isinstance(meta, dict):
        raise ArtifactError(meta_path, None, "must be a JSON object")
    return meta


def load_bundle(path: Path) -> ModelBundle:
    """Load ``path`` through the full gate of spec 3.2, or raise ``ArtifactError``.

    model.txt goes through :func:`engine.model_text.check_model_text` first (everything
    LightGBM's parser reads), so a malformed model is refused before LightGBM's C code can
    abort or hang: every command that loads a bundle in-process relies on this.
    """
    bundle_dir = Path(path)
    if not bundle_dir.is_dir():
        raise ArtifactError(bundle_dir, None, "model bundle directory not found")
    run_id = bundle_dir.resolve().name
    if not BUNDLE_ID_RE.match(run_id):
        raise ArtifactError(bundle_dir, None, "bundle directory name must be made of [A-Za-z0-9._-]")
    meta_path = bundle_dir / "metadata.json"
    meta = read_metadata(bundle_dir)
    check_schema(meta, path=meta_path)
    if "label_set" not in meta:
        raise ArtifactError(meta_path, "label_set", "required field is missing")
    label_set = _labels(meta["label_set"], path=meta_path, field="label_set")
    if meta.get("label_order") is None:
        label_order = tuple(sorted(label_set))
    else:
        label_order = _labels(meta["label_order"], path=meta_path, field="label_order")
    mv = meta.get("missing_values", "zero")
    if mv is None:
        mv = "zero"
    if mv not in MISSING_VALUE_MODES:
        raise ArtifactError(meta_path, "missing_values", f"must be 'nan' or 'zero', got {mv!r}")
    fbv = meta.get("feature_builder_version")
    if fbv is not None:
        if isinstance(fbv, bool) or not isinstance(fbv, int):
            raise ArtifactError(meta_path, "feature_builder_version", "must be an integer")
        if fbv != FEATURE_BUILDER_VERSION:
            raise ArtifactError(
                meta_path,
                "feature_builder_version",
                f"bundle was trained on feature builder {fbv}, this version builds "
                f"{FEATURE_BUILDER_VERSION}: retrain the model",
            )
    split = meta.get("split")
    if split is not None and not isinstance(split, dict):
        raise ArtifactError(meta_path, "split", "must be an object")
    declared = _optional_sha(meta, path=meta_path)
    prior = _prior_correction(meta, len(label_order), path=meta_path)
    masked = _masked_columns(meta, path=meta_path)

    model_path = bundle_dir / "model.txt"
    data = read_model_text_bytes(model_path)
    actual = hashlib.sha256(data).hexdigest()
    if declared is not None and declared != actual:
        raise ArtifactError(meta_path, "model_sha256", "does not match the sha256 of model.txt")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ArtifactError(model_path, None, "not UTF-8 text") from None
    vocabularies = _vocabularies(bundle_dir / "categorical_encoders.json")
    check_model_text(text, path=model_path)
    from engine.lgbm_c import CBooster, LightGBMError

    try:
        booster = CBooster(text)
    except LightGBMError as exc:
        raise ArtifactError(model_path, None, str(exc)) from None
    try:
        if booster.num_feature != len(MODEL_COLUMNS):
            raise ArtifactError(
                model_path, "num_feature", f"{booster.num_feature} features, expected {len(MODEL_COLUMNS)}"
            )
        if tuple(booster.feature_names) != MODEL_COLUMNS:
            raise ArtifactError(
                model_path, "feature_names", "not the 38 v2 model columns in the order of spec 2.5"
            )
        if booster.num_class != len(label_order):
            raise ArtifactError(
                model_path, "num_class", f"{booster.num_class} classes, expected {len(label_order)}"
            )
    except ArtifactError:
        booster.close()
        raise
    return ModelBundle(
        run_id=run_id,
        path=bundle_dir.resolve(),
        metadata=meta,
        label_order=label_order,
        missing_values=mv,
        model_sha256=actual,
        declared_sha256=declared,
        vocabularies=vocabularies,
        prior_correction=prior,
        feature_builder_version=fbv,
        booster=booster,
        masked_columns=masked,
    )
