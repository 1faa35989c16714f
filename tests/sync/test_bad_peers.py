"""Bad peers: real HTTP servers on 127.0.0.1 that answer wrongly, stall or break off.

Each gives a clear error in sync status and a retry with backoff, and
nothing of a bad answer is stored (not even the checkpoint).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.sync.nodes import until
from zeitbus import Engine
from zeitbus.errors import InvalidKey
from zeitbus.sync.http_peer import HttpPeer
from zeitbus.sync.local import LocalLog
from zeitbus.sync.replicator import Backoff, Replication, cursor_name

NODE = "7d4f2c1e-9a8b-4c3d-8e2f-1a2b3c4d5e6f"
UID = "0193f1c2-7a00-7000-8000-000000000001"
GOOD_EVENT = {
    "uid": UID,
    "node": NODE,
    "timestamp": 1767225600000,
    "interpretation": "http://www.zeitgeist-project.com/ontologies/2010/01/27/zg#AccessEvent",
    "manifestation": "http://www.zeitgeist-project.com/ontologies/2010/01/27/zg#UserActivity",
    "actor": "application://vim.desktop",
    "subjects": [{"uri": "file:///a"}],
}

Answer = Callable[[str], bytes | None]  # request line -> raw answer (None: stall)


def http(status: int, body: bytes, *, length: int | None = None) -> bytes:
    size = len(body) if length is None else length
    head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n"
    return head.encode() + b"Connection: close\r\n\r\n" + body


def batch(**changes: object) -> bytes:
    body: dict[str, object] = {"source": NODE, "last_seq": 1, "events": [GOOD_EVENT]}
    body.update(changes)
    return json.dumps(body).encode()


@contextlib.asynccontextmanager
async def server(changes: bytes | None) -> AsyncIterator[str]:
    """A peer that knows its node and checkpoints, and answers /sync/changes with ``changes``.

    ``None``: it reads the request and never answers (a stalled feed).
    """

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = (await reader.readline()).decode()
            while (await reader.readline()) not in (b"\r\n", b""):
                pass
            path = line.split()[1] if len(line.split()) > 1 else "/"
            if path == "/":
                writer.write(http(200, json.dumps({"node": NODE}).encode()))
            elif path.startswith("/sync/checkpoints/"):
                writer.write(http(200, b'{"seq": 0}'))
            elif changes is None:
                await asyncio.sleep(3600)
            else:
                writer.write(changes)
            await writer.drain()
        finally:
            writer.close()

    listening = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        listening.close()


BAD_ANSWERS = {
    "a 500": (http(500, b'{"error":"boom","reason":"the disk caught fire"}'), "answered 500"),
    "not JSON": (http(200, b"<html>"), "not valid JSON"),
    "an unknown field": (http(200, batch(surprise=1)), "unknown field"),
    "a seq past any bound": (http(200, batch(last_seq=2**64)), "last_seq"),
    "a negative seq": (http(200, batch(last_seq=-5)), "last_seq"),
    "a malformed event": (
        http(200, batch(events=[{**GOOD_EVENT, "timestamp": "soon"}])),
        "timestamp",
    ),
    "an event without its uid": (
        http(200, batch(events=[{k: v for k, v in GOOD_EVENT.items() if k != "uid"}])),
        "needs its uid and node",
    ),
    "a bad tombstone": (http(200, batch(tombstones=["not-a-uid"])), "not a uid"),
    "another node's changes": (http(200, batch(source="someone-else")), "not its own"),
    "a close mid-answer": (http(200, batch()[:40], length=len(batch())), "broke off"),
}


@pytest.mark.parametrize("case", BAD_ANSWERS)
def test_a_bad_answer_is_an_error_in_status_then_a_retry_and_nothing_is_stored(
    tmp_path: Path, case: str
) -> None:
    answer, says = BAD_ANSWERS[case]

    async def main() -> None:
        async with server(answer) as url:
            with Engine.open(tmp_path / "here") as engine:
                replication = Replication(
                    HttpPeer(url, timeout=5),
                    LocalLog(engine),
                    backoff=Backoff(first=0.01, cap=0.02),
                )
                stop = asyncio.Event()
                following = asyncio.ensure_future(replication.run(stop))
                await until(lambda: replication.status.errors >= 2)  # retried
                stop.set()
                await following
                await replication.close()
                assert says in replication.status.last_error
                assert replication.status.last_error.count("\n") == 0
                assert engine.last_seq() == 0
                with pytest.raises(InvalidKey):
                    engine.cursor(cursor_name(NODE))

    asyncio.run(main())


def test_a_feed_that_stalls_is_given_up_on_and_retried(tmp_path: Path) -> None:
    async def main() -> None:
        async with server(None) as url:
            with Engine.open(tmp_path / "here") as engine:
                replication = Replication(
                    HttpPeer(url, timeout=0.2),
                    LocalLog(engine),
                    backoff=Backoff(first=0.01, cap=0.02),
                )
                stop = asyncio.Event()
                following = asyncio.ensure_future(replication.run(stop))
                await until(lambda: replication.status.errors >= 2)
                stop.set()
                await following
                await replication.close()
                assert "did not answer in time" in replication.status.last_error
                assert engine.last_seq() == 0

    asyncio.run(main())


def test_backoff_doubles_up_to_its_cap_with_jitter() -> None:
    backoff = Backoff(first=1, cap=8, rng=lambda: 1.0)
    delays = [backoff.next() for _ in range(6)]
    assert delays == [1, 2, 4, 8, 8, 8]
    low = Backoff(first=1, cap=8, rng=lambda: 0.0)
    assert [low.next() for _ in range(3)] == [0.5, 1, 2]  # never below half
    backoff.reset()
    assert backoff.next() == 1
