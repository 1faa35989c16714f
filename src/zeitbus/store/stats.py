"""Pre-aggregated per-group statistics for the grouped result types.

Theory of operation. Most grouped queries ("recent files", "most used
apps") come without templates or a time range; answering them from the rows
means grouping every (event, subject) row of the log, which is linear in the
log's size. The ``stat`` table keeps, for every value of every group field,
the number of rows carrying it and the rows that represent the group: the
newest (highest timestamp; on a tie the lowest event id, which is also the
row an index-ordered GROUP BY picks) and the oldest (for OldestActor). An
unfiltered grouped query then reads one row per group.

The table is maintained in the same transaction as the rows it describes:
inserts add their batch's aggregates with one upsert per distinct key;
deletes subtract counts and recompute a representative only when it was
deleted (two index probes); a MoveEvent recomputes the current_uri and
current_origin groups it touched.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from zeitbus.model import GroupField

# field -> (code stored in stat.field, key expression over "s"/"e", on event?)
FIELDS: dict[GroupField, tuple[int, str, bool]] = {
    GroupField.SUBJECT_URI: (1, "s.uri", False),
    GroupField.ACTOR: (2, "e.actor", True),
    GroupField.SUBJECT_ORIGIN: (3, "s.origin", False),
    GroupField.SUBJECT_INTERPRETATION: (4, "s.interpretation", False),
    GroupField.MIMETYPE: (5, "s.mimetype", False),
    GroupField.CURRENT_URI: (6, "COALESCE(s.current_uri, s.uri)", False),
    GroupField.EVENT_ORIGIN: (7, "e.origin", True),
    GroupField.CURRENT_ORIGIN: (8, "NULLIF(COALESCE(s.current_origin, s.origin), 0)", False),
}

# How to find a key's rows with an index, for recomputing a representative.
_MATCH = {
    1: "s.uri = :v",
    3: "s.origin = :v",
    4: "s.interpretation = :v",
    5: "s.mimetype = :v",
    6: "(s.current_uri = :v OR (s.current_uri IS NULL AND s.uri = :v))",
    8: "(s.current_origin = :v OR (s.current_origin IS NULL AND s.origin = :v))",
}
_EVENT_MATCH = {2: "e.actor = :v", 7: "e.origin = :v"}

Aggregate = list[int]  # [rows, newest_ts, newest_id, oldest_ts, oldest_id]


def add_row(acc: dict[tuple[int, int], Aggregate], key: tuple[int, int], ts: int, eid: int) -> None:
    """Fold one row into a batch's aggregates."""
    agg = acc.get(key)
    if agg is None:
        acc[key] = [1, ts, eid, ts, eid]
        return
    agg[0] += 1
    if ts > agg[1] or (ts == agg[1] and eid < agg[2]):
        agg[1], agg[2] = ts, eid
    if ts < agg[3] or (ts == agg[3] and eid < agg[4]):
        agg[3], agg[4] = ts, eid


def merge(conn: sqlite3.Connection, acc: dict[tuple[int, int], Aggregate]) -> None:
    """Add a batch's aggregates to the table."""
    conn.executemany(_UPSERT, [(f, v, *agg) for (f, v), agg in acc.items()])


def subtract_deleted(conn: sqlite3.Connection) -> None:
    """Account for the rows of the events in ``temp.doomed``, before they go."""
    conn.execute("DELETE FROM temp.gone")
    for code, key, _ in FIELDS.values():
        source = (
            "subject s JOIN event e ON e.id = s.event_id" if key.startswith("e.") else ("subject s")
        )
        conn.execute(
            f"INSERT INTO temp.gone (field, value, rows) SELECT {code}, {key}, count(*)"
            f" FROM {source} WHERE s.event_id IN (SELECT id FROM temp.doomed)"
            f" AND {key} IS NOT NULL GROUP BY {key}"
        )
    conn.execute(
        "UPDATE stat SET rows = rows - (SELECT g.rows FROM temp.gone g"
        " WHERE g.field = stat.field AND g.value = stat.value)"
        " WHERE (field, value) IN (SELECT field, value FROM temp.gone)"
    )


def repair_after_delete(conn: sqlite3.Connection) -> None:
    """Drop emptied groups and re-pick representatives that were deleted."""
    conn.execute(
        "DELETE FROM stat WHERE rows <= 0 AND (field, value) IN"
        " (SELECT field, value FROM temp.gone)"
    )
    stale = conn.execute(
        "SELECT field, value FROM stat WHERE (field, value) IN"
        " (SELECT field, value FROM temp.gone)"
        " AND (newest_id IN (SELECT id FROM temp.doomed)"
        " OR oldest_id IN (SELECT id FROM temp.doomed))"
    ).fetchall()
    for code, value in stale:
        _recompute_ends(conn, code, value)


def recompute(conn: sqlite3.Connection, code: int, values: Iterable[int]) -> None:
    """Rebuild the stat rows of these keys of one field from the rows."""
    for value in values:
        count = _count(conn, code, value)
        if count == 0:
            conn.execute("DELETE FROM stat WHERE field = ? AND value = ?", (code, value))
            continue
        conn.execute(
            "INSERT INTO stat (field, value, rows, newest_ts, newest_id, oldest_ts, oldest_id)"
            " VALUES (?, ?, ?, 0, 0, 0, 0)"
            " ON CONFLICT (field, value) DO UPDATE SET rows = excluded.rows",
            (code, value, count),
        )
        _recompute_ends(conn, code, value)


def _source(code: int) -> tuple[str, str]:
    if code in _EVENT_MATCH:
        return "event e", _EVENT_MATCH[code]
    return "subject s", _MATCH[code]


def _count(conn: sqlite3.Connection, code: int, value: int) -> int:
    if code in _EVENT_MATCH:
        sql = (
            "SELECT count(*) FROM event e JOIN subject s ON s.event_id = e.id"
            f" WHERE {_EVENT_MATCH[code]}"
        )
    else:
        sql = f"SELECT count(*) FROM subject s WHERE {_MATCH[code]}"
    return int(conn.execute(sql, {"v": value}).fetchone()[0])


def _recompute_ends(conn: sqlite3.Connection, code: int, value: int) -> None:
    source, match = _source(code)
    eid = "e.id" if source.startswith("event") else "s.event_id"
    ts = "e.timestamp" if source.startswith("event") else "s.timestamp"
    params = {"v": value}
    newest_ts, oldest_ts = conn.execute(
        f"SELECT max({ts}), min({ts}) FROM {source} WHERE {match}", params
    ).fetchone()
    if newest_ts is None:
        conn.execute("DELETE FROM stat WHERE field = ? AND value = ?", (code, value))
        return
    pick = f"SELECT min({eid}) FROM {source} WHERE {match} AND {ts} = :t"
    newest_id = conn.execute(pick, {**params, "t": newest_ts}).fetchone()[0]
    oldest_id = conn.execute(pick, {**params, "t": oldest_ts}).fetchone()[0]
    conn.execute(
        "UPDATE stat SET newest_ts = ?, newest_id = ?, oldest_ts = ?, oldest_id = ?"
        " WHERE field = ? AND value = ?",
        (newest_ts, newest_id, oldest_ts, oldest_id, code, value),
    )


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
