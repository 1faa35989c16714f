"""The write path of one insert batch (used by ``store/sqlite.py``).

Theory of operation. ``resolve_terms`` looks up or creates the strings the
batch needs (a subject the process has stored before is known by its strings
alone), finds the infos of unseen subjects with one statement, and finds
with one join which events may already be stored (dedup key or uid). ``add``
then checks each event against those answers and the batch's own earlier
events, gives it an id and queues its rows, and a new subject_info with an
id of its own; ``flush`` writes the queued rows with ``executemany``. The
aggregates (group statistics, infos' counts) are left to the next fold
(``store/pending.py``), except for rows an import stores below the fold
watermark. A MoveEvent flushes first, because it rewrites ``current_uri`` on
every earlier row, this batch's included.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING

from zeitbus.errors import DatabaseError, InvalidArgument
from zeitbus.ids import uid_from_str
from zeitbus.model import INT64_MIN, UINT32_MAX, Event, Subject
from zeitbus.ontology import MOVE_EVENT
from zeitbus.store import pending, stats

if TYPE_CHECKING:
    from zeitbus.store.sqlite import SQLiteStore

_Opt = int | None
# event_id, position, timestamp, current_uri, current_origin, info
SubjectRow = tuple[int, int, int, _Opt, _Opt, int]
# uri, actor, interpretation, manifestation, origin, mimetype, text, storage
InfoKey = tuple[int, int, _Opt, _Opt, _Opt, _Opt, _Opt, _Opt]
# The same as strings (with the event's actor), and the ids the writer needs of
# them: info, uri, origin, interpretation, mimetype.
SubjectKey = tuple[str, str, str, str, str, str, str, str]
SubjectIds = tuple[int, int, _Opt, _Opt, _Opt]


class BatchWriter:
    """Collects the rows of one insert batch and writes them with executemany.

    Rows wait in lists until ``flush``; a MoveEvent flushes first, because it
    rewrites ``current_uri`` on every earlier row, including this batch's.
    """

    def __init__(
        self,
        store: SQLiteStore,
        conn: sqlite3.Connection,
        *,
        keep_ids: bool,
        replay: bool,
        source: int | None = None,
    ) -> None:
        self.store = store
        self.conn = conn
        self.keep_ids = keep_ids
        self.replay = replay
        # Received by sync from this node (store.Receiving): events are known by
        # uid alone, a tombstoned uid is refused, and the change rows say where from.
        self.source = source
        self.tombstoned: set[bytes] = set()
        self.last_id = store.last_id
        self.event_rows: list[tuple[object, ...]] = []
        self.subject_rows: list[SubjectRow] = []
        self.keys: dict[tuple[int, int, int, int, int], int] = {}
        # Timestamps whose events may repeat a dedup key (see resolve_terms).
        self.dedup_ts: set[int] = set()
        self.uids: dict[bytes, int] = {}
        self.raw_uids: dict[str, bytes] = {}
        self.used: set[int] = set()
        # Rows to aggregate at once: those of events below the fold watermark
        # (imports that keep ids); the rest are pending (see store/pending.py).
        self.folded_id = store.folded_id
        self.aggregate_rows: list[pending.Row] = []
        # This batch's rows above the watermark, kept for the next fold (store._unfolded).
        self.unfolded: dict[tuple[int, int], pending.Row] = {}
        # Whether the batch changed pending rows other than by appending new ids:
        # storing ids among theirs, or moving them (see pending.PendingCache).
        self.rewrote_pending = False
        self.moved_pending = False
        self.max_ts = INT64_MIN
        self.new_terms: set[int] = set()
        self.fresh_uids: list[bytes] = []
        self.stored_keys: dict[tuple[int, int, int, int, int], int] = {}
        self.stored_uids: dict[bytes, int] = {}
        self.deduplicated = False
        self.local_node = store._node_id(conn, store.node)
        # Subjects _find_infos found no info for (their info keys), and the infos
        # and storages this batch creates, written by flush before the subject rows.
        self.absent: dict[SubjectKey, InfoKey] = {}
        self.next_info: int | None = None
        self.new_infos: list[tuple[int, *InfoKey]] = []
        self.new_storages: list[tuple[int]] = []
        self._term = store._term_for_write
        # The ids this batch looked up: a few hundred strings, looked up thousands
        # of times (every event's actor and symbols), where each look-up in the
        # store's cache of every term is a cache miss of the CPU's.
        self._terms: dict[str, int] = {}

    def resolve_terms(self, events: Sequence[Event | None]) -> None:
        """Look up (or create) every string the batch needs, with two statements.

        A subject this process has stored before is known by its strings
        (``store._subjects``), so only the strings of unseen subjects, of
        moves and of the events themselves are looked up. Also makes the
        batch's uids in one go. Terms created here are remembered in
        ``new_terms``: no stored row can use them yet, so the dedup lookup is
        skipped for subjects whose URI is new.
        """
        store, conn = self.store, self.conn
        seen, seen_now = store._subjects, store._pending_subjects
        wanted: set[str] = set()
        unseen: list[tuple[SubjectKey, Subject, str]] = []
        fresh = 0
        timestamps: set[int] = set()
        dedup_ts = self.dedup_ts
        for event in events:
            if event is None:
                continue
            if not event.uid:
                fresh += 1
            ts = event.ts
            if ts in timestamps or ts <= store.max_ts:
                dedup_ts.add(ts)
            timestamps.add(ts)
            actor = event.actor
            wanted.update((event.interpretation, event.manifestation, actor, event.origin))
            for subject in event.subjects:
                key = _subject_key(subject, actor)
                if key not in seen and key not in seen_now:
                    wanted.update(subject.values())
                    unseen.append((key, subject, actor))
                elif subject.current_uri != subject.uri:
                    wanted.update((subject.current_uri, subject.current_origin))
        known, pending = store.terms.ids, store._pending_terms
        missing = [v for v in wanted if v not in known and v not in pending]
        if missing:
            found = dict(conn.execute(_TERMS_BY_VALUE, (json.dumps(missing),)).fetchall())
            for value, term in found.items():
                store.terms.remember(value, term)
            new = [v for v in missing if v not in found]
            if new:
                conn.executemany("INSERT INTO term (value) VALUES (?)", [(v,) for v in new])
                for value, term in conn.execute(_TERMS_BY_VALUE, (json.dumps(new),)):
                    pending[value] = term
                    self.new_terms.add(term)
        self.fresh_uids = store._uids.batch(fresh)
        self.fresh_uids.reverse()
        self._find_infos(unseen)
        self._find_stored(events)

    def _find_stored(self, events: Sequence[Event | None]) -> None:
        """Look up, in two statements, which of the batch's events may be stored already.

        Only events not newer than everything stored can repeat a dedup key,
        and only through a URI that is not new; events that carry a uid (imports,
        sync) are looked up by uid.
        """
        conn, max_ts = self.conn, self.store.max_ts
        probe: list[tuple[int, int]] = []
        uids: list[tuple[bytes]] = []
        for event in events:
            if event is None:
                continue
            if event.uid:
                raw = self.raw_uids[event.uid] = uid_from_str(event.uid)
                uids.append((raw,))
            if event.ts <= max_ts:
                for subject in event.subjects:
                    uri = self._uri_of(subject, event.actor)
                    if uri not in self.new_terms:
                        probe.append((uri, event.ts))
        if probe:
            for uri, ts, interp, manif, actor, event_id in conn.execute(
                _DEDUP, (json.dumps(probe),)
            ):
                self.stored_keys.setdefault((ts, interp, manif, actor, uri), event_id)
        if uids:
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS wanted (uid BLOB PRIMARY KEY)")
            conn.execute("DELETE FROM temp.wanted")
            conn.executemany("INSERT OR IGNORE INTO temp.wanted (uid) VALUES (?)", uids)
            self.stored_uids = dict(
                conn.execute("SELECT e.uid, e.id FROM temp.wanted w JOIN event e ON e.uid = w.uid")
            )
            if self.source is not None:
                self.tombstoned = {
                    row[0]
                    for row in conn.execute(
                        "SELECT w.uid FROM temp.wanted w WHERE EXISTS"
                        " (SELECT 1 FROM change c WHERE c.uid = w.uid)"
                    )
                }

    def _find_infos(self, unseen: Sequence[tuple[SubjectKey, Subject, str]]) -> None:
        """Look up, in one statement, the infos of subjects this process has not seen.

        A long-running writer knows nearly every subject it meets; a fresh
        one (a restart, an import) would otherwise look each up on its own.
        Found ones go into the subject cache; the rest are new infos, which
        ``_describe`` creates when their event turns out to be stored.
        """
        store = self.store
        seen_now = store._pending_subjects
        infos, infos_now = store._infos, store._pending_infos
        wanted: dict[InfoKey, list[SubjectKey]] = {}
        for key, subject, actor_value in unseen:
            if key in seen_now:
                continue  # the same subject twice in the batch
            info_key = self._info_key(subject, self._lookup(actor_value))
            info = infos.get(info_key) or infos_now.get(info_key)
            if info is not None:
                seen_now[key] = _ids(info, info_key)
            else:
                wanted.setdefault(info_key, []).append(key)
        if not wanted:
            return
        # The infos of these (URI, actor) pairs, from the key index alone (one seek
        # per pair, where URIs and actors as two lists made their cross product);
        # the full keys match here.
        pairs = json.dumps(sorted({info_key[:2] for info_key in wanted}))
        for row in self.conn.execute(_INFOS_BY_URI, (pairs,)):
            info, info_key = row[0], tuple(row[1:])
            infos_now[info_key] = info  # a variant of the subject: kept for later batches
            for key in wanted.pop(info_key, ()):
                seen_now[key] = _ids(info, info_key)
        for info_key, keys in wanted.items():
            for key in keys:
                self.absent[key] = info_key

    def _uri_of(self, subject: Subject, actor: str) -> int:
        """The term id of a subject's URI (from the subject cache when it is there)."""
        key = _subject_key(subject, actor)
        known = self.store._subjects.get(key) or self.store._pending_subjects.get(key)
        return self._lookup(subject.uri) if known is None else known[1]

    def _info_key(self, subject: Subject, actor: int) -> InfoKey:
        """A subject's subject_info key (its strings as term ids, NULL for empty)."""
        term = self._lookup
        return (
            term(subject.uri),
            actor,
            term(subject.interpretation) if subject.interpretation else None,
            term(subject.manifestation) if subject.manifestation else None,
            term(subject.origin) if subject.origin else None,
            term(subject.mimetype) if subject.mimetype else None,
            term(subject.text) if subject.text else None,
            term(subject.storage) if subject.storage else None,
        )

    def _lookup(self, value: str) -> int:
        """The id of a value ``resolve_terms`` saw (falls back to SQL)."""
        term = self._terms.get(value)
        if term is None:
            term = self.store.terms.ids.get(value)
            if term is None:
                term = self.store._pending_terms.get(value)
                if term is None:
                    term = self._term(self.conn, value)
            self._terms[value] = term
        return term

    def add(self, event: Event) -> tuple[int, bool]:
        """Queue one event; its id, and whether it is new (else a duplicate's id)."""
        conn, term, store = self.conn, self._lookup, self.store
        timestamp = event.ts
        interpretation = term(event.interpretation)
        manifestation = term(event.manifestation)
        actor_value = event.actor
        actor = term(actor_value)
        # Parsed once per batch (_find_stored): a uid's parse costs as much as a row.
        raw_uid = (self.raw_uids.get(event.uid) or uid_from_str(event.uid)) if event.uid else None
        if raw_uid is not None:
            existing = self.uids.get(raw_uid) or self.stored_uids.get(raw_uid)
            if existing is not None:
                self.deduplicated = True
                return existing, False
            if raw_uid in self.tombstoned:
                return 0, False  # deleted here or elsewhere: the delete wins
        keys, stored_keys = self.keys, self.stored_keys
        # Only an event that shares its timestamp with another of the batch, or is
        # not newer than the log, can repeat a dedup key.
        dedup = timestamp in self.dedup_ts and self.source is None
        seen, seen_now = store._subjects, store._pending_subjects
        subject_keys: list[SubjectKey] = []
        knowns: list[SubjectIds | None] = []
        uris: list[int] = []
        for subject in event.subjects:
            subject_key = _subject_key(subject, actor_value)
            known = seen.get(subject_key) or seen_now.get(subject_key)
            uri = term(subject.uri) if known is None else known[1]
            if dedup:
                key = (timestamp, interpretation, manifestation, actor, uri)
                existing = keys.get(key) or stored_keys.get(key)
                if existing is not None:
                    self.deduplicated = True
                    return existing, False
            subject_keys.append(subject_key)
            knowns.append(known)
            uris.append(uri)
        if self.keep_ids and event.id:
            event_id = event.id
            taken = (
                event_id in self.used
                or conn.execute("SELECT 1 FROM event WHERE id = ?", (event_id,)).fetchone()
            )
            if taken:
                raise InvalidArgument(f"event id {event_id} is already used in this log")
            if self.folded_id < event_id <= store.last_id:
                self.rewrote_pending = True  # among pending rows, not after them
            self.last_id = max(self.last_id, event_id)
        else:
            if self.last_id >= UINT32_MAX:
                raise DatabaseError("the log has used every 32-bit event id; export and re-import")
            self.last_id += 1
            event_id = self.last_id
        if self.keep_ids:
            self.used.add(event_id)
        if raw_uid is None:
            # Made here, so unlike a given uid no other event of the batch can carry it.
            raw_uid = self.fresh_uids.pop() if self.fresh_uids else store._uids.batch(1)[0]
        else:
            self.uids[raw_uid] = event_id
        if timestamp > self.max_ts:
            self.max_ts = timestamp
        node = self.local_node if not event.node else store._node_id(conn, event.node)
        origin = term(event.origin) if event.origin else None
        self.event_rows.append(
            (
                event_id,
                timestamp,
                interpretation,
                manifestation,
                actor,
                origin,
                raw_uid,
                node,
                event.payload or None,
            )
        )
        for position, subject in enumerate(event.subjects):
            subject_key = subject_keys[position]
            if dedup:
                keys[(timestamp, interpretation, manifestation, actor, uris[position])] = event_id
            known = knowns[position]
            if known is None:  # unseen: its info is made (or found) now
                known = seen_now[subject_key] = self._describe(subject_key, subject, actor_value)
            self._add_subject(event_id, position, timestamp, subject, known, actor, origin)
        if event.interpretation == MOVE_EVENT and not self.replay:
            self.flush()
            self._apply_move(event)
        return event_id, True

    def _add_subject(
        self,
        event_id: int,
        position: int,
        ts: int,
        subject: Subject,
        known: SubjectIds,
        actor: int,
        event_origin: int | None,
    ) -> None:
        """Queue one subject row (and, below the fold watermark, its row to aggregate)."""
        current_uri = None
        current_origin = None  # NULL: same as origin
        if subject.current_uri != subject.uri or subject.current_origin != subject.origin:
            term = self._lookup
            if subject.current_uri and subject.current_uri != subject.uri:
                current_uri = term(subject.current_uri)
            if subject.current_origin == subject.origin:
                pass
            elif not subject.current_origin:
                current_origin = 0  # term 0: explicitly empty after a move
            else:
                current_origin = term(subject.current_origin)
        info, uri, origin, interp, mimetype = known
        self.subject_rows.append((event_id, position, ts, current_uri, current_origin, info))
        row = (
            ts,
            event_id,
            uri,
            actor,
            origin,
            interp,
            mimetype,
            uri if current_uri is None else current_uri,
            event_origin,
            origin if current_origin is None else current_origin or None,
            info,
        )
        if event_id <= self.folded_id:
            self.aggregate_rows.append(row)
        else:
            self.unfolded[(event_id, position)] = row

    def _describe(self, key: SubjectKey, subject: Subject, actor: str) -> SubjectIds:
        """A subject's info and term ids; a new info is queued for ``flush``.

        Its id is given here (the next after the table's highest), so the
        subject rows can point at it before it is written.
        """
        store = self.store
        info_key = self.absent.pop(key, None)
        info = None
        if info_key is None or store._dropped_terms:
            # Not seen by _find_infos, or a MoveEvent of this batch dropped terms,
            # which the key _find_infos made may name: look it up afresh.
            info_key = self._info_key(subject, self._lookup(actor))
            info = store._find_info(self.conn, info_key)
        if info is None:
            storage = info_key[7]
            if (
                storage is not None
                and storage not in store._storages
                and storage not in store._pending_storages
            ):
                self.new_storages.append((storage,))
                store._pending_storages.add(storage)
            if self.next_info is None:
                self.next_info = int(
                    self.conn.execute("SELECT coalesce(max(id), 0) FROM subject_info").fetchone()[0]
                )
            self.next_info += 1
            info = self.next_info
            self.new_infos.append((info, *info_key))
            store._pending_infos[info_key] = info
        return _ids(info, info_key)

    def _apply_move(self, event: Event) -> None:
        """Point earlier rows at a moved subject's new location (as Zeitgeist does).

        The group statistics follow incrementally: the moved rows leave their
        current_uri and current_origin groups and join the new ones; strings
        no row refers to any more are dropped.
        """
        conn = self.conn
        for subject in event.subjects:
            old = self._term(conn, subject.uri)
            new = self._term(conn, subject.current_uri)
            new_origin = (
                self._term(conn, subject.current_origin) if subject.current_origin else None
            )
            moved = conn.execute(_MOVED, {"old": old, "ts": event.ts}).fetchall()
            if not moved:
                continue
            # Rewritten by primary key with the values worked out here, rather than
            # by a second search with per-row subqueries.
            conn.executemany(
                "UPDATE subject SET current_uri = ?, current_origin = ? WHERE info = ?"
                " AND timestamp = ? AND event_id = ? AND position = ?",
                [
                    (
                        None if uri == new else new,  # NULL: same as the info's uri
                        None if origin == new_origin else (0 if new_origin is None else new_origin),
                        info,
                        ts,
                        event_id,
                        position,
                    )
                    for event_id, position, ts, _, _, uri, origin, info in moved
                ],
            )
            leaving: dict[tuple[int, int], int] = {}
            joining: dict[tuple[int, int], stats.Aggregate] = {}
            replaced: set[int] = set()
            for event_id, position, ts, current_uri, current_origin, _, _, _ in moved:
                replaced.add(current_uri)
                if current_origin is not None:
                    replaced.add(current_origin)
                if event_id > self.folded_id:
                    # Pending: counted from its current state when folded.
                    self._move_unfolded((event_id, position), new, new_origin)
                    self.moved_pending = True
                    continue
                leaving[(6, current_uri)] = leaving.get((6, current_uri), 0) + 1
                stats.add_row(joining, (6, new), ts, event_id)
                if current_origin is not None:
                    leaving[(8, current_origin)] = leaving.get((8, current_origin), 0) + 1
                if new_origin is not None:
                    stats.add_row(joining, (8, new_origin), ts, event_id)
            stats.subtract(conn, leaving)
            stats.merge(conn, joining)
            stats.repair(conn, leaving.keys(), {row[0] for row in moved}, self.folded_id)
            self.store.drop_orphans(conn, replaced)
            self._terms.clear()  # it may hold dropped ids

    def _move_unfolded(self, key: tuple[int, int], current_uri: int, current_origin: _Opt) -> None:
        """Give a pending row kept for the next fold its new current uri and origin."""
        unfolded = self.unfolded if key in self.unfolded else self.store._unfolded
        row = None if unfolded is None else unfolded.get(key)
        if unfolded is None or row is None:
            self.store._unfolded = None  # not all known: the fold reads them back
            return
        unfolded[key] = (*row[:7], current_uri, row[8], current_origin, row[10])

    def flush(self) -> None:
        if self.new_storages:
            self.conn.executemany(
                "INSERT OR IGNORE INTO storage (id) VALUES (?)", self.new_storages
            )
            self.new_storages = []
        if self.new_infos:
            self.conn.executemany(_INSERT_INFO, self.new_infos)
            self.new_infos = []
        if self.event_rows:
            self.conn.executemany(_INSERT_EVENT, self.event_rows)
            self.conn.executemany(_INSERT_SUBJECT, self.subject_rows)
            self.conn.executemany(
                "INSERT INTO change (event_id, source) VALUES (?, ?)",
                [(row[0], self.source) for row in self.event_rows],
            )
            self.event_rows, self.subject_rows = [], []
        if self.aggregate_rows:
            pending.aggregate_now(self.conn, self.aggregate_rows)
            self.aggregate_rows = []


