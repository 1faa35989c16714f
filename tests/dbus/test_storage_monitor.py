"""org.gnome.zeitgeist.StorageMonitor against the real zeitgeist-daemon 1.0.4.

Both daemons run on private session buses of their own, and the test decides
what they find on the *system* bus, where upstream looks for NetworkManager
or ConnMan: no system bus at all (an address nothing listens on), or a
private bus on which no network service runs. Whatever the machine running
the tests has on its real system bus never reaches either daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from tests.dbus.conftest import ZeitbusDaemon, daemon_env, make_event, spawn_daemon
from tests.zeitgeist_reference import (
    ENGINE_BUS_NAME,
    ReferenceDaemon,
    ZeitgeistClient,
    private_bus,
    reference_daemon,
)
from zeitbus import Event, Subject
from zeitbus.model import INT64_MAX

PATH = "/org/gnome/zeitgeist/storagemonitor"
INTERFACE = "org.gnome.zeitgeist.StorageMonitor"
NOT_AVAILABLE, AVAILABLE, ANY = 0, 1, 2


def get_storages(bus_address: str) -> dict[str, dict[str, Any]]:
    """GetStorages on the engine at ``bus_address``: each medium's description by name."""

    async def main() -> Any:
        bus = await MessageBus(bus_address=bus_address).connect()
        try:
            reply = await bus.call(
                Message(
                    destination=ENGINE_BUS_NAME,
                    path=PATH,
                    interface=INTERFACE,
                    member="GetStorages",
                )
            )
        finally:
            bus.disconnect()
        assert reply is not None
        assert reply.message_type is MessageType.METHOD_RETURN, (reply.error_name, reply.body)
        return reply.body[0]

    media = asyncio.run(main())
    # Upstream lists its storage table in SQLite's order (no ORDER BY), so only the
    # set of media, not their order, can be compared.
    return {name: {key: value.value for key, value in d.items()} for name, d in media}


def on(uri: str, timestamp: int, storage: str = "") -> Event:
    """One event whose one subject is ``uri`` on ``storage`` (empty: the daemon assigns one)."""
    event = make_event(timestamp, uri)
    return Event(
        timestamp=event.timestamp,
        interpretation=event.interpretation,
        manifestation=event.manifestation,
        actor=event.actor,
        subjects=(Subject(uri=uri, storage=storage),),
    )


# A subject on each kind of medium: net and unknown as the daemon assigns them,
# local and a volume as clients name them.
EVENTS = [
    on("https://example.org/page", 1000),
    on("file:///home/u/notes.txt", 1001),
    on("file:///home/u/local.txt", 1002, "local"),
    on("file:///media/stick/a.txt", 1003, "usb-stick"),
]


@pytest.fixture(params=["no system bus", "no network service"])
def daemons(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[ReferenceDaemon, ZeitbusDaemon]]:
    """The reference daemon and ``zeitbus daemon``, neither with a network service to follow."""
    with contextlib.ExitStack() as stack:
        if request.param == "no system bus":
            # A short socket path (as a real one would be) that nothing listens on.
            empty = Path(tempfile.mkdtemp(prefix="zgsys-"))
            stack.callback(empty.rmdir)
            system_bus = f"unix:path={empty / 'none'}"
        else:
            system_bus = stack.enter_context(private_bus(_directory(tmp_path / "system")))
        # Both daemons' environments are copies of this one.
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", system_bus)
        ours_dir = _directory(tmp_path / "ours")
        reference = stack.enter_context(reference_daemon(tmp_path / "reference"))
        address = stack.enter_context(private_bus(ours_dir))
        ours = spawn_daemon(address, daemon_env(address, ours_dir), ours_dir / "daemon.log")
        try:
            yield reference, ours
        finally:
            assert ours.stop() == 0, ours.log_text()[-3000:]


def _directory(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def find_ids(client: ZeitgeistClient, storage_state: int, templates: list[Event]) -> list[int]:
    """FindEventIds over all time, most recent first."""
    return client.find_ids((0, INT64_MAX), templates, storage_state)


def test_without_a_network_service_no_medium_is_available(
    daemons: tuple[ReferenceDaemon, ZeitbusDaemon],
) -> None:
    """GetStorages lists only the media subjects named, all unavailable with no icon or name.

    Upstream reads GetStorages from its storage table: a medium gets a row when
    a subject first names it, with no state, icon or display name, and only
    the network watch would ever set them. So ``net`` is not listed before a
    subject is on it, and ``local`` and ``unknown`` are reported unavailable
    like any other medium (whatever upstream's comment says about them).
    """
    reference, ours = daemons
    assert get_storages(ours.bus_address) == get_storages(reference.bus_address) == {}

    ids = ours.client().insert(EVENTS)
    assert reference.client().insert(EVENTS) == ids

    nothing = {"available": False, "icon": "", "display-name": ""}
    expected = {name: nothing for name in ("net", "unknown", "local", "usb-stick")}
    assert get_storages(reference.bus_address) == expected
    assert get_storages(ours.bus_address) == expected


def test_without_a_network_service_every_storage_state_matches_everything(
    daemons: tuple[ReferenceDaemon, ZeitbusDaemon],
) -> None:
    """No medium has a known state, so Available and NotAvailable both find every subject."""
    reference, ours = daemons
    ids = ours.client().insert(EVENTS)
    assert reference.client().insert(EVENTS) == ids
    # The daemons assign net to the https subject and unknown to the first file.
    on_storage = {"": ids, "net": ids[:1], "unknown": ids[1:2], "local": ids[2:3]}
    on_storage["usb-stick"] = ids[3:]
    for storage, stored in on_storage.items():
        templates = [Event(subjects=(Subject(storage=storage),))] if storage else []
        for state in (NOT_AVAILABLE, AVAILABLE, ANY):
            found = find_ids(ours.client(), state, templates)
            assert found == find_ids(reference.client(), state, templates), (storage, state)
            assert found == sorted(stored, reverse=True), (storage, state)
