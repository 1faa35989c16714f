"""The HTTP API's resources: the same semantics as D-Bus, in JSON (docs/http-api.md)."""

from __future__ import annotations

import httpx

from tests.http.conftest import Api, event_json

T0 = 1_767_225_600_000


def test_inserted_events_can_be_read_back_by_id_and_by_uid(api: Api) -> None:
    async def test(client: httpx.AsyncClient) -> None:
        answer = await client.post(
            "/events",
            json={"events": [event_json("file:///a", T0), event_json("file:///b", T0 + 1)]},
        )
        assert answer.status_code == 200
        ids = answer.json()["ids"]
        assert ids == [1, 2]
        assert answer.json()["last_seq"] == 2
        one = (await client.get("/events/2")).json()
        assert one["subjects"][0]["uri"] == "file:///b"
        by_uid = await client.get(f"/events/uid/{one['uid']}")
        assert by_uid.json() == one
        many = (await client.get("/events", params={"ids": "2,9,1"})).json()["events"]
        assert [e and e["id"] for e in many] == [2, None, 1]

    api.run(test)


def test_a_bare_json_array_is_a_batch_too(api: Api) -> None:
    async def test(client: httpx.AsyncClient) -> None:
        answer = await client.post("/events", json=[event_json("file:///a", T0)])
        assert answer.json()["ids"] == [1]

    api.run(test)


def test_a_bad_event_is_refused_by_name_and_nothing_of_its_batch_is_stored(api: Api) -> None:
    async def test(client: httpx.AsyncClient) -> None:
        bad = event_json("file:///b", T0)
        bad["timestamp"] = "yesterday"
        answer = await client.post("/events", json={"events": [event_json("file:///a", T0), bad]})
        assert answer.status_code == 400
        assert answer.json()["error"] == "invalid_argument"
        assert answer.json()["reason"].startswith("event 2: timestamp:")
        assert api.engine.last_seq() == 0

    api.run(test)


def test_malformed_bodies_get_400_with_a_json_reason(api: Api) -> None:
    async def test(client: httpx.AsyncClient) -> None:
        for body in (b"", b"{", b'{"events": 3}', b'{"events": [], "extra": 1}', b'"text"'):
            answer = await client.post("/events", content=body)
            assert answer.status_code == 400, body
            assert set(answer.json()) == {"error", "reason"}
        answer = await client.post("/events/find", json={"result_type": "sideways"})
        assert answer.status_code == 400
        assert "sideways" in answer.json()["reason"]
        answer = await client.get("/events/99999999999")
        assert answer.status_code == 400
        answer = await client.get("/events", params={"ids": "1,x"})
        assert answer.status_code == 400

    api.run(test)


def test_limits_are_answered_with_413_and_a_json_body(api: Api) -> None:
    async def test(client: httpx.AsyncClient) -> None:
        batch = [event_json(f"file:///{n}", T0 + n) for n in range(51)]
        answer = await client.post("/events", json={"events": batch})
        assert answer.status_code == 413
        assert answer.json()["error"] == "batch_too_large"
        answer = await client.post("/events", content=b"[" + b" " * 200_001 + b"]")
        assert answer.status_code == 413
        assert answer.json()["error"] == "body_too_large"
        answer = await client.post("/events/find", json={"page_size": 21})
        assert answer.status_code == 400
        assert answer.json()["error"] == "page_size_too_large"
        assert api.engine.last_seq() == 0

    api.run(test)


def test_find_pages_through_every_match_with_an_opaque_cursor(api: Api) -> None:
    async def test(client: httpx.AsyncClient) -> None:
        for start in range(0, 40, 20):
            batch = [event_json(f"file:///{n}", T0 + n) for n in range(start, start + 20)]
            await client.post("/events", json={"events": batch})
        first = (await client.post("/events/find", json={"page_size": 15})).json()
        assert first["total"] == 40
        seen = [e["id"] for e in first["events"]]
        cursor = first["next"]
        while cursor is not None:
            page = (await client.get(f"/events/find/{cursor}")).json()
            seen += [e["id"] for e in page["events"]]
            cursor = page["next"]
        assert seen == list(range(40, 0, -1))  # most recent first, each once
        gone = await client.get(f"/events/find/{first['next']}")
        assert gone.status_code == 410  # read to its end: the cursor is closed
        assert gone.json()["error"] == "cursor_expired"

    api.run(test)


