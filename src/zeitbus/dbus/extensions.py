"""The loaded extensions' D-Bus services.

The extensions themselves (their cores, hooks, and what keeps them current)
are ``zeitbus.extensions.loaded``; this module exports a service for each
loaded one on the bus, in upstream's order. SearchEngine on an in-memory log
is listed but, as upstream, exports nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from dbus_fast.aio import MessageBus

from zeitbus.dbus.blacklist import BlacklistService
from zeitbus.dbus.datasources import DataSourceService
from zeitbus.dbus.histogram import HistogramService
from zeitbus.dbus.index import IndexService
from zeitbus.dbus.storagemonitor import StorageMonitorService
from zeitbus.engine import Engine
from zeitbus.extensions.loaded import Loaded

logger = logging.getLogger(__name__)
T = TypeVar("T")


class Service(Protocol):
    """An extension's D-Bus service."""

    async def start(self) -> None:
        """Export it (before the bus name is taken)."""

    async def stop(self) -> None:
        """Stop taking calls."""


@dataclass
class Services:
    """The started D-Bus services of the loaded extensions."""

    services: list[Service] = field(default_factory=list)

    def find(self, kind: type[T]) -> T | None:
        """The started service of this class, if there is one (for the HTTP API)."""
        return next((s for s in self.services if isinstance(s, kind)), None)

    async def stop(self) -> None:
        """Stop every service (a failure is logged; the others still stop)."""
        for service in reversed(self.services):
            try:
                await service.stop()
            except Exception:
                logger.exception("Stopping %s failed", type(service).__name__)


def _services(loaded: Loaded, engine: Engine, bus: MessageBus) -> list[Service]:
    """A service for each loaded extension, in upstream's order."""
    services: list[Service] = []
    if loaded.registry is not None:
        services.append(DataSourceService(loaded.registry, bus))
    if loaded.blacklist is not None:
        services.append(BlacklistService(loaded.blacklist, bus))
    if loaded.histogram:
        services.append(HistogramService(engine, bus))
    if loaded.media is not None:
        services.append(StorageMonitorService(loaded.media, bus))
    if loaded.index is not None:
        services.append(IndexService(loaded.index, bus))
    return services


async def start_services(loaded: Loaded, engine: Engine, bus: MessageBus) -> Services:
    """Export the loaded extensions' services (all or none: a failure stops the started)."""
    started = Services()
    try:
        for service in _services(loaded, engine, bus):
            await service.start()
            started.services.append(service)
    except BaseException:
        await started.stop()
        raise
    return started
