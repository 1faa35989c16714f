"""The one core API: every adapter (D-Bus, HTTP, CLI) calls these methods.

The engine validates and completes events (``validation``), lets pre-insert
hooks drop events (the blacklist and the data-source registry use this), and
hands the rest to the store in one transaction. It imports no adapter
library, and it is synchronous and thread-safe: reads run on the calling
thread's own connection, writes queue on the store's single writer.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from zeitbus import tokens
from zeitbus.errors import DatabaseError, InvalidArgument, NothingMatched
from zeitbus.ids import uid_from_str
from zeitbus.location import DB_NAME
from zeitbus.model import (
    INT64_MAX,
    UINT32_MAX,
    Change,
    Event,
    GroupField,
    RelevantResultType,
    ResultType,
    Stats,
    StorageState,
    TimeRange,
)
from zeitbus.related import related_uris
from zeitbus.store import neighbours, pending, queries
from zeitbus.store.queries import EventStruct
from zeitbus.store.sqlite import MEMORY, Receiving, SQLiteStore
from zeitbus.tokens import Scope, TokenInfo
from zeitbus.validation import (
    Clock,
    check_template,
    check_unique_uris,
    now_ms,
    prepare,
    prepare_imported,
)

# A hook sees the prepared batch and the sender (a D-Bus unique name, a token
# name, or None) and returns the batch with the events to drop set to None.
PreInsertHook = Callable[[list[Event | None], str | None], list[Event | None]]
# A commit hook is called with no arguments on the writing thread after each
# insert, import or delete has committed; it must be quick and must not raise.
CommitHook = Callable[[], None]


@dataclass(frozen=True, slots=True)
class Received:
    """What ``receive`` did: events newly stored, and events not stored as deleted or dropped."""

    stored: int
    refused: int


@dataclass(frozen=True, slots=True)
class Imported:
    """What ``import_events`` did: every event's local id, and how many were new."""

    ids: list[int]
    stored: int


class Transaction:
    """A write transaction in which a consumer stores its cursor with its work."""

    def __init__(self, store: SQLiteStore, conn: sqlite3.Connection) -> None:
        self._store = store
        self.connection = conn

    def set_cursor(self, name: str, seq: int) -> None:
        """Store ``name``'s feed position; committed with the transaction."""
        _check_cursor(name, seq)
        self._store.set_cursor(self.connection, name, seq)


def _check_cursor(name: str, seq: int) -> None:
    if not isinstance(name, str) or not name or len(name) > 200:
        raise InvalidArgument("a cursor name must be a non-empty string of at most 200 characters")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise InvalidArgument(f"a cursor position must be a non-negative integer, got {seq!r}")


def _group_field(value: GroupField | str) -> GroupField:
    if isinstance(value, GroupField):
        return value
    wanted = str(value).strip().lower().replace("_", " ").replace("-", " ")
    for field in GroupField:
        if field.value == wanted:
            return field
    names = ", ".join(field.value.replace(" ", "_") for field in GroupField)
    raise InvalidArgument(f"unknown group {value!r} (choose one of {names})")


