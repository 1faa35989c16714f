"""Engine-level benchmark: Zeitbus next to the physical limit and Zeitgeist's schema.

    uv run python bench/engine_bench.py --events 100000
    uv run python bench/engine_bench.py --events 1000000

Everything is measured side by side in one run, on the same generated data
(bench/generate.py, TARGETS.md's distribution):

* inserts through ``Engine.insert_events`` in batches of 1, 100 and 1000,
  interleaved round by round with the same rows written by plain sqlite3
  ``executemany`` into the same schema (term ids resolved beforehand, one
  transaction per batch): the physical limit;
* TARGETS.md's query set through ``Engine.find_event_ids`` and friends,
  median and p95 over repeated runs, next to a raw indexed SELECT and next to
  Zeitgeist 1.0.4's own SQL run on Zeitgeist's schema loaded with the same
  events;
* DeleteEvents in batches of 1, 100 and 1000;
* bytes per event of our file and of Zeitgeist's schema holding the same
  events (both checkpointed).

The N-event logs (ours, built through the engine in batches of 1000, and the
Zeitgeist-schema anchor) are cached under bench/results/cache, keyed by size,
seed, generator version and a fingerprint of our schema, so reruns skip the
build; the first build's rate is kept with the cache. Results are printed as
a table with PASS/FAIL against issue 2's "Done when" and written as JSON to
bench/results/. docs/performance.md describes the method.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import json
import math
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.generate import GENERATOR_VERSION, EventGenerator
from zeitbus import (
    Engine,
    Event,
    RelevantResultType,
    ResultType,
    StorageState,
    Subject,
    TimeRange,
)
from zeitbus.ids import UidGenerator
from zeitbus.ontology import NFO, ZG
from zeitbus.store import sqlite as zeitbus_sqlite
from zeitbus.validation import prepare

Json = dict[str, Any]

RESULTS = Path(__file__).resolve().parent / "results"
CACHE = RESULTS / "cache"
BUILD_BATCH = 1000

# TARGETS.md's Zeitgeist 1.0.4 figures (D-Bus, 100k events), for reference only.
ZEITGEIST_BYTES_PER_EVENT = 860  # 73.8 MB DB + 12.5 MB WAL at 100k events
ZEITGEIST_DB_BYTES_PER_EVENT = 738  # the DB file alone

# -- timing --------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (p95 of 5 samples is their maximum)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Timing:
    """Repeated timings of one operation, in seconds."""

    samples: list[float]
    items: int = 1  # events per call, for rates

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        return percentile(self.samples, 0.95)

    @property
    def rate(self) -> float:
        """Items per second at the median call time."""
        return self.items / self.median if self.median > 0 else math.inf

    def as_json(self) -> dict[str, object]:
        return {
            "median_ms": self.median * 1000,
            "p95_ms": self.p95 * 1000,
            "reps": len(self.samples),
            "items_per_call": self.items,
            "rate_per_s": self.rate,
        }


def measure(
    fn: Callable[[], object], *, min_reps: int = 5, max_reps: int = 40, budget: float = 2.0
) -> Timing:
    """Warm up once, then time ``fn`` until ``budget`` seconds or ``max_reps``."""
    fn()
    samples: list[float] = []
    start = time.perf_counter()
    while len(samples) < max_reps and (
        len(samples) < min_reps or time.perf_counter() - start < budget
    ):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return Timing(samples)


def measure_pair(
    a: Callable[[], object],
    b: Callable[[], object],
    *,
    reps: int = 40,
) -> tuple[Timing, Timing]:
    """Time ``a`` and ``b`` alternately (so both see the same machine load)."""
    a()
    b()
    ta: list[float] = []
    tb: list[float] = []
    for i in range(reps):
        for fn, out in ((a, ta), (b, tb)) if i % 2 == 0 else ((b, tb), (a, ta)):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return Timing(ta), Timing(tb)


# -- files -----------------------------------------------------------------------


def remove_db(path: Path) -> None:
    """Delete a database file with its WAL and shared-memory files."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            Path(str(path) + suffix).unlink()


def checkpoint(path: Path) -> None:
    """Fold the WAL into the main file and truncate it."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def copy_db(source: Path, target: Path) -> None:
    """A private copy of a checkpointed database."""
    remove_db(target)
    checkpoint(source)
    shutil.copyfile(source, target)


def file_stats(path: Path) -> dict[str, object]:
    """Size of a checkpointed database, and bytes by table and index (dbstat)."""
    checkpoint(path)
    conn = sqlite3.connect(path)
    try:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        parts = {
            name: int(size)
            for name, size in conn.execute(
                "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
            )
        }
    finally:
        conn.close()
    wal = Path(str(path) + "-wal")
    return {
        "bytes": page_size * pages,
        "file_bytes": path.stat().st_size,
        "wal_bytes": wal.stat().st_size if wal.exists() else 0,
        "page_size": page_size,
        "free_pages": free,
        "parts": parts,
    }


def schema_fingerprint() -> str:
    """A short hash of the schema a fresh Zeitbus log gets (cache key)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fingerprint.sqlite"
        Engine.open(path).close()
        conn = sqlite3.connect(path)
        try:
            rows = conn.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master"
                " WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name"
            ).fetchall()
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        finally:
            conn.close()
    return hashlib.sha1(json.dumps([version, rows]).encode()).hexdigest()[:10]


# -- building the logs -------------------------------------------------------------


def build_engine_log(n: int, seed: int, fingerprint: str, rebuild: bool) -> tuple[Path, Json]:
    """The N-event Zeitbus log, built through the engine in batches of 1000 (cached)."""
    path = CACHE / f"zeitbus-n{n}-s{seed}-g{GENERATOR_VERSION}-{fingerprint}.sqlite"
    info_path = path.with_suffix(".json")
    if path.exists() and info_path.exists() and not rebuild:
        info = json.loads(info_path.read_text())
        info["cached"] = True
        return path, info
    CACHE.mkdir(parents=True, exist_ok=True)
    building = path.with_name(path.stem + "-building.sqlite")
    remove_db(building)
    generator = EventGenerator(seed, n)
    engine = Engine.open(building)
    insert_seconds = 0.0
    deciles: list[float] = []
    decile_time = 0.0
    decile_events = 0
    done = 0
    started = time.perf_counter()
    last_report = started
    try:
        while done < n:
            batch = generator.take(min(BUILD_BATCH, n - done))
            t0 = time.perf_counter()
            engine.insert_events(batch)
            elapsed = time.perf_counter() - t0
            insert_seconds += elapsed
            decile_time += elapsed
            decile_events += len(batch)
            done += len(batch)
            if decile_events >= n // 10 or done == n:
                deciles.append(decile_events / decile_time)
                decile_time, decile_events = 0.0, 0
            if time.perf_counter() - last_report > 10:
                last_report = time.perf_counter()
                print(
                    f"  building: {done:,}/{n:,} events, {done / insert_seconds:,.0f} events/s",
                    file=sys.stderr,
                )
    finally:
        engine.close()
    checkpoint(building)
    remove_db(path)
    os.replace(building, path)
    remove_db(building)
    info = {
        "events": n,
        "seed": seed,
        "batch": BUILD_BATCH,
        "insert_seconds": insert_seconds,
        "wall_seconds": time.perf_counter() - started,
        "rate": n / insert_seconds,
        "decile_rates": deciles,
        "last_timestamp": generator.timestamp,
        "built_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "cached": False,
    }
    info_path.write_text(json.dumps(info, indent=1))
    return path, info


