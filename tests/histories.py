"""Random histories of a small log for property tests of the grouped paths.

Inserts (with repeated timestamps, some MoveEvents), then deletes: every way
a group's or an info's aggregates change. ``replay`` applies one to an engine.
"""

from __future__ import annotations

from hypothesis import strategies as st

from zeitbus import Engine, Event, Subject
from zeitbus.ontology import ACCESS_EVENT, MOVE_EVENT, USER_ACTIVITY

URIS = [f"file:///home/u/{d}/{n}" for d in ("a", "b") for n in "xyzw"]
ORIGINS = ["", "file:///home/u/a", "file:///home/u/b"]
MIMES = ["", "text/plain", "image/png"]
ACTORS = ["application://a.desktop", "application://b.desktop", "application://c.desktop"]

History = list[tuple[str, object]]


@st.composite
def histories(draw: st.DrawFn) -> History:
    """Inserts (some of them moves), then deletes."""
    steps: History = []
    # Repeated timestamps: groups whose newest rows tie, settled by the lowest id.
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
                text=draw(st.sampled_from(["", "x", "y"])),
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
    steps.append(("delete", draw(st.lists(st.integers(1, len(stamps)), max_size=8))))
    return steps


def replay(engine: Engine, history: History) -> None:
    """Apply a history's inserts (one event per call) and deletes."""
    for action, arg in history:
        if action == "insert":
            assert isinstance(arg, Event)
            engine.insert_events([arg])
        else:
            assert isinstance(arg, list)
            engine.delete_events(arg)
