"""The most popular groups of a time range, found by visiting groups, equal the GROUP BY."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import assume, given
from hypothesis import strategies as st

from tests.histories import History, histories, replay
from zeitbus import Engine, ResultType, StorageState, TimeRange
from zeitbus.store import info_groups, popular_window, queries

POPULAR = [
    t for t in ResultType if t.group is not None and popular_window.applies(t, 1, TimeRange(1, 2))
]


@given(
    history=histories(),
    start=st.sampled_from([0, 1, 100, 250, 400]),
    end=st.sampled_from([0, 200, 350, 600]),
    num=st.integers(1, 6),
    every=st.sampled_from([1, 4, 4000]),
    chunk=st.sampled_from([1, 2, 64]),
)
def test_visiting_groups_by_their_count_gives_the_answer_of_grouping_rows(
    history: History, start: int, end: int, num: int, every: int, chunk: int
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


def _check(history: History, time_range: TimeRange, num: int, every: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, Engine.open(Path(tmp)) as engine:
        engine.store.fold_every = every
        replay(engine, history)
        store = engine.store
        with store.reading() as conn:
            where = queries.compile_where(store, conn, [], StorageState.ANY)
            for result_type in POPULAR:
                if not popular_window.applies(result_type, num, time_range):
                    continue
                from_rows = info_groups.collapsed(
                    queries._group_rows(conn, where, time_range, result_type), num
                )
                visited = popular_window.find_ids(store, conn, time_range, result_type, num)
                assert visited == from_rows, result_type.name
