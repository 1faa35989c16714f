"""The HTTP API's settings: where it listens, who it trusts, and its limits.

They come from the ``[http]`` table of ``config.toml`` (in
``$XDG_CONFIG_HOME/zeitbus``, or the file ``ZEITBUS_CONFIG`` names), and the
daemon's ``--http-port`` / ``--no-http`` override it. Every key is optional::

    [http]
    enabled = true
    host = "127.0.0.1"
    port = 5680                # 0: any free port (the daemon writes it to daemon.json)
    hosts = []                 # names (or addresses) this machine is reached by, besides
                               # localhost, 127.0.0.1, [::1] and host: other Host headers get 421
    trust_loopback = false     # true: loopback requests need no token
    max_body_bytes = 16777216  # a larger request body gets 413
    max_batch = 10000          # events per insert, ids per get or delete (413 beyond)
    max_page_size = 10000      # events per page of a find (400 beyond)
    default_page_size = 100
    max_streams = 100          # open longpoll/continuous/eventsource feeds (429 beyond)

The file itself is read by ``zeitbus.config``; sync has its own ``[sync]``
table (``zeitbus.sync.settings``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zeitbus import config
from zeitbus.config import config_path
from zeitbus.errors import InvalidArgument

__all__ = ["DEFAULT_PORT", "HttpSettings", "config_path", "from_table", "load"]

DEFAULT_PORT = 5680


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """How the HTTP API is served."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    hosts: tuple[str, ...] = ()
    trust_loopback: bool = False
    max_body_bytes: int = 16 * 1024 * 1024
    max_batch: int = 10_000
    max_page_size: int = 10_000
    default_page_size: int = 100
    max_streams: int = 100

    def replace(self, **changes: Any) -> HttpSettings:
        """A copy with some settings changed."""
        return dataclasses.replace(self, **changes)


def load(environ: Mapping[str, str]) -> HttpSettings:
    """The settings from the config file's ``[http]`` table (defaults if there is none).

    A malformed file, an unknown key or a value of the wrong type is an
    InvalidArgument naming it: a daemon should not start on a config it
    misreads.
    """
    document, where = config.read(environ)
    return from_table(document.get("http", {}), where)


def from_table(table: Mapping[str, Any], where: str = "config") -> HttpSettings:
    """Settings from a parsed ``[http]`` table, checked."""
    if not isinstance(table, Mapping):
        raise InvalidArgument(f"{where}: [http] must be a table")
    fields = {f.name: f for f in dataclasses.fields(HttpSettings)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in fields:
            raise InvalidArgument(f"{where}: unknown key http.{key}")
        default = getattr(HttpSettings(), key)
        if key == "hosts":
            values[key] = _names(value, where)
            continue
        if type(value) is not type(default):
            raise InvalidArgument(
                f"{where}: http.{key} must be a {type(default).__name__}, not {value!r}"
            )
        if isinstance(value, int) and not isinstance(value, bool):
            low = 0 if key == "port" else 1
            high = 65535 if key == "port" else 2**31
            if not low <= value <= high:
                raise InvalidArgument(f"{where}: http.{key} must be in {low}..{high}")
        values[key] = value
    return HttpSettings(**values)


def _names(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(
        isinstance(name, str) and name.strip() and not any(c in name for c in "/ @")
        for name in value
    ):
        raise InvalidArgument(
            f"{where}: http.hosts must be a list of host names or addresses, not {value!r}"
        )
    return tuple(value)
