"""Pooled training on a Dask cluster with LightGBM's own Dask interface, partitioned by user.

Each exported user-month file is one partition, read, checked and encoded on a worker: the
client reads only the manifests and small per-partition summaries (labelled days, label and
category counts, loss curves, confusion matrices), so no process ever holds every row. The
steps are those of the in-process trainer (``trainer.train_lgbm``): the same per-user split,
the same vocabulary rule (counts summed over partitions give the vocabulary of the whole
frame), the same class weights and prior correction, the same parameters and the same bundle.

Two differences, both recorded in the bundle's ``training`` metadata:
- LightGBM evaluates a validation set per worker, so its early stopping would stop workers at
  different rounds. The cluster trains in fits of ``2 x early_stopping_rounds`` (at least 30)
  rounds, each continuing the previous model (``init_model``, with the bagging seed moved on);
  between fits the weighted multi-logloss on the calibration days is summed from per-worker
  loss curves (computed where the calibration rows live), and training stops by the in-process
  rule: the lowest loss so far, once ``early_stopping_rounds`` rounds have not improved on it.
- LightGBM's Dask classifier label-encodes each worker's rows on their own, so a worker
  missing a class would disagree on the model's shape: each partition carries one
  zero-weight, all-missing row per class (no gradient, no effect on the fit).

The dask packages come with the ``[team]`` extra; the agent and the engine never import them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import TaskclfError
from engine.frame import Frame
from engine.labels import LABEL_ORDER
from engine.metrics import classification_scores, confusion
from engine.schema import CATEGORICAL_COLUMNS, MODEL_COLUMNS
from trainer.dataset_read import DatasetFile, list_dataset_files, read_dataset_file
from trainer.splits import labelled_user_days, split_days
from trainer.train_lgbm import (
    CAT_POS,
    TrainedModel,
    TrainParams,
    TrainResult,
    category_counts,
    check_trainable,
    class_weights,
    dataset_hash,
    encode_matrix,
    masked_columns_for,
    prior_correction,
    vocab_from_counts,
    write_trained_bundle,
)

N_CLASSES = len(LABEL_ORDER)
LOSS_FLOOR = 1e-15  # LightGBM's multi_logloss floor
_LIGHTGBM_LOG = logging.getLogger("taskclf.lightgbm")
_LIGHTGBM_LOG.setLevel(logging.ERROR)


def _need_dask() -> None:
    try:
        import dask.array  # noqa: F401
        import distributed  # noqa: F401
        import lightgbm.dask  # noqa: F401
    except ImportError:
        raise TaskclfError("--dask-scheduler / --dask-workers need dask[distributed]: "
                           "install taskclf[team]") from None


@contextmanager
def dask_client(*, scheduler: str | None = None, workers: int | None = None,
                timeout: float = 30.0) -> Iterator[Any]:
    """A client of the scheduler at ``scheduler``, or of a local cluster of ``workers`` processes.

    An unreachable or malformed scheduler address is one line, not a traceback.
    """
    _need_dask()
    import lightgbm as lgb
    from distributed import Client, LocalCluster

    # the cluster's chatter (worker start and stop, port search) stays out of the command's output
    for name in ("distributed", "tornado"):
        logging.getLogger(name).setLevel(logging.ERROR)
    lgb.register_logger(_LIGHTGBM_LOG)

    if scheduler:
        try:
            client = Client(scheduler, timeout=timeout, set_as_default=True)
        except Exception as exc:  # distributed raises OSError, TimeoutError, ValueError, ...
            raise TaskclfError(f"--dask-scheduler {scheduler}: cannot reach the Dask scheduler within "
                               f"{timeout:g} s ({type(exc).__name__})") from None
        try:
            try:
                client.wait_for_workers(1, timeout=timeout)
            except TimeoutError:
                raise TaskclfError(f"--dask-scheduler {scheduler}: no Dask worker joined the scheduler within "
                                   f"{timeout:g} s (start one with: dask worker {scheduler})") from None
            yield client
        finally:
            client.close()
        return
    n = max(1, int(workers or 1))
    threads = max(1, (os.cpu_count() or 1) // n)
    cluster = LocalCluster(n_workers=n, threads_per_worker=threads, processes=True,
                           dashboard_address=None, silence_logs=logging.ERROR)
    try:
        with Client(cluster, set_as_default=True, timeout=timeout) as client:
            yield client
    finally:
        cluster.close()


# -- what runs on the workers (one call per partition unless said otherwise) ---------------------


def _read(f: DatasetFile, start: date | None, end: date | None) -> Frame:
    """The partition's rows; a file this worker cannot read is one line naming the file and the
    worker (the usual cause: the dataset folder is not at the same path on the worker)."""
    try:
        return read_dataset_file(f, start=start, end=end)
    except TaskclfError as exc:
        from distributed import get_worker

        # a plain TaskclfError: it pickles back to the client as it is
        raise TaskclfError(f"{exc} (read on Dask worker {get_worker().address}: every worker must see "
                           "the --dataset folders at the same paths as this machine)") from None


def _part_rows(frame: Frame, days: dict[str, set[int]]) -> Frame:
    return frame.take(np.flatnonzero((frame.y >= 0) & frame.day_mask(days)))


def _train_summary(frame: Frame, train_days: dict[str, set[int]]) -> dict[str, Any]:
    tr = _part_rows(frame, train_days)
    return {"rows": len(tr), "labels": np.bincount(tr.y, minlength=N_CLASSES),
            "categories": category_counts(tr), "users": tr.users()}


def _encode(frame: Frame, index: int, parts: dict[str, dict[str, set[int]]], vocab: dict[str, list[str]],
            masked: tuple[str, ...], w_cls: np.ndarray, params: TrainParams) -> dict[str, Any]:
    """The partition's train rows (padded, weighted), calibration rows and test rows, encoded."""
    tr = _part_rows(frame, parts["train"])
    x_tr = encode_matrix(tr, vocab, mask_rate=params.unknown_mask_rate, seed=params.seed, masked=masked,
                         stream=index)
    out: dict[str, Any] = {"hash": dataset_hash(x_tr, tr.y, tr.user_ids, tr.bucket_start) if len(tr) else ""}
    pad_x = np.full((N_CLASSES, len(MODEL_COLUMNS)), np.nan, dtype=x_tr.dtype)
    out["x_tr"] = np.concatenate([x_tr, pad_x])
    out["y_tr"] = np.concatenate([tr.y, np.arange(N_CLASSES)])
    out["w_tr"] = np.concatenate([w_cls[tr.y], np.zeros(N_CLASSES)])
    for key, part in (("ca", "calibration"), ("te", "test")):
        rows = _part_rows(frame, parts[part])
        out[f"x_{key}"] = encode_matrix(rows, vocab, masked=masked)
        out[f"y_{key}"] = rows.y
    return out


