"""The extensions a daemon runs, whichever interfaces serve them.

Theory of operation. An extension is a core (``blacklist``, ``datasources``,
``storage``, ``fts``) that installs its hooks on the engine, plus whatever
keeps it current while the daemon runs: the full-text index follows the
changes feed, the data-source registry saves its last-seen times now and
then. Both are here, so a daemon without a session bus (HTTP only) filters
inserts through the blacklist and keeps its index as one with a bus does.
The D-Bus services (``zeitbus.dbus.extensions``) and the HTTP resources are
adapters over these cores; neither owns them.

Upstream loads its built-in extensions in a fixed order (that is also the
order their pre-insert hooks run in) and skips those named in
``ZEITGEIST_DISABLED_EXTENSIONS`` (names separated by any of ``,:;``; the
name is the GType name without its ``Zeitgeist`` prefix and ``Extension``
suffix). ``names`` lists the loaded ones as the Log's ``extensions``
property does: the GType name without the prefix, so the registry appears
as ``DataSourceRegistryExtension``. Zeitbus has five of upstream's six;
Benchmarker is left out on purpose (upstream's own TODO says it should not
ship enabled). SearchEngine is listed for an in-memory log too but, as
upstream, has no index there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from zeitbus.commits import on_commit
from zeitbus.engine import Engine
from zeitbus.errors import DiskFull
from zeitbus.extensions.blacklist import Blacklist
from zeitbus.extensions.conf import ExtensionConf
from zeitbus.extensions.datasources import DataSourceRegistry
from zeitbus.extensions.fts import FullTextIndex
from zeitbus.extensions.storage import StorageMedia
from zeitbus.model import Event

logger = logging.getLogger(__name__)

# (name to disable it by, name the extensions property lists), in upstream's order.
BUILTIN = (
    ("DataSourceRegistry", "DataSourceRegistryExtension"),
    ("Blacklist", "Blacklist"),
    ("Histogram", "Histogram"),
    ("StorageMonitor", "StorageMonitor"),
    ("SearchEngine", "SearchEngine"),
)

FLUSH_INTERVAL = 5 * 60.0  # seconds between saves of the registry's last-seen times (upstream's)
# Seconds between the index's tries to catch up while the disk is full: no commit may
# come to wake it once space is freed (the log's writes may have all got in before).
DISK_FULL_RETRY = 5.0


def disabled_extensions(environ: Mapping[str, str]) -> set[str]:
    """The names in ``ZEITGEIST_DISABLED_EXTENSIONS``."""
    return {name for name in re.split(r"[,:;]", environ.get("ZEITGEIST_DISABLED_EXTENSIONS", ""))}


@dataclass
class Loaded:
    """The loaded extensions' cores (None: that extension is not loaded)."""

    names: list[str] = field(default_factory=list)
    registry: DataSourceRegistry | None = None
    blacklist: Blacklist | None = None
    histogram: bool = False
    media: StorageMedia | None = None
    index: FullTextIndex | None = None  # also None for an in-memory log
    _follower: asyncio.Task[None] | None = None
    _flusher: asyncio.Task[None] | None = None
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _unhook: Callable[[], None] | None = None

    async def start(self) -> None:
        """Start keeping the cores current: the index catches up at once, then on commits."""
        if self.index is not None:
            self._unhook = on_commit(self.index.engine, self._wake.set)
            self._wake.set()
            self._follower = asyncio.ensure_future(self._follow(self.index))
        if self.registry is not None:
            self._flusher = asyncio.ensure_future(self._flush_periodically(self.registry))

    async def stop(self) -> None:
        """Stop following, save the registry, close the index (failures are logged)."""
        if self._unhook is not None:
            self._unhook()
            self._unhook = None
        for task in (self._follower, self._flusher):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        for closing in (self.registry.flush if self.registry else None, self._close_index):
            if closing is None:
                continue
            try:
                await asyncio.to_thread(closing)
            except DiskFull as error:  # not a bug: no traceback
                logger.warning(
                    "Stopping the extensions: %s failed: %s", closing.__qualname__, error
                )
            except Exception:
                logger.exception("Stopping the extensions: %s failed", closing.__qualname__)

    def _close_index(self) -> None:
        if self.index is not None:
            self.index.close()

    async def _follow(self, index: FullTextIndex) -> None:
        """Catch up whenever woken; a failure is logged and retried at the next wake-up.

        A full disk is logged once by the index (``store.failures``), and tried
        again every DISK_FULL_RETRY seconds as well as at wake-ups.
        """
        retry: float | None = None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), retry)
            self._wake.clear()
            try:
                cursor = await asyncio.to_thread(index.catch_up)
                logger.debug("Full-text index at seq %d", cursor)
                retry = None
            except DiskFull:
                retry = DISK_FULL_RETRY
            except Exception:
                logger.exception("Updating the full-text index failed")
                retry = None

    @staticmethod
    async def _flush_periodically(registry: DataSourceRegistry) -> None:
        """Save last-seen times every FLUSH_INTERVAL; a failure is logged and retried."""
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            try:
                await asyncio.to_thread(registry.flush)
            except DiskFull:
                pass  # logged once by the store; the next round saves them
            except Exception:
                logger.exception("Saving the data-source registry failed")


def load(engine: Engine, environ: Mapping[str, str]) -> Loaded:
    """Create the extensions that are not disabled, in upstream's order (blocking I/O)."""
    disabled = disabled_extensions(environ)
    conf = ExtensionConf(engine)
    loaded = Loaded()
    for name, listed in BUILTIN:
        if name in disabled:
            logger.info("Skipping %s (disabled)", name)
            continue
        if name == "DataSourceRegistry":
            loaded.registry = DataSourceRegistry(conf)
            loaded.registry.install(engine)
        elif name == "Blacklist":
            loaded.blacklist = Blacklist(conf)
            loaded.blacklist.install(engine)
        elif name == "Histogram":
            loaded.histogram = True
        elif name == "StorageMonitor":
            loaded.media = StorageMedia(engine, conf)
        elif engine.path is not None:  # SearchEngine; an in-memory log has no index
            loaded.index = FullTextIndex.beside(engine, home=environ.get("HOME", ""))
        loaded.names.append(listed)
    return loaded


class LocalBlacklist:
    """Changes to the blacklist where no bus is told of them (a daemon without D-Bus)."""

    def __init__(self, blacklist: Blacklist) -> None:
        self.blacklist = blacklist

    async def add(self, template_id: str, template: Event) -> Event:
        """Blacklist a template under an id; the stored template."""
        return await asyncio.to_thread(self.blacklist.add, template_id, template)

    async def remove(self, template_id: str) -> Event | None:
        """Remove a template; the removed one, or None."""
        return await asyncio.to_thread(self.blacklist.remove, template_id)


class LocalRegistry:
    """Changes to the data-source registry where no bus is told of them."""

    def __init__(self, registry: DataSourceRegistry) -> None:
        self.registry = registry

    async def set_enabled(self, unique_id: str, enabled: bool) -> None:
        """Enable or disable a source."""
        await asyncio.to_thread(self.registry.set_enabled, unique_id, enabled)
