"""A ``PredictionRecord`` as one line of compact JSON, cheaply.

Batch commands write one line per bucket: for a year that is ~176,000 lines, and the JSON
encoder spends ~30 us on each (a dict built by ``to_json``, then walked generically). The
record's layout is fixed, so the line is assembled from its fields directly, with the very
functions the encoder uses (``float.__repr__`` for floats, the C string escapers), and the
fields shared by every bucket of a model (id, digest, labels, thresholds) encoded once.

The text is byte for byte what ``json.JSONEncoder(separators=(",", ":"), allow_nan=False,
ensure_ascii=...)`` writes for ``rec.to_json()`` (tests/test_record_line.py compares them on
generated records). Anything outside the fast path's assumptions (a non-finite or non-float
number, a non-string label) goes through that encoder instead, with its errors unchanged.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring, encode_basestring_ascii
from math import isfinite
from typing import Any

from engine.record import PredictionRecord

_MAX_CACHED = 64  # distinct (model, labels, threshold...) combinations kept encoded
_BOOL = {True: "true", False: "false"}
_frepr = float.__repr__


class RecordLines:
    """``line(rec)``: the record's JSON text (no newline); ``ensure_ascii`` as in ``json``."""

    def __init__(self, *, ensure_ascii: bool = True) -> None:
        self._encoder = json.JSONEncoder(separators=(",", ":"), allow_nan=False,
                                         ensure_ascii=ensure_ascii)
        self._str = encode_basestring_ascii if ensure_ascii else encode_basestring
        self._fixed: dict[tuple[Any, ...], tuple[str, str, str]] = {}
        self._keys: dict[tuple[str, ...], list[str]] = {}

    def line(self, rec: PredictionRecord) -> str:
        try:
            text = self._fast(rec)
        except (TypeError, ValueError, KeyError):
            text = None
        if text is None:  # the generic encoder: same text, or its own error
            return str(self._encoder.encode(rec.to_json()))
        return text

    def _fixed_parts(self, rec: PredictionRecord) -> tuple[str, str, str]:
        """Encoded once per model: the text between the per-bucket values (model id to label
        order, threshold to threshold source, calibrator to the end)."""
        key = (rec.model_id, rec.model_sha256, rec.label_order, rec.threshold, rec.threshold_source,
               rec.calibrator, rec.engine_version)
        got = self._fixed.get(key)
        if got is not None and type(rec.threshold) is float:
            return got
        s = self._str
        if not all(type(x) is str for x in (rec.model_id, rec.threshold_source, rec.calibrator,
                                             rec.engine_version, *rec.label_order)):
            raise TypeError("not a string")
        if rec.model_sha256 is not None and type(rec.model_sha256) is not str:
            raise TypeError("not a string")
        if type(rec.threshold) is not float or "n" in _frepr(rec.threshold):
            raise ValueError("threshold")
        sha = "null" if rec.model_sha256 is None else s(rec.model_sha256)
        labels = ",".join(map(s, rec.label_order))
        got = (
            f',"model_id":{s(rec.model_id)},"model_sha256":{sha},"label_order":[{labels}],"raw_probs":[',
            f',"threshold":{_frepr(rec.threshold)},"threshold_source":{s(rec.threshold_source)},"rejected":',
            f',"calibrator":{s(rec.calibrator)},"engine_version":{s(rec.engine_version)}}}',
        )
        if len(self._fixed) >= _MAX_CACHED:
            self._fixed.clear()
        self._fixed[key] = got
        return got

    def _mapped_keys(self, names: tuple[str, ...]) -> list[str]:
        got = self._keys.get(names)
        if got is None:
            if not all(type(k) is str for k in names):
                raise TypeError("not a string key")
            if len(self._keys) >= _MAX_CACHED:
                self._keys.clear()
            got = self._keys[names] = [self._str(k) + ":" for k in names]
        return got

    def _fast(self, rec: PredictionRecord) -> str | None:
        mp = rec.mapped_probs
        if not isfinite(sum(rec.raw_probs) + sum(rec.probs) + rec.confidence + sum(mp.values())):
            return None  # NaN or an infinity: the encoder refuses it with its own message
        if type(rec.rejected) is not bool:
            return None
        s = self._str
        head, mid, tail = self._fixed_parts(rec)
        keys = self._mapped_keys(tuple(mp))
        mapped = ",".join([k + _frepr(v) for k, v in zip(keys, mp.values(), strict=True)])
        sid = "null" if rec.session_id is None else s(rec.session_id)
        raw = ",".join(map(_frepr, rec.raw_probs))
        return (
            f'{{"bucket_start":{s(rec.bucket_start)},"user_id":{s(rec.user_id)},"session_id":{sid}'
            f'{head}{raw}],"probs":[{raw if _same_floats(rec.probs, rec.raw_probs) else ",".join(map(_frepr, rec.probs))}]'
            f',"core_label":{s(rec.core_label)},"confidence":{_frepr(rec.confidence)}'
            f'{mid}{_BOOL[rec.rejected]},"accepted_label":{s(rec.accepted_label)}'
            f',"smoothed_label":{s(rec.smoothed_label)},"mapped_label":{s(rec.mapped_label)}'
            f',"mapped_probs":{{{mapped}}}{tail}'
        )


def _same_floats(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """Whether ``a`` is written exactly as ``b`` (already written as floats): equal floats
    have one text, except 0.0 and -0.0 (the identity calibrator often returns the raw values)."""
    return a == b and 0.0 not in a and all(type(v) is float for v in a)
