"""Serving the HTTP API inside the daemon's event loop, with uvicorn.

Two listeners share one app: TCP on ``host:port`` (127.0.0.1:5680 by
default; port 0 takes any free port), and a Unix socket beside the log,
``zeitbus.sock``, made readable and writable by the owner alone: whoever can
connect to it is the data directory's owner (or root), so its requests need
no token. ``daemon.json`` beside the log says where both are, for the
client library and the CLI to find a running daemon; it is removed at exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import uvicorn
from starlette.types import ASGIApp

from zeitbus import discovery
from zeitbus.engine import Engine
from zeitbus.errors import DiskFull
from zeitbus.http.app import Api, Extras, create_app, trusted
from zeitbus.http.hosts import allowed_hosts, check_host
from zeitbus.http.settings import HttpSettings

logger = logging.getLogger(__name__)

SOCKET_NAME = "zeitbus.sock"
_MAX_SOCKET_PATH = 104  # sun_path is 108 bytes on Linux, 104 on the BSDs
_GRACE_SECONDS = 1  # open feeds get this long to end at shutdown, then are cancelled


class _Server(uvicorn.Server):
    """uvicorn in someone else's loop: the daemon owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class HttpService:
    """The running listeners."""

    url: str
    socket_path: Path | None
    discovery: Path | None
    _servers: list[_Server] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    api: Api | None = None  # what the routes share (its ``closing`` is set on stop)

    async def stop(self) -> None:
        """Stop listening, end open requests, remove the discovery file and socket."""
        if self.api is not None:
            self.api.closing.set()  # long polls answer now (see Api.closing)
        for server in self._servers:
            server.should_exit = True
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for path in (self.discovery, self.socket_path):
            if path is not None:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()


def _config(app: ASGIApp, lifespan: Literal["on", "off"]) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        lifespan=lifespan,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=_GRACE_SECONDS,
        server_header=False,
    )


def _tcp_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Answers go out as head and body in two writes; without TCP_NODELAY the
    # second waits for the client's delayed ACK on a kept-alive connection
    # (40 ms a request). Accepted sockets inherit it from the listener.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _unix_socket(path: Path) -> socket.socket | None:
    if len(os.fsencode(path)) >= _MAX_SOCKET_PATH:
        logger.warning("Not serving HTTP on a Unix socket: the path %s is too long", path)
        return None
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # a socket left by a daemon that was killed
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)  # the socket is born 0600: no window where others may connect
    try:
        sock.bind(str(path))
    finally:
        os.umask(old)
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def start(
    engine: Engine, settings: HttpSettings, data_dir: Path | None, extras: Extras | None = None
) -> HttpService:
    """Start the listeners; OSError if the TCP port cannot be had."""
    app = create_app(engine, settings, extras=extras)
    tcp = _tcp_socket(settings.host, settings.port)
    host, port = tcp.getsockname()[:2]
    url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    checked = check_host(app, allowed_hosts(settings.host, settings.hosts))
    listeners: list[tuple[ASGIApp, socket.socket, Literal["on", "off"]]] = [(checked, tcp, "on")]
    socket_path = None
    if data_dir is not None:
        socket_path = data_dir / SOCKET_NAME
        unix = _unix_socket(socket_path)
        if unix is None:
            socket_path = None
        else:
            listeners.append((trusted(app), unix, "off"))
    service = HttpService(url, socket_path, None, api=app.state.api)
    for served, sock, lifespan in listeners:
        server = _Server(_config(served, lifespan))
        service._servers.append(server)
        service._tasks.append(asyncio.ensure_future(server.serve(sockets=[sock])))
    for server in service._servers:
        while not server.started:
            if any(task.done() for task in service._tasks):
                await service.stop()
                raise OSError("the HTTP server did not start")
            await asyncio.sleep(0.01)
    if data_dir is not None:
        database = "" if engine.path is None else str(engine.path.absolute())
        published = discovery.Daemon(os.getpid(), url, str(socket_path or ""), database)
        try:
            service.discovery = discovery.write(data_dir, published)
        except DiskFull as error:
            # Served all the same: the log takes writes again once space is freed,
            # and meanwhile the CLI, not finding the daemon, works on the file.
            logger.warning(
                "Not publishing %s: %s; clients will not find this daemon's HTTP API "
                "until it restarts",
                discovery.NAME,
                error,
            )
    logger.info("Serving HTTP on %s%s", url, f" and {socket_path}" if socket_path else "")
    return service
