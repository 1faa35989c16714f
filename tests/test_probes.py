"""The ground-truth probes of docs/ZEITGEIST.md §7.1 (and the probes quoted in §2.2 and
§2.5), as engine-level tests.

The probes were run on a fresh reference daemon; the scenarios here rebuild the state each
probe needs, with the ids the document quotes where it quotes them. Every scenario that does
not need an extension was replayed on the reference daemon with the same answers. The
extension probes are emulated with pre-insert hooks, the mechanism the Blacklist and the
DataSourceRegistry will use; Histogram and the Blacklist's own API are not engine features.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from zeitbus import DatabaseError, Engine, Event, InvalidArgument, ResultType, Subject, TimeRange
from zeitbus.matching import matches_any
from zeitbus.ontology import (
    ACCESS_EVENT,
    EVENT_INTERPRETATION,
    MOVE_EVENT,
    NFO,
    USER_ACTIVITY,
    ZG,
)
from zeitbus.store.sqlite import SQLiteStore

ALWAYS = TimeRange.always()
INCOMPLETE = "Incomplete event: interpretation, manifestation and actor are required"


def event(
    ts: int | None,
    uri: str,
    *,
    actor: str = "application://probe.desktop",
    interpretation: str = ACCESS_EVENT,
    mimetype: str = "",
    origin: str = "",
    current_uri: str = "",
) -> Event:
    """An event with one subject, as the probes insert them."""
    return Event(
        timestamp=ts,
        interpretation=interpretation,
        manifestation=USER_ACTIVITY,
        actor=actor,
        origin=origin,
        subjects=(Subject(uri=uri, mimetype=mimetype, current_uri=current_uri),),
    )


def find(
    engine: Engine,
    templates: list[Event],
    result_type: int = ResultType.MOST_RECENT_EVENTS,
    time_range: TimeRange = ALWAYS,
) -> list[int]:
    """FindEventIds as the probes call it: storage Any, no limit."""
    return engine.find_event_ids(time_range, templates, 2, 0, result_type)


# -- inserts ------------------------------------------------------------------------------------


def test_inserting_the_same_event_again_returns_the_same_id(engine: Engine) -> None:
    """A duplicate gets the stored event's id, stores nothing and uses up no id."""
    first = event(1000, "file:///tmp/a.txt")
    assert engine.insert_events([first]) == [1]
    assert engine.insert_events([first]) == [1]
    assert find(engine, []) == [1]
    assert engine.insert_events([event(2000, "file:///tmp/b.txt")]) == [2]


def test_batch_of_an_old_and_a_new_event_returns_both_ids(engine: Engine) -> None:
    """A batch with a stored event and a new one returns [1, 2]."""
    old, new = event(1000, "file:///tmp/a.txt"), event(2000, "file:///tmp/b.txt")
    engine.insert_events([old])
    assert engine.insert_events([old, new]) == [1, 2]


def test_event_with_a_preset_id_gets_id_zero(engine: Engine) -> None:
    """An event whose id is already set is not stored: [0]."""
    assert engine.insert_events([event(1000, "file:///tmp/a.txt").with_changes(id=5)]) == [0]
    assert find(engine, []) == []


def test_event_without_subjects_gets_id_zero(engine: Engine) -> None:
    """An event with no subjects is not stored: [0]."""
    assert engine.insert_events([event(1000, "file:///tmp/a.txt").with_changes(subjects=())]) == [0]
    assert find(engine, []) == []


@pytest.mark.parametrize("missing", ["actor", "interpretation", "manifestation"])
def test_incomplete_event_rejects_the_whole_batch(engine: Engine, missing: str) -> None:
    """A missing actor or interpretation raises InvalidArgument and stores nothing."""
    valid = event(1000, "file:///tmp/a.txt")
    invalid = event(2000, "file:///tmp/b.txt").with_changes(**{missing: ""})
    with pytest.raises(InvalidArgument) as raised:
        engine.insert_events([valid, invalid])
    assert raised.value.message == INCOMPLETE
    assert find(engine, []) == []


