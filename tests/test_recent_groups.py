"""MostRecent* grouped types with conditions stream; they answer as the GROUP BY does."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from zeitbus import Engine, Event, ResultType, Subject, TimeRange
from zeitbus.ontology import ACCESS_EVENT, USER_ACTIVITY, ZG

MODIFY_EVENT = ZG + "ModifyEvent"

URIS = [f"file:///home/u/{d}/{n}" for d in ("a", "b") for n in "xyz"]
ORIGINS = ["", "file:///home/u/a", "file:///home/u/b"]
MIMES = ["", "text/plain", "image/png"]
ACTORS = ["application://a.desktop", "application://b.desktop", "application://c.desktop"]
RECENT_TYPES = [
    t
    for t in ResultType
    if t.group is not None and not t.popular and not t.ascending and not t.uses_oldest
]
TEMPLATES = [
    Event(actor=ACTORS[0]),
    Event(actor="!" + ACTORS[1]),
    Event(interpretation=ACCESS_EVENT),
    Event(subjects=(Subject(mimetype="text/plain"),)),
    Event(subjects=(Subject(uri="file:///home/u/a/*"),)),
    Event(subjects=(Subject(origin=ORIGINS[2]),)),
    Event(subjects=(Subject(current_uri=URIS[0]),)),
    Event(actor=ACTORS[2], subjects=(Subject(mimetype="image/png"),)),
]


@st.composite
def logs(draw: st.DrawFn) -> list[Event]:
    count = draw(st.integers(1, 25))
    # Distinct timestamps per event: which row represents a group on a tie
    # between events is not part of Zeitgeist's contract.
    stamps = draw(st.lists(st.integers(1, 500), min_size=count, max_size=count, unique=True))
    events = []
    for ts in stamps:
        uris = draw(st.lists(st.sampled_from(URIS), min_size=1, max_size=3, unique=True))
        events.append(
            Event(
                timestamp=ts * 10,
                interpretation=draw(st.sampled_from([ACCESS_EVENT, MODIFY_EVENT])),
                manifestation=USER_ACTIVITY,
                actor=draw(st.sampled_from(ACTORS)),
                origin=draw(st.sampled_from(ORIGINS)),
                subjects=tuple(
                    Subject(
                        uri=uri,
                        origin=draw(st.sampled_from(ORIGINS)),
                        mimetype=draw(st.sampled_from(MIMES)),
                    )
                    for uri in uris
                ),
            )
        )
    return events


@given(
    events=logs(),
    templates=st.lists(st.sampled_from(TEMPLATES), min_size=0, max_size=2),
    limit=st.integers(1, 6),
    start=st.integers(0, 3000),
)
def test_streamed_recent_groups_are_a_prefix_of_the_full_grouping(
    events: list[Event], templates: list[Event], limit: int, start: int
) -> None:
    """With a limit the answer streams; it is the unlimited GROUP BY answer, cut."""
    with tempfile.TemporaryDirectory() as tmp, Engine.open(Path(tmp)) as engine:
        engine.insert_events(events)
        time_range = TimeRange(start, 0)
        for result_type in RECENT_TYPES:
            everything = engine.find_event_ids(time_range, templates, 2, 0, result_type)
            assert (
                engine.find_event_ids(time_range, templates, 2, limit, result_type)
                == (everything[:limit])
            ), result_type.name
