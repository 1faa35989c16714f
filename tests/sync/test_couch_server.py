"""Zeitbus documents through a real pouchdb-server, in clear and encrypted (tests/couch.py)."""

from __future__ import annotations

import contextlib
import json
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import couch
from tests.couch import executable
from tests.sync.couch_events import lifelike_events
from zeitbus import Event
from zeitbus.sync.couch import (
    CLEAR,
    ChangesPage,
    DocChange,
    DocCodec,
    Refused,
    Seq,
    bulk_docs,
    event_rev,
    read_changes,
    tombstone_rev,
)
from zeitbus.sync.crypto import EncryptedDocs, new_key, parse_key

pytestmark = pytest.mark.slow

# pouchdb-server holds back streamed bytes from a client that accepts gzip (PROTOCOLS.md §3.5).
HEADERS = {"Accept-Encoding": "identity"}


@pytest.fixture
def http(couchdb: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=couchdb, headers=HEADERS, timeout=30) as client:
        yield client


def new_database(http: httpx.Client) -> str:
    name = f"events-{uuid.uuid4().hex[:12]}"
    assert http.put(f"/{name}").status_code == 201
    return name


def write(http: httpx.Client, db: str, docs: list[dict[str, Any]]) -> None:
    answer = http.post(f"/{db}/_bulk_docs", json=bulk_docs(docs))
    assert answer.status_code == 201, answer.text
    assert answer.json() == []  # new_edits=false lists only failures


def changes(http: httpx.Client, db: str, codec: DocCodec, **params: Any) -> ChangesPage:
    answer = http.get(
        f"/{db}/_changes", params={"include_docs": "true", "style": "all_docs", **params}
    )
    assert answer.status_code == 200, answer.text
    return read_changes(answer.content, codec)


def read_all(http: httpx.Client, db: str, codec: DocCodec, limit: int = 7) -> ChangesPage:
    """Every change, a page of ``limit`` at a time from the last seq read, as a replicator reads."""
    taken: list[DocChange] = []
    refused: list[Refused] = []
    since: Seq = 0
    while True:
        page = changes(http, db, codec, since=since, limit=limit)
        taken += page.changes
        refused += page.refused
        if not page.changes and not page.refused:
            return ChangesPage(tuple(taken), tuple(refused), since)
        since = page.last_seq


def write_history(
    http: httpx.Client, db: str, codec: DocCodec
) -> tuple[list[Event], list[Event], set[str]]:
    """24 events and 5 deletions, the way several machines might deliver them.

    Returns every event written, those still live, and the uids deleted.
    """
    events = lifelike_events(24)
    deleted = [events[n].uid for n in (2, 5, 11, 17, 23)]
    # A tombstone arrives before its event, another with it, the rest after.
    write(http, db, [codec.tombstone_doc(deleted[0])])
    write(http, db, [codec.event_doc(e) for e in events[:12]])
    write(http, db, [codec.tombstone_doc(deleted[1]), codec.tombstone_doc(deleted[2])])
    write(http, db, [codec.event_doc(e) for e in events[12:]] + [codec.tombstone_doc(deleted[3])])
    write(http, db, [codec.tombstone_doc(deleted[4])])
    # Replayed: every event again (as from a second machine) and a tombstone again.
    write(http, db, [codec.event_doc(e) for e in events] + [codec.tombstone_doc(deleted[1])])
    live = [e for e in events if e.uid not in deleted]
    return events, live, set(deleted)


@pytest.mark.parametrize("encrypted", [False, True], ids=["clear", "encrypted"])
def test_documents_go_in_with_bulk_docs_and_come_back_through_changes(
    http: httpx.Client, encrypted: bool
) -> None:
    codec: DocCodec = EncryptedDocs(parse_key(new_key())) if encrypted else CLEAR
    db = new_database(http)
    _, live, deleted = write_history(http, db, codec)

    result = read_all(http, db, codec)
    assert result.refused == ()
    assert sorted(result.events, key=lambda e: e.uid) == live
    assert set(result.tombstones) == deleted
    # One change per document, however often it was written: a replay adds nothing.
    assert len(result.changes) == len(live) + len(deleted)
    assert changes(http, db, codec).last_seq == changes(http, db, codec, since="now").last_seq

    # The tombstones won, even the one written before its event, and against the replay.
    for uid in deleted:
        doc_id = codec.doc_id(uid)
        assert http.get(f"/{db}/{doc_id}").status_code == 404
        [leaf] = http.get(f"/{db}/{doc_id}", params={"open_revs": "all"}).json()
        assert leaf["ok"]["_rev"] == tombstone_rev(doc_id)  # the one leaf: no conflict
        assert leaf["ok"]["_deleted"] is True


