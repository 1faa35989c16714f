"""Grouped types filtered on info fields read subject_info; they answer as the rows do."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tests.histories import ACTORS, ORIGINS, URIS, History, histories, replay
from zeitbus import Engine, Event, ResultType, StorageState, Subject, TimeRange
from zeitbus.ontology import ACCESS_EVENT, USER_ACTIVITY
from zeitbus.store import info_groups, queries
from zeitbus.templates import Where

GROUPED = [t for t in ResultType if t.group is not None]
# Templates whose every condition is on subject_info (actor included).
TEMPLATES = [
    Event(actor=ACTORS[0]),
    Event(actor="!" + ACTORS[1]),
    Event(actor="application://a*"),
    Event(subjects=(Subject(mimetype="text/plain"),)),
    Event(subjects=(Subject(mimetype="!image/png"),)),
    Event(subjects=(Subject(uri="file:///home/u/a/*"),)),
    Event(subjects=(Subject(uri=URIS[1]),)),
    Event(subjects=(Subject(origin=ORIGINS[2]),)),
    Event(subjects=(Subject(text="x"),)),
    Event(actor=ACTORS[2], subjects=(Subject(mimetype="image/png"),)),
]


@given(
    history=histories(),
    templates=st.lists(st.sampled_from(TEMPLATES), min_size=1, max_size=2),
    every=st.sampled_from([1, 3, 4000]),
)
def test_grouping_infos_gives_the_answer_of_grouping_rows(
    history: History, templates: list[Event], every: int
) -> None:
    """Counts, representatives and order from subject_info equal the GROUP BY over rows.

    Whether the aggregates were folded after every event, every few or not
    at all (store/pending.py) must not show.
    """
    with tempfile.TemporaryDirectory() as tmp, Engine.open(Path(tmp)) as engine:
        engine.store.fold_every = every
        replay(engine, history)
        store = engine.store
        with store.reading() as conn:
            where = queries.compile_where(store, conn, templates, StorageState.ANY)
            for result_type in GROUPED:
                if not info_groups.applies(where, result_type):
                    continue
                from_rows = queries._group_rows(conn, where, TimeRange(0, 0), result_type)
                from_infos = info_groups.find_ids(conn, where, result_type, store.pending_cache)
                assert from_infos == from_rows, result_type.name


def test_only_info_level_conditions_and_keys_take_the_info_path() -> None:
    """Event fields other than the actor, and current_uri keys, need the rows."""
    with tempfile.TemporaryDirectory() as tmp, Engine.open(Path(tmp)) as engine:
        # Stored values: a value the log never stored compiles to "no match" instead.
        engine.insert_events(
            [
                Event(
                    timestamp=1000,
                    interpretation=ACCESS_EVENT,
                    manifestation=USER_ACTIVITY,
                    actor=ACTORS[0],
                    subjects=(Subject(uri="file:///a"),),
                )
            ]
        )
        store = engine.store
        with store.reading() as conn:

            def where(template: Event) -> Where:
                return queries.compile_where(store, conn, [template], StorageState.ANY)

            by_actor = where(Event(actor=ACTORS[0]))
            by_kind = where(Event(interpretation=ACCESS_EVENT))
            assert info_groups.applies(by_actor, ResultType.MOST_POPULAR_SUBJECTS)
            assert info_groups.applies(by_actor, ResultType.MOST_POPULAR_ACTOR)
            assert not info_groups.applies(by_actor, ResultType.MOST_POPULAR_CURRENT_URI)
            assert not info_groups.applies(by_kind, ResultType.MOST_POPULAR_SUBJECTS)
