"""Sync's settings: the ``[sync]`` table of ``config.toml`` (``zeitbus.config``).

Read in one place (``load``) and handed to everything that takes events in
from other nodes: the daemon's sync service (its pulls) and the HTTP route
other nodes push to (``POST /sync/receive``), so both filter alike. Every
key is optional::

    [sync]
    live = true              # false: the daemon follows no peer on its own;
                             # peers sync only on `zeitbus sync now`
    filter_received = false  # true: the blacklist drops events received by sync too
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zeitbus import config
from zeitbus.errors import InvalidArgument


@dataclass(frozen=True, slots=True)
class SyncSettings:
    """How this node syncs."""

    live: bool = True  # the daemon keeps a live replication per peer and direction
    filter_received: bool = False  # the blacklist applies to events received by sync


def load(environ: Mapping[str, str]) -> SyncSettings:
    """The settings from the config file (defaults if there is none); InvalidArgument if bad."""
    document, where = config.read(environ)
    return from_table(document.get("sync", {}), where)


def from_table(table: Any, where: str = "config") -> SyncSettings:
    """Settings from a parsed ``[sync]`` table, checked."""
    if not isinstance(table, Mapping):
        raise InvalidArgument(f"{where}: [sync] must be a table")
    names = {f.name for f in dataclasses.fields(SyncSettings)}
    for key, value in table.items():
        if key not in names:
            raise InvalidArgument(f"{where}: unknown key sync.{key}")
        if not isinstance(value, bool):
            raise InvalidArgument(f"{where}: sync.{key} must be true or false, not {value!r}")
    return SyncSettings(**table)
