"""This log as a replication's source and target (``sync.replicator``).

Reading: the changes feed after a seq, leaving out what came from the node
being synced with (its own events and changes received from it), with the
events of the inserts. An insert whose event was deleted since is left out:
its tombstone follows in the feed. Writing: ``Engine.receive`` with the
checkpoint in the same transaction. The engine's calls run in worker
threads, so a long batch never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from zeitbus.commits import on_commit
from zeitbus.engine import Engine, Received
from zeitbus.errors import InvalidKey
from zeitbus.model import ChangeKind, Event
from zeitbus.sync.replicator import Batch, cursor_name


class LocalLog:
    """An engine as a ``Source`` and a ``Target``."""

    def __init__(self, engine: Engine, *, filtered: bool = False) -> None:
        self.engine = engine
        self.filtered = filtered  # the blacklist applies to what is received
        self._changed: asyncio.Event | None = None
        self._unhook: Callable[[], None] | None = None

    async def node(self) -> str:
        return self.engine.node

    # -- source ----------------------------------------------------------------

    async def read(self, since: int, limit: int, not_from: str, wait: float = 0.0) -> Batch:
        batch = await asyncio.to_thread(read_batch, self.engine, since, limit, not_from)
        if batch.last_seq > since or wait <= 0:
            return batch
        changed = self._watch()
        changed.clear()
        # Read again after arming the wake-up: a commit in between is not missed.
        batch = await asyncio.to_thread(read_batch, self.engine, since, limit, not_from)
        if batch.last_seq > since:
            return batch
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), wait)
        return await asyncio.to_thread(read_batch, self.engine, since, limit, not_from)

    def _watch(self) -> asyncio.Event:
        if self._changed is None:
            changed = self._changed = asyncio.Event()
            self._unhook = on_commit(self.engine, changed.set)
        return self._changed

    async def close(self) -> None:
        """Stop following the engine's commits (the engine stays open)."""
        if self._unhook is not None:
            self._unhook()
            self._unhook = None

    # -- target ----------------------------------------------------------------

    async def checkpoint(self, source: str) -> int:
        return await asyncio.to_thread(checkpoint, self.engine, source)

    async def write(self, batch: Batch, source: str) -> int:
        done = await asyncio.to_thread(receive, self.engine, batch, source, self.filtered)
        return done.stored


def checkpoint(engine: Engine, source: str) -> int:
    """The last seq of node ``source`` this log took in (0: none)."""
    try:
        return engine.cursor(cursor_name(source))
    except InvalidKey:
        return 0


def receive(engine: Engine, batch: Batch, source: str, filtered: bool) -> Received:
    """Store ``batch`` from node ``source`` with its checkpoint, in one transaction."""
    return engine.receive(
        batch.events,
        batch.tombstones,
        source=source,
        cursor=(cursor_name(source), batch.last_seq),
        filtered=filtered,
    )


def read_batch(engine: Engine, since: int, limit: int, not_from: str) -> Batch:
    """Up to ``limit`` changes after ``since`` for node ``not_from`` (see the module doc)."""
    changes = engine.changes(since, limit)
    last_seq = changes[-1].seq if changes else since
    wanted = [
        c
        for c in changes
        if c.source != not_from and not (c.kind is ChangeKind.INSERT and c.node == not_from)
    ]
    inserted = [c.id for c in wanted if c.kind is ChangeKind.INSERT]
    events: list[Event] = [e for e in engine.get_events(inserted) if e is not None]
    tombstones = tuple(c.uid for c in wanted if c.kind is ChangeKind.DELETE)
    pending = max(0, engine.last_seq() - last_seq) if len(changes) == limit else 0
    return Batch(tuple(events), tombstones, last_seq, pending)
