"""The store's compact, lossless encoding of JSON objects (records, feature rows, predictions).

A stored object is ``(shape, blob)``:
- ``shape`` numbers its tuple of top-level keys (the ``shapes`` table), so keys are not repeated
  per row;
- the blob is one codec byte then raw DEFLATE, with the store's preset dictionary for that
  codec (the ``dictionaries`` table), of the positional JSON of the values.
  - Codec 2 (written since schema 4): the JSON as it is. Python writes every float as its
    shortest exact text, so it reads back bit for bit; once DEFLATE has coded the digits, that
    text is no longer than the 8 binary bytes, and encoding is one call into the C encoder.
  - Codec 1 (schema 3, still read): a varint count ``n``, ``n`` little-endian float64 values,
    then the JSON where each float whose text was longer than 8 bytes, and every non-finite
    float, is the token ``NaN``, read back in document order from the float64 array.
  - Codec 3 (schema 6, predictions): codec 1's split, but only the JSON is deflated (codec 2's
    words); the float64 values follow the codec byte as they are. Long floats (a model's
    probabilities) are 8 bytes in binary, and DEFLATE, whose block headers weigh a lot in a
    blob this small, spends more than that on their 17 digits of text.

Nothing is lost: ints stay ints, bools bools, NaN and infinities are kept (JSON's ``NaN`` /
``Infinity`` tokens). The dictionaries are stored in the file, so a later version can add one
without breaking old rows.
"""

from __future__ import annotations

import json
import math
import struct
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from json.scanner import make_scanner
from typing import Any

from engine.errors import ArtifactError

PLAIN = 0  # positional JSON only (no floats moved, no compression)
MOVED_FLOATS = 1  # schema 3: long floats moved to a float64 array
JSON_DEFLATE = 2  # schema 4: the JSON text, deflated
FLOATS_APART = 3  # schema 6: long floats as float64, the rest as codec 2
_WBITS = -15  # raw deflate: no zlib header or checksum (SQLite pages are checksummed by use)
# Writing: a 2 KB window (a row is a few hundred bytes; the dictionary is under 1 KB), a small
# hash, level 1: a third of the time of the defaults for about 2 % more bytes. Any raw stream
# inflates with the 32 KB window used for reading.
_WRITE_LEVEL, _WRITE_WBITS, _WRITE_MEMLEVEL = 1, -11, 2


def dictionary_v1(words: Iterable[str]) -> bytes:
    """The preset dictionary stored as codec 1: the words most likely to repeat across rows,
    most frequent last (DEFLATE finds the nearest match cheapest)."""
    return "\n".join(dict.fromkeys(words)).encode("utf-8")[-32768:]


def _split_floats(value: Any, floats: list[float]) -> Any:
    """``value`` with long or non-finite floats replaced by NaN (appended to ``floats``)."""
    t = type(value)
    if t is float:
        if len(repr(value)) <= 8 and math.isfinite(value):
            return value
        floats.append(value)
        return _NAN
    if t is list or t is tuple:
        return [v if type(v) in _PLAIN else _split_floats(v, floats) for v in value]
    if t is dict:
        return {k: v if type(v) in _PLAIN else _split_floats(v, floats) for k, v in value.items()}
    if isinstance(value, float):  # a float subclass (numpy)
        return _split_floats(float(value), floats)
    if isinstance(value, dict):  # subclasses of the containers
        return _split_floats(dict(value), floats)
    if isinstance(value, list | tuple):
        return _split_floats(list(value), floats)
    return value


_PLAIN = frozenset({str, int, bool, type(None)})
_NAN = float("nan")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_varint(data: bytes) -> tuple[int, int]:
    n = shift = i = 0
    while True:
        if i >= len(data):
            raise ValueError("bad varint")
        byte = data[i]
        n |= (byte & 0x7F) << shift
        i += 1
        if not byte & 0x80:
            return n, i
        shift += 7
        if shift > 63:
            raise ValueError("bad varint")


