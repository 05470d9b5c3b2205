"""LightGBM multiclass training into an immutable v2 bundle (spec 5.3, format 3.2).

Native categoricals (codes = index in the sorted vocabulary, as the engine encodes them),
rare categories (< 5 training occurrences) folded into ``__unknown__`` plus a seeded mask of
known values so unseen apps have a learned code, missing numerics as NaN, class-balanced sample
weights undone by a ``prior_correction`` vector (the engine multiplies it in before calibration),
early stopping on the calibration split, ``deterministic=True`` with a recorded seed: the same
rows and seed give the same ``model.txt`` byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import TaskclfError
from engine.frame import Frame
from engine.labels import LABEL_ORDER
from engine.metrics import classification_scores
from engine.schema import (
    CATEGORICAL_COLUMNS,
    FEATURE_BUILDER_VERSION,
    MODEL_COLUMNS,
    NUMERIC_MODEL_COLUMNS,
    PER_INSTALL_COLUMNS,
    SCHEMA_HASH_V2,
    SCHEMA_VERSION,
)
from trainer import TRAINER_VERSION
from trainer.splits import Split

UNKNOWN = "__unknown__"
CAT_POS = {c: MODEL_COLUMNS.index(c) for c in CATEGORICAL_COLUMNS}
NUM_POS = [MODEL_COLUMNS.index(c) for c in NUMERIC_MODEL_COLUMNS]


@dataclass(frozen=True)
class TrainParams:
    """Everything that shapes the model (recorded in metadata and in the run id)."""

    seed: int = 0
    num_leaves: int = 31
    learning_rate: float = 0.15
    max_rounds: int = 300
    early_stopping_rounds: int = 15
    bagging_fraction: float = 0.7
    feature_fraction: float = 0.8
    min_data_in_leaf: int = 40
    lambda_l2: float = 1.0
    max_bin: int = 63
    num_threads: int = 2
    rare_category_threshold: int = 5
    unknown_mask_rate: float = 0.05
    #: numeric columns the model never sees (recorded as the bundle's ``masked_columns``); None:
    #: the per-install columns when the training rows come from several users, else none
    masked_columns: tuple[str, ...] | None = None

    def lgb_params(self) -> dict[str, Any]:
        return {
            "objective": "multiclass",
            "num_class": len(LABEL_ORDER),
            "metric": "multi_logloss",
            "num_leaves": self.num_leaves,
            "learning_rate": self.learning_rate,
            "min_data_in_leaf": self.min_data_in_leaf,
            "lambda_l2": self.lambda_l2,
            "max_bin": self.max_bin,
            "max_cat_to_onehot": 4,
            "cat_smooth": 10.0,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1 if self.bagging_fraction < 1.0 else 0,
            "feature_fraction": self.feature_fraction,
            "deterministic": True,
            "force_row_wise": True,
            "seed": self.seed,
            "num_threads": self.num_threads,
            "verbose": -1,
        }


@dataclass
class TrainResult:
    bundle_dir: Path
    run_id: str
    dataset_hash: str
    best_iteration: int
    n_train_rows: int


def _column(frame: Frame, col: str, rows: np.ndarray | None) -> Any:
    values = frame.categorical[col]
    return values if rows is None else (values[i] for i in rows.tolist())


def fit_vocabularies(frame: Frame, threshold: int, rows: np.ndarray | None = None) -> dict[str, list[str]]:
    """Per categorical column: values seen >= ``threshold`` times (in ``rows``, default all),
    plus ``__unknown__``, sorted."""
    return vocab_from_counts(category_counts(frame, rows), threshold)


def category_counts(frame: Frame, rows: np.ndarray | None = None) -> dict[str, Counter[str]]:
    """How often each value of each categorical column occurs in ``rows`` (None excluded)."""
    return {col: Counter(v for v in _column(frame, col, rows) if v is not None) for col in CATEGORICAL_COLUMNS}


def vocab_from_counts(counts: dict[str, Counter[str]], threshold: int) -> dict[str, list[str]]:
    """Per column: values counted >= ``threshold`` times, plus ``__unknown__``, sorted (counts may
    be summed over partitions first: the vocabulary is the same as over the whole frame)."""
    vocab: dict[str, list[str]] = {}
    for col in CATEGORICAL_COLUMNS:
        keep = {v for v, n in counts[col].items() if n >= threshold}
        keep.add(UNKNOWN)
        vocab[col] = sorted(keep)
    return vocab


def encode_matrix(frame: Frame, vocab: dict[str, list[str]], *, mask_rate: float = 0.0,
                  seed: int = 0, masked: tuple[str, ...] = (), rows: np.ndarray | None = None,
                  stream: int | None = None) -> np.ndarray:
    """The (N, 38) float32 model matrix of ``rows`` (default all), encoded exactly as the engine
    encodes one row; LightGBM takes it as it is (no copy), and no row subset is copied first.

    ``mask_rate`` > 0 (training only) replaces that seeded fraction of known categorical values
    with ``__unknown__``; ``stream`` gives each partition of a distributed training its own draws.
    """
    n = len(frame) if rows is None else len(rows)
    x = np.empty((n, len(MODEL_COLUMNS)), dtype=np.float32)
    for j, pos in enumerate(NUM_POS):  # one column at a time: no (N, 35) temporary
        x[:, pos] = frame.numeric[:, j] if rows is None else frame.numeric[rows, j]
    for col in masked:
        x[:, MODEL_COLUMNS.index(col)] = np.nan
    rng = np.random.default_rng([seed, 7919] if stream is None else [seed, 7919, stream])
    for col in CATEGORICAL_COLUMNS:
        codes = {v: float(i) for i, v in enumerate(vocab[col])}
        unk = codes.get(UNKNOWN, np.nan)
        column = np.fromiter(
            (np.nan if v is None else codes.get(v, unk) for v in _column(frame, col, rows)),
            dtype=np.float64,
            count=n,
        )
        if mask_rate > 0:
            known = ~np.isnan(column) & (column != unk)
            mask = rng.random(n) < mask_rate
            column[known & mask] = unk
        x[:, CAT_POS[col]] = column
    return x


def masked_columns_for(params: TrainParams, users: list[str]) -> tuple[str, ...]:
    """What the model must not see: per-install keyed columns mean nothing across users (the
    title bucket of one install is noise on another), so a model of several users gets them as
    missing; a personal model may use them."""
    if params.masked_columns is not None:
        return params.masked_columns
    return PER_INSTALL_COLUMNS if len(set(users)) > 1 else ()


def class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Balanced weights N / (C_present * n_c) per class (absent classes get 0)."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    present = counts > 0
    w = np.zeros(n_classes)
    w[present] = len(y) / (present.sum() * counts[present])
    return w


def prior_correction(y: np.ndarray, n_classes: int) -> list[float]:
    """Undo balanced weighting: p(y|x) is proportional to p_w(y|x) * n_y (add-one smoothed)."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64) + 1.0
    pc = counts / counts.mean()
    return [round(float(v), 10) for v in pc]