# Zeitgeist 1.0.4's core schema v11 (docs ZEITGEIST.md §4): lookup tables, the
# flat event table with its dedup primary key and 15 indexes. The v11 delete
# triggers are left out: they take no space and the anchor is never deleted from.
ZEITGEIST_SCHEMA = """
CREATE TABLE uri (id INTEGER PRIMARY KEY, value VARCHAR UNIQUE);
CREATE TABLE interpretation (id INTEGER PRIMARY KEY AUTOINCREMENT, value VARCHAR UNIQUE);
CREATE TABLE manifestation (id INTEGER PRIMARY KEY AUTOINCREMENT, value VARCHAR UNIQUE);
CREATE TABLE mimetype (id INTEGER PRIMARY KEY AUTOINCREMENT, value VARCHAR UNIQUE);
CREATE TABLE actor (id INTEGER PRIMARY KEY AUTOINCREMENT, value VARCHAR UNIQUE);
CREATE TABLE text (id INTEGER PRIMARY KEY, value VARCHAR UNIQUE);
CREATE TABLE payload (id INTEGER PRIMARY KEY, value BLOB);
CREATE TABLE storage (id INTEGER PRIMARY KEY, value VARCHAR UNIQUE, state INTEGER,
    icon VARCHAR, display_name VARCHAR);
CREATE TABLE event (
    id INTEGER NOT NULL, timestamp INTEGER NOT NULL,
    interpretation INTEGER NOT NULL, manifestation INTEGER NOT NULL, actor INTEGER NOT NULL,
    payload INTEGER, subj_id INTEGER NOT NULL, subj_interpretation INTEGER,
    subj_manifestation INTEGER, subj_origin INTEGER, subj_mimetype INTEGER,
    subj_text INTEGER, subj_storage INTEGER, origin INTEGER, subj_id_current INTEGER,
    subj_origin_current INTEGER,
    PRIMARY KEY (timestamp, interpretation, manifestation, actor, subj_id)
);
CREATE TABLE extensions_conf (extension VARCHAR, key VARCHAR, value BLOB,
    CONSTRAINT unique_extension UNIQUE (extension, key));
CREATE TABLE schema_version (schema VARCHAR PRIMARY KEY ON CONFLICT REPLACE, version INT);
INSERT INTO schema_version VALUES ('core', 11);
CREATE INDEX event_id ON event (id, timestamp);
CREATE INDEX event_timestamp ON event (timestamp, id);
CREATE INDEX event_interpretation ON event (interpretation, timestamp, id);
CREATE INDEX event_manifestation ON event (manifestation, timestamp, id);
CREATE INDEX event_actor ON event (actor, timestamp, id);
CREATE INDEX event_origin ON event (origin, timestamp, id);
CREATE INDEX event_subj_id ON event (subj_id, timestamp, subj_interpretation, id);
CREATE INDEX event_subj_id_current ON event (subj_id_current, timestamp, subj_interpretation, id);
CREATE INDEX event_subj_interpretation ON event (subj_interpretation, timestamp, subj_id, id);
CREATE INDEX event_subj_manifestation ON event (subj_manifestation, timestamp, subj_id, id);
CREATE INDEX event_subj_origin ON event (subj_origin, timestamp, subj_interpretation, subj_id, id);
CREATE INDEX event_subj_origin_current
    ON event (subj_origin_current, timestamp, subj_interpretation, subj_id, id);
CREATE INDEX event_subj_mimetype ON event (subj_mimetype, timestamp, id);
CREATE INDEX event_subj_text ON event (subj_text, timestamp, id);
CREATE INDEX event_subj_storage ON event (subj_storage, timestamp, id);
"""

# GetEvents reads this view (ZEITGEIST.md §4): ids resolved by correlated sub-selects.
# A TEMP view, so that it also works on a read-only connection to a cached anchor.
ZEITGEIST_EVENT_VIEW = """
CREATE TEMP VIEW IF NOT EXISTS event_view AS SELECT
    event.id, event.timestamp, event.interpretation, event.manifestation, event.actor,
    (SELECT value FROM payload WHERE payload.id = event.payload) AS payload,
    (SELECT value FROM uri WHERE uri.id = event.subj_id) AS subj_uri,
    event.subj_id, event.subj_interpretation, event.subj_manifestation, event.subj_origin,
    (SELECT value FROM uri WHERE uri.id = event.subj_origin) AS subj_origin_uri,
    event.subj_mimetype,
    (SELECT value FROM text WHERE text.id = event.subj_text) AS subj_text,
    (SELECT value FROM storage WHERE storage.id = event.subj_storage) AS subj_storage,
    (SELECT state FROM storage WHERE storage.id = event.subj_storage) AS subj_storage_state,
    event.origin,
    (SELECT value FROM uri WHERE uri.id = event.origin) AS event_origin_uri,
    (SELECT value FROM uri WHERE uri.id = event.subj_id_current) AS subj_current_uri,
    event.subj_id_current, event.subj_text AS subj_text_id, event.subj_storage AS subj_storage_id,
    (SELECT value FROM actor WHERE actor.id = event.actor) AS actor_uri,
    event.subj_origin_current,
    (SELECT value FROM uri WHERE uri.id = event.subj_origin_current) AS subj_origin_current_uri
FROM event
"""

_ZG_INSERT = "INSERT INTO event VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


class ZeitgeistLoader:
    """Writes events into Zeitgeist's schema as its engine lays them out."""

    TABLES = ("uri", "interpretation", "manifestation", "mimetype", "actor", "text", "storage")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.ids: dict[str, dict[str, int]] = {table: {} for table in self.TABLES}
        self.pending: dict[str, list[tuple[int, str]]] = {table: [] for table in self.TABLES}
        self.next_id = dict.fromkeys(self.TABLES, 1)
        self.payload_id = 1
        self.event_id = 0

    def _id(self, table: str, value: str) -> int | None:
        if not value:
            return None
        ids = self.ids[table]
        found = ids.get(value)
        if found is None:
            found = ids[value] = self.next_id[table]
            self.next_id[table] += 1
            self.pending[table].append((found, value))
        return found

    def write(self, events: Sequence[Event]) -> None:
        """One transaction: new lookup values, payloads, then one row per subject."""
        rows: list[tuple[object, ...]] = []
        payloads: list[tuple[int, bytes]] = []
        for raw in events:
            event = prepare(raw)
            self.event_id += 1
            payload = None
            if event.payload:
                payload = self.payload_id
                payloads.append((payload, event.payload))
                self.payload_id += 1
            interpretation = self._id("interpretation", event.interpretation)
            manifestation = self._id("manifestation", event.manifestation)
            actor = self._id("actor", event.actor)
            origin = self._id("uri", event.origin)
            for s in event.subjects:
                subj_id = self._id("uri", s.uri)
                rows.append(
                    (
                        self.event_id,
                        event.timestamp,
                        interpretation,
                        manifestation,
                        actor,
                        payload,
                        subj_id,
                        self._id("interpretation", s.interpretation),
                        self._id("manifestation", s.manifestation),
                        self._id("uri", s.origin),
                        self._id("mimetype", s.mimetype),
                        self._id("text", s.text),
                        self._id("storage", s.storage),
                        origin,
                        self._id("uri", s.current_uri),
                        self._id("uri", s.current_origin),
                    )
                )
        conn = self.conn
        conn.execute("BEGIN")
        for table, values in self.pending.items():
            if values:
                conn.executemany(f"INSERT INTO {table} (id, value) VALUES (?, ?)", values)
                values.clear()
        if payloads:
            conn.executemany("INSERT INTO payload (id, value) VALUES (?, ?)", payloads)
        conn.executemany(_ZG_INSERT, rows)
        conn.execute("COMMIT")


