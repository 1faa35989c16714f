"""``org.gnome.zeitgeist.DataSourceRegistry`` on ``/org/gnome/zeitgeist/data_source_registry``.

A thin adapter over ``zeitbus.extensions.datasources``. RegisterDataSource
ties the caller's unique bus name to the source (upstream's only use of the
sender); this service follows NameOwnerChanged and marks a source not
running, with DataSourceDisconnected, when the last name that registered it
goes away. Signals go out before the method's reply, as upstream's do.
The registry's last-seen times are saved by ``zeitbus.extensions.loaded``
(periodically and when the daemon stops, as upstream does); registrations
and enabled flags are saved at once.

Templates are decoded as upstream's ``Events.from_variant`` does: a NULL
event in the list is skipped, a struct with too few fields is
``DataModelError.InvalidSignature`` and nothing is registered.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from zeitbus.dbus.codec import WireEvent, event_to_wire, events_from_wire
from zeitbus.dbus.objects import (
    BUS_DAEMON,
    NAME_OWNER_CHANGED,
    ExportedObject,
    Method,
    Signal,
    add_match,
)
from zeitbus.extensions.datasources import DataSource, DataSourceRegistry

logger = logging.getLogger(__name__)

PATH = "/org/gnome/zeitgeist/data_source_registry"
INTERFACE = "org.gnome.zeitgeist.DataSourceRegistry"
SOURCE = "(sssa(asaasay)bxb)"

METHODS = (
    Method("GetDataSources", (), ("a" + SOURCE,)),
    Method(
        "RegisterDataSource",
        (
            ("unique_id", "s"),
            ("name", "s"),
            ("description", "s"),
            ("event_templates", "a(asaasay)"),
        ),
        ("b",),
    ),
    Method("SetDataSourceEnabled", (("unique_id", "s"), ("enabled", "b")), ()),
    Method("GetDataSourceFromId", (("unique_id", "s"),), (SOURCE,)),
)
SIGNALS = (
    Signal("DataSourceDisconnected", (("data_source", SOURCE),)),
    Signal("DataSourceEnabled", (("unique_id", "s"), ("enabled", "b"))),
    Signal("DataSourceRegistered", (("data_source", SOURCE),)),
)


def source_to_wire(source: DataSource) -> list[Any]:
    """The ``(sssa(asaasay)bxb)`` struct of a data source."""
    return [
        source.unique_id,
        source.name,
        source.description,
        [event_to_wire(template) for template in source.templates],
        source.running,
        source.last_seen,
        source.enabled,
    ]


class DataSourceService:
    """Serves ``registry`` on ``bus``."""

    def __init__(self, registry: DataSourceRegistry, bus: MessageBus) -> None:
        self.registry = registry
        self.bus = bus
        self._object = ExportedObject(
            bus,
            PATH,
            INTERFACE,
            METHODS,
            {
                "GetDataSources": self.get_data_sources,
                "RegisterDataSource": self.register_data_source,
                "SetDataSourceEnabled": self.set_data_source_enabled,
                "GetDataSourceFromId": self.get_data_source_from_id,
            },
            SIGNALS,
            ordered=True,
        )

    async def start(self) -> None:
        """Export the interface and follow bus names."""
        self._object.export()
        self.bus.add_message_handler(self._signal)
        await add_match(self.bus, NAME_OWNER_CHANGED)

    async def stop(self) -> None:
        """Stop taking calls."""
        self.bus.remove_message_handler(self._signal)
        await self._object.stop()

    def _signal(self, msg: Message) -> bool:
        """dbus-fast message handler: a vanished name may stop sources; passes everything on."""
        if (
            msg.message_type is MessageType.SIGNAL
            and msg.member == "NameOwnerChanged"
            and msg.sender == BUS_DAEMON
        ):
            name, _old, new = msg.body
            if not new:
                for source in self.registry.disconnected(name):
                    logger.debug("No remaining client running: %s", source.unique_id)
                    self._object.emit("DataSourceDisconnected", source_to_wire(source))
        return False

    async def get_data_sources(self, sender: str) -> list[Any]:
        """GetDataSources: every registered source, by unique id."""
        return [source_to_wire(source) for source in self.registry.sources()]

    async def register_data_source(
        self,
        sender: str,
        unique_id: str,
        name: str,
        description: str,
        templates: list[WireEvent],
    ) -> bool:
        """RegisterDataSource: register or update; whether the source is enabled."""
        decoded = [t for t in events_from_wire(templates) if t is not None]
        source = await asyncio.to_thread(
            self.registry.register, unique_id, name, description, decoded, sender
        )
        self._object.emit("DataSourceRegistered", source_to_wire(source))
        return source.enabled

    async def set_data_source_enabled(self, sender: str, unique_id: str, enabled: bool) -> None:
        """SetDataSourceEnabled; DataSourceEnabled is emitted if that changed anything."""
        await self.set_enabled(unique_id, enabled)

    async def set_enabled(self, unique_id: str, enabled: bool) -> None:
        """Enable or disable a source and tell the bus (also for changes made over HTTP)."""
        if await asyncio.to_thread(self.registry.set_enabled, unique_id, enabled):
            self._object.emit("DataSourceEnabled", unique_id, enabled)

    async def get_data_source_from_id(self, sender: str, unique_id: str) -> list[Any]:
        """GetDataSourceFromId: the source, or EngineError.InvalidKey."""
        return source_to_wire(self.registry.get(unique_id))
