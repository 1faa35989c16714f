"""MostRecent* grouped result types with conditions, answered by streaming.

Theory of operation. "The 20 most recent files this application touched"
needs, for each group (file, actor, mimetype...), the group's newest
matching row, and the groups ordered by that row. Grouping every matching
row costs as much as the rows; instead this reads the matching rows newest
first, with the same index-ordered arms plain finds use (``queries``), and
stops once enough groups are known and complete.

Rows arrive ordered by (timestamp DESC, event id DESC). A group's
representative is its newest row, on a tie the lowest event id (what the
GROUP BY path picks); so the first row of a group fixes the group's
timestamp, and later rows with the same timestamp can only lower its id.
Once a row is older than every group seen so far, the groups seen so far are
final: no later row can change them or add a group before them. The answer
is then the groups ordered by (timestamp DESC, id DESC), consecutive
duplicate ids collapsed, cut at ``num_events``, exactly as the GROUP BY path
gives it (``tests/test_recent_groups.py`` checks that).
"""

from __future__ import annotations

import sqlite3

from zeitbus.model import ResultType, TimeRange
from zeitbus.templates import GROUP_COLUMNS, TemplateCompiler, Where, reads_info

_FETCH = 512


def applies(result_type: ResultType, num_events: int) -> bool:
    """True for the MostRecent* grouped types with a limit."""
    return (
        result_type.group is not None
        and not result_type.popular
        and not result_type.ascending
        and not result_type.uses_oldest
        and num_events > 0
    )


def find_ids(
    conn: sqlite3.Connection,
    arms: list[Where],
    time_range: TimeRange,
    result_type: ResultType,
    num_events: int,
) -> list[int]:
    """The ids of the newest ``num_events`` groups' representatives."""
    sql, params = _stream(arms, time_range, result_type)
    cursor = conn.execute(sql, params)
    groups: dict[int, list[int]] = {}  # key -> [timestamp, representative id]
    oldest = None  # the timestamp of the latest group found
    try:
        while rows := cursor.fetchmany(_FETCH):
            for event_id, ts, key in rows:
                if key is None:
                    continue
                group = groups.get(key)
                if group is not None:
                    if ts == group[0] and event_id < group[1]:
                        group[1] = event_id
                    continue
                if oldest is not None and ts < oldest and len(groups) >= num_events:
                    answer = _answer(groups, num_events)
                    if len(answer) == num_events:
                        return answer
                groups[key] = [ts, event_id]
                oldest = ts
    finally:
        cursor.close()
    return _answer(groups, num_events)


def _answer(groups: dict[int, list[int]], num_events: int) -> list[int]:
    ordered = sorted(groups.values(), key=lambda g: (g[0], g[1]), reverse=True)
    ids: list[int] = []
    for _, event_id in ordered:
        if not ids or ids[-1] != event_id:
            ids.append(event_id)
            if len(ids) == num_events:
                break
    return ids


def _stream(
    arms: list[Where], time_range: TimeRange, result_type: ResultType
) -> tuple[str, list[object]]:
    """Matching rows with their group key, newest first, one SELECT per arm merged."""
    assert result_type.group is not None
    key, key_on_subject = GROUP_COLUMNS[result_type.group]
    selects: list[str] = []
    params: list[object] = []
    for arm in arms:
        if arm.seek_subject:
            # One row per matching subject row, in a subject index's time order.
            conds = TemplateCompiler.time_conditions(arm, time_range, "s.timestamp")
            join = "subject s"
            if conds.uses_info or reads_info(key):
                join += " JOIN subject_info i ON i.id = s.info"
            if conds.uses_event or key.startswith("e."):
                join += " JOIN event e ON e.id = s.event_id"
            sql = f"SELECT s.event_id AS id, s.timestamp AS ts, {key} AS k FROM {join}"
        elif key_on_subject:
            # One row per matching subject row, walking events newest first
            # (CROSS JOIN keeps ``event`` outside, in its timestamp order).
            conds = TemplateCompiler.time_conditions(arm, time_range, "e.timestamp")
            sql = (
                f"SELECT e.id AS id, e.timestamp AS ts, {key} AS k"
                " FROM event e CROSS JOIN subject s ON s.event_id = e.id"
                " CROSS JOIN subject_info i ON i.id = s.info"
            )
        else:
            # An event-level key: one row per matching event.
            conds = TemplateCompiler.time_conditions(arm.event_driven(), time_range, "e.timestamp")
            sql = f"SELECT e.id AS id, e.timestamp AS ts, {key} AS k FROM event e"
        selects.append(sql + conds.clause())
        params += conds.params
    return " UNION ALL ".join(selects) + " ORDER BY ts DESC, id DESC", params