def dataset_hash(x: np.ndarray, y: np.ndarray, users: list[str], starts: np.ndarray) -> str:
    """SHA-256 over the exact training rows (encoded, as float64) and labels; first 16 hex.
    Hashed in blocks of rows, so no copy of the whole matrix is made."""
    h = hashlib.sha256()
    for a in range(0, len(x), 65536):
        block = x[a:a + 65536].astype(np.float64)
        h.update(np.where(np.isnan(block), np.float64(-1.2345e300), block).tobytes())
    h.update(np.ascontiguousarray(y.astype(np.int64)).tobytes())
    h.update(np.ascontiguousarray(starts.astype(np.int64)).tobytes())
    h.update("\x00".join(users).encode("utf-8"))
    return h.hexdigest()[:16]


def make_run_id(ds_hash: str, params: TrainParams, now: datetime) -> str:
    digest = hashlib.sha256(
        (ds_hash + json.dumps(asdict(params), sort_keys=True) + str(params.seed)).encode()
    ).hexdigest()[:8]
    return f"{now.astimezone(UTC):%Y-%m-%d_%H%M%S}_{digest}"


def check_trainable(label_counts: np.ndarray) -> None:
    """Refuse, in one line, training rows a classifier cannot learn from (counts per class)."""
    if label_counts.sum() == 0:
        raise TaskclfError("no labelled buckets in the training days: label some time first "
                           "(taskclf labels add / import) or widen --from/--to")
    present = np.flatnonzero(label_counts)
    if len(present) < 2:
        raise TaskclfError(
            f"only one class ({LABEL_ORDER[int(present[0])]}) among the labelled buckets: "
            "a classifier needs at least two"
        )