def test_empty_timestamp_is_set_to_now(tmp_path: Path) -> None:
    """An event without a timestamp gets the engine clock's time, in ms."""
    with Engine(SQLiteStore(tmp_path / "log.sqlite"), clock=lambda: 1_234_567_890_123) as log:
        [event_id] = log.insert_events([event(None, "file:///tmp/a.txt")])
        [stored] = log.get_events([event_id])
    assert stored is not None
    assert stored.timestamp == 1_234_567_890_123


def test_payload_round_trips_byte_exact(engine: Engine) -> None:
    """The payload [1, 2, 3, 255] comes back as it went in."""
    payload = bytes([1, 2, 3, 255])
    [event_id] = engine.insert_events([event(1000, "file:///a").with_changes(payload=payload)])
    [stored] = engine.get_events([event_id])
    assert stored is not None
    assert stored.payload == payload


def test_https_html_subject_is_auto_filled(engine: Engine) -> None:
    """text/html on https: HtmlDocument, WebDataObject, storage net, current_uri = uri."""
    [event_id] = engine.insert_events([event(1000, "https://example.com/", mimetype="text/html")])
    [stored] = engine.get_events([event_id])
    assert stored is not None
    [subject] = stored.subjects
    assert subject.interpretation == NFO + "HtmlDocument"
    assert subject.manifestation == NFO + "WebDataObject"
    assert subject.storage == "net"
    assert subject.current_uri == "https://example.com/"


def test_file_uri_gets_storage_unknown(engine: Engine) -> None:
    """A file:// subject is on storage "unknown" ("local" is never produced)."""
    [event_id] = engine.insert_events([event(1000, "file:///tmp/a.txt")])
    [stored] = engine.get_events([event_id])
    assert stored is not None
    assert stored.subjects[0].storage == "unknown"


# -- GetEvents ----------------------------------------------------------------------------------


def test_get_events_repeats_duplicates_and_gives_null_for_unknown_ids(engine: Engine) -> None:
    """[1, 999999, 1] returns event 1, the NULL event, then event 1 again."""
    engine.insert_events([event(1000, "file:///tmp/a.txt")])
    first, missing, again = engine.get_events([1, 999999, 1])
    assert first is not None
    assert first.id == 1
    assert missing is None
    assert again == first


# -- FindEventIds on the probe log -----------------------------------------------------------------


@pytest.fixture
def probe_log(engine: Engine) -> Engine:
    """Six events (ids 1-6, one MoveEvent, one event origin), all actors application://pro*."""
    ids = engine.insert_events(
        [
            event(1000, "https://example.com/", mimetype="text/html"),
            event(1100, "file:///tmp/a.txt", actor="application://probe-b.desktop"),
            event(1200, "file:///tmp/b.txt", origin="file:///tmp"),
            event(1300, "file:///tmp/c.txt", actor="application://probe-b.desktop"),
            event(1400, "file:///tmp/old.txt"),
            event(
                1500,
                "file:///tmp/old.txt",
                interpretation=MOVE_EVENT,
                current_uri="file:///tmp/new.txt",
            ),
        ]
    )
    assert ids == [1, 2, 3, 4, 5, 6]
    return engine


def test_time_range_zero_zero_is_unbounded(probe_log: Engine) -> None:
    """(0, 0) matches every event."""
    assert find(probe_log, [], time_range=TimeRange(0, 0)) == [6, 5, 4, 3, 2, 1]


@pytest.mark.parametrize("result_type", [99, 100])
def test_result_types_99_and_100_are_invalid(probe_log: Engine, result_type: int) -> None:
    """99 and 100 (Relevancy, FTS only) raise "Invalid ResultType."."""
    with pytest.raises(InvalidArgument) as raised:
        find(probe_log, [], result_type)
    assert raised.value.message == "Invalid ResultType."


def test_template_id_matches_that_event_only(probe_log: Engine) -> None:
    """A template's id field matches the event with that id."""
    assert find(probe_log, [Event(id=3)]) == [3]


