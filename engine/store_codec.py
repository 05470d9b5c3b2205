"""The store's compact, lossless encoding of JSON objects (records, feature rows, predictions).

A stored object is ``(shape, blob)``:
- ``shape`` numbers its tuple of top-level keys (the ``shapes`` table), so keys are not repeated
  per row;
- the blob is one codec byte then raw DEFLATE (with the store's preset dictionary of key names,
  categories and labels, the ``dictionaries`` table) of: a varint count ``n``, ``n``
  little-endian float64 values, and the positional JSON of the values, where each float whose
  shortest text is longer than its 8 binary bytes, and every non-finite float, is written as
  the token ``NaN`` and read back, bit for bit and in document order, from the float64 array.

Nothing is lost: ints stay ints, bools bools, NaN and infinities are kept. The dictionary is
stored in the file, so a later version can add a new one without breaking old rows.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from collections.abc import Iterable
from typing import Any

from engine.errors import ArtifactError

PLAIN = 0  # positional JSON only (no floats moved, no compression)
_WBITS = -15  # raw deflate: no zlib header or checksum (SQLite pages are checksummed by use)


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
        byte = data[i]
        n |= (byte & 0x7F) << shift
        i += 1
        if not byte & 0x80:
            return n, i
        shift += 7
        if shift > 63:
            raise ValueError("bad varint")


def encode(values: list[Any], codec: int, zdict: bytes | None) -> bytes:
    """The blob of a positional value list (see the module docstring)."""
    floats: list[float] = []
    skeleton = _split_floats(values, floats)
    body = _varint(len(floats)) + struct.pack(f"<{len(floats)}d", *floats) + _dumps(skeleton).encode()
    comp = zlib.compressobj(6, zlib.DEFLATED, _WBITS, 8, zlib.Z_DEFAULT_STRATEGY, *(
        (zdict,) if zdict else ()))
    return bytes([codec]) + comp.compress(body) + comp.flush()


def decode(blob: bytes, zdicts: dict[int, bytes]) -> list[Any]:
    """The positional value list of a blob; ``ValueError`` when it does not decode."""
    if not blob:
        raise ValueError("empty value")
    codec = blob[0]
    if codec == PLAIN:
        out = json.loads(bytes(blob[1:]).decode("utf-8"))
    else:
        zdict = zdicts.get(codec)
        if zdict is None:
            raise ValueError(f"unknown codec {codec}")
        dec = zlib.decompressobj(_WBITS, zdict=zdict) if zdict else zlib.decompressobj(_WBITS)
        try:
            body = dec.decompress(bytes(blob[1:]), 1 << 24) + dec.flush()
        except zlib.error as exc:
            raise ValueError(f"does not decompress ({exc})") from None
        n, i = _read_varint(body)
        floats = iter(struct.unpack_from(f"<{n}d", body, i))
        # every NaN token of the JSON is a moved float, in document order
        out = json.loads(body[i + 8 * n:].decode("utf-8"), parse_constant=lambda _: next(floats))
        if next(floats, None) is not None:
            raise ValueError("more floats than places for them")
    if not isinstance(out, list):
        raise ValueError("not a value list")
    return out


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