def _field(part: dict[str, Any], key: str) -> Any:
    return part[key]


def _loss_curve(model_text: str, parts: list[dict[str, Any]], w_cls: np.ndarray) -> tuple[np.ndarray, float]:
    """Per boosting round: the summed class-weighted log loss of these calibration rows, and
    their weight (one call per worker, over the partitions it holds)."""
    import lightgbm as lgb

    x = np.concatenate([p["x_ca"] for p in parts])
    y = np.concatenate([p["y_ca"] for p in parts]).astype(np.int64)
    booster = lgb.Booster(model_str=model_text)
    rounds = booster.current_iteration()
    if len(y) == 0:
        return np.zeros(rounds), 0.0
    w = w_cls[y]
    raw = np.zeros((len(y), N_CLASSES))
    losses = np.empty(rounds)
    rows = np.arange(len(y))
    for k in range(rounds):  # raw scores add up round by round: one tree pass in all
        raw += booster.predict(x, raw_score=True, start_iteration=k, num_iteration=1)
        z = raw - raw.max(axis=1, keepdims=True)
        p_y = np.exp(z[rows, y]) / np.exp(z).sum(axis=1)
        losses[k] = float(np.sum(w * -np.log(np.maximum(p_y, LOSS_FLOOR))))
    return losses, float(w.sum())


