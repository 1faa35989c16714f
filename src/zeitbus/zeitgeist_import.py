"""Import an existing Zeitgeist ``activity.sqlite`` (schema 3 to 11) into a log.

Theory of operation. The Zeitgeist file is opened read-only through a
``file:...?mode=ro`` URI, so nothing can write to it, and read inside one
read transaction: in WAL mode that is a consistent snapshot even while a
zeitgeist-daemon keeps writing to the same file. One SELECT walks the
``event`` table (one row per subject) in ``(id, timestamp, rowid)`` order --
the order of Zeitgeist's ``event_id`` index, so SQLite needs no sort and
subjects come in the order the daemon's GetEvents returns them -- with every
lookup table (uri, interpretation, manifestation, mimetype, actor, text,
storage, payload) joined in, and rows are fetched a few thousand at a time.
Consecutive rows with one id are one event; events go to
``Engine.import_events`` in batches, one transaction each, so memory stays
flat whatever the size of the file.

Nothing is re-derived: timestamps, payload bytes, the event origin, each
subject's ``current_uri``/``current_origin`` (which a MoveEvent may have
changed), text and storage are copied as GetEvents shows them. (Known gap:
``validation.prepare_imported`` still turns an empty ``current_origin`` into
``origin``; Zeitgeist shows "" on moved subjects whose new origin is unknown,
see the xfail in tests/test_zeitgeist_import.py.) A Zeitgeist event has no uid,
so each gets a fresh one; importing the same file again stores nothing,
because every event's dedup key (timestamp, interpretation, manifestation,
actor, subject uri) is already present.

Schemas 10 and 11 differ only in v11's delete triggers (which garbage
collect lookup rows). A v10 file may therefore hold orphaned uri, text,
storage and payload rows; they belong to no event and are not imported.
Schemas 3 to 9 (Zeitgeist 0.7.1 to the 0.9 series) lack some event columns
and are read as Zeitgeist 1.0's own upgrade reads them (``_rows_query``),
except that an event origin the file has is kept.

Extension state (``extensions_conf``: the blacklist and the data-source
registry, serialized GVariants) is read and returned in the report, unchanged,
for the D-Bus layer to map.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from zeitbus.engine import Engine
from zeitbus.errors import (
    DatabaseCorrupt,
    DatabaseError,
    InvalidArgument,
    InvalidEvent,
)
from zeitbus.model import UINT32_MAX, Event, Subject
from zeitbus.ontology import REMOTE_DATA_OBJECT, WEB_DATA_OBJECT
from zeitbus.validation import check_unique_uris, prepare_imported

logger = logging.getLogger(__name__)

# Zeitgeist 0.7.1 (3), 0.8 (4), 0.9 alphas (5, 6) ... 1.0.3 (10), 1.0.4 (11)
SUPPORTED_SCHEMA_VERSIONS = tuple(range(3, 12))

# What Zeitgeist's extensions keep in extensions_conf, and the GVariant type
# of each value (extension name as stored, i.e. the GType name).
KNOWN_EXTENSION_STATE: dict[tuple[str, str], str] = {
    ("ZeitgeistBlacklist", "blacklist"): "a{s(asaasay)}",
    ("ZeitgeistDataSourceRegistryExtension", "registry"): "a(sssa(asaasay)bxb)",
}

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class ExtensionState:
    """One row of Zeitgeist's ``extensions_conf``: a serialized GVariant."""

    extension: str
    key: str
    value: bytes

    @property
    def gvariant_type(self) -> str | None:
        """The value's GVariant type string, if the extension is a known one."""
        return KNOWN_EXTENSION_STATE.get((self.extension, self.key))


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What ``import_zeitgeist`` did.

    ``imported`` events were stored; ``already_present`` were in the log
    already (same dedup key) and were left alone; ``unreadable`` holds the
    Zeitgeist ids of events the file cannot describe completely (a required
    lookup row is missing, text is not UTF-8, or the engine refuses the
    event), which are skipped. ``found`` is the number of events in the file.
    """

    imported: int
    already_present: int
    schema_version: int
    kept_ids: bool
    found: int = 0
    unreadable: tuple[int, ...] = ()
    extensions: tuple[ExtensionState, ...] = ()


# One row per (event, subject), lookups resolved, the subject's columns in the
# order of Subject's fields. LEFT JOINs keep a row whose reference dangles
# (Zeitgeist 1.0.4's triggers can drop a uri still in use); the value is then
# "", as GetEvents shows it. A MoveEvent without origins leaves the current
# origin NULL on the events before it; that is "" too. The four expressions in
# braces differ for the schemas before 10 (``_rows_query``).
_ROWS = """
SELECT e.id, e.timestamp,
       COALESCE(i.value, ''), COALESCE(m.value, ''), COALESCE(a.value, ''),
       {event_origin}, p.value,
       COALESCE(su.value, ''), COALESCE(si.value, ''), {subject_manifestation},
       COALESCE(so.value, ''), COALESCE(mt.value, ''), COALESCE(tx.value, ''),
       {storage}, {current_uri}, {current_origin}
