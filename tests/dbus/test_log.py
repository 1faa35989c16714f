"""The Log interface through Debian's python3-zeitgeist, against ``zeitbus daemon``."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from tests.dbus.conftest import ACCESS, MODIFY, ZeitbusDaemon, data_path, make_event
from tests.zeitgeist_reference import ReferenceDaemonError, ZeitgeistClient, event_to_wire
from zeitbus import Event, Subject
from zeitbus.model import INT64_MAX

FILE_OBJECT = "http://www.semanticdesktop.org/ontologies/2007/03/22/nfo#FileDataObject"
WEB_OBJECT = "http://www.semanticdesktop.org/ontologies/2007/03/22/nfo#WebDataObject"
HTML = "http://www.semanticdesktop.org/ontologies/2007/03/22/nfo#HtmlDocument"
TEXT = "http://www.semanticdesktop.org/ontologies/2007/03/22/nfo#TextDocument"
INVALID_ARGUMENT = "org.gnome.zeitgeist.EngineError.InvalidArgument"
INVALID_SIGNATURE = "org.gnome.zeitgeist.DataModelError.InvalidSignature"


def test_insert_get_round_trip_with_auto_filled_fields(client: ZeitgeistClient) -> None:
    """Inserted events come back with their ids, auto-filled fields and exact payload."""
    ids = client.insert(
        [
            make_event(1000, payload=b"\x01\x02\x03\xff"),
            Event(
                timestamp=2000,
                interpretation=MODIFY,
                manifestation="zg#UserActivity",
                actor="application://firefox.desktop",
                subjects=(Subject(uri="https://example.org/", mimetype="text/html"),),
            ),
        ]
    )
    assert ids == [1, 2]
    first, second, unknown, again = client.get([1, 2, 999, 1])
    assert first is not None
    assert second is not None
    assert again == first
    assert unknown is None
    assert first.payload == b"\x01\x02\x03\xff"
    assert first.subjects[0].manifestation == FILE_OBJECT
    assert first.subjects[0].interpretation == TEXT
    assert first.subjects[0].storage == "unknown"
    assert first.subjects[0].current_uri == "file:///tmp/a.txt"
    subject = second.subjects[0]
    assert (subject.interpretation, subject.manifestation, subject.storage) == (
        HTML,
        WEB_OBJECT,
        "net",
    )


def test_duplicates_preset_ids_and_subjectless_events(client: ZeitgeistClient) -> None:
    """A re-insert returns the stored id; a preset id or no subjects gives id 0."""
    event = make_event(1000)
    assert client.insert([event]) == [1]
    assert client.insert([make_event(5000), event]) == [2, 1]
    assert client.insert([event.with_changes(id=7, timestamp=9000)]) == [0]
    assert client.insert([event.with_changes(subjects=(), timestamp=9000)]) == [0]
    assert client.find_ids() == [2, 1]


def test_find_ids_find_events_and_related_uris(client: ZeitgeistClient) -> None:
    """Templates, result types, limits and time ranges reach the engine unchanged."""
    client.insert(
        [
            make_event(1000, "file:///a", actor="application://a.desktop"),
            make_event(2000, "file:///b", actor="application://b.desktop"),
            make_event(3000, "file:///a", actor="application://a.desktop"),
        ]
    )
    only_a = [Event(actor="application://a.desktop")]
    assert client.find_ids(templates=only_a) == [3, 1]
    assert client.find_ids(templates=only_a, num_events=1) == [3]
    assert client.find_ids(result_type=1) == [1, 2, 3]
    assert client.find_ids(result_type=2) == [3, 2]  # most recent subjects
    assert client.find_ids(time_range=(1500, 2500)) == [2]
    assert client.find_ids(templates=[Event(actor="!application://a.desktop")]) == [2]
    events = client.call(
        {"cmd": "find_events", "templates": [event_to_wire(t) for t in only_a], "num": 0}
    )
    assert [e["fields"][0] for e in events] == ["3", "1"]
    assert events[0]["subjects"][0][0] == "file:///a"
    related = client.call(
        {
            "cmd": "find_related",
            "templates": [event_to_wire(Event(subjects=(Subject(uri="file:///a"),)))],
            "result_templates": [],
            "num": 10,
            "result_type": 1,
        }
    )
    assert related
    assert set(related) <= {"file:///a", "file:///b"}


def test_delete_reports_the_time_range_and_forgets_the_events(client: ZeitgeistClient) -> None:
    """DeleteEvents returns (min, max) of what existed; (-1, -1) when nothing did."""
    client.insert([make_event(5000, "file:///a"), make_event(5001, "file:///b")])
    assert client.delete([1, 2, 77]) == (5000, 5001)
    assert client.get([1, 2]) == [None, None]
    assert client.delete([1]) == (-1, -1)
    assert client.delete([]) == (-1, -1)


def test_a_delete_answered_before_its_rows_are_removed_is_never_seen(
    zeitbus_daemon: ZeitbusDaemon, client: ZeitgeistClient
) -> None:
    """The daemon answers DeleteEvents once the tombstones are committed; no call after
    it sees the events, and they are gone from the file by the time one has answered."""
    client.insert([make_event(5000 + n, f"file:///{n}") for n in range(5)])
    assert client.delete([2, 4]) == (5001, 5003)
    assert client.find_ids(num_events=10) == [5, 3, 1]
    assert [e is None for e in client.get([2, 3, 4])] == [True, False, True]
    path = data_path(zeitbus_daemon) / "zeitbus.sqlite"
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert db.execute("SELECT id FROM event ORDER BY id").fetchall() == [(1,), (3,), (5,)]
        rows = db.execute("SELECT count(*) FROM subject WHERE event_id IN (2, 4)").fetchone()
        assert rows == (0,)
    finally:
        db.close()


def test_properties(zeitbus_daemon: ZeitbusDaemon, client: ZeitgeistClient) -> None:
    """version is Zeitgeist's (1, 0, 4); datapath is the database file; extensions are listed."""
    assert client.call({"cmd": "version"}) == [1, 0, 4]
    assert client.call({"cmd": "property", "name": "datapath"}) == str(
        data_path(zeitbus_daemon) / "zeitbus.sqlite"
    )
    assert client.call({"cmd": "property", "name": "extensions"}) == [
        "DataSourceRegistryExtension",
        "Blacklist",
        "Histogram",
        "StorageMonitor",
        "SearchEngine",
    ]


