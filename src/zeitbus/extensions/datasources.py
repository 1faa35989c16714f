"""The data-source registry: who logs events, whether they may, and whether they run.

Theory of operation (upstream ``extensions/ds-registry.vala``). A data source
is a program that logs events; it registers under a unique id with a name,
a description and the templates of the events it logs, and is enabled
unless a user disabled it. Registering ties the caller's bus name (any
sender name) to the source and marks it running; the source stops running
when the last of its names goes away (``disconnected``). The registry also
records when each source was last seen (registered, inserted, went away).

``filter`` is an engine pre-insert hook: if the sender of a batch runs a
disabled source, every event of the batch is dropped (id 0), unless that
sender registered several different sources, in which case nothing is
dropped (upstream cannot tell which source the batch is from).

Registrations and enabled flags are saved (``ExtensionConf``, key
``registry``) before they change, so a change that could not be saved is not
applied. Last-seen times change with every insert; like upstream they are
only marked dirty and saved by ``flush`` (periodically and at shutdown).
Sources loaded at startup are not running. A lock guards the state: the
hook runs on the engine's calling thread, the D-Bus calls on the loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from zeitbus.engine import Engine
from zeitbus.errors import InvalidKey
from zeitbus.extensions.conf import ExtensionConf
from zeitbus.jsonl import event_from_json, event_to_json
from zeitbus.model import Event
from zeitbus.validation import Clock, check_template, now_ms

logger = logging.getLogger(__name__)

EXTENSION = "data_source_registry"
KEY = "registry"


@dataclass(frozen=True, slots=True)
class DataSource:
    """One registered data source (upstream's ``(sssa(asaasay)bxb)``)."""

    unique_id: str
    name: str
    description: str
    templates: tuple[Event, ...] = ()
    running: bool = False
    last_seen: int = 0  # ms
    enabled: bool = True


def _to_json(source: DataSource) -> dict[str, Any]:
    return {
        "unique_id": source.unique_id,
        "name": source.name,
        "description": source.description,
        "templates": [event_to_json(t) for t in source.templates],
        "last_seen": source.last_seen,
        "enabled": source.enabled,
    }


def _from_json(value: Any) -> DataSource:
    return DataSource(
        unique_id=str(value["unique_id"]),
        name=str(value["name"]),
        description=str(value["description"]),
        templates=tuple(event_from_json(t) for t in value["templates"]),
        running=False,
        last_seen=int(value["last_seen"]),
        enabled=bool(value["enabled"]),
    )


@dataclass
class _Senders:
    """Bus names per running source, and which source(s) each name registered."""

    by_source: dict[str, list[str]] = field(default_factory=dict)
    sources_of: dict[str, set[str]] = field(default_factory=dict)


class DataSourceRegistry:
    """Registered data sources by unique id; ``filter`` is the engine's pre-insert hook."""

    def __init__(self, conf: ExtensionConf | None = None, *, clock: Clock = now_ms) -> None:
        self._conf = conf
        self._clock = clock
        self._lock = threading.Lock()
        self._sources: dict[str, DataSource] = self._load()
        self._senders = _Senders()
        self._dirty = False

    def _load(self) -> dict[str, DataSource]:
        stored = None if self._conf is None else self._conf.load(EXTENSION, KEY)
        if stored is None:
            return {}
        try:
            sources = [_from_json(value) for value in stored]
        except (TypeError, ValueError, KeyError):
            logger.warning("Could not load the stored data-source registry; starting empty")
            return {}
        return {source.unique_id: source for source in sources}

    def install(self, engine: Engine) -> None:
        """Have ``engine`` drop the events of disabled sources."""
        engine.add_pre_insert_hook(self.filter)

    # -- reads -------------------------------------------------------------

    def sources(self) -> list[DataSource]:
        """Every registered source, by unique id (upstream's order)."""
        with self._lock:
            return sorted(self._sources.values(), key=lambda s: s.unique_id)

    def get(self, unique_id: str) -> DataSource:
        """The source registered as ``unique_id``; InvalidKey if there is none."""
        with self._lock:
            source = self._sources.get(unique_id)
        if source is None:
            raise InvalidKey(f"Datasource with unique ID: {unique_id} not found")
        return source

    # -- changes -----------------------------------------------------------

    def register(
        self,
        unique_id: str,
        name: str,
        description: str,
        templates: Sequence[Event],
        sender: str,
    ) -> DataSource:
        """Register (or update) a source run by ``sender``; the source as now registered.

        A new source is enabled; re-registering keeps the enabled flag and
        replaces name, description and templates.
        """
        for n, template in enumerate(templates):
            check_template(template, f"template {n}")
        with self._lock:
            known = self._sources.get(unique_id)
            source = DataSource(
                unique_id=unique_id,
                name=name,
                description=description,
                templates=tuple(templates),
                running=True,
                last_seen=self._clock(),
                enabled=True if known is None else known.enabled,
            )
            self._save({**self._sources, unique_id: source})
            self._sources[unique_id] = source
            names = self._senders.by_source.setdefault(unique_id, [])
            if sender not in names:
                names.append(sender)
            self._senders.sources_of.setdefault(sender, set()).add(unique_id)
        logger.debug("Registered data source %s", unique_id)
        return source

    def set_enabled(self, unique_id: str, enabled: bool) -> bool:
        """Enable or disable a source; True if that changed anything.

        An unknown source is only logged, as upstream.
        """
        with self._lock:
            source = self._sources.get(unique_id)
            if source is None:
                logger.warning('DataSource "%s" isn\'t registered!', unique_id)
                return False
            if source.enabled == enabled:
                return False
            changed = replace(source, enabled=enabled)
            self._save({**self._sources, unique_id: changed})
            self._sources[unique_id] = changed
        return True

    def disconnected(self, bus_name: str) -> list[DataSource]:
        """``bus_name`` went away: the sources that stopped running because of it."""
        stopped: list[DataSource] = []
        with self._lock:
            if self._senders.sources_of.pop(bus_name, None) is None:
                return []
            now = self._clock()
            for unique_id, names in list(self._senders.by_source.items()):
                if bus_name not in names:
                    continue
                names.remove(bus_name)
                source = replace(self._sources[unique_id], last_seen=now)
                if not names:
                    del self._senders.by_source[unique_id]
                    source = replace(source, running=False)
                    stopped.append(source)
                self._sources[unique_id] = source
                self._dirty = True
        return stopped

    def filter(self, batch: list[Event | None], sender: str | None) -> list[Event | None]:
        """The batch, or all None if ``sender`` runs a disabled source (and only that one)."""
        if sender is None:
            return batch
        with self._lock:
            registered = self._senders.sources_of.get(sender)
            if not registered:
                return batch
            now = self._clock()
            blocked = False
            for unique_id in registered:
                source = self._sources[unique_id]
                self._sources[unique_id] = replace(source, last_seen=now)
                blocked = blocked or not source.enabled
            self._dirty = True
        if blocked and len(registered) == 1:
            return [None] * len(batch)
        return batch

    def flush(self) -> None:
        """Save the last-seen times if they changed since the last save."""
        with self._lock:
            if self._dirty:
                self._save(self._sources)

    def _save(self, sources: dict[str, DataSource]) -> None:
        """Save ``sources`` (all of the state); the caller holds the lock."""
        if self._conf is not None:
            ordered = sorted(sources.values(), key=lambda s: s.unique_id)
            self._conf.save(EXTENSION, KEY, [_to_json(source) for source in ordered])
        self._dirty = False
