"""Minimal cases the stateful test found, kept as focused regression tests.

Each one was an engine bug when it was found (two were xfail'ed, then fixed by
the engineer working on store/sqlite.py); they are fixed, and these
tests keep them fixed.
"""

from __future__ import annotations

import sqlite3

import pytest

from zeitbus import Engine, Event, ResultType, Subject
from zeitbus.ontology import ACCESS_EVENT, MOVE_EVENT, USER_ACTIVITY

_ORPHAN_TERMS = """
SELECT value FROM term WHERE id != 0 AND id NOT IN (
    SELECT interpretation FROM event UNION SELECT manifestation FROM event
    UNION SELECT actor FROM event UNION SELECT origin FROM event WHERE origin IS NOT NULL
    UNION SELECT current_uri FROM subject WHERE current_uri IS NOT NULL
    UNION SELECT uri FROM subject_info
    UNION SELECT current_origin FROM subject WHERE current_origin IS NOT NULL
    UNION SELECT interpretation FROM subject_info WHERE interpretation IS NOT NULL
    UNION SELECT manifestation FROM subject_info WHERE manifestation IS NOT NULL
    UNION SELECT origin FROM subject_info WHERE origin IS NOT NULL
    UNION SELECT mimetype FROM subject_info WHERE mimetype IS NOT NULL
    UNION SELECT text FROM subject_info WHERE text IS NOT NULL
    UNION SELECT storage FROM subject_info WHERE storage IS NOT NULL
    UNION SELECT id FROM storage)
ORDER BY value
"""


def orphan_terms(engine: Engine, conn: sqlite3.Connection | None = None) -> list[str]:
    """Terms no event, subject or storage row refers to, read from the file itself."""
    if conn is not None:
        return [str(value) for (value,) in conn.execute(_ORPHAN_TERMS)]
    with sqlite3.connect(f"file:{engine.store.path}?mode=ro", uri=True) as own:
        rows = own.execute(_ORPHAN_TERMS).fetchall()
    own.close()
    return [str(value) for (value,) in rows]


def _event(ts: int, *subjects: Subject, interpretation: str = ACCESS_EVENT) -> Event:
    return Event(
        timestamp=ts,
        interpretation=interpretation,
        manifestation=USER_ACTIVITY,
        actor="application://a.desktop",
        subjects=subjects,
    )


def test_duplicate_insert_leaves_no_orphaned_terms(engine: Engine) -> None:
    """A duplicate (same dedup key) with a new text stores nothing, not even the text's term."""
    [first] = engine.insert_events([_event(1000, Subject(uri="file:///a", text="old"))])
    assert engine.insert_events([_event(1000, Subject(uri="file:///a", text="new"))]) == [first]
    assert orphan_terms(engine) == []


@pytest.mark.parametrize("every", [1, 4000])
def test_a_second_move_of_pending_rows_leaves_no_orphaned_terms(engine: Engine, every: int) -> None:
    """The current_origin a second move replaces is dropped, folded rows or pending ones."""
    engine.store.fold_every = every
    engine.insert_events(
        [
            _event(1000, Subject(uri="file:///a")),
            _event(
                2000,
                Subject(uri="file:///a", current_uri="file:///b", current_origin="file:///o1"),
                interpretation=MOVE_EVENT,
            ),
            _event(
                3000,
                Subject(uri="file:///b", current_uri="file:///c", current_origin="file:///o2"),
                interpretation=MOVE_EVENT,
            ),
        ]
    )
    assert orphan_terms(engine) == []


def test_move_over_a_deleted_move_leaves_no_orphaned_terms(engine: Engine) -> None:
    """A current_origin replaced by a second move does not linger as an orphaned term."""
    [_, first_move] = engine.insert_events(
        [
            _event(1000, Subject(uri="file:///a")),
            _event(
                2000,
                Subject(uri="file:///a", current_uri="file:///b", current_origin="file:///o1"),
                interpretation=MOVE_EVENT,
            ),
        ]
    )
    engine.delete_events([first_move])
    assert orphan_terms(engine) == []  # "file:///o1" is still event 1's current_origin
    engine.insert_events(
        [
            _event(
                3000,
                Subject(uri="file:///b", current_uri="file:///c", current_origin="file:///o2"),
                interpretation=MOVE_EVENT,
            )
        ]
    )
    assert orphan_terms(engine) == []


