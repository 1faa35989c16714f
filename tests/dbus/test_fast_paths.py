"""The daemon's fast paths give exactly what the general paths give."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.test_stateful import MOVE_ORIGINS, NEW_EVENTS
from zeitbus import Engine, Event, Subject
from zeitbus.dbus.codec import NULL_EVENT, event_to_wire, events_to_wire, structs_to_wire
from zeitbus.ontology import ZG

MOVE_EVENT = ZG + "MoveEvent"


def _moved(event: Event, to: str, current_origin: str) -> Event:
    """A MoveEvent of ``event``'s first subject to ``to`` (earlier events follow it)."""
    first = event.subjects[0]
    return Event(
        interpretation=MOVE_EVENT,
        manifestation=event.manifestation,
        actor=event.actor,
        subjects=(
            Subject(
                uri=first.uri,
                origin=first.origin,
                mimetype=first.mimetype,
                current_uri=to,
                current_origin=current_origin,
            ),
        ),
    )


@given(
    events=st.lists(NEW_EVENTS, min_size=1, max_size=8),
    move_to=st.sampled_from(["", "file:///moved/x", "https://example.com/moved"]),
    current_origin=st.sampled_from(MOVE_ORIGINS),
    deleted=st.lists(st.integers(0, 9), max_size=3),
    picks=st.lists(st.integers(-1, 12), max_size=12),
)
def test_event_structs_are_the_encoded_events(
    events: list[Event], move_to: str, current_origin: str, deleted: list[int], picks: list[int]
) -> None:
    """get_event_structs == event_to_wire of get_events, for any ids (moves, deletes, repeats)."""
    with Engine.open(":memory:") as engine:
        ids = [i for i in engine.insert_events(events) if i]
        if move_to and move_to != events[0].subjects[0].uri:
            engine.insert_events([_moved(events[0], move_to, current_origin)])
        engine.delete_events([ids[i] for i in deleted if i < len(ids)])
        # -1 names an id that was never given, 0 the "unset" id.
        wanted = [0 if p == -1 else ids[p] if p < len(ids) else 10_000 + p for p in picks]
        structs = engine.get_event_structs(wanted)
        assert structs == [
            None if e is None else event_to_wire(e) for e in engine.get_events(wanted)
        ]
        assert structs_to_wire(structs) == events_to_wire(engine.get_events(wanted))
        found = engine.find_event_structs(num_events=5)
        assert found == [event_to_wire(e) for e in engine.find_events(num_events=5)]


def test_unknown_ids_are_null_events() -> None:
    """An unknown id is None from the engine and the NULL event on the wire."""
    with Engine.open(":memory:") as engine:
        assert engine.get_event_structs([7, 0]) == [None, None]
        assert structs_to_wire([None]) == [NULL_EVENT]