def test_event_interpretation_root_matches_every_event_and_not_with_plus(
    probe_log: Engine,
) -> None:
    """zg#EventInterpretation matches every event through the hierarchy; with "+" none."""
    assert find(probe_log, [Event(interpretation=EVENT_INTERPRETATION)]) == [6, 5, 4, 3, 2, 1]
    assert find(probe_log, [Event(interpretation="+" + EVENT_INTERPRETATION)]) == []


def test_negated_access_event_returns_only_the_move_event(probe_log: Engine) -> None:
    """!zg#AccessEvent leaves the MoveEvent."""
    assert find(probe_log, [Event(interpretation="!" + ACCESS_EVENT)]) == [6]


def test_negated_unknown_actor_returns_everything(probe_log: Engine) -> None:
    """!application://nope matches every event (the unknown actor is id -1)."""
    assert find(probe_log, [Event(actor="!application://nope")]) == [6, 5, 4, 3, 2, 1]


def test_negated_prefix_every_actor_has_returns_nothing(probe_log: Engine) -> None:
    """!application://pro* matches no event."""
    assert find(probe_log, [Event(actor="!application://pro*")]) == []


def test_negated_file_prefix_on_subject_uri_returns_only_the_https_event(
    probe_log: Engine,
) -> None:
    """Subject uri !file:* matches only the https event."""
    assert find(probe_log, [Event(subjects=(Subject(uri="!file:*"),))]) == [1]


def test_event_manifestation_with_trailing_star_is_matched_literally(probe_log: Engine) -> None:
    """Event manifestation zg#User* is not rejected; nothing has it literally: []."""
    assert find(probe_log, [Event(manifestation=ZG + "User*")]) == []


@pytest.mark.parametrize(
    ("subject", "message"),
    [
        (
            Subject(manifestation=NFO + "File*"),
            "Field 'subject manifestation' doesn't support prefix search",
        ),
        (Subject(storage="unk*"), "Field 'subject storage' doesn't support prefix search"),
    ],
    ids=["subject-manifestation", "storage"],
)
def test_prefix_on_subject_manifestation_or_storage_is_invalid(
    probe_log: Engine, subject: Subject, message: str
) -> None:
    """Subject manifestation …File* and storage unk* raise InvalidArgument."""
    with pytest.raises(InvalidArgument) as raised:
        find(probe_log, [Event(subjects=(subject,))])
    assert raised.value.message == message


@pytest.mark.parametrize(
    "subject",
    [Subject(storage="+unknown"), Subject(origin="+file:///tmp")],
    ids=["storage", "subject-origin"],
)
def test_plus_on_storage_or_subject_origin_is_matched_literally(
    probe_log: Engine, subject: Subject
) -> None:
    """Storage +unknown and subject origin +file:///tmp raise nothing and match nothing."""
    assert find(probe_log, [Event(subjects=(subject,))]) == []


def test_most_recent_event_origin_drops_events_without_an_origin(probe_log: Engine) -> None:
    """MostRecentEventOrigin returns only the one event that has an event origin."""
    assert find(probe_log, [], ResultType.MOST_RECENT_EVENT_ORIGIN) == [3]


def test_current_uri_after_a_move_finds_the_earlier_event_and_the_move(probe_log: Engine) -> None:
    """find_ids_by_current_uri_after_move: the new URI matches events 5 and 6."""
    moved = [Event(subjects=(Subject(current_uri="file:///tmp/new.txt"),))]
    assert find(probe_log, moved, ResultType.LEAST_RECENT_EVENTS) == [5, 6]


def test_two_subject_templates_in_one_event_template_are_anded(probe_log: Engine) -> None:
    """find_two_subject_templates_in_one_event_AND: two URIs in one template match nothing."""
    both = Subject(uri="file:///tmp/a.txt"), Subject(uri="file:///tmp/b.txt")
    assert find(probe_log, [Event(subjects=both)]) == []


