"""One replicator: a source's changes into a target, once or continuously.

Theory of operation. A replication moves one direction: pulling is "the
peer is the source, this log the target", pushing the reverse. The target
keeps the checkpoint, the last source seq it took in, under the cursor
``sync:from:<source node>``, written in the same transaction as the events
it covers (``Engine.receive``); so a crash or a kill -9 anywhere leaves the
events and the checkpoint consistent, and the next run resumes from the
checkpoint with nothing stored twice (and a replayed batch stores nothing
anyway: events are known by uid).

The source leaves out changes that came from the target's node, and inserts
of events recorded there, so nothing is echoed back where it came from
(``not_from``). It still reports the last seq it looked at, so the
checkpoint moves past what it left out.

A loop reads a batch, writes it, and reads the next batch while the target
writes the current one (the two sides work at once, which is what lets a
catch-up run at the target's own insert rate). At the feed's end a
continuous replication waits on the source (a long poll, or the local
log's commits) for the next change. An error is recorded in ``Status`` and
retried after a delay that doubles up to a cap, with jitter, so a fleet of
machines does not retry in step; what was written before it is kept.

This module is the core: the sources and targets are ``sync.local`` (this
log) and ``sync.http_peer`` (another daemon over HTTP).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from zeitbus.errors import AccessDenied, InvalidArgument, ZeitbusError
from zeitbus.model import Event

logger = logging.getLogger(__name__)

CURSOR_PREFIX = "sync:from:"
BATCH = 2000  # changes per read: large enough that per-batch costs vanish
LIVE_WAIT = 30.0  # seconds a live replication waits on the source per look


def cursor_name(source_node: str) -> str:
    """The cursor a target keeps for what it took in from ``source_node``."""
    return CURSOR_PREFIX + source_node


@dataclass(frozen=True, slots=True)
class Batch:
    """Changes read from a source: events to store, uids deleted, and where reading got to.

    ``last_seq`` is the last source seq looked at (rows left out included);
    ``pending``: how many changes the source has after it (None: unknown).
    """

    events: tuple[Event, ...]
    tombstones: tuple[str, ...]
    last_seq: int
    pending: int | None = None

    @property
    def size(self) -> int:
        return len(self.events) + len(self.tombstones)


class Source(Protocol):
    """Where changes come from."""

    async def node(self) -> str:
        """The source's node id."""
        ...  # pragma: no cover

    async def read(self, since: int, limit: int, not_from: str, wait: float = 0.0) -> Batch:
        """Up to ``limit`` changes after ``since``, leaving out those from ``not_from``.

        With ``wait`` > 0 and nothing there yet, wait up to that many seconds
        for the next change first.
        """
        ...  # pragma: no cover

    async def close(self) -> None:
        """Let go of connections and hooks."""
        ...  # pragma: no cover


class Target(Protocol):
    """Where changes go."""

    async def node(self) -> str:
        """The target's node id."""
        ...  # pragma: no cover

    async def checkpoint(self, source: str) -> int:
        """The last seq of ``source`` the target took in (0: none)."""
        ...  # pragma: no cover

    async def write(self, batch: Batch, source: str) -> int:
        """Store ``batch`` from ``source`` with its checkpoint, in one step; events stored."""
        ...  # pragma: no cover

    async def close(self) -> None:
        """Let go of connections and hooks."""
        ...  # pragma: no cover


@dataclass
class Status:
    """How a replication is doing, for ``zeitbus sync status`` and the API."""

    state: str = "idle"  # idle, catching up, live, retrying, stopped, failed
    source: str = ""  # node ids, once known
    target: str = ""
    last_seq: int = 0  # the source seq the target has taken in
    pending: int | None = None  # changes the source has after last_seq
    events: int = 0  # events this process moved (stored by the target)
    tombstones: int = 0
    last_error: str = ""
    last_error_at: float | None = None
    last_success_at: float | None = None
    caught_up_at: float | None = None  # when the target was last seen to have it all
    errors: int = 0

    def as_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass
