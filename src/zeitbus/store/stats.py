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
deletes subtract counts and re-pick a representative only when it was
deleted (a few index probes); a MoveEvent moves its rows' counts from their
old current_uri and current_origin groups to the new ones the same way.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

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

# The keys stored as NULL-means-same-as-another-column (see templates.py):
# their rows are the union of two index-friendly conditions.
_SPLIT_KEYS = {
    6: ["current_uri = :v", "uri = :v AND current_uri IS NULL"],
    8: ["current_origin = :v", "origin = :v AND current_origin IS NULL"],
}
_CODES = {code: (key, on_event) for code, key, on_event in FIELDS.values()}

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


def fold(rows: Sequence[tuple[int | None, ...]]) -> dict[tuple[int, int], Aggregate]:
    """A batch's aggregates from rows of (timestamp, event id, key of field 1..8).

    One tight loop over all rows and fields: this runs for every insert batch.
    """
    per_field: list[dict[int, Aggregate]] = [{} for _ in range(9)]
    for row in rows:
        ts, eid = row[0], row[1]
        assert ts is not None
        assert eid is not None
        for code in range(1, 9):
            value = row[code + 1]
            if value is None:
                continue
            groups = per_field[code]
            agg = groups.get(value)
            if agg is None:
                groups[value] = [1, ts, eid, ts, eid]
                continue
            agg[0] += 1
            if ts > agg[1] or (ts == agg[1] and eid < agg[2]):
                agg[1] = ts
                agg[2] = eid
            if ts < agg[3] or (ts == agg[3] and eid < agg[4]):
                agg[3] = ts
                agg[4] = eid
    return {
        (code, value): agg for code, groups in enumerate(per_field) for value, agg in groups.items()
    }


def merge(conn: sqlite3.Connection, acc: dict[tuple[int, int], Aggregate]) -> None:
    """Add a batch's aggregates to the table."""
    conn.executemany(_UPSERT, [(f, v, *agg) for (f, v), agg in acc.items()])


def rows_of_doomed(conn: sqlite3.Connection) -> dict[tuple[int, int], int]:
    """How many rows each group loses with the events in ``temp.doomed``."""
    counts: dict[tuple[int, int], int] = {}
    for code, key, _ in FIELDS.values():
        source = (
            "subject s JOIN event e ON e.id = s.event_id" if key.startswith("e.") else "subject s"
        )
        for value, rows in conn.execute(
            f"SELECT {key}, count(*) FROM {source}"
            f" WHERE s.event_id IN (SELECT id FROM temp.doomed) AND {key} IS NOT NULL"
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


def repair(conn: sqlite3.Connection, keys: Iterable[tuple[int, int]], gone: set[int]) -> None:
    """Drop emptied groups among ``keys``; re-pick representatives in ``gone``."""
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
            _recompute_ends(conn, code, value)


def _branches(code: int) -> tuple[str, list[str]]:
    """The table and the index-friendly conditions whose union is a key's rows."""
    if code in _SPLIT_KEYS:
        return "subject", _SPLIT_KEYS[code]
    key, on_event = _CODES[code]
    column = key.split(".", 1)[1]  # "e.actor" -> "actor"
    return ("event" if on_event else "subject"), [f"{column} = :v"]


def _recompute_ends(conn: sqlite3.Connection, code: int, value: int) -> None:
    """Re-pick a group's newest and oldest rows with a few index probes."""
    table, branches = _branches(code)
    eid = "id" if table == "event" else "event_id"
    params = {"v": value}
    ends = []
    for direction, pick in (("DESC", max), ("ASC", min)):
        found = []
        for cond in branches:
            # ORDER BY ... LIMIT 1 walks the (key, timestamp) index from one end
            # and stops at the first row the extra condition accepts.
            sql = f"SELECT timestamp FROM {table} WHERE {cond} ORDER BY timestamp {direction}"
            row = conn.execute(sql + " LIMIT 1", params).fetchone()
            if row is not None:
                found.append(row[0])
        if not found:
            conn.execute("DELETE FROM stat WHERE field = ? AND value = ?", (code, value))
            return
        ts = pick(found)
        ids = [
            conn.execute(
                f"SELECT min({eid}) FROM {table} WHERE {cond} AND timestamp = :t",
                {**params, "t": ts},
            ).fetchone()[0]
            for cond in branches
        ]
        ends.append((ts, min(i for i in ids if i is not None)))
    (newest_ts, newest_id), (oldest_ts, oldest_id) = ends
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