def _moved_to_empty_origin(engine: Engine) -> None:
    """Event 1 with an origin, then a move that leaves its current_origin explicitly empty."""
    assert engine.insert_events(
        [
            _event(1000, Subject(uri="file:///a", origin="file:///o")),
            _event(
                2000, Subject(uri="file:///a", current_uri="file:///b"), interpretation=MOVE_EVENT
            ),
        ]
    ) == [1, 2]
    [moved] = engine.get_events([1])
    assert moved is not None
    assert moved.subjects[0].current_origin == ""


@pytest.mark.parametrize("field", ["uri", "origin", "current_uri", "current_origin"])
def test_negated_empty_uri_matches_nothing(engine: Engine, field: str) -> None:
    """ "!" on a URI field matches nothing: "" is never in Zeitgeist's uri table (was: all)."""
    _moved_to_empty_origin(engine)
    template = Event(subjects=(Subject(**{field: "!"}),))
    assert engine.find_event_ids(templates=[template]) == []
    assert engine.find_event_ids(templates=[Event(origin="!")]) == []


def test_current_origin_star_skips_explicitly_empty_current_origin(engine: Engine) -> None:
    """current_origin "*" does not match a row whose current origin a move emptied (was: it did)."""
    _moved_to_empty_origin(engine)
    star = Event(subjects=(Subject(current_origin="*"),))
    assert engine.find_event_ids(templates=[star]) == []
    not_star = Event(subjects=(Subject(current_origin="!*"),))
    assert engine.find_event_ids(templates=[not_star]) == [2, 1]


def test_a_deleted_pending_row_never_stays_a_groups_representative(engine: Engine) -> None:
    """Deleting a group's folded newest row re-picks it among folded rows only.

    Found by the differential test once folds also ran when writes paused: the
    re-pick chose a newer *pending* row, and when that row was deleted in turn
    no folded row of the group went, so nothing repaired the group and the
    deleted event came back as the group's most recent subject.
    """
    engine.store.fold_every = 10**6

    def access(ts: int) -> Event:
        return Event(
            timestamp=ts,
            interpretation=ACCESS_EVENT,
            manifestation=USER_ACTIVITY,
            actor="application://a.desktop",
            subjects=(Subject(uri="file:///x"),),
        )

    first, second = engine.insert_events([access(1000), access(2000)])
    engine.store.fold()
    (pending,) = engine.insert_events([access(3000)])
    engine.delete_events([second])
    engine.delete_events([pending])
    for result_type in (ResultType.MOST_RECENT_SUBJECTS, ResultType.MOST_RECENT_CURRENT_URI):
        assert engine.find_event_ids(result_type=result_type) == [first], result_type.name


def test_a_term_a_move_drops_can_be_used_again_later_in_the_same_batch(engine: Engine) -> None:
    """A MoveEvent that leaves a current origin unused drops its term; a later
    MoveEvent of the same batch naming that origin again must store it anew,
    not the dropped id (found by the stateful test: the event then failed to load)."""

    def event(ts: int, subject: Subject, move: bool = False) -> Event:
        return Event(
            timestamp=ts,
            interpretation=MOVE_EVENT if move else ACCESS_EVENT,
            manifestation=USER_ACTIVITY,
            actor="application://a.desktop",
            subjects=(subject,),
        )

    a, x = "file:///home/a.txt", "file:///moved/x"
    ids = engine.insert_events(
        [
            event(1000, Subject(uri=a)),
            event(2000, Subject(uri=a, current_uri=x, current_origin="file:///moved"), True),
            event(3000, Subject(uri=x, current_uri=a), True),  # file:///moved unused now
            event(
                4000,
                Subject(uri=a, current_uri="file:///b.pdf", current_origin="file:///moved"),
                True,
            ),
        ]
    )
    last = engine.get_events(ids)[-1]
    assert last is not None
    assert last.subjects[0].current_origin == "file:///moved"
    assert orphan_terms(engine) == []