def _scalar(value: Any) -> Any:
    """numpy scalars (``item()``) for the JSON encoder; anything else is refused."""
    item = getattr(value, "item", None)
    if item is None:
        raise TypeError(f"{type(value).__name__} is not a JSON value")
    return item()


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_scalar)
_FINITE_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_scalar,
                                   allow_nan=False)
_DECODER = json.JSONDecoder()


_PLAIN_BYTE = bytes([PLAIN])


class PlainEncoder:
    """Codec 0 blobs (the live path's), with the json module's C encoder built once:
    ``JSONEncoder.encode`` builds one per call, a good part of the cost of a short row. The
    same text as ``encode(values, PLAIN, ...)``. Not thread-safe (the circular-reference
    markers are reused): one per writer, used under its store's lock."""

    def __init__(self) -> None:
        self._markers: dict[int, Any] = {}
        make = getattr(json.encoder, "c_make_encoder", None)
        self._any: Callable[[Any, int], Any] | None = None
        self._finite: Callable[[Any, int], Any] | None = None
        if make is not None:  # CPython; else the pure-Python encoder below
            self._any, self._finite = (make(self._markers, _scalar, json.encoder.encode_basestring, None,
                                            ":", ",", False, False, allow_nan) for allow_nan in (True, False))

    def encode(self, values: list[Any] | tuple[Any, ...], *, finite: bool = False) -> bytes:
        """``finite``: ``ValueError`` for a NaN or infinite value, as :func:`encode`."""
        enc = self._finite if finite else self._any
        if enc is None:
            return encode(values, PLAIN, None, finite=finite)
        try:
            return _PLAIN_BYTE + "".join(enc(values, 0)).encode()
        except BaseException:
            self._markers.clear()  # an error leaves the containers being encoded marked
            raise


def dumps(value: Any) -> str:
    """Compact JSON text (numpy scalars as their Python values)."""
    return _ENCODER.encode(value)


def encode(values: list[Any] | tuple[Any, ...], codec: int, zdict: bytes | None, *, finite: bool = False) -> bytes:
    """The blob of a positional value list (see the module docstring). ``finite``: refuse NaN
    and infinities (``ValueError``), for objects whose format has no place for them."""
    if codec in (MOVED_FLOATS, FLOATS_APART):
        if finite:
            _FINITE_ENCODER.encode(values)
        floats: list[float] = []
        skeleton = _split_floats(values, floats)
        moved = _varint(len(floats)) + struct.pack(f"<{len(floats)}d", *floats)
        if codec == FLOATS_APART:
            comp = _primed(codec, zdict).copy()
            return bytes([codec]) + moved + comp.compress(_dumps(skeleton).encode()) + comp.flush()
        body = moved + _dumps(skeleton).encode()
    else:
        body = (_FINITE_ENCODER if finite else _ENCODER).encode(values).encode()
        if codec == PLAIN:
            return bytes([PLAIN]) + body
    comp = _primed(codec, zdict).copy()
    return bytes([codec]) + comp.compress(body) + comp.flush()


#: a compressor per (codec, dictionary) with the dictionary already loaded: copying it costs a
#: third of making one, whose dictionary set-up hashes every byte of the dictionary again
_PRIMED: dict[tuple[int, bytes | None], Any] = {}


def _primed(codec: int, zdict: bytes | None) -> Any:
    key = (codec, zdict)
    comp = _PRIMED.get(key)
    if comp is None:
        if len(_PRIMED) > 16:  # a process opens few stores; bound it anyway
            _PRIMED.clear()
        args = (6, zlib.DEFLATED, _WBITS, 8) if codec == MOVED_FLOATS else (
            _WRITE_LEVEL, zlib.DEFLATED, _WRITE_WBITS, _WRITE_MEMLEVEL)
        comp = _PRIMED[key] = zlib.compressobj(*args, zlib.Z_DEFAULT_STRATEGY, *((zdict,) if zdict else ()))
    return comp


