"""``daemon.json``: where a running daemon serves a data directory's log.

The daemon writes it beside the log once its HTTP listeners are up and
removes it when it stops; the client library and the CLI read it to find
the daemon. Reading it needs no HTTP library, so a CLI command that finds
no daemon never imports one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

NAME = "daemon.json"


@dataclass(frozen=True, slots=True)
class Daemon:
    """Where a running daemon listens."""

    pid: int
    url: str
    socket: str  # "" when it serves no Unix socket


def write(data_dir: Path, daemon: Daemon) -> Path:
    """Publish ``daemon`` for ``data_dir`` (atomically); the file's path."""
    path = data_dir / NAME
    temporary = path.with_suffix(".tmp")
    info = {"pid": daemon.pid, "url": daemon.url, "socket": daemon.socket}
    temporary.write_text(json.dumps(info) + "\n", encoding="utf-8")
    temporary.replace(path)
    return path


def find(data_dir: Path) -> Daemon | None:
    """The daemon serving ``data_dir``, if one runs (a dead one's file is ignored)."""
    try:
        info = json.loads((data_dir / NAME).read_text(encoding="utf-8"))
        daemon = Daemon(int(info["pid"]), str(info["url"]), str(info.get("socket", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(daemon.pid, 0)
    except ProcessLookupError:
        return None  # a daemon that was killed left its file behind
    except PermissionError:
        pass  # someone else's process: it runs
    return daemon
