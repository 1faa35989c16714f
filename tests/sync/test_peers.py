"""Peer sync between Zeitbus nodes over their real HTTP APIs on 127.0.0.1."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.sync.nodes import event, once, pull, push, running, until
from zeitbus.errors import AccessDenied, DatabaseError, InvalidArgument
from zeitbus.sync.http_peer import HttpPeer
from zeitbus.sync.local import LocalLog
from zeitbus.sync.replicator import Replication, cursor_name


def test_a_pull_takes_in_everything_once_and_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    async def main() -> None:
        async with running(tmp_path, "laptop", "desktop") as (laptop, desktop):
            laptop.engine.insert_events([event(1000 + n, f"file:///{n}") for n in range(250)])
            replication = pull(desktop, laptop)
            replication.batch = 100  # three batches
            status = await once(replication)
            assert (status.events, status.last_seq, status.state) == (250, 250, "live")
            assert desktop.uids() == laptop.uids()
            assert desktop.engine.cursor(cursor_name(laptop.engine.node)) == 250
            laptop.engine.insert_events([event(5000, "file:///new")])
            again = await once(pull(desktop, laptop))
            assert (again.events, again.last_seq) == (1, 251)
            assert desktop.uids() == laptop.uids()

    asyncio.run(main())


def test_a_push_sends_local_events_and_nothing_goes_back_where_it_came_from(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        async with running(tmp_path, "laptop", "desktop") as (laptop, desktop):
            laptop.engine.insert_events([event(1000, "file:///from-laptop")])
            desktop.engine.insert_events([event(2000, "file:///from-desktop")])
            await once(pull(desktop, laptop))
            before = laptop.engine.last_seq()
            status = await once(push(desktop, laptop))
            assert status.events == 1  # only the desktop's own event
            assert laptop.uids() == desktop.uids()
            # One change on the laptop: the desktop's event; its own came back as nothing.
            assert laptop.engine.last_seq() == before + 1
            assert laptop.engine.cursor(cursor_name(desktop.engine.node)) > 0

    asyncio.run(main())


def test_a_delete_travels_as_a_tombstone_and_wins_over_a_repeated_insert(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        async with running(tmp_path, "laptop", "desktop", "server") as nodes:
            laptop, desktop, server = nodes
            ids = laptop.engine.insert_events([event(1000, "file:///a"), event(2000, "file:///b")])
            [first] = [e.uid for e in laptop.engine.get_events(ids[:1]) if e is not None]
            await once(pull(desktop, laptop))
            await once(pull(server, laptop))
            here = desktop.engine.get_event_by_uid(first)
            assert here is not None
            desktop.engine.delete_events([here.id])
            await once(push(desktop, laptop))
            await once(pull(server, desktop))
            assert laptop.uids() == desktop.uids() == server.uids()
            assert len(laptop.uids()) == 1
            assert laptop.tombstones() == desktop.tombstones() == server.tombstones()

    asyncio.run(main())


def test_a_live_pull_brings_an_insert_over_as_it_happens(tmp_path: Path) -> None:
    async def main() -> None:
        async with running(tmp_path, "laptop", "desktop") as (laptop, desktop):
            stop = asyncio.Event()
            replication = pull(desktop, laptop)
            following = asyncio.ensure_future(replication.run(stop))
            await until(lambda: replication.status.state == "live")
            [event_id] = laptop.engine.insert_events([event(1000, "file:///live")])
            uid = laptop.engine.get_events([event_id])[0].uid  # type: ignore[union-attr]
            await until(lambda: desktop.engine.get_event_by_uid(uid) is not None)
            stop.set()
            await following
            await replication.close()
            assert replication.status.state == "stopped"

    asyncio.run(main())


def test_a_chain_and_a_mesh_converge(tmp_path: Path) -> None:
    """laptop <-> desktop <-> server, then server <-> laptop too: one set of uids everywhere."""

    async def main() -> None:
        async with running(tmp_path, "laptop", "desktop", "server") as nodes:
            for n, node in enumerate(nodes):
                node.engine.insert_events(
                    [event(1000 * n + k, f"file:///{node.name}/{k}") for k in range(20)]
                )
            links = [(0, 1), (1, 2), (2, 0)]
            for _ in range(2):  # a change needs at most two hops
                for a, b in links:
                    await once(pull(nodes[a], nodes[b]))
                    await once(push(nodes[a], nodes[b]))
            everything = nodes[0].uids()
            assert len(everything) == 60
            assert all(node.uids() == everything for node in nodes)
            # Every event was stored once per node: each feed has 60 inserts.
            assert all(node.engine.last_seq() == 60 for node in nodes)

    asyncio.run(main())


def test_a_revoked_token_is_a_clear_error_and_stores_nothing(tmp_path: Path) -> None:
    async def main() -> None:
        async with running(tmp_path, "laptop", "desktop") as (laptop, desktop):
            laptop.engine.insert_events([event(1000, "file:///a")])
            [info] = [t for t in laptop.engine.list_tokens() if t.scope.label == "write"]
            laptop.engine.revoke_token(info.id)
            with pytest.raises(AccessDenied, match="answered 401: the token is not valid"):
                await once(pull(desktop, laptop))
            assert desktop.uids() == set()

    asyncio.run(main())


def test_a_node_cannot_sync_with_itself(tmp_path: Path) -> None:
    async def main() -> None:
        async with running(tmp_path, "laptop") as (laptop,):
            with pytest.raises(InvalidArgument, match="cannot sync with itself"):
                await once(Replication(laptop.peer(), LocalLog(laptop.engine)))

    asyncio.run(main())


def test_the_sync_routes_refuse_malformed_batches_and_store_nothing(tmp_path: Path) -> None:
    async def main() -> None:
        async with running(tmp_path, "laptop") as (laptop,):
            headers = {"Authorization": f"Bearer {laptop.token}"}
            bad = [
                b"{}",
                b'{"source":"x","last_seq":-1}',
                b'{"source":"x","last_seq":18446744073709551616}',
                b'{"source":"x","last_seq":1,"events":[{"actor":"a"}]}',
                b'{"source":"x","last_seq":1,"tombstones":["nope"]}',
                b'{"source":"x","last_seq":1,"surprise":1}',
            ]
            async with httpx.AsyncClient(base_url=laptop.http.url, headers=headers) as client:
                for body in bad:
                    answer = await client.post("/sync/receive", content=body)
                    assert answer.status_code == 400, (body, answer.text)
                    assert answer.json()["error"] == "invalid_argument"
                answer = await client.get("/sync/changes", params={"since": "-1"})
                assert answer.status_code == 400
            assert laptop.engine.last_seq() == 0

    asyncio.run(main())


def test_a_peer_that_is_not_there_is_a_clear_error(tmp_path: Path) -> None:
    async def main() -> None:
        async with running(tmp_path, "desktop") as (desktop,):
            gone = HttpPeer("http://127.0.0.1:9", token="x")
            with pytest.raises(DatabaseError, match=r"cannot reach http://127\.0\.0\.1:9"):
                await once(Replication(gone, LocalLog(desktop.engine)))

    asyncio.run(main())


def test_a_long_poll_open_when_the_server_stops_is_answered_not_cut_off(tmp_path: Path) -> None:
    async def main() -> None:
        async with running(tmp_path, "laptop") as (laptop,):
            headers = {"Authorization": f"Bearer {laptop.token}"}
            async with httpx.AsyncClient(base_url=laptop.http.url, headers=headers) as client:
                polling = asyncio.ensure_future(
                    client.get("/sync/changes", params={"since": 0, "wait": 60_000}, timeout=90)
                )
                api = laptop.http.api
                assert api is not None
                await until(lambda: api.watch.waiting > 0)
                await laptop.http.stop()
                answer = await polling
            assert answer.status_code == 200
            assert answer.json()["events"] == []

    asyncio.run(main())
