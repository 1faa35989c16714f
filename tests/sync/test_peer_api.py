"""The peer routes of the HTTP API, on real servers on 127.0.0.1.

``/sync/peers``, ``/sync/peers/{id}``, ``/sync/peers/{id}/now`` and
``/sync/status``: admin scope, strict bodies with a 400 naming what is
wrong, and the daemon's sync service behind them.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.sync.nodes import event, running, until
from zeitbus import Engine
from zeitbus.client import AsyncClient
from zeitbus.errors import InvalidArgument, InvalidKey
from zeitbus.extensions.blacklist import Blacklist
from zeitbus.extensions.conf import ExtensionConf
from zeitbus.http import server
from zeitbus.http.app import Extras
from zeitbus.http.settings import HttpSettings
from zeitbus.jsonl import event_from_json
from zeitbus.sync.http_peer import connect
from zeitbus.sync.replicator import Backoff
from zeitbus.sync.service import SyncService
from zeitbus.sync.settings import SyncSettings


@dataclass
class Served:
    """A log with its sync service, served over HTTP, and a token of each scope."""

    engine: Engine
    service: SyncService
    url: str
    tokens: dict[str, str]

    def client(self, scope: str | None = "admin") -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.tokens[scope]}"} if scope else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers)


@contextlib.asynccontextmanager
async def served(root: Path, settings: SyncSettings | None = None) -> AsyncIterator[Served]:
    engine = Engine.open(root / "home")
    tokens = {s: engine.create_token(s, s)[0] for s in ("read", "write", "admin")}
    service = SyncService(
        engine, settings, connect=connect, backoff=lambda: Backoff(first=0.01, cap=0.05)
    )
    await service.start()
    http = await server.start(engine, HttpSettings(port=0), None, Extras(sync=service))
    try:
        yield Served(engine, service, http.url, tokens)
    finally:
        await http.stop()
        await service.stop()
        engine.close()


def error_of(answer: httpx.Response) -> tuple[int, str, str]:
    body = answer.json()
    assert set(body) == {"error", "reason"}, body
    return answer.status_code, body["error"], body["reason"]


def test_a_peer_is_added_listed_followed_caught_up_and_removed(tmp_path: Path) -> None:
    async def main() -> None:
        async with running(tmp_path, "desktop") as (desktop,), served(tmp_path) as home:
            [theirs] = desktop.engine.insert_events([event(1000, "file:///desktop")])
            async with home.client() as client:
                answer = await client.post(
                    "/sync/peers", json={"url": desktop.http.url + "/", "token": desktop.token}
                )
                assert answer.status_code == 200, answer.text
                peer = answer.json()
                assert peer == {
                    "id": peer["id"],
                    "url": desktop.http.url,
                    "kind": "zeitbus",
                    "direction": "both",
                    "encrypt": False,
                    "token": True,  # never the token itself
                    "created": peer["created"],
                }
                assert desktop.token not in answer.text
                listed = (await client.get("/sync/peers")).json()
                assert listed == {"peers": [peer]}
                uid = desktop.engine.get_events([theirs])[0].uid  # type: ignore[union-attr]
                await until(lambda: home.engine.get_event_by_uid(uid) is not None)

                async def both_live() -> dict[str, Any]:
                    status = (await client.get("/sync/status")).json()
                    return {w["direction"]: w for w in status["peers"][0]["replications"]}

                for _ in range(2000):
                    ways = await both_live()
                    if all(w["state"] == "live" and w["lag_events"] == 0 for w in ways.values()):
                        break
                    await asyncio.sleep(0.005)
                assert ways["pull"]["events"] == 1
                assert ways["pull"]["source"] == desktop.engine.node

                now = await client.post(f"/sync/peers/{peer['id']}/now")
                assert now.status_code == 200, now.text
                assert now.json()["id"] == peer["id"]
                assert {w["last_error"] for w in now.json()["replications"]} == {""}
                just_pull = await client.post(
                    f"/sync/peers/{peer['id']}/now", json={"direction": "pull"}
                )
                assert just_pull.status_code == 200, just_pull.text

                removed = await client.delete(f"/sync/peers/{peer['id']}")
                assert (removed.status_code, removed.json()) == (200, peer)
                assert (await client.get("/sync/peers")).json() == {"peers": []}
                assert (await client.get("/sync/status")).json() == {"peers": []}
                again = await client.delete(f"/sync/peers/{peer['id']}")
                assert error_of(again)[:2] == (404, "invalid_key")
                missing = await client.post(f"/sync/peers/{peer['id']}/now")
                assert error_of(missing)[:2] == (404, "invalid_key")

    asyncio.run(main())


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "the request needs a JSON body"),
        (b"{", "not valid JSON"),
        (b"[]", "body: expected `object`, got `array`"),
        (b"{}", "body: object missing required field `url`"),
        (b'{"url": 5}', "url: expected `str`, got `int`"),
        (b'{"url": "http://a", "surprise": 1}', "unknown field `surprise`"),
        (b'{"url": "ftp://a"}', "must start with http:// or https://"),
        (b'{"url": "http://"}', "needs a host"),
        (b'{"url": "http://a:70000"}', "not a URL"),
        (b'{"url": "http://a", "direction": "up"}', "direction must be one of both, pull, push"),
        (b'{"url": "http://a", "kind": "couchdb"}', "CouchDB peers are not supported yet"),
        (b'{"url": "http://a", "encrypt": true}', "encryption is for CouchDB peers"),
        (b'{"url": "http://a", "token": "a b"}', "visible ASCII"),
        (b'{"url": "http://a", "encrypt": "yes"}', "encrypt: expected `bool`, got `str`"),
    ],
)
def test_a_bad_peer_body_is_a_400_saying_why_and_adds_nothing(
    tmp_path: Path, body: bytes, reason: str
) -> None:
    async def main() -> None:
        async with served(tmp_path) as home, home.client() as client:
            answer = await client.post(
                "/sync/peers", content=body, headers={"Content-Type": "application/json"}
            )
            status, code, why = error_of(answer)
            assert (status, code) == (400, "invalid_argument"), why
            assert reason in why
            assert (await client.get("/sync/peers")).json() == {"peers": []}

    asyncio.run(main())


def test_a_url_that_is_a_peer_already_and_bad_catch_up_bodies_are_400s(tmp_path: Path) -> None:
    async def main() -> None:
        async with served(tmp_path, SyncSettings(live=False)) as home, home.client() as client:
            first = await client.post("/sync/peers", json={"url": "http://127.0.0.1:9"})
            peer_id = first.json()["id"]
            twice = await client.post("/sync/peers", json={"url": "http://127.0.0.1:9/"})
            assert error_of(twice) == (
                400,
                "invalid_argument",
                f"http://127.0.0.1:9 is a peer already ({peer_id}); remove it first to change it",
            )
            for body, reason in [
                (b'{"direction": "up"}', "direction must be one of both, pull, push"),
                (b'{"when": "now"}', "unknown field `when`"),
                (b"[1", "body: expected `object`, got `array`"),
            ]:
                answer = await client.post(f"/sync/peers/{peer_id}/now", content=body)
                status, code, why = error_of(answer)
                assert (status, code) == (400, "invalid_argument")
                assert reason in why

    asyncio.run(main())


def test_a_catch_up_with_an_unreachable_peer_answers_its_error(tmp_path: Path) -> None:
    async def main() -> None:
        async with served(tmp_path, SyncSettings(live=False)) as home, home.client() as client:
            with contextlib.closing(socket.socket()) as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]  # free once closed: nothing listens there
            peer = (
                await client.post("/sync/peers", json={"url": f"http://127.0.0.1:{port}"})
            ).json()
            answer = await client.post(f"/sync/peers/{peer['id']}/now")
            assert answer.status_code == 200, answer.text
            for way in answer.json()["replications"]:
                assert way["state"] == "failed"
                assert way["last_error"].startswith(f"cannot reach http://127.0.0.1:{port}")
                assert way["errors"] == 1

    asyncio.run(main())


@pytest.mark.parametrize("scope", ["read", "write", None])
def test_the_peer_routes_need_an_admin_token(tmp_path: Path, scope: str | None) -> None:
    async def main() -> None:
        async with served(tmp_path) as home, home.client(scope) as client:
            requests = [
                client.get("/sync/peers"),
                client.post("/sync/peers", json={"url": "http://127.0.0.1:9"}),
                client.delete("/sync/peers/abcd1234"),
                client.post("/sync/peers/abcd1234/now"),
                client.get("/sync/status"),
            ]
            for answer in await asyncio.gather(*requests):
                status, code, _ = error_of(answer)
                assert (status, code) == (
                    (401, "unauthorized") if scope is None else (403, "forbidden")
                )
            assert await home.service.peers() == []

    asyncio.run(main())


def test_a_server_without_a_sync_service_says_so(tmp_path: Path) -> None:
    async def main() -> None:
        async with running(tmp_path, "bare") as (bare,):
            admin, _ = bare.engine.create_token("admin", "admin")
            headers = {"Authorization": f"Bearer {admin}"}
            async with httpx.AsyncClient(base_url=bare.http.url, headers=headers) as client:
                answer = await client.get("/sync/status")
                assert error_of(answer) == (
                    404,
                    "not_loaded",
                    "this server runs no sync service (the daemon does)",
                )

    asyncio.run(main())


def test_the_client_speaks_the_peer_routes(tmp_path: Path) -> None:
    async def main() -> None:
        async with (
            served(tmp_path, SyncSettings(live=False)) as home,
            AsyncClient(home.url, token=home.tokens["admin"]) as client,
        ):
            peer = await client.sync_add("http://127.0.0.1:9", token="zbt_x", direction="push")
            assert peer["direction"] == "push"
            assert await client.sync_peers() == [peer]
            [status] = await client.sync_status()
            assert [w["direction"] for w in status["replications"]] == ["push"]
            with pytest.raises(InvalidArgument, match="is a peer already"):
                await client.sync_add("http://127.0.0.1:9")
            with pytest.raises(InvalidArgument, match="does not pull"):
                await client.sync_now(peer["id"], "pull")
            assert await client.sync_remove(peer["id"]) == peer
            with pytest.raises(InvalidKey, match="no sync peer"):
                await client.sync_remove(peer["id"])

    asyncio.run(main())


def test_events_pushed_to_a_node_pass_its_blacklist_when_its_config_says_so(
    tmp_path: Path,
) -> None:
    """``[sync] filter_received`` applies to what peers push (/sync/receive) too."""
    spam = event_from_json({"actor": "application://spam.desktop"})

    async def main(filtered: bool) -> int:
        root = tmp_path / str(filtered)
        async with (
            running(root, "laptop") as (laptop,),
            served(root, SyncSettings(live=False, filter_received=filtered)) as home,
        ):
            blacklist = Blacklist(ExtensionConf(home.engine))
            blacklist.install(home.engine)
            blacklist.add("spam", spam)
            laptop.engine.insert_events(
                [
                    event(1000, "file:///spam", actor="application://spam.desktop"),
                    event(2000, "file:///ham"),
                ]
            )
            on_laptop = SyncService(laptop.engine, SyncSettings(live=False), connect=connect)
            peer = await on_laptop.add(home.url, token=home.tokens["write"], direction="push")
            answer = await on_laptop.now(peer.id)
            await on_laptop.stop()
            assert answer["replications"][0]["last_error"] == ""
            return len(list(home.engine.iter_events()))

    assert asyncio.run(main(filtered=True)) == 1
    assert asyncio.run(main(filtered=False)) == 2
