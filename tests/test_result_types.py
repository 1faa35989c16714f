"""All 35 result types of FindEventIds (docs/ZEITGEIST.md §2.4) with Zeitgeist's grouping
and ordering, each on a fixture where the difference from the neighbouring types shows.

The grouped fixture gives a field three values with different sizes and ages, plus an
event whose value is NULL (newest of all, so keeping its group would show):

    ts 100 X   200 Z   300 Z   400 X   500 X   600 Y   700 NULL
    groups: X = 3 rows, newest 500;  Z = 2 rows, newest 300;  Y = 1 row, newest 600

so MostRecent is Y X Z, LeastRecent (each group's *newest* row, ascending) is Z X Y,
MostPopular is X Z Y and LeastPopular is Y Z X, four different orders.

Every expectation was checked against the reference daemon (Debian zeitgeist-core 1.0.4)
on the same fixture. Each grouped case runs on both of our query paths: unfiltered
(pre-aggregated statistics) and filtered by a time range or a template matching every event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from zeitbus import Engine, Event, InvalidArgument, ResultType, Subject, TimeRange
from zeitbus.model import GroupField
from zeitbus.ontology import ACCESS_EVENT, FILE_DATA_OBJECT, MOVE_EVENT, NFO, USER_ACTIVITY

TEXT_DOCUMENT = NFO + "TextDocument"
ACTOR = "application://base.desktop"
ALWAYS = TimeRange.always()

# A value setter puts a group value (or None: the field left empty) into an event.
Setter = Callable[[Event, Subject, str | None], tuple[Event, Subject]]


def _subject_field(name: str) -> Setter:
    def put(event: Event, subject: Subject, value: str | None) -> tuple[Event, Subject]:
        changes = {name: value or ""}
        if name == "interpretation" and value is None:
            changes["mimetype"] = ""  # or the interpretation is filled from the mimetype
        return event, Subject(**{**_subject_dict(subject), **changes})

    return put


def _event_field(name: str) -> Setter:
    def put(event: Event, subject: Subject, value: str | None) -> tuple[Event, Subject]:
        return event.with_changes(**{name: value or ""}), subject

    return put


def _subject_dict(subject: Subject) -> dict[str, str]:
    return {name: getattr(subject, name) for name in Subject.__struct_fields__}


# name, (MostRecent, LeastRecent, MostPopular, LeastPopular) as Zeitgeist numbers them,
# how to set the field, its three values X, Y, Z, and whether the field can be NULL.
GROUPED: list[tuple[str, tuple[int, int, int, int], Setter, tuple[str, str, str], bool]] = [
    ("subject uri", (2, 3, 4, 5), _subject_field("uri"),
     ("file:///x", "file:///y", "file:///z"), False),
    ("actor", (8, 9, 6, 7), _event_field("actor"),
     ("application://x.desktop", "application://y.desktop", "application://z.desktop"), False),
    ("subject origin", (10, 11, 12, 13), _subject_field("origin"),
     ("file:///ox", "file:///oy", "file:///oz"), True),
    ("subject interpretation", (15, 16, 17, 18), _subject_field("interpretation"),
     (NFO + "Image", NFO + "Audio", NFO + "Video"), True),
    ("mimetype", (19, 20, 21, 22), _subject_field("mimetype"),
     ("image/x", "image/y", "image/z"), True),
    ("current uri", (23, 24, 25, 26), _subject_field("uri"),
     ("file:///cx", "file:///cy", "file:///cz"), False),
    ("event origin", (27, 28, 29, 30), _event_field("origin"),
     ("file:///ex", "file:///ey", "file:///ez"), True),
    ("current origin", (31, 32, 33, 34), _subject_field("origin"),
     ("file:///cox", "file:///coy", "file:///coz"), True),
]  # fmt: skip

# Ways to ask for "every event": the reference takes different SQL paths for them, and so do
# we (pre-aggregated statistics when nothing filters, the rows otherwise).
PATHS: dict[str, tuple[list[Event], TimeRange]] = {
    "unfiltered": ([], ALWAYS),
    "time-range": ([], TimeRange(1, 1_000_000)),
    "event-template": ([Event(manifestation=USER_ACTIVITY)], ALWAYS),
    "subject-template": ([Event(subjects=(Subject(uri="file:*"),))], ALWAYS),
}


def _base(ts: int) -> tuple[Event, Subject]:
    event = Event(
        timestamp=ts, interpretation=ACCESS_EVENT, manifestation=USER_ACTIVITY, actor=ACTOR
    )
    subject = Subject(
        uri=f"file:///base/{ts}",
        interpretation=TEXT_DOCUMENT,
        manifestation=FILE_DATA_OBJECT,
        origin="file:///base",
        mimetype="text/plain",
    )
    return event, subject


def grouped_fixture(
    engine: Engine, setter: Setter, values: tuple[str, str, str], nullable: bool
) -> list[int]:
    """Insert X@100 Z@200 Z@300 X@400 X@500 Y@600 (and NULL@700); returns the ids."""
    x, y, z = values
    timeline: list[tuple[int, str | None]] = [
        (100, x),
        (200, z),
        (300, z),
        (400, x),
        (500, x),
        (600, y),
    ]
    if nullable:
        timeline.append((700, None))
    events = []
    for ts, value in timeline:
        event, subject = setter(*_base(ts), value)
        events.append(event.with_changes(subjects=(subject,)))
    return engine.insert_events(events)


def _find(
    engine: Engine,
    result_type: int,
    path: str = "unfiltered",
    num_events: int = 0,
    templates: Sequence[Event] | None = None,
) -> list[int]:
    path_templates, time_range = PATHS[path]
    return engine.find_event_ids(
        time_range,
        path_templates if templates is None else templates,
        2,
        num_events,
        result_type,
    )


GROUPED_CASES = [
    pytest.param(number, setter, values, nullable, order, path, id=f"{number}-{name}-{path}")
    for name, numbers, setter, values, nullable in GROUPED
    for number, order in zip(
        numbers,
        # ids (1-based positions in the timeline) of: Y X Z, Z X Y, X Z Y, Y Z X
        [(6, 5, 3), (3, 5, 6), (5, 3, 6), (6, 3, 5)],
        strict=True,
    )
    for path in PATHS
]


@pytest.mark.parametrize(
    ("result_type", "setter", "values", "nullable", "order", "path"), GROUPED_CASES
)
def test_grouped_result_type_orders_groups_like_zeitgeist(
    engine: Engine,
    result_type: int,
    setter: Setter,
    values: tuple[str, str, str],
    nullable: bool,
    order: tuple[int, int, int],
    path: str,
) -> None:
    """One row per non-NULL group, the group's newest event, ordered by (count and) time."""
    ids = grouped_fixture(engine, setter, values, nullable)
    assert _find(engine, result_type, path) == [ids[position - 1] for position in order]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("result_type", "expected"),
    [(0, [7, 6, 5, 4, 3, 2, 1]), (1, [1, 2, 3, 4, 5, 6, 7])],
    ids=["0-MostRecentEvents", "1-LeastRecentEvents"],
)
def test_plain_result_types_order_every_event_by_time(
    engine: Engine, result_type: int, expected: list[int], path: str
) -> None:
    """MostRecentEvents is newest first, LeastRecentEvents oldest first, every event once."""
    ids = grouped_fixture(engine, _event_field("origin"), ("o:x", "o:y", "o:z"), nullable=True)
    assert ids == [1, 2, 3, 4, 5, 6, 7]
    assert _find(engine, result_type, path) == expected


