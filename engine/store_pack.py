"""Packing the store's bucket tables (schema 3): small integer sources and shapes, compact blobs.

``records``, ``feature_rows`` and ``predictions`` are keyed by ``(src, bucket_start)`` (WITHOUT
ROWID: the key is stored once), where ``src`` numbers a (user, device) pair in ``sources``.
A row's JSON object is stored as ``(shape, data)`` by ``engine.store_codec``; the keys its
columns already say (user, device, bucket start, schema hash...) are left out of the blob when
their value is exactly what the columns give back, and put back on reading.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from engine import store_codec
from engine.activity import BUCKET_SECONDS

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def from_s(s: int) -> datetime:
    return _EPOCH + timedelta(seconds=s)


ReadFn = Callable[[str, tuple[Any, ...]], list[Any]]


def derived_record(user_id: str, device_id: str, start: int, _extra: Any = None) -> dict[str, Any]:
    return {"user_id": user_id, "device_id": device_id, "bucket_start": from_s(start).isoformat()}


def derived_feature_row(user_id: str, device_id: str, start: int, extra: Any = None) -> dict[str, Any]:
    iso = from_s(start).isoformat()
    out = {"user_id": user_id, "device_id": device_id, "bucket_start": iso, "bucket_start_ts": iso,
           "bucket_end_ts": (from_s(start) + timedelta(seconds=BUCKET_SECONDS)).isoformat()}
    if extra is not None:  # (session_id, schema_hash, feature_builder_version)
        out.update(session_id=extra[0], schema_hash=extra[1], feature_builder_version=extra[2])
    return out


def derived_prediction(user_id: str, _device_id: str, start: int, _extra: Any = None) -> dict[str, Any]:
    return {"user_id": user_id, "bucket_start": from_s(start).isoformat()}


Derive = Callable[[str, str, int, Any], dict[str, Any]]


class Packer:
    """Caches of the small lookup tables, and (un)packing of row objects. One per connection."""

    def __init__(self) -> None:
        self._src: dict[tuple[str, str], int] = {}
        self._src_names: dict[int, tuple[str, str]] = {}
        self._shape: dict[tuple[str, ...], int] = {}
        #: per shape: the keys stored in the blob, and the keys given by the columns
        self._layout: dict[int, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self._zdicts: dict[int, bytes] = {}

    # ---- lookups

    def src(self, conn: sqlite3.Connection, user_id: str, device_id: str) -> int:
        """The source number of (user, device), created inside the caller's write transaction."""
        key = (user_id, device_id)
        got = self._src.get(key)
        if got is None:
            conn.execute("INSERT OR IGNORE INTO sources (user_id, device_id) VALUES (?, ?)", key)
            got = int(conn.execute("SELECT src FROM sources WHERE user_id = ? AND device_id = ?",
                                   key).fetchone()[0])
            self._src[key] = got
            self._src_names[got] = key
        return got

    def sources(self, read: ReadFn, user_id: str | None = None,
                device_id: str | None = None) -> list[tuple[int, str, str]]:
        """(src, user, device) of the matching sources, read fresh (another process may add)."""
        where, args = [], []
        if user_id is not None:
            where.append("user_id = ?")
            args.append(user_id)
        if device_id is not None:
            where.append("device_id = ?")
            args.append(device_id)
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        rows = read(f"SELECT src, user_id, device_id FROM sources{clause} ORDER BY src", tuple(args))
        out = [(int(r[0]), str(r[1]), str(r[2])) for r in rows]
        for src, u, d in out:
            self._src_names[src] = (u, d)
        return out

    def source_names(self, read: ReadFn, src: int) -> tuple[str, str]:
        if src not in self._src_names:
            self.sources(read)
        return self._src_names[src]

    def _codec(self, read: ReadFn) -> int:
        if not self._zdicts:
            for codec, zdict in read("SELECT codec, zdict FROM dictionaries", ()):
                self._zdicts[int(codec)] = bytes(zdict)
        return max(self._zdicts, default=store_codec.PLAIN)

    # ---- packing

    def pack(self, conn: sqlite3.Connection, obj: dict[str, Any], derived: dict[str, Any]
             ) -> tuple[int, bytes]:
        """(shape, data) of ``obj``, leaving out the keys whose value ``derived`` gives back.

        The shape keeps every key in its order and which of them are derived, so reading gives
        back exactly ``obj``."""
        flags = tuple(k in derived and _same(derived[k], v) for k, v in obj.items())
        shape_key = (*obj, *("=" if f else "" for f in flags))
        shape = self._shape.get(shape_key)
        if shape is None:
            text = store_codec.keys_text(shape_key)
            conn.execute("INSERT OR IGNORE INTO shapes (keys) VALUES (?)", (text,))
            shape = int(conn.execute("SELECT shape FROM shapes WHERE keys = ?", (text,)).fetchone()[0])
            self._shape[shape_key] = shape
        codec = self._codec(lambda sql, args: conn.execute(sql, args).fetchall())
        values = [v for v, f in zip(obj.values(), flags, strict=True) if not f]
        return shape, store_codec.encode(values, codec, self._zdicts.get(codec))

    def unpack(self, read: ReadFn, shape: int, data: bytes, derived: dict[str, Any]) -> dict[str, Any]:
        """The object stored as (shape, data) (same keys and values; derived keys come last);
        ``ValueError`` when it does not decode."""
        layout = self._layout.get(shape)
        if layout is None:
            for s, text in read("SELECT shape, keys FROM shapes", ()):
                key = store_codec.keys_from_text(str(text), "shapes")
                if len(key) % 2:
                    continue  # damaged: its rows are skipped as unknown shapes
                n = len(key) // 2
                self._layout[int(s)] = (tuple(k for k, f in zip(key[:n], key[n:], strict=False) if not f),
                                        tuple(k for k, f in zip(key[:n], key[n:], strict=False) if f))
            layout = self._layout.get(shape)
            if layout is None:
                raise ValueError(f"unknown shape {shape}")
        self._codec(read)
        values = store_codec.decode(data, self._zdicts)
        plain, from_columns = layout
        if len(values) != len(plain):
            raise ValueError("values do not match their shape")
        out = dict(zip(plain, values, strict=True))
        for k in from_columns:
            out[k] = derived[k]
        return out


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def dictionary_words() -> Iterable[str]:
    """The preset dictionary's words (frozen into each store by migration 3): key names,
    categories and labels only. No app ids: a store must hold no trace of an app the user
    never used (or excluded)."""
    from engine.apps import CATEGORIES
    from engine.labels import LABEL_ORDER
    from engine.titles import DOMAIN_CATEGORIES

    yield from ("record_version", "segments", "offset_s", "seconds", "app_id", "app_category",
                "is_browser", "is_editor", "is_terminal", "title_hash", "domain_category",
                "mapped_probs", "source_ids", "session_start", "window_title_hash")
    yield from LABEL_ORDER
    yield from DOMAIN_CATEGORIES
    yield from CATEGORIES
    yield from ('"synthetic"', '"x11"', "null,null", "true,false,false", "false,true,false",
                "false,false,true", "false,false,false", "60.0,", "0.0,", "1.0,", ":00+00:00")
