"""The sync service: peers followed each way, added and removed at runtime, caught up on request.

Most peers here are other logs in this process, reached through the same
Source/Target calls the HTTP peer makes (a switch takes one off the
network); the last tests use real nodes over HTTP on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.sync.nodes import event, running, until
from zeitbus import Engine
from zeitbus.errors import DatabaseError, InvalidArgument, InvalidKey
from zeitbus.extensions.blacklist import Blacklist
from zeitbus.extensions.conf import ExtensionConf
from zeitbus.jsonl import event_from_json
from zeitbus.sync.http_peer import connect
from zeitbus.sync.local import LocalLog
from zeitbus.sync.peers import Peer
from zeitbus.sync.replicator import Backoff, Batch
from zeitbus.sync.service import Endpoint, SyncService
from zeitbus.sync.settings import SyncSettings


class Net:
    """Logs by URL, as peers in this process; a URL in ``down`` cannot be reached."""

    def __init__(self) -> None:
        self.logs: dict[str, Engine] = {}
        self.down: set[str] = set()
        self.open: list[Remote] = []

    def connect(self, peer: Peer) -> Endpoint:
        remote = Remote(self, peer.url)
        self.open.append(remote)
        return remote


class Remote(LocalLog):
    """Another log as a peer, failing as an unreachable one does while it is down."""

    def __init__(self, net: Net, url: str) -> None:
        super().__init__(net.logs[url])
        self.net = net
        self.url = url
        self.closed = False

    def _reach(self) -> None:
        if self.url in self.net.down:
            raise DatabaseError(f"cannot reach {self.url}: down in this test")

    async def node(self) -> str:
        self._reach()
        return await super().node()

    async def read(self, since: int, limit: int, not_from: str, wait: float = 0.0) -> Batch:
        self._reach()
        return await super().read(since, limit, not_from, wait)

    async def checkpoint(self, source: str) -> int:
        self._reach()
        return await super().checkpoint(source)

    async def write(self, batch: Batch, source: str) -> int:
        self._reach()
        return await super().write(batch, source)

    async def close(self) -> None:
        self.closed = True
        await super().close()


def fast() -> Backoff:
    return Backoff(first=0.01, cap=0.05)


class Clock:
    """A clock the test moves."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def world(
    root: Path, *names: str, settings: SyncSettings | None = None, **kwargs: Any
) -> AsyncIterator[tuple[SyncService, Net, list[Engine]]]:
    """A service on the first log; the others reachable as http://<name>.test."""
    net = Net()
    engines = [Engine.open(root / name) for name in names]
    for name, engine in zip(names[1:], engines[1:], strict=True):
        net.logs[f"http://{name}.test"] = engine
    service = SyncService(engines[0], settings, connect=net.connect, backoff=fast, **kwargs)
    try:
        yield service, net, engines
    finally:
        await service.stop()
        for engine in engines:
            engine.close()


def uid_of(engine: Engine, event_id: int) -> str:
    [found] = engine.get_events([event_id])
    assert found is not None
    return found.uid


def sync_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("sync ")]