def train(
    frame: Frame,
    split: Split,
    models_dir: Path,
    params: TrainParams = TrainParams(),
    *,
    now: datetime | None = None,
    data_provenance: str = "store",
    log: Any = None,
) -> TrainResult:
    """Train on the split's train days, early-stop on its calibration days, write the bundle."""
    import lightgbm as lgb

    labelled = frame.y >= 0
    tr_mask = labelled & frame.day_mask(split.part_days("train"))
    ca_mask = labelled & frame.day_mask(split.part_days("calibration"))
    te_mask = labelled & frame.day_mask(split.part_days("test"))
    tr_rows = np.flatnonzero(tr_mask)  # the rows are encoded in place, never copied as a Frame
    y_tr = frame.y[tr_rows]
    check_trainable(np.bincount(y_tr, minlength=len(LABEL_ORDER)))
    tr_users = [frame.user_ids[i] for i in tr_rows.tolist()]
    vocab = fit_vocabularies(frame, params.rare_category_threshold, rows=tr_rows)
    masked = masked_columns_for(params, tr_users)
    x_tr = encode_matrix(frame, vocab, mask_rate=params.unknown_mask_rate, seed=params.seed, masked=masked,
                         rows=tr_rows)
    c = len(LABEL_ORDER)
    w_cls = class_weights(y_tr, c)
    weights = w_cls[y_tr]
    ds_hash = dataset_hash(x_tr, y_tr, tr_users, frame.bucket_start[tr_rows])
    cat_idx = [CAT_POS[col] for col in CATEGORICAL_COLUMNS]
    lgb_params = params.lgb_params()
    dtrain = lgb.Dataset(x_tr, label=y_tr, weight=weights, feature_name=list(MODEL_COLUMNS),
                         categorical_feature=cat_idx, free_raw_data=True, params={"verbose": -1})
    del x_tr  # the Dataset drops the raw matrix once it has binned it
    callbacks: list[Any] = []
    valid_sets = []
    ca_rows = np.flatnonzero(ca_mask)
    if len(ca_rows) > 0:
        dvalid = lgb.Dataset(encode_matrix(frame, vocab, masked=masked, rows=ca_rows), label=frame.y[ca_rows],
                             weight=w_cls[frame.y[ca_rows]], reference=dtrain,
                             feature_name=list(MODEL_COLUMNS), categorical_feature=cat_idx)
        valid_sets = [dvalid]
        callbacks.append(lgb.early_stopping(params.early_stopping_rounds, verbose=False))
    if log:
        log(f"training LightGBM on {len(y_tr):,} labelled buckets ({len(ca_rows):,} for early stopping)")
    booster = lgb.train(lgb_params, dtrain, num_boost_round=params.max_rounds, valid_sets=valid_sets,
                        valid_names=["calibration"][: len(valid_sets)], callbacks=callbacks)
    best = int(booster.best_iteration or booster.current_iteration())
    pc = prior_correction(y_tr, c)

    # quick metrics of the raw model (argmax, no reject) on validation and test days
    def raw_scores(mask: np.ndarray) -> dict[str, Any] | None:
        rows = np.flatnonzero(mask)
        if len(rows) == 0:
            return None
        x_part = encode_matrix(frame, vocab, masked=masked, rows=rows)
        p = np.asarray(booster.predict(x_part, num_iteration=best)) * np.asarray(pc)
        return classification_scores(frame.y[rows], p.argmax(axis=1), LABEL_ORDER)

    trained = TrainedModel(model_text=booster.model_to_string(num_iteration=best), best_iteration=best,
                           lgb_params=lgb_params, vocab=vocab, masked=masked, prior_correction=pc,
                           dataset_hash=ds_hash, users=sorted(set(tr_users)), n_train_rows=int(len(y_tr)),
                           validation=raw_scores(ca_mask), test=raw_scores(te_mask))
    return write_trained_bundle(models_dir, trained, split, params, now=now, data_provenance=data_provenance)


@dataclass
class TrainedModel:
    """A fitted booster and what its bundle records, however it was trained."""

    model_text: str
    best_iteration: int
    lgb_params: dict[str, Any]
    vocab: dict[str, list[str]]
    masked: tuple[str, ...]
    prior_correction: list[float]
    dataset_hash: str
    users: list[str]
    n_train_rows: int
    #: raw-model scores (classification_scores) on the calibration and test days, or None
    validation: dict[str, Any] | None
    test: dict[str, Any] | None
    #: extra metadata keys (how it was trained, when not in this process)
    extra_metadata: dict[str, Any] = field(default_factory=dict)


