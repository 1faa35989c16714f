"""Full-text search (Zeitgeist's ``org.gnome.zeitgeist.Index``) on SQLite FTS5.

Theory of operation. The index is a consumer of the engine's changes feed.
It lives in a file of its own, ``fts.sqlite`` beside the log (upstream keeps
its Xapian index apart too, in ``fts.index``), as one FTS5 table with a row
per event (rowid = event id) and a ``state`` table holding the feed position
it has indexed up to. ``catch_up`` reads the changes after that position a
page at a time: an insert (re)writes the event's row, a tombstone removes it,
and the new position is stored in the same transaction as the rows, so a
crash neither loses nor repeats work. If the index was built for another log
(another node id), by another version of this module, or is ahead of the
feed (the log was replaced), it is dropped and rebuilt from the feed.

What a document holds (upstream's ``indexer.cpp``, weights in brackets):
subject text [5]; the file or page name of each subject's current URI,
split at punctuation and at camelCase [5]; the three directories above a
file (not the home directory and above) [2]; the host of a web page or the
domain of a mail address [2]; the app name of ``application://x.desktop``
subjects [5] and actors [1], or the actor as it is [1]. URIs longer than 512
characters, ``data:`` URIs and the actor's ``.desktop`` file contents are
not indexed. FTS5's unicode61 tokenizer folds case and diacritics.

``search`` first catches up with the feed (so an event whose insert
returned before the search is found), translates the query
(``fts_query``), and takes the matching event ids with their bm25 scores
from FTS5. The engine then applies the time range, templates, storage state
and result type to those events alone (``Engine.find_event_ids_among``), as
upstream hands its hits to the engine's find. Relevancy (result type 100)
orders by score. ``matches`` is the number of results before offset and
count, and a relevancy is an event's score divided by the best score among
the results (so the best is 1.0).

Threads: one lock serialises writers (catching up); readers use a
connection per thread and, with WAL, never wait for the writer.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import posixpath
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from zeitbus.engine import Engine
from zeitbus.errors import DatabaseError, DiskFull, InvalidArgument
from zeitbus.extensions.fts_query import CONTENT_COLUMNS, EVERY_COLUMN, EVERY_TOKEN, translate
from zeitbus.location import private_database
from zeitbus.model import (
    UINT32_MAX,
    Change,
    ChangeKind,
    Event,
    ResultType,
    StorageState,
    TimeRange,
)
from zeitbus.store import failures

logger = logging.getLogger(__name__)

INDEX_NAME = "fts.sqlite"
VERSION = "1"  # bump when what a document holds changes: the index is then rebuilt
RELEVANCY = 100  # the result type that orders by relevance
MAX_URI = 512  # longer URIs are not indexed (as upstream)
PAGE = 1000  # changes indexed per transaction
# bm25 weight of each column, in table order (the last, EVERY_COLUMN, never scores).
WEIGHTS = {"text": 5.0, "name": 5.0, "path": 2.0, "host": 2.0, "actor": 1.0, EVERY_COLUMN: 0.0}
COLUMNS = (*CONTENT_COLUMNS, EVERY_COLUMN)
assert tuple(WEIGHTS) == COLUMNS

# Result types SearchWithRelevancies takes (upstream 1.0.4, probed): Relevancy,
# the plain and subject types, and the subject-origin types.
RELEVANCIES_RESULT_TYPES = frozenset((RELEVANCY, 0, 1, 2, 3, 4, 5, 10, 11, 12, 13))

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS document USING fts5(
    {", ".join(COLUMNS)}, tokenize = 'unicode61 remove_diacritics 2'
);
"""
_PLACES = ", ".join("?" * len(COLUMNS))
_INSERT_DOCUMENT = f"INSERT INTO document (rowid, {', '.join(COLUMNS)}) VALUES (?, {_PLACES})"
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