def _confusions(model_text: str, parts: list[dict[str, Any]], best: int, pc: list[float]) -> dict[str, np.ndarray]:
    """Confusion matrices of the raw model (argmax after prior correction) on calibration and test
    rows (one call per worker)."""
    import lightgbm as lgb

    booster = lgb.Booster(model_str=model_text)
    out: dict[str, np.ndarray] = {}
    for key in ("ca", "te"):
        x = np.concatenate([p[f"x_{key}"] for p in parts])
        y = np.concatenate([p[f"y_{key}"] for p in parts]).astype(np.int64)
        if len(y) == 0:
            out[key] = np.zeros((N_CLASSES, N_CLASSES + 1), dtype=np.int64)
            continue
        p = np.asarray(booster.predict(x, num_iteration=best)) * np.asarray(pc)
        out[key] = confusion(y, p.argmax(axis=1), N_CLASSES)
    return out


# -- the client's side --------------------------------------------------------------------------


def best_iteration(losses: np.ndarray, patience: int) -> int:
    """The round (1-based) LightGBM's early stopping keeps for this validation-loss curve: the
    lowest loss so far, once ``patience`` rounds have not improved on it (or the curve ends)."""
    if len(losses) == 0:
        return 0
    best_i, best_loss = 0, float(losses[0])
    for i in range(1, len(losses)):
        if losses[i] < best_loss:
            best_i, best_loss = i, float(losses[i])
        elif i - best_i >= patience:
            break
    return best_i + 1


_NETWORK_PARAM = re.compile(r"^\[(machines|local_listen_port|num_machines|time_out|machine_list_filename): [^\n]*\]\n",
                            re.MULTILINE)


def without_network_params(model_text: str) -> str:
    """The model text without the cluster's network settings LightGBM records among its
    parameters (hosts and ports of that run's workers): they mean nothing to the engine, would
    tell every tray that installs the bundle the cluster's addresses, and would make two runs of
    the same training differ in bytes."""
    return _NETWORK_PARAM.sub("", model_text)


def scores_from_confusion(cm: np.ndarray) -> dict[str, Any] | None:
    """classification_scores of the (true, predicted) pairs a confusion matrix counts."""
    if cm.sum() == 0:
        return None
    t, p = np.nonzero(cm[:, :N_CLASSES])
    counts = cm[t, p]
    return classification_scores(np.repeat(t, counts), np.repeat(p, counts), LABEL_ORDER)


class OrderedWhoHas:
    """The client as lightgbm.dask sees it: ``who_has`` lists the futures in the order given.

    ``Client.who_has`` goes through a set of keys, and lightgbm.dask takes its order for two
    things that change the model: the rank of each worker in LightGBM's network (rank r finds the
    histogram bins of its share of the features from its own rows) and the order in which a
    worker concatenates its partitions. In the order given, partition 0's worker is rank 0, and so
    on, and each worker's rows are in partition order: the same placement trains the same model.
    """

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def who_has(self, futures: Any = None, **kwargs: Any) -> dict[Any, Any]:
        found = self._client.who_has(futures, **kwargs)
        if futures is None:
            return dict(found)
        keys = dict.fromkeys(f.key for f in self._client.futures_of(futures))
        return {k: found[k] for k in keys if k in found}


def _by_worker(client: Any, futures: list[Any], order: Sequence[str]) -> dict[str, list[Any]]:
    """The futures grouped by a worker holding them (the first in ``order`` when several do),
    groups and members in a fixed order, so sums over workers add up in the same order."""
    who = client.who_has(futures)
    rank = {addr: i for i, addr in enumerate(order)}
    out: dict[str, list[Any]] = {}
    for fut in futures:
        holders = sorted(who.get(fut.key) or ("",), key=lambda a: (rank.get(a, len(rank)), a))
        out.setdefault(holders[0], []).append(fut)
    return dict(sorted(out.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))


def _per_worker(client: Any, fn: Callable[..., Any], futures: list[Any], order: Sequence[str],
                *args: Any) -> list[Any]:
    """``fn(args[0], [the partitions it holds], *args[1:])`` once per worker."""
    calls = []
    for worker, futs in _by_worker(client, futures, order).items():
        where = {"workers": [worker], "allow_other_workers": True} if worker else {}
        calls.append(client.submit(fn, args[0], futs, *args[1:], pure=False, **where))
    return list(client.gather(calls))


