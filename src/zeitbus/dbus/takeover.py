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

Zeitgeist's schemas 3 to 11 (0.7.1 to 1.0.4) are supported
(``zeitgeist_import`` reads the old ones as Zeitgeist's own upgrade does);
anything else, or anything unreadable, is refused (exit 21) with the reason.

The extensions' state goes into the new log in the same step: Zeitgeist's
``extensions_conf`` rows for the blacklist and the data-source registry
(serialized GVariants, read by ``zeitbus.gvariant``) become the state of
Zeitbus's Blacklist and DataSourceRegistry (``extension_conf``), through
their own methods, so they load as if the user had made the same calls:
every template under its id, every data source with its templates, last-seen
time and enabled flag (not running: nothing has registered with us yet). A
blacklist or registry that cannot be read stops the takeover, because
starting without it would log what the user asked not to be logged. Rows of
other extensions are named in the log and left behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from zeitbus.dbus.codec import event_from_wire, events_from_wire
from zeitbus.engine import Engine
from zeitbus.errors import DatabaseError, ZeitbusError
from zeitbus.extensions.blacklist import Blacklist
from zeitbus.extensions.conf import ExtensionConf
from zeitbus.extensions.datasources import DataSourceRegistry
from zeitbus.gvariant import GVariantError, decode
from zeitbus.location import default_data_dir, private_database
from zeitbus.zeitgeist_import import ExtensionState, ImportReport, import_zeitgeist

logger = logging.getLogger(__name__)

ZEITGEIST_DB_NAME = "activity.sqlite"
ZEITGEIST_BLACKLIST = ("ZeitgeistBlacklist", "blacklist")
ZEITGEIST_REGISTRY = ("ZeitgeistDataSourceRegistryExtension", "registry")
TAKEOVER_SENDER = ":zeitgeist-takeover"  # stands for the bus name of a registration


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


def zeitgeist_default_database(environ: Mapping[str, str]) -> Path:
    """Where zeitgeist-daemon keeps its log when nothing says otherwise."""
    base = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "zeitgeist" / ZEITGEIST_DB_NAME


class MigrationFailed(DatabaseError):
    """A Zeitgeist database could not be migrated; it was left as it was."""

    code = "migration_failed"


def open_log(location: Path, environ: Mapping[str, str]) -> Engine:
    """Open the log at ``location`` as the daemon and every command do.

    A Zeitgeist database to take over (``source_to_migrate``) is migrated
    first (MigrationFailed if it cannot be); the log's directory and files
    are made private (``zeitbus.location``). The file is created before it
    is opened, so a ``ZEITGEIST_DATABASE_PATH`` of any name is taken as the
    file, not as a directory.
    """
    source = source_to_migrate(location, environ)
    if source is not None:
        try:
            migrate(source, location, environ)
        except (ZeitbusError, OSError, sqlite3.Error) as error:
            raise MigrationFailed(
                f"could not migrate the Zeitgeist database {source}: {error}; it was left as it was"
            ) from error
    private_database(location)
    return Engine.open(location)


def source_to_migrate(target: Path, environ: Mapping[str, str]) -> Path | None:
    """The Zeitgeist file to migrate into ``target``, or None.

    ``target`` itself if it is a Zeitgeist database. Otherwise, while there
    is no log at ``target`` yet (and ``ZEITGEIST_DATABASE_PATH`` does not
    name one), Zeitgeist's ``activity.sqlite`` beside it, or, for a log in
    Zeitbus's default place, the one in Zeitgeist's default place: the daemon
    that replaces zeitgeist-daemon starts from the user's history. Such a
    file is taken for Zeitgeist's by its name, so a damaged one is reported
    rather than passed over.
    """
    if is_zeitgeist_database(target):
        return target
    if target.exists() or environ.get("ZEITGEIST_DATABASE_PATH"):
        return None
    candidates = [target.parent / ZEITGEIST_DB_NAME]
    if target.parent.absolute() == default_data_dir(environ).absolute():
        candidates.append(zeitgeist_default_database(environ))
    for candidate in candidates:
        with contextlib.suppress(OSError):
            if candidate.is_file() and candidate.stat().st_size > 0:
                return candidate
    return None


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
            carried = carry_extension_state(engine, report.extensions)
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
    if carried:
        logger.warning("Carried over Zeitgeist's %s", " and ".join(carried))
    return report


def carry_extension_state(engine: Engine, states: tuple[ExtensionState, ...]) -> list[str]:
    """Make Zeitgeist's blacklist and data sources the state of ``engine``'s extensions.

    Returns what was carried over, for the log. Raises DatabaseError if a
    blacklist or registry cannot be read or stored.
    """
    conf: ExtensionConf | None = None
    carried: list[str] = []
    for state in states:
        where = (state.extension, state.key)
        if where not in (ZEITGEIST_BLACKLIST, ZEITGEIST_REGISTRY) or state.gvariant_type is None:
            logger.warning(
                "Zeitgeist's %s/%s setting is not carried over (unknown to Zeitbus)",
                state.extension,
                state.key,
            )
            continue
        if not state.value:
            continue  # never written: an empty blacklist or registry
        conf = conf or ExtensionConf(engine)
        try:
            value = decode(state.gvariant_type, state.value)
            if where == ZEITGEIST_BLACKLIST:
                carried.append(_carry_blacklist(conf, value))
            else:
                carried.append(_carry_registry(conf, value))
        except (GVariantError, ZeitbusError) as error:
            raise DatabaseError(
                f"cannot carry over Zeitgeist's {state.key} ({state.extension}): {error}"
            ) from error
    return carried


def _carry_blacklist(conf: ExtensionConf, templates: list[tuple[str, Any]]) -> str:
    """Add every template of Zeitgeist's ``a{s(asaasay)}`` blacklist, as AddTemplate does."""
    blacklist = Blacklist(conf)
    count = 0
    for template_id, struct in templates:
        template = event_from_wire(list(struct))
        if template is None:  # AddTemplate refuses a NULL event; nothing to keep
            logger.warning("Zeitgeist's blacklist template %r is empty; skipped", template_id)
            continue
        blacklist.add(template_id, template)
        count += 1
    return f"blacklist ({count} templates)"


def _carry_registry(conf: ExtensionConf, sources: list[tuple[Any, ...]]) -> str:
    """Register every source of Zeitgeist's ``a(sssa(asaasay)bxb)`` registry as it was."""
    disabled = 0
    for unique_id, name, description, structs, _running, last_seen, enabled in sources:
        templates = [t for t in events_from_wire([list(s) for s in structs]) if t is not None]
        # A registry of its own per source: its clock gives that source's last-seen time.
        registry = DataSourceRegistry(conf, clock=_fixed_clock(int(last_seen)))
        registry.register(unique_id, name, description, templates, TAKEOVER_SENDER)
        if not enabled:
            registry.set_enabled(unique_id, False)
            disabled += 1
    return f"data sources ({len(sources)}, {disabled} disabled)"


def _fixed_clock(ms: int) -> Callable[[], int]:
    """A clock that always says ``ms``."""
    return lambda: ms