def _wire(fields: list[str], subjects: list[list[str]]) -> dict[str, Any]:
    return {"fields": fields, "subjects": subjects, "payload": ""}


GOOD = ["", "1000", ACCESS, "zg#UserActivity", "application://x.desktop", ""]
SUBJECT = ["file:///x", "", "", "", "", "", "", "", ""]

BAD_BATCHES = {
    "no actor": (_wire([*GOOD[:4], "", ""], [SUBJECT]), INVALID_ARGUMENT),
    "no interpretation": (_wire(["", "1000", "", *GOOD[3:]], [SUBJECT]), INVALID_ARGUMENT),
    "subject without uri": (_wire(GOOD, [["", *SUBJECT[1:]]]), INVALID_ARGUMENT),
    "two subjects, one uri": (
        _wire(GOOD, [SUBJECT, SUBJECT]),
        "org.gnome.zeitgeist.EngineError.InvalidEvent",
    ),
    "four event fields": (_wire(GOOD[:4], [SUBJECT]), INVALID_SIGNATURE),
    "six subject fields": (_wire(GOOD, [SUBJECT[:6]]), INVALID_SIGNATURE),
    "uri != current_uri": (
        _wire(GOOD, [[*SUBJECT[:7], "file:///elsewhere", ""]]),
        INVALID_ARGUMENT,
    ),
}


