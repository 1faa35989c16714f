"""Reads on the SQLite store: find, get, and the rows FindRelatedUris needs.

Plain result types read ``event e`` alone when no condition names a subject
field, and ``subject s JOIN event e`` otherwise, ordered by the timestamp of
the table that drives the query so that SQLite walks an index in time order
and stops early. Grouped result types follow Zeitgeist's ``group_and_sort``:
one row per non-NULL group value, represented by the group's newest row (its
oldest for OldestActor), ordered by count first for the popular types. Ties
are broken by event id so that answers are deterministic.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zeitbus.ids import uid_to_str
from zeitbus.model import (
    INT64_MAX,
    INT64_MIN,
    Event,
    GroupField,
    ResultType,
    Stats,
    StorageState,
    Subject,
    TimeRange,
)
from zeitbus.store import info_groups, pending, planner, popular_window, recent_groups, stats
from zeitbus.store.sqlite import SQLiteStore, newest_seq
from zeitbus.templates import GROUP_COLUMNS, TemplateCompiler, Where

_FETCH = 2000


def _compiler(
    store: SQLiteStore, conn: sqlite3.Connection, *, forks: bool = False
) -> TemplateCompiler:
    return TemplateCompiler(
        lambda value: store.lookup_term(conn, value),
        lambda state: store.unavailable_storages(conn, state),
        forks=forks,
    )


def compile_where(
    store: SQLiteStore,
    conn: sqlite3.Connection,
    templates: Sequence[Event],
    storage_state: StorageState,
) -> Where:
    """The WHERE of a find, with terms resolved on ``conn``."""
    return _compiler(store, conn).where(templates, storage_state)


def find_event_ids(
    store: SQLiteStore,
    conn: sqlite3.Connection,
    time_range: TimeRange,
    templates: Sequence[Event],
    storage_state: StorageState,
    num_events: int,
    result_type: ResultType,
) -> list[int]:
    """Zeitgeist's FindEventIds; ``num_events`` 0 means no limit."""
    if recent_groups.applies(result_type, num_events) and (
        any(_sets_something(t) for t in templates)
        or storage_state is not StorageState.ANY
        or not _unbounded(time_range)
    ):
        arms = _arms(store, conn, templates, storage_state, num_events)
        if not arms:
            return []
        return recent_groups.find_ids(conn, arms, time_range, result_type, num_events)
    if result_type.group is None:
        arms = _arms(store, conn, templates, storage_state, num_events)
        if not arms:
            return []
        sql, params, exact_limit = _select_events(arms, time_range, result_type, num_events)
    else:
        where = compile_where(store, conn, templates, storage_state)
        if not where.sql and _unbounded(time_range):
            return info_groups.collapsed(
                _stat_groups(store, conn, result_type, num_events), num_events
            )
        if (
            not where.sql
            and popular_window.applies(result_type, num_events, time_range)
            and popular_window.worth_it(conn, time_range)
        ):
            return info_groups.collapsed(
                popular_window.find_ids(store, conn, time_range, result_type, num_events),
                num_events,
            )
        if where.sql and _unbounded(time_range) and info_groups.applies(where, result_type):
            return info_groups.collapsed(
                info_groups.find_ids(conn, where, result_type, store.pending_cache), num_events
            )
        return info_groups.collapsed(_group_rows(conn, where, time_range, result_type), num_events)
    cursor = conn.execute(sql, params)
    ids: list[int] = []
    last = None
    # Small first page: a "50 most recent" answer is usually in the first rows,
    # and every row fetched is a row SQLite had to find. (num_events is a
    # uint32; fetchmany takes a C int.)
    size = min(num_events + 16, _FETCH) if num_events else _FETCH
    while True:
        rows = cursor.fetchmany(size)
        if not rows:
            break
        for (event_id,) in rows:
            # Only *consecutive* duplicates collapse, as upstream: a grouped
            # answer can name one event twice, in two places.
            if event_id != last:
                ids.append(event_id)
                last = event_id
                if len(ids) == num_events:
                    cursor.close()
                    return ids
        if exact_limit and len(rows) < size:
            break  # SQL's LIMIT ended the rows
        size = min(size * 2, _FETCH)
    return ids


