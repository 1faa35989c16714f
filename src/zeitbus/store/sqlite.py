"""The SQLite store: one writer, concurrent readers, WAL.

Theory of operation. One connection writes, behind a lock; every write is one
IMMEDIATE transaction, so a batch is all or nothing and the changes feed's
``seq`` (the ``change`` rowid) is gap-free and in commit order. Each reading
thread has its own connection and, thanks to WAL, never waits for the writer.

Strings are stored once in ``term`` and referenced by id. Term ids are never
reused (AUTOINCREMENT), so an id -> value cache can never go stale; the
value -> id cache is invalidated around the deletes that drop orphaned terms
(see ``_TermCache``). Reads live in ``store/queries.py``, an insert batch's
rows in ``store/writer.py`` and the group statistics in ``store/stats.py``;
this module owns connections, transactions, deletes, the feed and cursors.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from zeitbus.errors import (
    DatabaseBusy,
    DatabaseCorrupt,
    DatabaseError,
    DiskFull,
    InvalidKey,
    ZeitbusError,
)
from zeitbus.ids import UidGenerator, new_node_id, uid_from_str, uid_to_str
from zeitbus.location import private_database
from zeitbus.model import INT64_MAX, INT64_MIN, UINT32_MAX, Change, ChangeKind, Event
from zeitbus.store import failures, pending, removal, schema
from zeitbus.store.writer import BatchWriter, InfoKey, SubjectIds, SubjectKey

logger = logging.getLogger(__name__)

MEMORY = ":memory:"
_CHECKPOINT_INTERVAL = 1.0  # seconds between background checkpoints while writing
_BACKSTOP_PAGES = 10_000  # the writer checkpoints itself past ~40 MB of WAL
_WAL_LIMIT = 4 * 1024 * 1024  # a restarted WAL is truncated back to this size
_PRELOADED_TERMS = 100_000  # terms the writer's cache is filled with (see _load_terms)
_PRELOAD_AFTER = 1000  # events stored (or a tenth of it in one batch) before that
_CHUNK = 20_000  # ids per json_each() batch; keeps statements small


def _newest_timestamp(conn: sqlite3.Connection) -> int:
    """The newest stored timestamp (INT64_MIN for an empty log).

    The writer keeps it, or higher (deletes don't lower it): an event newer
    than this cannot be a duplicate, so its dedup lookup is skipped.
    """
    newest = conn.execute("SELECT max(timestamp) FROM event").fetchone()[0]
    return INT64_MIN if newest is None else int(newest)


def newest_seq(conn: sqlite3.Connection) -> int:
    """The feed position of the newest change (0 for an empty feed)."""
    return int(conn.execute("SELECT coalesce(max(seq), 0) FROM change").fetchone()[0])


def _json_ids(ids: Sequence[int]) -> str:
    return json.dumps(list(ids))


@contextlib.contextmanager
def translate_errors(path: str = "", *, writes: bool = False) -> Iterator[None]:
    """Turn driver errors into the project's error tree, once, here.

    ``path``: the database file. ``writes``: the log's writes, whose full disk
    is reported to ``failures`` (which logs it once, not per refused write).
    """
    try:
        yield
    except sqlite3.OperationalError as error:
        if failures.is_full(error, path):
            full = failures.disk_full(error, path)
            if writes:
                failures.failed(path, full)
            raise full from error
        text = str(error)
        if "locked" in text or "busy" in text:
            raise DatabaseBusy(f"the database is busy: {text}") from error
        raise DatabaseError(f"database error: {text}") from error
    except sqlite3.DatabaseError as error:
        text = str(error)
        if "not a database" in text or "malformed" in text or "corrupt" in text:
            raise DatabaseCorrupt(f"the database file is damaged: {text}") from error
        raise DatabaseError(f"database error: {text}") from error


@dataclass(frozen=True, slots=True)
class Deleted:
    """What a delete removed: the ids, their time range and their uids."""

    ids: tuple[int, ...]
    start: int
    end: int
    changes: tuple[Change, ...]


@dataclass(frozen=True, slots=True)
class Receiving:
    """What makes an insert a batch received by sync (``SQLiteStore.insert``).

    ``source``: the node it came from (its changes are not sent back there).
    ``tombstones``: uids deleted there, applied first. ``cursor``: the
    replication's position, stored in the same transaction.
    """

    source: str
    tombstones: Sequence[str] = ()
    cursor: tuple[str, int] | None = None


class _TermCache:
    """value <-> id caches shared by all connections.

    ids are never reused, so ``values`` (id -> value) is always right. A
    value -> id entry can go stale when a delete drops the term, so readers
    only cache a lookup if no term-dropping delete overlapped it
    (``generation`` moves before the delete commits and after the eviction).
    """

    def __init__(self) -> None:
        self.ids: dict[str, int] = {"": 0}
        self.values: dict[int, str] = {0: ""}
        self.generation = 0

    def clear(self) -> None:
        """Forget every term but the empty string (lookups refill the cache)."""
        self.ids.clear()
        self.values.clear()
        self.ids[""], self.values[0] = 0, ""

    def remember(self, value: str, term: int) -> None:
        if len(self.ids) > 500_000:  # bound memory on huge logs
            self.clear()
        self.ids[value] = term
        self.values[term] = value

    def forget(self, terms: dict[int, str]) -> None:
        for term, value in terms.items():
            self.ids.pop(value, None)
            self.values.pop(term, None)


class SQLiteStore:
    """Events, the changes feed and cursors in one SQLite file."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "NORMAL",
        fold_every: int = pending.FOLD_EVERY,
    ) -> None:
        self.path = str(path)
        self.fold_every = fold_every
        self.memory = self.path == MEMORY
        self._synchronous = synchronous
        if self.memory:
            # One connection, shared by readers under the lock: an in-memory
            # database is private to the connection that made it.
            self._uri = f"file:zeitbus-{id(self)}?mode=memory"
        else:
            private_database(Path(self.path))
            self._uri = Path(self.path).absolute().as_uri()
        self._lock = threading.RLock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self.terms = _TermCache()
        self._terms_loaded = False
        self._inserted = 0  # events this process stored (see _load_terms)
        self._nodes: dict[int, str] = {}
        self._node_ids: dict[str, int] = {}
        self._uids = UidGenerator()
        self._since_analyze = 0
        self._pending_terms: dict[str, int] = {}
        self._dropped_terms: dict[int, str] = {}
        self._closed = False
        self._unpurged = False  # a deferred delete's rows are still there (see purge)
        self._checkpoint_wanted = threading.Event()
        self._fold_requested = False
        self._last_checkpoint_request = 0.0
        self._last_write = 0.0  # when the last commit that wrote ended (monotonic)
        # Seconds between background checkpoints while writing, and of quiet after
        # which the writes count as paused (the WAL is truncated, the rows folded).
        self.checkpoint_interval = _CHECKPOINT_INTERVAL
        self._checkpointer: threading.Thread | None = None
        self._storages: set[int] = set()
        self._pending_storages: set[int] = set()
        # subject_info key -> id, for the writer only; committed and this transaction's.
        self._infos: dict[InfoKey, int] = {}
        self._pending_infos: dict[InfoKey, int] = {}
        self._dropped_infos: set[InfoKey] = set()
        # A subject's strings and its event's actor -> (info, origin, interpretation,
        # mimetype) term ids: the writer's shortcut past seven lookups per subject.
        self._subjects: dict[SubjectKey, SubjectIds] = {}
        self._pending_subjects: dict[SubjectKey, SubjectIds] = {}
        # The pending rows (store/pending.py) as they are now, by (event_id, position),
        # kept by the writer so that a fold need not read them back; None when not
        # all are known (after a restart, a rollback, another process's write).
        self._unfolded: dict[tuple[int, int], pending.Row] | None = None
        self.pending_cache = pending.PendingCache()
        self._data_version = 0
        self.last_id = self.folded_id = 0
        self.max_ts: int = INT64_MIN
        with translate_errors(self.path):
            self._writer = self._connect(write=True)
            try:
                self._data_version = int(self._writer.execute("PRAGMA data_version").fetchone()[0])
                found = schema.migrate(self._writer)
                self.schema_version = schema.SCHEMA_VERSION
                self.created = found == 0
                self._init_meta()
            except BaseException:
                self._writer.close()  # a log that cannot be opened keeps no file open
                raise
        if not self.memory:
            # Commits only append to the WAL; copying it back into the database
            # (and the fsync that goes with it) happens on this thread, so a
            # writer never waits for a checkpoint. The writer's own automatic
            # checkpoint stays as a backstop, far out.
            self._writer.execute(f"PRAGMA wal_autocheckpoint = {_BACKSTOP_PAGES}")
            self._writer.execute(f"PRAGMA journal_size_limit = {_WAL_LIMIT}")
            self._checkpointer = threading.Thread(
                target=self._checkpoint_loop, name="zeitbus-checkpoint", daemon=True
            )
            self._checkpointer.start()

    # -- connections -------------------------------------------------------

    def _connect(self, *, write: bool) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._uri, uri=True, isolation_level=None, check_same_thread=False, timeout=10.0
        )
        try:
            self._configure(conn, write=write)
        except BaseException:
            conn.close()  # nothing stays open when a setting fails (a full disk, say)
            raise
        return conn

    def _configure(self, conn: sqlite3.Connection, *, write: bool) -> None:
        """A new connection's settings: WAL for the writer, read-only for readers."""
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("PRAGMA cache_size = -32000")
        conn.execute("PRAGMA temp_store = MEMORY")
        if not self.memory:
            if write:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if mode.lower() != "wal":
                    raise DatabaseError(f"could not switch {self.path} to WAL mode ({mode})")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            conn.execute("PRAGMA mmap_size = 268435456")
        if not write:
            conn.execute("PRAGMA query_only = 1")

    @contextlib.contextmanager
    def reading(self, *, settle: bool = True) -> Iterator[sqlite3.Connection]:
        """A connection for reads by this thread (the writer's, for :memory:).

        ``settle``: remove a deferred delete's rows first (or wait for their
        removal), so that no read sees them; the changes feed needs not.
        """
        if settle and self._unpurged:
            self.purge()
        if self.memory:
            with self._lock, translate_errors(self.path):
                yield self._writer
            return
        conn = getattr(self._local, "conn", None)
        if conn is None:
            with translate_errors(self.path):
                conn = self._connect(write=False)
            self._local.conn = conn
            with self._lock:
                self._readers.append(conn)
        with translate_errors(self.path):
            yield conn

    @contextlib.contextmanager
    def writing(self, *, settle: bool = True) -> Iterator[sqlite3.Connection]:
        """The writer connection inside one IMMEDIATE transaction.

        ``settle``: remove a deferred delete's rows first (``purge``), so that
        no write meets them (a duplicate of a deleted event, say).
        """
        if settle and self._unpurged:
            self.purge()
        with self._lock, translate_errors(self.path, writes=True):
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            if not self.memory:
                self._notice_other_writers(conn)
            changes_before = conn.total_changes
            self._pending_terms, self._pending_storages = {}, set()
            self._dropped_terms = {}
            self._pending_infos, self._dropped_infos = {}, set()
            self._pending_subjects = {}
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                failures.rollback(conn)  # SQLite may have ended it (a full disk, say)
                self._pending_terms, self._pending_storages = {}, set()
                self._pending_infos, self._dropped_infos = {}, set()
                self._pending_subjects = {}
                if self._dropped_terms:
                    self.terms.generation += 1
                raise
            if len(self._infos) > 500_000:  # bound memory; lookups refill it
                self._infos.clear()
            self._infos.update(self._pending_infos)
            for key in self._dropped_infos:
                self._infos.pop(key, None)
            # A dropped term is never one an info names (drop_orphans checks), so only
            # dropped infos make entries stale.
            if self._dropped_infos or len(self._subjects) > 500_000:
                self._subjects.clear()  # ids in it may be gone; lookups refill it
            else:
                self._subjects.update(self._pending_subjects)
            self._pending_infos, self._dropped_infos = {}, set()
            self._pending_subjects = {}
            for value, term in self._pending_terms.items():
                if term not in self._dropped_terms:
                    self.terms.remember(value, term)
            self._storages |= self._pending_storages
            if self._dropped_terms:
                self.terms.forget(self._dropped_terms)
                self.terms.generation += 1
            self._pending_terms, self._pending_storages = {}, set()
            self._committed(conn, changes_before)

    def vacuum(self) -> None:
        """Run ANALYZE and VACUUM (outside any transaction, as VACUUM needs)."""
        with self._lock, translate_errors(self.path):
            self._writer.execute("PRAGMA optimize")
            self._writer.execute("VACUUM")

    def _checkpoint_loop(self) -> None:
        """Checkpoint the WAL whenever the writer asks; failures are retried next time.

        A PASSIVE checkpoint never blocks readers or the writer; it copies what
        no reader still needs, and the next round copies the rest. Once the
        writes pause (no commit for ``checkpoint_interval``), a last round
        copies what the rate limit left and truncates the WAL, if no reader
        or writer is in the way at that moment (it never waits for one), so a
        burst of writes does not leave a large WAL behind.
        """
        conn = sqlite3.connect(self._uri, uri=True, isolation_level=None, timeout=10.0)
        conn.execute("PRAGMA busy_timeout = 0")
        checkpointing = f"{self.path} (checkpoint)"  # a writer of its own (store/failures.py)
        idle_round_due = False
        timeout: float | None = None
        try:
            while True:
                asked = self._checkpoint_wanted.wait(timeout)
                self._checkpoint_wanted.clear()
                if self._closed:
                    return
                quiet = time.monotonic() - self._last_write
                if not asked and quiet < self.checkpoint_interval:
                    # Requests come at most once an interval, so a wait can time out
                    # in the middle of a burst: only a pause in the commits is idle.
                    timeout = self.checkpoint_interval - quiet
                    continue
                mode = "PASSIVE" if asked else "TRUNCATE"
                idle_round_due = asked
                timeout = self.checkpoint_interval if idle_round_due else None
                if not asked or self._fold_requested:
                    self._fold_requested = False
                    self._fold_while_idle()
                try:
                    busy, frames, copied = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
                except sqlite3.Error as error:
                    if failures.is_full(error, self.path):
                        # The database file could not grow: the WAL keeps the commits.
                        full = DiskFull.at(self.path, "copying the WAL into it")
                        failures.failed(checkpointing, full)
                        continue
                    # An idle round that meets a reader or the writer just skips.
                    level = logging.WARNING if asked else logging.DEBUG
                    logger.log(level, "WAL checkpoint (%s) failed: %s", mode, error)
                else:
                    if not busy and frames == copied:  # the whole WAL is in the database
                        failures.wrote(checkpointing)
        finally:
            conn.close()

    def request_fold(self) -> None:
        """Fold soon, on the background thread: readers are adding up many pending rows.

        Inserts fold rarely during a burst (store/pending.py); once reads come,
        every grouped query would merge the pending groups in Python, so the
        first one asks for the fold rather than waiting for the writes to pause.
        """
        if self._checkpointer is not None and not self._fold_requested:
            self._fold_requested = True
            self._checkpoint_wanted.set()

    def _fold_while_idle(self) -> None:
        """Fold the pending rows once writes pause (store/pending.py).

        Inserts fold only every ``fold_every`` events; folding when the log is
        idle keeps the pending rows, which readers add up, few between bursts.
        """
        with self._lock:
            if self.last_id <= self.folded_id:
                return
        try:
            self.fold()
        except DiskFull:
            pass  # writing() logged it once; the next pause tries again
        except ZeitbusError as error:  # busy, say: the next pause tries again
            logger.warning("folding the pending rows failed: %s", error)

    def _committed(self, conn: sqlite3.Connection, changes_before: int) -> None:
        """Ask for a checkpoint after a commit that wrote, at most once a second.

        Checkpointing after every commit would compete with the writer for
        the disk; once a second keeps the WAL to what a second of writes
        dirties (the backstop caps it if the checkpointer falls behind).
        """
        if self.memory or conn.total_changes == changes_before:
            return
        failures.wrote(self.path)  # a commit that wrote: there was room for it
        if self._checkpointer is None:
            return
        now = self._last_write = time.monotonic()
        if now - self._last_checkpoint_request >= self.checkpoint_interval:
            self._last_checkpoint_request = now
            self._checkpoint_wanted.set()

    def close(self) -> None:
        """Close every connection (after a last, cheap ANALYZE and a checkpoint)."""
        with self._lock:
            if self._closed:
                return
            with contextlib.suppress(ZeitbusError):
                self.purge()  # leave the file as a delete left it
            self._closed = True
            if self._checkpointer is not None:
                self._checkpoint_wanted.set()
                self._checkpointer.join()
            with contextlib.suppress(sqlite3.Error):
                self._writer.execute("PRAGMA optimize")
                if not self.memory:
                    self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            for conn in self._readers:
                conn.close()
            self._readers.clear()
            self._writer.close()

    # -- meta, nodes, terms --------------------------------------------------

    def _init_meta(self) -> None:
        conn = self._writer
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        if "node" not in meta:
            with self.writing() as tx:
                node = new_node_id()
                now = time.time_ns() // 1_000_000
                tx.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [("node", node), ("last_id", 0), ("created", now)],
                )
            meta = {"node": node, "last_id": 0, "created": now}
        self.node = str(meta["node"])
        self.last_id = int(meta["last_id"])
        if "folded_id" not in meta:
            # A log made before aggregates were folded in bulk has them complete.
            with self.writing() as tx:
                pending.set_folded_id(tx, self.last_id)
            meta["folded_id"] = self.last_id
        self.folded_id = int(meta["folded_id"])
        self.max_ts = max(self.max_ts, _newest_timestamp(conn))
        for node_id, name in conn.execute("SELECT id, name FROM node"):
            self._nodes[node_id] = name
            self._node_ids[name] = node_id
        self._unfolded = {} if self.folded_id >= self.last_id else None
        # A deferred delete this or another process did not purge (a crash, say).
        self._unpurged = removal.purge_from(conn) is not None

    def _notice_other_writers(self, conn: sqlite3.Connection) -> None:
        """Drop what this process remembers of the log if another one wrote to it.

        The writer caches ids, terms, infos and the pending rows; a commit by
        another connection (``zeitbus log`` beside a daemon, say) can make any
        of them stale. ``data_version`` moves only on other connections' commits.
        """
        version = int(conn.execute("PRAGMA data_version").fetchone()[0])
        if version == self._data_version:
            return
        self._data_version = version
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        self.last_id = int(meta.get("last_id", 0))
        self.folded_id = int(meta.get("folded_id", self.last_id))
        self.max_ts = max(self.max_ts, _newest_timestamp(conn))
        self.terms.clear()
        self.terms.generation += 1
        self._infos.clear()
        self._subjects.clear()
        self._storages.clear()
        self._unfolded = None

    def meta(self, key: str) -> object:
        """A value from the meta table (None if unset)."""
        with self.reading() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def _node_id(self, conn: sqlite3.Connection, name: str) -> int:
        node_id = self._node_ids.get(name)
        if node_id is None:
            conn.execute("INSERT OR IGNORE INTO node (name) VALUES (?)", (name,))
            node_id = int(conn.execute("SELECT id FROM node WHERE name = ?", (name,)).fetchone()[0])
            self._node_ids[name] = node_id
            self._nodes[node_id] = name
        return node_id

    def node_name(self, conn: sqlite3.Connection, node_id: int) -> str:
        """The node id (text) behind a node row id."""
        name = self._nodes.get(node_id)
        if name is None:
            row = conn.execute("SELECT name FROM node WHERE id = ?", (node_id,)).fetchone()
            name = "" if row is None else str(row[0])
            self._nodes[node_id] = name
        return name

    def _term_for_write(self, conn: sqlite3.Connection, value: str) -> int:
        """The id of ``value``, creating the term inside the open transaction."""
        term = self.terms.ids.get(value)
        if term is None:
            term = self._pending_terms.get(value)
        if term is None:
            row = conn.execute("SELECT id FROM term WHERE value = ?", (value,)).fetchone()
            if row is None:
                term = int(
                    conn.execute("INSERT INTO term (value) VALUES (?)", (value,)).lastrowid or 0
                )
                self._pending_terms[value] = term
            else:
                term = int(row[0])
                self.terms.remember(value, term)
        return term

    def _find_info(self, conn: sqlite3.Connection, key: InfoKey) -> int | None:
        """The subject_info id of ``key`` (cached), or None if there is none yet."""
        info = self._infos.get(key)
        if info is None:
            info = self._pending_infos.get(key)
            if info is None:
                row = conn.execute(_INFO_BY_KEY, key).fetchone()
                if row is None:
                    return None
                info = int(row[0])
                self._pending_infos[key] = info
        return info

    def lookup_term(self, conn: sqlite3.Connection, value: str) -> int | None:
        """The committed id of ``value``, or None if no such term is stored."""
        term = self.terms.ids.get(value)
        if term is not None:
            return term
        generation = self.terms.generation
        row = conn.execute("SELECT id FROM term WHERE value = ?", (value,)).fetchone()
        if row is None:
            return None
        if generation == self.terms.generation:
            self.terms.remember(value, int(row[0]))
        return int(row[0])

    def term_values(self, conn: sqlite3.Connection, terms: set[int]) -> dict[int, str]:
        """id -> value for every id in ``terms`` (all must exist)."""
        values = self.terms.values
        missing = [t for t in terms if t not in values]
        for start in range(0, len(missing), _CHUNK):
            chunk = missing[start : start + _CHUNK]
            for term, value in conn.execute(
                "SELECT id, value FROM term WHERE id IN (SELECT value FROM json_each(?))",
                (_json_ids(chunk),),
            ):
                values[term] = value
        return values

    def unavailable_storages(self, conn: sqlite3.Connection, state: int) -> list[int]:
        """Storage term ids whose known state differs from ``state``."""
        return [
            int(row[0])
            for row in conn.execute(
                "SELECT id FROM storage WHERE state IS NOT NULL AND state != ?", (state,)
            )
        ]

    # -- writes --------------------------------------------------------------

    def set_storage_state(self, name: str, available: bool, icon: str, display_name: str) -> None:
        """Record a storage medium's state, creating its row if no subject named it yet.

        As upstream's StorageMonitor does: subjects stored on the medium later
        find its state there (a row the writer creates has none, which
        matches both StorageStates).
        """
        with self.writing() as conn:
            storage = self._term_for_write(conn, name)
            conn.execute(
                "INSERT INTO storage (id, state, icon, display_name) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET state = excluded.state, icon = excluded.icon,"
                " display_name = excluded.display_name",
                (storage, 1 if available else 0, icon, display_name),
            )
            self._pending_storages.add(storage)

    def insert(
        self,
        events: Sequence[Event | None],
        *,
        keep_ids: bool = False,
        replay: bool = False,
        received: Receiving | None = None,
    ) -> tuple[list[int], list[int]]:
        """Store a batch in one transaction; returns every id and the new ids.

        ``None`` entries get id 0. An event whose dedup key (timestamp,
        interpretation, manifestation, actor, subject uri) or uid is already
        stored gets the existing id and stores nothing. With ``keep_ids`` a
        non-zero ``event.id`` is kept (InvalidArgument if it is taken); with
        ``replay`` a MoveEvent does not rewrite earlier rows, because the
        events being restored already carry the result.

        ``received``: a batch from another node (sync). Its tombstones are
        applied first; then an event is known by its uid alone (two machines
        may record the same dedup key) and one whose uid has a tombstone here
        is not stored (id 0): a delete wins over a late or repeated insert.
        """
        # The lock also covers what follows the commit: another thread's fold must
        # not run between the commit and the watermark, ids and kept rows it sets.
        with self._lock:
            if not self._terms_loaded and (
                len(events) >= _PRELOAD_AFTER // 10 or self._inserted >= _PRELOAD_AFTER
            ):
                self._load_terms()
            ids: list[int] = []
            stored: list[int] = []
            removed: list[tuple[int, int, bytes]] = []
            try:
                with self.writing() as conn:
                    source = None
                    if received is not None:
                        source = self._node_id(conn, received.source)
                        removed = self._receive_tombstones(conn, received.tombstones, source)
                        if removed:
                            # The removal may have dropped infos the caches still name
                            # (they forget them at commit): this batch must not use them.
                            self._subjects.clear()
                            self._infos.clear()
                    writer = BatchWriter(
                        self, conn, keep_ids=keep_ids, replay=replay, source=source
                    )
                    writer.resolve_terms(events)
                    for event in events:
                        if event is None:
                            ids.append(0)
                            continue
                        event_id, new = writer.add(event)
                        ids.append(event_id)
                        if new:
                            stored.append(event_id)
                    writer.flush()
                    if writer.deduplicated and writer.new_terms:
                        # A duplicate's new strings (a new text, say) are used by nothing.
                        self.drop_orphans(conn, writer.new_terms)
                    if stored:
                        conn.execute(
                            "UPDATE meta SET value = ? WHERE key = 'last_id'", (writer.last_id,)
                        )
                    if writer.rewrote_pending:
                        pending.count_rewrite(conn)
                    if writer.moved_pending:
                        pending.count_rewrite(conn, moves_only=True)
                    if received is not None and received.cursor is not None:
                        # Never backwards: two replications may feed one checkpoint (this
                        # node's pull and the source's push), each with a batch of its own.
                        conn.execute(
                            "INSERT INTO cursor (name, seq) VALUES (?, ?) ON CONFLICT (name)"
                            " DO UPDATE SET seq = max(seq, excluded.seq)",
                            received.cursor,
                        )
                    folded = self.folded_id
                    if writer.last_id - folded >= self.fold_every:
                        folded = pending.fold(
                            conn, folded, writer.last_id, self._unfolded_rows(writer.unfolded)
                        )
            except BaseException:
                self._unfolded = None  # a move may have changed kept rows the rollback restored
                raise
            self._forget_unfolded(removed)
            if folded != self.folded_id:
                self._unfolded = {}
            elif self._unfolded is not None:
                self._unfolded.update(writer.unfolded)
            self.last_id = writer.last_id
            self.folded_id = folded
            self.max_ts = max(self.max_ts, writer.max_ts)
            self._since_analyze += len(stored)
            self._inserted += len(stored)
            if self._since_analyze >= max(1000, self.last_id // 10):
                self._analyze()
            return ids, stored

    def _load_terms(self) -> None:
        """Fill the term cache from the table once, when a writer turns out to be busy.

        A writer meets most of the log's strings again (a subject's URI, text
        and folder), and looked up one batch at a time they cost a few
        milliseconds a batch for a long while; a long-running writer's cache
        holds them all in the end anyway. The newest terms first, bounded.
        Done before a large batch or once ``_PRELOAD_AFTER`` events were
        stored, so a one-event ``zeitbus log`` does not pay for it.
        """
        self._terms_loaded = True
        with translate_errors(self.path):
            rows = self._writer.execute(
                "SELECT value, id FROM term ORDER BY id DESC LIMIT ?", (_PRELOADED_TERMS,)
            ).fetchall()
        ids, values = self.terms.ids, self.terms.values
        for value, term in rows:
            ids.setdefault(value, term)
            values.setdefault(term, value)

    def _unfolded_rows(
        self, new: dict[tuple[int, int], pending.Row] | None = None
    ) -> list[pending.Row] | None:
        """Every pending row, if the writer knows them all (else None: read them back)."""
        if self._unfolded is None:
            return None
        return [*self._unfolded.values(), *(new or {}).values()]

    def fold(self) -> None:
        """Fold every pending row into the aggregates now (store/pending.py)."""
        with self._lock:  # the commit and the state it sets, as one step (see insert)
            with self.writing() as conn:
                folded = pending.fold(conn, self.folded_id, self.last_id, self._unfolded_rows())
            self.folded_id = folded
            self._unfolded = {}

    def _analyze(self) -> None:
        try:
            with self._lock, translate_errors(self.path):
                self._writer.execute("PRAGMA analysis_limit = 1000")
                self._writer.execute("ANALYZE")
        except ZeitbusError as error:
            # Statistics only speed queries up: the insert that committed before
            # this must not report a failure (a full disk, say). The next round
            # tries again.
            logger.debug("ANALYZE failed: %s", error)
        self._since_analyze = 0

    def delete(self, ids: Sequence[int], *, defer: bool = False) -> Deleted | None:
        """Delete events by local id; None if none of them existed.

        With ``defer`` only the tombstones are written (one small commit) and
        the rows stay until ``purge``, which every read and write runs first
        if it is still due (store/removal.py): no one sees them again.
        """
        with self._lock:  # the commit and the kept rows it updates, as one step (see insert)
            wanted = sorted({i for i in ids if 0 < i <= UINT32_MAX})
            if not wanted:
                return None
            found: list[tuple[int, int, bytes]] = []
            with self.writing() as conn:
                for start in range(0, len(wanted), _CHUNK):
                    chunk = _json_ids(wanted[start : start + _CHUNK])
                    found.extend(
                        conn.execute(
                            "SELECT id, timestamp, uid FROM event"
                            " WHERE id IN (SELECT value FROM json_each(?))",
                            (chunk,),
                        ).fetchall()
                    )
                if not found:
                    return None
                found.sort()
                if not defer:
                    removal.remove(self, conn, found)
                # Under the writer's lock the new seqs follow the highest one, in order.
                first_seq = newest_seq(conn) + 1
                conn.executemany(
                    "INSERT INTO change (seq, event_id, uid, timestamp) VALUES (?, ?, ?, ?)",
                    [(first_seq + n, i, uid, ts) for n, (i, ts, uid) in enumerate(found)],
                )
                if defer:
                    removal.mark_due(conn, first_seq)
            if defer:
                self._unpurged = True
            else:
                self._forget_unfolded(found)
            changes = tuple(
                Change(first_seq + n, ChangeKind.DELETE, event_id, uid_to_str(uid), timestamp)
                for n, (event_id, timestamp, uid) in enumerate(found)
            )
            timestamps = [r[1] for r in found]
            return Deleted(tuple(r[0] for r in found), min(timestamps), max(timestamps), changes)

    def _receive_tombstones(
        self, conn: sqlite3.Connection, uids: Sequence[str], source: int
    ) -> list[tuple[int, int, bytes]]:
        """Apply tombstones received from node ``source`` in the open transaction.

        A stored event is removed and gets its tombstone; a uid this log
        never had gets a tombstone of its own (``event_id`` 0), so the event
        is refused if it comes later; one already tombstoned is left alone.
        Returns what was removed (id, timestamp, uid; by id).
        """
        if not uids:
            return []
        raw = [(uid_from_str(uid),) for uid in uids]
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS tomb (uid BLOB PRIMARY KEY)")
        conn.execute("DELETE FROM temp.tomb")
        conn.executemany("INSERT OR IGNORE INTO temp.tomb (uid) VALUES (?)", raw)
        known = {
            row[0]
            for row in conn.execute(
                "SELECT t.uid FROM temp.tomb t WHERE EXISTS"
                " (SELECT 1 FROM change c WHERE c.uid = t.uid)"
            )
        }
        found: list[tuple[int, int, bytes]] = conn.execute(
            "SELECT e.id, e.timestamp, e.uid FROM temp.tomb t JOIN event e ON e.uid = t.uid"
            " ORDER BY e.id"
        ).fetchall()
        if found:
            removal.remove(self, conn, found)
        present = {row[2] for row in found}
        bare = [uid for (uid,) in dict.fromkeys(raw) if uid not in present and uid not in known]
        first_seq = newest_seq(conn) + 1
        rows = [(i, uid, ts) for i, ts, uid in found] + [(0, uid, None) for uid in bare]
        conn.executemany(
            "INSERT INTO change (seq, event_id, uid, timestamp, source) VALUES (?, ?, ?, ?, ?)",
            [(first_seq + n, *row, source) for n, row in enumerate(rows)],
        )
        return found

    @property
    def purge_due(self) -> bool:
        """True while deleted events' rows wait for ``purge`` (reads and writes run it first)."""
        return self._unpurged

    def purge(self) -> None:
        """Remove the rows of events whose deletion was deferred (see ``delete``)."""
        with self._lock:
            if not self._unpurged:
                return
            with self.writing(settle=False) as conn:
                found = removal.take_due(conn)
                if found:
                    removal.remove(self, conn, found)
            self._unpurged = False
            self._forget_unfolded(found)

    def _forget_unfolded(self, found: Sequence[tuple[int, int, bytes]]) -> None:
        """Drop removed events' rows from the pending rows the writer keeps."""
        if found and self._unfolded is not None and found[-1][0] > self.folded_id:
            gone = {r[0] for r in found}
            self._unfolded = {k: v for k, v in self._unfolded.items() if k[0] not in gone}

    def forget_infos(self, keys: Iterable[tuple[int | None, ...]]) -> None:
        """Infos deleted in the open transaction: the caches drop them at commit."""
        self._dropped_infos.update(keys)  # type: ignore[arg-type]

    def drop_orphans(self, conn: sqlite3.Connection, candidates: set[int] | None) -> None:
        """Delete the terms among ``candidates`` (or ``temp.candidate``) no row uses.

        Inside the writer's transaction; the caches forget them at commit.
        Every column that holds terms has an index led by it, so each check is
        an index probe; storage terms stay, the storage table holds them.
        """
        if candidates is not None:
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS candidate (id INTEGER PRIMARY KEY)")
            conn.execute("DELETE FROM temp.candidate")
            conn.executemany(
                "INSERT OR IGNORE INTO temp.candidate (id) VALUES (?)", [(c,) for c in candidates]
            )
        # Bump first: a reader that looks a term up while it is being dropped
        # must not cache the answer (see _TermCache).
        self.terms.generation += 1
        dropped = dict(conn.execute(_ORPHANS).fetchall())
        if dropped:
            conn.execute(
                "DELETE FROM term WHERE id IN (SELECT value FROM json_each(?))",
                (_json_ids(list(dropped)),),
            )
            self._dropped_terms.update(dropped)
            # Later lookups in this transaction must not hand out a dropped id (a
            # batch's next MoveEvent may name the same current origin): forget the
            # values now. A rollback only costs a lookup.
            for term, value in dropped.items():
                if self.terms.ids.get(value) == term:
                    del self.terms.ids[value]
                if self._pending_terms.get(value) == term:
                    del self._pending_terms[value]

    # -- feed and cursors ------------------------------------------------------

    def changes(
        self, since: int, limit: int, *, descending: bool = False, before: int | None = None
    ) -> list[Change]:
        """Changes with ``seq > since``, oldest first, at most ``limit``.

        ``descending``: the newest ``limit`` of them (below ``before`` if
        given), newest first.

        The feed reads the same before and after a deferred delete's purge (an
        insert followed by a tombstone reads as the tombstone has it), so it
        need not wait for the purge.
        """
        with self.reading(settle=False) as conn:
            if descending:
                upper = INT64_MAX if before is None else before
                rows = conn.execute(_CHANGES_NEWEST_FIRST, (since, upper, limit)).fetchall()
            else:
                rows = conn.execute(_CHANGES, (since, limit)).fetchall()
            return [
                Change(
                    seq,
                    ChangeKind.DELETE if tomb else ChangeKind.INSERT,
                    event_id,
                    uid_to_str(uid) if uid is not None else "",
                    timestamp or 0,
                    self.node_name(conn, node) if node is not None else "",
                    self.node_name(conn, source) if source is not None else "",
                )
                for seq, event_id, uid, tomb, timestamp, node, source in rows
            ]

    def event_id_by_uid(self, conn: sqlite3.Connection, uid: bytes) -> int | None:
        """The local id of the event with this uid, if the log has it."""
        row = conn.execute("SELECT id FROM event WHERE uid = ?", (uid,)).fetchone()
        return None if row is None else int(row[0])

    def last_seq(self) -> int:
        """The seq of the newest change (0 if there is none)."""
        with self.reading(settle=False) as conn:  # a deferred delete's tombstones are in
            return newest_seq(conn)

    def get_cursor(self, name: str) -> int:
        """A consumer's stored position; InvalidKey if it never stored one."""
        with self.reading() as conn:
            row = conn.execute("SELECT seq FROM cursor WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise InvalidKey(f"no cursor named {name!r}")
        return int(row[0])

    def set_cursor(self, conn: sqlite3.Connection, name: str, seq: int) -> None:
        """Store a consumer's position inside an open write transaction."""
        conn.execute(
            "INSERT INTO cursor (name, seq) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET seq = excluded.seq",
            (name, seq),
        )

    def cursors(self) -> dict[str, int]:
        """Every stored cursor."""
        with self.reading() as conn:
            return {name: int(seq) for name, seq in conn.execute("SELECT name, seq FROM cursor")}

    def find_uid(self, conn: sqlite3.Connection, uid: str) -> int | None:
        """The local id of the event with this uid, if it is stored."""
        row = conn.execute("SELECT id FROM event WHERE uid = ?", (uid_from_str(uid),)).fetchone()
        return None if row is None else int(row[0])


_INFO_BY_KEY = (
    "SELECT id FROM subject_info WHERE uri = ? AND actor = ? AND interpretation IS ?"
    " AND manifestation IS ? AND origin IS ? AND mimetype IS ? AND text IS ? AND storage IS ?"
)
# Every column that can hold a term has an index with the term first, so each
# NOT EXISTS is one index probe. Storage terms stay: the storage table holds them.
# CROSS JOIN keeps this join order: the temp table has no statistics, and
# SQLite would otherwise scan all of ``term`` and probe the candidates.
_ORPHANS = """
SELECT t.id, t.value FROM temp.candidate c CROSS JOIN term t ON t.id = c.id
WHERE c.id IS NOT NULL AND c.id != 0
  AND NOT EXISTS (SELECT 1 FROM event WHERE interpretation = c.id)
  AND NOT EXISTS (SELECT 1 FROM event WHERE manifestation = c.id)
  AND NOT EXISTS (SELECT 1 FROM event WHERE actor = c.id)
  AND NOT EXISTS (SELECT 1 FROM event WHERE origin = c.id)
  AND NOT EXISTS (SELECT 1 FROM subject WHERE current_uri = c.id)
  AND NOT EXISTS (SELECT 1 FROM subject WHERE current_origin = c.id)
  AND NOT EXISTS (SELECT 1 FROM subject_info WHERE uri = c.id)
  AND NOT EXISTS (SELECT 1 FROM subject_info WHERE interpretation = c.id)
  AND NOT EXISTS (SELECT 1 FROM subject_info WHERE manifestation = c.id)
  AND NOT EXISTS (SELECT 1 FROM subject_info WHERE origin = c.id)
  AND NOT EXISTS (SELECT 1 FROM subject_info WHERE mimetype = c.id)
  AND NOT EXISTS (SELECT 1 FROM subject_info WHERE text = c.id)
  AND NOT EXISTS (SELECT 1 FROM storage WHERE id = c.id)
"""
_CHANGES = """
SELECT c.seq, c.event_id, COALESCE(c.uid, e.uid, t.uid), c.uid IS NOT NULL,
       COALESCE(c.timestamp, e.timestamp, t.timestamp), e.node, c.source
FROM change c
LEFT JOIN event e ON c.uid IS NULL AND e.id = c.event_id
    AND NOT EXISTS (SELECT 1 FROM change d WHERE d.event_id = c.event_id
        AND d.uid IS NOT NULL AND d.seq > c.seq)
LEFT JOIN change t ON c.uid IS NULL AND e.id IS NULL AND t.uid IS NOT NULL
    AND t.event_id = c.event_id
WHERE c.seq > ? ORDER BY c.seq LIMIT ?
"""
_CHANGES_NEWEST_FIRST = _CHANGES.replace(
    "WHERE c.seq > ? ORDER BY c.seq", "WHERE c.seq > ? AND c.seq < ? ORDER BY c.seq DESC"
)
