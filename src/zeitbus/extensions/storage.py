"""Storage media and their availability (upstream ``extensions/storage-monitor.vala``).

Theory of operation. Every subject names the storage medium it lives on:
``net`` for network URIs, ``unknown`` otherwise (the engine fills this in on
insert, as upstream's StorageMonitor does; ``local`` and volume UUIDs come only
from clients). Queries can ask for subjects whose storage is available or not
(StorageState); the engine reads that from its ``storage`` table, where a
medium's state is NULL (unknown: it matches both), 1 (available) or 0 (not).

This module is the one writer of those states. A watcher (the D-Bus adapter's
network watch) calls ``set_available`` / ``set_unavailable`` once it knows a
medium's state; the medium's state, icon and display name are saved in
``ExtensionConf`` (key ``media``) and written to the engine's ``storage`` row
of that medium, which is created if no subject named the medium yet (as
upstream inserts it), so that subjects stored on it later match the right
StorageState. At startup the saved states are written again.

``media`` is what GetStorages reports, as upstream reports it: every medium of
the engine's table and every one a watcher reported on. A medium is available
only if its state is 1; one whose state nobody set is unavailable with no
icon and no display name. That holds for ``local`` and ``unknown`` too, which
upstream's comments call always available but whose state upstream never
sets, and for ``net`` until a network service reports: without one
(no system bus, neither NetworkManager nor ConnMan) ``net`` is listed only
once a subject is on it, unavailable, exactly as the real daemon shows
(tests/dbus/test_storage_monitor.py). Queries are unaffected: an unset state
matches both StorageStates, there as here.

The store's layout stays in the store: ``Engine.storage_media`` and
``Engine.set_storage_state`` are all this module uses of it.
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


@dataclass(frozen=True, slots=True)
class Medium:
    """A storage medium as GetStorages describes it."""

    name: str
    available: bool
    icon: str = ""
    display_name: str = ""


@dataclass(frozen=True, slots=True)
class _Watched:
    available: bool
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
            # Earlier versions also saved a watched medium before its state was
            # known (available None): nothing was reported about it, so it is not
            # listed (upstream lists no medium before it has a storage row).
            return {
                str(name): _Watched(
                    bool(value["available"]), str(value["icon"]), str(value["display_name"])
                )
                for name, value in dict(stored).items()
                if value["available"] is not None
            }
        except (TypeError, ValueError, KeyError):
            logger.warning("Could not load the stored storage media; starting empty")
            return {}

    def media(self) -> list[Medium]:
        """Every medium known to the log or reported on by a watcher, by name."""
        rows = self._engine.storage_media()
        with self._lock:
            watched = dict(self._watched)
        found: dict[str, Medium] = {}
        for name, state, icon, display_name in rows:
            found[name] = Medium(name, state == 1, icon or "", display_name or "")
        for name, medium in watched.items():
            found[name] = Medium(name, medium.available, medium.icon, medium.display_name)
        return [found[name] for name in sorted(found)]

    def set_available(self, name: str, icon: str, display_name: str) -> bool:
        """``name`` is available; True if that is news."""
        with self._lock:
            return self._change(name, _Watched(True, icon, display_name))

    def set_unavailable(self, name: str) -> bool:
        """``name`` is not available; True if that is news.

        It keeps the icon and display name it had when it was last available,
        if ever (upstream updates only the state of an existing row).
        """
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
        """Give the engine's storage row of ``name`` this state (creating the row)."""
        self._engine.set_storage_state(name, watched.available, watched.icon, watched.display_name)
