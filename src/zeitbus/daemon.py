"""The daemon: the log, its extensions, and the interfaces that serve them.

``zeitbus daemon`` behaves as Zeitgeist's ``zeitgeist-daemon`` on the session
bus (``zeitbus.dbus.session``: an existing instance, --replace, --quit, the
engine's name) and serves the HTTP API (``zeitbus.http``) from the same
event loop. In order: connect to the session bus (none is not fatal: the
log is served over HTTP alone); make way for us on it; open the log (exit
21 if it cannot be opened, 22 if it is locked); load the extensions; export
the D-Bus objects; start syncing with the stored peers (``zeitbus.sync.service``,
``[sync]`` in config.toml); listen for HTTP; take the bus name. It runs until Quit,
SIGHUP, SIGINT or SIGTERM (exit 0), or until it loses the name or the bus.

Where the log lives: ``--data-dir`` (or ``ZEITBUS_DATA_DIR``) if given, else
``$ZEITGEIST_DATABASE_PATH`` (``:memory:`` for a log that lives and dies with
the process), else ``zeitbus.sqlite`` in ``$ZEITGEIST_DATA_PATH``, else in
Zeitbus's data directory. A Zeitgeist database found there (or Zeitgeist's
``activity.sqlite`` beside a log that does not exist yet) is migrated into a
Zeitbus log first, keeping every event id (``takeover``).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from zeitbus.dbus import takeover
from zeitbus.dbus.blacklist import BlacklistService
from zeitbus.dbus.datasources import DataSourceService
from zeitbus.dbus.log import ENGINE_BUS_NAME
from zeitbus.dbus.session import EXIT_ERROR, Refused, Session
from zeitbus.engine import Engine
from zeitbus.errors import DatabaseBusy, ZeitbusError
from zeitbus.extensions import loaded as extensions
from zeitbus.http import settings as http_settings
from zeitbus.location import MEMORY, log_location, warn_if_shared
from zeitbus.sync import settings as sync_settings
from zeitbus.sync.peers import Peer
from zeitbus.sync.service import Endpoint, SyncService

if TYPE_CHECKING:
    from zeitbus.http.server import HttpService

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_CANNOT_OPEN = 21
EXIT_LOCKED = 22

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True, slots=True)
class Options:
    """The daemon's command line."""

    replace: bool = False
    quit: bool = False
    log_level: str = "WARNING"
    log_file: Path | None = None
    data_dir: Path | None = None
    http: bool = True
    http_port: int | None = None  # None: the config file's (default 5680)


class StartupError(Exception):
    """The daemon cannot start; ``status`` is its exit status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def open_engine(location: str, environ: Mapping[str, str] | None = None) -> Engine:
    """Open the log at ``location``; StartupError with upstream's exit status if it fails.

    A Zeitgeist database there (or Zeitgeist's ``activity.sqlite`` beside a
    log that does not exist yet) is migrated first (``takeover.open_log``).
    """
    if location == MEMORY:
        return Engine.open(MEMORY)
    path = Path(location)
    try:
        return takeover.open_log(path, os.environ if environ is None else environ)
    except takeover.MigrationFailed as error:
        raise StartupError(EXIT_CANNOT_OPEN, error.message) from error
    except DatabaseBusy as error:
        raise StartupError(
            EXIT_LOCKED,
            f"the database is locked ({error.message}); if another instance is "
            "running, use --replace",
        ) from error
    except (ZeitbusError, OSError) as error:
        raise StartupError(
            EXIT_CANNOT_OPEN, f"could not open the database {path}: {error}"
        ) from error


def vacuum(location: str) -> int:
    """``--vacuum``: compact the database file, report as upstream does, exit."""
    if location == MEMORY:
        logger.warning("Using in-memory database, no VACUUM needed")
        return EXIT_OK
    try:
        engine = open_engine(location)
    except StartupError as error:
        logger.warning("%s", error)
        return error.status
    with engine:
        sys.stdout.write("Performing VACUUM operation... ")
        sys.stdout.flush()
        try:
            engine.vacuum()
        except ZeitbusError as error:
            sys.stdout.write("FAIL\n")
            logger.warning("%s", error.message)
            return EXIT_ERROR
        sys.stdout.write("OK\n")
    return EXIT_OK


def setup_logging(level: str, log_file: Path | None) -> None:
    """Log to stderr, or append to ``log_file``, at ``level`` (the only handler setup)."""
    handler: logging.Handler
    if log_file is not None:
        handler = logging.FileHandler(log_file, mode="a", encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s [%(name)s] %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # dbus-fast is chatty below WARNING, and upstream's tests never read our stderr pipe;
    # httpx logs every request sync makes (a long poll each half minute per peer).
    for chatty in ("dbus_fast", "asyncio", "httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))


# Young-generation collections per allocations: Python's default (700) runs a
# collection every few hundred tuples, and an insert of 100 events makes tens of
# thousands (4% of the daemon's time in a profile). The daemon makes few
# reference cycles, so collecting a hundred times less often costs little memory.
_GC_THRESHOLD = (70_000, 10, 10)


def _tune_garbage_collector() -> None:
    """Move what start-up made out of the collector's way, and collect less often."""
    gc.collect()
    gc.freeze()  # modules, the ontology, caches built at start: never garbage
    gc.set_threshold(*_GC_THRESHOLD)