FROM event e
LEFT JOIN interpretation i ON i.id = e.interpretation
LEFT JOIN manifestation m ON m.id = e.manifestation
LEFT JOIN actor a ON a.id = e.actor
LEFT JOIN payload p ON p.id = e.payload
LEFT JOIN uri su ON su.id = e.subj_id
LEFT JOIN interpretation si ON si.id = e.subj_interpretation
LEFT JOIN manifestation sm ON sm.id = e.subj_manifestation
LEFT JOIN uri so ON so.id = e.subj_origin
LEFT JOIN mimetype mt ON mt.id = e.subj_mimetype
LEFT JOIN text tx ON tx.id = e.subj_text
LEFT JOIN storage st ON st.id = e.subj_storage
{joins}
ORDER BY e.id, e.timestamp, e.rowid
"""
# Zeitgeist 0.9 (Bluebird alpha 2) made http(s) subjects WebDataObjects; its
# upgrade rewrites the RemoteDataObject ones of older databases.
_WEB_MANIFESTATION = f"""CASE WHEN sm.value = '{REMOTE_DATA_OBJECT}'
            AND (su.value LIKE 'http://%' OR su.value LIKE 'https://%')
       THEN '{WEB_DATA_OBJECT}' ELSE COALESCE(sm.value, '') END"""


def _rows_query(conn: sqlite3.Connection, version: int) -> str:
    """The SELECT of every (event, subject) row for this file's schema.

    Schemas 10 and 11 have every column. The older ones (3 to 9) are read as
    Zeitgeist's own upgrade to 1.0 reads them: a column the file does not
    have yet (the event ``origin`` and ``subj_id_current`` came with schema
    4, ``subj_origin_current`` with 8) is the subject's uri or origin, or
    "" for the event origin; schema 3 had no storage for some subjects, which
    the upgrade calls "unknown"; and http(s) subjects that were
    RemoteDataObjects become WebDataObjects. Unlike that upgrade, which sets
    every event origin to NULL, an event origin the file has is kept.
    """
    columns = {str(row[1]) for row in conn.execute("PRAGMA table_info(event)")}
    joins = []
    parts = {
        "event_origin": "''",
        "subject_manifestation": "COALESCE(sm.value, '')",
        "storage": "COALESCE(st.value, '')",
        "current_uri": "COALESCE(su.value, '')",
        "current_origin": "COALESCE(so.value, '')",
    }
    if "origin" in columns:
        joins.append("LEFT JOIN uri eo ON eo.id = e.origin")
        parts["event_origin"] = "COALESCE(eo.value, '')"
    if "subj_id_current" in columns:
        joins.append("LEFT JOIN uri scu ON scu.id = e.subj_id_current")
        parts["current_uri"] = "COALESCE(scu.value, '')"
    if "subj_origin_current" in columns:
        joins.append("LEFT JOIN uri sco ON sco.id = e.subj_origin_current")
        parts["current_origin"] = "COALESCE(sco.value, '')"
    if version < 10:
        parts["subject_manifestation"] = _WEB_MANIFESTATION
    if version == 3:
        parts["storage"] = (
            "CASE WHEN e.subj_storage IS NULL THEN 'unknown' ELSE COALESCE(st.value, '') END"
        )
    return _ROWS.format(joins="\n".join(joins), **parts)


_FETCH_ROWS = 4096


def import_zeitgeist(
    engine: Engine,
    path: Path,
    *,
    keep_ids: bool | None = None,
    progress: Progress | None = None,
    batch_size: int = 5000,
) -> ImportReport:
    """Import every event of the Zeitgeist database at ``path`` into ``engine``.

    ``keep_ids``: True keeps Zeitgeist's event ids (InvalidArgument if one is
    taken by another event), False gives new ones, None (the default) keeps
    them if the log has no events yet. ``progress(done, total)`` is called
    before the first batch and after each one. The file is never written.
    """
    path = Path(path)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidArgument(f"batch_size must be a positive integer, got {batch_size!r}")
    if not path.is_file():
        raise InvalidArgument(f"{path} is not a file (expected Zeitgeist's activity.sqlite)")
    conn = _open_read_only(path)
    try:
        with _translate(path):
            # One read transaction for everything: a consistent snapshot.
            conn.execute("BEGIN")
            version = _schema_version(conn, path)
            extensions = _extension_state(conn)
            total = int(conn.execute("SELECT count(DISTINCT id) FROM event").fetchone()[0])
            if keep_ids is None:
                keep_ids = not engine.find_event_ids(num_events=1)
            importer = _Importer(engine, keep_ids, total, progress)
            if progress is not None:
                progress(0, total)
            batch: list[Event] = []
            rows = _rows(conn, _rows_query(conn, version))
            for event in _events(rows, importer.unreadable):
                batch.append(event)
                if len(batch) >= batch_size:
                    importer.flush(batch)
                    batch = []
            importer.flush(batch)
            conn.execute("COMMIT")
    finally:
        conn.close()
    if importer.unreadable:
        logger.warning(
            "skipped %d Zeitgeist events that cannot be stored (ids %s)",
            len(importer.unreadable),
            ", ".join(map(str, importer.unreadable[:20])),
        )
    return ImportReport(
        imported=importer.imported,
        already_present=importer.present,
        schema_version=version,
        kept_ids=keep_ids,
        found=total,
        unreadable=tuple(importer.unreadable),
        extensions=extensions,
    )


def _open_read_only(path: Path) -> sqlite3.Connection:
    uri = "file:" + quote(str(path.absolute())) + "?mode=ro"
    with _translate(path):
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30.0)
        conn.execute("PRAGMA query_only = 1")
    return conn


@contextlib.contextmanager
def _translate(path: Path) -> Iterator[None]:
    """Driver errors to the project's errors, naming the Zeitgeist file."""
    try:
        yield
    except sqlite3.DatabaseError as error:
        text = str(error)
        if "not a database" in text or "malformed" in text or "corrupt" in text:
            raise DatabaseCorrupt(f"{path} is not a readable database: {text}") from error
        raise DatabaseError(f"cannot read {path}: {text}") from error
    except UnicodeDecodeError as error:
        # sqlite3 could not decode SQLite's own error message, which quotes
        # bytes of the file's damaged schema ("malformed database schema (…)").
        text = bytes(error.object).decode("utf-8", "replace")
        raise DatabaseCorrupt(f"{path} is not a readable database: {text}") from error