@pytest.mark.parametrize(
    ("result_type", "expected"),
    [
        (ResultType.LEAST_RECENT_SUBJECTS, [8, 9]),
        (ResultType.MOST_RECENT_SUBJECTS, [9, 8]),
        (ResultType.MOST_POPULAR_SUBJECTS, [9, 8]),
    ],
    ids=["LeastRecentSubjects", "MostRecentSubjects", "MostPopularSubjects"],
)
def test_subject_grouping_probe(probe_log: Engine, result_type: int, expected: list[int]) -> None:
    """A@3000, B@3005, A@3010 (ids 7, 8, 9): each subject's newest event, in the type's order."""
    ids = probe_log.insert_events(
        [event(3000, "file:///A"), event(3005, "file:///B"), event(3010, "file:///A")]
    )
    assert ids == [7, 8, 9]
    assert find(probe_log, [], result_type, TimeRange(3000, 3010)) == expected


# -- FindRelatedUris and DeleteEvents ------------------------------------------------------------


def test_related_uris_for_templates_matching_nothing_is_invalid(probe_log: Engine) -> None:
    """FindRelatedUris with a template that matches nothing raises InvalidArgument."""
    with pytest.raises(InvalidArgument) as raised:
        probe_log.find_related_uris(ALWAYS, [Event(actor="application://nope")], [], 2, 10, 0)
    assert raised.value.message == "No results found for the event_templates"


@pytest.mark.parametrize("result_type", [2, 7])
def test_related_uris_with_a_bad_relevant_result_type_is_database_error(
    probe_log: Engine, result_type: int
) -> None:
    """A RelevantResultType other than 0 and 1 raises DatabaseError."""
    with pytest.raises(DatabaseError) as raised:
        probe_log.find_related_uris(ALWAYS, [], [], 2, 10, result_type)
    assert raised.value.message == "Unsupported RelevantResultType"
    assert raised.value.dbus_name == "org.gnome.zeitgeist.EngineError.DatabaseError"


@pytest.mark.parametrize("ids", [[424242], []], ids=["unknown-id", "empty-list"])
def test_deleting_nothing_returns_no_time_range(probe_log: Engine, ids: list[int]) -> None:
    """Deleting a non-existent id, or an empty list, gives (-1, -1) (None in the engine)."""
    assert probe_log.delete_events(ids) is None


def test_deleting_two_events_returns_their_time_range(engine: Engine) -> None:
    """Deleting events at 5000 and 5001 returns (5000, 5001); they then read as NULL."""
    ids = engine.insert_events([event(5000, "file:///tmp/a"), event(5001, "file:///tmp/b")])
    assert engine.delete_events(ids) == (5000, 5001)
    assert engine.get_events(ids) == [None, None]


# -- extensions, through pre-insert hooks ---------------------------------------------------------


def test_blacklisted_events_get_id_zero(engine: Engine) -> None:
    """An event matching a blacklist template (in-memory semantics) gets id 0."""
    blacklist = [Event(actor="application://spy*")]

    def drop_blacklisted(batch: list[Event | None], sender: str | None) -> list[Event | None]:
        return [None if e is not None and matches_any(e, blacklist) else e for e in batch]

    engine.add_pre_insert_hook(drop_blacklisted)
    spied = event(1000, "file:///tmp/a", actor="application://spyware.desktop")
    kept = event(2000, "file:///tmp/b")
    assert engine.insert_events([spied, kept]) == [0, 1]
    assert find(engine, []) == [1]


def test_inserts_from_a_disabled_data_source_get_id_zero(engine: Engine) -> None:
    """While a sender's data source is disabled, its inserts get [0]."""
    disabled = {":1.42"}

    def drop_disabled(batch: list[Event | None], sender: str | None) -> list[Event | None]:
        return [None if sender in disabled else e for e in batch]

    engine.add_pre_insert_hook(drop_disabled)
    assert engine.insert_events([event(1000, "file:///tmp/a")], sender=":1.42") == [0]
    assert engine.insert_events([event(1000, "file:///tmp/a")], sender=":1.43") == [1]
