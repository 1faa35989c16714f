"""Aggregates folded in bulk: the rows inserted since the last fold.

Theory of operation. The group statistics (``stat``) and the infos'
aggregates (``subject_info.rows``, newest, oldest) are the rows a grouped
query would otherwise group. Keeping them exact at every insert costs an
update of every group and info an insert touches; those rows are spread over
the whole of both tables, so a batch of 1,000 events dirtied about as many
of their pages as of the rows themselves, and commits paid for it.

So inserts leave them alone. ``meta.folded_id`` is a watermark: the rows of
events with an id up to it are in the aggregates, the rows of later events
are *pending*. The store folds them in (one pass, each group and info
touched once for thousands of events) when the writes pause, when a grouped
read finds more than ``FOLD_SOON`` events pending, and every ``FOLD_EVERY``
events during a burst; the writer keeps the rows it stored for that, so a
fold need not read them back. Readers add the pending rows to what they read
from the tables, inside one read transaction so both come from the same
snapshot, and keep their sums between writes (``PendingCache``).

New ids only grow, so a normal insert is always pending. An import that
keeps ids may store an id below the watermark; such rows are aggregated at
once, in their own transaction, as before. Deletes and MoveEvents adjust the
aggregates only for folded rows (pending rows are counted from their current
state when folded), and when they re-pick a representative they pick it
among the folded rows: the aggregates describe exactly the folded rows, so
a pending row deleted later never leaves one behind.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from zeitbus.store import stats

# Events folded in one go during a burst of inserts (a pause folds whatever is
# pending: SQLiteStore._fold_while_idle). Readers add up to this many events' rows,
# kept between reads by PendingCache, so a read after a write adds only new rows.
FOLD_EVERY = 32000

# Pending events past which a grouped read asks for a fold at once (see
# SQLiteStore.request_fold) instead of merging their groups on every read.
FOLD_SOON = 4000

# Pending rows with their group keys in stats.FIELDS order (codes 1..8), then the info.
PENDING_ROWS = """
SELECT s.timestamp, s.event_id, i.uri, i.actor, i.origin, i.interpretation, i.mimetype,
       COALESCE(s.current_uri, i.uri), e.origin,
       NULLIF(COALESCE(s.current_origin, i.origin), 0), s.info
FROM subject s JOIN subject_info i ON i.id = s.info JOIN event e ON e.id = s.event_id
WHERE s.event_id > ?
"""
Row = tuple[int | None, ...]


def folded_id(conn: sqlite3.Connection) -> int:
    """The watermark as stored (0 for a log that never folded)."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'folded_id'").fetchone()
    return 0 if row is None else int(row[0])


def count_rewrite(conn: sqlite3.Connection, *, moves_only: bool = False) -> None:
    """Record that a pending row changed or went away (see ``PendingCache``).

    ``moves_only``: only pending rows' current uri and origin changed.
    """
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, 1)"
        " ON CONFLICT (key) DO UPDATE SET value = value + 1",
        ("moves" if moves_only else "rewrites",),
    )


# The group fields a move changes (current uri and origin); see stats.FIELDS.
_MOVED_CODES = (6, 8)


def set_folded_id(conn: sqlite3.Connection, value: int) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('folded_id', ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (value,),
    )


def aggregate_now(conn: sqlite3.Connection, rows: Sequence[Row]) -> None:
    """Add rows (PENDING_ROWS' shape) to the group statistics and the infos' aggregates."""
    if not rows:
        return
    groups, infos = stats.fold(rows)
    stats.merge(conn, groups)
    conn.executemany(_ADD_INFO_ROWS, [(info, *agg) for info, agg in infos.items()])


def fold(
    conn: sqlite3.Connection, watermark: int, last_id: int, rows: Sequence[Row] | None = None
) -> int:
    """Fold every pending row in (inside the writer's transaction); the new watermark.

    ``rows`` are the pending rows if the writer kept them (PENDING_ROWS' shape,
    as they are now); without them they are read back.
    """
    if last_id <= watermark:
        return watermark
    if rows is None:
        rows = conn.execute(PENDING_ROWS, (watermark,)).fetchall()
    aggregate_now(conn, rows)
    set_folded_id(conn, last_id)
    return last_id


