"""org.gnome.zeitgeist.StorageMonitor against the real zeitgeist-daemon 1.0.4.

Both daemons run on private session buses of their own, and the test decides
what they find on the *system* bus, where upstream looks for NetworkManager
or ConnMan: no system bus at all (an address nothing listens on), a private
bus on which no network service runs, or one on which the test plays
NetworkManager (``FakeNetworkManager``). Whatever the machine running the
tests has on its real system bus never reaches either daemon.

Waits are for signals (the daemons' StorageAvailable/StorageUnavailable),
each with a deadline; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from dbus_fast import Message, MessageType, Variant
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
from zeitbus.dbus.objects import add_match
from zeitbus.dbus.storagemonitor import NetworkWatch
from zeitbus.model import INT64_MAX

PATH = "/org/gnome/zeitgeist/storagemonitor"
INTERFACE = "org.gnome.zeitgeist.StorageMonitor"
NOT_AVAILABLE, AVAILABLE, ANY = 0, 1, 2
T = TypeVar("T")


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


# -- with a network service ------------------------------------------------------

NM = "org.freedesktop.NetworkManager"
NM_PATH = "/org/freedesktop/NetworkManager"
PROPERTIES = "org.freedesktop.DBus.Properties"
CONNECTED, DISCONNECTED = 70, 20  # NetworkManager's NM_STATE_CONNECTED_GLOBAL, _DISCONNECTED
DEADLINE = 20.0  # seconds to wait for a daemon's signal


class BusLoop:
    """An event loop in a thread of its own, for the bus peers the test plays."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and return its result (fails after DEADLINE)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(DEADLINE)

    def close(self) -> None:
        """Stop the loop and its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(DEADLINE)
        self.loop.close()


class FakeNetworkManager:
    """``org.freedesktop.NetworkManager`` on a private system bus, in a state the test sets.

    It answers what both daemons ask: upstream calls the (old) ``state``
    method after GDBus's proxy reads the properties (GetAll); Zeitbus reads
    the ``State`` property. ``state`` calls are held until ``answer_state``
    so that a test can listen to a daemon before it learns the state.
    """

    def __init__(self, bus: MessageBus, state: int) -> None:
        self.bus = bus
        self.state = state
        self._held: list[Message] = []
        self._holding = True
        # A state to change to right after answering the next Get (see change_after_answer).
        self._next: int | None = None
        bus.add_message_handler(self._handle)

    @classmethod
    async def start(cls, address: str, state: int) -> FakeNetworkManager:
        """Connect to ``address`` and own NetworkManager's name there."""
        bus = await MessageBus(bus_address=address).connect()
        fake = cls(bus, state)
        await bus.request_name(NM)
        return fake

    def _handle(self, msg: Message) -> bool:
        if msg.message_type is not MessageType.METHOD_CALL or msg.path != NM_PATH:
            return False
        if msg.interface == NM and msg.member == "state":
            if self._holding:
                self._held.append(msg)
            else:
                self.bus.send(Message.new_method_return(msg, "u", [self.state]))
        elif msg.interface == PROPERTIES and msg.member == "Get" and msg.body == [NM, "State"]:
            self.bus.send(Message.new_method_return(msg, "v", [Variant("u", self.state)]))
            if self._next is not None:
                # Sent in the same turn, so the asker reads both at once.
                self.state, self._next = self._next, None
                self.bus.send(Message.new_signal(NM_PATH, NM, "StateChanged", "u", [self.state]))
        elif msg.interface == PROPERTIES and msg.member == "GetAll" and msg.body == [NM]:
            state = {"State": Variant("u", self.state)}
            self.bus.send(Message.new_method_return(msg, "a{sv}", [state]))
        else:
            return False
        return True

    async def answer_state(self) -> None:
        """Answer the held ``state`` calls, and every later one at once."""
        self._holding = False
        for msg in self._held:
            self.bus.send(Message.new_method_return(msg, "u", [self.state]))
        self._held.clear()

    def change_after_answer(self, state: int) -> None:
        """Answer the next Get for State, then go to ``state`` at once and say so."""
        self._next = state

    async def change(self, state: int) -> None:
        """Go to ``state`` and say so (StateChanged)."""
        self.state = state
        self.bus.send(Message.new_signal(NM_PATH, NM, "StateChanged", "u", [state]))

    async def stop(self) -> None:
        """Leave the bus."""
        self.bus.disconnect()


