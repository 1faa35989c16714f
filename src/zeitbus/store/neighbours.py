"""The rows FindRelatedUris needs when its templates match few events.

Theory of operation. FindRelatedUris (``related.py``) runs a window of five
rows over the rows of every event that matches the templates or the result
templates, in time order, and only windows that hold a template row count.
Reading every result-template row (often every file the user touched) to
look at a few windows is what made it cost seconds.

A window that counts ends at most five rows after a template row, and it
starts at most four rows before one. So around each template event it is
enough to have the rows of the nearest result events on each side: all
result events at the template event's own timestamp, and the
``NEIGHBOURS`` nearest strictly before and strictly after it (each event has
at least one row). Every template event is read too, so the rows kept around
a template event are exactly the rows the full sequence has there, in the
same order, and every window that counts sees what it would see in the full
sequence. ``tests/test_related.py`` checks the answers against the full read.

Each template event costs three small index-ordered finds, so this is for
templates that match up to ``MAX_TEMPLATE_EVENTS`` events. For more,
``union_near`` merges the (timestamp, id) of the events either side matches
and keeps those within ``NEIGHBOURS`` events of a template event; only their
rows are read.
"""

from __future__ import annotations

import heapq
import itertools
import json
import sqlite3
from collections.abc import Sequence

from zeitbus.model import INT64_MAX, Event, ResultType, StorageState, TimeRange
from zeitbus.store import queries
from zeitbus.store.sqlite import SQLiteStore

NEIGHBOURS = 6
MAX_TEMPLATE_EVENTS = 256
_SAME_TS = 1000
_RECENT = ResultType.MOST_RECENT_EVENTS


def result_ids_near(
    store: SQLiteStore,
    conn: sqlite3.Connection,
    time_range: TimeRange,
    template_ids: Sequence[int],
    result_templates: Sequence[Event],
    storage_state: StorageState,
) -> set[int] | None:
    """The result-template events near the template events, or None if this cannot tell."""
    stamps = dict(
        conn.execute(
            "SELECT id, timestamp FROM event WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(template_ids)),),
        ).fetchall()
    )
    # Time ranges use 0 for an open bound, so bounds at 0 or 1 cannot be
    # expressed; such logs take the full read.
    if any(ts <= 1 or ts >= INT64_MAX - 1 for ts in stamps.values()):
        return None
    start, end = time_range.start, time_range.end
    near: set[int] = set()
    for ts in sorted(set(stamps.values())):
        # Every result event at the template event's own timestamp (a limit, so the
        # planner reads them row by row; more than that many is read again in full).
        same = queries.find_event_ids(
            store, conn, TimeRange(ts, ts), result_templates, storage_state, _SAME_TS, _RECENT
        )
        if len(same) == _SAME_TS:
            same = queries.find_event_ids(
                store, conn, TimeRange(ts, ts), result_templates, storage_state, 0, _RECENT
            )
        near.update(same)
        sides: list[tuple[TimeRange, int, ResultType]] = []
        if start == 0 or start <= ts - 1:
            sides.append((TimeRange(start, ts - 1), NEIGHBOURS, ResultType.MOST_RECENT_EVENTS))
        if end == 0 or ts + 1 <= end:
            sides.append((TimeRange(ts + 1, end), NEIGHBOURS, ResultType.LEAST_RECENT_EVENTS))
        for side, num, order in sides:
            near.update(
                queries.find_event_ids(
                    store, conn, side, result_templates, storage_state, num, order
                )
            )
    near.update(
        queries.matching_among(
            store, conn, time_range, result_templates, storage_state, template_ids
        )
    )
    return near


def union_near(
    store: SQLiteStore,
    conn: sqlite3.Connection,
    time_range: TimeRange,
    templates: Sequence[Event],
    result_templates: Sequence[Event],
    storage_state: StorageState,
) -> tuple[set[int], set[int]]:
    """For many template events: the events near them, and the result events.

    Both sides' events come oldest first from the finds' index-ordered plans;
    merged into the one sequence the window runs over, each template event
    marks its ``NEIGHBOURS`` neighbours on either side, and only the marked
    events' rows are read afterwards.
    """
    template_keys = queries.event_keys(store, conn, time_range, templates, storage_state)
    result_keys = queries.event_keys(store, conn, time_range, result_templates, storage_state)
    template_ids = {event_id for _, event_id in template_keys}
    # Both are sorted: one merge, and an event both sides match appears twice in a row.
    union = [event_id for _, event_id in heapq.merge(template_keys, result_keys)]
    ids = [event_id for n, event_id in enumerate(union) if n == 0 or union[n - 1] != event_id]
    marked = bytearray(len(ids))
    reach = b"\x01" * (2 * NEIGHBOURS + 1)
    for n, event_id in enumerate(ids):
        if event_id in template_ids:
            start = max(0, n - NEIGHBOURS)
            marked[start : n + NEIGHBOURS + 1] = reach[: min(len(ids), n + NEIGHBOURS + 1) - start]
    near = set(itertools.compress(ids, marked))
    return near, {event_id for _, event_id in result_keys} & near
