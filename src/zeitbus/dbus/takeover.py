"""Taking over a Zeitgeist data directory: migrate ``activity.sqlite`` into a Zeitbus log.

When the daemon's log location holds a Zeitgeist database (it was pointed at
one with ``ZEITGEIST_DATABASE_PATH``), or its data directory
(``ZEITGEIST_DATA_PATH``) holds Zeitgeist's ``activity.sqlite`` and no
Zeitbus log yet, the daemon migrates it before it serves:

1. A consistent copy of the Zeitgeist file (SQLite's backup API, so a WAL
   that was never checkpointed is included) goes to
   ``$ZEITGEIST_DATABASE_BACKUP_PATH``, or ``<file>.zeitgeist.bck`` next to
   it, when the file itself is about to be replaced; a file that stays where
   it is (the data-directory case) is its own backup and is never written.
2. Every event is imported with its Zeitgeist id (``zeitgeist_import``, which
   reads the file read-only) into a new Zeitbus log beside the target.
3. The new log is renamed over the target in one step, so a failure at any
   point leaves the Zeitgeist file as it was and no half-made log behind.

Zeitgeist's schemas 10 and 11 (1.0.3, 1.0.4) are supported. Older ones (the
0.7-0.9 databases of upstream's ``upgrade`` tests) and anything unreadable
are refused (exit 21) with the reason. The extensions' state in Zeitgeist's
``extensions_conf`` (serialized GVariants) is not carried over yet: the
blacklist and the data sources start empty, and the daemon logs that.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path

from zeitbus.engine import Engine
from zeitbus.zeitgeist_import import ImportReport, import_zeitgeist

logger = logging.getLogger(__name__)

ZEITGEIST_DB_NAME = "activity.sqlite"


def is_zeitgeist_database(path: Path) -> bool:
    """True if ``path`` is a non-empty SQLite file with Zeitgeist's tables."""
    try:
        if not path.is_file() or path.stat().st_size == 0:
            return False
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    except (OSError, sqlite3.Error):
        return False
    try:
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    except sqlite3.Error:
        return False
    finally:
        conn.close()
    return {"schema_version", "event", "uri"} <= names


def source_to_migrate(target: Path, environ: Mapping[str, str]) -> Path | None:
    """The Zeitgeist file to migrate into ``target``, or None."""
    if is_zeitgeist_database(target):
        return target
    if target.exists() or environ.get("ZEITGEIST_DATABASE_PATH"):
        return None
    candidate = target.parent / ZEITGEIST_DB_NAME
    return candidate if is_zeitgeist_database(candidate) else None


def backup_path(source: Path, environ: Mapping[str, str]) -> Path:
    """Where the Zeitgeist file is copied before it is replaced."""
    configured = environ.get("ZEITGEIST_DATABASE_BACKUP_PATH", "")
    return Path(configured) if configured else source.with_name(source.name + ".zeitgeist.bck")


def _backup(source: Path, destination: Path) -> None:
    """A consistent copy of the SQLite file ``source`` (WAL included), mode 0600."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(f"{source.absolute().as_uri()}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    os.chmod(partial, 0o600)
    os.replace(partial, destination)


def migrate(source: Path, target: Path, environ: Mapping[str, str]) -> ImportReport:
    """Migrate the Zeitgeist file ``source`` into a Zeitbus log at ``target``.

    Raises the importer's errors (ZeitbusError) or OSError; then ``source``
    is as it was and ``target`` does not exist (or is the untouched source).
    """
    if source == target:
        copy = backup_path(source, environ)
        _backup(source, copy)
        logger.warning("Backed up the Zeitgeist database %s to %s", source, copy)
    fresh = target.with_name(target.name + ".migrating.sqlite")
    for leftover in (fresh, *(fresh.with_name(fresh.name + s) for s in ("-wal", "-shm"))):
        leftover.unlink(missing_ok=True)
    try:
        with Engine.open(fresh) as engine:
            report = import_zeitgeist(engine, source, keep_ids=True)
        os.chmod(fresh, 0o600)
        os.replace(fresh, target)
    except BaseException:
        with contextlib.suppress(OSError):
            fresh.unlink()
        raise
    for suffix in ("-wal", "-shm"):  # the Zeitgeist file's, now stale next to our log
        if source == target:
            with contextlib.suppress(OSError):
                target.with_name(target.name + suffix).unlink()
    logger.warning(
        "Migrated %d events of Zeitgeist database %s (schema %d) into %s, keeping their ids%s",
        report.imported,
        source,
        report.schema_version,
        target,
        f"; skipped {len(report.unreadable)} unreadable events" if report.unreadable else "",
    )
    if report.extensions:
        logger.warning(
            "Zeitgeist's extension settings (%s) are not carried over; "
            "the blacklist and the data sources start empty",
            ", ".join(f"{s.extension}/{s.key}" for s in report.extensions),
        )
    return report
