"""``GET /changes``: the changes feed with CouchDB's ``_changes`` contract.

Theory of operation. The feed is the log's ``change`` table (gap-free
``seq``, inserts and tombstones). A request names where to start (``since``,
``now`` or ``Last-Event-ID``) and a mode (docs/PROTOCOLS.md §1):

* ``normal``: what is there now, as one JSON object
  ``{"results":[...],"last_seq":N,"pending":P}``, streamed page by page;
* ``longpoll``: the same, but if nothing is there yet, wait for the first
  change (or the timeout) and answer with it;
* ``continuous``: one row per line, forever (until the timeout, the limit or
  the client goes), ending with a ``{"last_seq":N,"pending":P}`` line;
* ``eventsource``: Server-Sent Events, ``data: <row>`` with ``id: <seq>``.

Idle streams send heartbeats as bytes on the wire (``\\n``, or an SSE
``heartbeat`` event) every ``heartbeat`` ms; ``heartbeat`` overrides
``timeout``. Writers wake waiting streams through ``FeedWatch``, which the
engine's commit hook pokes; changes other processes commit are seen by a
once-a-second look at the feed's end while anyone waits.

With templates, inserts whose event matches none of them are left out;
tombstones are always sent (the event is gone, its fields with it), as
D-Bus's NotifyDelete ignores templates. ``last_seq`` is the last change
*looked at*, so a follower resuming from it never reads a change twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from zeitbus.commits import on_commit
from zeitbus.engine import Engine
from zeitbus.errors import InvalidArgument
from zeitbus.http.wire import change_row
from zeitbus.matching import matches_any
from zeitbus.model import INT64_MAX, ChangeKind, Event

MODES = ("normal", "longpoll", "continuous", "eventsource")
PAGE = 1000  # changes read per look at the table
DEFAULT_TIMEOUT = 60_000  # ms, CouchDB's default (and its maximum for timeout)
DEFAULT_HEARTBEAT = 60_000  # ms, what heartbeat=true means
POLL_SECONDS = 1.0  # how often waiting streams look for other processes' changes


class FeedWatch:
    """Wakes feed streams when the log changes.

    The engine's commits wake the waiters on the event loop (``on_commit``).
    While anyone waits, a poller also looks at the feed's end once a second,
    for changes committed by other processes.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._unhook: Callable[[], None] | None = None
        self._changed = asyncio.Event()
        self._waiters = 0
        self._poller: asyncio.Task[None] | None = None
        self._seen = 0
        self.version = 0  # changes seen so far; a reader notes it before reading the feed

    def start(self) -> None:
        """Follow the engine's commits on the running loop (once)."""
        if self._unhook is None:
            self._unhook = on_commit(self._engine, self._wake)

    async def stop(self) -> None:
        """Stop looking (streams still waiting time out as usual)."""
        if self._unhook is not None:
            self._unhook()
            self._unhook = None
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)

    @property
    def waiting(self) -> int:
        """How many streams wait for a change now."""
        return self._waiters

    def _wake(self) -> None:
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait(self, seconds: float, version: int | None = None) -> bool:
        """Wait for the next change, at most ``seconds``; True if one came.

        ``version`` is what ``self.version`` was before the caller last read
        the feed: a change committed since then returns at once, so none is
        missed between reading and waiting.
        """
        self.start()  # an app run without its lifespan (tests) starts on first use
        if version is not None and version != self.version:
            return True
        changed = self._changed
        self._waiters += 1
        if self._poller is None or self._poller.done():
            self._poller = asyncio.ensure_future(self._poll())
        try:
            await asyncio.wait_for(changed.wait(), max(seconds, 0.0))
        except TimeoutError:
            return False
        finally:
            self._waiters -= 1
        return True

    async def _poll(self) -> None:
        self._seen = await asyncio.to_thread(self._engine.last_seq)
        while self._waiters > 0:
            await asyncio.sleep(POLL_SECONDS)
            newest = await asyncio.to_thread(self._engine.last_seq)
            if newest != self._seen:
                self._seen = newest
                self._wake()


