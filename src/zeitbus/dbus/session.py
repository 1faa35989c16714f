"""The daemon's D-Bus side: zeitgeist-daemon's behaviour on the session bus.

What it does, in upstream's order (docs/ZEITGEIST.md §1, ``zeitgeist-daemon.vala``),
driven by ``zeitbus.daemon``: connect to the session bus; if
``org.gnome.zeitgeist.Engine`` already has an owner, ask it to Quit with
``--replace`` or ``--quit``, else refuse (exit 10); once the daemon has
opened the log, export the Log interface and the extensions' services; then
take the name, waiting up to 10 s for a replaced instance to let go of it.
Losing the name or the bus stops the daemon.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TypeVar

from dbus_fast import BusType, Message, MessageType, NameFlag, RequestNameReply
from dbus_fast.aio import MessageBus

from zeitbus.dbus.extensions import Services, start_services
from zeitbus.dbus.log import ENGINE_BUS_NAME, LOG_INTERFACE, LOG_PATH, LogService
from zeitbus.dbus.transport import tolerate_full_socket
from zeitbus.engine import Engine
from zeitbus.extensions.loaded import Loaded

logger = logging.getLogger(__name__)
T = TypeVar("T")

EXIT_ERROR = 1
EXIT_EXISTING_INSTANCE = 10
TAKEOVER_TIMEOUT = 10.0  # seconds to wait for a replaced instance to release the name
QUIT_TIMEOUT = 10.0  # seconds to wait for a running instance to answer Quit


class Refused(Exception):
    """The bus side cannot go on; ``status`` is the daemon's exit status (upstream's)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Names:
    """Follows NameAcquired and NameLost for the engine's bus name."""

    def __init__(self, stop: asyncio.Event) -> None:
        self.acquired = asyncio.Event()
        self._stop = stop

    def handle(self, msg: Message) -> bool:
        if (
            msg.message_type is MessageType.SIGNAL
            and msg.sender == "org.freedesktop.DBus"
            and msg.body[:1] == [ENGINE_BUS_NAME]
        ):
            if msg.member == "NameAcquired":
                self.acquired.set()
            elif msg.member == "NameLost" and self.acquired.is_set() and not self._stop.is_set():
                logger.warning("Lost the name %s; stopping", ENGINE_BUS_NAME)
                self._stop.set()
        return False


class Session:
    """One session-bus connection and what the daemon serves on it."""

    def __init__(self, bus: MessageBus, stop: asyncio.Event) -> None:
        self.bus = bus
        self._stop = stop
        self._names = _Names(stop)
        self._log: LogService | None = None
        self._services = Services()

    @classmethod
    async def connect(cls, stop: asyncio.Event) -> Session:
        """Connect to the session bus (any failure: there is none to be had)."""
        bus = tolerate_full_socket(await MessageBus(bus_type=BusType.SESSION).connect())
        return cls(bus, stop)

    async def make_way(self, *, replace: bool, quit: bool) -> None:
        """Ask a running instance to Quit if told to; Refused(10) if one runs and we may not."""
        owner = await self._call_bus("NameHasOwner", "s", ENGINE_BUS_NAME)
        if owner.body[0]:
            if not (replace or quit):
                raise Refused(
                    EXIT_EXISTING_INSTANCE,
                    "An existing instance was found. Please use --replace to stop it "
                    "and start a new instance.",
                )
            await self._quit_instance()

    async def start(self, engine: Engine, loaded: Loaded, datapath: str) -> None:
        """Export the extensions' services and the Log (before the name is taken)."""
        self._services = await start_services(loaded, engine, self.bus)
        self._log = LogService(
            engine, self.bus, datapath=datapath, on_quit=self._stop.set, extensions=loaded.names
        )
        self.bus.add_message_handler(self._names.handle)
        await self._log.start()

    def find(self, kind: type[T]) -> T | None:
        """The started extension service of this class, if there is one."""
        return self._services.find(kind)

    async def own_name(self) -> None:
        """Take the engine's name, waiting a while if an instance we asked to quit holds it."""
        reply = await self.bus.request_name(ENGINE_BUS_NAME, NameFlag.NONE)
        if reply in (RequestNameReply.PRIMARY_OWNER, RequestNameReply.ALREADY_OWNER):
            self._names.acquired.set()
            return
        logger.debug("Waiting %.0f seconds to acquire the name...", TAKEOVER_TIMEOUT)
        try:
            await asyncio.wait_for(self._names.acquired.wait(), TAKEOVER_TIMEOUT)
        except TimeoutError:
            raise Refused(
                EXIT_EXISTING_INSTANCE, "Timeout reached, unable to acquire name!"
            ) from None

    async def closed(self) -> None:
        """Return when the bus connection closes (it says why in the log)."""
        try:
            await self.bus.wait_for_disconnect()  # type: ignore[no-untyped-call]
        except Exception as error:
            logger.warning("The bus connection closed (%s); stopping", error)
        else:
            logger.warning("The bus connection closed; stopping")

    async def stop(self) -> None:
        """Stop the Log and the services, let go of the name (idempotent)."""
        if self._log is not None:
            await self._log.stop()
            self._log = None
        await self._services.stop()
        self._services = Services()
        if self.bus.connected and self._names.acquired.is_set():
            await self.bus.release_name(ENGINE_BUS_NAME)

    def disconnect(self) -> None:
        """Close the connection."""
        self.bus.disconnect()

    async def _call_bus(self, member: str, signature: str, *body: object) -> Message:
        reply = await self.bus.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus",
                member=member,
                signature=signature,
                body=list(body),
            )
        )
        if reply.message_type is MessageType.ERROR:
            raise Refused(EXIT_ERROR, f"{member} failed: {reply.error_name} {reply.body}")
        return reply

    async def _quit_instance(self) -> None:
        """Call Quit on the running instance and wait for its answer (or its silence)."""
        call = Message(
            destination=ENGINE_BUS_NAME, path=LOG_PATH, interface=LOG_INTERFACE, member="Quit"
        )
        try:
            reply = await asyncio.wait_for(self.bus.call(call), QUIT_TIMEOUT)
        except TimeoutError:
            logger.warning("The running instance did not answer Quit")
            return
        if reply.message_type is MessageType.ERROR:
            # NoReply is what a daemon that quits before answering gives.
            logger.info("Quit: %s", reply.error_name)
