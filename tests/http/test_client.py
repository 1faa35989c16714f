"""``zeitbus.client`` against a real daemon: the engine's types and errors over HTTP."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.http.daemons import Daemon, make_token, spawn
from zeitbus import Event, InvalidArgument, Subject
from zeitbus.client import AsyncClient, Client, find_daemon
from zeitbus.errors import AccessDenied

ACCESS = "http://www.zeitgeist-project.com/ontologies/2010/01/27/zg#AccessEvent"
USER = "http://www.zeitgeist-project.com/ontologies/2010/01/27/zg#UserActivity"
T0 = 1_767_225_600_000


def _event(n: int, actor: str = "application://vim.desktop") -> Event:
    return Event(
        timestamp=T0 + n,
        interpretation=ACCESS,
        manifestation=USER,
        actor=actor,
        subjects=(Subject(uri=f"file:///{n % 4}", mimetype="text/plain"),),
    )


@pytest.fixture
def daemon(data: Path) -> Iterator[Daemon]:
    running = spawn(data)
    yield running
    assert running.stop() == 0


def test_the_blocking_client_covers_the_api(daemon: Daemon, data: Path) -> None:
    assert find_daemon(data) is not None
    with Client.connect(data) as log:  # the owner's socket: no token
        ids = log.insert_events([_event(n) for n in range(30)])
        assert ids == list(range(1, 31))
        (first,) = log.get_events([1])
        assert first is not None
        assert first.subjects[0].uri == "file:///0"
        assert log.get_events([1, 99])[1] is None
        assert log.get_event_by_uid(first.uid) == first
        assert log.get_event_by_uid("01a21670-e92d-7000-801e-8a667aa2cae1") is None
        paged = list(log.find_events(limit=0, page_size=7))
        assert [e.id for e in paged] == list(range(30, 0, -1))
        vim = log.find_event_ids(templates=[Event(subjects=(Subject(uri="file:///1"),))])
        assert vim == [n for n in range(30, 0, -1) if (n - 1) % 4 == 1]
        assert log.delete_events([1, 2]) == (T0, T0 + 1)
        assert log.delete_events([1]) is None
        related = log.find_related_uris(templates=[Event(subjects=(Subject(uri="file:///2"),))])
        assert set(related) <= {"file:///0", "file:///1", "file:///2", "file:///3"}
        assert sum(count for _, count in log.histogram()) == 28
        assert log.stats()["events"] == 28
        feed = log.changes(since=30)
        assert [row.get("deleted") for row in feed["results"]] == [True, True]
        assert log.last_seq() == 32
        live = log.follow(since=30, heartbeat=50)
        assert [row["seq"] for row in itertools.islice(live, 2)] == [31, 32]
        with pytest.raises(InvalidArgument, match="result type"):
            log.find_event_ids(result_type="sideways")


def test_the_async_client_covers_the_api(daemon: Daemon, data: Path) -> None:
    token = make_token(data, "write")

    async def main() -> None:
        async with AsyncClient(daemon.url, token=token) as log:
            assert await log.insert_events([_event(n) for n in range(5)]) == [1, 2, 3, 4, 5]
            assert [e.id for e in await log.get_events([5, 4]) if e] == [5, 4]
            assert [e.id async for e in log.find_events(page_size=2)] == [5, 4, 3, 2, 1]
            assert await log.find_event_ids(limit=2) == [5, 4]
            assert await log.delete_events([5]) == (T0 + 4, T0 + 4)
            assert (await log.stats())["events"] == 4
            assert await log.last_seq() == 6
            assert len((await log.changes())["results"]) == 6
            rows = []
            async for row in log.follow(since=4, heartbeat=50):
                rows.append(row["seq"])
                if len(rows) == 2:
                    break
            assert rows == [5, 6]
        async with AsyncClient(daemon.url, token="zbt_00000000_" + "A" * 43) as stranger:
            with pytest.raises(AccessDenied):
                await stranger.stats()

    asyncio.run(main())