@dataclass(frozen=True)
class FeedRequest:
    """A checked ``/changes`` request."""

    mode: str = "normal"
    since: int = 0
    from_now: bool = False  # since=now: the caller sets ``since`` to the feed's end
    limit: int | None = None
    descending: bool = False
    heartbeat: int | None = None  # ms
    timeout: int = DEFAULT_TIMEOUT  # ms
    include_docs: bool = False
    templates: tuple[Event, ...] = ()


def _flag(params: dict[str, str], name: str) -> bool:
    value = params.get(name, "false").lower()
    if value not in ("true", "false"):
        raise InvalidArgument(f"{name} must be true or false, not {params[name]!r}")
    return value == "true"


def _ms(params: dict[str, str], name: str) -> int | None:
    if name not in params:
        return None
    text = params[name]
    if name == "heartbeat" and text.lower() == "true":
        return DEFAULT_HEARTBEAT
    if not text.isdigit() or int(text) > 10**9:
        raise InvalidArgument(f"{name} must be a number of milliseconds, not {text!r}")
    return int(text)


def parse_request(
    params: dict[str, str], last_event_id: str | None, templates: Sequence[Event]
) -> FeedRequest:
    """The request's parameters checked (InvalidArgument for anything malformed).

    ``since=now`` comes back as ``from_now``, for the caller to read the
    feed's end off the event loop.
    """
    mode = params.get("feed", "normal")
    if mode not in MODES:
        raise InvalidArgument("Supported 'feed' types: normal, continuous, longpoll, eventsource")
    since_text = params.get("last-event-id") or last_event_id or params.get("since", "0")
    since_text = since_text.strip().strip('"')  # an SSE id is the JSON of the seq
    from_now = since_text == "now"
    # A seq is a SQLite integer: past 2**63 - 1 it names nothing SQLite can compare.
    if not (from_now or (since_text.isdigit() and int(since_text) <= INT64_MAX)):
        raise InvalidArgument(f"since must be a seq from this feed or 'now', not {since_text!r}")
    limit = None
    if "limit" in params:
        if not params["limit"].isdigit():
            raise InvalidArgument(f"limit must be a whole number, not {params['limit']!r}")
        limit = max(1, int(params["limit"]))  # CouchDB: limit=0 behaves like 1
    descending = _flag(params, "descending")
    if descending and mode != "normal":
        raise InvalidArgument("descending works with feed=normal only")
    heartbeat = _ms(params, "heartbeat")
    if heartbeat == 0:
        raise InvalidArgument("heartbeat must be at least 1 ms")
    timeout = _ms(params, "timeout")
    return FeedRequest(
        mode=mode,
        since=0 if from_now else int(since_text),
        from_now=from_now,
        limit=limit,
        descending=descending,
        heartbeat=heartbeat,
        timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
        include_docs=_flag(params, "include_docs"),
        templates=tuple(templates),
    )


def read_rows(
    engine: Engine, request: FeedRequest, cursor: int, wanted: int | None
) -> tuple[list[dict[str, Any]], int, bool]:
    """The next rows after ``cursor`` (runs in a thread).

    Returns (rows, the last seq looked at, whether the feed's end was
    reached). At most ``wanted`` rows; pages are read until then while
    templates filter rows out. Descending, ``cursor`` is the seq the next
    page ends below (0: from the newest) and ``request.since`` the floor.
    """
    rows: list[dict[str, Any]] = []
    while True:
        page = PAGE if wanted is None else min(PAGE, wanted - len(rows))
        if request.descending:
            changes = engine.changes(request.since, page, descending=True, before=cursor or None)
        else:
            changes = engine.changes(cursor, page)
        if not changes:
            return rows, cursor, True
        needs_events = request.include_docs or bool(request.templates)
        inserted = [c.id for c in changes if c.kind is ChangeKind.INSERT] if needs_events else []
        stored = {e.id: e for e in engine.get_events(inserted) if e is not None}
        for change in changes:
            cursor = change.seq
            event = stored.get(change.id) if change.kind is ChangeKind.INSERT else None
            if change.kind is ChangeKind.INSERT and needs_events and event is None:
                continue  # deleted since: its tombstone follows
            if (
                request.templates
                and event is not None
                and not matches_any(event, request.templates)
            ):
                continue
            rows.append(change_row(change, event, request.include_docs))
            if wanted is not None and len(rows) >= wanted:
                return rows, cursor, False
        if len(changes) < page:
            return rows, cursor, True


