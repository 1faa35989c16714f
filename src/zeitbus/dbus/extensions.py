"""Which Zeitgeist extensions the daemon loads, and loading them.

Upstream loads its built-in extensions in a fixed order (that is also the
order their pre-insert hooks run in) and skips those named in
``ZEITGEIST_DISABLED_EXTENSIONS`` (names separated by any of ``,:;``; the
name is the GType name without its ``Zeitgeist`` prefix and ``Extension``
suffix). The Log's ``extensions`` property lists the loaded ones by their
GType name without the prefix, so the registry appears as
``DataSourceRegistryExtension`` there. Zeitbus has five of upstream's six;
Benchmarker is left out on purpose (upstream's own TODO says it should not
ship enabled). SearchEngine (full-text search, ``dbus/index.py``) is listed
for an in-memory log too but, as upstream, exports nothing there.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from dbus_fast.aio import MessageBus

from zeitbus.dbus.blacklist import BlacklistService
from zeitbus.dbus.datasources import DataSourceService
from zeitbus.dbus.histogram import HistogramService
from zeitbus.dbus.index import IndexService
from zeitbus.dbus.storagemonitor import StorageMonitorService
from zeitbus.engine import Engine
from zeitbus.extensions.blacklist import Blacklist
from zeitbus.extensions.conf import ExtensionConf
from zeitbus.extensions.datasources import DataSourceRegistry
from zeitbus.extensions.fts import FullTextIndex
from zeitbus.extensions.storage import StorageMedia

logger = logging.getLogger(__name__)
T = TypeVar("T")

# (name to disable it by, name the extensions property lists), in upstream's order.
BUILTIN = (
    ("DataSourceRegistry", "DataSourceRegistryExtension"),
    ("Blacklist", "Blacklist"),
    ("Histogram", "Histogram"),
    ("StorageMonitor", "StorageMonitor"),
    ("SearchEngine", "SearchEngine"),
)


class Service(Protocol):
    """An extension's D-Bus service."""

    async def start(self) -> None:
        """Export it (before the bus name is taken)."""

    async def stop(self) -> None:
        """Stop it and save what it keeps."""


def disabled_extensions(environ: Mapping[str, str]) -> set[str]:
    """The names in ``ZEITGEIST_DISABLED_EXTENSIONS``."""
    return {name for name in re.split(r"[,:;]", environ.get("ZEITGEIST_DISABLED_EXTENSIONS", ""))}


@dataclass
class Extensions:
    """The loaded extensions: their listed names and services."""

    names: list[str] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)

    def find(self, kind: type[T]) -> T | None:
        """The loaded service of this class, if it is loaded (for the HTTP API)."""
        return next((s for s in self.services if isinstance(s, kind)), None)

    async def stop(self) -> None:
        """Stop every service (a failure is logged; the others still stop)."""
        for service in reversed(self.services):
            try:
                await service.stop()
            except Exception:
                logger.exception("Stopping %s failed", type(service).__name__)


class _NotExported:
    """A loaded extension with nothing to serve (SearchEngine on an in-memory log)."""

    async def start(self) -> None:
        """Nothing to export."""

    async def stop(self) -> None:
        """Nothing to stop."""


def _build(
    name: str, engine: Engine, bus: MessageBus, conf: ExtensionConf, environ: Mapping[str, str]
) -> Service:
    """Create extension ``name`` and install its hooks on ``engine`` (runs in a thread)."""
    if name == "DataSourceRegistry":
        registry = DataSourceRegistry(conf)
        registry.install(engine)
        return DataSourceService(registry, bus)
    if name == "Blacklist":
        blacklist = Blacklist(conf)
        blacklist.install(engine)
        return BlacklistService(blacklist, bus)
    if name == "Histogram":
        return HistogramService(engine, bus)
    if name == "StorageMonitor":
        return StorageMonitorService(StorageMedia(engine, conf), bus)
    if name == "SearchEngine":
        if engine.path is None:  # an in-memory log has no index (as upstream)
            return _NotExported()
        return IndexService(FullTextIndex.beside(engine, home=environ.get("HOME", "")), bus)
    raise ValueError(f"unknown extension {name!r}")


async def load_extensions(
    engine: Engine, bus: MessageBus, environ: Mapping[str, str]
) -> Extensions:
    """Create and start the extensions that are not disabled, in upstream's order."""
    disabled = disabled_extensions(environ)
    conf = await asyncio.to_thread(ExtensionConf, engine)
    loaded = Extensions()
    try:
        for name, listed in BUILTIN:
            if name in disabled:
                logger.info("Skipping %s (disabled)", name)
                continue
            service = await asyncio.to_thread(_build, name, engine, bus, conf, environ)
            await service.start()
            loaded.services.append(service)
            loaded.names.append(listed)
    except BaseException:
        await loaded.stop()
        raise
    return loaded