def build_zeitgeist_log(n: int, seed: int, rebuild: bool) -> tuple[Path, Json]:
    """The same N events in Zeitgeist 1.0.4's schema, via executemany (cached)."""
    path = CACHE / f"zeitgeist-n{n}-s{seed}-g{GENERATOR_VERSION}.sqlite"
    info_path = path.with_suffix(".json")
    if path.exists() and info_path.exists() and not rebuild:
        info = json.loads(info_path.read_text())
        info["cached"] = True
        return path, info
    CACHE.mkdir(parents=True, exist_ok=True)
    building = path.with_name(path.stem + "-building.sqlite")
    remove_db(building)
    conn = sqlite3.connect(building, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA cache_size = -64000")
    conn.executescript(ZEITGEIST_SCHEMA)
    loader = ZeitgeistLoader(conn)
    generator = EventGenerator(seed, n)
    done = 0
    seconds = 0.0
    while done < n:
        batch = generator.take(min(BUILD_BATCH, n - done))
        t0 = time.perf_counter()
        loader.write(batch)
        seconds += time.perf_counter() - t0
        done += len(batch)
    conn.execute("ANALYZE")
    conn.close()
    checkpoint(building)
    remove_db(path)
    os.replace(building, path)
    remove_db(building)
    info = {"events": n, "seed": seed, "seconds": seconds, "rate": n / seconds, "cached": False}
    info_path.write_text(json.dumps(info, indent=1))
    return path, info


# -- inserts -------------------------------------------------------------------------


def connect_like_engine(path: Path) -> sqlite3.Connection:
    """A writer connection with the PRAGMAs the engine's writer uses."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.execute("PRAGMA cache_size = -32000")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA mmap_size = 268435456")
    return conn


def _engine_checkpoints() -> tuple[float | None, int | None, int | None]:
    """(seconds between background checkpoints, backstop pages, WAL size limit).

    All None if the engine has no background checkpointer.
    """
    every: float | None = getattr(zeitbus_sqlite, "_CHECKPOINT_INTERVAL", None)
    backstop: int | None = getattr(zeitbus_sqlite, "_BACKSTOP_PAGES", None)
    limit: int | None = getattr(zeitbus_sqlite, "_WAL_LIMIT", None)
    return every, backstop, limit


def raw_checkpoint_policy() -> str:
    """How the raw paths checkpoint (the engine's policy, mirrored)."""
    every, backstop, limit = _engine_checkpoints()
    if every:
        return (
            f"background PASSIVE checkpoint at most every {every:g} s while writing,"
            f" backstop {backstop} pages, journal_size_limit {limit}"
        )
    return "SQLite's automatic checkpoint every 1000 pages, on the committing thread"


class RawWriter:
    """A plain sqlite3 writer with the engine writer's PRAGMAs and checkpoint policy.

    If the engine checkpoints the WAL on a background thread (so that its commits
    only append), the raw path does the same at the same cadence; otherwise it
    keeps SQLite's automatic checkpoints, as the engine does. Either way the
    floor pays for checkpoints exactly as the engine does.
    """

    def __init__(self, path: Path) -> None:
        self.conn = connect_like_engine(path)
        self.every, backstop, limit = _engine_checkpoints()
        self._last = 0.0
        self._closed = False
        self._wanted = threading.Event()
        self._thread: threading.Thread | None = None
        if self.every:
            self.conn.execute(f"PRAGMA wal_autocheckpoint = {backstop or 0}")
            if limit:
                self.conn.execute(f"PRAGMA journal_size_limit = {limit}")
            self._thread = threading.Thread(target=self._loop, args=(path,), daemon=True)
            self._thread.start()

    def _loop(self, path: Path) -> None:
        conn = sqlite3.connect(path, isolation_level=None, timeout=10.0)
        try:
            while True:
                self._wanted.wait()
                self._wanted.clear()
                if self._closed:
                    return
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()

    def committed(self, changes_before: int) -> None:
        """Ask for a checkpoint after a commit that wrote, as the engine would."""
        if not self.every or self.conn.total_changes == changes_before:
            return
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self._wanted.set()

    def close(self) -> None:
        self._closed = True
        self._wanted.set()
        if self._thread is not None:
            self._thread.join()
        self.conn.close()


@dataclass
class RawBatch:
    """The rows one batch stores, ids assigned up front, for the raw executemany path.

    Besides the events, their subjects and their changes, these are the rows
    the batch creates on the way: terms and subject_info rows (and storages)
    the log did not have yet. The engine writes them too, so the floor does.
    """

    terms: list[tuple[int, str]] = field(default_factory=list)
    storages: list[tuple[int]] = field(default_factory=list)
    infos: list[tuple[object, ...]] = field(default_factory=list)
    events: list[tuple[object, ...]] = field(default_factory=list)
    subjects: list[tuple[object, ...]] = field(default_factory=list)
    changes: list[tuple[int]] = field(default_factory=list)


class RawRows:
    """Turns events into the rows Zeitbus stores, every id (term, info, event) given here.

    Batches must be written in the order they were made: a batch's new terms
    and infos are written with it, and later batches refer to them.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.terms: dict[str, int] = dict(conn.execute("SELECT value, id FROM term").fetchall())
        self.next_term = int(conn.execute("SELECT max(id) FROM term").fetchone()[0])
        self.storages = {row[0] for row in conn.execute("SELECT id FROM storage")}
        self.last_id = int(
            conn.execute("SELECT value FROM meta WHERE key = 'last_id'").fetchone()[0]
        )
        node = conn.execute("SELECT value FROM meta WHERE key = 'node'").fetchone()[0]
        row = conn.execute("SELECT id FROM node WHERE name = ?", (node,)).fetchone()
        self.node = int(row[0]) if row else 1
        self.uids = UidGenerator()
        self.infos: dict[tuple[object, ...], int] = {
            tuple(row[1:]): int(row[0])
            for row in conn.execute(
                "SELECT id, uri, actor, interpretation, manifestation, origin, mimetype, text,"
                " storage FROM subject_info"
            )
        }
        self.next_info = max(self.infos.values(), default=0)

    def batch(self, events: Sequence[Event]) -> RawBatch:
        out = RawBatch()

        def term(value: str) -> int:
            found = self.terms.get(value)
            if found is None:
                self.next_term += 1
                found = self.terms[value] = self.next_term
                out.terms.append((found, value))
            return found

        def opt(value: str) -> int | None:
            return term(value) if value else None

        uids = self.uids.batch(len(events))
        for raw, uid in zip(events, uids, strict=True):
            event = prepare(raw)
            self.last_id += 1
            event_id = self.last_id
            actor = term(event.actor)
            out.events.append(
                (
                    event_id,
                    event.ts,
                    term(event.interpretation),
                    term(event.manifestation),
                    actor,
                    opt(event.origin),
                    uid,
                    self.node,
                    event.payload or None,
                )
            )
            out.changes.append((event_id,))
            for position, s in enumerate(event.subjects):
                if s.current_origin == s.origin:
                    current_origin = None
                else:
                    current_origin = term(s.current_origin) if s.current_origin else 0
                current_uri = term(s.current_uri) if s.current_uri != s.uri else None
                key = (
                    term(s.uri),
                    actor,
                    opt(s.interpretation),
                    opt(s.manifestation),
                    opt(s.origin),
                    opt(s.mimetype),
                    opt(s.text),
                    opt(s.storage),
                )
                info = self.infos.get(key)
                if info is None:
                    self.next_info += 1
                    info = self.infos[key] = self.next_info
                    out.infos.append((info, *key))
                    storage = key[7]
                    if storage is not None and storage not in self.storages:
                        self.storages.add(storage)
                        out.storages.append((storage,))
                out.subjects.append(
                    (event_id, position, event.ts, current_uri, current_origin, info)
                )
        return out


_RAW_INFO = (
    "INSERT INTO subject_info (id, uri, actor, interpretation, manifestation, origin, mimetype,"
    " text, storage, rows) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)"
)
_RAW_EVENT = (
    "INSERT INTO event (id, timestamp, interpretation, manifestation, actor, origin, uid, node,"
    " payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_RAW_SUBJECT = (
    "INSERT INTO subject (event_id, position, timestamp, current_uri, current_origin, info)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)


def raw_write(writer: RawWriter, batch: RawBatch) -> None:
    """The physical limit: the batch's rows, one transaction, nothing else."""
    conn = writer.conn
    before = conn.total_changes
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO term (id, value) VALUES (?, ?)", batch.terms)
    conn.executemany("INSERT INTO storage (id) VALUES (?)", batch.storages)
    conn.executemany(_RAW_INFO, batch.infos)
    conn.executemany(_RAW_EVENT, batch.events)
    conn.executemany(_RAW_SUBJECT, batch.subjects)
    conn.executemany("INSERT INTO change (event_id) VALUES (?)", batch.changes)
    conn.execute("COMMIT")
    writer.committed(before)


def bench_inserts(
    base: Path, work: Path, n: int, seed: int, last_ts: int, plan: Sequence[tuple[int, int]]
) -> dict[str, dict[str, object]]:
    """Engine vs raw executemany on two copies of the N-event log, interleaved."""
    engine_path, raw_path = work / "insert-engine.sqlite", work / "insert-raw.sqlite"
    copy_db(base, engine_path)
    copy_db(base, raw_path)
    generator = EventGenerator(seed, n, stream=1, start_ms=last_ts + 60_000)
    raw_writer = RawWriter(raw_path)
    rows = RawRows(raw_writer.conn)
    work_plan: list[tuple[int, list[list[Event]], list[RawBatch]]] = []
    for size, count in plan:
        events = generator.take(count)
        batches = [events[i : i + size] for i in range(0, count, size)]
        raws = [rows.batch(b) for b in batches]
        work_plan.append((size, batches, raws))
    engine = Engine.open(engine_path)
    out: dict[str, dict[str, object]] = {}
    # The events and rows made above (and the generator's corpus) stay alive for the
    # whole stage; freezing them keeps every full collection the engine's allocations
    # trigger from walking them, as the daemon freezes what it made at start-up.
    gc.collect()
    gc.freeze()
    try:
        for size, batches, raws in work_plan:
            per_round = {1: 200, 100: 10}.get(size, 5)
            engine_times: list[float] = []
            raw_times: list[float] = []
            for start in range(0, len(batches), per_round):
                rounds: list[tuple[Callable[[int], None], list[float]]] = [
                    (partial(_insert, engine, batches), engine_times),
                    (partial(_raw_insert, raw_writer, raws), raw_times),
                ]
                if (start // per_round) % 2:
                    rounds.reverse()
                for run, times in rounds:
                    for i in range(start, min(start + per_round, len(batches))):
                        t0 = time.perf_counter()
                        run(i)
                        times.append(time.perf_counter() - t0)
            inserted = sum(len(b) for b in batches)
            # Inserts defer the aggregates to a fold (every FOLD_EVERY events, or when
            # the writes pause); the rate includes folding what these inserts left.
            t0 = time.perf_counter()
            engine.store.fold()
            fold_seconds = time.perf_counter() - t0
            engine_rate = inserted / (sum(engine_times) + fold_seconds)
            raw_rate = inserted / sum(raw_times)
            out[str(size)] = {
                "batch": size,
                "events": inserted,
                "engine_rate": engine_rate,
                "raw_rate": raw_rate,
                "ratio": engine_rate / raw_rate,
                "engine_batch": Timing(engine_times, size).as_json(),
                "engine_final_fold_s": fold_seconds,
                "raw_batch": Timing(raw_times, size).as_json(),
            }
    finally:
        gc.unfreeze()
        engine.close()
        raw_writer.close()
    remove_db(engine_path)
    remove_db(raw_path)
    return out


def _insert(engine: Engine, batches: list[list[Event]], i: int) -> None:
    engine.insert_events(batches[i])


def _raw_insert(writer: RawWriter, batches: list[RawBatch], i: int) -> None:
    raw_write(writer, batches[i])


# -- queries ---------------------------------------------------------------------------


@dataclass
class Query:
    """One row of the query table."""

    name: str
    group: str
    run: Callable[[], object]
    target_ms: float | None = None  # issue 2's "Done when" at 1M
    slow: bool = False


@dataclass
class Picks:
    """Real values from the log, to build templates with."""

    actor: str
    actor_id: int
    event_origin: str
    uri: str
    subject_origin: str
    text: str
    file_uri: str
    typical_file_uri: str
    last_ts: int


def pick_values(path: Path) -> Picks:
    """The most frequent value of each field (the common, busy case)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:

        def top(sql: str) -> int:
            return int(conn.execute(sql).fetchone()[0])

        def value(term: int) -> str:
            return str(conn.execute("SELECT value FROM term WHERE id = ?", (term,)).fetchone()[0])

        actor = top("SELECT actor FROM event GROUP BY actor ORDER BY count(*) DESC LIMIT 1")
        origin = top(
            "SELECT origin FROM event WHERE origin IS NOT NULL"
            " GROUP BY origin ORDER BY count(*) DESC LIMIT 1"
        )
        uri = top("SELECT uri FROM subject_info GROUP BY uri ORDER BY sum(rows) DESC LIMIT 1")
        s_origin = top(
            "SELECT origin FROM subject_info WHERE origin IS NOT NULL"
            " GROUP BY origin ORDER BY sum(rows) DESC LIMIT 1"
        )
        text = top(
            "SELECT text FROM subject_info WHERE text IS NOT NULL"
            " GROUP BY text ORDER BY sum(rows) DESC LIMIT 1"
        )
        file_uri = conn.execute(
            "SELECT t.value FROM subject_info i JOIN term t ON t.id = i.uri"
            " WHERE t.value LIKE 'file:%' GROUP BY i.uri ORDER BY sum(i.rows) DESC LIMIT 1"
        ).fetchone()[0]
        typical = conn.execute(
            "SELECT t.value FROM subject_info i JOIN term t ON t.id = i.uri"
            " WHERE t.value LIKE 'file:%' GROUP BY i.uri HAVING sum(i.rows) BETWEEN 10 AND 20"
            " ORDER BY i.uri LIMIT 1"
        ).fetchone()
        last_ts = top("SELECT max(timestamp) FROM event")
        return Picks(
            actor=value(actor),
            actor_id=actor,
            event_origin=value(origin),
            uri=value(uri),
            subject_origin=value(s_origin),
            text=value(text),
            file_uri=str(file_uri),
            typical_file_uri=str(typical[0]) if typical else str(file_uri),
            last_ts=last_ts,
        )
    finally:
        conn.close()


ALWAYS = TimeRange.always()
DOCUMENTS_PREFIX = "file:///home/user/Documents/*"


def single_field_templates(p: Picks) -> list[tuple[str, Event]]:
    """One template per field, each with the field's most frequent value."""

    def subj(**kw: str) -> Event:
        return Event(subjects=(Subject(**kw),))

    return [
        ("actor", Event(actor=p.actor)),
        ("event interpretation", Event(interpretation=ZG + "AccessEvent")),
        ("event manifestation", Event(manifestation=ZG + "UserActivity")),
        ("event origin", Event(origin=p.event_origin)),
        ("subject uri", subj(uri=p.uri)),
        ("subject current_uri", subj(current_uri=p.uri)),
        ("subject origin", subj(origin=p.subject_origin)),
        ("subject interpretation (Document+8)", subj(interpretation=NFO + "Document")),
        ("subject manifestation (FileDataObject)", subj(manifestation=NFO + "FileDataObject")),
        ("subject mimetype", subj(mimetype="application/pdf")),
        ("subject text", subj(text=p.text)),
        ("subject storage (net)", subj(storage="net")),
    ]


def engine_queries(engine: Engine, p: Picks, n: int, seed: int) -> list[Query]:
    """TARGETS.md's query set, through the engine API."""
    find = engine.find_event_ids
    out: list[Query] = [
        Query("50 most recent, no template", "recent", lambda: find(ALWAYS, [], 2, 50, 0), 5.0)
    ]
    for name, template in single_field_templates(p):
        out.append(
            Query(
                f"50 most recent, {name}",
                "recent",
                partial(find, ALWAYS, [template], 2, 50, 0),
                5.0,
            )
        )
    prefix = Event(subjects=(Subject(uri=DOCUMENTS_PREFIX),))
    out.append(
        Query(
            "50 most recent, subject uri Documents/*",
            "recent",
            lambda: find(ALWAYS, [prefix], 2, 50, 0),
            5.0,
        )
    )
    for rt in ResultType:
        target = 100.0 if rt.group is not None else 5.0
        out.append(
            Query(
                f"{rt.name}, num 50",
                "grouped" if rt.group is not None else "recent",
                partial(find, ALWAYS, [], 2, 50, rt),
                target,
            )
        )
    month = TimeRange(p.last_ts - 30 * 86_400_000, p.last_ts)
    actor_t = Event(actor=p.actor)
    doc_t = Event(subjects=(Subject(interpretation=NFO + "Document"),))
    pdf_t = Event(subjects=(Subject(mimetype="application/pdf"),))
    with_template: list[tuple[str, TimeRange, Event | None, ResultType]] = [
        ("MOST_POPULAR_SUBJECTS, actor", ALWAYS, actor_t, ResultType.MOST_POPULAR_SUBJECTS),
        ("MOST_RECENT_SUBJECTS, Document+8", ALWAYS, doc_t, ResultType.MOST_RECENT_SUBJECTS),
        ("MOST_RECENT_SUBJECTS, Documents/*", ALWAYS, prefix, ResultType.MOST_RECENT_SUBJECTS),
        ("MOST_POPULAR_ACTOR, mimetype pdf", ALWAYS, pdf_t, ResultType.MOST_POPULAR_ACTOR),
        ("MOST_POPULAR_MIMETYPE, last 30 days", month, None, ResultType.MOST_POPULAR_MIMETYPE),
        ("MOST_POPULAR_SUBJECTS, last 30 days", month, None, ResultType.MOST_POPULAR_SUBJECTS),
    ]
    for name, time_range, tpl, rt in with_template:
        templates = [tpl] if tpl is not None else []
        out.append(
            Query(
                f"{name}, num 50",
                "grouped+template",
                partial(find, time_range, templates, 2, 50, rt),
                100.0,
            )
        )
    out.append(Query("all ids", "bulk", lambda: find(ALWAYS, [], 2, 0, 0), slow=True))
    rng = random.Random(f"get-{seed}")
    for k in (100, 1000):
        out.append(
            Query(
                f"GetEvents {k} random ids",
                "bulk",
                partial(_get_random, engine, rng, n, k),
            )
        )
    file_t = Event(subjects=(Subject(uri=p.file_uri),))
    files_t = Event(subjects=(Subject(manifestation=NFO + "FileDataObject"),))
    out.append(
        Query(
            "FindRelatedUris, busiest file, result: files",
            "related",
            lambda: engine.find_related_uris(
                ALWAYS, [file_t], [files_t], StorageState.ANY, 10, RelevantResultType.RECENT
            ),
            slow=True,
        )
    )
    typical_t = Event(subjects=(Subject(uri=p.typical_file_uri),))
    out.append(
        Query(
            "FindRelatedUris, a file with 10-20 events, result: files",
            "related",
            lambda: engine.find_related_uris(
                ALWAYS, [typical_t], [files_t], StorageState.ANY, 10, RelevantResultType.RECENT
            ),
            slow=True,
        )
    )
    out.append(
        Query(
            "FindRelatedUris, busiest file, last 30 days",
            "related",
            lambda: engine.find_related_uris(
                month, [file_t], [files_t], StorageState.ANY, 10, RelevantResultType.RECENT
            ),
            slow=True,
        )
    )
    return out


def _get_random(engine: Engine, rng: random.Random, n: int, k: int) -> object:
    return engine.get_events(rng.sample(range(1, n + 1), k))


def run_queries(queries: list[Query], budget: float) -> dict[str, Timing]:
    """Each query timed on its own: median and p95 over repeated runs."""
    out: dict[str, Timing] = {}
    for q in queries:
        t0 = time.perf_counter()
        q.run()
        first = time.perf_counter() - t0
        if q.slow or first > 0.5:
            timing = measure(q.run, min_reps=3, max_reps=5, budget=budget)
        else:
            timing = measure(q.run, min_reps=10, max_reps=60, budget=budget)
        out[q.name] = timing
    return out


def raw_select_limit(engine: Engine, path: Path, p: Picks) -> dict[str, dict[str, object]]:
    """The "one indexed SELECT" limit, interleaved with the engine's equivalent."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.execute("PRAGMA cache_size = -32000")
    conn.execute("PRAGMA mmap_size = 268435456")
    out: dict[str, dict[str, object]] = {}
    try:
        cases: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
            (
                "50 most recent, no template",
                lambda: engine.find_event_ids(ALWAYS, [], 2, 50, 0),
                lambda: conn.execute(
                    "SELECT id FROM event ORDER BY timestamp DESC LIMIT 50"
                ).fetchall(),
            ),
            (
                "50 most recent, actor",
                lambda: engine.find_event_ids(ALWAYS, [Event(actor=p.actor)], 2, 50, 0),
                lambda: conn.execute(
                    "SELECT id FROM event WHERE actor = ? ORDER BY timestamp DESC LIMIT 50",
                    (p.actor_id,),
                ).fetchall(),
            ),
        ]
        for name, eng, raw in cases:
            te, tr = measure_pair(eng, raw, reps=200)
            out[name] = {
                "engine": te.as_json(),
                "raw": tr.as_json(),
                "ratio": te.median / tr.median,
            }
    finally:
        conn.close()
    return out


# -- Zeitgeist's SQL on Zeitgeist's schema (same data) --------------------------------


def zeitgeist_queries(path: Path, p: Picks) -> list[tuple[str, Callable[[], object]]]:
    """Zeitgeist 1.0.4's SQL (db-reader.vala) for part of the query set, as it runs it."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    conn.execute("PRAGMA cache_size = 24")  # what zeitgeist-daemon's connection uses (§4)
    conn.execute(ZEITGEIST_EVENT_VIEW)
    lookup = {
        table: dict(conn.execute(f"SELECT value, id FROM {table}").fetchall())
        for table in ("actor", "mimetype", "interpretation")
    }
    always = "timestamp <= 9223372036854775807"

    def step(sql: str, params: Sequence[object] = (), limit: int = 50) -> list[int]:
        ids: list[int] = []
        for row in conn.execute(sql, params):
            event_id = row[0]
            if not ids or ids[-1] != event_id:
                ids.append(event_id)
                if len(ids) == limit:
                    break
        return ids

    def recent(where: str, params: Sequence[object] = ()) -> Callable[[], object]:
        sql = f"SELECT id FROM event WHERE {where} ORDER BY timestamp DESC"
        return lambda: step(sql, params)

    def grouped(
        column: str, popular: bool, where: str = always, params: Sequence[object] = ()
    ) -> Callable[[], object]:
        """group_and_sort(): a NATURAL JOIN form, or a plain GROUP BY for filtered recency."""
        count = f", COUNT({column}) AS num_events" if popular else ""
        order = "num_events DESC, " if popular else ""
        if popular or where.startswith("timestamp"):
            sql = (
                f"SELECT id FROM event NATURAL JOIN (SELECT {column}, max(timestamp) AS timestamp"
                f"{count} FROM event WHERE {where} GROUP BY {column}) GROUP BY {column}"
                f" ORDER BY {order}timestamp DESC"
            )
        else:
            sql = (
                f"SELECT id, max(timestamp) AS timestamp FROM event WHERE {where}"
                f" AND {column} IS NOT NULL GROUP BY {column} ORDER BY timestamp DESC"
            )
        return lambda: step(sql, params)

    document = [NFO + "Document"] + [
        NFO + x
        for x in (
            "MindMap",
            "Presentation",
            "Spreadsheet",
            "TextDocument",
            "PaginatedTextDocument",
            "PlainTextDocument",
            "HtmlDocument",
            "SourceCode",
        )
    ]
    doc_ids = " OR ".join(
        f"subj_interpretation = {lookup['interpretation'].get(u, -1)} " for u in document
    )
    prefix = DOCUMENTS_PREFIX[:-1]
    bound = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    actor_where = f"({always} AND actor = {lookup['actor'].get(p.actor, -1)})"
    pdf = lookup["mimetype"].get("application/pdf", -1)
    in_range = "SELECT id FROM uri WHERE (value >= ? AND value < ?)"
    prefix_where = f"({always} AND subj_id IN ({in_range}))"
    month = f"timestamp >= {p.last_ts - 30 * 86_400_000} AND timestamp <= {p.last_ts}"
    rng = random.Random("zg-get")
    n = int(conn.execute("SELECT max(id) FROM event").fetchone()[0])

    def get(k: int) -> Callable[[], object]:
        def run() -> object:
            ids = ",".join(str(i) for i in rng.sample(range(1, n + 1), k))
            return conn.execute(f"SELECT * FROM event_view WHERE id IN ({ids})").fetchall()

        return run

    return [
        ("GetEvents 100 random ids", get(100)),
        ("GetEvents 1000 random ids", get(1000)),
        ("50 most recent, no template", recent(always)),
        ("50 most recent, actor", recent(actor_where)),
        ("50 most recent, subject mimetype", recent(f"({always} AND subj_mimetype = {pdf})")),
        ("50 most recent, subject interpretation (Document+8)", recent(f"({doc_ids})")),
        (
            "50 most recent, subject uri",
            recent(f"({always} AND subj_id = (SELECT id FROM uri WHERE value = ?))", (p.uri,)),
        ),
        ("50 most recent, subject uri Documents/*", recent(prefix_where, (prefix, bound))),
        ("MOST_RECENT_SUBJECTS, num 50", grouped("subj_id", False)),
        ("MOST_POPULAR_SUBJECTS, num 50", grouped("subj_id", True)),
        ("MOST_POPULAR_ACTOR, num 50", grouped("actor", True)),
        ("MOST_POPULAR_MIMETYPE, num 50", grouped("subj_mimetype", True)),
        ("MOST_RECENT_ORIGIN, num 50", grouped("subj_origin", False)),
        ("MOST_POPULAR_SUBJECTS, actor, num 50", grouped("subj_id", True, actor_where)),
        (
            "MOST_RECENT_SUBJECTS, Document+8, num 50",
            grouped("subj_id", False, f"({always} AND ({doc_ids}))"),
        ),
        (
            "MOST_RECENT_SUBJECTS, Documents/*, num 50",
            grouped("subj_id", False, prefix_where, (prefix, bound)),
        ),
        (
            "MOST_POPULAR_ACTOR, mimetype pdf, num 50",
            grouped("actor", True, f"({always} AND subj_mimetype = {pdf})"),
        ),
        ("MOST_POPULAR_MIMETYPE, last 30 days, num 50", grouped("subj_mimetype", True, month)),
        ("MOST_POPULAR_SUBJECTS, last 30 days, num 50", grouped("subj_id", True, month)),
        (
            "all ids",
            lambda: step(f"SELECT id FROM event WHERE {always} ORDER BY timestamp DESC", (), 0),
        ),
    ]


# -- deletes ---------------------------------------------------------------------------


def raw_delete(writer: RawWriter, ids: Sequence[int]) -> None:
    """The floor for a delete: the rows go and tombstones are written, nothing else."""
    conn = writer.conn
    before = conn.total_changes
    marks = json.dumps(sorted(ids))
    conn.execute("BEGIN IMMEDIATE")
    found = conn.execute(
        "SELECT id, uid, timestamp FROM event WHERE id IN (SELECT value FROM json_each(?))",
        (marks,),
    ).fetchall()
    conn.execute("DELETE FROM subject WHERE event_id IN (SELECT value FROM json_each(?))", (marks,))
    conn.execute("DELETE FROM event WHERE id IN (SELECT value FROM json_each(?))", (marks,))
    conn.executemany("INSERT INTO change (event_id, uid, timestamp) VALUES (?, ?, ?)", found)
    conn.execute("COMMIT")
    writer.committed(before)


def bench_deletes(
    base: Path, work: Path, n: int, seed: int, plan: Sequence[tuple[int, int]]
) -> dict[str, dict[str, object]]:
    """DeleteEvents of random existing ids in batches, next to a raw delete of the same rows.

    Engine and raw run on two copies of the log, alternating call by call.
    """
    path, raw_path = work / "delete.sqlite", work / "delete-raw.sqlite"
    copy_db(base, path)
    copy_db(base, raw_path)
    rng = random.Random(f"delete-{seed}")
    total = sum(size * calls for size, calls in plan)
    pool = rng.sample(range(1, n + 1), total)
    out: dict[str, dict[str, object]] = {}
    engine = Engine.open(path)
    raw = RawWriter(raw_path)
    try:
        engine.find_event_ids(ALWAYS, [], 2, 50, 0)  # open the reader, warm the cache
        taken = 0
        for size, calls in plan:
            samples: list[float] = []
            raw_samples: list[float] = []
            for call in range(calls):
                ids = pool[taken : taken + size]
                taken += size
                runs: list[tuple[Callable[[], object], list[float]]] = [
                    (partial(engine.delete_events, ids), samples),
                    (partial(raw_delete, raw, ids), raw_samples),
                ]
                for run, times in runs if call % 2 == 0 else reversed(runs):
                    t0 = time.perf_counter()
                    run()
                    times.append(time.perf_counter() - t0)
            timing, raw_timing = Timing(samples, size), Timing(raw_samples, size)
            out[str(size)] = timing.as_json() | {
                "events_per_s_total": size * calls / sum(samples),
                "raw": raw_timing.as_json(),
                "ratio": raw_timing.median / timing.median,
            }
    finally:
        engine.close()
        raw.close()
    remove_db(path)
    remove_db(raw_path)
    return out


# -- report ------------------------------------------------------------------------------


def machine() -> dict[str, object]:
    """What the numbers were measured on."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_mb": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "load_avg": os.getloadavg(),
    }


def source_version() -> dict[str, object]:
    """The commit measured, and whether the engine's sources had local changes."""
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, check=True, timeout=30
            )
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.rstrip("\n")

    dirty = git("status", "--porcelain", "--", "src/zeitbus")
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "engine_commit": git("log", "-1", "--format=%h %s", "--", "src/zeitbus"),
        "engine_sources_modified": [line[3:] for line in dirty.splitlines()],
    }


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def fmt_ms(seconds: float) -> str:
    ms = seconds * 1000
    if ms >= 100:
        return f"{ms:,.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    return f"{ms:.2f}"


class Report:
    """Collects printed lines (and prints them as they come)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str = "") -> None:
        self.lines.append(line)
        print(line, flush=True)

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
        self("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        self("  ".join("-" * w for w in widths))
        for row in rows:
            cells = [
                str(c).ljust(w) if i == 0 else str(c).rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            ]
            self("  ".join(cells))


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    t0 = time.perf_counter()
    print(f"[{time.strftime('%H:%M:%S')}] {name} ...", file=sys.stderr, flush=True)
    yield
    print(f"  done in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Zeitbus engine benchmark (docs/performance.md)")
    parser.add_argument("--events", type=int, default=100_000, help="size of the log")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--single", type=int, default=2000, help="events inserted one per call")
    parser.add_argument("--window", type=int, default=20_000, help="events per batched insert")
    parser.add_argument("--budget", type=float, default=2.0, help="seconds per query")
    parser.add_argument("--rebuild", action="store_true", help="ignore the cached logs")
    parser.add_argument("--no-zeitgeist", action="store_true", help="skip the Zeitgeist anchor")
    args = parser.parse_args(argv)
    n: int = args.events
    RESULTS.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="work-", dir=RESULTS))
    results: dict[str, object] = {
        "events": n,
        "seed": args.seed,
        "generator_version": GENERATOR_VERSION,
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": machine(),
        "source": source_version(),
        "raw_checkpoints": raw_checkpoint_policy(),
    }
    report = Report()
    try:
        with stage(f"Zeitbus log of {n:,} events"):
            fingerprint = schema_fingerprint()
            base, build = build_engine_log(n, args.seed, fingerprint, args.rebuild)
        results["schema_fingerprint"] = fingerprint
        results["build"] = build
        zg_path: Path | None = None
        if not args.no_zeitgeist:
            with stage("Zeitgeist-schema anchor with the same events"):
                zg_path, zg_build = build_zeitgeist_log(n, args.seed, args.rebuild)
            results["zeitgeist_build"] = zg_build
        picks = pick_values(base)
        results["picks"] = picks.__dict__
        with stage("inserts: engine vs raw executemany"):
            plan = [(1, args.single), (100, args.window), (1000, max(args.window, 20_000) * 2)]
            inserts = bench_inserts(base, work, n, args.seed, picks.last_ts, plan)
        results["inserts"] = inserts
        with stage("queries"):
            engine = Engine.open(base)
            try:
                queries = engine_queries(engine, picks, n, args.seed)
                timings = run_queries(queries, args.budget)
                raw_limit = raw_select_limit(engine, base, picks)
            finally:
                engine.close()
        results["queries"] = {
            q.name: timings[q.name].as_json() | {"group": q.group, "target_ms": q.target_ms}
            for q in queries
        }
        results["raw_select"] = raw_limit
        zg_timings: dict[str, Timing] = {}
        if zg_path is not None:
            with stage("Zeitgeist's SQL on the anchor"):
                for name, fn in zeitgeist_queries(zg_path, picks):
                    zg_timings[name] = measure(fn, min_reps=3, max_reps=30, budget=args.budget)
            results["zeitgeist_sql"] = {k: v.as_json() for k, v in zg_timings.items()}
        with stage("deletes"):
            deletes = bench_deletes(base, work, n, args.seed, [(1, 30), (100, 10), (1000, 5)])
        results["deletes"] = deletes
        with stage("disk"):
            ours = file_stats(base)
            zg = file_stats(zg_path) if zg_path is not None else None
        results["disk"] = {"zeitbus": ours, "zeitgeist_schema": zg}
        results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
        results["machine_after"] = {"load_avg": os.getloadavg()}
        checks = print_report(report, results, queries, timings, zg_timings, n)
        results["checks"] = checks
        results["report"] = report.lines
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for name in (f"engine_bench-{n}-{stamp}.json", f"engine_bench-{n}.json"):
            (RESULTS / name).write_text(json.dumps(results, indent=1, default=str))
        print(f"\nresults: {RESULTS / f'engine_bench-{n}.json'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def print_report(
    report: Report,
    results: dict[str, object],
    queries: list[Query],
    timings: dict[str, Timing],
    zg_timings: dict[str, Timing],
    n: int,
) -> dict[str, object]:
    """The tables, with ratios and PASS/FAIL against issue 2's Done-when."""
    checks: dict[str, object] = {}
    m = results["machine"]
    assert isinstance(m, dict)
    report(f"Zeitbus engine benchmark: {n:,} events, seed {results['seed']}")
    report(
        f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_mb']:,} MB; Python {m['python']},"
        f" SQLite {m['sqlite']}; load avg at start {m['load_avg'][0]:.2f}"
    )
    src = results["source"]
    assert isinstance(src, dict)
    modified = src["engine_sources_modified"]
    report(
        f"measured at commit {src['commit']}; last engine change: {src['engine_commit']}"
        + (f"; engine files modified locally: {', '.join(modified)}" if modified else "")
    )
    build = results["build"]
    assert isinstance(build, dict)
    cached = " (cached build from " + str(build.get("built_at")) + ")" if build["cached"] else ""
    deciles = ", ".join(f"{r:,.0f}" for r in build["decile_rates"])
    report(
        f"building the log through the engine, batches of 1000: {build['rate']:,.0f} events/s"
        f"{cached}; by tenth of the log: {deciles}"
    )
    zg_build = results.get("zeitgeist_build")
    if isinstance(zg_build, dict):
        report(
            "loading Zeitgeist's schema (16 indexes) with executemany, batches of 1000:"
            f" {zg_build['rate']:,.0f} events/s"
        )

    report()
    report(f"INSERTS at {n:,} events (interleaved with the same rows via raw executemany)")
    report(f"raw path checkpoints like the engine: {results['raw_checkpoints']}")
    report(
        "engine rates include folding, after each row, the aggregates its inserts left"
        " pending (a daemon folds every FOLD_EVERY events or when the writes pause)"
    )
    inserts = results["inserts"]
    assert isinstance(inserts, dict)
    rows = []
    for size, r in inserts.items():
        eb, rb = r["engine_batch"], r["raw_batch"]
        target = "-" if size == "1" else ">= 0.50"
        ok = r["ratio"] >= 0.5
        if size != "1":
            checks[f"insert batch {size} >= 50% of raw"] = ok
        rows.append(
            [
                f"batch {size}",
                f"{r['events']:,}",
                f"{r['engine_rate']:,.0f}",
                f"{r['raw_rate']:,.0f}",
                f"{r['ratio']:.2f}",
                f"{eb['median_ms']:.2f} / {eb['p95_ms']:.2f}",
                f"{rb['median_ms']:.2f} / {rb['p95_ms']:.2f}",
                target,
                "-" if size == "1" else verdict(ok),
            ]
        )
    report.table(
        [
            "insert",
            "events",
            "engine ev/s",
            "raw ev/s",
            "engine/raw",
            "engine ms/batch p50/p95",
            "raw ms/batch p50/p95",
            "target",
            "",
        ],
        rows,
    )

    report()
    report(f"QUERIES at {n:,} events (engine API; median and p95 in ms over repeated runs)")
    rows = []
    grouped_worst = 0.0
    templated_worst = 0.0
    recent_worst = 0.0
    for q in queries:
        t = timings[q.name]
        zg = zg_timings.get(q.name)
        ratio = f"{t.median / zg.median:.2f}" if zg else ""
        ok = ""
        if q.target_ms is not None:
            passed = t.median * 1000 < q.target_ms
            ok = verdict(passed)
            if q.group == "grouped":
                grouped_worst = max(grouped_worst, t.median)
            elif q.group == "grouped+template":
                templated_worst = max(templated_worst, t.median)
            elif q.group == "recent":
                recent_worst = max(recent_worst, t.median)
        rows.append(
            [
                q.name,
                fmt_ms(t.median),
                fmt_ms(t.p95),
                str(len(t.samples)),
                fmt_ms(zg.median) if zg else "",
                ratio,
                f"< {q.target_ms:.0f}" if q.target_ms is not None else "",
                ok,
            ]
        )
    report.table(["query", "p50", "p95", "reps", "zg-sql p50", "ours/zg", "target @1M", ""], rows)
    report(
        "zg-sql: Zeitgeist 1.0.4's own SQL on its schema with the same events (SQL only, no"
        " D-Bus), cache_size 24 as the daemon"
    )
    checks["50 most recent, one-field template < 5 ms (worst p50)"] = recent_worst < 0.005
    checks["grouped result types, no template (33 types) < 100 ms (worst p50)"] = (
        grouped_worst < 0.1
    )
    checks["grouped result types with a template or time range < 100 ms (worst p50)"] = (
        templated_worst < 0.1
    )

    report()
    report("ONE INDEXED SELECT (interleaved, 200 runs each)")
    raw = results["raw_select"]
    assert isinstance(raw, dict)
    report.table(
        ["query", "engine p50", "engine p95", "raw p50", "raw p95", "engine/raw"],
        [
            [
                name,
                f"{r['engine']['median_ms']:.3f}",
                f"{r['engine']['p95_ms']:.3f}",
                f"{r['raw']['median_ms']:.3f}",
                f"{r['raw']['p95_ms']:.3f}",
                f"{r['ratio']:.2f}",
            ]
            for name, r in raw.items()
        ],
    )

    report()
    report(
        "DELETES (random existing ids, one DeleteEvents call per batch; raw: plain DELETE of the"
        " rows + tombstones on a copy, alternating)"
    )
    deletes = results["deletes"]
    assert isinstance(deletes, dict)
    rows = []
    for size, d in deletes.items():
        ok = d["rate_per_s"] >= 1000 if size != "1" else None
        if ok is not None:
            checks[f"delete batch {size} >= 1000 events/s"] = ok
        raw_d = d.get("raw", {})
        rows.append(
            [
                f"batch {size}",
                str(d["reps"]),
                f"{d['median_ms']:.1f}",
                f"{d['p95_ms']:.1f}",
                f"{d['rate_per_s']:,.0f}",
                f"{raw_d.get('median_ms', 0):.1f}",
                f"{raw_d.get('rate_per_s', 0):,.0f}",
                f"{d.get('ratio', 0):.2f}",
                ">= 1000" if ok is not None else "-",
                verdict(ok) if ok is not None else "-",
            ]
        )
    report.table(
        [
            "delete",
            "calls",
            "ms p50",
            "ms p95",
            "events/s (p50)",
            "raw ms p50",
            "raw events/s",
            "engine/raw",
            "target",
            "",
        ],
        rows,
    )

    report()
    report("DISK (checkpointed, WAL truncated)")
    disk = results["disk"]
    assert isinstance(disk, dict)
    ours = disk["zeitbus"]
    zg = disk["zeitgeist_schema"]
    ours_bpe = ours["bytes"] / n
    rows = [["Zeitbus", f"{ours['bytes'] / 1e6:,.1f}", f"{ours_bpe:,.0f}", "", ""]]
    if zg:
        zg_bpe = zg["bytes"] / n
        ok = ours_bpe <= zg_bpe / 2
        checks["bytes/event <= half of Zeitgeist's schema"] = ok
        rows.append(
            [
                "Zeitgeist v11 schema, same events",
                f"{zg['bytes'] / 1e6:,.1f}",
                f"{zg_bpe:,.0f}",
                f"{ours_bpe / zg_bpe:.2f}",
                verdict(ok),
            ]
        )
    rows.append(
        [
            "Zeitgeist 1.0.4 measured (TARGETS.md, DB / DB+WAL)",
            "",
            f"{ZEITGEIST_DB_BYTES_PER_EVENT} / {ZEITGEIST_BYTES_PER_EVENT}",
            f"{ours_bpe / ZEITGEIST_DB_BYTES_PER_EVENT:.2f}",
            "",
        ]
    )
    report.table(["file", "MB", "bytes/event", "ours/that (<= 0.50)", ""], rows)
    parts = ours["parts"]
    assert isinstance(parts, dict)
    report(
        "Zeitbus by table/index (bytes/event): "
        + ", ".join(f"{k} {v / n:.0f}" for k, v in list(parts.items())[:14])
    )

    report()
    report("DONE-WHEN CHECKS")
    for name, ok in checks.items():
        report(f"  {verdict(bool(ok))}  {name}")
    return checks


if __name__ == "__main__":
    raise SystemExit(main())
