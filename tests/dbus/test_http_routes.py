"""One log, two doors: D-Bus and HTTP see each other's events."""

from __future__ import annotations

import json
import time

import httpx

from tests.dbus.conftest import ZeitbusDaemon, data_path, make_event
from tests.dbus.test_monitors import ALWAYS, ids_of, install, notifications
from tests.http.conftest import event_json
from tests.http.daemons import make_token
from tests.zeitgeist_reference import ZeitgeistClient


def _http(daemon: ZeitbusDaemon, scope: str = "write") -> httpx.Client:
    """A client of the daemon's HTTP API with a token of ``scope`` made by the CLI."""
    data = data_path(daemon)
    token = make_token(data, scope, daemon.env)
    url = json.loads((data / "daemon.json").read_text())["url"]
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_an_event_inserted_over_dbus_is_on_the_http_feed(
    zeitbus_daemon: ZeitbusDaemon, client: ZeitgeistClient
) -> None:
    (event_id,) = client.insert([make_event(1000, "file:///tmp/from-dbus.txt")])
    with _http(zeitbus_daemon) as http:
        feed = http.get("/changes", params={"include_docs": "true"}).json()
    (row,) = feed["results"]
    assert row["event_id"] == event_id
    assert row["doc"]["subjects"][0]["uri"] == "file:///tmp/from-dbus.txt"
    assert feed["last_seq"] == 1


def test_an_event_posted_over_http_notifies_a_dbus_monitor(
    zeitbus_daemon: ZeitbusDaemon, client: ZeitgeistClient
) -> None:
    path = install(client, ALWAYS, [])
    with _http(zeitbus_daemon) as http:
        answer = http.post("/events", json=[event_json("file:///tmp/from-http.txt", 2000)])
    assert answer.json()["ids"] == [1]
    (told,) = notifications(client, path)
    assert told["kind"] == "insert"
    assert ids_of(told) == [1]
    assert told["events"][0]["subjects"][0][0] == "file:///tmp/from-http.txt"


def test_the_blacklist_over_http_is_the_one_dbus_clients_see(
    zeitbus_daemon: ZeitbusDaemon, client: ZeitgeistClient
) -> None:
    spam = {"actor": "application://spam*"}
    with _http(zeitbus_daemon, "admin") as admin, _http(zeitbus_daemon, "write") as writer:
        assert writer.put("/blacklist/no-spam", json=spam).status_code == 403
        added = admin.put("/blacklist/no-spam", json=spam).json()
        assert added["template"]["actor"] == "application://spam*"
        assert list(client.call({"cmd": "blacklist_get"})) == ["no-spam"]
        blocked = event_json("file:///a", 1000) | {"actor": "application://spam.desktop"}
        assert writer.post("/events", json=[blocked]).json()["ids"] == [0]
        assert list(admin.get("/blacklist").json()["templates"]) == ["no-spam"]
        assert admin.delete("/blacklist/no-spam").status_code == 200
        assert admin.delete("/blacklist/no-spam").status_code == 404
        assert client.call({"cmd": "blacklist_get"}) == {}
        assert writer.post("/events", json=[blocked]).json()["ids"] == [1]


def test_data_sources_over_http(zeitbus_daemon: ZeitbusDaemon, client: ZeitgeistClient) -> None:
    assert client.register_data_source("ds.one", "One", "a source", [])
    with _http(zeitbus_daemon, "admin") as admin:
        (listed,) = admin.get("/data-sources").json()["data_sources"]
        assert (listed["unique_id"], listed["enabled"], listed["running"]) == ("ds.one", True, True)
        answer = admin.put("/data-sources/ds.one/enabled", json={"enabled": False})
        assert answer.json()["enabled"] is False
        assert admin.put("/data-sources/nope/enabled", json={"enabled": False}).status_code == 404
        assert admin.put("/data-sources/ds.one/enabled", json={"enabled": "no"}).status_code == 400
    [seen] = client.call({"cmd": "data_sources"})
    assert seen[6] is False  # the D-Bus registry is the same one
    assert client.insert([make_event(2000, "file:///from-disabled")]) == [0]


def test_full_text_search_over_http(zeitbus_daemon: ZeitbusDaemon) -> None:
    with _http(zeitbus_daemon) as http:
        event = event_json("file:///home/me/quarterly-report.odt", 3000)
        event["subjects"][0]["text"] = "Quarterly report draft"
        (event_id,) = http.post("/events", json=[event]).json()["ids"]
        deadline = time.monotonic() + 30
        while True:  # the index follows the feed on its own
            found = http.post("/search", json={"query": "quarterly"}).json()
            if found["matches"] or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert found["matches"] == 1
        assert found["events"][0]["id"] == event_id
        assert found["relevancies"] == [1.0]
        bad = http.post("/search", json={"query": "x", "result_type": 6})
        assert bad.status_code == 400
