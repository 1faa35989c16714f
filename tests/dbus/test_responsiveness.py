"""Slow work never blocks the bus: other calls are answered while a long one runs.

The daemon's log is filled with 30,000 events through the engine before it
starts. Then a slow call (a FindEvents over every event, which also hits the
4 MiB cap; a FindEventIds of the 50 most recent events for templates that
match nothing, which the daemon tries on its loop and must hand to a thread
when it runs over its step budget; and a DeleteEvents of 20,000 ids) is
sent, and quick calls are made one after another until the slow call's reply
arrives. If the slow work ran on the event loop, no quick call could be
answered before it; the test asserts on that order (several quick answers
arrive first), never on how long anything took.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from tests.dbus.conftest import ACCESS, USER, daemon_env, spawn_daemon
from zeitbus import Engine, Event, Subject
from zeitbus.dbus.log import ENGINE_BUS_NAME, LOG_INTERFACE, LOG_PATH

pytestmark = pytest.mark.slow

EVENTS = 30_000
QUICK_BEFORE_SLOW = 3  # quick answers that must arrive before the slow one


def _fill(data: Path) -> None:
    events = [
        Event(
            timestamp=1_000_000 + i,
            interpretation=ACCESS,
            manifestation=USER,
            actor=f"application://app{i % 13}.desktop",
            subjects=(
                Subject(uri=f"file:///home/u/{i}.txt", mimetype="text/plain", text=f"t{i % 97}"),
                Subject(uri=f"http://example.org/{i % 5000}", mimetype="text/html"),
            ),
        )
        for i in range(EVENTS)
    ]
    with Engine.open(data / "zeitbus.sqlite") as engine:
        for start in range(0, EVENTS, 5000):
            engine.import_events(events[start : start + 5000])


def _call(member: str, signature: str, body: list[Any]) -> Message:
    return Message(
        destination=ENGINE_BUS_NAME,
        path=LOG_PATH,
        interface=LOG_INTERFACE,
        member=member,
        signature=signature,
        body=body,
    )


async def _quick_answers_while(bus: MessageBus, slow: Message) -> tuple[int, Message]:
    """Send ``slow``, then quick calls until it is answered; (quick answers before, reply)."""
    pending = asyncio.ensure_future(bus.call(slow))
    answered = 0
    while not pending.done():
        quick = await bus.call(_call("GetEvents", "au", [[1]]))
        assert quick is not None
        assert quick.message_type is MessageType.METHOD_RETURN
        if not pending.done():
            answered += 1
    reply = await pending
    assert reply is not None
    return answered, reply


def _matching_nothing() -> list[Any]:
    """Eight templates no subject matches, each a walk over the whole log."""
    prefixes = ["file://", "file:///", "file:///h", "file:///home", "file:///home/", "f", "fi"]
    return [
        [[""] * 6, [[uri, "", "", "", "text/plain", "", ""]], b""]
        for uri in ["!" + prefix + "*" for prefix in [*prefixes, "fil"]]
    ]


def test_other_calls_are_answered_during_a_long_query_and_a_large_delete(
    bus: str, tmp_path: Path
) -> None:
    """A full FindEvents, a limited find that walks far and a large delete hold up nothing."""
    data = tmp_path / "zeitgeist"
    data.mkdir()
    _fill(data)
    daemon = spawn_daemon(bus, daemon_env(bus, tmp_path), tmp_path / "daemon.log")

    async def work() -> list[tuple[int, Message]]:
        client = await MessageBus(bus_address=bus).connect()
        try:
            query = _call("FindEvents", "(xx)a(asaasay)uuu", [[0, 2**63 - 1], [], 2, 0, 0])
            walk = _call(
                "FindEventIds", "(xx)a(asaasay)uuu", [[0, 2**63 - 1], _matching_nothing(), 2, 50, 0]
            )
            delete = _call("DeleteEvents", "au", [list(range(2, 20_002))])
            return [
                await _quick_answers_while(client, query),
                await _quick_answers_while(client, walk),
                await _quick_answers_while(client, delete),
            ]
        finally:
            client.disconnect()

    try:
        answers = asyncio.run(work())
    finally:
        assert daemon.stop() == 0
    (during_query, query_reply), (during_walk, walk_reply), (during_delete, delete_reply) = answers
    assert query_reply.error_name == "org.gnome.zeitgeist.DataModelError.TooManyResults"
    assert walk_reply.message_type is MessageType.METHOD_RETURN
    assert walk_reply.body == [[]]
    assert delete_reply.message_type is MessageType.METHOD_RETURN
    assert list(delete_reply.body[0]) == [1_000_001, 1_020_000]
    print(f"quick answers during the query: {during_query}, the walk: {during_walk},")
    print(f"the delete: {during_delete}")
    assert during_query >= QUICK_BEFORE_SLOW, during_query
    assert during_walk >= QUICK_BEFORE_SLOW, during_walk
    assert during_delete >= QUICK_BEFORE_SLOW, during_delete
