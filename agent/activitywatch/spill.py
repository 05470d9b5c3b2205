"""A temporary, sorted holding place for one import's events, on disk, already reduced.

Exports list events newest first and buckets in any order, while the replay needs each stream
oldest first. Sorting a year of events in memory is what an import must not do, so events go
into a throw-away SQLite file and come back out ordered by time. Window titles are reduced
(keyed hash, domain category) before they are written: no raw title or app path ever reaches
the disk, not even a temporary file.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from agent.activitywatch.events import AfkEvent, InputEvent
from agent.activitywatch.replay import ReducedWindow
from agent.aggregator import Foreground

_BATCH = 5000


class EventSpill:
    def __init__(self, directory: Path | None = None) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="taskclf-aw-", dir=directory)
        self._db = sqlite3.connect(str(Path(self._dir.name) / "events.sqlite3"))
        self._db.executescript(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;"
            "CREATE TABLE fg (id INTEGER PRIMARY KEY, app_id TEXT, category TEXT, browser INT,"
            " editor INT, terminal INT, title_hash TEXT, domain TEXT);"
            "CREATE TABLE win (start REAL, stop REAL, fg INT);"
            "CREATE TABLE afk (start REAL, stop REAL, afk INT);"
            "CREATE TABLE inp (start REAL, stop REAL, keys REAL, clicks REAL, scrolls REAL,"
            " px REAL);"
        )
        self._fg_ids: dict[Foreground, int] = {}
        self._rows: dict[str, list[tuple[object, ...]]] = {"win": [], "afk": [], "inp": []}
        self.counts = {"win": 0, "afk": 0, "inp": 0}

    def __enter__(self) -> EventSpill:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._db.close()
        finally:
            self._dir.cleanup()

    def _fg_id(self, fg: Foreground | None) -> int | None:
        if fg is None:
            return None
        got = self._fg_ids.get(fg)
        if got is None:
            if len(self._fg_ids) > 100_000:  # bounded: a year of unique titles must not grow it
                self._fg_ids.clear()
            cur = self._db.execute(
                "INSERT INTO fg (app_id, category, browser, editor, terminal, title_hash, domain)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (fg.app_id, fg.app_category, fg.is_browser, fg.is_editor, fg.is_terminal,
                 fg.title_hash, fg.domain_category))
            got = int(cur.lastrowid or 0)
            self._fg_ids[fg] = got
        return got

    def _add(self, table: str, row: tuple[object, ...]) -> None:
        rows = self._rows[table]
        rows.append(row)
        self.counts[table] += 1
        if len(rows) >= _BATCH:
            self._flush(table)

    def _flush(self, table: str) -> None:
        rows = self._rows[table]
        if rows:
            marks = ", ".join("?" * len(rows[0]))
            self._db.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
            rows.clear()

    def add_window(self, ev: ReducedWindow) -> None:
        self._add("win", (ev.start, ev.end, self._fg_id(ev.fg)))

    def add_afk(self, ev: AfkEvent) -> None:
        self._add("afk", (ev.start, ev.end, int(ev.afk)))

    def add_input(self, ev: InputEvent) -> None:
        self._add("inp", (ev.start, ev.end, ev.keys, ev.clicks, ev.scrolls, ev.mouse_px))

    def finish(self) -> None:
        for table in self._rows:
            self._flush(table)
            self._db.execute(f"CREATE INDEX {table}_start ON {table} (start)")
        self._db.commit()

    def span(self) -> tuple[float, float] | None:
        row = self._db.execute(
            "SELECT MIN(s), MAX(e) FROM (SELECT MIN(start) s, MAX(stop) e FROM win"
            " UNION ALL SELECT MIN(start), MAX(stop) FROM afk)").fetchone()
        return None if row is None or row[0] is None else (float(row[0]), float(row[1]))

    def windows(self) -> Iterator[ReducedWindow]:
        cache: dict[int, Foreground] = {}
        cur = self._db.cursor()
        for start, stop, fg_id, app_id, cat, br, ed, te, th, dom in cur.execute(
                "SELECT w.start, w.stop, w.fg, f.app_id, f.category, f.browser, f.editor,"
                " f.terminal, f.title_hash, f.domain FROM win w LEFT JOIN fg f ON f.id = w.fg"
                " ORDER BY w.start, w.rowid"):
            fg = None
            if fg_id is not None:
                fg = cache.get(fg_id)
                if fg is None:
                    if len(cache) > 10_000:
                        cache.clear()
                    fg = Foreground(app_id, cat, bool(br), bool(ed), bool(te), th, dom)
                    cache[fg_id] = fg
            yield ReducedWindow(start, stop, fg)

    def afks(self) -> Iterator[AfkEvent]:
        cur = self._db.cursor()
        for start, stop, afk in cur.execute("SELECT * FROM afk ORDER BY start, rowid"):
            yield AfkEvent(start, stop, bool(afk))

    def inputs(self) -> Iterator[InputEvent]:
        cur = self._db.cursor()
        for row in cur.execute("SELECT * FROM inp ORDER BY start, rowid"):
            yield InputEvent(*row)
