"""In-process Zeitbus nodes serving their HTTP API on 127.0.0.1, for sync tests."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from zeitbus import Engine, Event, Subject
from zeitbus.http import server
from zeitbus.http.settings import HttpSettings
from zeitbus.ontology import ACCESS_EVENT, USER_ACTIVITY
from zeitbus.sync.http_peer import HttpPeer
from zeitbus.sync.local import LocalLog
from zeitbus.sync.replicator import Replication, Status


@dataclass
class Node:
    """A log, its HTTP API on a free port, and a write token for its peers."""

    name: str
    engine: Engine
    http: server.HttpService
    token: str

    def peer(self) -> HttpPeer:
        """This node as another node sees it: over HTTP, with its token."""
        return HttpPeer(self.http.url, token=self.token)

    def uids(self) -> set[str]:
        return {e.uid for e in self.engine.iter_events()}

    def tombstones(self) -> set[str]:
        return {c.uid for c in self.engine.changes(0, 1_000_000) if c.kind.value == "delete"}


@contextlib.asynccontextmanager
async def running(root: Path, *names: str) -> AsyncIterator[list[Node]]:
    """Nodes named ``names`` with logs under ``root``, served until the block ends."""
    nodes: list[Node] = []
    try:
        for name in names:
            engine = Engine.open(root / name)
            token, _ = engine.create_token("write", f"{name}'s peers")
            settings = HttpSettings(port=0)
            http = await server.start(engine, settings, None)
            nodes.append(Node(name, engine, http, token))
        yield nodes
    finally:
        for node in nodes:
            await node.http.stop()
            node.engine.close()


def pull(node: Node, peer: Node) -> Replication:
    """``node`` taking in ``peer``'s changes over HTTP."""
    return Replication(peer.peer(), LocalLog(node.engine))


def push(node: Node, peer: Node) -> Replication:
    """``node`` sending its changes to ``peer`` over HTTP."""
    return Replication(LocalLog(node.engine), peer.peer())


async def once(replication: Replication) -> Status:
    """Run ``replication`` once and close it."""
    try:
        return await replication.run_once()
    finally:
        await replication.close()


def event(ts: int, uri: str, actor: str = "application://vim.desktop") -> Event:
    return Event(
        timestamp=ts,
        interpretation=ACCESS_EVENT,
        manifestation=USER_ACTIVITY,
        actor=actor,
        subjects=(Subject(uri=uri),),
    )


async def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait (without blocking the loop) until ``condition`` holds; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.005)
