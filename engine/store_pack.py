"""Packing the store's bucket tables (schema 3): small integer sources and shapes, compact blobs.

``records``, ``feature_rows`` and ``predictions`` are keyed by ``(src, bucket_start)`` (WITHOUT
ROWID: the key is stored once), where ``src`` numbers a (user, device) pair in ``sources``.
A row's JSON object is stored as ``(shape, data)`` by ``engine.store_codec``; the keys its
columns already say (user, device, bucket start, schema hash...) are left out of the blob when
their value is exactly what the columns give back, and put back on reading.
"""

from __future__ import annotations

import functools
import json
import math
import sqlite3
import struct
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeGuard

from engine import store_codec
from engine.activity import BUCKET_SECONDS
from engine.store_plan import ShapePlan, same_keys
from engine.store_sql import where_clause

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def from_s(s: int) -> datetime:
    return _EPOCH + timedelta(seconds=s)


def bucket_iso(s: int) -> str:
    """A bucket's ISO text as the derived keys of its stored objects hold it,
    ``from_s(s).isoformat()``, from a day's text and a table of the times of a day: every
    write and read compares a bucket's text with it, and each bucket is a new time."""
    day, sec = divmod(s, 86400)
    head = _DAY_TEXT.get(day)
    if head is None:
        if len(_DAY_TEXT) >= 1024:  # bounded; a store writes today's buckets
            _DAY_TEXT.clear()
        head = _DAY_TEXT[day] = from_s(day * 86400).date().isoformat() + "T"
    return head + _MINUTE_TEXT[sec // 60] + _SECOND_TEXT[sec % 60]


_DAY_TEXT: dict[int, str] = {}
_MINUTE_TEXT = tuple(f"{m // 60:02d}:{m % 60:02d}:" for m in range(1440))
_SECOND_TEXT = tuple(f"{x:02d}+00:00" for x in range(60))


ReadFn = Callable[[str, tuple[Any, ...]], list[Any]]
#: what a feature row's ``meta`` number stands for: (session_id, schema_hash, builder version)
RowMeta = tuple[str | None, str, int]


def derived_record(user_id: str, device_id: str, start: int, _extra: Any = None) -> dict[str, Any]:
    return {"user_id": user_id, "device_id": device_id, "bucket_start": bucket_iso(start)}


def derived_feature_row(user_id: str, device_id: str, start: int, extra: Any = None) -> dict[str, Any]:
    iso = bucket_iso(start)
    if extra is None:
        return {"user_id": user_id, "device_id": device_id, "bucket_start": iso, "bucket_start_ts": iso,
                "bucket_end_ts": bucket_iso(start + BUCKET_SECONDS)}
    # (session_id, schema_hash, feature_builder_version): one literal, on every write's path
    return {"user_id": user_id, "device_id": device_id, "bucket_start": iso, "bucket_start_ts": iso,
            "bucket_end_ts": bucket_iso(start + BUCKET_SECONDS), "session_id": extra[0],
            "schema_hash": extra[1], "feature_builder_version": extra[2]}


def derived_prediction(user_id: str, _device_id: str, start: int, _extra: Any = None) -> dict[str, Any]:
    return {"user_id": user_id, "bucket_start": bucket_iso(start)}


Derive = Callable[[str, str, int, Any], dict[str, Any]]

#: Per table, the keys whose value is shared by many rows (a model, a format version, a time
#: zone): stored once in the shape. Each has few distinct values, so the shapes stay few.
RECORD_CONSTANTS = ("record_version", "bucket_seconds", "utc_offset_minutes", "tz_name", "sources")
#: a record's segments: a list of objects with the same keys, stored as lists of values
RECORD_NESTED = ("segments",)
FEATURE_ROW_CONSTANTS = ("schema_version", "source_ids")
PREDICTION_CONSTANTS = ("model_id", "model_sha256", "label_order", "threshold", "threshold_source",
                        "calibrator", "engine_version")


class Layout:
    """How one shape's objects are stored: the keys kept in the blob (in order), the keys the
    columns give back, and the keys whose value is the same for every row of the shape (model
    id, label order...: stored once, in the ``shapes`` row)."""

    __slots__ = ("plain", "from_columns", "constants", "nested")

    def __init__(self, plain: tuple[str, ...], from_columns: tuple[str, ...],
                 constants: dict[str, Any], nested: dict[str, tuple[str, ...]] | None = None) -> None:
        self.plain = plain
        self.from_columns = from_columns
        self.constants = constants
        #: keys whose value is a list of objects with these keys, stored as lists of values
        self.nested = nested or {}

    @classmethod
    def from_text(cls, text: str) -> Layout | None:
        """The layout of a ``shapes`` row; None when it is damaged."""
        try:
            got = json.loads(text)
        except ValueError:
            return None
        if isinstance(got, list) and len(got) % 2 == 0 and all(isinstance(k, str) for k in got):
            n = len(got) // 2  # schema 3: the keys, then "=" for each key the columns give
            return cls(tuple(k for k, f in zip(got[:n], got[n:], strict=True) if not f),
                       tuple(k for k, f in zip(got[:n], got[n:], strict=True) if f), {})
        if not isinstance(got, dict):
            return None
        plain, cols, consts = got.get("keys"), got.get("columns"), got.get("constants")
        nested = got.get("nested", {})
        if not (isinstance(plain, list) and isinstance(cols, list) and isinstance(consts, dict)
                and all(isinstance(k, str) for k in (*plain, *cols)) and isinstance(nested, dict)
                and all(isinstance(v, list) and all(isinstance(k, str) for k in v) for v in nested.values())):
            return None
        return cls(tuple(plain), tuple(cols), consts, {k: tuple(v) for k, v in nested.items()})

    def text(self) -> str:
        out: dict[str, Any] = {"keys": list(self.plain), "columns": list(self.from_columns),
                               "constants": self.constants}
        if self.nested:
            out["nested"] = {k: list(v) for k, v in self.nested.items()}
        return _dumps(out)


_SCALARS = frozenset({str, int, bool, float, type(None)})


#: in a stored prediction, "the same as probs": raw probabilities equal to the calibrated ones
#: (identity calibration), or a taxonomy map equal to the label map (identity taxonomy)
SAME_AS_PROBS = "=probs"
#: (schema 6) a taxonomy map that is ``probs`` renormalised, ``v / sum(probs)`` in label order:
#: what the identity taxonomy computes (``engine.taxonomy``) when the probabilities do not sum
#: to exactly 1.0, as a model's seldom do
PROBS_OVER_SUM = "=probs/sum"
#: (schema 6) calibrated probabilities that are the raw ones renormalised, ``x / fsum(raw)``:
#: what the identity calibrator computes (``engine.calibration``)
RAW_OVER_FSUM = "=raw/fsum"
#: (schema 6) a confidence equal to the largest calibrated probability (what the engine decides on)
MAX_OF_PROBS = "=max"


def compact_prediction(obj: dict[str, Any]) -> dict[str, Any]:
    """A prediction's JSON (``obj`` is changed and returned) without what it repeats or
    derives from its probabilities exactly (bit for bit, in order): ``raw_probs`` equal to
    ``probs`` become :data:`SAME_AS_PROBS`, else ``probs`` equal to ``raw_probs`` renormalised
    become :data:`RAW_OVER_FSUM`; ``mapped_probs`` equal to ``probs`` become
    :data:`SAME_AS_PROBS`, or renormalised :data:`PROBS_OVER_SUM`; a ``confidence`` equal to
    the largest probability becomes :data:`MAX_OF_PROBS`. None of these is a real value of
    theirs (a list, a map, a float). :func:`expand_prediction` gives the object back; a value
    that is not exactly what its rule computes is kept as it is."""
    probs, order, raw = obj.get("probs"), obj.get("label_order"), obj.get("raw_probs")
    if type(probs) is not list or not probs or {*map(type, probs)} != _FLOAT:
        return obj
    n = len(probs)
    if _floats(raw, n):
        if _same_floats(raw, probs):
            obj["raw_probs"] = SAME_AS_PROBS
        else:
            over_fsum = _over_sum(raw, math.fsum)
            if over_fsum is not None and _same_floats(probs, over_fsum):
                obj["probs"] = RAW_OVER_FSUM
    conf, top = obj.get("confidence"), max(probs)
    if type(conf) is float and conf == top and (conf != 0 or str(conf) == str(top)):  # -0.0 kept
        obj["confidence"] = MAX_OF_PROBS
    mapped = obj.get("mapped_probs")
    if type(mapped) is dict and type(order) is list and list(mapped) == order:
        values = list(mapped.values())
        if _floats(values, n):
            if _same_floats(values, probs):
                obj["mapped_probs"] = SAME_AS_PROBS
            else:
                over_sum = _over_sum(probs, sum)
                if over_sum is not None and _same_floats(values, over_sum):
                    obj["mapped_probs"] = PROBS_OVER_SUM
    return obj


def _over_sum(probs: list[float], total: Callable[[list[float]], float]) -> list[float] | None:
    """``probs`` renormalised exactly as the engine does: ``sum`` for an identity taxonomy
    (``engine.taxonomy``), ``math.fsum`` for the identity calibrator (``engine.calibration``)."""
    s = total(probs)
    if not s > 0 or not math.isfinite(s):
        return None
    return [v / s for v in probs]


def expand_prediction(obj: dict[str, Any]) -> dict[str, Any]:
    if obj.get("probs") == RAW_OVER_FSUM:
        over_fsum = _over_sum(obj["raw_probs"], math.fsum)
        if over_fsum is None:
            raise ValueError("probs: the raw probabilities do not renormalise")
        obj["probs"] = over_fsum
    if obj.get("raw_probs") == SAME_AS_PROBS:
        obj["raw_probs"] = list(obj["probs"])
    if obj.get("confidence") == MAX_OF_PROBS:
        obj["confidence"] = max(obj["probs"])
    mapped = obj.get("mapped_probs")
    if mapped == SAME_AS_PROBS:
        obj["mapped_probs"] = dict(zip(obj["label_order"], obj["probs"], strict=True))
    elif mapped == PROBS_OVER_SUM:
        over_sum = _over_sum(obj["probs"], sum)
        if over_sum is None:
            raise ValueError("mapped_probs: the probabilities do not renormalise")
        obj["mapped_probs"] = dict(zip(obj["label_order"], over_sum, strict=True))
    return obj


def _floats(value: Any, n: int) -> TypeGuard[list[float]]:
    """Whether ``value`` is a list of ``n`` floats (only such a list can repeat ``probs``)."""
    return type(value) is list and len(value) == n and {*map(type, value)} == _FLOAT


def _same_floats(a: list[float], b: list[float]) -> bool:
    """Two lists of floats of one length equal bit for bit. ``==`` (one C call) decides but
    for a zero (-0.0 == 0.0, told apart by their bits) and a NaN (unequal to itself): only
    then are the bits compared."""
    if a == b:
        return 0.0 not in a or _bits(a) == _bits(b)
    total = sum(a)
    return total != total and _bits(a) == _bits(b)  # a NaN (or infinities that cancel) in a


def _bits(a: list[float]) -> bytes:
    return _float_format(len(a)).pack(*a)


_FLOAT = {float}


@functools.lru_cache(maxsize=16)
def _float_format(n: int) -> struct.Struct:
    return struct.Struct(f"<{n}d")


def _hashable(const: dict[str, Any]) -> tuple[Any, ...]:
    """A cache key of constant values that tells 1, 1.0 and True apart (they hash alike), and
    0.0 from -0.0 (equal, but each reads back as itself only from its own shape)."""
    return tuple([(k, type(v), tuple(zip(map(type, v), map(_exact, v), strict=True)) if type(v) is list
                   else _exact(v)) for k, v in const.items()])


def _exact(value: Any) -> Any:
    return value.hex() if type(value) is float else value


class Packer:
    """Caches of the small lookup tables, and (un)packing of row objects. One per connection."""

    def __init__(self) -> None:
        self._src: dict[tuple[str, str], int] = {}
        self._src_names: dict[int, tuple[str, str]] = {}
        #: (keys, keys given by the columns, constants) -> (shape, keys kept in the blob)
        self._shape: dict[tuple[tuple[str, ...], tuple[str, ...], tuple[Any, ...]],
                          tuple[int, tuple[str, ...]]] = {}
        #: a row's keys -> the plan of the shape the last row with these keys had
        self._plans: dict[tuple[str, ...], ShapePlan] = {}
        self._plain = store_codec.PlainEncoder()
        self._layout: dict[int, Layout] = {}
        self._zdicts: dict[int, bytes] = {}
        self._codec_now: int | None = None
        #: a feature row's (session_id, schema_hash, feature_builder_version) <-> its number
        self._meta: dict[RowMeta, int] = {}
        self._meta_values: dict[int, RowMeta] = {}
        #: cache entries added inside the current write transaction (dropped if it rolls back)
        self._pending: list[tuple[dict[Any, Any], Any]] = []

    def committed(self) -> None:
        self._pending.clear()

    def rolled_back(self) -> None:
        """Forget the sources and shapes the rolled-back transaction added: they are not in
        the file (a later row must not refer to them)."""
        for cache, key in self._pending:
            cache.pop(key, None)
        self._pending.clear()
        self._plans.clear()  # a plan may name a shape of the rolled-back transaction

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
            self._pending.append((self._src, key))
        return got

    def sources(self, read: ReadFn, user_id: str | None = None,
                device_id: str | None = None) -> list[tuple[int, str, str]]:
        """(src, user, device) of the matching sources, read fresh (another process may add)."""
        clause, args = where_clause(user_id=user_id, device_id=device_id)
        rows = read(f"SELECT src, user_id, device_id FROM sources{clause} ORDER BY src", tuple(args))
        out = [(int(r[0]), str(r[1]), str(r[2])) for r in rows]
        for src, u, d in out:
            self._src_names[src] = (u, d)
        return out

    def source_names(self, read: ReadFn, src: int) -> tuple[str, str]:
        if src not in self._src_names:
            self.sources(read)
        return self._src_names[src]

    def _load_dictionaries(self, read: ReadFn) -> None:
        if not self._zdicts:
            for codec, zdict in read("SELECT codec, zdict FROM dictionaries", ()):
                self._zdicts[int(codec)] = bytes(zdict)

    def _codec(self, conn: sqlite3.Connection, floats_apart: bool = False) -> int:
        """The codec new rows are written with: the newest dictionary of the file, or for
        ``floats_apart`` (predictions) codec 3 once the file has it."""
        if self._codec_now is None:
            self._load_dictionaries(lambda sql, args: conn.execute(sql, args).fetchall())
            self._codec_now = max((c for c in self._zdicts if c != store_codec.FLOATS_APART),
                                  default=store_codec.PLAIN)
        return self._floats_codec() if floats_apart else self._codec_now

    def _floats_codec(self) -> int:
        if store_codec.FLOATS_APART in self._zdicts:
            return store_codec.FLOATS_APART
        return self._codec_now if self._codec_now is not None else store_codec.PLAIN

    # ---- packing

    def pack(self, conn: sqlite3.Connection, obj: dict[str, Any], derived: dict[str, Any],
             constants: tuple[str, ...] = (), *, finite: bool = False,
             nested: tuple[str, ...] = (), floats_apart: bool = False,
             uncompressed: bool = False) -> tuple[int, bytes]:
        """(shape, data) of ``obj``, leaving out the keys whose value ``derived`` gives back, and
        keeping the values of ``constants`` (when they are plain) in the shape instead; a new
        shape is added inside the caller's write transaction. ``finite``: ``ValueError`` for
        a NaN or infinite value.

        ``nested``: keys whose value, a list of objects with the same keys, is stored as lists
        of values. ``floats_apart``: long floats stored as float64 (codec 3), for objects made
        mostly of a model's probabilities. ``uncompressed``: codec 0, for the live
        path, deflated later (``engine.store_compact``). Reading gives back exactly ``obj``'s
        keys and values."""
        plan = self._plan(obj, derived, constants, nested, conn, finite)
        assert plan is not None  # a connection adds what is missing
        codec = self._codec(conn, floats_apart)
        return self._encode(obj, plan, store_codec.PLAIN if uncompressed else codec, finite)

    def pack_known(self, obj: dict[str, Any], derived: dict[str, Any], constants: tuple[str, ...] = (),
                   *, finite: bool = False, nested: tuple[str, ...] = (),
                   floats_apart: bool = False, uncompressed: bool = False) -> tuple[int, bytes] | None:
        """Like :meth:`pack` without touching the file: None when the shape (or the codec) is
        not known yet, so the caller must write in a transaction that can add it."""
        if self._codec_now is None:
            return None
        plan = self._plan(obj, derived, constants, nested, None, finite)
        if plan is None:
            return None
        codec = store_codec.PLAIN if uncompressed else self._floats_codec() if floats_apart else self._codec_now
        return self._encode(obj, plan, codec, finite)

    def _plan(self, obj: dict[str, Any], derived: dict[str, Any], constants: tuple[str, ...],
              nested: tuple[str, ...], conn: sqlite3.Connection | None, finite: bool) -> ShapePlan | None:
        """The plan of ``obj``'s shape: the last one of its keys when the row fits it, else
        the shape found the general way (added through ``conn`` when the file lacks it; None
        without a connection)."""
        keys = tuple(obj)
        plan = self._plans.get(keys)
        if plan is not None and plan.constants == constants and plan.nested == nested and plan.fits(obj, derived):
            return plan
        cols, const, subs, cache_key = self._shape_key(obj, derived, constants, nested)
        got = self._shape.get(cache_key)
        if got is None:
            if conn is None:
                return None
            if finite:  # a cached shape's constants were checked when it was added
                store_codec.encode(list(const.values()), store_codec.PLAIN, None, finite=True)
            plain = tuple(k for k in obj if k not in cols and k not in const)
            text = Layout(plain, cols, const, dict(subs)).text()
            conn.execute("INSERT OR IGNORE INTO shapes (keys) VALUES (?)", (text,))
            shape = int(conn.execute("SELECT shape FROM shapes WHERE keys = ?", (text,)).fetchone()[0])
            got = self._shape[cache_key] = (shape, plain)
            self._pending.append((self._shape, cache_key))
        plan = ShapePlan(got[0], got[1], obj, derived, cols, const, subs, constants, nested)
        if ShapePlan.usable(const):
            self._plans[keys] = plan
        return plan

    def known_src(self, user_id: str, device_id: str) -> int | None:
        return self._src.get((user_id, device_id))

    def meta(self, conn: sqlite3.Connection, key: RowMeta) -> int:
        """The number of a feature row's (session, schema hash, builder version) in
        ``row_meta`` (schema 6), added inside the caller's write transaction."""
        got = self._meta.get(key)
        if got is None:
            row = conn.execute("SELECT meta FROM row_meta WHERE session_id IS ? AND schema_hash = ?"
                               " AND feature_builder_version = ?", key).fetchone()
            got = int(row[0]) if row is not None else int(conn.execute(
                "INSERT INTO row_meta (session_id, schema_hash, feature_builder_version) VALUES (?, ?, ?)",
                key).lastrowid or 0)
            self._meta[key] = got
            self._meta_values[got] = key
            self._pending.extend(((self._meta, key), (self._meta_values, got)))
        return got

    def known_meta(self, key: RowMeta) -> int | None:
        return self._meta.get(key)

    def meta_values(self, read: ReadFn, meta: int) -> RowMeta:
        """(session_id, schema_hash, feature_builder_version) of a row's ``meta`` number;
        ``ValueError`` when the file has no such number."""
        got = self._meta_values.get(meta)
        if got is None:
            for m, sid, shash, fbv in read("SELECT meta, session_id, schema_hash, feature_builder_version"
                                           " FROM row_meta", ()):
                self._meta_values[int(m)] = (None if sid is None else str(sid), str(shash), int(fbv))
            got = self._meta_values.get(meta)
            if got is None:
                raise ValueError(f"unknown row meta {meta}")
        return got

    @staticmethod
    def _shape_key(obj: dict[str, Any], derived: dict[str, Any], constants: tuple[str, ...],
                   nested: tuple[str, ...]) -> tuple[tuple[str, ...], dict[str, Any],
                                                     tuple[tuple[str, tuple[str, ...]], ...], tuple[Any, ...]]:
        get = obj.get
        cols = tuple([k for k, v in derived.items() if type(o := get(k, _MISSING)) is type(v) and o == v])
        const = {}
        for k in constants:  # is_constant_value, inlined: seven calls a prediction
            v = get(k, _MISSING)
            if v is not _MISSING and k not in cols and (
                    (t := type(v)) in _SCALARS or (t is list and {*map(type, v)} <= _SCALARS)):
                const[k] = v
        subs = tuple([(k, sub) for k in nested if k not in cols and k not in const
                      and (sub := same_keys(get(k))) is not None]) if nested else ()
        return cols, const, subs, (tuple(obj), cols, _hashable(const), subs)

    def _encode(self, obj: dict[str, Any], plan: ShapePlan, codec: int, finite: bool) -> tuple[int, bytes]:
        values = plan.values(obj)
        if codec == store_codec.PLAIN:
            return plan.shape, self._plain.encode(values, finite=finite)
        return plan.shape, store_codec.encode(values, codec, self._zdicts.get(codec), finite=finite)

    def unpack(self, read: ReadFn, shape: int, data: bytes, derived: dict[str, Any]) -> dict[str, Any]:
        """The object stored as (shape, data) (same keys and values; the keys given by the
        columns and the shape come last); ``ValueError`` when it does not decode."""
        layout = self._layout.get(shape)
        if layout is None:
            for s, text in read("SELECT shape, keys FROM shapes", ()):
                got = Layout.from_text(str(text))
                if got is not None:  # a damaged one: its rows are skipped as unknown shapes
                    self._layout[int(s)] = got
            layout = self._layout.get(shape)
            if layout is None:
                raise ValueError(f"unknown shape {shape}")
        self._load_dictionaries(read)
        values = store_codec.decode(data, self._zdicts)
        if len(values) != len(layout.plain):
            raise ValueError("values do not match their shape")
        out = dict(zip(layout.plain, values, strict=True))
        for k, sub in layout.nested.items():
            rows = out.get(k)
            if not isinstance(rows, list) or not all(isinstance(r, list) and len(r) == len(sub) for r in rows):
                raise ValueError(f"{k} does not match its shape")
            out[k] = [dict(zip(sub, r, strict=True)) for r in rows]
        for k, v in layout.constants.items():
            out[k] = list(v) if type(v) is list else v
        for k in layout.from_columns:
            out[k] = derived[k]
        return out


_MISSING: Any = object()


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


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


def dictionary_words_v2() -> Iterable[str]:
    """Codec 2's dictionary (frozen into each store by migration 4): codec 1's words, then the
    JSON fragments every row repeats: a segment's keys, a prediction's probability map and
    vectors. Still no app id, title or user value."""
    from engine.labels import LABEL_ORDER

    yield from dictionary_words()
    segment = ('{"offset_s":0.0,"seconds":60.0,"app_id":"","app_category":"","is_browser":false,'
               '"is_editor":false,"is_terminal":false,"title_hash":"","domain_category":"non_browser"}')
    yield from (segment, "]", ",null,null,null,", ",0.0,0.0,0.0,0.0,", "[" + ",".join(["0.0"] * len(LABEL_ORDER)) + "]",
                _dumps(dict.fromkeys(LABEL_ORDER, 0.0)), ',false,"', '",true,"')