@pytest.mark.parametrize("case", BAD_BATCHES, ids=list(BAD_BATCHES))
def test_bad_events_reject_the_whole_batch(
    zeitbus_daemon: ZeitbusDaemon, client: ZeitgeistClient, case: str
) -> None:
    """A malformed event gets Zeitgeist's error name, nothing is stored, the daemon stays."""
    bad, error_name = BAD_BATCHES[case]
    good = _wire(GOOD, [SUBJECT])
    with pytest.raises(ReferenceDaemonError) as raised:
        client.call({"cmd": "insert", "events": [good, bad]})
    assert raised.value.name == error_name
    assert client.find_ids() == []
    assert zeitbus_daemon.process.poll() is None
    assert client.call({"cmd": "insert", "events": [good]}) == [1]


BAD_QUERIES: dict[str, tuple[dict[str, Any], str]] = {
    "storage state 7": ({"cmd": "find_ids", "storage_state": 7}, INVALID_ARGUMENT),
    "result type 99": ({"cmd": "find_ids", "result_type": 99}, INVALID_ARGUMENT),
    "result type 100 on find_events": (
        {"cmd": "find_events", "result_type": 100},
        INVALID_ARGUMENT,
    ),
    "prefix search on an interpretation": (
        {"cmd": "find_ids", "templates": [_wire(["", "", "zg#Access*", "", ""], [])]},
        INVALID_ARGUMENT,
    ),
    "short template": (
        {"cmd": "find_ids", "templates": [_wire(["", ""], [])]},
        INVALID_SIGNATURE,
    ),
    "relevant result type 5": (
        {"cmd": "find_related", "result_type": 5},
        "org.gnome.zeitgeist.EngineError.DatabaseError",
    ),
    "related to nothing": (
        {"cmd": "find_related", "templates": [_wire(["", "", "", "", "application://nope"], [])]},
        INVALID_ARGUMENT,
    ),
    "inverted time range": ({"cmd": "find_ids", "time_range": [5, 1]}, INVALID_ARGUMENT),
}


@pytest.mark.parametrize("case", BAD_QUERIES, ids=list(BAD_QUERIES))
def test_bad_queries_get_zeitgeist_error_names(
    zeitbus_daemon: ZeitbusDaemon, client: ZeitgeistClient, case: str
) -> None:
    """Bad query arguments get the error names of docs/ZEITGEIST.md §2.6."""
    client.insert([make_event(1000)])
    request, error_name = BAD_QUERIES[case]
    with pytest.raises(ReferenceDaemonError) as raised:
        client.call(request)
    assert raised.value.name == error_name
    assert zeitbus_daemon.process.poll() is None
    assert client.find_ids() == [1]


def test_null_events_and_templates(client: ZeitgeistClient) -> None:
    """A NULL event in a batch gets id 0; a NULL template matches everything."""
    null = _wire([], [])
    good = _wire(GOOD, [SUBJECT])
    assert client.call({"cmd": "insert", "events": [null, good]}) == [0, 1]
    assert client.call({"cmd": "find_ids", "templates": [null]}) == [1]
    assert client.call({"cmd": "find_ids", "templates": [_wire(["0x1", "", "", "", ""], [])]}) == [
        1
    ]


def test_replies_over_4_mib_are_too_many_results(client: ZeitgeistClient) -> None:
    """FindEvents and GetEvents refuse replies over 4 MiB; FindEventIds does not."""
    big = b"x" * (1024 * 1024)
    ids = client.insert([make_event(1000 + n, f"file:///{n}", payload=big) for n in range(5)])
    assert ids == [1, 2, 3, 4, 5]
    for request in ({"cmd": "find_events"}, {"cmd": "get", "ids": ids}):
        with pytest.raises(ReferenceDaemonError) as raised:
            client.call(request)
        assert raised.value.name == "org.gnome.zeitgeist.DataModelError.TooManyResults"
        assert "roughly ~3 events" in raised.value.message
    assert client.find_ids() == [5, 4, 3, 2, 1]
    assert len(client.get([1, 2, 3])) == 3


def test_time_range_always_and_zero_mean_unbounded(client: ZeitgeistClient) -> None:
    """(0, 0) and (0, INT64_MAX) both match everything."""
    client.insert([make_event(1000), make_event(2000, "file:///b")])
    assert client.find_ids(time_range=(0, 0)) == [2, 1]
    assert client.find_ids(time_range=(0, INT64_MAX)) == [2, 1]