# An info's new rows: count, newest (ts, id), oldest (ts, id); as stat's upsert.
_ADD_INFO_ROWS = """
UPDATE subject_info SET
    rows = rows + ?2,
    newest_ts = max(coalesce(newest_ts, ?3), ?3),
    newest_id = CASE
        WHEN newest_ts IS NULL OR ?3 > newest_ts OR (?3 = newest_ts AND ?4 < newest_id)
        THEN ?4 ELSE newest_id END,
    oldest_ts = min(coalesce(oldest_ts, ?5), ?5),
    oldest_id = CASE
        WHEN oldest_ts IS NULL OR ?5 < oldest_ts OR (?5 = oldest_ts AND ?6 < oldest_id)
        THEN ?6 ELSE oldest_id END
WHERE id = ?1
"""


@contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """One read transaction, so the tables and the pending rows agree."""
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


Groups = Mapping[int, Sequence[int]]  # value -> (rows, newest_ts, newest_id, oldest_ts, oldest_id)


@dataclass(frozen=True, slots=True)
class _Entry:
    key: tuple[int, int, int]  # (watermark, rewrites, moves) of the snapshot it was made in
    covered: int  # the highest event id whose rows it includes
    groups: Groups


class PendingCache:
    """Readers' aggregates of the pending rows, reused and extended between writes.

    Aggregating the pending rows is the part of a grouped query that grows
    with the fold interval. Between two folds the rows mostly only grow, by
    new event ids: an entry made from the rows up to event id N serves any
    later snapshot with the same watermark, which aggregates only the rows
    after N. Anything else that changes a pending row (a move, a delete, an
    import below the last id) counts in ``meta.rewrites`` (``count_rewrite``),
    in the same transaction, and retires every entry; a move of pending rows
    counts in ``meta.moves`` and retires only the current uri and origin ones.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[int | None, _Entry] = {}

    def groups_of(self, conn: sqlite3.Connection, codes: Sequence[int | None]) -> list[Groups]:
        """Per code (``None``: per info), the pending rows' aggregates; read-only.

        Call inside ``snapshot(conn)``, so that they and the tables agree.
        """
        meta = dict(
            conn.execute(
                "SELECT key, value FROM meta WHERE key IN ('folded_id', 'rewrites', 'moves')"
            )
        )
        watermark = int(meta.get("folded_id", 0))
        rewrites, moves = int(meta.get("rewrites", 0)), int(meta.get("moves", 0))
        keys = [(watermark, rewrites, moves if code in _MOVED_CODES else 0) for code in codes]
        top = int(conn.execute("SELECT max(id) FROM event").fetchone()[0] or 0)
        with self._lock:
            found = [self._entries.get(code) for code in codes]
        bases = [
            e if e is not None and e.key == key and e.covered <= top else None
            for e, key in zip(found, keys, strict=True)
        ]
        start = min(watermark if e is None else e.covered for e in bases)
        fresh: list[dict[int, list[int]]] = [{} for _ in codes]
        if start < top:
            columns = [10 if code is None else code + 1 for code in codes]
            for row in conn.execute(PENDING_ROWS, (start,)):
                event_id = row[1]
                assert event_id is not None
                for adding, column, base in zip(fresh, columns, bases, strict=True):
                    value = row[column]
                    if value is not None and (base is None or event_id > base.covered):
                        stats.combine(adding, value, (1, row[0], event_id, row[0], event_id))
        out: list[Groups] = []
        made: dict[int | None, _Entry] = {}
        for code, key, base, new in zip(codes, keys, bases, fresh, strict=True):
            if base is not None and not new:
                out.append(base.groups)
                continue
            groups: Groups = new
            if base is not None:
                # Copy on write: the base's aggregates stay as other readers see them.
                merged: dict[int, Sequence[int]] = dict(base.groups)
                for value, agg in new.items():
                    old = merged.get(value)
                    if old is not None:
                        joined = {0: list(old)}
                        stats.combine(joined, 0, agg)
                        agg = joined[0]
                    merged[value] = agg
                groups = merged
            out.append(groups)
            made[code] = _Entry(key, top, groups)
        with self._lock:
            for code, entry in made.items():
                current = self._entries.get(code)
                if current is None or current.key != key or current.covered < entry.covered:
                    self._entries[code] = entry
        return out
