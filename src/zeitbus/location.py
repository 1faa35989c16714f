"""Where the log lives, and keeping what is there private.

One answer for the daemon and every command, so that a token made with
``zeitbus token create`` is in the log the daemon serves. In order:
``--data-dir`` (or ``ZEITBUS_DATA_DIR``); ``$ZEITGEIST_DATABASE_PATH`` (a
file of any name, or ``:memory:`` for a log that lives and dies with the
daemon); ``zeitbus.sqlite`` in ``$ZEITGEIST_DATA_PATH``; ``zeitbus.sqlite``
in ``$XDG_DATA_HOME/zeitbus`` (``~/.local/share/zeitbus``). Everything else
the daemon keeps (the full-text index, ``daemon.json``, the socket) lives in
the log's directory.

An activity log is a record of a person's life, and the same file holds the
HTTP API's tokens: the directory Zeitbus makes is 0700 and the files it makes
are 0600, whatever the umask; a file of ours that others can read is made
private when it is opened, and a directory others can read (one the user
chose) gets a warning, not a change.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from zeitbus.errors import InvalidArgument

logger = logging.getLogger(__name__)

DB_NAME = "zeitbus.sqlite"
MEMORY = ":memory:"
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
_OTHERS = stat.S_IRWXG | stat.S_IRWXO


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME/zeitbus``, or ``~/.local/share/zeitbus``."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "zeitbus"


def log_location(environ: Mapping[str, str], data_dir: Path | None = None) -> str:
    """The log's file (absolute), or ":memory:" (see the module docstring)."""
    if data_dir is not None:
        return str((data_dir / DB_NAME).absolute())
    configured = environ.get("ZEITGEIST_DATABASE_PATH", "")
    if configured == MEMORY:
        return MEMORY
    if configured:
        return str(Path(configured).absolute())
    zeitgeist_data = environ.get("ZEITGEIST_DATA_PATH", "")
    base = Path(zeitgeist_data) if zeitgeist_data else default_data_dir(environ)
    return str((base / DB_NAME).absolute())


def data_dir_of(location: str) -> Path:
    """The directory of the log at ``location``; InvalidArgument for an in-memory log.

    A command cannot reach a log that lives in a daemon's memory, so it says
    so rather than work on a log of its own that nobody else sees.
    """
    if location == MEMORY:
        raise InvalidArgument(
            "ZEITGEIST_DATABASE_PATH is :memory:, a log only the daemon holding it can "
            "reach; give --data-dir (or ZEITBUS_DATA_DIR) to use a log on disk"
        )
    return Path(location).parent


def private_dir(path: Path) -> None:
    """Make ``path`` (and missing parents) if needed; the one Zeitbus makes is 0700.

    Parents are made as ``mkdir -p`` does: only the log's own directory is made
    private, since a parent (``~/.local/share``) is not Zeitbus's to change.
    """
    if path.is_dir():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=PRIVATE_DIR)
    except FileExistsError:
        return
    os.chmod(path, PRIVATE_DIR)  # mkdir's mode went through the umask


def private_file(path: Path, *, create: bool = True) -> None:
    """Make ``path`` 0600 if others may use it, creating it empty if ``create``."""
    flags = os.O_RDONLY | os.O_CLOEXEC | (os.O_CREAT if create else 0)
    try:
        fd = os.open(path, flags, PRIVATE_FILE)
    except FileNotFoundError:
        if create:
            raise
        return
    try:
        info = os.fstat(fd)
        if info.st_mode & _OTHERS and info.st_uid == os.geteuid():
            # A log made before Zeitbus kept its files private, or by another tool
            # under a lax umask: ours to tighten.
            os.fchmod(fd, PRIVATE_FILE)
            logger.info("Made %s private (it was %04o)", path, stat.S_IMODE(info.st_mode))
    finally:
        os.close(fd)


def private_database(path: Path) -> None:
    """Make an SQLite file's directory and the file private, its WAL and shm too.

    SQLite gives the WAL and shm files it makes the database's mode, so once
    the database is 0600 they are born 0600; ones left from before are tightened.
    """
    private_dir(path.parent)
    private_file(path)
    for suffix in ("-wal", "-shm", "-journal"):
        private_file(path.with_name(path.name + suffix), create=False)


def warn_if_shared(path: Path) -> bool:
    """Log a warning if users other than the owner can read or enter ``path``; True if so."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    if not mode & (stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH):
        return False
    logger.warning(
        "The data directory %s can be read by other users (mode %04o): "
        "the activity log is private; `chmod 700 %s` keeps it so",
        path,
        stat.S_IMODE(mode),
        path,
    )
    return True
