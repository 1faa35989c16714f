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

from zeitbus import Engine, Event, ResultType, Subject, TimeRange
from zeitbus.ontology import ACCESS_EVENT, NFO, USER_ACTIVITY
from zeitbus.store import planner

URIS = ["file:///a/1", "file:///a/2", "file:///b/3", "http://x/4", "http://x/5"]
MIMES = ["text/plain", "image/png", "application/pdf"]
ORIGINS = ["", "file:///a", "file:///b"]
TEMPLATES = [
    Event(subjects=(Subject(mimetype="text/plain"),)),
    Event(subjects=(Subject(mimetype="!image/png"),)),
    Event(subjects=(Subject(interpretation=NFO + "Document"),)),
    Event(subjects=(Subject(uri="file://*"),)),
    Event(subjects=(Subject(uri="file:///a/*", mimetype="text/plain"),)),
    Event(subjects=(Subject(origin="file:///a"),)),
    Event(actor="application://one.desktop", subjects=(Subject(mimetype="application/pdf"),)),
]
RESULT_TYPES = [
    ResultType.MOST_RECENT_EVENTS,
    ResultType.LEAST_RECENT_EVENTS,
    ResultType.MOST_RECENT_SUBJECTS,
    ResultType.MOST_POPULAR_MIMETYPE,
]


@st.composite
def logs(draw: st.DrawFn) -> list[Event]:
    out = []
    for _ in range(draw(st.integers(1, 30))):
        uris = draw(st.lists(st.sampled_from(URIS), min_size=1, max_size=3, unique=True))
        out.append(
            Event(
                timestamp=draw(st.integers(2, 40)) * 10,  # ties are common
                interpretation=ACCESS_EVENT,
                manifestation=USER_ACTIVITY,
                actor=draw(st.sampled_from(["application://one.desktop", "application://two"])),
                subjects=tuple(
                    Subject(
                        uri=uri,
                        mimetype=draw(st.sampled_from(MIMES)),
                        origin=draw(st.sampled_from(ORIGINS)),
                    )
                    for uri in uris
                ),
            )
        )
    return out


@contextmanager
def thresholds(fork: int, many: int) -> Iterator[None]:
    saved = planner.FORK_INFOS, planner.MANY_INFOS
    planner.FORK_INFOS, planner.MANY_INFOS = fork, many
    try:
        yield
    finally:
        planner.FORK_INFOS, planner.MANY_INFOS = saved


@given(
    log=logs(),
    templates=st.lists(st.sampled_from(TEMPLATES), min_size=1, max_size=2),
    num_events=st.sampled_from([0, 1, 3, 50]),
    result_type=st.sampled_from(RESULT_TYPES),
    time_range=st.sampled_from([TimeRange(0, 0), TimeRange(100, 300)]),
)
def test_seeks_sorted_reads_and_walks_find_the_same_events(
    log: list[Event],
    templates: list[Event],
    num_events: int,
    result_type: ResultType,
    time_range: TimeRange,
) -> None:
    with tempfile.TemporaryDirectory() as tmp, Engine.open(Path(tmp)) as engine:
        engine.insert_events(log)

        def find() -> list[int]:
            return engine.find_event_ids(time_range, templates, 2, num_events, result_type)

        seeks = find()  # a small log: one seek per info, or one sorted read
        with thresholds(fork=0, many=10_000):
            assert find() == seeks  # one sorted read of the matching infos' rows
        with thresholds(fork=0, many=0):
            assert find() == seeks  # "many infos": a walk, or for every match a sorted read
