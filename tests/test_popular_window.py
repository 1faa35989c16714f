"""The most popular groups of a time range, found by visiting groups, equal the GROUP BY."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import assume, given
from hypothesis import strategies as st

from zeitbus import Engine, Event, ResultType, StorageState, Subject, TimeRange
from zeitbus.ontology import ACCESS_EVENT, MOVE_EVENT, USER_ACTIVITY
from zeitbus.store import info_groups, popular_window, queries

URIS = [f"file:///home/u/{d}/{n}" for d in ("a", "b") for n in "xyzw"]
ORIGINS = ["", "file:///home/u/a", "file:///home/u/b"]
MIMES = ["", "text/plain", "image/png"]
ACTORS = ["application://a.desktop", "application://b.desktop", "application://c.desktop"]
POPULAR = [
    t for t in ResultType if t.group is not None and popular_window.applies(t, 1, TimeRange(1, 2))
]


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[str, object]]:
    """Inserts (with ties in time, and moves), then deletes."""
    steps: list[tuple[str, object]] = []
    stamps = draw(st.lists(st.integers(1, 60), min_size=1, max_size=30))
    for ts in stamps:
        uris = draw(st.lists(st.sampled_from(URIS), min_size=1, max_size=3, unique=True))
        move = draw(st.integers(0, 9)) == 0
        subjects = tuple(
            Subject(
                uri=uri,
                current_uri=(uri + "-moved") if move else "",
                origin=draw(st.sampled_from(ORIGINS)),
                mimetype=draw(st.sampled_from(MIMES)),
            )
            for uri in uris
        )
        event = Event(
            timestamp=ts * 10,
            interpretation=MOVE_EVENT if move else ACCESS_EVENT,
            manifestation=USER_ACTIVITY,
            actor=draw(st.sampled_from(ACTORS)),
            subjects=subjects,
        )
        steps.append(("insert", event))
    steps.append(("delete", draw(st.lists(st.integers(1, len(stamps)), max_size=6))))
    return steps


@given(
    history=histories(),
    start=st.sampled_from([0, 1, 100, 250, 400]),
    end=st.sampled_from([0, 200, 350, 600]),
    num=st.integers(1, 6),
    every=st.sampled_from([1, 4, 4000]),
    chunk=st.sampled_from([1, 2, 64]),
)
def test_visiting_groups_by_their_count_gives_the_answer_of_grouping_rows(
    history: list[tuple[str, object]], start: int, end: int, num: int, every: int, chunk: int
) -> None:
    """Top groups, their representatives and their order, folded or pending rows alike.

    Small chunks make the visit stop early, as it does on a large log.
    """
    assume(end == 0 or start <= end)
    default, popular_window._CHUNK = popular_window._CHUNK, chunk
    try:
        _check(history, TimeRange(start, end), num, every)
    finally:
        popular_window._CHUNK = default


def _check(history: list[tuple[str, object]], time_range: TimeRange, num: int, every: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, Engine.open(Path(tmp)) as engine:
        engine.store.fold_every = every
        for action, arg in history:
            if action == "insert":
                assert isinstance(arg, Event)
                engine.insert_events([arg])
            else:
                assert isinstance(arg, list)
                engine.delete_events(arg)
        store = engine.store
        with store.reading() as conn:
            where = queries.compile_where(store, conn, [], StorageState.ANY)
            for result_type in POPULAR:
                if not popular_window.applies(result_type, num, time_range):
                    continue
                sql, params, _ = queries._select_groups(where, time_range, result_type)
                from_rows = info_groups.collapsed(
                    [row[0] for row in conn.execute(sql, params)], num
                )
                visited = popular_window.find_ids(store, conn, time_range, result_type, num)
                assert visited == from_rows, result_type.name
