"""Pre-aggregated per-group statistics for the grouped result types.

Theory of operation. Most grouped queries ("recent files", "most used
apps") come without templates or a time range; answering them from the rows
means grouping every (event, subject) row of the log, which is linear in the
log's size. The ``stat`` table keeps, for every value of every group field,
the number of rows carrying it and the rows that represent the group: the
newest (highest timestamp; on a tie the lowest event id, which is also the
row an index-ordered GROUP BY picks) and the oldest (for OldestActor). An
unfiltered grouped query then reads one row per group.

The writer maintains it: inserts' rows are folded in every few thousand
events, and readers add the rows not folded yet (store/pending.py);
deletes subtract counts and re-pick a representative only when it was
deleted (a few index probes); a MoveEvent moves its rows' counts from their
old current_uri and current_origin groups to the new ones the same way.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import TypeVar

from zeitbus.model import GroupField
from zeitbus.templates import reads_info

# field -> (code stored in stat.field, key expression over "s"/"e", on event?)
FIELDS: dict[GroupField, tuple[int, str, bool]] = {
    GroupField.SUBJECT_URI: (1, "i.uri", False),
    GroupField.ACTOR: (2, "e.actor", True),
    GroupField.SUBJECT_ORIGIN: (3, "i.origin", False),
    GroupField.SUBJECT_INTERPRETATION: (4, "i.interpretation", False),
    GroupField.MIMETYPE: (5, "i.mimetype", False),
    GroupField.CURRENT_URI: (6, "COALESCE(s.current_uri, i.uri)", False),
    GroupField.EVENT_ORIGIN: (7, "e.origin", True),
    GroupField.CURRENT_ORIGIN: (8, "NULLIF(COALESCE(s.current_origin, i.origin), 0)", False),
}

# How to find a key's rows with indexes: (table, conditions whose union is the
# rows, subject_info column the rows' info must have ``:v`` in, or None).
# current_uri/current_origin are stored as NULL when equal to uri/origin (see
# templates.py), so their rows are the union of two conditions.
_BRANCHES: dict[int, list[tuple[str, str, str | None]]] = {
    1: [("subject", "1", "uri")],
    2: [("event", "actor = :v", None)],
    3: [("subject", "1", "origin")],
    4: [("subject", "1", "interpretation")],
    5: [("subject", "1", "mimetype")],
    6: [
        ("subject", "current_uri = :v", None),
        ("subject", "current_uri IS NULL", "uri"),
    ],
    7: [("event", "origin = :v", None)],
    8: [
        ("subject", "current_origin = :v", None),
        ("subject", "current_origin IS NULL", "origin"),
    ],
}
# A key held by at most this many subject_info rows is found info by info
# (one index seek each); a more common one by walking events newest first.
_FEW_INFOS = 1000

Aggregate = list[int]  # [rows, newest_ts, newest_id, oldest_ts, oldest_id]
Key = TypeVar("Key")


def add_row(acc: dict[tuple[int, int], Aggregate], key: tuple[int, int], ts: int, eid: int) -> None:
    """Fold one row into a batch's aggregates."""
    combine(acc, key, (1, ts, eid, ts, eid))


def combine(groups: dict[Key, Aggregate], key: Key, agg: Iterable[int]) -> None:
    """Fold an aggregate [rows, newest_ts, newest_id, oldest_ts, oldest_id] into ``groups``.

    Newest: the highest timestamp, on a tie the lowest id; oldest: the lowest of both.
    """
    rows, newest_ts, newest_id, oldest_ts, oldest_id = agg
    group = groups.get(key)
    if group is None:
        groups[key] = [rows, newest_ts, newest_id, oldest_ts, oldest_id]
        return
    group[0] += rows
    if newest_ts > group[1] or (newest_ts == group[1] and newest_id < group[2]):
        group[1], group[2] = newest_ts, newest_id
    if oldest_ts < group[3] or (oldest_ts == group[3] and oldest_id < group[4]):
        group[3], group[4] = oldest_ts, oldest_id


