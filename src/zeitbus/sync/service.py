"""The sync service: the daemon following each of its peers, both ways or one.

Theory of operation. Every stored peer (``sync.peers``) gets one
``Replication`` per direction it syncs: a pull (the peer is the source,
this log the target, with ``[sync] filter_received``) and a push (this log
the source, the peer the target). While the daemon runs, each replication
follows its source in its own task (``Replication.run``: live, retrying with
backoff, never ending on a peer's fault) until the service stops or the
peer is removed; a peer added at runtime starts at once. With ``[sync]
live = false`` nothing is followed and peers sync only when asked.

``now`` is a catch-up on request (``zeitbus sync now``, ``POST
/sync/peers/{id}/now``): the peer's live replications are stopped, each
direction runs once to the source's end (an error is recorded in its status
and reported, not retried), and following resumes. Stopping first means one
replication at a time writes a target's checkpoint, and a replication
waiting out a backoff is retried at once.

Status: ``Status.as_dict`` per direction, plus two lags:

* ``lag_events``: changes still to move. Pulling, what the peer said it has
  after the last batch (0 once live; null before its first answer).
  Pushing, this log's last seq minus the seq the peer has taken in, asked
  when the status is (null until the peer's checkpoint has been read); an
  upper bound, as it counts changes that came from the peer and are not
  sent back.
* ``lag_seconds``: 0 while live with nothing pending; otherwise seconds
  since the direction was last seen caught up (its source answered that
  there was nothing after what the target has, or a long poll returned
  with the next change), null if that has not happened since the service
  started. Derived from reads rather than from event times, which say when
  something happened, not when it was logged.

Times in a status are seconds since the epoch (the replicator's clock); a
peer's ``created`` is in ms, like every other time in the API.

The service is core code: the peers are reached through the ``connect``
it is given (``sync.http_peer.connect``, which whoever runs it imports), and
it is driven by the daemon (``zeitbus.daemon``), the HTTP API
(``zeitbus.http.sync``) and, with no daemon running, the command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from zeitbus.engine import Engine
from zeitbus.errors import InvalidArgument, InvalidKey, ZeitbusError
from zeitbus.sync.local import LocalLog
from zeitbus.sync.peers import DIRECTIONS, Peer, PeerStore, new_peer
from zeitbus.sync.replicator import Backoff, Replication, Source, Status, Target
from zeitbus.sync.settings import SyncSettings

logger = logging.getLogger(__name__)


class Endpoint(Source, Target, Protocol):
    """A peer as both a source and a target."""


Connect = Callable[[Peer], Endpoint]  # a peer's endpoint, by its kind (an adapter's)


@dataclass
class _Link:
    """One direction of a peer: its replication and, while followed, its task."""

    direction: str  # pull or push
    replication: Replication
    task: asyncio.Task[None] | None = None


@dataclass
class _Running:
    """A peer's replications."""

    peer: Peer
    links: list[_Link]
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    busy: asyncio.Lock = field(default_factory=asyncio.Lock)  # one catch-up at a time
    catching_up: set[asyncio.Future[dict[str, Any]]] = field(default_factory=set)
    closed: bool = False

    @property
    def following(self) -> bool:
        return any(link.task is not None for link in self.links)