def test_plain_result_types_list_an_event_with_many_matching_subjects_once(
    engine: Engine,
) -> None:
    """An event whose subjects all match appears once, and num_events counts events."""
    events = [
        _base(ts)[0].with_changes(
            subjects=(Subject(uri=f"file:///{ts}/a"), Subject(uri=f"file:///{ts}/b"))
        )
        for ts in (100, 200, 300)
    ]
    ids = engine.insert_events(events)
    every_subject = [Event(subjects=(Subject(uri="file:*"),))]
    assert _find(engine, 0, templates=every_subject) == ids[::-1]
    assert _find(engine, 1, templates=every_subject) == ids
    assert _find(engine, 0, num_events=2, templates=every_subject) == [ids[2], ids[1]]
    assert _find(engine, 1, num_events=1, templates=every_subject) == [ids[0]]


# -- OldestActor ------------------------------------------------------------------------------


def _actor_timeline(engine: Engine) -> list[int]:
    """Actor A at 100 and 400, actor B at 200 and 300."""
    events = []
    for ts, actor in ((100, "application://a"), (200, "application://b")):
        events.append(_base(ts)[0].with_changes(actor=actor, subjects=(_base(ts)[1],)))
    for ts, actor in ((300, "application://b"), (400, "application://a")):
        events.append(_base(ts)[0].with_changes(actor=actor, subjects=(_base(ts)[1],)))
    return engine.insert_events(events)