def _arms(
    store: SQLiteStore,
    conn: sqlite3.Connection,
    templates: Sequence[Event],
    storage_state: StorageState,
    num_events: int,
) -> list[Where]:
    """The find's ORed arms, each with its way of reading subject_info chosen."""
    arms = _compiler(store, conn, forks=True).arms(templates, storage_state)
    # Events have 1.57 subjects on average; an estimate is all the planner needs.
    subject_rows = max(1, store.last_id * 3 // 2)
    return planner.seek_infos(conn, arms, num_events, subject_rows)


def _select_events(
    arms: list[Where],
    time_range: TimeRange,
    result_type: ResultType,
    num_events: int,
    columns: str = "id",
) -> tuple[str, list[object], bool]:
    """Plain result types: each arm in time order, merged by SQLite.

    An arm with an equality a subject index serves reads ``subject`` in that
    index's time order; any other arm walks ``event`` in time order (by its
    actor or origin index, or by timestamp) and tests subject conditions with
    EXISTS, which finds the newest matches of common values at once. Several
    arms become one UNION ALL whose ORDER BY SQLite runs as a merge of the
    arms, so no arm is sorted in full.
    """
    direction = "ASC" if result_type.ascending else "DESC"
    selects: list[str] = []
    params: list[object] = []
    one_row_per_event = True
    for arm in arms:
        if arm.seek_subject:
            one_row_per_event = False
            conds = TemplateCompiler.time_conditions(arm, time_range, "s.timestamp")
            selects.append(
                "SELECT s.event_id AS id, s.timestamp AS ts FROM "
                + _from(conds, subject=True)
                + conds.clause()
            )
            params += conds.params
            continue
        conds = TemplateCompiler.time_conditions(arm.event_driven(), time_range, "e.timestamp")
        selects.append("SELECT e.id AS id, e.timestamp AS ts FROM event e" + conds.clause())
        params += conds.params
    sql = " UNION ALL ".join(selects) + f" ORDER BY ts {direction}, id {direction}"
    # One row per event (no subject rows read) and one arm: LIMIT is exact.
    exact = one_row_per_event and len(arms) == 1 and bool(num_events)
    if exact:
        sql += f" LIMIT {int(num_events)}"
    return f"SELECT {columns} FROM ({sql})", params, exact


@dataclass(frozen=True, slots=True)
class _Grouping:
    """The rows a grouping query reads: ``FROM {source}``, grouped by ``key``."""

    key: str
    key_on_subject: bool
    ts: str  # the timestamp column of the table that drives the query
    event_id: str
    conds: Where
    source: str


def _grouping(
    where: Where, time_range: TimeRange, group: GroupField, *, by_subject: bool = False
) -> _Grouping:
    """The matching rows with a non-NULL ``group`` key; subject rows if ``by_subject``."""
    key, key_on_subject = GROUP_COLUMNS[group]
    on_subject = where.uses_subject or key_on_subject or by_subject
    ts = "s.timestamp" if on_subject else "e.timestamp"
    conds = TemplateCompiler.time_conditions(where, time_range, ts)
    conds.add(f"{key} IS NOT NULL", subject=key_on_subject)
    if not on_subject or key.startswith("e."):
        conds.uses_event = True
    event_id = "s.event_id" if on_subject else "e.id"
    source = f"{_from(conds, subject=on_subject)}{conds.clause()}"
    return _Grouping(key, key_on_subject, ts, event_id, conds, source)


def _group_rows(
    conn: sqlite3.Connection, where: Where, time_range: TimeRange, result_type: ResultType
) -> list[int]:
    """Grouped result types with conditions: one GROUP BY over the matching rows.

    The groups' representatives, in the result type's order (duplicates not
    collapsed). A group's newest (oldest) row has the highest (lowest)
    timestamp and, on a tie, the lowest id: what stat, the infos and
    Zeitgeist (scanning in id order) pick. With one max() (min()) aggregate,
    SQLite takes the bare id from a row with that timestamp; only when
    another event has the same timestamp can it be the wrong one of a tie,
    and those few groups are re-picked exactly.
    """
    group = result_type.group
    assert group is not None
    rows = _grouping(where, time_range, group, by_subject=result_type.popular)
    key, ts, event_id, conds, source = rows.key, rows.ts, rows.event_id, rows.conds, rows.source
    aggregate = "min" if result_type.uses_oldest else "max"
    count = "count(*)" if result_type.popular else "0"
    groups = conn.execute(
        f"SELECT {count}, {aggregate}({ts}), {event_id}, {key} FROM {source} GROUP BY {key}",
        conds.params,
    ).fetchall()
    tied = {
        row[0]
        for row in conn.execute(_SHARED_TIMESTAMPS, (json.dumps(sorted({g[1] for g in groups})),))
    }
    if tied:
        repick = (
            f"SELECT min({event_id}) FROM {source}{' AND' if conds.sql else ' WHERE'}"
            f" {event_id} IN (SELECT id FROM event WHERE timestamp = ?) AND {ts} = ? AND {key} = ?"
        )
        for n, (rows, when, _, value) in enumerate(groups):
            if when in tied:
                first = conn.execute(repick, (*conds.params, when, when, value)).fetchone()[0]
                groups[n] = (rows, when, first, value)
    groups.sort(key=lambda g: (g[0], g[1], g[2]), reverse=not result_type.ascending)
    return [g[2] for g in groups]


def usage(
    store: SQLiteStore,
    conn: sqlite3.Connection,
    time_range: TimeRange,
    templates: Sequence[Event],
    storage_state: StorageState,
    group: GroupField,
) -> list[tuple[str, int, int]]:
    """(value, count, newest timestamp) per value of ``group``, most first.

    An event field (actor, event origin) counts events; a subject field
    counts subjects, as the popular result types do.
    """
    g = _grouping(compile_where(store, conn, templates, storage_state), time_range, group)
    count = "count(*)" if g.key_on_subject else f"count(DISTINCT {g.event_id})"
    rows = conn.execute(
        f"SELECT {g.key}, {count}, max({g.ts}) FROM {g.source} GROUP BY {g.key}", g.conds.params
    ).fetchall()
    values = store.term_values(conn, {int(row[0]) for row in rows})
    found = [(values.get(int(value), ""), int(n), int(newest)) for value, n, newest in rows]
    found.sort(key=lambda row: (-row[1], -row[2], row[0]))
    return found


# Which of the given timestamps more than one event has (json list in, values out).
_SHARED_TIMESTAMPS = """
SELECT j.value FROM json_each(?) j
WHERE EXISTS (SELECT 1 FROM event WHERE timestamp = j.value LIMIT 1 OFFSET 1)
"""


def _stat_groups(
    store: SQLiteStore, conn: sqlite3.Connection, result_type: ResultType, num_events: int
) -> list[int]:
    """An unfiltered grouped query: the pre-aggregated groups plus the pending rows.

    At least the first ``num_events`` distinct representatives (0: all), in order.
    """
    group = result_type.group
    assert group is not None
    code = stats.FIELDS[group][0]
    with pending.snapshot(conn):
        watermark = pending.folded_id(conn)
        if not conn.execute(_ANY_PENDING, (watermark,)).fetchone():
            # Everything is folded: SQLite sorts the groups.
            direction = "ASC" if result_type.ascending else "DESC"
            end = "oldest" if result_type.uses_oldest else "newest"
            by_count = f"rows {direction}, " if result_type.popular else ""
            sql = (
                f"SELECT {end}_id FROM stat WHERE field = ?"
                f" ORDER BY {by_count}{end}_ts {direction}, {end}_id {direction}"
            )
            # Only what the answer keeps leaves SQLite (the groups are all sorted anyway).
            return info_groups.collapsed((row[0] for row in conn.execute(sql, (code,))), num_events)
        if store.last_id - watermark > pending.FOLD_SOON:
            store.request_fold()
        groups: dict[int, list[int]] = {}
        for value, *agg in conn.execute(_STAT_ROWS, (code,)):
            groups[value] = agg
        for value, agg in store.pending_cache.groups_of(conn, [code])[0].items():
            stats.combine(groups, value, agg)
    return info_groups.ordered(groups, result_type)


_ANY_PENDING = "SELECT 1 FROM subject WHERE event_id > ? LIMIT 1"
_STAT_ROWS = (
    "SELECT value, rows, newest_ts, newest_id, oldest_ts, oldest_id FROM stat WHERE field = ?"
)


def _sets_something(template: Event) -> bool:
    """False for a template with every field empty (it adds no condition)."""
    return template != Event(timestamp=template.timestamp)


def _unbounded(time_range: TimeRange) -> bool:
    return time_range.start in (0, INT64_MIN) and time_range.end in (0, INT64_MAX)


def _from(where: Where, *, subject: bool) -> str:
    if not subject:
        return "event e"
    source = "subject s JOIN subject_info i ON i.id = s.info" if where.uses_info else "subject s"
    if where.uses_event:
        return source + " JOIN event e ON e.id = s.event_id"
    return source


def event_keys(
    store: SQLiteStore,
    conn: sqlite3.Connection,
    time_range: TimeRange,
    templates: Sequence[Event],
    storage_state: StorageState,
) -> list[tuple[int, int]]:
    """(timestamp, id) of every event a find would return, oldest first."""
    arms = _arms(store, conn, templates, storage_state, 0)
    if not arms:
        return []
    oldest = ResultType.LEAST_RECENT_EVENTS
    sql, params, _ = _select_events(arms, time_range, oldest, 0, columns="id, ts")
    keys: list[tuple[int, int]] = []
    for event_id, ts in conn.execute(sql, params):
        if not keys or keys[-1][1] != event_id:
            keys.append((ts, event_id))
    return keys


def matching_among(
    store: SQLiteStore,
    conn: sqlite3.Connection,
    time_range: TimeRange,
    templates: Sequence[Event],
    storage_state: StorageState,
    among: Sequence[int],
) -> set[int]:
    """Which of the events ``among`` a find with these templates would return."""
    where = compile_where(store, conn, templates, storage_state)
    conds = TemplateCompiler.time_conditions(where, time_range, "e.timestamp")
    conds.add("e.id IN (SELECT value FROM json_each(?))", json.dumps(sorted(among)))
    sql = f"SELECT DISTINCT e.id FROM {_from(conds, subject=conds.uses_subject)}{conds.clause()}"
    return {int(row[0]) for row in conn.execute(sql, conds.params)}


def find_event_ids_among(
    store: SQLiteStore,
    conn: sqlite3.Connection,
    among: Sequence[int],
    time_range: TimeRange,
    templates: Sequence[Event],
    storage_state: StorageState,
    result_type: ResultType,
) -> list[int]:
    """The ids an unlimited find would return if the log held only the events ``among``.

    Full-text search's second step: the search finds the candidates, and
    the find's conditions, grouping and order apply to them alone.
    """
    where = compile_where(store, conn, templates, storage_state)
    where.add("e.id IN (SELECT value FROM json_each(?))", json.dumps(sorted(set(among))))
    if result_type.group is not None:
        return info_groups.collapsed(_group_rows(conn, where, time_range, result_type), 0)
    direction = "ASC" if result_type.ascending else "DESC"
    conds = TemplateCompiler.time_conditions(where, time_range, "e.timestamp")
    sql = (
        f"SELECT DISTINCT e.id, e.timestamp FROM {_from(conds, subject=conds.uses_subject)}"
        f"{conds.clause()} ORDER BY e.timestamp {direction}, e.id {direction}"
    )
    return [row[0] for row in conn.execute(sql, conds.params)]


def get_events(
    store: SQLiteStore, conn: sqlite3.Connection, ids: Sequence[int]
) -> list[Event | None]:
    """Events by local id, in request order, None for unknown ids."""
    wanted = sorted({i for i in ids if isinstance(i, int) and 0 < i < 2**32})
    if not wanted:
        return [None] * len(ids)
    events: dict[int, tuple[object, ...]] = {}
    subjects: dict[int, list[tuple[object, ...]]] = {}
    terms: set[int] = set()
    for start in range(0, len(wanted), 20_000):
        chunk = json.dumps(wanted[start : start + 20_000])
        for row in conn.execute(_GET_EVENTS, (chunk,)):
            events[row[0]] = row
            terms.update(t for t in row[2:6] if t is not None)
        for row in conn.execute(_GET_SUBJECTS, (chunk,)):
            subjects.setdefault(row[0], []).append(row)
            terms.update(t for t in row[1:] if t is not None)
    values = store.term_values(conn, terms)
    built: dict[int, Event] = {}
    for event_id, row in events.items():
        _, timestamp, interp, manif, actor, origin, uid, node, payload = row
        built[event_id] = Event(
            id=event_id,
            timestamp=timestamp,  # type: ignore[arg-type]
            interpretation=values[interp],  # type: ignore[index]
            manifestation=values[manif],  # type: ignore[index]
            actor=values[actor],  # type: ignore[index]
            origin=values[origin] if origin is not None else "",  # type: ignore[index]
            subjects=tuple(_subject(values, s) for s in subjects.get(event_id, ())),
            payload=bytes(payload) if isinstance(payload, bytes | memoryview) else b"",
            uid=uid_to_str(uid),  # type: ignore[arg-type]
            node=store.node_name(conn, node),  # type: ignore[arg-type]
        )
    return [built.get(i) if isinstance(i, int) else None for i in ids]


def _subject(values: dict[int, str], row: tuple[object, ...]) -> Subject:
    _, uri, current_uri, interp, manif, origin, current_origin, mimetype, text, storage = row

    def value(term: object) -> str:
        return "" if term is None else values[term]  # type: ignore[index]

    origin_text = value(origin)
    return Subject(
        uri=value(uri),
        interpretation=value(interp),
        manifestation=value(manif),
        origin=origin_text,
        mimetype=value(mimetype),
        text=value(text),
        storage=value(storage),
        current_uri=value(current_uri) if current_uri is not None else value(uri),
        current_origin=value(current_origin) if current_origin is not None else origin_text,
    )


# An event as Zeitgeist's wire struct carries it, every field as text:
# [[id, timestamp, interpretation, manifestation, actor, origin],
#  [[the nine Subject.values()], ...], payload]. An id or timestamp of 0 is "".
EventStruct = list[Any]


def get_event_structs(
    store: SQLiteStore, conn: sqlite3.Connection, ids: Sequence[int]
) -> list[EventStruct | None]:
    """``get_events`` as structs, built from the rows without Event values.

    The same answer as encoding ``get_events``'s events field by field (a
    test holds the two together); the D-Bus replies use it because building
    and converting the values was most of a GetEvents or FindEvents call.
    """
    wanted = sorted({i for i in ids if isinstance(i, int) and 0 < i < 2**32})
    if not wanted:
        return [None] * len(ids)
    event_rows: list[tuple[Any, ...]] = []
    subject_rows: list[tuple[Any, ...]] = []
    terms: set[int | None] = set()
    for start in range(0, len(wanted), 20_000):
        chunk = json.dumps(wanted[start : start + 20_000])
        rows = conn.execute(_GET_EVENTS, (chunk,)).fetchall()
        for row in rows:
            terms.update(row[2:6])
        event_rows += rows
        rows = conn.execute(_GET_SUBJECTS, (chunk,)).fetchall()
        for row in rows:
            terms.update(row[1:])
        subject_rows += rows
    terms.discard(None)
    cache = store.term_values(conn, terms)  # type: ignore[arg-type]
    text: dict[int | None, str] = {term: cache[term] for term in terms if term is not None}
    text[None] = ""
    subjects: dict[int, list[list[str]]] = {}
    for row in subject_rows:
        event_id, uri, current_uri, interp, manif, origin, current_origin, mime, txt, storage = row
        subjects.setdefault(event_id, []).append(
            [
                text[uri],
                text[interp],
                text[manif],
                text[origin],
                text[mime],
                text[txt],
                text[storage],
                text[uri if current_uri is None else current_uri],
                text[origin if current_origin is None else current_origin],
            ]
        )
    built: dict[int, EventStruct] = {}
    for event_id, timestamp, interp, manif, actor, origin, _uid, _node, payload in event_rows:
        built[event_id] = [
            [
                str(event_id),
                str(timestamp) if timestamp else "",
                text[interp],
                text[manif],
                text[actor],
                text[origin],
            ],
            subjects.get(event_id, []),
            bytes(payload) if isinstance(payload, bytes | memoryview) else b"",
        ]
    return [built.get(i) if isinstance(i, int) else None for i in ids]


def page_keys(
    conn: sqlite3.Connection, time_range: TimeRange, after: tuple[int, int] | None, limit: int
) -> list[tuple[int, int]]:
    """(timestamp, id) of the next ``limit`` events after ``after``, oldest first."""
    timed = TemplateCompiler.time_conditions(Where(), time_range, "timestamp")
    bounds, params = timed.sql, list(timed.params)
    if after is not None:
        bounds.append("(timestamp, id) > (?, ?)")
        params.extend(after)
    where = " WHERE " + " AND ".join(bounds) if bounds else ""
    sql = f"SELECT timestamp, id FROM event{where} ORDER BY timestamp, id LIMIT ?"
    return [(int(ts), int(i)) for ts, i in conn.execute(sql, (*params, limit))]


def summary(store: SQLiteStore, conn: sqlite3.Connection) -> Stats:
    """Counts over the whole log (distinct actors and URIs from the group statistics)."""
    events, first, last = conn.execute(
        "SELECT count(*), min(timestamp), max(timestamp) FROM event"
    ).fetchone()
    groups: dict[int, int] = {}
    with pending.snapshot(conn):
        codes = [stats.FIELDS[f][0] for f in (GroupField.SUBJECT_URI, GroupField.ACTOR)]
        unfolded = store.pending_cache.groups_of(conn, codes)
        for code, pending_of_code in zip(codes, unfolded, strict=True):
            fresh = list(pending_of_code)
            known = conn.execute(
                "SELECT count(*) FROM stat WHERE field = ? AND value IN"
                " (SELECT value FROM json_each(?))",
                (code, json.dumps(fresh)),
            ).fetchone()[0]
            total = conn.execute("SELECT count(*) FROM stat WHERE field = ?", (code,)).fetchone()
            groups[code] = total[0] + len(fresh) - known
    subjects = conn.execute("SELECT count(*) FROM subject").fetchone()[0]
    top = conn.execute(
        "SELECT actor, count(*) AS n FROM event GROUP BY actor ORDER BY n DESC LIMIT 5"
    ).fetchall()
    values = store.term_values(conn, {actor for actor, _ in top})
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    last_seq = newest_seq(conn)
    size = page_size * pages
    if not store.memory:
        wal = Path(store.path + "-wal")
        size += wal.stat().st_size if wal.exists() else 0
    return Stats(
        events=events,
        subjects=subjects,
        first_timestamp=first,
        last_timestamp=last,
        last_seq=last_seq,
        actors=groups.get(stats.FIELDS[GroupField.ACTOR][0], 0),
        uris=groups.get(stats.FIELDS[GroupField.SUBJECT_URI][0], 0),
        node=store.node,
        schema_version=store.schema_version,
        file_bytes=size,
        top_actors=tuple((values[actor], n) for actor, n in top),
    )


def related_rows(
    conn: sqlite3.Connection, store: SQLiteStore, ids: set[int]
) -> list[tuple[int, int, str]]:
    """(event id, timestamp, subject uri) rows of the given events, in time order."""
    if not ids:
        return []
    rows = conn.execute(_RELATED, (json.dumps(sorted(ids)),)).fetchall()
    rows.sort()  # (time, event, position): tuples compare in C, faster than SQL's sorter
    values = store.term_values(conn, {row[3] for row in rows})
    return [(event_id, timestamp, values[uri]) for timestamp, event_id, _, uri in rows]


_GET_EVENTS = (
    "SELECT id, timestamp, interpretation, manifestation, actor, origin, uid, node, payload"
    " FROM event WHERE id IN (SELECT value FROM json_each(?))"
)
_GET_SUBJECTS = (
    "SELECT s.event_id, i.uri, s.current_uri, i.interpretation, i.manifestation, i.origin,"
    " s.current_origin, i.mimetype, i.text, i.storage"
    " FROM subject s JOIN subject_info i ON i.id = s.info"
    " WHERE s.event_id IN (SELECT value FROM json_each(?)) ORDER BY s.event_id, s.position"
)
_RELATED = (
    "SELECT s.timestamp, s.event_id, s.position, i.uri"
    " FROM subject s JOIN subject_info i ON i.id = s.info"
    " WHERE s.event_id IN (SELECT value FROM json_each(?))"
)


def histogram(conn: sqlite3.Connection) -> list[tuple[int, int]]:
    """(local day keyed as Zeitgeist keys it, subjects that day), newest day first.

    One row per subject, as upstream's flat table counts; the day is the local
    calendar day written as the seconds of that date's midnight in UTC.
    Timestamps SQLite's date functions cannot place (beyond year 9999) have
    no day: upstream reads that NULL as 0 (sqlite3_column_int64), and so do we.
    """
    return [(int(day or 0), int(count)) for day, count in conn.execute(_HISTOGRAM)]


def storage_media(conn: sqlite3.Connection) -> list[tuple[str, int | None, str, str]]:
    """(name, state, icon, display name) of every storage medium the log knows."""
    return [
        (str(name), state, icon or "", display_name or "")
        for name, state, icon, display_name in conn.execute(_STORAGE_MEDIA)
    ]


_HISTOGRAM = """
SELECT CAST(strftime('%s', datetime(timestamp / 1000, 'unixepoch', 'localtime'),
                     'start of day') AS INTEGER) AS daystamp,
       COUNT(*)
FROM subject
GROUP BY daystamp
ORDER BY daystamp DESC
"""
_STORAGE_MEDIA = """
SELECT t.value, s.state, s.icon, s.display_name
FROM storage AS s JOIN term AS t ON t.id = s.id
"""
