"""Deferred compression: the agent's per-bucket writes store their row uncompressed, and the
daily pass deflates them later, a slice at a time.

Deflating a row (a few hundred bytes, with the store's dictionary) costs more than the rest of
the agent's write: the live path (``put_bucket`` and the single ``put_*`` writes) stores the
positional JSON as it is (codec 0, read like any other), and :func:`compact_plain_rows`,
run by the daily retention pass, re-encodes those rows with the table's codec, in short
transactions of a few hundred rows. What a row holds never changes, only how it is stored.

The pass starts a day before where the previous pass ended (``store.compacted_to`` in
``state``, the oldest of the three tables' newest buckets then), and the writers store a row
uncompressed only from that day on, so an old bucket written late (a catch-up prediction, a
rebuild) is compressed at once. A row left uncompressed by a writer that missed a newer mark
stays readable; it only takes more room.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine import store_codec
from engine.store_pack import Packer, ReadFn

MARK = "store.compacted_to"
DAY = 86400
_SLICE = 500
TABLES = ("records", "feature_rows", "predictions")


def read_mark(read: ReadFn) -> int | None:
    got = read("SELECT value FROM state WHERE key = ?", (MARK,))
    if got and str(got[0][0]).lstrip("-").isdigit():
        return int(got[0][0])
    return None


def plain_floor(mark: int | None) -> int:
    """The first bucket start a writer may store uncompressed."""
    return -(1 << 62) if mark is None else mark - DAY


def compact_plain_rows(read: ReadFn, write: Callable[[Callable[[Any], Any]], Any], packer: Packer) -> int:
    """Deflate the uncompressed rows from a day before the mark on; returns how many."""
    lo = plain_floor(read_mark(read))
    zdicts = {int(c): bytes(z) for c, z in read("SELECT codec, zdict FROM dictionaries", ())}
    row_codec = max((c for c in zdicts if c != store_codec.FLOATS_APART), default=store_codec.PLAIN)
    codecs = {"records": row_codec, "feature_rows": row_codec,
              "predictions": store_codec.FLOATS_APART if store_codec.FLOATS_APART in zdicts else row_codec}
    done = 0
    newest: list[int] = []
    for table in TABLES:
        codec = codecs[table]
        for src, _user, _device in packer.sources(read):
            start = lo
            while True:
                rows = read(f"SELECT bucket_start, data FROM {table} WHERE src = ? AND bucket_start >= ?"
                            f" AND substr(data, 1, 1) = x'00' ORDER BY bucket_start LIMIT {_SLICE}", (src, start))
                if not rows:
                    break
                updates = []
                for bucket, data in rows:
                    try:
                        values = store_codec.decode(bytes(data), zdicts)
                        packed = store_codec.encode(values, codec, zdicts.get(codec))
                    except (ValueError, TypeError):  # a damaged row stays as it is
                        continue
                    updates.append((packed, src, bucket, data))
                write(lambda conn, u=updates, t=table: conn.executemany(  # type: ignore[misc]
                    f"UPDATE {t} SET data = ? WHERE src = ? AND bucket_start = ? AND data = ?", u))
                done += len(updates)
                start = int(rows[-1][0]) + 1
        tops = [int(t) for src, _user, _device in packer.sources(read)
                if (t := read(f"SELECT MAX(bucket_start) FROM {table} WHERE src = ?", (src,))[0][0]) is not None]
        if tops:  # an empty table has nothing to wait for
            newest.append(max(tops))
    if newest:
        mark = str(min(newest))
        write(lambda conn: conn.execute(
            "INSERT INTO state (key, value, updated_us) VALUES (?, ?, 0) ON CONFLICT (key)"
            " DO UPDATE SET value = excluded.value", (MARK, mark)))
    return done
