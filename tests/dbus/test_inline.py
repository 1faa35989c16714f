"""Which calls the daemon answers on its event loop: only work bounded whatever the log."""

from __future__ import annotations

import pytest

from zeitbus import Event, Subject
from zeitbus.dbus.log import INLINE_IDS, bounded_find

ACTOR = "application://a.desktop"


@pytest.mark.parametrize(
    "templates",
    [
        [],
        [Event()],
        [Event(actor=ACTOR)],
        [Event(actor=ACTOR), Event(actor="application://b.desktop")],
        [Event(actor=ACTOR, subjects=(Subject(),))],
    ],
)
def test_recent_events_by_exact_actors_are_bounded(templates: list[Event]) -> None:
    """Each template is one index walk that stops at the limit."""
    assert bounded_find(templates, 2, 50, 0, INLINE_IDS)
    assert bounded_find(templates, 2, 50, 1, INLINE_IDS)


@pytest.mark.parametrize(
    "templates",
    [
        [Event(actor="!" + ACTOR)],
        [Event(actor="application://a*")],
        [Event(interpretation="http://example.org/x")],
        [Event(subjects=(Subject(uri="file:///a"),))],
        [Event(subjects=(Subject(mimetype="text/plain"),))],
        [Event(origin="http://example.org/")],
        [Event(id=7)],
    ],
)
def test_anything_that_may_walk_far_is_not(templates: list[Event]) -> None:
    """A negation, a prefix, another field or a subject condition goes to a thread."""
    assert not bounded_find(templates, 2, 50, 0, INLINE_IDS)


def test_limits_storage_states_and_grouped_types_are_not_bounded() -> None:
    """No limit, a limit past the cap, a storage filter or a grouped type: a thread."""
    assert not bounded_find([], 2, 0, 0, INLINE_IDS)
    assert not bounded_find([], 2, INLINE_IDS + 1, 0, INLINE_IDS)
    assert not bounded_find([], 0, 50, 0, INLINE_IDS)
    assert not bounded_find([], 2, 50, 2, INLINE_IDS)  # MostRecentSubjects