def test_the_server_sees_no_actor_uri_text_or_timestamp_of_an_encrypted_log(
    http: httpx.Client,
) -> None:
    codec = EncryptedDocs(parse_key(new_key()))
    db = new_database(http)
    events, live, deleted = write_history(http, db, codec)

    # Every document, every revision it has (the event under each tombstone too), and
    # the database's own description: all the server holds.
    stored = [
        http.get(f"/{db}").text,
        http.get(f"/{db}/_all_docs", params={"include_docs": "true"}).text,
        http.get(f"/{db}/_changes", params={"include_docs": "true", "style": "all_docs"}).text,
    ]
    for event in events:
        doc_id = codec.doc_id(event.uid)
        leaves = http.get(f"/{db}/{doc_id}", params={"open_revs": "all", "revs": "true"})
        first = http.get(f"/{db}/{doc_id}", params={"rev": event_rev(doc_id)})
        assert leaves.status_code == 200, leaves.text
        # The event's revision stays under its tombstone, unless the tombstone came first.
        assert first.status_code == 200 or event.uid in deleted, first.text
        stored += [leaves.text, first.text]
    raw = "\n".join(stored)
    assert len(json.loads(stored[1])["rows"]) == len(live)
    for secret in _secrets(events, deleted):
        assert secret not in raw, f"{secret!r} is on the server in clear"


def _secrets(events: list[Event], deleted: set[str]) -> set[str]:
    """Every field of ``events`` (and the deleted uids) as the server could see it in clear."""
    found: set[str] = set(deleted) | {uid[:13] for uid in deleted}  # a uid's time part
    for event in events:
        found |= {event.uid, event.uid[:13], event.node, event.actor, event.origin}
        found |= {event.interpretation, event.manifestation}
        found |= {str(event.timestamp), str(event.ts // 1000), event.payload.decode()}
        for subject in event.subjects:
            found |= {value for value in subject.values() if value}
        body = json.dumps(CLEAR.event_doc(event)["payload"])
        found.add(body.strip('"'))
    found.discard("")
    return found


def test_what_the_server_forges_or_changes_in_an_encrypted_database_is_refused_alone(
    http: httpx.Client,
) -> None:
    key = parse_key(new_key())
    codec = EncryptedDocs(key)
    db = new_database(http)
    events = lifelike_events(4)
    write(http, db, [codec.event_doc(e) for e in events[:2]])
    # The server adds an event in clear, one of its own under a Zeitbus-looking id, and
    # deletes an event; someone with another key writes one too.
    forged = CLEAR.event_doc(events[2])
    fake = {**codec.event_doc(events[3]), "c": codec.event_doc(events[0])["c"]}
    foreign = EncryptedDocs(parse_key(new_key())).event_doc(events[3])
    foreign["_id"] = "ez-" + "B" * 22
    foreign["_rev"] = event_rev(foreign["_id"])
    write(http, db, [forged, fake, foreign])
    first = codec.doc_id(events[0].uid)
    rev = http.get(f"/{db}/{first}").json()["_rev"]
    assert http.delete(f"/{db}/{first}", params={"rev": rev}).status_code == 200

    result = read_all(http, db, codec, limit=2)
    assert result.events == [events[1]]
    assert result.tombstones == []
    reasons = {r.doc_id: r.reason for r in result.refused}
    assert reasons == {
        forged["_id"]: "in clear in an encrypted database",
        fake["_id"]: "does not verify with this key: changed on the way, "
        "or moved from another document",
        foreign["_id"]: f"encrypted with another key (key id {foreign['k']!r}, "
        f"this one's {key.key_id!r})",
        first: "v: not a format version: None",
    }


def test_a_clear_reader_of_an_encrypted_database_refuses_every_document(
    http: httpx.Client,
) -> None:
    codec = EncryptedDocs(parse_key(new_key()))
    db = new_database(http)
    write(http, db, [codec.event_doc(e) for e in lifelike_events(3)])
    result = changes(http, db, CLEAR)
    assert result.changes == ()
    assert {r.reason for r in result.refused} == {"encrypted, and no key is set for this database"}


def test_a_missing_pouchdb_server_fails_the_test_saying_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POUCHDB_SERVER", str(tmp_path / "nowhere" / "pouchdb-server"))
    with pytest.raises(pytest.fail.Exception, match=r"not installed .*`./dev test` installs it"):
        executable()


def test_a_port_taken_before_the_server_binds_it_is_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another process takes the first two free ports before the server can bind them.
    real_free_port = couch.free_port
    with contextlib.ExitStack() as taken:
        given: list[int] = []

        def free_port() -> int:
            given.append(real_free_port())
            if len(given) < 3:
                sock = taken.enter_context(socket.socket())
                sock.bind(("127.0.0.1", given[-1]))
                sock.listen()
            return given[-1]

        monkeypatch.setattr("tests.couch.free_port", free_port)
        with couch.pouchdb_server(tmp_path, "--in-memory") as server:
            assert server.url == f"http://127.0.0.1:{given[2]}"
            assert httpx.get(server.url + "/").json()["version"] == "4.2.0"
        assert server.process.returncode is not None  # stopped
