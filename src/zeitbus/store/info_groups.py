"""Grouped result types answered from ``subject_info``'s aggregates.

Theory of operation. "The files this application uses most" is
MostPopularSubjects with an actor template: grouping every matching row
costs as much as the rows, which at a million events is most of a second.
Every ``subject_info`` row aggregates the subject rows that use it: how many,
the newest and the oldest (see store/writer.py). When every condition of a
grouped query is on an info's own fields (subject uri, interpretation,
manifestation, origin, mimetype, text, storage, and the event's actor, which
the info carries too), a condition holds for all rows of an info or for none;
so a group's count is the sum of its matching infos' counts and its newest
row the newest of theirs. Reading the matching infos, one per distinct
(uri, actor, subject fields), replaces reading the rows.

Ties are broken as on the row path: a group's newest row is the one with the
highest timestamp and, among those, the lowest event id (its oldest: lowest
timestamp, lowest id), and groups are ordered by (count,) timestamp, id.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable

from zeitbus.model import ResultType
from zeitbus.store import pending, stats
from zeitbus.templates import GROUP_COLUMNS, Where

# The event's actor is an info column too.
_ACTOR = re.compile(r"\be\.actor\b")
# Anything else on the event or on the subject row itself needs the rows.
_ROW_COLUMN = re.compile(r"\b[es]\.")


def applies(where: Where, result_type: ResultType) -> bool:
    """True if the query's conditions and group key all live on ``subject_info``."""
    assert result_type.group is not None
    key = _ACTOR.sub("i.actor", GROUP_COLUMNS[result_type.group][0])
    return not any(_ROW_COLUMN.search(_ACTOR.sub("i.actor", sql)) for sql in [key, *where.sql])


def find_ids(
    conn: sqlite3.Connection, where: Where, result_type: ResultType, cache: pending.PendingCache
) -> list[int]:
    """Every group's representative, in the result type's order."""
    assert result_type.group is not None
    key = _ACTOR.sub("i.actor", GROUP_COLUMNS[result_type.group][0])
    conditions = [_ACTOR.sub("i.actor", sql) for sql in where.sql]
    conditions.append(f"{key} IS NOT NULL")
    groups: dict[int, list[int]] = {}  # key -> [rows, newest_ts, newest_id, oldest_ts, oldest_id]
    with pending.snapshot(conn):
        unfolded = cache.groups_of(conn, [None])[0]
        for value, info, rows, newest_ts, newest_id, oldest_ts, oldest_id in conn.execute(
            f"SELECT {key}, i.id, rows, newest_ts, newest_id, oldest_ts, oldest_id"
            f" FROM subject_info i WHERE {' AND '.join(conditions)}",
            where.params,
        ):
            if newest_ts is not None:
                stats.combine(groups, value, (rows, newest_ts, newest_id, oldest_ts, oldest_id))
            extra = unfolded.get(info)
            if extra is not None:
                stats.combine(groups, value, extra)
    return ordered(groups, result_type)


def ordered(groups: dict[int, list[int]], result_type: ResultType) -> list[int]:
    """Groups' representatives ([rows, newest ts, id, oldest ts, id]) in the type's order."""
    end = 3 if result_type.uses_oldest else 1
    if result_type.popular:
        order = sorted(groups.values(), key=lambda g: (g[0], g[end], g[end + 1]))
    else:
        order = sorted(groups.values(), key=lambda g: (g[end], g[end + 1]))
    if not result_type.ascending:
        order.reverse()
    return [g[end + 1] for g in order]


def collapsed(ids: Iterable[int], num_events: int) -> list[int]:
    """Consecutive duplicate ids collapsed (as upstream), at most ``num_events`` (0: all).

    Reads ``ids`` only as far as the answer needs.
    """
    out: list[int] = []
    for event_id in ids:
        if not out or out[-1] != event_id:
            out.append(event_id)
            if len(out) == num_events:
                break
    return out
