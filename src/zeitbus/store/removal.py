"""Removing deleted events' rows, at once or deferred (used by ``store/sqlite.py``).

Theory of operation. A delete is two things: its tombstones in the changes
feed, which say what was deleted and when, and the removal of the rows,
which also takes them off the aggregates (group statistics, the infos'
counts and ends) and drops the strings nothing uses any more. The removal
dirties a few pages for every row, spread over every table and index, so its
commit is most of a delete's cost (about 15 ms for 100 events at 100k).

``SQLiteStore.delete(defer=True)`` commits the tombstones alone and leaves
the rows to ``SQLiteStore.purge``, which the daemon runs right after it has
answered, and which every read and write runs first if it is still due, so
nothing ever sees a deleted event. ``meta.purge_from`` is there while a
purge is due: the feed position of the deferred delete's first tombstone,
so a purge reads only the changes since (one delete's worth), and a crash
or another process finds it at open and finishes the purge. An event
re-imported with the id of a purged one (``import --keep-ids``) is not
mistaken for it: its tombstone is older.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING

from zeitbus.store import pending, stats

if TYPE_CHECKING:
    from zeitbus.store.sqlite import SQLiteStore

Found = Sequence[tuple[int, int, bytes]]  # (id, timestamp, uid), by id


def purge_from(conn: sqlite3.Connection) -> int | None:
    """The first tombstone of a deferred delete not purged yet (None: nothing is due)."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'purge_from'").fetchone()
    return None if row is None else int(row[0])


def mark_due(conn: sqlite3.Connection, first_seq: int) -> None:
    """Record a deferred delete whose first tombstone is ``first_seq`` (the earliest stays)."""
    conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('purge_from', ?)", (first_seq,))


def take_due(conn: sqlite3.Connection) -> list[tuple[int, int, bytes]]:
    """The events deferred deletes left (id, timestamp, uid; by id); nothing is due after."""
    first = purge_from(conn)
    if first is None:
        return []
    conn.execute("DELETE FROM meta WHERE key = 'purge_from'")
    return conn.execute(_DUE, (first,)).fetchall()


def remove(store: SQLiteStore, conn: sqlite3.Connection, found: Found) -> None:
    """Remove the events ``found`` and every row of theirs, inside the writer's transaction."""
    folded_id = store.folded_id
    if found[-1][0] > folded_id:
        pending.count_rewrite(conn)
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS doomed (id INTEGER PRIMARY KEY)")
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS candidate (id INTEGER PRIMARY KEY)")
    conn.execute("DELETE FROM temp.doomed")
    conn.execute("DELETE FROM temp.candidate")
    conn.executemany("INSERT INTO temp.doomed (id) VALUES (?)", [(r[0],) for r in found])
    conn.execute(_COLLECT_CANDIDATES)
    # The same subtract-then-repair as a MoveEvent's rows leaving their groups.
    # Pending rows are in no aggregate yet: only folded rows are taken off.
    leaving = stats.rows_of_doomed(conn, folded_id)
    stats.subtract(conn, leaving)
    infos = conn.execute(_DOOMED_INFOS, (folded_id,)).fetchall()
    conn.execute("DELETE FROM subject WHERE event_id IN (SELECT id FROM temp.doomed)")
    conn.execute("DELETE FROM event WHERE id IN (SELECT id FROM temp.doomed)")
    _release_infos(store, conn, infos)
    stats.repair(conn, leaving.keys(), {r[0] for r in found}, folded_id)
    store.drop_orphans(conn, None)


def _release_infos(
    store: SQLiteStore, conn: sqlite3.Connection, infos: list[tuple[int, int]]
) -> None:
    """Take deleted rows off their infos; drop unused infos, re-pick lost ends."""
    conn.executemany(
        "UPDATE subject_info SET rows = rows - ? WHERE id = ?", [(n, i) for i, n in infos]
    )
    touched = json.dumps([i for i, _ in infos])
    unused = conn.execute(
        "SELECT id, uri, actor, interpretation, manifestation, origin, mimetype, text, storage"
        " FROM subject_info i WHERE id IN (SELECT value FROM json_each(?))"
        " AND NOT EXISTS (SELECT 1 FROM subject s WHERE s.info = i.id)",
        (touched,),
    ).fetchall()
    if unused:
        conn.execute(
            "DELETE FROM subject_info WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps([row[0] for row in unused]),),
        )
        store.forget_infos(tuple(row[1:]) for row in unused)
    conn.execute(_REPICK_INFO_ENDS, (touched, store.folded_id))


# Tombstones from the first deferred one on whose event is still there. ``change``'s
# key is the seq, so this reads only the changes since that delete.
_DUE = """
SELECT e.id, e.timestamp, e.uid FROM change c JOIN event e ON e.id = c.event_id
WHERE c.seq >= ? AND c.uid IS NOT NULL ORDER BY e.id
"""
_COLLECT_CANDIDATES = """
INSERT OR IGNORE INTO temp.candidate (id)
    SELECT interpretation FROM event WHERE id IN (SELECT id FROM temp.doomed)
    UNION SELECT manifestation FROM event WHERE id IN (SELECT id FROM temp.doomed)
    UNION SELECT actor FROM event WHERE id IN (SELECT id FROM temp.doomed)
    UNION SELECT origin FROM event WHERE id IN (SELECT id FROM temp.doomed)
    UNION SELECT current_uri FROM subject WHERE event_id IN (SELECT id FROM temp.doomed)
    UNION SELECT current_origin FROM subject WHERE event_id IN (SELECT id FROM temp.doomed)
    UNION SELECT value FROM subject_info i, json_each(json_array(i.uri, i.interpretation,
            i.manifestation, i.origin, i.mimetype, i.text))
        WHERE i.id IN (SELECT info FROM subject WHERE event_id IN (SELECT id FROM temp.doomed))
"""
# An info whose newest or oldest row was deleted re-picks it: two probes of
# the (info, timestamp) index each.
# An info's aggregates describe its folded rows (store/pending.py), so ends are
# re-picked among them (?2: the watermark); NULL when none is left.
_REPICK_INFO_ENDS = """
UPDATE subject_info SET
    newest_ts = (SELECT max(timestamp) FROM subject WHERE info = subject_info.id
        AND event_id <= ?2),
    newest_id = (SELECT min(event_id) FROM subject WHERE info = subject_info.id
        AND event_id <= ?2 AND timestamp = (SELECT max(timestamp) FROM subject
            WHERE info = subject_info.id AND event_id <= ?2)),
    oldest_ts = (SELECT min(timestamp) FROM subject WHERE info = subject_info.id
        AND event_id <= ?2),
    oldest_id = (SELECT min(event_id) FROM subject WHERE info = subject_info.id
        AND event_id <= ?2 AND timestamp = (SELECT min(timestamp) FROM subject
            WHERE info = subject_info.id AND event_id <= ?2))
WHERE id IN (SELECT value FROM json_each(?1))
    AND (newest_id IN (SELECT id FROM temp.doomed) OR oldest_id IN (SELECT id FROM temp.doomed))
"""
# The infos of the doomed rows, with how many folded rows each loses.
_DOOMED_INFOS = """
SELECT info, sum(event_id <= ?) FROM subject WHERE event_id IN (SELECT id FROM temp.doomed)
GROUP BY info
"""
