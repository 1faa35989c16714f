"""Raw D-Bus calls from an in-process dbus-fast client: what other clients may send."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from tests.dbus.conftest import ZeitbusDaemon
from zeitbus.dbus.log import ENGINE_BUS_NAME, LOG_INTERFACE, LOG_PATH, METHODS

GOOD = ["", "1000", "zg#AccessEvent", "zg#UserActivity", "application://x.desktop"]
SUBJECT = ["file:///x", "", "", "", "", "", ""]


def on_bus(daemon: ZeitbusDaemon, work: Callable[[MessageBus], Awaitable[Any]]) -> Any:
    """Run ``work`` with a dbus-fast connection to the daemon's bus."""

    async def main() -> Any:
        bus = await MessageBus(bus_address=daemon.bus_address).connect()
        try:
            return await work(bus)
        finally:
            bus.disconnect()

    return asyncio.run(main())


def log_call(member: str, signature: str = "", body: list[Any] | None = None) -> Message:
    """A call to the Log interface."""
    return Message(
        destination=ENGINE_BUS_NAME,
        path=LOG_PATH,
        interface=LOG_INTERFACE,
        member=member,
        signature=signature,
        body=body or [],
    )


def test_wrong_signatures_get_invalid_args(zeitbus_daemon: ZeitbusDaemon) -> None:
    """A call with the wrong argument types is InvalidArgs; an unknown method UnknownMethod."""

    async def work(bus: MessageBus) -> list[Message]:
        return [
            await bus.call(log_call("GetEvents", "s", ["x"])),
            await bus.call(log_call("InsertEvents", "as", [["x"]])),
            await bus.call(log_call("Nope")),
        ]

    wrong, also_wrong, unknown = on_bus(zeitbus_daemon, work)
    assert wrong.error_name == "org.freedesktop.DBus.Error.InvalidArgs"
    assert also_wrong.error_name == "org.freedesktop.DBus.Error.InvalidArgs"
    assert unknown.error_name == "org.freedesktop.DBus.Error.UnknownMethod"
    assert zeitbus_daemon.client().find_ids() == []


def test_short_arrays_and_null_events_on_the_wire(zeitbus_daemon: ZeitbusDaemon) -> None:
    """5 event fields and 7 subject fields are enough; unknown ids come back as ([], [], [])."""

    async def work(bus: MessageBus) -> list[Message]:
        return [
            await bus.call(
                log_call("InsertEvents", "a(asaasay)", [[[GOOD, [SUBJECT], b""], [[], [], b""]]])
            ),
            await bus.call(log_call("GetEvents", "au", [[1, 2]])),
        ]

    inserted, got = on_bus(zeitbus_daemon, work)
    assert inserted.body == [[1, 0]]
    stored, null = got.body[0]
    assert list(null) == [[], [], b""]
    assert len(stored[0]) == 6
    assert len(stored[1][0]) == 9
    assert stored[0][:3] == ["1", "1000", "zg#AccessEvent"]


def test_introspection_lists_every_method_and_property(zeitbus_daemon: ZeitbusDaemon) -> None:
    """Introspection (what dbus-python marshals by) has the exact Log signatures."""

    async def work(bus: MessageBus) -> Any:
        return await bus.introspect(ENGINE_BUS_NAME, LOG_PATH)

    node = on_bus(zeitbus_daemon, work)
    (log,) = [interface for interface in node.interfaces if interface.name == LOG_INTERFACE]
    assert {m.name: (m.in_signature, m.out_signature) for m in log.methods} == {
        name: (method.in_signature, method.out_signature) for name, method in METHODS.items()
    }
    assert METHODS["FindEventIds"].in_signature == "(xx)a(asaasay)uuu"
    assert METHODS["DeleteEvents"].out_signature == "(xx)"
    assert {(p.name, p.signature, p.access.value) for p in log.properties} == {
        ("version", "(iii)", "read"),
        ("extensions", "as", "read"),
        ("datapath", "s", "read"),
    }


def test_quit_replies_and_the_daemon_exits_0(zeitbus_daemon: ZeitbusDaemon) -> None:
    """Quit answers, then the daemon exits with status 0."""

    async def work(bus: MessageBus) -> Message:
        return await bus.call(log_call("Quit"))

    reply = on_bus(zeitbus_daemon, work)
    assert reply.message_type is MessageType.METHOD_RETURN
    assert zeitbus_daemon.wait() == 0
