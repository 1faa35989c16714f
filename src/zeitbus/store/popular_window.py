"""The most popular groups within a time range, without grouping every row of it.

Theory of operation. "The 50 files used most this month" groups every
subject row of the month (130k at 1M events), which costs as much as the
rows whichever way SQLite reads them. But a group cannot have more rows in
the range than it has at all, and ``stat`` (plus the pending rows) knows
that count for every group. So the groups are visited in descending order of
their all-time count, a chunk at a time, and each visited group's rows in the
range are counted through its infos' ``(info, timestamp)`` ranges; once the
next group's all-time count is below the count of the current 50th, no group
left can enter the top 50 (a threshold algorithm). Logs are skewed, so the
visit stops after the few hundred busiest groups.

It answers MostPopularSubjects (whose groups are few infos each), with no template,
a bounded time range and a limit, and only when the range holds many events
(for a short range the plain GROUP BY is cheaper). Ties are broken as on the
row path: count, then the newest row's timestamp, then its id, all
descending; a group's newest row is the lowest id at its highest timestamp.
``tests/test_popular_window.py`` checks it against the row query.
"""

from __future__ import annotations

import heapq
import json
import sqlite3

from zeitbus.model import INT64_MAX, INT64_MIN, GroupField, ResultType, TimeRange
from zeitbus.store import info_groups, pending, stats
from zeitbus.store.sqlite import SQLiteStore

# Group field -> its subject_info column. Only subject URIs: a URI has a few
# infos, so visiting one is a few index ranges. A mimetype, interpretation,
# actor or folder has thousands, and the top 50 of them hold most rows: visiting
# them read nearly every info's range (MostPopularMimeType over 30 days at 1M:
# 127 ms this way, 49 ms by the GROUP BY).
_COLUMNS = {GroupField.SUBJECT_URI: "uri"}
# Below this many events in the range the row query is as fast.
MANY_EVENTS = 20_000
# The most groups asked for (num_events) this path serves.
MAX_WANTED = 1000
_CHUNK = 64


def applies(result_type: ResultType, num_events: int, time_range: TimeRange) -> bool:
    """True for MostPopular types keyed on an info field, with a limit and a bounded range."""
    return (
        result_type.popular
        and not result_type.ascending
        and result_type.group in _COLUMNS
        and 0 < num_events <= MAX_WANTED
        and not (time_range.start == 0 and time_range.end == 0)
    )


def worth_it(conn: sqlite3.Connection, time_range: TimeRange) -> bool:
    """True if the range holds enough events for visiting groups to beat grouping rows."""
    row = conn.execute(
        "SELECT count(*) FROM (SELECT 1 FROM event WHERE timestamp BETWEEN ? AND ? LIMIT ?)",
        (*_bounds(time_range), MANY_EVENTS),
    ).fetchone()
    return bool(row[0] >= MANY_EVENTS)


def find_ids(
    store: SQLiteStore,
    conn: sqlite3.Connection,
    time_range: TimeRange,
    result_type: ResultType,
    num_events: int,
) -> list[int]:
    """The top ``num_events`` groups' newest rows in the range, in the type's order.

    Consecutive groups with the same newest row count once (as everywhere,
    see ``info_groups.collapsed``), so more groups are fetched until
    ``num_events`` distinct ones are in or none is left.
    """
    wanted = num_events
    while True:
        ids = _top_groups(store, conn, time_range, result_type, wanted)
        distinct = info_groups.collapsed(ids, num_events)
        if len(distinct) == num_events or len(ids) < wanted:
            return distinct
        wanted *= 2


def _top_groups(
    store: SQLiteStore,
    conn: sqlite3.Connection,
    time_range: TimeRange,
    result_type: ResultType,
    num_events: int,
) -> list[int]:
    """The newest rows of the ``num_events`` groups with most rows in the range, best first."""
    group = result_type.group
    assert group is not None
    column, code = _COLUMNS[group], stats.FIELDS[group][0]
    low, high = _bounds(time_range)
    counted = (
        f"SELECT i.{column}, count(*), max(s.timestamp) FROM subject_info i"
        " JOIN subject s ON s.info = i.id AND s.timestamp BETWEEN ? AND ?"
        f" WHERE i.{column} IN (SELECT value FROM json_each(?)) GROUP BY i.{column}"
    )
    with pending.snapshot(conn):
        bounds = dict(conn.execute("SELECT value, rows FROM stat WHERE field = ?", (code,)))
        for value, agg in store.pending_cache.groups_of(conn, [code])[0].items():
            bounds[value] = bounds.get(value, 0) + agg[0]
        order = sorted(bounds.items(), key=lambda item: -item[1])
        found: dict[int, tuple[int, int]] = {}  # value -> (rows in range, newest timestamp)
        for start in range(0, len(order), _CHUNK):
            if len(found) >= num_events:
                nth = heapq.nlargest(num_events, (n for n, _ in found.values()))[-1]
                if order[start][1] < nth:
                    break  # no group left can have as many rows in the range
            chunk = [value for value, _ in order[start : start + _CHUNK]]
            for value, rows, newest in conn.execute(counted, (low, high, json.dumps(chunk))):
                found[value] = (rows, newest)
        if not found:
            return []
        # Every group as good as the last one kept, so that a tie on count and
        # timestamp is settled by the representative's id, as on the row path.
        last = heapq.nlargest(num_events, found.values())[-1]
        picked = [
            (rows, newest, _newest_id(conn, column, value, newest))
            for value, (rows, newest) in found.items()
            if (rows, newest) >= last
        ]
    picked.sort(reverse=True)
    return [event_id for _, _, event_id in picked[:num_events]]


def _newest_id(conn: sqlite3.Connection, column: str, value: int, timestamp: int) -> int:
    """The lowest event id among a group's rows at its newest timestamp."""
    row = conn.execute(
        "SELECT min(s.event_id) FROM subject_info i JOIN subject s"
        f" ON s.info = i.id AND s.timestamp = ? WHERE i.{column} = ?",
        (timestamp, value),
    ).fetchone()
    return int(row[0])


def _bounds(time_range: TimeRange) -> tuple[int, int]:
    """The range as inclusive bounds (a bound of 0 is open, as in every find)."""
    return time_range.start or INT64_MIN, time_range.end or INT64_MAX