@dataclass(frozen=True, slots=True)
class Document:
    """The text of one event, by column."""

    text: str = ""
    name: str = ""
    path: str = ""
    host: str = ""
    actor: str = ""

    def values(self) -> tuple[str, str, str, str, str, str]:
        """The column values in table order."""
        return (self.text, self.name, self.path, self.host, self.actor, EVERY_TOKEN)


@dataclass(frozen=True, slots=True)
class Found:
    """A search's answer: a page of events, their relevancies, and the results in all."""

    events: list[Event]
    relevancies: list[float]
    matches: int


# Indexing repeats the same names (folders above all) for event after event.
@functools.lru_cache(maxsize=8192)
def split_name(name: str) -> str:
    """A file name as words: the name, and if it differs, without _ and camelCase split.

    As upstream's preprocessing (only for names longer than five characters
    that are mostly not digits), so ``ProjectPlan`` is found by ``plan``.
    """
    words = name.replace("_", " ")
    digits = sum(map(str.isdigit, words))
    if len(words) > 5 and digits < len(words) / 2:
        words = _CAMEL.sub(" ", words)
    return name if words == name else f"{name} {words}"


def app_name(uri: str) -> str:
    """``gedit`` for ``application://gedit.desktop`` (or a .desktop file path), else ""."""
    if uri.startswith("application://"):
        name = uri[len("application://") :]
    elif uri.startswith("/") and uri.endswith(".desktop"):
        name = posixpath.basename(uri)
    else:
        return ""
    return name.removesuffix(".desktop")


def uri_words(uri: str, origin: str = "", home: str = "") -> tuple[str, str, str]:
    """(name, directories, host) words of a subject URI, as upstream's ``IndexUri``."""
    if len(uri) > MAX_URI or ":" not in uri:
        return "", "", ""
    scheme = uri.split(":", 1)[0].lower()
    if scheme == "data":
        return "", "", ""
    if scheme == "application":
        return app_name(uri), "", ""
    if scheme == "mailto":
        user, at, domain = uri[len("mailto:") :].partition("@")
        return (user, "", domain) if at else ("", "", "")
    if scheme == "file":
        try:
            path = file_path(uri)
        except ValueError:  # urlsplit's: a malformed host part
            return "", "", ""
        return (
            split_name(posixpath.basename(path)),
            _directory_words(posixpath.dirname(path), home),
            "",
        )
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "", "", ""
    path = unquote(parts.path)
    name = posixpath.basename(path.rstrip("/")) if scheme.startswith("http") else ""
    if scheme.startswith("http"):
        host = urlsplit(origin).hostname if origin else parts.hostname
        return split_name(name), "", _unicode_host(host or "")
    return posixpath.basename(path)[:30], "", parts.netloc[:30]


def file_path(uri: str) -> str:
    """``unquote(urlsplit(uri).path)`` of a file URI, without urlsplit for the usual ones.

    A ``file:///`` URI without a query, a fragment, or the tab and line
    breaks urlsplit drops has its path right after the scheme.
    """
    if uri.startswith("file:///") and not _URLSPLIT_EDITS.intersection(uri):
        return unquote(uri[7:])
    return unquote(urlsplit(uri).path)


_URLSPLIT_EDITS = frozenset("?#\t\n\r")


@functools.lru_cache(maxsize=8192)
def _directory_words(directory: str, home: str) -> str:
    """The words of the (at most three) folders a file is in, nearest first, below home."""
    dirs: list[str] = []
    while len(directory) > 2 and len(dirs) < 3 and directory != home:
        dirs.append(split_name(posixpath.basename(directory)))
        directory = posixpath.dirname(directory)
    return " ".join(dirs)


def _unicode_host(host: str) -> str:
    if "xn--" not in host:
        return host
    try:
        return host.encode("ascii").decode("idna")
    except UnicodeError:
        return host