class StorageSignals:
    """The StorageMonitor signals sent on one session bus, from whoever sends them."""

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus
        self.received: list[tuple[str, str]] = []
        self._arrived = asyncio.Event()
        bus.add_message_handler(self._handle)

    @classmethod
    async def listen(cls, address: str) -> StorageSignals:
        """Subscribe on the session bus at ``address`` (before a daemon may send any)."""
        bus = await MessageBus(bus_address=address).connect()
        signals = cls(bus)
        await add_match(bus, f"type='signal',interface='{INTERFACE}',path='{PATH}'")
        return signals

    def _handle(self, msg: Message) -> bool:
        if msg.message_type is MessageType.SIGNAL and msg.interface == INTERFACE:
            self.received.append((msg.member or "", msg.body[0]))
            self._arrived.set()
        return False

    async def wait_for(self, member: str, storage: str, count: int = 1) -> None:
        """Return once ``member`` has been received ``count`` times for ``storage``."""
        async with asyncio.timeout(DEADLINE):
            while self.received.count((member, storage)) < count:
                self._arrived.clear()
                await self._arrived.wait()

    async def stop(self) -> None:
        """Leave the bus."""
        self.bus.disconnect()


@pytest.fixture
def system_bus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private bus both daemons take for the system bus (their environments copy ours)."""
    with private_bus(_directory(tmp_path / "system")) as address:
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", address)
        yield address


@pytest.fixture
def bus_loop() -> Iterator[BusLoop]:
    """The loop of the test's own bus peers."""
    loop = BusLoop()
    try:
        yield loop
    finally:
        loop.close()


def test_with_network_manager_net_follows_it_as_upstream(
    system_bus: str, bus_loop: BusLoop, tmp_path: Path
) -> None:
    """net is listed once NetworkManager reports, and follows it in GetStorages and queries."""
    nm = bus_loop.run(FakeNetworkManager.start(system_bus, DISCONNECTED))
    peers: list[FakeNetworkManager | StorageSignals] = [nm]
    ours_dir = _directory(tmp_path / "ours")
    try:
        with (
            reference_daemon(tmp_path / "reference") as reference,
            private_bus(ours_dir) as address,
        ):
            theirs = bus_loop.run(StorageSignals.listen(reference.bus_address))
            mine = bus_loop.run(StorageSignals.listen(address))
            peers += [theirs, mine]
            bus_loop.run(nm.answer_state())
            bus_loop.run(theirs.wait_for("StorageUnavailable", "net"))
            ours = spawn_daemon(address, daemon_env(address, ours_dir), ours_dir / "daemon.log")
            try:
                bus_loop.run(mine.wait_for("StorageUnavailable", "net"))
                # Down from the start: never described, so no icon or display name yet.
                down = {"available": False, "icon": "", "display-name": ""}
                assert get_storages(reference.bus_address) == {"net": down}
                assert get_storages(ours.bus_address) == {"net": down}

                bus_loop.run(nm.change(CONNECTED))
                for signals in (theirs, mine):
                    bus_loop.run(signals.wait_for("StorageAvailable", "net"))
                up = {"available": True, "icon": "stock_internet", "display-name": "Internet"}
                assert get_storages(reference.bus_address) == {"net": up}
                assert get_storages(ours.bus_address) == {"net": up}

                ids = ours.client().insert(EVENTS)
                assert reference.client().insert(EVENTS) == ids
                _compare(reference, ours)

                bus_loop.run(nm.change(DISCONNECTED))
                for signals in (theirs, mine):
                    bus_loop.run(signals.wait_for("StorageUnavailable", "net", count=2))
                # The last description stays (upstream updates only the state).
                down = {**up, "available": False}
                assert get_storages(ours.bus_address)["net"] == down
                _compare(reference, ours)
            finally:
                assert ours.stop() == 0, ours.log_text()[-3000:]
    finally:
        for peer in peers:
            bus_loop.run(peer.stop())


def _compare(reference: ReferenceDaemon, ours: ZeitbusDaemon) -> None:
    """GetStorages and every StorageState over every medium answer alike on both daemons."""
    assert get_storages(ours.bus_address) == get_storages(reference.bus_address)
    for storage in ("", "net", "unknown", "local", "usb-stick"):
        templates = [Event(subjects=(Subject(storage=storage),))] if storage else []
        for state in (NOT_AVAILABLE, AVAILABLE, ANY):
            found = find_ids(ours.client(), state, templates)
            assert found == find_ids(reference.client(), state, templates), (storage, state)


def test_a_state_change_right_behind_the_answer_is_the_state_kept(system_bus: str) -> None:
    """NetworkManager answers "disconnected" and says "connected" at once: connected it is.

    The watch's connection reads the answer and the signal together and
    handles the signal before the coroutine that asked resumes; the answer,
    older than the signal, must not have the last word.
    """

    async def main() -> list[bool]:
        nm = await FakeNetworkManager.start(system_bus, DISCONNECTED)
        nm.change_after_answer(CONNECTED)
        states: list[bool] = []
        connected = asyncio.Event()

        def learnt(up: bool) -> None:
            states.append(up)
            if up:
                connected.set()

        watch = NetworkWatch(learnt)
        try:
            await watch.start()
            # The signal may also come in a read of its own, after start returns.
            async with asyncio.timeout(DEADLINE):
                await connected.wait()
        finally:
            await watch.stop()
            await nm.stop()
        return states

    states = asyncio.run(main())
    assert states[-1] is True, states