def run(options: Options, environ: Mapping[str, str] | None = None) -> int:
    """Run the daemon until it is told to stop; returns the exit status."""
    env = os.environ if environ is None else environ
    setup_logging(options.log_level, options.log_file)
    try:
        return asyncio.run(_serve(options, log_location(env, options.data_dir), env))
    except StartupError as error:
        logger.warning("%s", error)
        return error.status


def _http_settings(options: Options, environ: Mapping[str, str]) -> http_settings.HttpSettings:
    """The config file's HTTP settings with the command line's on top."""
    try:
        settings = http_settings.load(environ)
    except ZeitbusError as error:
        raise StartupError(EXIT_ERROR, f"bad configuration: {error.message}") from error
    if not options.http:
        settings = settings.replace(enabled=False)
    if options.http_port is not None:
        settings = settings.replace(port=options.http_port)
    return settings


def _sync_settings(environ: Mapping[str, str]) -> sync_settings.SyncSettings:
    """The config file's ``[sync]`` table: the one place it is read for the daemon."""
    try:
        return sync_settings.load(environ)
    except ZeitbusError as error:
        raise StartupError(EXIT_ERROR, f"bad configuration: {error.message}") from error


async def _start_http(
    engine: Engine,
    location: str,
    settings: http_settings.HttpSettings,
    loaded: extensions.Loaded,
    bus: Session | None = None,
    sync: SyncService | None = None,
) -> HttpService | None:
    """The HTTP API, unless disabled; a port that cannot be had is logged, not fatal.

    It serves resources for the loaded extensions too, changing them through
    their D-Bus services when there are some (so the bus hears of changes
    made over HTTP). Its libraries are imported here, so a daemon run with
    --no-http never loads them.
    """
    if not settings.enabled:
        return None
    from zeitbus.http import server as http_server
    from zeitbus.http.app import BlacklistControl, DataSourceControl, Extras

    blacklist: BlacklistControl | None = None
    if loaded.blacklist is not None:
        found = None if bus is None else bus.find(BlacklistService)
        blacklist = found or extensions.LocalBlacklist(loaded.blacklist)
    datasources: DataSourceControl | None = None
    if loaded.registry is not None:
        found_registry = None if bus is None else bus.find(DataSourceService)
        datasources = found_registry or extensions.LocalRegistry(loaded.registry)
    extras = Extras(blacklist=blacklist, datasources=datasources, index=loaded.index, sync=sync)
    data_dir = None if location == MEMORY else Path(location).parent
    try:
        return await http_server.start(engine, settings, data_dir, extras)
    except OSError as error:
        logger.warning(
            "Not serving HTTP: cannot listen on %s:%d (%s)", settings.host, settings.port, error
        )
        return None


async def _serve(options: Options, location: str, environ: Mapping[str, str]) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        bus: Session | None = await Session.connect(stop)
    except Exception as error:  # no address, no socket, auth refused: all the same to us
        if options.quit or options.replace:
            raise StartupError(EXIT_ERROR, f"cannot connect to the session bus: {error}") from error
        # A server, a container, a login without a bus: the log is served all the same.
        logger.warning(
            "No session bus (%s): not serving %s on D-Bus; running until stopped",
            error,
            ENGINE_BUS_NAME,
        )
        bus = None
    try:
        if bus is not None:
            await bus.make_way(replace=options.replace, quit=options.quit)
            if options.quit:
                return EXIT_OK
        settings = _http_settings(options, environ)
        syncing = _sync_settings(environ)
        engine = await asyncio.to_thread(open_engine, location, environ)
        if location != MEMORY:
            warn_if_shared(Path(location).parent)
        try:
            await _serve_log(engine, location, settings, bus, stop, environ, syncing)
        finally:
            await asyncio.to_thread(engine.close)
    except Refused as error:
        raise StartupError(error.status, str(error)) from error
    finally:
        if bus is not None:
            bus.disconnect()
    return EXIT_OK


def _connect_peer(peer: Peer) -> Endpoint:
    """A sync peer's endpoint (``sync.http_peer``): httpx is imported once a peer is used."""
    from zeitbus.sync.http_peer import connect

    return connect(peer)


async def _serve_log(
    engine: Engine,
    location: str,
    settings: http_settings.HttpSettings,
    bus: Session | None,
    stop: asyncio.Event,
    environ: Mapping[str, str],
    syncing: sync_settings.SyncSettings | None = None,
) -> None:
    """Serve the open log until told to stop (or until the bus goes, if there is one)."""
    loaded = extensions.Loaded()
    http = None
    sync = None
    try:
        loaded = await asyncio.to_thread(extensions.load, engine, environ)
        await loaded.start()
        if bus is not None:
            await bus.start(engine, loaded, location)
        # After the extensions: received events pass the blacklist's hook if configured to.
        sync = await asyncio.to_thread(SyncService, engine, syncing, connect=_connect_peer)
        await sync.start()
        http = await _start_http(engine, location, settings, loaded, bus, sync)
        if bus is not None:
            await bus.own_name()
        _tune_garbage_collector()  # after the name: a replaced instance waits on it
        logger.info("Serving the log at %s%s", location, "" if bus else " without D-Bus")
        waiters: list[asyncio.Future[object]] = [asyncio.ensure_future(stop.wait())]
        if bus is not None:
            waiters.append(asyncio.ensure_future(bus.closed()))
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
    finally:
        if http is not None:
            await http.stop()
        if sync is not None:  # after HTTP: no request is left to add a peer or catch up
            await sync.stop()
        if bus is not None:
            await bus.stop()
        await loaded.stop()