@pytest.mark.parametrize("path", PATHS)
def test_oldest_actor_is_each_actors_first_event_oldest_first(engine: Engine, path: str) -> None:
    """OldestActor (14) represents each actor by its min(timestamp) event, ascending."""
    ids = _actor_timeline(engine)
    assert _find(engine, 14, path) == [ids[0], ids[1]]


@pytest.mark.parametrize("path", PATHS)
def test_least_recent_actor_is_each_actors_newest_event_oldest_first(
    engine: Engine, path: str
) -> None:
    """LeastRecentActor (9) uses each actor's newest event, unlike OldestActor."""
    ids = _actor_timeline(engine)
    assert _find(engine, 9, path) == [ids[2], ids[3]]


# -- popularity counts event × subject rows ----------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("most", "least", "field"),
    [(6, 7, "actor"), (29, 30, "origin")],
    ids=["actor", "event-origin"],
)
def test_popularity_counts_subject_rows_not_events(
    engine: Engine, most: int, least: int, field: str, path: str
) -> None:
    """One event with three subjects outranks two events with one subject each."""
    base = _base(100)[0]
    one_event = base.with_changes(
        **{field: "file:///popular"},
        subjects=tuple(Subject(uri=f"file:///p/{n}") for n in range(3)),
    )
    two_events = [
        _base(ts)[0].with_changes(**{field: "file:///frequent"}, subjects=(_base(ts)[1],))
        for ts in (200, 300)
    ]
    ids = engine.insert_events([one_event, *two_events])
    assert _find(engine, most, path) == [ids[0], ids[2]]
    assert _find(engine, least, path) == [ids[2], ids[0]]


@pytest.mark.parametrize("path", PATHS)
def test_popularity_of_a_subject_field_counts_each_subject(engine: Engine, path: str) -> None:
    """Two text/plain subjects of one event count twice for MostPopularMimeType."""
    both = _base(100)[0].with_changes(
        subjects=(
            Subject(uri="file:///a.txt", mimetype="text/plain"),
            Subject(uri="file:///b.txt", mimetype="text/plain"),
        )
    )
    png = _base(200)[0].with_changes(subjects=(Subject(uri="file:///c.png", mimetype="image/png"),))
    ids = engine.insert_events([both, png])
    assert _find(engine, 21, path) == [ids[0], ids[1]]
    assert _find(engine, 22, path) == [ids[1], ids[0]]


# -- duplicates and num_events -----------------------------------------------------------------


def _shared_representative(engine: Engine) -> list[int]:
    """A@100 A@200 C@250 C@260 (A,B)@300: the last event is newest for both A and B."""
    uris = [("a",), ("a",), ("c",), ("c",), ("a", "b")]
    events = [
        _base(ts)[0].with_changes(subjects=tuple(Subject(uri=f"file:///{u}") for u in names))
        for ts, names in zip((100, 200, 250, 260, 300), uris, strict=True)
    ]
    return engine.insert_events(events)