def fold(
    rows: Sequence[tuple[int | None, ...]],
) -> tuple[dict[tuple[int, int], Aggregate], dict[int, Aggregate]]:
    """A batch's aggregates per group and per info, from rows in PENDING_ROWS' shape.

    (timestamp, event id, the keys of fields 1..8, info.) This runs for every
    fold, so the rows are aggregated per info in one tight loop and the
    groups derived from the infos: an info fixes a row's uri, actor, origin,
    interpretation and mimetype, and, unless a move rewrote the row, its
    current uri and origin too. Only the event origin, and both current
    fields of the (few) infos with moved rows, are taken row by row.
    """
    infos: dict[int, Aggregate] = {}
    sample: dict[int, tuple[int | None, ...]] = {}  # a row of each info: its keys
    # Indexed by column: 2..9 are fields 1..8.
    per_column: list[dict[int, Aggregate]] = [{} for _ in range(10)]
    moved: set[int] = set()  # infos with a row whose current uri or origin is not its own
    for row in rows:
        ts, eid, info = row[0], row[1], row[10]
        assert ts is not None
        assert eid is not None
        assert info is not None
        # ``combine`` inlined: this is the one update made for every row.
        agg = infos.get(info)
        if agg is None:
            infos[info] = [1, ts, eid, ts, eid]
            sample[info] = row
        else:
            agg[0] += 1
            if ts > agg[1] or (ts == agg[1] and eid < agg[2]):
                agg[1] = ts
                agg[2] = eid
            if ts < agg[3] or (ts == agg[3] and eid < agg[4]):
                agg[3] = ts
                agg[4] = eid
        if row[8] is not None:  # the event origin: not the info's
            combine(per_column[8], row[8], (1, ts, eid, ts, eid))
        if row[7] != row[2] or row[9] != row[4]:
            moved.add(info)
    for info, agg in infos.items():
        keys = sample[info]
        for column, key_column in _INFO_COLUMNS if info in moved else _UNMOVED_COLUMNS:
            value = keys[key_column]
            if value is not None:
                combine(per_column[column], value, agg)
    for row in rows if moved else ():
        if row[10] in moved:
            ts, eid = row[0], row[1]
            assert ts is not None
            assert eid is not None
            for column in (7, 9):
                value = row[column]
                if value is not None:
                    combine(per_column[column], value, (1, ts, eid, ts, eid))
    groups_by_key = {
        (column - 1, value): agg
        for column in range(2, 10)
        for value, agg in per_column[column].items()
    }
    return groups_by_key, infos


# (group column, the column of an info's row that holds its key): fields 1..5 are
# the info's own; current uri and origin are its uri and origin unless moved.
_INFO_COLUMNS = ((2, 2), (3, 3), (4, 4), (5, 5), (6, 6))
_UNMOVED_COLUMNS = (*_INFO_COLUMNS, (7, 2), (9, 4))


def merge(conn: sqlite3.Connection, acc: dict[tuple[int, int], Aggregate]) -> None:
    """Add a batch's aggregates to the table."""
    conn.executemany(_UPSERT, [(f, v, *agg) for (f, v), agg in acc.items()])


def rows_of_doomed(conn: sqlite3.Connection, folded_id: int) -> dict[tuple[int, int], int]:
    """How many folded rows each group loses with the events in ``temp.doomed``."""
    counts: dict[tuple[int, int], int] = {}
    for code, key, _ in FIELDS.values():
        if key.startswith("e."):
            source = "subject s JOIN event e ON e.id = s.event_id"
        elif reads_info(key):
            source = "subject s JOIN subject_info i ON i.id = s.info"
        else:
            source = "subject s"
        for value, rows in conn.execute(
            f"SELECT {key}, count(*) FROM {source}"
            f" WHERE s.event_id IN (SELECT id FROM temp.doomed) AND s.event_id <= {int(folded_id)}"
            f" AND {key} IS NOT NULL"
            f" GROUP BY {key}"
        ):
            counts[(code, value)] = rows
    return counts


def subtract(conn: sqlite3.Connection, counts: dict[tuple[int, int], int]) -> None:
    """Take rows away from groups (their representatives are repaired later)."""
    conn.executemany(
        "UPDATE stat SET rows = rows - ? WHERE field = ? AND value = ?",
        [(n, code, value) for (code, value), n in counts.items()],
    )


def repair(
    conn: sqlite3.Connection, keys: Iterable[tuple[int, int]], gone: set[int], folded_id: int
) -> None:
    """Drop emptied groups among ``keys``; re-pick representatives in ``gone``.

    ``stat`` describes the folded rows only (events up to ``folded_id``), so a
    representative is picked among them: a pending row picked here could be
    deleted later without its group being repaired (readers add the pending
    rows themselves, store/pending.py).
    """
    for code, value in keys:
        row = conn.execute(
            "SELECT rows, newest_id, oldest_id FROM stat WHERE field = ? AND value = ?",
            (code, value),
        ).fetchone()
        if row is None:
            continue
        if row[0] <= 0:
            conn.execute("DELETE FROM stat WHERE field = ? AND value = ?", (code, value))
        elif row[1] in gone or row[2] in gone:
            _recompute_ends(conn, code, value, folded_id)


def _recompute_ends(conn: sqlite3.Connection, code: int, value: int, folded_id: int) -> None:
    """Re-pick a group's newest and oldest rows with a few index probes."""
    ends = []
    for newest in (True, False):
        found = [
            end
            for branch in _BRANCHES[code]
            if (end := _branch_end(conn, *branch, value, newest, folded_id)) is not None
        ]
        if not found:
            conn.execute("DELETE FROM stat WHERE field = ? AND value = ?", (code, value))
            return
        # Newest: the highest timestamp, on a tie the lowest id; oldest: the lowest of both.
        ends.append(min(found, key=lambda end: (-end[0] if newest else end[0], end[1])))
    (newest_ts, newest_id), (oldest_ts, oldest_id) = ends
    conn.execute(
        "UPDATE stat SET newest_ts = ?, newest_id = ?, oldest_ts = ?, oldest_id = ?"
        " WHERE field = ? AND value = ?",
        (newest_ts, newest_id, oldest_ts, oldest_id, code, value),
    )


