"""Failed writes: ending the transaction, and a full disk named and logged once.

Theory of operation. SQLite ends a transaction by itself after some errors
(SQLITE_FULL among them, depending on which write failed), so the ROLLBACK
after a failure runs only while a transaction is still open: an
unconditional one failed with "cannot rollback - no transaction is active"
and that error hid the cause. A full disk, SQLITE_FULL from SQLite or
ENOSPC/EDQUOT from a file write, becomes ``DiskFull`` naming the file.

Every writer that meets a full disk (the log's writes, its WAL checkpoints,
the full-text index) reports it here with ``failed``, and each write that
succeeds again with ``wrote``. The first writer to fail in a directory logs
one line; the last one there to write again logs one more. A daemon whose
disk fills up logs those two lines, not one per refused batch, and a writer
that keeps failing while another works keeps the directory "full" (no line
per batch either way).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator

from zeitbus.errors import NO_SPACE, DiskFull

logger = logging.getLogger(__name__)
# Heard only where logging is set up (the daemon's log): without a handler Python
# would print these lines on stderr, and a command that meets a full disk says so
# in its one error line already.
logger.addHandler(logging.NullHandler())

_lock = threading.Lock()
_failing: dict[str, str] = {}  # writer -> directory of the file it could not write


def rollback(conn: sqlite3.Connection) -> None:
    """End ``conn``'s failed transaction, unless SQLite already did (see the module doc).

    Called while the write's own error is being raised: a ROLLBACK that fails
    too is logged, not raised, so the caller sees why the write failed.
    """
    if not conn.in_transaction:
        return
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error as error:
        logger.warning("Rolling back a failed write failed too: %s", error)


def is_full(error: BaseException, path: str = "") -> bool:
    """True if ``error`` writing ``path`` (a file) means there is no room left for it.

    SQLite's "database or disk is full", a file write's ENOSPC or EDQUOT, and
    the I/O errors SQLite reports instead of SQLITE_FULL for some writes (it
    does for growing the shared-memory file, which opening a log does, say)
    when ``path``'s file system has next to nothing free.
    """
    if isinstance(error, sqlite3.Error):
        code = getattr(error, "sqlite_errorcode", 0)
        if code & 0xFF == sqlite3.SQLITE_FULL:  # the primary code is the low byte
            return True
        return code in _WRITE_ERRORS and bool(path) and _no_room(path)
    return isinstance(error, OSError) and error.errno in NO_SPACE


_WRITE_ERRORS = frozenset(
    (
        sqlite3.SQLITE_IOERR_WRITE,
        sqlite3.SQLITE_IOERR_SHMSIZE,
        sqlite3.SQLITE_IOERR_FSYNC,
        sqlite3.SQLITE_IOERR_TRUNCATE,
    )
)
_NEXT_TO_NOTHING = 1 << 20  # bytes free: less than what one batch of events may need


def _no_room(path: str) -> bool:
    try:
        space = os.statvfs(os.path.dirname(os.path.abspath(path)))
    except OSError:
        return False
    return space.f_bavail * space.f_frsize < _NEXT_TO_NOTHING


def disk_full(error: BaseException, path: str) -> DiskFull:
    """The ``DiskFull`` for ``error`` (one ``is_full`` accepts) writing ``path``."""
    if isinstance(error, OSError):
        return DiskFull.at(str(error.filename or path), error.strerror or "")
    return DiskFull.at(path)  # SQLite's own words say no more than the message


@contextlib.contextmanager
def no_space(path: str) -> Iterator[None]:
    """Raise a file write's ENOSPC or EDQUOT as ``DiskFull`` naming ``path``."""
    try:
        yield
    except OSError as error:
        if not is_full(error):
            raise
        raise disk_full(error, path) from error


def failed(writer: str, error: DiskFull) -> None:
    """``writer`` (a name unique to it) found the disk full; logs if it is the first there."""
    directory = os.path.dirname(error.path) or error.path
    with _lock:
        first = directory not in _failing.values()
        _failing[writer] = directory
    if first:
        logger.warning(
            "%s; writing there resumes once space is freed (nothing stored is lost)",
            error.message[:1].upper() + error.message[1:],
        )


def wrote(writer: str) -> None:
    """``writer`` wrote; logs if it was the last one there the disk was full for."""
    if writer not in _failing:  # the usual case: one lookup per commit, no lock
        return
    with _lock:
        directory = _failing.pop(writer, None)
        if directory is None or directory in _failing.values():
            return
    # As loud as the line that said the disk was full, so whoever saw that sees this.
    logger.warning("Writing to %s works again", directory)