def decode(blob: bytes, zdicts: dict[int, bytes]) -> list[Any]:
    """The positional value list of a blob; ``ValueError`` when it does not decode."""
    if not blob:
        raise ValueError("empty value")
    codec = blob[0]
    if codec == PLAIN:
        out = _loads(bytes(blob[1:]).decode("utf-8"))
    else:
        zdict = zdicts.get(codec)
        if zdict is None:
            raise ValueError(f"unknown codec {codec}")
        raw = bytes(blob[1:])
        head = b""
        if codec == FLOATS_APART:  # the float64 values come before the deflated JSON
            n, i = _read_varint(raw)
            if i + 8 * n > len(raw):
                raise ValueError("fewer floats than it says")
            head, raw = raw[:i + 8 * n], raw[i + 8 * n:]
        dec = zlib.decompressobj(_WBITS, zdict=zdict) if zdict else zlib.decompressobj(_WBITS)
        try:
            body = head + dec.decompress(raw, 1 << 24) + dec.flush()
        except zlib.error as exc:
            raise ValueError(f"does not decompress ({exc})") from None
        if codec == JSON_DEFLATE:
            out = _loads(body.decode("utf-8"))
        else:
            n, i = _read_varint(body)
            if i + 8 * n > len(body):
                raise ValueError("fewer floats than it says")
            # every NaN token of the JSON is a moved float, in document order
            out = _loads_moved(body[i + 8 * n:].decode("utf-8"), struct.unpack_from(f"<{n}d", body, i))
    if not isinstance(out, list):
        raise ValueError("not a value list")
    return out


_SCAN = make_scanner(_DECODER)  # type: ignore[arg-type]  # (typeshed: any decoder is its context)
_SCAN_FAILED = (StopIteration, ValueError, RecursionError)


def _loads(text: str) -> Any:
    """``json.loads(text)``: the C scanner called directly (a value filling the whole text,
    the stored case), else ``json``'s own path for the same value or its own error."""
    try:
        out, end = _SCAN(text, 0)
        if end == len(text):
            return out
    except _SCAN_FAILED:
        pass
    return _DECODER.decode(text)


class _MovedFloats(threading.local):
    """A decoder whose ``NaN`` tokens take the next of ``floats``; one per thread, made once
    (``json.loads`` with ``parse_constant`` builds a decoder on every call)."""

    def __init__(self) -> None:
        self.floats: Iterator[float] = iter(())
        self.scan = make_scanner(json.JSONDecoder(parse_constant=self._next))  # type: ignore[arg-type]

    def _next(self, _token: str) -> float:
        return _next_float(self.floats)


_MOVED = _MovedFloats()


def _loads_moved(text: str, floats: tuple[float, ...]) -> Any:
    """The JSON of codec 1 / 3 with its moved floats put back in document order."""
    moved = _MOVED
    moved.floats = it = iter(floats)
    try:
        out, end = moved.scan(text, 0)
        ok = end == len(text)
    except _SCAN_FAILED:
        ok = False
    if not ok:  # json's own path from the start: the same value, or its own error
        it = iter(floats)
        out = json.loads(text, parse_constant=lambda _: _next_float(it))
    if next(it, None) is not None:
        raise ValueError("more floats than places for them")
    return out


def _next_float(floats: Iterator[float]) -> float:
    got = next(floats, None)
    if got is None:
        raise ValueError("fewer floats than places for them")
    return got


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def keys_text(keys: tuple[str, ...]) -> str:
    return _dumps(list(keys))


def keys_from_text(text: str, where: str) -> tuple[str, ...]:
    try:
        keys = json.loads(text)
    except ValueError:
        keys = None
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise ArtifactError(where, "keys", "not a list of key names")
    return tuple(keys)