def test_find_takes_templates_result_types_and_ids_only(api: Api) -> None:
    async def test(client: httpx.AsyncClient) -> None:
        events = [
            event_json("file:///a", T0, actor="application://vim.desktop"),
            event_json("file:///b", T0 + 1, actor="application://gedit.desktop"),
            event_json("file:///a", T0 + 2, actor="application://vim.desktop"),
        ]
        await client.post("/events", json={"events": events})
        vim = {"templates": [{"actor": "application://vim*"}], "ids_only": True}
        assert (await client.post("/events/find", json=vim)).json()["ids"] == [3, 1]
        popular = {"result_type": "most_popular_subjects", "ids_only": True}
        assert (await client.post("/events/find", json=popular)).json()["ids"] == [3, 2]
        oldest = {"result_type": 1, "limit": 1, "ids_only": True}
        assert (await client.post("/events/find", json=oldest)).json()["ids"] == [1]
        ranged = {"time_range": [T0 + 1, T0 + 1], "ids_only": True}
        assert (await client.post("/events/find", json=ranged)).json()["ids"] == [2]

    api.run(test)


def test_deletes_answer_the_time_range_and_leave_nothing_readable(api: Api) -> None:
    async def test(client: httpx.AsyncClient) -> None:
        events = [event_json(f"file:///{n}", T0 + n) for n in range(3)]
        await client.post("/events", json={"events": events})
        answer = await client.post("/events/delete", json={"ids": [1, 3, 7]})
        assert answer.json() == {"time_range": [T0, T0 + 2]}
        assert (await client.get("/events/1")).status_code == 404
        assert (await client.delete("/events/2")).json() == {"time_range": [T0 + 1, T0 + 1]}
        missing = await client.delete("/events/2")
        assert missing.status_code == 404
        assert missing.json()["error"] == "not_found"
        assert (await client.post("/events/delete", json={"ids": [5]})).json() == {
            "time_range": None
        }

    api.run(test)


def test_related_uris_histogram_and_stats(api: Api) -> None:
    async def test(client: httpx.AsyncClient) -> None:
        events = [event_json(f"file:///{n % 3}", T0 + n * 1000) for n in range(9)]
        await client.post("/events", json={"events": events})
        body = {"templates": [{"subjects": [{"uri": "file:///0"}]}], "limit": 5}
        uris = (await client.post("/related-uris", json=body)).json()["uris"]
        assert set(uris) <= {"file:///0", "file:///1", "file:///2"}
        assert uris
        days = (await client.get("/histogram")).json()["days"]
        assert sum(day["count"] for day in days) == 9
        stats = (await client.get("/stats")).json()
        assert stats["events"] == 9
        assert stats["last_seq"] == 9

    api.run(test)


def test_summary_counts_events_per_actor_and_subjects_per_field(api: Api) -> None:
    async def test(client: httpx.AsyncClient) -> None:
        events = [
            event_json("file:///a", T0, actor="application://vim.desktop"),
            event_json("file:///b", T0 + 1, actor="application://vim.desktop"),
            event_json("file:///a", T0 + 2, actor="application://gedit.desktop"),
            event_json("file:///c", T0 + 86_400_000, actor="application://gedit.desktop"),
        ]
        await client.post("/events", json={"events": events})
        day = {"time_range": [T0, T0 + 86_399_999]}
        actors = (await client.post("/summary", json=day)).json()["groups"]
        assert actors == [
            {"value": "application://vim.desktop", "count": 2, "newest": T0 + 1},
            {"value": "application://gedit.desktop", "count": 1, "newest": T0 + 2},
        ]
        uris = (await client.post("/summary", json={"group": "subject_uri"})).json()["groups"]
        assert [(g["value"], g["count"]) for g in uris] == [
            ("file:///a", 2),
            ("file:///c", 1),
            ("file:///b", 1),
        ]
        bad = await client.post("/summary", json={"group": "colour"})
        assert bad.status_code == 400
        assert "colour" in bad.json()["reason"]

    api.run(test)


def test_extension_resources_say_when_the_extension_is_not_loaded(api: Api) -> None:
    async def test(client: httpx.AsyncClient) -> None:
        for method, path, body in (
            ("GET", "/blacklist", None),
            ("PUT", "/blacklist/x", {"actor": "a"}),
            ("GET", "/data-sources", None),
            ("POST", "/search", {"query": "report"}),
        ):
            answer = await client.request(method, path, json=body)
            assert answer.status_code == 404, path
            assert answer.json()["error"] == "not_loaded"

    api.run(test)


def test_unknown_paths_and_methods_answer_json(api: Api) -> None:
    async def test(client: httpx.AsyncClient) -> None:
        missing = await client.get("/nowhere")
        assert missing.status_code == 404
        assert missing.json()["error"] == "not_found"
        wrong = await client.put("/events")
        assert wrong.status_code == 405
        assert wrong.json()["error"] == "method_not_allowed"

    api.run(test)


def test_the_openapi_document_lists_every_route(api: Api) -> None:
    async def test(client: httpx.AsyncClient) -> None:
        document = (await client.get("/openapi.json")).json()
        assert document["openapi"].startswith("3.")
        for path in ("/events", "/events/find", "/events/delete", "/changes", "/related-uris"):
            assert path in document["paths"]

    api.run(test)