def train_on_cluster(client: Any, files: Sequence[DatasetFile], models_dir: Path, params: TrainParams, *,
                     holdout_users: int = 0, start: date | None = None, end: date | None = None,
                     log: Callable[[str], None] | None = None) -> TrainResult:
    """Train the pooled model of ``files`` on the cluster behind ``client``; write its bundle."""
    from dask import array as da
    from lightgbm.dask import DaskLGBMClassifier

    say = log or (lambda _msg: None)
    workers = client.scheduler_info(n_workers=-1).get("workers", {})
    if not workers:
        raise TaskclfError("the Dask cluster has no workers")
    # partition i trains on worker i mod n (workers ordered by name, then address): the same data
    # on the same cluster shape gives the same model, whatever order the workers joined in
    order = sorted(workers, key=lambda addr: (str(workers[addr].get("name")), addr))
    n_workers = len(order)

    def home_of(i: int) -> dict[str, Any]:
        # reading and encoding prefer the partition's worker but may move (a worker leaving
        # does not stall them); the training rows are then pinned there (see ``column``)
        return {"workers": [order[i % n_workers]], "allow_other_workers": True, "pure": False}

    say(f"reading {len(files)} user-month partition(s) on {n_workers} Dask worker(s)")
    frames = [client.submit(_read, f, start, end, **home_of(i)) for i, f in enumerate(files)]
    user_days: dict[str, set[date]] = {}
    for part_days in client.gather(client.map(labelled_user_days, frames)):
        for user, days in part_days.items():
            user_days.setdefault(user, set()).update(days)
    if not user_days:
        raise TaskclfError("no labelled buckets in the datasets' days: widen --from/--to")
    split = split_days(user_days, holdout_users=holdout_users, seed=params.seed)
    parts = client.scatter({p: split.part_days(p) for p in ("train", "calibration", "test")}, broadcast=True)
    summaries = client.gather(client.map(_train_summary, frames, train_days=parts["train"]))
    labels = np.sum([s["labels"] for s in summaries], axis=0)
    check_trainable(labels)
    counts: dict[str, Counter[str]] = {c: Counter() for c in CATEGORICAL_COLUMNS}
    for s in summaries:
        for col in CATEGORICAL_COLUMNS:
            counts[col].update(s["categories"][col])
    vocab = vocab_from_counts(counts, params.rare_category_threshold)
    users = sorted({u for s in summaries for u in s["users"]})
    masked = masked_columns_for(params, users)
    w_cls = class_weights(np.repeat(np.arange(N_CLASSES), labels), N_CLASSES)
    encoded = [client.submit(_encode, fr, i, parts, vocab, masked, w_cls, params, **home_of(i))
               for i, fr in enumerate(frames)]
    del frames  # the workers drop the decoded rows once encoded
    n_rows = [int(s["rows"]) for s in summaries]
    trained_parts = [(i, fut, n) for i, (fut, n) in enumerate(zip(encoded, n_rows, strict=True)) if n > 0]
    pad = N_CLASSES

    def column(key: str, shape: Callable[[int], tuple[int, ...]], dtype: Any) -> Any:
        # each chunk computed on its partition's worker and not allowed elsewhere (the scheduler
        # would otherwise place it by load, and work stealing could move it): where the rows
        # train is then a function of the partition index and the workers' names alone
        return da.concatenate([
            da.from_delayed(client.submit(_field, fut, key, workers=[order[i % n_workers]],
                                          allow_other_workers=False, pure=False),
                            shape=shape(n + pad), dtype=dtype)
            for i, fut, n in trained_parts])

    x = column("x_tr", lambda n: (n, len(MODEL_COLUMNS)), np.float32)  # encode_matrix's dtype
    y = column("y_tr", lambda n: (n,), np.int64)
    w = column("w_tr", lambda n: (n,), np.float64)
    lp = params.lgb_params()
    cat_idx = [CAT_POS[c] for c in CATEGORICAL_COLUMNS]
    say(f"training LightGBM on {int(labels.sum()):,} labelled buckets of {len(users)} user(s) "
        f"with lightgbm.dask ({len(trained_parts)} partitions)")
    has_calibration = split.sizes()["calibration"] > 0
    chunk = max(2 * params.early_stopping_rounds, 30) if has_calibration else params.max_rounds
    booster: Any = None
    best = 0
    ordered_client: Any = OrderedWhoHas(client)  # stands in for the Client it wraps
    while True:
        done = booster.current_iteration() if booster is not None else 0
        model = DaskLGBMClassifier(
            client=ordered_client, n_estimators=min(chunk, params.max_rounds - done), num_leaves=lp["num_leaves"],
            learning_rate=lp["learning_rate"], min_child_samples=lp["min_data_in_leaf"],
            reg_lambda=lp["lambda_l2"], subsample=lp["bagging_fraction"], subsample_freq=lp["bagging_freq"],
            colsample_bytree=lp["feature_fraction"], random_state=params.seed + done, objective="multiclass",
            max_bin=lp["max_bin"], max_cat_to_onehot=lp["max_cat_to_onehot"], cat_smooth=lp["cat_smooth"],
            deterministic=True, force_row_wise=True, verbose=-1,
        )
        with warnings.catch_warnings():  # the wrapper's own n_jobs, replaced by each worker's threads
            warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored")
            model.fit(x, y, sample_weight=w, feature_name=list(MODEL_COLUMNS), categorical_feature=cat_idx,
                      init_model=booster)
        booster = model.booster_
        rounds = int(booster.current_iteration())
        if not has_calibration:
            best = rounds
            break
        text_future = client.scatter(booster.model_to_string(), broadcast=True)
        curves = _per_worker(client, _loss_curve, encoded, order, text_future, w_cls)
        losses = np.sum([c for c, _ in curves], axis=0) / sum(weight for _, weight in curves)
        best = best_iteration(losses, params.early_stopping_rounds)
        if rounds - best >= params.early_stopping_rounds or rounds >= params.max_rounds:
            break
        say(f"  {rounds} rounds, best so far {best}: continuing")
    pc = prior_correction(np.repeat(np.arange(N_CLASSES), labels), N_CLASSES)
    text_future = client.scatter(booster.model_to_string(), broadcast=True)
    cms = _per_worker(client, _confusions, encoded, order, text_future, best, pc)
    hashes = client.gather([client.submit(_field, fut, "hash", pure=False) for fut in encoded])
    ds_hash = hashlib.sha256("\n".join(hashes).encode()).hexdigest()[:16]
    trained = TrainedModel(
        model_text=without_network_params(booster.model_to_string(num_iteration=best)), best_iteration=best,
        lgb_params=lp, vocab=vocab, masked=masked, prior_correction=pc, dataset_hash=ds_hash,
        users=users, n_train_rows=int(labels.sum()),
        validation=scores_from_confusion(np.sum([c["ca"] for c in cms], axis=0)),
        test=scores_from_confusion(np.sum([c["te"] for c in cms], axis=0)),
        extra_metadata={"training": {
            "engine": "lightgbm.dask", "workers": n_workers, "partitions": len(files),
            "rounds_trained": rounds, "rounds_per_fit": chunk,
            "early_stopping": "on the calibration days between fits of "
                              f"{chunk} rounds (weighted multi_logloss, patience {params.early_stopping_rounds})",
        }},
    )
    return write_trained_bundle(models_dir, trained, split, params, data_provenance="dataset")


def train_datasets_on_dask(dirs: Sequence[Path], models_dir: Path, params: TrainParams, *,
                           scheduler: str | None = None, workers: int | None = None, timeout: float = 30.0,
                           holdout_users: int = 0, start: date | None = None, end: date | None = None,
                           log: Callable[[str], None] | None = None) -> TrainResult:
    """``train lgbm --dataset ... --dask-*``: check the manifests here, train on the cluster."""
    _need_dask()
    files = list_dataset_files(dirs)
    if not files:
        raise TaskclfError("the datasets list no files: nothing to train on")
    with dask_client(scheduler=scheduler, workers=workers, timeout=timeout) as client:
        return train_on_cluster(client, files, models_dir, params, holdout_users=holdout_users,
                                start=start, end=end, log=log)
