"""One log, two doors: D-Bus and HTTP see each other's events."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx

from tests.dbus.conftest import ZeitbusDaemon, data_path, make_event
from tests.dbus.test_monitors import ALWAYS, ids_of, install, notifications
from tests.http.conftest import event_json
from tests.zeitgeist_reference import ZeitgeistClient


def _http(daemon: ZeitbusDaemon) -> httpx.Client:
    """A client of the daemon's HTTP API with a write token made by the CLI."""
    data = data_path(daemon)
    token = subprocess.run(
        [
            sys.executable,
            "-m",
            "zeitbus",
            "--data-dir",
            str(data),
            "token",
            "create",
            "--scope",
            "write",
        ],
        env=daemon.env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
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
