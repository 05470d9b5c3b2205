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

Writing the 17-24 floats is most of a line's cost: ``float.__repr__`` finds the shortest text
that reads back exactly with big-number arithmetic (~8,000 instructions a float, more than the
model's prediction of the bucket). A caller may pass ``float_array``, a writer of a list of
floats as one JSON array of their shortest round-trip texts (``orjson.dumps``, whose Ryu
digits are the very digits ``repr`` chooses); its text is used only where the two agree on the
layout too: every number written positionally, at or above 1e-4 (no exponent, no ``0.0000``),
and the writer is checked against ``repr`` on known values first. Anything else is written by
``float.__repr__`` as before.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from json.encoder import encode_basestring, encode_basestring_ascii
from math import isfinite
from operator import add
from typing import Any

from engine.record import PredictionRecord

_MAX_CACHED = 64  # distinct (model, labels, threshold...) combinations kept encoded
_BOOL = {True: "true", False: "false"}
_frepr = float.__repr__

#: ``float_array(values)``: the JSON array text of the floats, as bytes (``orjson.dumps``)
FloatArray = Callable[[list[float]], bytes]
#: values whose texts a ``float_array`` must give exactly as ``repr`` before it is trusted
_PROBE = [0.1, 1.0, -0.0, 0.0, 100.0, 0.00011, 0.0001, 1 / 3, 2 / 3 * 1e15, 9999999999999998.0,
          0.019761077747846446, 0.2236085210432786, 123.456, -7.5]


def _trusted(float_array: FloatArray | None) -> FloatArray | None:
    """``float_array`` when it writes the probe values exactly as ``repr`` does, else None."""
    if float_array is None:
        return None
    try:
        text = float_array(list(_PROBE))
    except Exception:  # noqa: BLE001 - a writer that fails is not used
        return None
    want = "[" + ",".join(map(_frepr, _PROBE)) + "]"
    return float_array if isinstance(text, bytes) and text == want.encode("ascii") else None


class RecordLines:
    """``line(rec)``: the record's JSON text (no newline); ``ensure_ascii`` as in ``json``."""

    def __init__(self, *, ensure_ascii: bool = True, float_array: FloatArray | None = None) -> None:
        self._float_array = _trusted(float_array)
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
        floats = self._floats
        raw = floats(rec.raw_probs)
        probs = raw if _same_floats(rec.probs, rec.raw_probs) else floats(rec.probs)
        mapped_conf = floats((*mp.values(), rec.confidence)).split(",")
        conf = mapped_conf.pop()
        mapped = ",".join(map(add, keys, mapped_conf))
        sid = "null" if rec.session_id is None else s(rec.session_id)
        return (
            f'{{"bucket_start":{s(rec.bucket_start)},"user_id":{s(rec.user_id)},"session_id":{sid}'
            f'{head}{raw}],"probs":[{probs}]'
            f',"core_label":{s(rec.core_label)},"confidence":{conf}'
            f'{mid}{_BOOL[rec.rejected]},"accepted_label":{s(rec.accepted_label)}'
            f',"smoothed_label":{s(rec.smoothed_label)},"mapped_label":{s(rec.mapped_label)}'
            f',"mapped_probs":{{{mapped}}}{tail}'
        )

    def _floats(self, values: Sequence[float]) -> str:
        """The floats' texts joined by commas, each exactly ``float.__repr__``'s (which raises
        ``TypeError`` for a value that is not a float, as before)."""
        fa = self._float_array
        if fa is not None:
            try:
                text = fa(list(values))
            except (TypeError, ValueError):  # not a plain float (orjson's error is a TypeError)
                text = b""
            # (str tests: ``in`` on bytes first tries the needle as an int, raising inside)
            t = text.decode("ascii") if type(text) is bytes else ""
            if t[:1] == "[" and "n" not in t:  # numbers only (no true, null, NaN)
                if "e" not in t and "0.0000" not in t:  # all in the layout repr uses too
                    return t[1:-1]
                parts = t[1:-1].split(",")
                if len(parts) == len(values):  # repr for the few outside it (below 1e-4...)
                    return ",".join([_frepr(v) if "e" in t or "0.0000" in t else t
                                     for t, v in zip(parts, values, strict=True)])
        return ",".join(map(_frepr, values))


def _same_floats(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """Whether ``a`` is written exactly as ``b`` (already written): equal floats have one text,
    except 0.0 and -0.0 (the identity calibrator often returns the raw values); an int equal to a
    float does not (``1`` against ``1.0``), so both sides must hold floats only."""
    return (a == b and 0.0 not in a and all(type(v) is float for v in a)
            and all(type(v) is float for v in b))
