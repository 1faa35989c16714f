"""Tokens and scopes: who may do what over HTTP."""

from __future__ import annotations

import asyncio

import httpx

from tests.http.conftest import Api, event_json
from zeitbus.http.app import trusted


def test_a_request_without_a_token_is_refused_with_401(api: Api) -> None:
    async def test(client: httpx.AsyncClient) -> None:
        for method, path in (("GET", "/"), ("GET", "/events/1"), ("POST", "/events/find")):
            answer = await client.request(method, path, json={})
            assert answer.status_code == 401
            assert answer.json()["error"] == "unauthorized"
            assert answer.headers["www-authenticate"].startswith("Bearer")
        assert (await client.get("/health")).json() == {"ok": True}

    api.run(test, scope=None)


def test_a_forged_malformed_or_revoked_token_is_refused(api: Api) -> None:
    async def test(client: httpx.AsyncClient) -> None:
        real = api.tokens["read"]
        forged = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")
        for token in (forged, "zbt_nothing", "", real.replace("zbt_", "xyz_")):
            answer = await client.get("/", headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 401, token
        ok = await client.get("/", headers={"Authorization": f"Bearer {real}"})
        assert ok.status_code == 200
        token_id = real.split("_")[1]
        api.engine.revoke_token(token_id)
        revoked = await client.get("/", headers={"Authorization": f"Bearer {real}"})
        assert revoked.status_code == 401

    api.run(test, scope=None)


def test_scopes_are_ordered_read_write_admin(api: Api) -> None:
    async def as_read(client: httpx.AsyncClient) -> None:
        assert (await client.post("/events/find", json={})).status_code == 200
        refused = await client.post("/events", json=[event_json("file:///a", 1)])
        assert refused.status_code == 403
        assert "write" in refused.json()["reason"]
        assert (await client.post("/events/delete", json={"ids": [1]})).status_code == 403

    async def as_write(client: httpx.AsyncClient) -> None:
        assert (await client.post("/events", json=[event_json("file:///a", 1)])).status_code == 200
        assert (await client.post("/events/delete", json={"ids": [1]})).status_code == 200

    api.run(as_read, scope="read")
    api.run(as_write, scope="write")
    assert api.engine.last_seq() == 2


def test_tokens_are_stored_only_as_digests(api: Api) -> None:
    stored = api.engine.list_tokens()
    assert {info.scope.label for info in stored} == {"read", "write", "admin"}
    with api.engine.store.reading() as conn:
        digests = [bytes(row[0]) for row in conn.execute("SELECT digest FROM token")]
    for text in api.tokens.values():
        secret = text.rsplit("_", 1)[1].encode()
        assert all(secret not in digest for digest in digests)
        assert all(len(digest) == 32 for digest in digests)


def test_the_owners_socket_and_trusted_loopback_need_no_token(api: Api) -> None:
    async def call(app: object) -> int:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return (await client.get("/stats")).status_code

    assert asyncio.run(call(trusted(api.app))) == 200
    assert asyncio.run(call(api.app)) == 401
    api.app.state.api.settings = api.app.state.api.settings.replace(trust_loopback=True)
    # httpx's ASGI transport reports the client as 127.0.0.1.
    assert asyncio.run(call(api.app)) == 200
