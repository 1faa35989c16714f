"""``daemon.json``: where a running daemon serves a data directory's log.

The daemon writes it beside the log once its HTTP listeners are up and
removes it when it stops; the client library and the CLI read it to find
the daemon. Reading it needs no HTTP library, so a CLI command that finds
no daemon never imports one.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from zeitbus.location import PRIVATE_FILE
from zeitbus.store import failures

NAME = "daemon.json"


@dataclass(frozen=True, slots=True)
class Daemon:
    """Where a running daemon listens."""

    pid: int
    url: str
    socket: str  # "" when it serves no Unix socket
    database: str = ""  # the log's file; "" in files written before it was recorded


def write(data_dir: Path, daemon: Daemon) -> Path:
    """Publish ``daemon`` for ``data_dir`` (atomically, owner-only); the file's path.

    ``DiskFull`` if the disk has no room for it (nothing is left behind).
    """
    path = data_dir / NAME
    temporary = path.with_suffix(".tmp")
    info = {
        "pid": daemon.pid,
        "url": daemon.url,
        "socket": daemon.socket,
        "database": daemon.database,
    }
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()  # left by a daemon that was killed, perhaps with another mode
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(json.dumps(info) + "\n")
        temporary.replace(path)
    except OSError as error:
        with contextlib.suppress(OSError):
            temporary.unlink()
        if failures.is_full(error):
            raise failures.disk_full(error, str(path)) from error
        raise
    return path


def find(data_dir: Path, database: str | None = None) -> Daemon | None:
    """The daemon serving ``data_dir``, if one runs (a dead one's file is ignored).

    With ``database``, only a daemon serving that file: two logs can share a
    directory (``ZEITGEIST_DATABASE_PATH`` names any file).
    """
    try:
        info = json.loads((data_dir / NAME).read_text(encoding="utf-8"))
        daemon = Daemon(
            int(info["pid"]),
            str(info["url"]),
            str(info.get("socket", "")),
            str(info.get("database", "")),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if database is not None and daemon.database and daemon.database != database:
        return None
    try:
        os.kill(daemon.pid, 0)
    except ProcessLookupError:
        return None  # a daemon that was killed left its file behind
    except PermissionError:
        pass  # someone else's process: it runs
    return daemon
