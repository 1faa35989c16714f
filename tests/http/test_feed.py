"""The changes feed over HTTP: CouchDB's modes, parameters and framing."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from tests.http.conftest import Api, event_json
from zeitbus.jsonl import event_from_json

T0 = 1_767_225_600_000


def _store(api: Api, count: int, start: int = 0) -> list[int]:
    events = [
        event_from_json(event_json(f"file:///{n}", T0 + n)) for n in range(start, count + start)
    ]
    return api.engine.insert_events(events)


async def _until_waiting(api: Api, count: int) -> None:
    """Return once ``count`` feed requests wait for a change (they run on this loop)."""
    watch = api.app.state.api.watch
    for _ in range(5000):
        if watch.waiting >= count:
            return
        await asyncio.sleep(0.001)  # the requests' own thread hops need real time
    raise AssertionError(f"{count} feeds never started waiting")


def _lines(body: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.split("\n") if line.strip()]


def test_normal_lists_changes_in_couchdbs_framing(api: Api) -> None:
    ids = _store(api, 3)

    async def test(client: httpx.AsyncClient) -> None:
        answer = await client.get("/changes")
        assert answer.headers["content-type"].startswith("application/json")
        body = answer.content
        assert body.startswith(b'{"results":[\n')
        assert body.endswith(b'\n],\n"last_seq":3,"pending":0}\n')
        assert b",\r\n" in body
        parsed = answer.json()
        assert [row["seq"] for row in parsed["results"]] == [1, 2, 3]
        assert [row["event_id"] for row in parsed["results"]] == ids
        first = parsed["results"][0]
        uid = api.engine.get_events([ids[0]])[0].uid  # type: ignore[union-attr]
        assert first["id"] == uid
        assert first["changes"] == [{"rev": "1-" + uid.replace("-", "")}]
        assert "doc" not in first
        limited = (await client.get("/changes", params={"since": 1, "limit": 1})).json()
        assert [row["seq"] for row in limited["results"]] == [2]
        assert (limited["last_seq"], limited["pending"]) == (2, 1)
        zero = (await client.get("/changes", params={"limit": 0})).json()
        assert len(zero["results"]) == 1  # limit=0 behaves like 1, as CouchDB
        now = (await client.get("/changes", params={"since": "now"})).json()
        assert now == {"results": [], "last_seq": 3, "pending": 0}

    api.run(test)


def test_descending_lists_newest_first_and_ends_at_the_last_row_given(api: Api) -> None:
    _store(api, 5)

    async def test(client: httpx.AsyncClient) -> None:
        answer = (await client.get("/changes", params={"descending": "true", "limit": 2})).json()
        assert [row["seq"] for row in answer["results"]] == [5, 4]
        assert answer["last_seq"] == 4
        everything = (
            await client.get("/changes", params={"descending": "true", "since": 2})
        ).json()
        assert [row["seq"] for row in everything["results"]] == [5, 4, 3]

    api.run(test)


def test_deletes_appear_as_tombstones_and_include_docs_adds_the_event(api: Api) -> None:
    ids = _store(api, 2)
    api.engine.delete_events([ids[0]])

    async def test(client: httpx.AsyncClient) -> None:
        rows = (await client.get("/changes", params={"include_docs": "true"})).json()["results"]
        # The first event's insert is gone with it; its tombstone closes the feed.
        assert [(row["seq"], row.get("deleted", False)) for row in rows] == [(2, False), (3, True)]
        assert rows[0]["doc"]["subjects"][0]["uri"] == "file:///1"
        assert rows[1]["doc"] is None
        assert rows[1]["changes"][0]["rev"].startswith("2-")
        plain = (await client.get("/changes")).json()["results"]
        assert plain[-1]["deleted"] is True
        assert plain[-1]["id"] == plain[0]["id"]  # the tombstone names the event by uid

    api.run(test)


def test_templates_filter_inserts_but_never_tombstones(api: Api) -> None:
    ids = _store(api, 4)
    api.engine.delete_events([ids[3]])
    wanted = [{"subjects": [{"uri": "file:///1"}]}]

    async def test(client: httpx.AsyncClient) -> None:
        posted = (await client.post("/changes", json={"templates": wanted})).json()
        got = (await client.get("/changes", params={"templates": json.dumps(wanted)})).json()
        assert posted == got
        assert [(row["event_id"], row.get("deleted", False)) for row in got["results"]] == [
            (ids[1], False),
            (ids[3], True),
        ]
        assert got["last_seq"] == 5  # the last change looked at, not the last one sent

    api.run(test)


def test_longpoll_waits_for_the_first_change(api: Api) -> None:
    _store(api, 1)

    async def test(client: httpx.AsyncClient) -> None:
        waiting = asyncio.ensure_future(
            client.get("/changes", params={"feed": "longpoll", "since": "now", "timeout": 30000})
        )
        await _until_waiting(api, 1)
        assert not waiting.done()
        await asyncio.to_thread(_store, api, 1, 1)
        answer = (await waiting).json()
        assert [row["seq"] for row in answer["results"]] == [2]
        assert answer["last_seq"] == 2
        quiet = await client.get("/changes", params={"feed": "longpoll", "since": 2, "timeout": 1})
        assert quiet.json() == {"results": [], "last_seq": 2, "pending": 0}
        ready = await client.get("/changes", params={"feed": "longpoll", "since": 0})
        assert len(ready.json()["results"]) == 2  # changes there already: answered at once

    api.run(test)


def test_continuous_sends_a_row_per_line_and_ends_with_last_seq(api: Api) -> None:
    _store(api, 3)

    async def test(client: httpx.AsyncClient) -> None:
        answer = await client.get("/changes", params={"feed": "continuous", "limit": 2})
        assert answer.text.count("\n") == 3
        lines = _lines(answer.text)
        assert [line.get("seq") for line in lines[:2]] == [1, 2]
        assert lines[2] == {"last_seq": 2, "pending": 1}
        idle = await client.get("/changes", params={"feed": "continuous", "since": 1, "timeout": 1})
        lines = _lines(idle.text)
        assert [line.get("seq") for line in lines[:-1]] == [2, 3]
        assert lines[-1] == {"last_seq": 3, "pending": 0}

    api.run(test)


def test_eventsource_frames_rows_and_resumes_from_last_event_id(api: Api) -> None:
    _store(api, 3)

    async def test(client: httpx.AsyncClient) -> None:
        answer = await client.get("/changes", params={"feed": "eventsource", "limit": 2})
        assert answer.headers["content-type"].startswith("text/event-stream")
        frames = [frame for frame in answer.text.split("\n\n") if frame]
        assert len(frames) == 2
        data, ident = frames[1].split("\n")
        assert json.loads(data.removeprefix("data: "))["seq"] == 2
        assert ident == "id: 2"
        resumed = await client.get(
            "/changes",
            params={"feed": "eventsource", "limit": 1, "since": 0},
            headers={"Last-Event-ID": "2"},
        )
        assert json.loads(resumed.text.split("\n")[0].removeprefix("data: "))["seq"] == 3

    api.run(test)


def test_bad_feed_parameters_get_400(api: Api) -> None:
    async def test(client: httpx.AsyncClient) -> None:
        for params in (
            {"feed": "sometimes"},
            {"since": "yesterday"},
            {"since": "10000000000000000000"},  # past SQLite's integers (schemathesis found it)
            {"limit": "-1"},
            {"heartbeat": "0"},
            {"timeout": "soon"},
            {"descending": "maybe"},
            {"feed": "continuous", "descending": "true"},
            {"templates": "[{"},
            {"templates": '[{"actor": 5}]'},
        ):
            answer = await client.get("/changes", params=params)
            assert answer.status_code == 400, params
            assert answer.json()["error"] == "invalid_argument"
        bad = await client.get("/changes", params={"feed": "sometimes"})
        assert bad.json()["reason"] == (
            "Supported 'feed' types: normal, continuous, longpoll, eventsource"
        )

    api.run(test)


def test_a_burst_of_streams_opens_no_more_than_the_limit(api: Api) -> None:
    async def test(client: httpx.AsyncClient) -> None:
        params: dict[str, str | int] = {"feed": "longpoll", "since": "now", "timeout": 30000}
        burst = [asyncio.ensure_future(client.get("/changes", params=params)) for _ in range(5)]
        await _until_waiting(api, 2)
        await asyncio.to_thread(_store, api, 1)
        statuses = sorted(answer.status_code for answer in await asyncio.gather(*burst))
        assert statuses == [200, 200, 429, 429, 429]
        assert api.app.state.api.streams == 0  # every place given back

    api.run(test)


def test_open_streams_are_limited_with_429(api: Api) -> None:
    async def test(client: httpx.AsyncClient) -> None:
        params: dict[str, str | int] = {"feed": "longpoll", "since": "now", "timeout": 30000}
        waiting = [asyncio.ensure_future(client.get("/changes", params=params)) for _ in range(2)]
        await _until_waiting(api, 2)
        refused = await client.get("/changes", params=params)
        assert refused.status_code == 429
        assert refused.json()["error"] == "too_many_streams"
        await asyncio.to_thread(_store, api, 1)
        for answer in await asyncio.gather(*waiting):
            assert answer.json()["last_seq"] == 1

    api.run(test)