def ways(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {way["direction"]: way for way in status["replications"]}


async def live(service: SyncService, peer_id: str) -> dict[str, dict[str, Any]]:
    """Wait until every direction of the peer is live with nothing pending; their status."""
    found: dict[str, dict[str, Any]] = {}

    async def check() -> bool:
        found.update(ways((await service.status(peer_id))[0]))
        return all(w["state"] == "live" and w["lag_events"] == 0 for w in found.values())

    for _ in range(2000):
        if await check():
            return found
        await asyncio.sleep(0.005)
    raise AssertionError(f"never live: {found}")


def test_a_peer_added_at_runtime_syncs_both_ways_and_is_live(tmp_path: Path) -> None:
    async def main() -> None:
        async with world(tmp_path, "laptop", "desktop") as (service, _, (laptop, desktop)):
            [mine] = laptop.insert_events([event(1000, "file:///laptop")])
            [theirs] = desktop.insert_events([event(2000, "file:///desktop")])
            await service.start()
            peer = await service.add("http://desktop.test", token="zbt_x")
            assert [p.id for p in await service.peers()] == [peer.id]
            await until(lambda: desktop.get_event_by_uid(uid_of(laptop, mine)) is not None)
            await until(lambda: laptop.get_event_by_uid(uid_of(desktop, theirs)) is not None)
            status = await live(service, peer.id)
            assert status["pull"]["events"] == status["push"]["events"] == 1
            assert status["pull"]["lag_seconds"] == status["push"]["lag_seconds"] == 0.0
            assert (status["pull"]["source"], status["pull"]["target"]) == (
                desktop.node,
                laptop.node,
            )
            assert status["push"]["last_seq"] == laptop.last_seq()
            assert {t.get_name() for t in sync_tasks()} == {
                f"sync {peer.id} pull",
                f"sync {peer.id} push",
            }
            # Live: a later insert on either side crosses over as it happens.
            [later] = desktop.insert_events([event(3000, "file:///later")])
            await until(lambda: laptop.get_event_by_uid(uid_of(desktop, later)) is not None)

    asyncio.run(main())


def test_a_one_way_peer_moves_events_one_way_only(tmp_path: Path) -> None:
    async def main() -> None:
        async with world(tmp_path, "laptop", "desktop") as (service, _, (laptop, desktop)):
            await service.start()
            peer = await service.add("http://desktop.test", direction="push")
            [mine] = laptop.insert_events([event(1000, "file:///laptop")])
            desktop.insert_events([event(2000, "file:///desktop")])
            await until(lambda: desktop.get_event_by_uid(uid_of(laptop, mine)) is not None)
            status = await live(service, peer.id)
            assert list(status) == ["push"]
            assert [e.subjects[0].uri for e in laptop.iter_events()] == ["file:///laptop"]

    asyncio.run(main())


def test_removing_a_peer_stops_and_closes_its_replications(tmp_path: Path) -> None:
    async def main() -> None:
        async with world(tmp_path, "laptop", "desktop") as (service, net, _):
            await service.start()
            peer = await service.add("http://desktop.test")
            await live(service, peer.id)
            assert await service.remove(peer.id) == peer
            assert sync_tasks() == []
            assert len(net.open) == 2  # a pull's and a push's connection
            assert all(remote.closed for remote in net.open)
            assert await service.status() == []
            with pytest.raises(InvalidKey, match="no sync peer"):
                await service.remove(peer.id)
            with pytest.raises(InvalidKey, match="no sync peer"):
                await service.now(peer.id)

    asyncio.run(main())


def test_peers_survive_a_restart_and_stop_leaves_nothing_running(tmp_path: Path) -> None:
    async def main() -> None:
        async with world(tmp_path, "laptop", "desktop") as (service, net, (laptop, desktop)):
            await service.start()
            peer = await service.add("http://desktop.test", token="zbt_x", direction="pull")
            await live(service, peer.id)
            await service.stop()
            assert sync_tasks() == []
            assert all(remote.closed for remote in net.open)
            [theirs] = desktop.insert_events([event(2000, "file:///while-down")])
            again = SyncService(laptop, connect=net.connect, backoff=fast)
            try:
                assert await again.peers() == [peer]
                await again.start()
                await until(lambda: laptop.get_event_by_uid(uid_of(desktop, theirs)) is not None)
                status = await live(again, peer.id)
                assert status["pull"]["events"] == 1
            finally:
                await again.stop()
            assert sync_tasks() == []

    asyncio.run(main())


def test_an_unreachable_peer_is_retried_with_backoff_and_says_why(tmp_path: Path) -> None:
    async def main() -> None:
        async with world(tmp_path, "laptop", "desktop") as (service, net, (laptop, desktop)):
            net.down.add("http://desktop.test")
            await service.start()
            peer = await service.add("http://desktop.test")

            async def retried() -> bool:
                found = ways((await service.status(peer.id))[0])
                return all(w["errors"] >= 2 for w in found.values())

            for _ in range(2000):
                if await retried():
                    break
                await asyncio.sleep(0.005)
            status = ways((await service.status(peer.id))[0])
            for way in status.values():
                assert way["state"] in ("retrying", "catching up"), way
                assert way["last_error"] == "cannot reach http://desktop.test: down in this test"
                assert way["errors"] >= 2
                # Never caught up since the service started: the lag is not known.
                assert way["lag_seconds"] is None
            assert status["push"]["lag_events"] is None
            net.down.clear()
            [theirs] = desktop.insert_events([event(2000, "file:///back")])
            await until(lambda: laptop.get_event_by_uid(uid_of(desktop, theirs)) is not None)
            assert (await live(service, peer.id))["pull"]["last_error"] == ""

    asyncio.run(main())


def test_the_lag_in_seconds_counts_from_when_a_direction_was_last_caught_up(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        clock = Clock(1000.0)
        async with world(tmp_path, "laptop", "desktop", clock=clock) as (service, net, engines):
            _, desktop = engines
            await service.start()
            peer = await service.add("http://desktop.test", direction="pull")
            assert (await live(service, peer.id))["pull"]["lag_seconds"] == 0.0
            net.down.add("http://desktop.test")
            clock.now = 1050.0
            # The pull's long poll (begun at t=1000) returns with this change: caught
            # up until then (t=1050); its next read fails.
            desktop.insert_events([event(2000, "file:///last")])

            async def retrying() -> bool:
                pull = ways((await service.status(peer.id))[0])["pull"]
                return bool(pull["state"] == "retrying")

            for _ in range(2000):
                if await retrying():
                    break
                await asyncio.sleep(0.005)
            clock.now = 1090.0
            pull = ways((await service.status(peer.id))[0])["pull"]
            assert pull["state"] == "retrying"
            assert pull["lag_seconds"] == 40.0
            assert pull["last_error"] == "cannot reach http://desktop.test: down in this test"

    asyncio.run(main())


def test_now_catches_up_when_asked_and_reports_a_failure(tmp_path: Path) -> None:
    async def main() -> None:
        settings = SyncSettings(live=False)  # nothing is followed: only `now` syncs
        async with world(tmp_path, "laptop", "desktop", settings=settings) as (
            service,
            net,
            (laptop, desktop),
        ):
            await service.start()
            peer = await service.add("http://desktop.test")
            desktop.insert_events([event(1000 + n, f"file:///{n}") for n in range(5)])
            laptop.insert_events([event(2000, "file:///laptop")])
            assert sync_tasks() == []
            answer = await service.now(peer.id)
            assert answer["id"] == peer.id
            status = ways(answer)
            assert (status["pull"]["events"], status["push"]["events"]) == (5, 1)
            assert {w["state"] for w in status.values()} == {"idle"}  # caught up, not following
            assert {w["lag_events"] for w in status.values()} == {0}
            assert len(list(laptop.iter_events())) == len(list(desktop.iter_events())) == 6
            assert sync_tasks() == []

            net.down.add("http://desktop.test")
            failed = ways(await service.now(peer.id, "pull"))
            assert failed["pull"]["state"] == "failed"
            assert (
                failed["pull"]["last_error"]
                == "cannot reach http://desktop.test: down in this test"
            )
            assert failed["pull"]["errors"] == 1
            assert failed["push"]["state"] == "idle"  # not asked for
            net.down.clear()
            assert ways(await service.now(peer.id, "pull"))["pull"]["last_error"] == ""

            with pytest.raises(InvalidArgument, match="direction must be one of"):
                await service.now(peer.id, "sideways")
            net.logs["http://desktop.test/other"] = desktop
            one_way = await service.add("http://desktop.test/other", direction="pull")
            with pytest.raises(InvalidArgument, match="does not push"):
                await service.now(one_way.id, "push")

    asyncio.run(main())


def test_now_retries_a_peer_waiting_out_a_backoff_at_once_and_follows_again(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        net = Net()
        laptop, desktop = Engine.open(tmp_path / "laptop"), Engine.open(tmp_path / "desktop")
        net.logs["http://desktop.test"] = desktop
        slow = SyncService(
            laptop, connect=net.connect, backoff=lambda: Backoff(first=600.0, cap=600.0)
        )
        try:
            net.down.add("http://desktop.test")
            await slow.start()
            peer = await slow.add("http://desktop.test", direction="pull")
            await until(lambda: slow._running[peer.id].links[0].replication.status.errors >= 1)
            net.down.clear()
            [theirs] = desktop.insert_events([event(1000, "file:///now")])
            answer = ways(await slow.now(peer.id))  # not ten minutes from now
            assert (answer["pull"]["events"], answer["pull"]["last_error"]) == (1, "")
            assert laptop.get_event_by_uid(uid_of(desktop, theirs)) is not None
            assert [t.get_name() for t in sync_tasks()] == [f"sync {peer.id} pull"]
            await live(slow, peer.id)
        finally:
            await slow.stop()
            laptop.close()
            desktop.close()

    asyncio.run(main())


def test_the_blacklist_drops_received_events_when_the_config_says_so(tmp_path: Path) -> None:
    spam = event_from_json({"actor": "application://spam.desktop"})

    async def main(filtered: bool) -> int:
        settings = SyncSettings(filter_received=filtered)
        async with world(tmp_path / str(filtered), "laptop", "desktop", settings=settings) as (
            service,
            _,
            (laptop, desktop),
        ):
            blacklist = Blacklist(ExtensionConf(laptop))
            blacklist.install(laptop)
            blacklist.add("spam", spam)
            desktop.insert_events(
                [
                    event(1000, "file:///spam", actor="application://spam.desktop"),
                    event(2000, "file:///ham"),
                ]
            )
            await service.start()
            peer = await service.add("http://desktop.test", direction="pull")
            await live(service, peer.id)
            return len(list(laptop.iter_events()))

    assert asyncio.run(main(filtered=True)) == 1
    assert asyncio.run(main(filtered=False)) == 2


def test_two_nodes_sync_over_http_through_their_services(tmp_path: Path) -> None:
    """Each node's service adds the other: an insert on either side crosses over HTTP."""

    async def main() -> None:
        async with running(tmp_path, "laptop", "desktop") as (laptop, desktop):
            services = [
                SyncService(node.engine, connect=connect, backoff=fast)
                for node in (laptop, desktop)
            ]
            try:
                for service in services:
                    await service.start()
                on_laptop = await services[0].add(desktop.http.url, token=desktop.token)
                on_desktop = await services[1].add(laptop.http.url, token=laptop.token)
                [mine] = laptop.engine.insert_events([event(1000, "file:///laptop")])
                [theirs] = desktop.engine.insert_events([event(2000, "file:///desktop")])
                uids = {uid_of(laptop.engine, mine), uid_of(desktop.engine, theirs)}
                await until(lambda: laptop.uids() == desktop.uids() == uids)
                await live(services[0], on_laptop.id)
                await live(services[1], on_desktop.id)
                # Each event was stored once per node: nothing echoed back.
                assert laptop.engine.last_seq() == desktop.engine.last_seq() == 2
            finally:
                for service in services:
                    await service.stop()
            assert sync_tasks() == []

    asyncio.run(main())