def _branch_end(
    conn: sqlite3.Connection,
    table: str,
    cond: str,
    info_column: str | None,
    value: int,
    newest: bool,
    folded_id: int,
) -> tuple[int, int] | None:
    """(timestamp, lowest event id) of one branch's newest or oldest folded row."""
    direction = "DESC" if newest else "ASC"
    eid = "id" if table == "event" else "event_id"
    cond = f"{cond} AND {eid} <= :folded"
    params: dict[str, object] = {"v": value, "folded": folded_id}
    if info_column is not None:
        infos = [
            row[0]
            for row in conn.execute(
                f"SELECT id FROM subject_info WHERE {info_column} = :v LIMIT {_FEW_INFOS + 1}",
                params,
            )
        ]
        if len(infos) > _FEW_INFOS:
            return _walk_events(conn, cond, info_column, value, newest, folded_id)
        params["infos"] = json.dumps(infos)
        # Per info, its (info, timestamp) index walked from one end to the first row
        # the condition accepts: a seek, where one ORDER BY over all of them sorts.
        row = conn.execute(
            f"SELECT {'max' if newest else 'min'}((SELECT timestamp FROM subject"
            f" WHERE info = j.value AND {cond} ORDER BY timestamp {direction} LIMIT 1))"
            " FROM json_each(:infos) j",
            params,
        ).fetchone()
        if row is None or row[0] is None:
            return None
        first = conn.execute(
            "SELECT min(event_id) FROM subject WHERE info IN (SELECT value FROM json_each(:infos))"
            f" AND timestamp = :t AND {cond}",
            {**params, "t": row[0]},
        ).fetchone()[0]
        return int(row[0]), int(first)
    # ORDER BY ... LIMIT 1 walks the (key, timestamp) index from one end.
    row = conn.execute(
        f"SELECT timestamp FROM {table} WHERE {cond} ORDER BY timestamp {direction} LIMIT 1",
        params,
    ).fetchone()
    if row is None:
        return None
    first = conn.execute(
        f"SELECT min({eid}) FROM {table} WHERE {cond} AND timestamp = :t", {**params, "t": row[0]}
    ).fetchone()[0]
    return int(row[0]), int(first)


def _walk_events(
    conn: sqlite3.Connection, cond: str, info_column: str, value: int, newest: bool, folded_id: int
) -> tuple[int, int] | None:
    """A common info value's end row: events in time order, the first that has one."""
    direction = "DESC" if newest else "ASC"
    has = (
        "EXISTS (SELECT 1 FROM subject s JOIN subject_info i ON i.id = s.info"
        f" WHERE s.event_id = e.id AND i.{info_column} = :v AND {cond})"
    )
    params = {"v": value, "folded": folded_id}
    bound = ""
    if newest:
        # Start at the newest folded row, not at the newest event: a walk from the
        # top would first pass every pending event (up to a fold's worth). Every row
        # has an actor, so the actor groups' newest is the newest folded row.
        bound = " AND e.timestamp <= (SELECT max(newest_ts) FROM stat WHERE field = 2)"
    row = conn.execute(
        f"SELECT e.timestamp FROM event e WHERE {has}{bound}"
        f" ORDER BY e.timestamp {direction} LIMIT 1",
        params,
    ).fetchone()
    if row is None:
        return None
    first = conn.execute(
        f"SELECT min(e.id) FROM event e WHERE e.timestamp = :t AND {has}", {**params, "t": row[0]}
    ).fetchone()[0]
    return int(row[0]), int(first)


_UPSERT = """
INSERT INTO stat (field, value, rows, newest_ts, newest_id, oldest_ts, oldest_id)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (field, value) DO UPDATE SET
    rows = rows + excluded.rows,
    newest_ts = max(newest_ts, excluded.newest_ts),
    newest_id = CASE
        WHEN excluded.newest_ts > newest_ts
          OR (excluded.newest_ts = newest_ts AND excluded.newest_id < newest_id)
        THEN excluded.newest_id ELSE newest_id END,
    oldest_ts = min(oldest_ts, excluded.oldest_ts),
    oldest_id = CASE
        WHEN excluded.oldest_ts < oldest_ts
          OR (excluded.oldest_ts = oldest_ts AND excluded.oldest_id < oldest_id)
        THEN excluded.oldest_id ELSE oldest_id END
"""

SCHEMA = """
CREATE TABLE stat (
    field INTEGER NOT NULL,
    value INTEGER NOT NULL,
    rows INTEGER NOT NULL,
    newest_ts INTEGER NOT NULL,
    newest_id INTEGER NOT NULL,
    oldest_ts INTEGER NOT NULL,
    oldest_id INTEGER NOT NULL,
    PRIMARY KEY (field, value)
) WITHOUT ROWID
"""