def _check_count(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= UINT32_MAX:
        raise InvalidArgument(f"{what} must be an unsigned 32-bit integer, got {value!r}")
    return value


def _check_templates(templates: Sequence[Event], what: str = "template") -> list[Event]:
    if isinstance(templates, Event):
        raise InvalidArgument(f"{what}s must be a list of events, not one event")
    out = list(templates)
    for n, template in enumerate(out):
        check_template(template, f"{what} {n}")
    return out


def _check_ids(ids: Sequence[int]) -> list[int]:
    for event_id in ids:
        _check_count(event_id, "an event id")
    return list(ids)


@dataclass(frozen=True, slots=True)
class _Find:
    """A find's arguments, checked once for every find method."""

    time_range: TimeRange
    templates: list[Event]
    storage_state: StorageState
    result_type: ResultType

    @classmethod
    def check(
        cls,
        time_range: TimeRange | None,
        templates: Sequence[Event],
        storage_state: StorageState | int,
        result_type: ResultType | int,
    ) -> _Find:
        return cls(
            _check_range(time_range or TimeRange()),
            _check_templates(templates),
            StorageState.parse(storage_state),
            ResultType.parse(result_type),
        )


def _check_range(time_range: TimeRange) -> TimeRange:
    if not isinstance(time_range, TimeRange):
        raise InvalidArgument(f"time range must be a TimeRange, got {type(time_range).__name__}")
    return time_range


class _StepBudget:
    """A progress handler on ``conn`` that interrupts SQLite after about ``steps`` VM steps."""

    _EVERY = 1000  # steps between calls of the handler

    def __init__(self, conn: sqlite3.Connection, steps: int) -> None:
        self._conn = conn
        self._calls_left = max(1, steps // self._EVERY)
        self.spent = False

    def __enter__(self) -> _StepBudget:
        self._conn.set_progress_handler(self._step, self._EVERY)
        return self

    def __exit__(self, *exc: object) -> None:
        self._conn.set_progress_handler(None, 0)

    def _step(self) -> int:
        self._calls_left -= 1
        if self._calls_left > 0:
            return 0
        self.spent = True
        return 1  # SQLite stops the statement: OperationalError "interrupted"


class Engine:
    """The event log: insert, get, find, related URIs, delete, and the feed."""

    def __init__(self, store: SQLiteStore, *, clock: Clock = now_ms) -> None:
        self.store = store
        self._clock = clock
        self._pre_insert: list[PreInsertHook] = []
        self._after_commit: list[CommitHook] = []

    @classmethod
    def open(
        cls, location: str | Path, *, synchronous: str = "NORMAL", clock: Clock = now_ms
    ) -> Engine:
        """Open (or create) the log in a data directory, a .sqlite file, or ":memory:".

        ``synchronous`` is SQLite's setting (NORMAL survives a crash of the
        process, FULL also a power loss); ``clock`` gives "now" in ms.
        """
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise InvalidArgument(
                f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}"
            )
        if str(location) == MEMORY:
            return cls(SQLiteStore(MEMORY), clock=clock)
        path = Path(location)
        if path.suffix not in (".sqlite", ".db", ".sqlite3") and not path.is_file():
            path = path / DB_NAME
        return cls(SQLiteStore(path, synchronous=synchronous.upper()), clock=clock)

    def close(self) -> None:
        """Close the store; the engine is unusable afterwards."""
        self.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def readers_wait_for_writers(self) -> bool:
        """True if a read would wait for the writer.

        An in-memory log's reads share the writer's connection and lock, and
        a deferred delete's rows are removed before the next read.
        """
        return self.store.memory or self.store.purge_due

    @property
    def path(self) -> Path | None:
        """The log's file, or None for an in-memory log."""
        return None if self.store.memory else Path(self.store.path)

    @property
    def node(self) -> str:
        """This log's node id (generated once per database)."""
        return self.store.node

    def add_pre_insert_hook(self, hook: PreInsertHook) -> None:
        """Run ``hook`` on every batch after validation, before storing."""
        self._pre_insert.append(hook)

    def add_commit_hook(self, hook: CommitHook) -> None:
        """Call ``hook`` after every insert, import or delete commits (feed readers wake on it)."""
        # A new list, not an append: a commit in another thread iterates the old one.
        self._after_commit = [*self._after_commit, hook]

    def remove_commit_hook(self, hook: CommitHook) -> None:
        """Stop calling ``hook`` (one added before; anything else is ignored)."""
        self._after_commit = [h for h in self._after_commit if h is not hook]

    def _committed(self) -> None:
        for hook in self._after_commit:
            hook()

    # -- writes --------------------------------------------------------------

    def insert_events(self, events: Sequence[Event | None], sender: str | None = None) -> list[int]:
        """Zeitgeist's InsertEvents: ids in input order, 0 for dropped events.

        The batch is checked whole first: one invalid event raises and nothing
        is stored. ``None`` (a NULL event), an event with a preset id and an
        event without subjects get id 0. A duplicate of a stored event gets
        the stored event's id.
        """
        if isinstance(events, Event):
            raise InvalidArgument("insert_events takes a list of events, not one event")
        batch: list[Event | None] = [
            None if event is None else prepare(event, self._clock) for event in events
        ]
        for hook in self._pre_insert:
            batch = hook(batch, sender)
        for event in batch:
            if event is not None:
                check_unique_uris(event)
        storable = [
            event if event is not None and event.id == 0 and event.subjects else None
            for event in batch
        ]
        ids, _ = self.store.insert(storable)
        self._committed()
        return ids

    def import_events(self, events: Sequence[Event], *, keep_ids: bool = False) -> Imported:
        """Restore events recorded elsewhere (an export, Zeitgeist, a peer), as they were.

        uid, node, timestamp and every field are kept; nothing is auto-filled
        and a MoveEvent does not rewrite earlier events again. The local id is
        kept too with ``keep_ids`` (InvalidArgument if it is taken), else a new
        one is given. An event whose uid or dedup key is already stored is not
        stored again; its existing id is returned. The batch is all or nothing.
        """
        if isinstance(events, Event):
            raise InvalidArgument("import_events takes a list of events, not one event")
        batch = self._prepare_imported(events, keep_ids=keep_ids)
        ids, stored = self.store.insert(batch, keep_ids=keep_ids, replay=True)
        self._committed()
        return Imported(ids, len(stored))

    def receive(
        self,
        events: Sequence[Event],
        tombstones: Sequence[str] = (),
        *,
        source: str,
        cursor: tuple[str, int] | None = None,
        filtered: bool = False,
    ) -> Received:
        """Take in a batch another node sent (sync), with its cursor, in one transaction.

        ``events`` keep their uid, node and fields (each must carry a uid and
        a node) and get local ids; an event already stored, or whose uid has
        a tombstone here, is not stored again, so a batch replayed any number
        of times changes nothing. ``tombstones`` (uids deleted there) are
        applied first and win over any insert of the same uid, earlier or
        later. A received MoveEvent moves earlier events here as it did there.
        ``source`` is the node the batch came from (its changes are not sent
        back there); ``cursor`` (name, seq) is stored with the batch.
        ``filtered``: the pre-insert hooks (the blacklist) drop events first.
        """
        if isinstance(events, Event):
            raise InvalidArgument("receive takes a list of events, not one event")
        if not isinstance(source, str) or not source:
            raise InvalidArgument("a received batch needs the node it came from")
        if cursor is not None:
            _check_cursor(*cursor)
        for n, event in enumerate(events):
            if not isinstance(event, Event) or not event.uid or not event.node:
                raise InvalidArgument(f"received event {n} needs a uid and a node")
        batch = self._prepare_imported(events, keep_ids=False)
        for n, uid in enumerate(tombstones):
            try:
                uid_from_str(uid)
            except (ValueError, TypeError, AttributeError):
                raise InvalidArgument(f"tombstone {n} is not a uid: {uid!r}") from None
        if filtered:
            for hook in self._pre_insert:
                batch = hook(batch, source)
        received = Receiving(source, tuple(tombstones), cursor)
        ids, stored = self.store.insert(batch, received=received)
        self._committed()
        return Received(stored=len(stored), refused=sum(1 for i in ids if i == 0))

    def _prepare_imported(self, events: Sequence[Event], *, keep_ids: bool) -> list[Event | None]:
        """Events recorded elsewhere, checked and ready to store as they were."""
        batch: list[Event | None] = []
        for event in events:
            prepared = prepare_imported(event, self._clock)
            check_unique_uris(prepared)
            batch.append(prepared if keep_ids or not prepared.id else prepared.with_changes(id=0))
        return batch

    def delete_events(self, ids: Sequence[int], *, defer: bool = False) -> tuple[int, int] | None:
        """Zeitgeist's DeleteEvents: the deleted events' (min, max) timestamps.

        None if none of the ids existed (D-Bus sends that as (-1, -1)). With
        ``defer`` the deletion is committed as its tombstones alone and the
        rows are removed by ``purge_deleted`` (or by the next read or write,
        whichever comes first): a caller that answers in between answers
        sooner, and no read can tell the difference (store/removal.py).
        """
        deleted = self.store.delete(_check_ids(ids), defer=defer)
        self._committed()
        return None if deleted is None else (deleted.start, deleted.end)

    @property
    def purge_due(self) -> bool:
        """True while a deferred delete's rows wait for ``purge_deleted``."""
        return self.store.purge_due

    def purge_deleted(self) -> None:
        """Remove the rows a deferred ``delete_events`` left (nothing if none are due)."""
        self.store.purge()

    # -- reads ---------------------------------------------------------------

    def get_events(self, ids: Sequence[int]) -> list[Event | None]:
        """Events in request order; repeated ids repeat; unknown ids give None."""
        checked = _check_ids(ids)
        with self.store.reading() as conn:
            return queries.get_events(self.store, conn, checked)

    def summary(
        self,
        time_range: TimeRange | None = None,
        templates: Sequence[Event] = (),
        storage_state: StorageState | int = StorageState.ANY,
        group: GroupField | str = GroupField.ACTOR,
    ) -> list[tuple[str, int, int]]:
        """How much each value of a field was used: (value, count, newest timestamp).

        Events per actor (or event origin), subjects per URI, mimetype,
        origin, interpretation..., most used first, over the events a find
        with these templates and time range would return.
        """
        field = _group_field(group)
        find = _Find.check(time_range, templates, storage_state, ResultType.MOST_RECENT_EVENTS)
        with self.store.reading() as conn:
            return queries.usage(
                self.store, conn, find.time_range, find.templates, find.storage_state, field
            )

    def get_event_by_uid(self, uid: str) -> Event | None:
        """The event with this uid (its canonical UUID text), or None."""
        try:
            raw = uid_from_str(uid)
        except (ValueError, TypeError, AttributeError):
            raise InvalidArgument(f"uid: {uid!r} is not a UUID") from None
        with self.store.reading() as conn:  # one snapshot: the id and its event
            event_id = self.store.event_id_by_uid(conn, raw)
            if event_id is None:
                return None
            return queries.get_events(self.store, conn, [event_id])[0]

    def find_event_ids(
        self,
        time_range: TimeRange | None = None,
        templates: Sequence[Event] = (),
        storage_state: StorageState | int = StorageState.ANY,
        num_events: int = 0,
        result_type: ResultType | int = ResultType.MOST_RECENT_EVENTS,
    ) -> list[int]:
        """Zeitgeist's FindEventIds (docs/ZEITGEIST.md §2.2, §2.5)."""
        find = _Find.check(time_range, templates, storage_state, result_type)
        num = _check_count(num_events, "num_events")
        with self.store.reading() as conn:
            return self._find_ids(conn, find, num)

    def _find_ids(self, conn: sqlite3.Connection, find: _Find, num: int) -> list[int]:
        return queries.find_event_ids(
            self.store,
            conn,
            find.time_range,
            find.templates,
            find.storage_state,
            num,
            find.result_type,
        )

    def find_events(
        self,
        time_range: TimeRange | None = None,
        templates: Sequence[Event] = (),
        storage_state: StorageState | int = StorageState.ANY,
        num_events: int = 0,
        result_type: ResultType | int = ResultType.MOST_RECENT_EVENTS,
    ) -> list[Event]:
        """Zeitgeist's FindEvents: the events of ``find_event_ids``, in its order."""
        ids = self.find_event_ids(time_range, templates, storage_state, num_events, result_type)
        return [event for event in self.get_events(ids) if event is not None]

    def find_event_ids_within(
        self,
        steps: int,
        time_range: TimeRange | None = None,
        templates: Sequence[Event] = (),
        storage_state: StorageState | int = StorageState.ANY,
        num_events: int = 0,
        result_type: ResultType | int = ResultType.MOST_RECENT_EVENTS,
    ) -> list[int] | None:
        """``find_event_ids``, or None once SQLite has run about ``steps`` VM steps on it.

        For a caller that must not wait long (the D-Bus daemon's event loop):
        a find that needs more is stopped and can be run again without a
        budget elsewhere; reading has no effects, so nothing is left half
        done. Work outside SQLite is not counted: keep it bounded (a limit,
        a few templates) before asking.
        """
        find = _Find.check(time_range, templates, storage_state, result_type)
        num = _check_count(num_events, "num_events")
        with self.store.reading() as conn, _StepBudget(conn, steps) as budget:
            try:
                return self._find_ids(conn, find, num)
            except sqlite3.OperationalError:
                if budget.spent:
                    return None
                raise

    def get_event_structs(self, ids: Sequence[int]) -> list[EventStruct | None]:
        """``get_events`` as Zeitgeist's structs of text fields (``queries.EventStruct``)."""
        checked = _check_ids(ids)
        with self.store.reading() as conn:
            return queries.get_event_structs(self.store, conn, checked)

    def find_event_structs(
        self,
        time_range: TimeRange | None = None,
        templates: Sequence[Event] = (),
        storage_state: StorageState | int = StorageState.ANY,
        num_events: int = 0,
        result_type: ResultType | int = ResultType.MOST_RECENT_EVENTS,
    ) -> list[EventStruct]:
        """``find_events`` as structs (``get_event_structs`` of ``find_event_ids``)."""
        ids = self.find_event_ids(time_range, templates, storage_state, num_events, result_type)
        return [struct for struct in self.get_event_structs(ids) if struct is not None]

    def find_event_ids_among(
        self,
        among: Sequence[int],
        time_range: TimeRange | None = None,
        templates: Sequence[Event] = (),
        storage_state: StorageState | int = StorageState.ANY,
        result_type: ResultType | int = ResultType.MOST_RECENT_EVENTS,
    ) -> list[int]:
        """``find_event_ids`` without a limit, over the events ``among`` only.

        For full-text search: the index names the candidate events, and the
        find's templates, time range, storage state, grouping and order
        apply to them as if the log held nothing else.
        """
        candidates = _check_ids(among)
        find = _Find.check(time_range, templates, storage_state, result_type)
        if not candidates:
            return []
        with self.store.reading() as conn:
            return queries.find_event_ids_among(
                self.store,
                conn,
                candidates,
                find.time_range,
                find.templates,
                find.storage_state,
                find.result_type,
            )

    def find_related_uris(
        self,
        time_range: TimeRange | None = None,
        templates: Sequence[Event] = (),
        result_templates: Sequence[Event] = (),
        storage_state: StorageState | int = StorageState.ANY,
        num_events: int = 10,
        result_type: RelevantResultType | int = RelevantResultType.RECENT,
    ) -> list[str]:
        """Zeitgeist's FindRelatedUris, without its out-of-bounds read (see related.py)."""
        if isinstance(result_type, bool) or result_type not in (0, 1):
            raise DatabaseError("Unsupported RelevantResultType")
        kind = RelevantResultType(result_type)
        time_range = _check_range(time_range or TimeRange())
        templates = _check_templates(templates)
        result_templates = _check_templates(result_templates, "result template")
        state = StorageState.parse(storage_state)
        num = _check_count(num_events, "num_events")
        oldest_first = ResultType.LEAST_RECENT_EVENTS
        with self.store.reading() as conn, pending.snapshot(conn):
            ids = queries.find_event_ids(
                self.store, conn, time_range, templates, state, 0, oldest_first
            )
            if templates and not ids:
                raise NothingMatched("No results found for the event_templates")
            # Only the rows around template events can count (store/neighbours.py).
            template_ids = set(ids)
            allowed = None
            if len(ids) <= neighbours.MAX_TEMPLATE_EVENTS:
                allowed = neighbours.result_ids_near(
                    self.store, conn, time_range, ids, result_templates, state
                )
                wanted = template_ids | allowed if allowed is not None else set()
            if allowed is None:
                wanted, allowed = neighbours.union_near(
                    self.store, conn, time_range, templates, result_templates, state
                )
            rows = queries.related_rows(conn, self.store, wanted)
        return related_uris(rows, template_ids, allowed, num, kind)

    def iter_events(
        self, time_range: TimeRange | None = None, page_size: int = 1000
    ) -> Iterator[Event]:
        """Every event (in ``time_range``), oldest first by (timestamp, id), in pages.

        All pages come from one read snapshot, so the iteration is consistent
        even while others write (for an in-memory log, writers wait instead).
        """
        time_range = _check_range(time_range or TimeRange())
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise InvalidArgument(f"page size must be a positive integer, got {page_size!r}")
        store = self.store
        with store.reading() as conn:
            snapshot = not conn.in_transaction
            if snapshot:
                conn.execute("BEGIN")
            try:
                keys = queries.page_keys(conn, time_range, None, page_size)
                while keys:
                    for event in queries.get_events(store, conn, [key[1] for key in keys]):
                        if event is not None:
                            yield event
                    if len(keys) < page_size:
                        break
                    keys = queries.page_keys(conn, time_range, keys[-1], page_size)
            finally:
                if snapshot:
                    conn.execute("COMMIT")

    # -- the changes feed ------------------------------------------------------

    def changes(
        self,
        since: int = 0,
        limit: int = 1000,
        *,
        descending: bool = False,
        before: int | None = None,
    ) -> list[Change]:
        """Committed changes after ``since``, in seq order (gap-free).

        ``descending``: the newest ``limit`` changes after ``since`` (and
        before ``before``, to page on), newest first.
        """
        for value, what in ((since, "since"), (before or 0, "before")):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= INT64_MAX:
                raise InvalidArgument(f"{what} must be a seq (0 to 2**63 - 1), got {value!r}")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= 1_000_000:
            raise InvalidArgument(f"limit must be between 1 and 1000000, got {limit!r}")
        return self.store.changes(since, limit, descending=descending, before=before)

    def last_seq(self) -> int:
        """The seq of the newest committed change (0 for an empty log)."""
        return self.store.last_seq()

    def cursor(self, name: str) -> int:
        """A consumer's stored feed position (InvalidKey if never stored)."""
        _check_cursor(name, 0)
        return self.store.get_cursor(name)

    def save_cursor(self, name: str, seq: int) -> None:
        """Store a consumer's feed position on its own."""
        with self.transaction() as tx:
            tx.set_cursor(name, seq)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A write transaction for a consumer's own work and its cursor."""
        with self.store.writing() as conn:
            yield Transaction(self.store, conn)

    # -- API tokens ------------------------------------------------------------

    def create_token(self, scope: Scope | str, name: str = "") -> tuple[str, TokenInfo]:
        """A new API token: its text (shown once, stored only as a digest) and its record."""
        checked = scope if isinstance(scope, Scope) else Scope.parse(scope)
        with self.store.writing() as conn:
            return tokens.add(conn, name, checked, self._clock())

    def list_tokens(self) -> list[TokenInfo]:
        """The stored tokens (never their secrets)."""
        with self.store.reading(settle=False) as conn:
            return tokens.listed(conn)

    def revoke_token(self, token_id: str) -> None:
        """Delete a token by id; InvalidKey if there is none."""
        with self.store.writing() as conn:
            tokens.remove(conn, token_id)

    def check_token(self, text: str) -> Scope | None:
        """The scope a token text grants, or None if it is not a valid token."""
        with self.store.reading(settle=False) as conn:
            return tokens.check(conn, text)

    # -- maintenance -----------------------------------------------------------

    def stats(self) -> Stats:
        """Counts over the whole log."""
        with self.store.reading() as conn:
            return queries.summary(self.store, conn)

    def histogram(self) -> list[tuple[int, int]]:
        """Subjects per local day, newest first (the Histogram extension's answer)."""
        with self.store.reading() as conn:
            return queries.histogram(conn)

    def storage_media(self) -> list[tuple[str, int | None, str, str]]:
        """(name, state: 1, 0 or None if unknown, icon, display name) of each medium."""
        with self.store.reading() as conn:
            return queries.storage_media(conn)

    def set_storage_state(
        self, name: str, available: bool, icon: str = "", display_name: str = ""
    ) -> None:
        """Record whether a storage medium is available (storage-state finds use it)."""
        self.store.set_storage_state(name, available, icon, display_name)

    def vacuum(self) -> None:
        """Rebuild the file to return free pages to the file system."""
        self.store.vacuum()