_encode = msgspec.json.Encoder().encode


def _sse(row: dict[str, Any]) -> bytes:
    return b"data: " + _encode(row) + b"\nid: " + _encode(row["seq"]) + b"\n\n"


async def normal(engine: Engine, request: FeedRequest, watch: FeedWatch) -> AsyncIterator[bytes]:
    """``normal`` and ``longpoll``: one JSON object, streamed."""
    yield b'{"results":[\n'
    loop = asyncio.get_running_loop()
    deadline = loop.time() + request.timeout / 1000
    since, sent = (0 if request.descending else request.since), 0
    while True:
        wanted = None if request.limit is None else request.limit - sent
        version = watch.version
        rows, since, at_end = await asyncio.to_thread(read_rows, engine, request, since, wanted)
        if rows:
            # A page per write: a write per row made the transport the bottleneck.
            yield (b",\r\n" if sent else b"") + b",\r\n".join(map(_encode, rows))
            sent += len(rows)
        if request.limit is not None and sent >= request.limit:
            break
        if not at_end:
            continue
        if request.mode == "normal" or request.descending or sent:
            break
        # longpoll, nothing yet: wait for a change; heartbeats are legal whitespace here.
        if request.heartbeat is None and loop.time() >= deadline:
            break
        async for beat in _idle(watch, request, deadline, version):
            yield beat
    if request.descending:
        # The last row in output order, as CouchDB; the floor if there was none.
        since, pending = (since if sent else request.since), 0
    else:
        pending = max(0, await asyncio.to_thread(engine.last_seq) - since)
    yield b'\n],\n"last_seq":' + _encode(since) + b',"pending":' + _encode(pending) + b"}\n"


async def _idle(
    watch: FeedWatch, request: FeedRequest, deadline: float, version: int
) -> AsyncIterator[bytes]:
    """Wait for the next change, sending a heartbeat every ``heartbeat`` ms meanwhile.

    Without a heartbeat the wait ends at ``deadline`` at the latest; with
    one it lasts until a change comes (heartbeat overrides timeout).
    """
    loop = asyncio.get_running_loop()
    if request.heartbeat is None:
        await watch.wait(deadline - loop.time(), version)
        return
    beat = b"event: heartbeat\ndata: \n\n" if request.mode == "eventsource" else b"\n"
    while not await watch.wait(request.heartbeat / 1000, version):
        yield beat


async def stream(engine: Engine, request: FeedRequest, watch: FeedWatch) -> AsyncIterator[bytes]:
    """``continuous`` and ``eventsource``: a row per line (or per event) as changes come."""
    loop = asyncio.get_running_loop()
    sse = request.mode == "eventsource"
    since, sent = request.since, 0
    deadline = loop.time() + request.timeout / 1000
    while True:
        wanted = None if request.limit is None else request.limit - sent
        version = watch.version
        rows, since, at_end = await asyncio.to_thread(read_rows, engine, request, since, wanted)
        if rows:
            yield b"".join(_sse(row) if sse else _encode(row) + b"\n" for row in rows)
        sent += len(rows)
        if rows:
            deadline = loop.time() + request.timeout / 1000  # the timeout counts idle time
        if request.limit is not None and sent >= request.limit:
            break
        if not at_end:
            continue
        if request.heartbeat is None and loop.time() >= deadline:
            break
        async for beat in _idle(watch, request, deadline, version):
            yield beat
    if not sse:
        pending = max(0, await asyncio.to_thread(engine.last_seq) - since)
        yield b'{"last_seq":' + _encode(since) + b',"pending":' + _encode(pending) + b"}\n"