class SyncService:
    """The peers and their replications (see the module doc).

    Constructing it touches the log (blocking); the methods are coroutines
    for the event loop, with the log's work in worker threads.
    """

    def __init__(
        self,
        engine: Engine,
        settings: SyncSettings | None = None,
        *,
        connect: Connect,
        clock: Callable[[], float] = time.time,
        backoff: Callable[[], Backoff] = Backoff,
    ) -> None:
        self.engine = engine
        self.settings = settings or SyncSettings()
        self._store = PeerStore(engine)
        self._connect = connect
        self._clock = clock
        self._backoff = backoff
        self._running: dict[str, _Running] = {}
        self._changing = asyncio.Lock()  # one change of the stored list at a time
        self._started = False

    @property
    def filter_received(self) -> bool:
        """Whether the blacklist drops events received by sync (``[sync] filter_received``)."""
        return self.settings.filter_received

    # -- the service's life ---------------------------------------------------------

    async def start(self) -> None:
        """Open every stored peer's replications and follow them (if ``live``)."""
        peers = await asyncio.to_thread(self._store.all)
        self._started = True
        for peer in peers:
            if peer.id not in self._running:
                self._adopt(peer)

    async def stop(self) -> None:
        """Stop every replication and close its connections; nothing is left running."""
        self._started = False
        running = list(self._running.values())
        self._running.clear()
        await asyncio.gather(*(self._close(r) for r in running))

    # -- peers ----------------------------------------------------------------------

    async def peers(self) -> list[Peer]:
        """The stored peers, oldest first."""
        return await asyncio.to_thread(self._store.all)

    async def add(
        self,
        url: object,
        *,
        token: object = "",
        direction: object = "both",
        kind: object = "zeitbus",
        encrypt: object = False,
    ) -> Peer:
        """Store a peer (InvalidArgument if it is not valid or known) and start syncing."""
        peer = new_peer(url, token=token, direction=direction, kind=kind, encrypt=encrypt)
        async with self._changing:
            # Opened before it is stored: a peer that cannot be opened is not kept.
            running = self._open(peer) if self._started else None
            try:
                await asyncio.to_thread(self._store.add, peer)
            except BaseException:
                if running is not None:
                    await self._close(running)
                raise
            if running is not None:
                self._adopt(peer, running)
        logger.info("Added sync peer %s: %s (%s)", peer.id, peer.url, peer.direction)
        return peer

    async def remove(self, peer_id: str) -> Peer:
        """Forget a peer (InvalidKey if there is none) and stop syncing with it."""
        async with self._changing:
            peer = await asyncio.to_thread(self._store.remove, peer_id)
            running = self._running.pop(peer_id, None)
        if running is not None:
            await self._close(running)
        logger.info("Removed sync peer %s: %s", peer.id, peer.url)
        return peer

    # -- status ---------------------------------------------------------------------

    async def status(self, peer_id: str | None = None) -> list[dict[str, Any]]:
        """Each peer (or the one with ``peer_id``: InvalidKey if none) with its directions."""
        peers = await asyncio.to_thread(self._store.all)
        if peer_id is not None:
            peers = [peer for peer in peers if peer.id == peer_id]
            if not peers:
                raise InvalidKey(f"no sync peer {peer_id!r} (zeitbus sync list shows them)")
        local_last = await asyncio.to_thread(self.engine.last_seq)
        now = self._clock()
        answers = []
        for peer in peers:
            running = self._running.get(peer.id)
            answers.append(_peer_status(peer, running.links if running else None, local_last, now))
        return answers

    # -- catching up on request --------------------------------------------------------

    async def now(self, peer_id: str, direction: str | None = None) -> dict[str, Any]:
        """Catch up with a peer now, in ``direction`` (None: each it syncs); its status after.

        A direction that fails has state "failed" and its error in
        ``last_error``; one that succeeded has no ``last_error``.
        """
        if direction is not None and direction not in DIRECTIONS:
            raise InvalidArgument(
                f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}"
            )
        running = self._running.get(peer_id)
        if running is None:
            # Not running: no service (the command line with no daemon), or a peer
            # stored by another process since this one started.
            peer = await asyncio.to_thread(self._store.get, peer_id)
            running = self._running.get(peer_id) or self._adopt(peer)
        links = [link for link in running.links if direction in (None, "both", link.direction)]
        if not links:
            syncs = running.peer.direction
            raise InvalidArgument(f"peer {peer_id} does not {direction} (it syncs {syncs})")
        task = asyncio.ensure_future(self._catch_up(running, links))
        running.catching_up.add(task)
        try:
            return await task
        finally:
            running.catching_up.discard(task)
            if not self._started and not running.catching_up and not running.closed:
                # Opened for this catch-up alone (no service running): let it go.
                self._running.pop(peer_id, None)
                await self._close(running)

    async def _catch_up(self, running: _Running, links: list[_Link]) -> dict[str, Any]:
        async with running.busy:
            follow = running.following
            await self._halt(running)
            try:
                for link in links:
                    status = link.replication.status
                    try:
                        await link.replication.run_once()
                    except Exception as error:  # reported in the status, as run's retries are
                        _failed(status, error, self._clock())
                        logger.warning(
                            "Sync %s %s %s: %s",
                            running.peer.id,
                            link.direction,
                            running.peer.url,
                            status.last_error,
                        )
                    else:
                        status.last_error = ""
                        if not follow:
                            status.state = "idle"  # caught up, not following
                local_last = await asyncio.to_thread(self.engine.last_seq)
                return _peer_status(running.peer, running.links, local_last, self._clock())
            finally:
                if follow and not running.closed:
                    self._follow(running)

    # -- inside ------------------------------------------------------------------------

    def _adopt(self, peer: Peer, running: _Running | None = None) -> _Running:
        """Keep ``peer``'s replications (opened here if not given); follow them if live."""
        running = self._running[peer.id] = running or self._open(peer)
        if self._started and self.settings.live:
            self._follow(running)
        return running

    def _open(self, peer: Peer) -> _Running:
        links = []
        if peer.pulls:
            target = LocalLog(self.engine, filtered=self.settings.filter_received)
            links.append(_Link("pull", self._replication(self._connect(peer), target)))
        if peer.pushes:
            links.append(
                _Link("push", self._replication(LocalLog(self.engine), self._connect(peer)))
            )
        return _Running(peer, links)

    def _replication(self, source: Source, target: Target) -> Replication:
        return Replication(source, target, backoff=self._backoff(), clock=self._clock)

    def _follow(self, running: _Running) -> None:
        running.stop = asyncio.Event()
        for link in running.links:
            name = f"sync {running.peer.id} {link.direction}"
            link.task = asyncio.ensure_future(link.replication.run(running.stop))
            link.task.set_name(name)

    async def _halt(self, running: _Running) -> None:
        """Stop following (the replications stay open)."""
        running.stop.set()
        tasks = [link.task for link in running.links if link.task is not None]
        for link in running.links:
            link.task = None
        for outcome in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(outcome, BaseException) and not isinstance(
                outcome, asyncio.CancelledError
            ):
                logger.error("A sync replication of %s ended with %r", running.peer.id, outcome)

    async def _close(self, running: _Running) -> None:
        """Stop a peer's catch-ups and replications and close its connections."""
        running.closed = True
        for task in list(running.catching_up):
            task.cancel()
        await asyncio.gather(*running.catching_up, return_exceptions=True)
        await self._halt(running)
        for link in running.links:
            with contextlib.suppress(Exception):  # a connection that fails to close is gone
                await link.replication.close()


