"""Storage media and their availability (upstream ``extensions/storage-monitor.vala``).

Theory of operation. Every subject names the storage medium it lives on:
``net`` for network URIs, ``unknown`` otherwise (the engine fills this in on
insert, as upstream's StorageMonitor does; ``local`` and volume UUIDs come only
from clients). Queries can ask for subjects whose storage is available or not
(StorageState); the engine reads that from its ``storage`` table, where a
medium's state is NULL (unknown: it matches both), 1 (available) or 0 (not).

This module is the one writer of those states. A watcher (the D-Bus adapter's
network watch) calls ``set_available`` / ``set_unavailable``; the medium's
state, icon and display name are saved in ``ExtensionConf`` (key ``media``)
and written to the engine's ``storage`` row of that medium, if one exists yet.
At startup the saved states are written again, which also reaches rows created
since the last change. ``media`` lists what GetStorages reports: every medium
of the engine's table and every watched one.

``available`` is reported as upstream does (state 1) with one fix: ``local``
and ``unknown``, which upstream documents as always available but reports as
unavailable (their state is never set), are reported available, and so is a
watched medium whose state nobody could determine. The engine's states are
only ever written from what a watcher saw, so queries behave as upstream's.

The two statements on the engine's ``storage`` and ``term`` tables
(store/schema.py) are the only places this module touches the store's layout.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from zeitbus.engine import Engine
from zeitbus.extensions.conf import ExtensionConf

logger = logging.getLogger(__name__)

EXTENSION = "storage_monitor"
KEY = "media"
ALWAYS_AVAILABLE = ("local", "unknown")


@dataclass(frozen=True, slots=True)
class Medium:
    """A storage medium as GetStorages describes it."""

    name: str
    available: bool
    icon: str = ""
    display_name: str = ""


@dataclass(frozen=True, slots=True)
class _Watched:
    available: bool | None  # None: the watcher could not tell
    icon: str
    display_name: str


class StorageMedia:
    """The media subjects live on, and which of them are available."""

    def __init__(self, engine: Engine, conf: ExtensionConf | None = None) -> None:
        self._engine = engine
        self._conf = conf
        self._lock = threading.Lock()
        self._watched: dict[str, _Watched] = self._load()
        for name, watched in self._watched.items():
            self._write_state(name, watched)

    def _load(self) -> dict[str, _Watched]:
        stored = None if self._conf is None else self._conf.load(EXTENSION, KEY)
        if stored is None:
            return {}
        try:
            return {
                str(name): _Watched(
                    None if value["available"] is None else bool(value["available"]),
                    str(value["icon"]),
                    str(value["display_name"]),
                )
                for name, value in dict(stored).items()
            }
        except (TypeError, ValueError, KeyError):
            logger.warning("Could not load the stored storage media; starting empty")
            return {}

    def media(self) -> list[Medium]:
        """Every medium known to the log or watched, by name."""
        rows = self._engine.storage_media()
        with self._lock:
            watched = dict(self._watched)
        found: dict[str, Medium] = {}
        for name, state, icon, display_name in rows:
            found[name] = Medium(
                name,
                state == 1 or (state is None and name in ALWAYS_AVAILABLE),
                icon or "",
                display_name or "",
            )
        for name, medium in watched.items():
            found[name] = Medium(
                name, medium.available is not False, medium.icon, medium.display_name
            )
        return [found[name] for name in sorted(found)]

    def watch(self, name: str, icon: str, display_name: str) -> None:
        """Start listing ``name`` before its state is known (available until told otherwise)."""
        with self._lock:
            if name not in self._watched:
                self._change(name, _Watched(None, icon, display_name))

    def set_available(self, name: str, icon: str, display_name: str) -> bool:
        """``name`` is available; True if that is news."""
        with self._lock:
            return self._change(name, _Watched(True, icon, display_name))

    def set_unavailable(self, name: str) -> bool:
        """``name`` is not available; True if that is news."""
        with self._lock:
            known = self._watched.get(name)
            icon, display_name = (known.icon, known.display_name) if known else ("", "")
            return self._change(name, _Watched(False, icon, display_name))

    def _change(self, name: str, watched: _Watched) -> bool:
        if self._watched.get(name) == watched:
            return False
        media = {**self._watched, name: watched}
        if self._conf is not None:
            self._conf.save(
                EXTENSION,
                KEY,
                {
                    key: {
                        "available": value.available,
                        "icon": value.icon,
                        "display_name": value.display_name,
                    }
                    for key, value in media.items()
                },
            )
        self._watched = media
        self._write_state(name, watched)
        return True

    def _write_state(self, name: str, watched: _Watched) -> None:
        """Give the engine's storage row of ``name`` (if any) this state."""
        if watched.available is None:
            return
        self._engine.set_storage_state(name, watched.available, watched.icon, watched.display_name)