def _schema_version(conn: sqlite3.Connection, path: Path) -> int:
    try:
        row = conn.execute("SELECT version FROM schema_version WHERE schema = 'core'").fetchone()
    except sqlite3.OperationalError as error:
        raise DatabaseError(
            f"{path} is not a Zeitgeist database (no schema_version table: {error})"
        ) from error
    if row is None:
        raise DatabaseError(f"{path} is not a Zeitgeist database (no 'core' schema version)")
    try:
        version = int(row[0])
    except (TypeError, ValueError):
        raise DatabaseError(
            f"{path} has an unreadable Zeitgeist schema version {row[0]!r}"
        ) from None
    if version < -1:
        raise DatabaseCorrupt(
            f"{path}: Zeitgeist marked this database as corrupt (schema version {version})"
        )
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        first, last = SUPPORTED_SCHEMA_VERSIONS[0], SUPPORTED_SCHEMA_VERSIONS[-1]
        raise DatabaseError(
            f"{path} has Zeitgeist schema version {version}; only versions {first} to {last} "
            "(Zeitgeist 0.7.1 to 1.0.4) can be imported"
        )
    return version


def _extension_state(conn: sqlite3.Connection) -> tuple[ExtensionState, ...]:
    try:
        rows = conn.execute(
            "SELECT extension, key, value FROM extensions_conf ORDER BY extension, key"
        ).fetchall()
    except sqlite3.OperationalError:  # a file without the table has no state
        return ()
    out = []
    for extension, key, value in rows:
        if isinstance(value, str):
            value = value.encode("utf-8", "surrogateescape")
        out.append(ExtensionState(str(extension), str(key), bytes(value or b"")))
    return tuple(out)