@pytest.mark.parametrize("path", PATHS)
def test_only_consecutive_duplicate_ids_collapse(engine: Engine, path: str) -> None:
    """An event representing two groups appears twice if another group sorts in between."""
    ids = _shared_representative(engine)
    # MostPopularSubjects: A (3 rows, event 5), C (2, event 4), B (1, event 5).
    assert _find(engine, 4, path) == [ids[4], ids[3], ids[4]]
    # LeastPopularSubjects: B, C, A.
    assert _find(engine, 5, path) == [ids[4], ids[3], ids[4]]
    # MostRecentSubjects: A and B are both represented by event 5, next to each other.
    assert _find(engine, 2, path) == [ids[4], ids[3]]


@pytest.mark.parametrize("path", PATHS)
def test_num_events_counts_ids_after_collapsing(engine: Engine, path: str) -> None:
    """num_events limits the collapsed list of ids, not the grouped rows."""
    ids = _shared_representative(engine)
    assert _find(engine, 4, path, num_events=2) == [ids[4], ids[3]]
    assert _find(engine, 4, path, num_events=3) == [ids[4], ids[3], ids[4]]
    assert _find(engine, 2, path, num_events=1) == [ids[4]]


@pytest.mark.parametrize("path", PATHS)
def test_equal_counts_are_ordered_by_time(engine: Engine, path: str) -> None:
    """Groups of the same size are ordered by their newest event (DESC, or ASC for Least)."""
    ids = _shared_representative(engine)
    engine.delete_events([ids[0]])
    # Now A: events 2 and 5 (2 rows, newest 300); C: events 3 and 4 (2 rows, newest 260);
    # B: event 5. Most: A before C (newer first). Least: B, then C before A (older first).
    # The other tie order would put event 5 twice in a row, collapsing the list to 2 ids.
    assert _find(engine, 4, path) == [ids[4], ids[3], ids[4]]
    assert _find(engine, 5, path) == [ids[4], ids[3], ids[4]]


def _tied(engine: Engine, order: Sequence[tuple[int, str]]) -> list[int]:
    """Events (ts, uri name) in this order, alike but for their URIs, with an event origin."""

    def access(ts: int, name: str) -> Event:
        event, subject = _base(ts)
        return event.with_changes(
            origin="https://example.com/",
            subjects=(Subject(**{**_subject_dict(subject), "uri": f"file:///{name}"}),),
        )

    return engine.insert_events([access(ts, name) for ts, name in order])


# Two events at one timestamp in one group, the later one read first by an index: b's
# subject_info row is older than a's, so a scan in info order meets b's rows first.
# Zeitgeist picks the lowest id on a tie. Newest (every grouped type but OldestActor):
# events 3 (a) and 4 (b) at ts 300, answer 3. Oldest: events 2 (a) and 3 (b) at ts 100,
# answer 2. URI-keyed types put a and b in different groups, so they have no tie.
TIED_NEWEST = [(100, "b"), (150, "a"), (300, "a"), (300, "b")]
TIED_OLDEST = [(300, "b"), (100, "a"), (100, "b")]
TIED_CASES = [
    pytest.param(rt.value, path, id=f"{rt.value}-{path}")
    for rt in ResultType
    if rt.group is not None and rt.group not in (GroupField.SUBJECT_URI, GroupField.CURRENT_URI)
    for path in PATHS
]


@pytest.mark.parametrize(("result_type", "path"), TIED_CASES)
def test_a_tie_at_the_representative_timestamp_goes_to_the_lowest_id(
    engine: Engine, result_type: int, path: str
) -> None:
    """One group holds every event; the tie goes to the lowest id, whatever the scan order."""
    if ResultType(result_type).uses_oldest:
        ids = _tied(engine, TIED_OLDEST)
        expected = ids[1]
    else:
        ids = _tied(engine, TIED_NEWEST)
        expected = ids[2]
    assert _find(engine, result_type, path) == [expected]


# -- moves: current_uri and current_origin groups differ from uri and origin --------------------


def _moved(engine: Engine) -> list[int]:
    """a@100, b@200, Move a->c @300, c@400, b@500 (with origins dirA, dirB, dirC)."""

    def access(ts: int, name: str) -> Event:
        return _base(ts)[0].with_changes(
            subjects=(Subject(uri=f"file:///{name}", origin=f"file:///dir{name.upper()}"),)
        )

    move = _base(300)[0].with_changes(
        interpretation=MOVE_EVENT,
        subjects=(
            Subject(
                uri="file:///a",
                current_uri="file:///c",
                origin="file:///dirA",
                current_origin="file:///dirC",
            ),
        ),
    )
    events = [access(100, "a"), access(200, "b"), move, access(400, "c"), access(500, "b")]
    return engine.insert_events(events)