def _failed(status: Status, error: Exception, now: float) -> None:
    status.state = "failed"
    status.errors += 1
    status.last_error_at = now
    if isinstance(error, ZeitbusError):
        status.last_error = error.message
    else:
        status.last_error = f"{type(error).__name__}: {error}"


def _peer_status(
    peer: Peer, links: list[_Link] | None, local_last: int, now: float
) -> dict[str, Any]:
    """A peer and the status of each direction it syncs (see the module doc for the lags)."""
    if links is None:  # not running here: nothing known but the peer
        directions = [d for d in ("pull", "push") if peer.direction in ("both", d)]
        replications = [
            {"direction": d, **Status().as_dict(), "lag_events": None, "lag_seconds": None}
            for d in directions
        ]
    else:
        replications = [_link_status(link, local_last, now) for link in links]
    return {**peer.as_dict(), "replications": replications}


def _link_status(link: _Link, local_last: int, now: float) -> dict[str, Any]:
    status = link.replication.status
    lag_events: int | None
    if link.direction == "pull":
        lag_events = status.pending
    else:
        known = status.state in ("catching up", "live") or (
            status.last_success_at is not None or status.caught_up_at is not None
        )
        lag_events = max(0, local_last - status.last_seq) if known else None
    lag_seconds: float | None
    if status.state == "live" and lag_events == 0:
        lag_seconds = 0.0
    elif status.caught_up_at is not None:
        lag_seconds = max(0.0, now - status.caught_up_at)
    else:
        lag_seconds = None
    return {
        "direction": link.direction,
        **status.as_dict(),
        "lag_events": lag_events,
        "lag_seconds": lag_seconds,
    }