def _subject_key(subject: Subject, actor: str) -> SubjectKey:
    """The writer's cache key of a subject: its strings and its event's actor."""
    return (
        subject.uri,
        subject.interpretation,
        subject.manifestation,
        subject.origin,
        subject.mimetype,
        subject.text,
        subject.storage,
        actor,
    )


def _ids(info: int, key: InfoKey) -> SubjectIds:
    """What the writer caches of a subject: its info and the term ids rows need."""
    return info, key[0], key[4], key[2], key[5]


_INFOS_BY_URI = """
SELECT i.id, i.uri, i.actor, i.interpretation, i.manifestation, i.origin, i.mimetype, i.text,
       i.storage
FROM json_each(?) j
JOIN subject_info i ON i.uri = json_extract(j.value, '$[0]')
    AND i.actor = json_extract(j.value, '$[1]')
"""
_INSERT_INFO = (
    "INSERT INTO subject_info (id, uri, actor, interpretation, manifestation, origin, mimetype,"
    " text, storage, rows) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)"
)
_TERMS_BY_VALUE = "SELECT value, id FROM term WHERE value IN (SELECT value FROM json_each(?))"
_INSERT_EVENT = (
    "INSERT INTO event (id, timestamp, interpretation, manifestation, actor, origin, uid, node,"
    " payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_SUBJECT = (
    "INSERT INTO subject (event_id, position, timestamp, current_uri, current_origin, info)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_DEDUP = """
SELECT i.uri, s.timestamp, e.interpretation, e.manifestation, e.actor, s.event_id
FROM json_each(?) j
JOIN subject_info i ON i.uri = json_extract(j.value, '$[0]')
JOIN subject s ON s.info = i.id AND s.timestamp = json_extract(j.value, '$[1]')
JOIN event e ON e.id = s.event_id
ORDER BY s.event_id
"""
# Zeitgeist: UPDATE event SET subj_id_current = new, subj_origin_current = new_origin
#   WHERE subj_id_current = old AND interpretation != ? AND timestamp < ts
# It binds the MoveEvent *URI string* to "interpretation != ?", which compares
# against an integer id column and so never excludes a row: earlier MoveEvents
# are rewritten too (after a->b, b->c both moves have current_uri c). Clients
# see that behaviour, so it is kept; the timestamp bound spares the move itself.
_MOVED_ROWS = """
(current_uri = :old
    OR (current_uri IS NULL AND info IN (SELECT id FROM subject_info WHERE uri = :old)))
  AND timestamp < :ts
"""
# The rows a move rewrites, with their effective current uri and origin before
# it, their info's uri and origin (which say whether the new values equal them), and the
# rest of their primary key, by which they are rewritten (one seek each).
_MOVED = (
    "SELECT s.event_id, s.position, s.timestamp, COALESCE(s.current_uri, i.uri),"
    " NULLIF(COALESCE(s.current_origin, i.origin), 0), i.uri, i.origin, s.info"
    " FROM subject s JOIN subject_info i ON i.id = s.info WHERE" + _MOVED_ROWS
)