@pytest.mark.parametrize("path", PATHS)
def test_current_uri_groups_follow_moves(engine: Engine, path: str) -> None:
    """After a->c, rows of a count for c in the current-URI types, not in the URI types."""
    ids = _moved(engine)
    # current uri c: events 1, 3, 4 (newest 4); b: events 2, 5 (newest 5).
    assert _find(engine, 25, path) == [ids[3], ids[4]]
    assert _find(engine, 23, path) == [ids[4], ids[3]]
    # uri a: events 1, 3; b: 2, 5; c: 4. a and b tie on count: b is newer.
    assert _find(engine, 4, path) == [ids[4], ids[2], ids[3]]
    assert _find(engine, 5, path) == [ids[3], ids[2], ids[4]]


@pytest.mark.parametrize("path", PATHS)
def test_current_origin_groups_follow_moves(engine: Engine, path: str) -> None:
    """After a->c, rows from dirA count for dirC in the current-origin types."""
    ids = _moved(engine)
    assert _find(engine, 33, path) == [ids[3], ids[4]]
    assert _find(engine, 31, path) == [ids[4], ids[3]]
    assert _find(engine, 12, path) == [ids[4], ids[2], ids[3]]


# -- the §7.1 probe fixture ----------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
def test_probe_fixture_groups_subjects_by_their_newest_event(engine: Engine, path: str) -> None:
    """A@3000, B@3005, A@3010: LeastRecent [B, A2], MostRecent [A2, B], MostPopular [A2, B]."""
    engine.insert_events(
        [_base(ts)[0].with_changes(subjects=(_base(ts)[1],)) for ts in range(1, 7)]
    )
    engine.delete_events(list(range(1, 7)))

    def access(ts: int, uri: str) -> Event:
        return _base(ts)[0].with_changes(subjects=(Subject(uri=uri),))

    ids = engine.insert_events(
        [access(3000, "file:///A"), access(3005, "file:///B"), access(3010, "file:///A")]
    )
    assert ids == [7, 8, 9]
    assert _find(engine, ResultType.LEAST_RECENT_SUBJECTS, path) == [8, 9]
    assert _find(engine, ResultType.MOST_RECENT_SUBJECTS, path) == [9, 8]
    assert _find(engine, ResultType.MOST_POPULAR_SUBJECTS, path) == [9, 8]


@pytest.mark.parametrize("result_type", [2, 4, 14, 27])
def test_grouped_result_type_with_zero_zero_range_answers_like_always(
    engine: Engine, result_type: int
) -> None:
    """(0, 0) and no templates groups every event (the reference aborts on an assertion)."""
    grouped_fixture(engine, _event_field("origin"), ("o:x", "o:y", "o:z"), nullable=True)
    unbounded = engine.find_event_ids(TimeRange(0, 0), [], 2, 0, result_type)
    assert unbounded == _find(engine, result_type)
    assert unbounded


# -- invalid result types -----------------------------------------------------------------------


@pytest.mark.parametrize("result_type", [35, 99, 100, 2**32 - 1])
def test_unknown_result_type_is_invalid_argument(engine: Engine, result_type: int) -> None:
    """35 and above (100, Relevancy, is for FTS only) raise "Invalid ResultType."."""
    with pytest.raises(InvalidArgument) as raised:
        engine.find_event_ids(ALWAYS, [], 2, 0, result_type)
    assert raised.value.message == "Invalid ResultType."
    assert raised.value.dbus_name == "org.gnome.zeitgeist.EngineError.InvalidArgument"


def test_every_result_type_has_a_case() -> None:
    """The cases above cover the result types 0 to 34."""
    covered = {0, 1, 14} | {number for _, numbers, *_ in GROUPED for number in numbers}
    assert covered == set(range(35))
    assert {int(member) for member in ResultType} == covered