def write_trained_bundle(models_dir: Path, trained: TrainedModel, split: Split, params: TrainParams, *,
                         now: datetime | None = None, data_provenance: str = "store") -> TrainResult:
    """The bundle of a trained model: metadata (split, prior correction, params), metrics, encoders."""
    model_bytes = trained.model_text.encode("utf-8")
    now = now or datetime.now(UTC)
    run_id = make_run_id(trained.dataset_hash, params, now)
    val, test = trained.validation, trained.test
    primary = test or val
    metrics: dict[str, Any] = {
        "label_order": list(LABEL_ORDER),
        "validation": val,
        "test": test,
        "note": "raw model argmax on the split's days, before calibration and reject; "
        "see the quality report for the calibrated, thresholded figures",
    }
    if primary is not None:
        metrics.update(
            macro_f1=round(primary["macro_f1"], 4),
            weighted_f1=round(primary["weighted_f1"], 4),
            confusion_matrix=primary["confusion_matrix"],
            per_class=primary["per_class"],
        )
    days_all = sorted({d for parts in split.days.values() for d in parts.get("train", [])})
    meta: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "schema_hash": SCHEMA_HASH_V2,
        "label_set": sorted(LABEL_ORDER),
        "label_order": list(LABEL_ORDER),
        "missing_values": "nan",
        "feature_builder_version": FEATURE_BUILDER_VERSION,
        "model_sha256": hashlib.sha256(model_bytes).hexdigest(),
        "params": {**trained.lgb_params, "num_boost_round": trained.best_iteration,
                   "class_weight_method": "balanced",
                   "unknown_category_freq_threshold": params.rare_category_threshold,
                   "unknown_category_mask_rate": params.unknown_mask_rate,
                   "early_stopping_rounds": params.early_stopping_rounds},
        "prior_correction": trained.prior_correction,
        **({"masked_columns": list(trained.masked)} if trained.masked else {}),
        "train_date_from": days_all[0].isoformat() if days_all else None,
        "train_date_to": days_all[-1].isoformat() if days_all else None,
        "dataset_hash": trained.dataset_hash,
        "created_at": now.astimezone(UTC).isoformat(),
        "data_provenance": data_provenance,
        "split": split.to_json(),
        "n_train_rows": trained.n_train_rows,
        "users": trained.users,
        "trainer_version": TRAINER_VERSION,
        **trained.extra_metadata,
    }
    bundle_dir = write_bundle(models_dir, run_id, model_bytes, meta, trained.vocab, metrics)
    return TrainResult(bundle_dir, bundle_dir.name, trained.dataset_hash, trained.best_iteration,
                       trained.n_train_rows)


def _confusion_csv(metrics: dict[str, Any]) -> str:
    labels = list(LABEL_ORDER)
    cm = metrics.get("confusion_matrix") or [[0] * len(labels) for _ in labels]
    lines = ["," + ",".join(labels)]
    for lab, row in zip(labels, cm, strict=True):
        lines.append(lab + "," + ",".join(str(int(v)) for v in row))
    return "\n".join(lines) + "\n"


def write_bundle(
    models_dir: Path,
    run_id: str,
    model_bytes: bytes,
    meta: dict[str, Any],
    vocab: dict[str, list[str]],
    metrics: dict[str, Any],
) -> Path:
    """Write into a temporary directory, check it passes the engine's load gate, rename."""
    from engine.bundle import load_bundle
    from engine.jsonio import dumps

    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{run_id}-", dir=models_dir))
    try:
        (tmp / "model.txt").write_bytes(model_bytes)
        (tmp / "metadata.json").write_text(dumps(meta), encoding="utf-8")
        (tmp / "categorical_encoders.json").write_text(dumps(vocab), encoding="utf-8")
        (tmp / "metrics.json").write_text(dumps(metrics), encoding="utf-8")
        (tmp / "confusion_matrix.csv").write_text(_confusion_csv(metrics), encoding="utf-8")
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o755)
        load_bundle(tmp)  # the engine's full gate: never leave a bundle it would refuse
        final = models_dir / run_id
        k = 1
        while final.exists():
            final = models_dir / f"{run_id}-{k}"
            k += 1
        os.rename(tmp, final)
        return final
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def parse_date(value: str, *, field: str) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise TaskclfError(f"{field}: not a date (YYYY-MM-DD): {value!r}") from None