class Backoff:
    """Retry delays: doubling from ``first`` up to ``cap`` seconds, with full jitter."""

    first: float = 0.5
    cap: float = 60.0
    rng: Callable[[], float] = field(default=random.random)
    _attempt: int = 0

    def next(self) -> float:
        delay = min(self.cap, self.first * 2.0**self._attempt)
        self._attempt += 1
        jitter: float = self.rng()
        return delay / 2 + jitter * delay / 2  # never 0: a tight loop helps no one

    def reset(self) -> None:
        self._attempt = 0


class Replication:
    """Changes of ``source`` into ``target``: ``run_once`` to catch up, ``run`` to follow."""

    def __init__(
        self,
        source: Source,
        target: Target,
        *,
        batch: int = BATCH,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self.target = target
        self.batch = batch
        self.backoff = backoff or Backoff()
        self.status = Status()
        self._clock = clock
        self.progress: Callable[[Status], None] | None = None

    async def _nodes(self) -> tuple[str, str]:
        if not self.status.source:
            self.status.source = await self.source.node()
        if not self.status.target:
            self.status.target = await self.target.node()
        if self.status.source == self.status.target:
            raise InvalidArgument(f"a node cannot sync with itself ({self.status.source})")
        return self.status.source, self.status.target

    async def close(self) -> None:
        """Close the source and the target."""
        await self.source.close()
        await self.target.close()

    async def run_once(self) -> Status:
        """Move everything the source has now; errors are raised (nothing retried)."""
        await self._catch_up(live=False)
        return self.status

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the source until ``stop`` is set, retrying errors with backoff."""
        while not stop.is_set():
            try:
                await self._catch_up(live=True, stop=stop)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a peer's fault must never end the daemon's sync
                self._failed(error)
                # A revoked token will not heal in a second: wait the longest.
                denied = isinstance(error, AccessDenied)
                delay = self.backoff.cap if denied else self.backoff.next()
                self.status.state = "retrying"
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
        self.status.state = "stopped"

    def _failed(self, error: Exception) -> None:
        status = self.status
        status.errors += 1
        status.last_error = _describe(error)
        status.last_error_at = self._clock()
        level = logging.DEBUG if status.errors > 1 else logging.WARNING
        logger.log(level, "Sync %s -> %s: %s", status.source, status.target, status.last_error)

    async def _catch_up(self, *, live: bool, stop: asyncio.Event | None = None) -> None:
        source, target = await self._nodes()
        status = self.status
        since = await self.target.checkpoint(source)
        status.last_seq = since
        status.state = "catching up"
        reading = asyncio.ensure_future(self.source.read(since, self.batch, target))
        waited = False  # ``reading`` is a live wait, begun with the target caught up
        try:
            while True:
                batch = await reading
                if waited:  # caught up until the change it brings
                    status.caught_up_at = self._clock()
                    waited = False
                status.pending = batch.pending
                if batch.last_seq <= since:  # nothing new
                    if not live:
                        break
                    self._caught_up()
                    reading = asyncio.ensure_future(
                        self.source.read(since, self.batch, target, wait=LIVE_WAIT)
                    )
                    waited = True
                    if stop is not None:
                        await _either(reading, stop)
                        if stop.is_set():
                            break
                    continue
                # Read the next batch while this one is written.
                reading = asyncio.ensure_future(
                    self.source.read(batch.last_seq, self.batch, target)
                )
                stored = await self.target.write(batch, source)
                since = status.last_seq = batch.last_seq
                status.events += stored
                status.tombstones += len(batch.tombstones)
                status.last_success_at = self._clock()
                status.last_error = ""
                self.backoff.reset()
                if self.progress is not None:
                    self.progress(status)
        finally:
            reading.cancel()
            with contextlib.suppress(BaseException):
                await reading
        self._caught_up()

    def _caught_up(self) -> None:
        self.status.caught_up_at = self._clock()
        self.status.state = "live"
        self.status.pending = 0
        self.status.last_error = ""  # healed: last_error_at and errors keep the history


async def _either(task: asyncio.Future[Batch], stop: asyncio.Event) -> None:
    """Wait until ``task`` is done or ``stop`` is set."""
    stopping: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    waited: list[asyncio.Future[Any]] = [task, stopping]
    try:
        await asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()


def _describe(error: Exception) -> str:
    """One line for sync status: the error tree's message, or the exception's own."""
    if isinstance(error, ZeitbusError):
        return error.message
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}" if type(error).__name__ not in text else text