def _escaped_text(value: bytes) -> str:
    return value.decode("utf-8", "surrogateescape")


def _rows(conn: sqlite3.Connection, query: str) -> Iterator[tuple[Any, ...]]:
    """The query's rows, also from a file holding text that is not UTF-8.

    sqlite3 refuses such a value with OperationalError, which would end the
    import. Then the query runs again in the same read transaction (the same
    rows, in the same order) past the rows already read, with that text's
    bytes escaped: validation refuses the events holding it, which are
    skipped and named as unreadable. Decoding each value in Python costs
    about twice the plain read, so only such files pay for it.
    """
    done = 0
    cursor = conn.execute(query)
    try:
        while rows := cursor.fetchmany(_FETCH_ROWS):
            yield from rows
            done += len(rows)
        return
    except sqlite3.OperationalError as error:
        if "could not decode to utf-8" not in str(error).lower():
            raise
    conn.text_factory = _escaped_text
    try:
        cursor = conn.execute(query)
        for _ in range(done):
            cursor.fetchone()
        while rows := cursor.fetchmany(_FETCH_ROWS):
            yield from rows
    finally:
        conn.text_factory = str


def _events(rows: Iterable[tuple[Any, ...]], unreadable: list[int]) -> Iterator[Event]:
    """Events from the joined rows; events Zeitbus cannot store go to ``unreadable``."""
    current: list[tuple[Any, ...]] = []
    for row in rows:
        if current and row[0] != current[0][0]:
            event = _event(current)
            if event is None:
                unreadable.append(_event_id(current[0][0]))
            else:
                yield event
            current = []
        current.append(row)
    if current:
        event = _event(current)
        if event is None:
            unreadable.append(_event_id(current[0][0]))
        else:
            yield event


def _event_id(value: object) -> int:
    try:
        return int(value)  # type: ignore[call-overload,no-any-return]
    except (TypeError, ValueError):
        return 0


def _event(rows: Sequence[tuple[Any, ...]]) -> Event | None:
    """One event from its rows, or None if a required value is missing."""
    first = rows[0]
    event_id = _event_id(first[0])
    try:
        timestamp = int(first[1])
    except (TypeError, ValueError):
        return None
    if not 0 < event_id <= UINT32_MAX or not (first[2] and first[3] and first[4]):
        return None
    payload = first[6]
    if isinstance(payload, str):
        payload = payload.encode("utf-8", "surrogateescape")
    subjects = tuple(Subject(*row[7:16]) for row in rows)
    if not all(s.uri for s in subjects):
        return None
    return Event(
        id=event_id,
        timestamp=timestamp,
        interpretation=first[2],
        manifestation=first[3],
        actor=first[4],
        origin=first[5],
        subjects=subjects,
        payload=bytes(payload) if payload else b"",
    )


class _Importer:
    """Sends batches to the engine and keeps the counts."""

    def __init__(self, engine: Engine, keep_ids: bool, total: int, progress: Progress | None):
        self.engine = engine
        self.keep_ids = keep_ids
        self.total = total
        self.progress = progress
        self.imported = 0
        self.present = 0
        self.done = 0
        self.unreadable: list[int] = []

    def flush(self, batch: list[Event]) -> None:
        if batch:
            try:
                result = self.engine.import_events(batch, keep_ids=self.keep_ids)
            except (InvalidArgument, InvalidEvent) as error:
                storable = self._storable(batch)
                if len(storable) == len(batch):
                    if self.keep_ids and "already used" in str(error):
                        raise InvalidArgument(
                            f"cannot keep Zeitgeist's event ids: {error}; "
                            "import with new ids instead"
                        ) from error
                    raise
                batch = storable
                result = self.engine.import_events(batch, keep_ids=self.keep_ids)
            stored = result.stored
            self.imported += stored
            self.present += len(batch) - stored
            self.done = self.imported + self.present + len(self.unreadable)
            if self.progress is not None:
                self.progress(min(self.done, self.total), self.total)

    def _storable(self, batch: list[Event]) -> list[Event]:
        """The batch without the events the engine refuses (counted as unreadable)."""
        out = []
        for event in batch:
            try:
                check_unique_uris(prepare_imported(event))
            except (InvalidArgument, InvalidEvent):
                self.unreadable.append(event.id)
                continue
            out.append(event)
        return out
