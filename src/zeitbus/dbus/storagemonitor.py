"""``org.gnome.zeitgeist.StorageMonitor`` on ``/org/gnome/zeitgeist/storagemonitor``.

A thin adapter over ``zeitbus.extensions.storage`` plus what it watches.

What is watched. Upstream watches the network through NetworkManager or
ConnMan on the *system* bus (its GIO volume monitoring is disabled), and so
does Zeitbus (``NetworkWatch``): the ``net`` medium ("Internet",
``stock_internet``) is available while NetworkManager's ``State`` is
connected (70, or 3 before NM 0.9) or ConnMan's is ``online``, and
StorageAvailable / StorageUnavailable are emitted when that changes. Either
service may appear later; whichever is seen first is followed, as upstream.
Without a system bus or either service (a headless box, a container), the
state of ``net`` is never reported, and GetStorages and queries show what
upstream's show then: ``net`` is listed only once a subject is on it,
unavailable with no icon or display name, and its unset state matches both
StorageStates (``zeitbus.extensions.storage``). Volumes are not watched
(upstream disabled that too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from zeitbus.dbus.objects import (
    BUS_DAEMON,
    ExportedObject,
    Method,
    Signal,
    add_match,
)
from zeitbus.extensions.storage import Medium, StorageMedia

logger = logging.getLogger(__name__)

PATH = "/org/gnome/zeitgeist/storagemonitor"
INTERFACE = "org.gnome.zeitgeist.StorageMonitor"
NET, NET_ICON, NET_NAME = "net", "stock_internet", "Internet"

METHODS = (Method("GetStorages", (), ("a(sa{sv})",)),)
SIGNALS = (
    Signal("StorageAvailable", (("storage_id", "s"), ("storage_description", "a{sv}"))),
    Signal("StorageUnavailable", (("storage_id", "s"),)),
)

NM = "org.freedesktop.NetworkManager"
NM_PATH = "/org/freedesktop/NetworkManager"
NM_CONNECTED = (3, 70)  # NM_STATE_CONNECTED before and since NetworkManager 0.9
CONNMAN = "net.connman"
CONNMAN_MANAGER = "net.connman.Manager"
ASKS = 5  # times the state is asked again while state signals keep overtaking the answer


def description(medium: Medium) -> dict[str, Variant]:
    """The ``a{sv}`` upstream describes a medium with."""
    return {
        "available": Variant("b", medium.available),
        "icon": Variant("s", medium.icon),
        "display-name": Variant("s", medium.display_name),
    }


class NetworkWatch:
    """Follows NetworkManager or ConnMan on the system bus; ``on_change(up)`` on each state.

    ``on_change`` is called in the order the states were learnt, newest
    last. The service's state signals are handled as they arrive, but the
    answer to the first question about the state resumes the asking
    coroutine only later, after any signal that came right behind it; so if
    a signal was handled while the question was out, the answer may be older
    than the signal and the state is asked again.

    Failures to reach the system bus or the service are logged once; the
    watch then stays silent (the state stays unknown).
    """

    def __init__(self, on_change: Callable[[bool], None]) -> None:
        self._on_change = on_change
        self._bus: MessageBus | None = None
        self._following: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._signals = 0  # state signals handled so far

    async def start(self) -> None:
        """Connect to the system bus and follow whichever network service is there."""
        try:
            self._bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
        except Exception as error:  # no address, no socket, refused: all the same here
            logger.info("No system bus (%s): the network state is unknown", error)
            return
        bus = self._bus
        bus.add_message_handler(self._handle)
        for name in (CONNMAN, NM):
            await add_match(
                bus,
                f"type='signal',sender='{BUS_DAEMON}',interface='{BUS_DAEMON}',"
                f"member='NameOwnerChanged',arg0='{name}'",
            )
        for name in (CONNMAN, NM):
            reply = await self._call(
                BUS_DAEMON, "/org/freedesktop/DBus", BUS_DAEMON, "NameHasOwner", "s", [name]
            )
            if reply is not None and reply.body[0]:
                await self._follow(name)
                return
        logger.info("Neither NetworkManager nor ConnMan runs: the network state is unknown")

    async def stop(self) -> None:
        """Disconnect from the system bus."""
        if self._bus is not None:
            self._bus.disconnect()
            self._bus = None

    async def _call(
        self, dest: str, path: str, iface: str, member: str, sig: str = "", body: Any = None
    ) -> Message | None:
        assert self._bus is not None
        reply = await self._bus.call(
            Message(
                destination=dest,
                path=path,
                interface=iface,
                member=member,
                signature=sig,
                body=body or [],
            )
        )
        if reply is None or reply.message_type is MessageType.ERROR:
            logger.warning("%s.%s failed: %s", iface, member, reply and reply.body)
            return None
        return reply

    async def _follow(self, name: str) -> None:
        if self._following is not None or self._bus is None:
            return
        self._following = name
        if name == NM:
            rule = f"type='signal',sender='{NM}',interface='{NM}',member='StateChanged'"
        else:
            rule = (
                f"type='signal',sender='{CONNMAN}',"
                f"interface='{CONNMAN_MANAGER}',member='PropertyChanged'"
            )
        await add_match(self._bus, rule)
        for _ in range(ASKS):
            signals = self._signals
            up = await self._ask(name)
            if up is None:
                break
            if self._signals == signals:
                self._on_change(up)
                break
        logger.info("Following the network state of %s", name)

    async def _ask(self, name: str) -> bool | None:
        """Whether the network service ``name`` says it is up; None if it did not answer."""
        if name == NM:
            reply = await self._call(
                NM, NM_PATH, "org.freedesktop.DBus.Properties", "Get", "ss", [NM, "State"]
            )
            return None if reply is None else reply.body[0].value in NM_CONNECTED
        reply = await self._call(CONNMAN, "/", CONNMAN_MANAGER, "GetProperties")
        if reply is None:
            return None
        state = reply.body[0].get("State")
        return state is not None and state.value == "online"

    def _handle(self, msg: Message) -> bool:
        if msg.message_type is not MessageType.SIGNAL:
            return False
        if msg.member == "NameOwnerChanged" and msg.sender == BUS_DAEMON:
            name, _old, new = msg.body
            if new and name in (NM, CONNMAN) and self._following is None:
                task = asyncio.ensure_future(self._follow(name))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        elif self._following == NM and msg.member == "StateChanged" and msg.interface == NM:
            self._signals += 1
            self._on_change(msg.body[0] in NM_CONNECTED)
        elif (
            self._following == CONNMAN
            and msg.member == "PropertyChanged"
            and msg.interface == CONNMAN_MANAGER
            and msg.body[0] == "State"
        ):
            self._signals += 1
            self._on_change(msg.body[1].value == "online")
        return False


class StorageMonitorService:
    """Serves ``media`` on ``bus`` and keeps ``net`` up to date from the network watch."""

    def __init__(self, media: StorageMedia, bus: MessageBus, *, watch_network: bool = True) -> None:
        self.media = media
        self._object = ExportedObject(
            bus, PATH, INTERFACE, METHODS, {"GetStorages": self.get_storages}, SIGNALS
        )
        self._network = NetworkWatch(self._network_changed) if watch_network else None
        self._pending: set[asyncio.Task[None]] = set()
        # States are recorded one at a time, in the order they were learnt (an
        # asyncio.Lock wakes its waiters first come, first served).
        self._recording = asyncio.Lock()

    async def start(self) -> None:
        """Export the interface and start watching the network."""
        self._object.export()
        if self._network is not None:
            await self._network.start()

    async def stop(self) -> None:
        """Stop watching and taking calls."""
        if self._network is not None:
            await self._network.stop()
        for task in list(self._pending):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._object.stop()

    def _network_changed(self, up: bool) -> None:
        task = asyncio.ensure_future(self._set_network(up))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _set_network(self, up: bool) -> None:
        """Record the network state; emit the signal if it changed (failures are logged)."""
        async with self._recording:
            try:
                if up:
                    changed = await asyncio.to_thread(
                        self.media.set_available, NET, NET_ICON, NET_NAME
                    )
                    if changed:
                        medium = Medium(NET, True, NET_ICON, NET_NAME)
                        self._object.emit("StorageAvailable", NET, description(medium))
                elif await asyncio.to_thread(self.media.set_unavailable, NET):
                    self._object.emit("StorageUnavailable", NET)
            except Exception:
                logger.exception("Recording the network state failed")

    async def get_storages(self, sender: str) -> list[Any]:
        """GetStorages: every medium with its availability, icon and display name."""
        media = await asyncio.to_thread(self.media.media)
        return [[medium.name, description(medium)] for medium in media]
