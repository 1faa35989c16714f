"""``zeitbus daemon`` serving HTTP as a real process: sockets, tokens, streams, crashes."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from tests.http.conftest import event_json
from tests.http.daemons import START_TIMEOUT, make_token, spawn

T0 = 1_767_225_600_000


def test_the_daemon_serves_http_without_a_session_bus(data: Path) -> None:
    token = make_token(data, "write")
    daemon = spawn(data)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=daemon.url, headers=headers) as client:
            stored = client.post("/events", json=[event_json("file:///a", T0)]).json()
            assert stored["ids"] == [1]
            found = client.post("/events/find", json={"ids_only": True}).json()
            assert found["ids"] == [1]
        with httpx.Client(base_url=daemon.url) as anonymous:
            assert anonymous.get("/stats").status_code == 401
        transport = httpx.HTTPTransport(uds=daemon.socket)
        with httpx.Client(transport=transport, base_url="http://zeitbus") as owner:
            assert owner.get("/stats").json()["events"] == 1  # the owner's socket: no token
        assert os.stat(daemon.socket).st_mode & 0o777 == 0o600
    finally:
        assert daemon.stop() == 0
    assert not (data / "daemon.json").exists()
    assert not Path(daemon.socket).exists()


def test_the_extensions_run_without_a_session_bus(data: Path) -> None:
    daemon = spawn(data)
    try:
        transport = httpx.HTTPTransport(uds=daemon.socket)
        with httpx.Client(transport=transport, base_url="http://zeitbus") as owner:
            spam = {"actor": "application://spam*"}
            assert owner.put("/blacklist/no-spam", json=spam).status_code == 200
            blocked = event_json("file:///a", T0) | {"actor": "application://spam.desktop"}
            report = event_json("file:///home/me/quarterly-report.odt", T0 + 1)
            report["subjects"][0]["text"] = "Quarterly report draft"
            assert owner.post("/events", json=[blocked, report]).json()["ids"] == [0, 1]
            found = owner.post("/search", json={"query": "quarterly"}).json()
            assert [e["id"] for e in found["events"]] == [1]
            assert owner.get("/data-sources").json() == {"data_sources": []}
    finally:
        assert daemon.stop() == 0
    restarted = spawn(data)  # the blacklist was saved, the index kept
    try:
        transport = httpx.HTTPTransport(uds=restarted.socket)
        with httpx.Client(transport=transport, base_url="http://zeitbus") as owner:
            assert list(owner.get("/blacklist").json()["templates"]) == ["no-spam"]
            found = owner.post("/search", json={"query": "report"}).json()
            assert [e["id"] for e in found["events"]] == [1]
    finally:
        assert restarted.stop() == 0


def test_disabled_extensions_are_not_served_without_a_bus_either(data: Path) -> None:
    daemon = spawn(data, ZEITGEIST_DISABLED_EXTENSIONS="Blacklist;SearchEngine")
    try:
        transport = httpx.HTTPTransport(uds=daemon.socket)
        with httpx.Client(transport=transport, base_url="http://zeitbus") as owner:
            assert owner.get("/blacklist").json()["error"] == "not_loaded"
            assert owner.post("/search", json={"query": "x"}).json()["error"] == "not_loaded"
            assert owner.get("/data-sources").status_code == 200
    finally:
        assert daemon.stop() == 0
    assert not (data / "fts.sqlite").exists()


def test_heartbeats_are_bytes_on_the_wire_until_a_change_comes(data: Path) -> None:
    daemon = spawn(data)
    try:
        transport = httpx.HTTPTransport(uds=daemon.socket)
        with httpx.Client(transport=transport, base_url="http://zeitbus", timeout=30) as client:
            params = {"feed": "continuous", "since": "now", "heartbeat": "50"}
            with client.stream("GET", "/changes", params=params) as feed:
                chunks = feed.iter_raw()
                for _ in range(3):
                    assert next(chunks) == b"\n"  # a heartbeat: one newline, nothing else
                with httpx.Client(transport=httpx.HTTPTransport(uds=daemon.socket)) as writer:
                    writer.post("http://zeitbus/events", json=[event_json("file:///a", T0)])
                received = b""
                while not received.strip():
                    received += next(chunks)
                while not received.endswith(b"\n"):
                    received += next(chunks)
                row = json.loads(received.strip().split(b"\n")[-1])
                assert row["seq"] == 1
                assert row["event_id"] == 1
    finally:
        assert daemon.stop() == 0


def _insert_until_stopped(url: str, token: str, stop: threading.Event, acked: list[Any]) -> None:
    """Post batches of 20 events; record each batch the daemon acknowledged."""
    n = 0
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
        while not stop.is_set():
            batch = [event_json(f"file:///{n}/{k}", T0 + n * 100 + k) for k in range(20)]
            try:
                answer = client.post("/events", json=batch)
            except httpx.HTTPError:
                return  # the daemon is gone: this batch was never acknowledged
            if answer.status_code == 200:
                acked.append((batch, answer.json()["ids"]))
            n += 1


def test_kill_9_during_sustained_inserts_loses_nothing_acknowledged(data: Path) -> None:
    token = make_token(data, "write")
    daemon = spawn(data)
    stop = threading.Event()
    acked: list[Any] = []
    writer = threading.Thread(target=_insert_until_stopped, args=(daemon.url, token, stop, acked))
    writer.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while len(acked) < 50:  # about a thousand events acknowledged, and still writing
            assert time.monotonic() < deadline
            assert writer.is_alive()
            time.sleep(0.005)
        daemon.process.kill()
        daemon.process.wait()
    finally:
        stop.set()
        writer.join()
    restarted = spawn(data)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=restarted.url, headers=headers, timeout=60) as client:
            for batch, ids in acked:
                got = client.get("/events", params={"ids": ",".join(map(str, ids))}).json()
                for sent, stored in zip(batch, got["events"], strict=True):
                    assert stored is not None
                    assert stored["subjects"][0]["uri"] == sent["subjects"][0]["uri"]
                    assert stored["timestamp"] == sent["timestamp"]
            feed = client.get("/changes").json()
            seqs = [row["seq"] for row in feed["results"]]
            assert seqs == list(range(1, len(seqs) + 1))  # gap-free
            assert feed["last_seq"] == len(seqs) >= 20 * len(acked)
    finally:
        assert restarted.stop() == 0
