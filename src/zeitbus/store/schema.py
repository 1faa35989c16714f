"""The SQLite schema and its migrations.

Layout, designed from the queries (docs/storage.md explains the choices):

* ``term``: every string (URIs, symbols, actors, mimetypes, texts, storages)
  once, by id. Term 0 is the empty string, used only to record an explicitly
  empty ``current_origin`` after a move.
* ``event``: one row per event; the rowid *is* the local id.
* ``subject``: one row per subject, keyed by (event_id, position), with the
  event's timestamp copied in so that every subject index is ordered by time.
  ``current_uri``/``current_origin`` are NULL when equal to the info's
  ``uri``/``origin``.
* ``subject_info``: a subject's uri, interpretation, manifestation, origin,
  mimetype, text and storage, with the actor of its event, once per distinct
  combination. These are nearly always the same on every event of one URI
  from one application, so a subject row keeps one id (``info``) and one
  index, ``(info, timestamp)``, serves all of them, where one index per field
  cost seven times as much disk. Each info also aggregates its rows (count,
  newest and oldest row), so grouped queries filtered on these fields read
  infos instead of rows (see ``store/info_groups.py``).
* ``change``: the changes feed. Inserts point at the event; tombstones carry
  the uid and timestamp of the deleted event.
* ``cursor``: consumers' positions in the feed.
* ``storage``: storage media and their availability (StorageMonitor).
* ``stat``: per-group counts and representatives (see ``store/stats.py``).
* ``meta``: node id, id high-water mark, creation time.
* ``token``: API tokens, their secrets only as digests (``zeitbus/tokens.py``;
  version 2).
* ``change.source`` (version 3): the node a change was received from by sync
  (NULL: made here), so that it is not sent back there; tombstones are found
  by uid (``change_uid``), so that a delete wins over a late insert of the
  same event, and a tombstone for an event this log never had is kept as one
  with ``event_id`` 0.

``PRAGMA user_version`` is the schema version; ``MIGRATIONS[n]`` takes a
database from version n to n + 1, inside the caller's transaction.
"""

from __future__ import annotations

import sqlite3

from zeitbus.errors import DatabaseError
from zeitbus.store import failures
from zeitbus.store.stats import SCHEMA as STAT_SCHEMA
from zeitbus.tokens import SCHEMA as TOKEN_SCHEMA

SCHEMA_V1 = (
    """
CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE node (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE term (id INTEGER PRIMARY KEY AUTOINCREMENT, value TEXT NOT NULL UNIQUE);
INSERT INTO term (id, value) VALUES (0, '');
CREATE TABLE event (
    id INTEGER PRIMARY KEY,
    timestamp INTEGER NOT NULL,
    interpretation INTEGER NOT NULL,
    manifestation INTEGER NOT NULL,
    actor INTEGER NOT NULL,
    origin INTEGER,
    uid BLOB NOT NULL,
    node INTEGER NOT NULL,
    payload BLOB
);
CREATE UNIQUE INDEX event_uid ON event (uid);
CREATE INDEX event_timestamp ON event (timestamp);
CREATE INDEX event_actor ON event (actor, timestamp);
CREATE INDEX event_interpretation ON event (interpretation, timestamp);
CREATE INDEX event_manifestation ON event (manifestation, timestamp);
CREATE INDEX event_origin ON event (origin, timestamp) WHERE origin IS NOT NULL;
CREATE TABLE subject_info (
    id INTEGER PRIMARY KEY,
    uri INTEGER NOT NULL,
    actor INTEGER NOT NULL,
    interpretation INTEGER,
    manifestation INTEGER,
    origin INTEGER,
    mimetype INTEGER,
    text INTEGER,
    storage INTEGER,
    rows INTEGER NOT NULL,
    newest_ts INTEGER,
    newest_id INTEGER,
    oldest_ts INTEGER,
    oldest_id INTEGER
);
CREATE INDEX subject_info_key ON subject_info
    (uri, actor, origin, text, interpretation, manifestation, mimetype, storage);
CREATE INDEX subject_info_actor ON subject_info (actor);
CREATE INDEX subject_info_origin ON subject_info (origin) WHERE origin IS NOT NULL;
CREATE INDEX subject_info_interpretation ON subject_info (interpretation);
CREATE INDEX subject_info_manifestation ON subject_info (manifestation);
CREATE INDEX subject_info_mimetype ON subject_info (mimetype) WHERE mimetype IS NOT NULL;
CREATE INDEX subject_info_text ON subject_info (text) WHERE text IS NOT NULL;
CREATE INDEX subject_info_storage ON subject_info (storage) WHERE storage IS NOT NULL;
CREATE TABLE subject (
    info INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    event_id INTEGER NOT NULL,
    position INTEGER NOT NULL,
    current_uri INTEGER,
    current_origin INTEGER,
    PRIMARY KEY (info, timestamp, event_id, position)
) WITHOUT ROWID;
-- The rows sit in (info, timestamp) order, so an info's rows are read in one
-- range and a MoveEvent rewrites current_uri on a few neighbouring pages. This
-- index, which holds the key and none of current_*, finds an event's subjects.
CREATE UNIQUE INDEX subject_event ON subject (event_id, position);
CREATE INDEX subject_current_uri ON subject (current_uri, timestamp)
    WHERE current_uri IS NOT NULL;
CREATE INDEX subject_current_origin ON subject (current_origin, timestamp)
    WHERE current_origin IS NOT NULL;
CREATE TABLE storage (
    id INTEGER PRIMARY KEY,
    state INTEGER,
    icon TEXT,
    display_name TEXT
);
CREATE TABLE change (
    seq INTEGER PRIMARY KEY,
    event_id INTEGER NOT NULL,
    uid BLOB,
    timestamp INTEGER
);
CREATE INDEX change_tombstone ON change (event_id) WHERE uid IS NOT NULL;
CREATE TABLE cursor (name TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
"""
    + STAT_SCHEMA
)


def _v0_to_v1(conn: sqlite3.Connection) -> None:
    for statement in _statements(SCHEMA_V1):
        conn.execute(statement)


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    conn.execute(TOKEN_SCHEMA)


def _v2_to_v3(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE change ADD COLUMN source INTEGER")
    conn.execute("CREATE INDEX change_uid ON change (uid) WHERE uid IS NOT NULL")


def _statements(script: str) -> list[str]:
    """Split a schema script into statements (no semicolons inside ours)."""
    return [s.strip() for s in script.split(";") if s.strip()]


MIGRATIONS = [_v0_to_v1, _v1_to_v2, _v2_to_v3]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database up to ``SCHEMA_VERSION``; returns the version found.

    Runs in one IMMEDIATE transaction, so a crash leaves the old version.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if found > SCHEMA_VERSION:
            raise DatabaseError(
                f"the database has schema version {found}, newer than this Zeitbus "
                f"understands ({SCHEMA_VERSION}); upgrade Zeitbus to open it"
            )
        for version in range(found, SCHEMA_VERSION):
            MIGRATIONS[version](conn)
        if found != SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        failures.rollback(conn)  # SQLite may have ended it (a full disk, say)
        raise
    return found