def document(event: Event, home: str = "") -> Document:
    """What the index holds for ``event`` (see the module docstring)."""
    texts, names, paths, hosts = [], [], [], []
    for subject in event.subjects:
        if subject.text:
            texts.append(subject.text)
        name, path, host = uri_words(subject.current_uri or subject.uri, subject.origin, home)
        names.append(name)
        paths.append(path)
        hosts.append(host)
    actor = app_name(event.actor) or event.actor
    return Document(
        text="\n".join(texts),
        name="\n".join(filter(None, names)),
        path="\n".join(filter(None, paths)),
        host="\n".join(filter(None, hosts)),
        actor=actor,
    )


class FullTextIndex:
    """The full-text index of ``engine``'s log in the SQLite file ``path``."""

    def __init__(self, engine: Engine, path: str | Path, *, home: str = "") -> None:
        self.engine = engine
        self.path = str(path)
        self.home = home.rstrip("/")
        self._lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._closed = False
        self._writer = self._connect()
        try:
            with self._translate():
                self._writer.executescript(_SCHEMA)
                self._check_owner()
        except BaseException:
            self._writer.close()  # an index that cannot be opened keeps no file open
            raise

    @classmethod
    def beside(cls, engine: Engine, *, home: str = "") -> FullTextIndex:
        """The index in ``fts.sqlite`` next to the log's file (not for an in-memory log)."""
        if engine.path is None:
            raise InvalidArgument("an in-memory log has no full-text index")
        return cls(engine, engine.path.with_name(INDEX_NAME), home=home)

    def _connect(self) -> sqlite3.Connection:
        with self._translate():
            # Made 0600 before SQLite makes it (and its WAL, which takes its mode).
            private_database(Path(self.path))
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=10.0
            )
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
            except BaseException:
                conn.close()  # nothing stays open when a setting fails (a full disk, say)
                raise
        return conn

    @contextlib.contextmanager
    def _translate(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as error:
            if failures.is_full(error, self.path):
                raise failures.disk_full(error, self.path) from error
            raise DatabaseError(f"full-text index: {error}") from error

    def close(self) -> None:
        """Close every connection; the index is unusable afterwards."""
        with self._lock:
            self._closed = True
            for conn in [self._writer, *self._readers]:
                conn.close()
            self._readers.clear()

    # -- the cursor and the rows ---------------------------------------------------

    def _state(self, conn: sqlite3.Connection, key: str) -> str | None:
        row = conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _check_owner(self) -> None:
        """Rebuild (empty, cursor 0) an index of another log, version, or future."""
        conn = self._writer
        node, version = self._state(conn, "node"), self._state(conn, "version")
        cursor = int(self._state(conn, "cursor") or 0)
        if node == self.engine.node and version == VERSION and cursor <= self.engine.last_seq():
            return
        if node is not None:
            logger.info("Rebuilding the full-text index %s", self.path)
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("DELETE FROM document")
            conn.executemany(
                "INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)",
                (("node", self.engine.node), ("version", VERSION), ("cursor", "0")),
            )
            conn.execute("COMMIT")
        except BaseException:
            failures.rollback(conn)  # SQLite may have ended it (a full disk, say)
            raise

    @property
    def cursor(self) -> int:
        """The feed position indexed so far."""
        with self._reading() as conn:
            return int(self._state(conn, "cursor") or 0)

    def catch_up(self, until: int | None = None) -> int:
        """Index the changes after the cursor (up to ``until``, else all); the new cursor."""
        with self._lock:
            if self._closed:
                raise DatabaseError("the full-text index is closed")
            cursor = int(self._state(self._writer, "cursor") or 0)
            while until is None or cursor < until:
                changes = self.engine.changes(cursor, PAGE)
                if not changes:
                    break
                stored = self.engine.get_events(
                    [c.id for c in changes if c.kind is ChangeKind.INSERT]
                )
                by_id = {event.id: event for event in stored if event is not None}
                cursor = changes[-1].seq
                try:
                    with self._translate():
                        self._apply(changes, by_id, cursor)
                except DiskFull as error:
                    failures.failed(self.path, error)  # logged once, not per try
                    raise
                failures.wrote(self.path)
            return cursor

    def _apply(self, changes: Sequence[Change], by_id: dict[int, Event], cursor: int) -> None:
        # Applied change by change, each id's row would be deleted, then written
        # again if the change is an insert and the event is still stored (an
        # insert whose event is gone again indexes nothing: its tombstone
        # follows). The end state is the same as deleting every id's row, then
        # writing those of the inserted events still stored: two executemany.
        touched = list(dict.fromkeys(change.id for change in changes))
        inserted = {change.id for change in changes if change.kind is ChangeKind.INSERT}
        rows = [
            (event_id, *document(by_id[event_id], self.home).values())
            for event_id in touched
            if event_id in inserted and event_id in by_id
        ]
        conn = self._writer
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany("DELETE FROM document WHERE rowid = ?", [(i,) for i in touched])
            conn.executemany(_INSERT_DOCUMENT, rows)
            conn.execute("UPDATE state SET value = ? WHERE key = 'cursor'", (str(cursor),))
            conn.execute("COMMIT")
        except BaseException:
            failures.rollback(conn)  # SQLite may have ended it (a full disk, say)
            raise

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only = 1")
            with self._lock:
                if self._closed:
                    conn.close()
                    raise DatabaseError("the full-text index is closed")
                self._readers.append(conn)
            self._local.conn = conn
        with self._translate():
            yield conn

    # -- search ------------------------------------------------------------------------

    def scores(self, expression: str | None) -> dict[int, float]:
        """Event id -> bm25 score (lower is better) of each indexed event matching an expression.

        ``expression`` comes from ``fts_query.translate`` (None matches nothing).
        """
        if expression is None:
            return {}
        weights = ", ".join(str(weight) for weight in WEIGHTS.values())
        sql = f"SELECT rowid, bm25(document, {weights}) FROM document WHERE document MATCH ?"
        with self._reading() as conn:
            try:
                rows = conn.execute(sql, (expression,)).fetchall()
            except sqlite3.OperationalError as error:
                # The translation makes FTS5 syntax errors impossible; a limit may still bite.
                if "fts5" in str(error):
                    raise InvalidArgument(f"the query is too complex ({error})") from error
                raise
        return {int(rowid): float(score) for rowid, score in rows}

    def search(
        self,
        query: str,
        time_range: TimeRange | None = None,
        templates: Sequence[Event] = (),
        storage_state: StorageState | int = StorageState.ANY,
        offset: int = 0,
        count: int = 10,
        result_type: int = RELEVANCY,
        *,
        by_relevance: bool = False,
    ) -> Found:
        """Search the log: a page of ``count`` results after ``offset`` (see the module doc).

        ``result_type`` is 100 (Relevancy) or a find's result type. With
        ``by_relevance`` (SearchWithRelevancies), the plain event types are
        ordered by relevance first and time second, as upstream's are.
        """
        for value, what in ((offset, "offset"), (count, "count")):
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidArgument(f"{what} must be an integer, got {value!r}")
            if not 0 <= value <= UINT32_MAX:
                raise InvalidArgument(f"{what} must be an unsigned 32-bit integer, got {value}")
        expression = translate(query)
        relevancy = result_type == RELEVANCY and not isinstance(result_type, bool)
        kind = ResultType.MOST_RECENT_EVENTS if relevancy else ResultType.parse(result_type)
        state = StorageState.parse(storage_state)
        time_range = time_range or TimeRange()
        self.catch_up(self.engine.last_seq())
        scores = self.scores(expression)
        ids = self.engine.find_event_ids_among(list(scores), time_range, templates, state, kind)
        if relevancy or (by_relevance and kind.group is None):
            ids.sort(key=lambda event_id: scores[event_id])  # stable: time breaks ties
        page = ids[offset : offset + count] if count else []
        events = [event for event in self.engine.get_events(page) if event is not None]
        best = min((scores[event_id] for event_id in ids), default=0.0)
        relevancies = [scores[event.id] / best if best else 1.0 for event in events]
        return Found(events, relevancies, min(len(ids), UINT32_MAX))
