"""Every way the planner may read conditions on subject_info gives the same answer.

The planner (store/planner.py) picks per arm between one seek per info, one
sorted read of every matching info's rows, and a walk by time, from the
number of matching infos; the thresholds are far above what a small log
holds, so here they are forced to each choice in turn.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tests.histories import ACTORS, History, histories, replay
from zeitbus import Engine, Event, ResultType, Subject, TimeRange
from zeitbus.ontology import NFO
from zeitbus.store import planner

TEMPLATES = [
    Event(subjects=(Subject(mimetype="text/plain"),)),
    Event(subjects=(Subject(mimetype="!image/png"),)),
    Event(subjects=(Subject(interpretation=NFO + "Document"),)),
    Event(subjects=(Subject(uri="file://*"),)),
    Event(subjects=(Subject(uri="file:///home/u/a/*", mimetype="text/plain"),)),
    Event(subjects=(Subject(origin="file:///home/u/a"),)),
    Event(actor=ACTORS[0], subjects=(Subject(mimetype="image/png"),)),
]
RESULT_TYPES = [
    ResultType.MOST_RECENT_EVENTS,
    ResultType.LEAST_RECENT_EVENTS,
    ResultType.MOST_RECENT_SUBJECTS,
    ResultType.MOST_POPULAR_MIMETYPE,
]


@contextmanager
def thresholds(fork: int, many: int) -> Iterator[None]:
    saved = planner.FORK_INFOS, planner.MANY_INFOS
    planner.FORK_INFOS, planner.MANY_INFOS = fork, many
    try:
        yield
    finally:
        planner.FORK_INFOS, planner.MANY_INFOS = saved


@given(
    history=histories(),
    templates=st.lists(st.sampled_from(TEMPLATES), min_size=1, max_size=2),
    num_events=st.sampled_from([0, 1, 3, 50]),
    result_type=st.sampled_from(RESULT_TYPES),
    time_range=st.sampled_from([TimeRange(0, 0), TimeRange(100, 400)]),
)
def test_seeks_sorted_reads_and_walks_find_the_same_events(
    history: History,
    templates: list[Event],
    num_events: int,
    result_type: ResultType,
    time_range: TimeRange,
) -> None:
    with tempfile.TemporaryDirectory() as tmp, Engine.open(Path(tmp)) as engine:
        replay(engine, history)

        def find() -> list[int]:
            return engine.find_event_ids(time_range, templates, 2, num_events, result_type)

        seeks = find()  # a small log: one seek per info, or one sorted read
        with thresholds(fork=0, many=10_000):
            assert find() == seeks  # one sorted read of the matching infos' rows
        with thresholds(fork=0, many=0):
            assert find() == seeks  # "many infos": a walk, or for every match a sorted read
