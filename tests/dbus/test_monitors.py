"""Monitors through the real client: NotifyInsert, NotifyDelete, removal, other routes."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from tests.dbus.conftest import ACCESS, MODIFY, ZeitbusDaemon, data_path, make_event
from tests.zeitgeist_reference import ZeitgeistClient, event_to_wire
from zeitbus import Event, Subject
from zeitbus.model import INT64_MAX

ALWAYS = [0, INT64_MAX]


def install(client: ZeitgeistClient, time_range: list[int], templates: list[Event]) -> str:
    """Install a monitor (the real client's Monitor object); its path."""
    path: str = client.call(
        {
            "cmd": "install_monitor",
            "time_range": time_range,
            "templates": [event_to_wire(t) for t in templates],
        }
    )
    return path


def notifications(
    client: ZeitgeistClient, path: str, count: int = 1, timeout: float = 10
) -> list[dict[str, Any]]:
    """What ``path`` was told, once it has ``count`` notifications (or ``timeout`` passed)."""
    found: list[dict[str, Any]] = client.call(
        {"cmd": "notifications", "path": path, "count": count, "timeout": timeout}
    )
    return found


def ids_of(notification: dict[str, Any]) -> list[int]:
    """The event ids a NotifyInsert carried."""
    return [int(event["fields"][0]) for event in notification["events"]]


def test_notify_insert_sends_matching_events_and_the_intersection(
    client: ZeitgeistClient,
) -> None:
    """Only matching events inside the monitor's range, with ids, auto-filled fields."""
    path = install(client, [1500, 10_000], [Event(interpretation=ACCESS)])
    client.insert(
        [
            make_event(1000, "file:///early"),  # before the range
            make_event(2000, "file:///a"),
            make_event(3000, "file:///b", interpretation=MODIFY),  # no match
            make_event(4000, "file:///c"),
        ]
    )
    (told,) = notifications(client, path)
    assert told["kind"] == "insert"
    assert told["time_range"] == [1500, 4000]
    assert ids_of(told) == [2, 4]
    assert told["events"][0]["subjects"][0][7] == "file:///a"  # current_uri filled in
    assert told["events"][0]["subjects"][0][6] == "unknown"  # storage filled in


def test_subject_templates_are_ored_in_monitors(client: ZeitgeistClient) -> None:
    """A monitor's subject templates match any subject (unlike queries)."""
    template = Event(subjects=(Subject(uri="file:///nope"), Subject(uri="file:///tmp/*")))
    path = install(client, ALWAYS, [template])
    client.insert([make_event(1000, "file:///tmp/x"), make_event(2000, "file:///home/y")])
    (told,) = notifications(client, path)
    assert ids_of(told) == [1]


def test_notifications_arrive_before_the_insert_reply(client: ZeitgeistClient) -> None:
    """The client has dispatched NotifyInsert when the InsertEvents reply arrives."""
    path = install(client, ALWAYS, [])
    answer = client.call({"cmd": "insert_async", "events": [event_to_wire(make_event(1000))]})
    assert answer == {"ids": [1], "notified_before_reply": 1}
    assert ids_of(notifications(client, path, timeout=0)[0]) == [1]


def test_out_of_range_inserts_are_not_notified(client: ZeitgeistClient) -> None:
    """A batch outside the monitor's range is not notified; the next one inside is."""
    path = install(client, [5000, 6000], [])
    client.insert([make_event(1000), make_event(7000, "file:///late")])
    client.insert([make_event(5500, "file:///in")])
    (told,) = notifications(client, path)
    assert ids_of(told) == [3]


def test_notify_delete_ignores_templates_and_carries_the_deleted_ids(
    client: ZeitgeistClient,
) -> None:
    """NotifyDelete goes to every monitor whose range meets the deleted events' range."""
    client.insert([make_event(1000), make_event(2000, "file:///b"), make_event(9000, "file:///c")])
    matching_nothing = install(client, [0, 2500], [Event(actor="application://nobody")])
    elsewhere = install(client, [8000, 8500], [])
    assert client.delete([1, 2, 42]) == (1000, 2000)
    (told,) = notifications(client, matching_nothing)
    assert told == {"kind": "delete", "time_range": [1000, 2000], "ids": [1, 2]}
    assert notifications(client, elsewhere, timeout=0) == []
    assert client.delete([42]) == (-1, -1)
    client.insert([make_event(2400, "file:///d", actor="application://nobody")])
    (told,) = notifications(client, matching_nothing)  # an insert, no delete for id 42
    assert told["kind"] == "insert"


def test_removed_monitors_hear_nothing(client: ZeitgeistClient) -> None:
    """After RemoveMonitor the monitor gets no calls; removing it again is harmless."""
    removed = install(client, ALWAYS, [])
    kept = install(client, ALWAYS, [])
    client.call({"cmd": "remove_monitor", "path": removed})
    client.call({"cmd": "remove_monitor", "path": removed})
    client.insert([make_event(1000)])
    assert len(notifications(client, kept)) == 1
    assert notifications(client, removed, timeout=0) == []


def test_monitors_go_away_with_their_client(
    zeitbus_daemon: ZeitbusDaemon, client: ZeitgeistClient
) -> None:
    """When a client's bus name vanishes, the daemon drops its monitors."""
    other = zeitbus_daemon.new_client()
    install(other, ALWAYS, [])
    install(other, [0, 10], [])
    other.close()
    zeitbus_daemon.wait_for_log("disconnected: 2 monitors removed")
    assert client.insert([make_event(1000)]) == [1]


def test_events_logged_by_another_route_reach_monitors(
    zeitbus_daemon: ZeitbusDaemon, client: ZeitgeistClient
) -> None:
    """An event written to the same database by the CLI is notified (via the changes feed)."""
    path = install(client, ALWAYS, [])
    subprocess.run(
        [
            sys.executable,
            "-m",
            "zeitbus",
            "--data-dir",
            str(data_path(zeitbus_daemon)),
            "log",
            "--actor",
            "application://vim.desktop",
            "--subject-uri",
            "file:///tmp/notes.txt",
        ],
        env=zeitbus_daemon.env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    (told,) = notifications(client, path)
    assert told["kind"] == "insert"
    assert told["events"][0]["fields"][4] == "application://vim.desktop"
    assert ids_of(told) == [1]
