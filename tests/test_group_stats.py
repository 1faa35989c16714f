"""The pre-aggregated group statistics always agree with the rows they summarise."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from msgspec.structs import replace

from zeitbus import Engine, Event, ResultType, Subject, TimeRange
from zeitbus.model import INT64_MAX
from zeitbus.ontology import ACCESS_EVENT, MOVE_EVENT, USER_ACTIVITY
from zeitbus.store.stats import FIELDS, combine, fold

URIS = [f"file:///home/u/{name}" for name in "abcdef"]
ORIGINS = ["", "file:///home/u", "file:///srv"]
MIMES = ["", "text/plain", "image/png"]
ACTORS = ["application://a.desktop", "application://b.desktop"]


@st.composite
def events(draw: st.DrawFn, ts: int) -> Event:
    uris = draw(st.lists(st.sampled_from(URIS), min_size=1, max_size=3, unique=True))
    return Event(
        timestamp=ts,
        interpretation=ACCESS_EVENT,
        manifestation=USER_ACTIVITY,
        actor=draw(st.sampled_from(ACTORS)),
        origin=draw(st.sampled_from(ORIGINS)),
        subjects=tuple(
            Subject(
                uri=u, origin=draw(st.sampled_from(ORIGINS)), mimetype=draw(st.sampled_from(MIMES))
            )
            for u in uris
        ),
    )


steps = st.lists(
    st.one_of(
        st.tuples(st.just("insert"), st.integers(1, 4)),
        st.tuples(st.just("delete"), st.integers(0, 30)),
        st.tuples(st.just("move"), st.sampled_from(URIS), st.sampled_from([*URIS, "file:///new"])),
        st.tuples(st.just("import"), st.integers(1, 30)),
    ),
    max_size=12,
)
GROUPED = [t for t in ResultType if t.group is not None]
ONE_PER_FIELD = list({t.group: t for t in GROUPED}.values())
EVERYTHING = TimeRange(1, INT64_MAX - 1)  # a no-op bound that forces the row query


_ROWS = "subject s JOIN subject_info i ON i.id = s.info JOIN event e ON e.id = s.event_id"


def _recomputed(db: Path) -> set[tuple[int, int, int, int, int, int, int]]:
    """The stat table as it would be built from scratch out of the rows."""
    conn = sqlite3.connect(db)
    out = set()
    for code, key, _ in FIELDS.values():
        rows = conn.execute(
            f"SELECT {key}, count(*), max(s.timestamp), min(s.timestamp) FROM {_ROWS}"
            f" WHERE {key} IS NOT NULL GROUP BY {key}"
        ).fetchall()
        for value, count, newest, oldest in rows:
            pick = f"SELECT min(s.event_id) FROM {_ROWS} WHERE {key} = ? AND s.timestamp = ?"
            newest_id = conn.execute(pick, (value, newest)).fetchone()[0]
            oldest_id = conn.execute(pick, (value, oldest)).fetchone()[0]
            out.add((code, value, count, newest, newest_id, oldest, oldest_id))
    conn.close()
    return out


@given(data=st.data(), plan=steps, every=st.sampled_from([1, 3, 4000]))
def test_group_statistics_match_a_recount_after_inserts_deletes_and_moves(
    data: st.DataObject, plan: list[tuple[object, ...]], every: int
) -> None:
    """After any mix of inserts, deletes and moves, and a fold, ``stat`` is a recount.

    ``every`` folds the pending rows after every event, every few, or never
    before the end (store/pending.py); deletes and moves meet both kinds.
    """
    with tempfile.TemporaryDirectory() as tmp, Engine.open(Path(tmp)) as engine:
        engine.store.fold_every = every
        clock = 1000
        for step in plan:
            if step[0] == "insert":
                batch = []
                for _ in range(int(step[1])):  # type: ignore[call-overload]
                    clock += 10
                    batch.append(data.draw(events(clock)))
                engine.insert_events(batch)
            elif step[0] == "delete":
                engine.delete_events([int(step[1])])  # type: ignore[call-overload]
            elif step[0] == "import":
                # An id kept from elsewhere, possibly among the pending rows' ids.
                wanted = int(step[1])  # type: ignore[call-overload]
                if engine.get_events([wanted]) == [None]:
                    clock += 10
                    kept = replace(data.draw(events(clock)), id=wanted)
                    engine.import_events([kept], keep_ids=True)
            elif step[1] != step[2]:
                clock += 10
                engine.insert_events(
                    [
                        Event(
                            timestamp=clock,
                            interpretation=MOVE_EVENT,
                            manifestation=USER_ACTIVITY,
                            actor=ACTORS[0],
                            subjects=(Subject(uri=str(step[1]), current_uri=str(step[2])),),
                        )
                    ]
                )
            # Read between writes, every group field, so that readers' kept aggregates
            # of the pending rows (store/pending.py PendingCache) meet every kind of write.
            for result_type in ONE_PER_FIELD:
                for templates in ([], [Event(actor=ACTORS[0])]):
                    assert engine.find_event_ids(
                        templates=templates, result_type=result_type
                    ) == engine.find_event_ids(EVERYTHING, templates, result_type=result_type)
        engine.store.fold()
        db = Path(engine.store.path)
        stored = set(sqlite3.connect(db).execute("SELECT * FROM stat").fetchall())
        assert stored == _recomputed(db)


@pytest.mark.parametrize("every", [1, 7, 4000])
def test_unfiltered_grouped_types_agree_with_the_row_query(engine: Engine, every: int) -> None:
    """``stat`` plus the pending rows gives the ids the row query gives, for every type."""
    engine.store.fold_every = every
    batch = [
        Event(
            timestamp=1000 + 10 * i,
            interpretation=ACCESS_EVENT,
            manifestation=USER_ACTIVITY,
            actor=ACTORS[i % 2],
            origin=ORIGINS[i % 3],
            subjects=tuple(
                Subject(uri=URIS[(i * 7 + k) % 6], origin=ORIGINS[k % 3], mimetype=MIMES[i % 3])
                for k in range(1 + i % 3)
            ),
        )
        for i in range(40)
    ]
    engine.insert_events(batch)
    engine.delete_events([3, 17, 40])
    for result_type in GROUPED:
        assert engine.find_event_ids(result_type=result_type) == engine.find_event_ids(
            EVERYTHING, result_type=result_type
        ), result_type.name


def _fold_row_by_row(
    rows: list[tuple[int | None, ...]],
) -> tuple[dict[tuple[int, int], list[int]], dict[int, list[int]]]:
    """What a fold means: every row counted in the group of each of its keys, and its info."""
    groups: dict[tuple[int, int], list[int]] = {}
    infos: dict[int, list[int]] = {}
    for row in rows:
        ts, eid = row[0], row[1]
        assert ts is not None
        assert eid is not None
        for column in range(2, 11):
            value = row[column]
            if value is None:
                continue
            acc: dict[object, list[int]] = infos if column == 10 else groups  # type: ignore[assignment]
            key: object = value if column == 10 else (column - 1, value)
            combine(acc, key, (1, ts, eid, ts, eid))
    return groups, infos


@st.composite
def pending_rows(draw: st.DrawFn) -> list[tuple[int | None, ...]]:
    """Rows in PENDING_ROWS' shape, each info with fixed keys, some rows moved."""
    small = st.integers(1, 6)
    maybe = st.none() | small
    infos = draw(st.lists(st.tuples(small, small, maybe, maybe, maybe), min_size=1, max_size=6))
    rows: list[tuple[int | None, ...]] = []
    for _ in range(draw(st.integers(0, 40))):
        info = draw(st.integers(0, len(infos) - 1))
        uri, actor, origin, interpretation, mimetype = infos[info]
        current_uri = draw(st.sampled_from([uri, uri, uri, 10, 11]))
        current_origin = draw(st.sampled_from([origin, origin, None, 12]))
        rows.append(
            (
                draw(st.integers(0, 5)),  # timestamps tie often
                draw(st.integers(1, 30)),
                uri,
                actor,
                origin,
                interpretation,
                mimetype,
                current_uri,
                draw(maybe),  # event origin
                current_origin,
                100 + info,
            )
        )
    return rows


@given(pending_rows())
def test_a_fold_counts_every_row_in_each_of_its_groups_and_its_info(
    rows: list[tuple[int | None, ...]],
) -> None:
    assert fold(rows) == _fold_row_by_row(rows)
