"""Request bodies that are not good JSON text, byte by byte, sent to a real daemon.

Every route that takes a body -- read from the app's own route table, so a
new one cannot be left out -- gets bodies spoiled byte by byte (bytes that
are not UTF-8, overlong and surrogate encodings, escaped unpaired surrogates,
NUL bytes, cut-short, mutated and random bodies; tests/bad_bytes.py). The
answer is never a 5xx: a refusal is a 4xx with the JSON error body, bytes
that are not UTF-8 and unpaired surrogates get a 400 naming the byte, the
daemon logs no traceback, and a refused body changes nothing (events, the
feed, the blacklist, the data sources).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.bad_bytes import Spoiled, known_bad, spoiled
from tests.http.conftest import event_json
from tests.http.daemons import Daemon, make_token, spawn
from zeitbus.http.app import routes

T0 = 1_767_225_600_000
BODY_METHODS = {"POST", "PUT", "PATCH"}


def _json(value: Any) -> bytes:
    # Raw UTF-8 for the non-ASCII text, so spoiling also lands between the
    # bytes of multi-byte characters' neighbours.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


_REPORT = event_json("file:///home/me/Überweisung.odt", T0) | {"origin": "ünïcödé 😀"}

# A good body for each route that takes one: what the spoiling starts from.
GOOD: dict[tuple[str, str], bytes] = {
    ("POST", "/events"): _json([_REPORT]),
    ("POST", "/events/find"): _json(
        {"templates": [{"actor": "application://vim*"}], "page_size": 5}
    ),
    ("POST", "/events/delete"): _json({"ids": [999_999]}),
    ("POST", "/related-uris"): _json(
        {"templates": [{"actor": "application://vim.desktop"}], "result_type": "related"}
    ),
    ("POST", "/summary"): _json(
        {"group": "actor", "templates": [{"subjects": [{"mimetype": "text/plain"}]}]}
    ),
    # An escaped pair (an emoji) is good JSON: it must stay good around the spoiling.
    ("POST", "/changes"): b'{"templates":[{"actor":"application://\\ud83d\\ude00.desktop"}]}',
    ("PUT", "/blacklist/{template_id}"): _json({"actor": "application://spam.desktop"}),
    ("PUT", "/data-sources/{unique_id}/enabled"): _json({"enabled": False}),
    ("POST", "/search"): _json({"query": "Überweisung", "count": 3}),
    ("POST", "/sync/receive"): _json(
        {
            "source": "2f0c8e36-5b1e-4a51-9a8e-6f3f2f6b9d11",
            "last_seq": 1,
            "events": [
                _REPORT
                | {
                    "uid": "0193f1c2-7a00-7000-8000-000000000001",
                    "node": "2f0c8e36-5b1e-4a51-9a8e-6f3f2f6b9d11",
                }
            ],
            "tombstones": ["0193f1c2-7a00-7000-8000-000000000002"],
        }
    ),
    # The daemon follows no peer ([sync] live = false): a spoiled URL is stored, never used.
    ("POST", "/sync/peers"): _json(
        {"url": "http://127.0.0.1:9/zeitbüs", "token": "zbt_1234abcd_x", "direction": "pull"}
    ),
    ("POST", "/sync/peers/{peer_id}/now"): _json({"direction": "push"}),
}


# Routes whose body may be left out (docs/sync.md: `POST /sync/peers/{id}/now`).
OPTIONAL_BODY = {("POST", "/sync/peers/{peer_id}/now")}


def body_routes() -> list[tuple[str, str]]:
    """(method, path) of every route of the app that takes a request body."""
    return sorted(
        (method, route.path)
        for route in routes()
        for method in (route.methods or set()) & BODY_METHODS
    )


def concrete(path: str) -> str:
    """A path with its parameters filled in: digits for an int, a name otherwise."""
    return re.sub(r"\{\w+(:int)?\}", lambda m: "1" if m[1] else "fuzz", path)


@dataclass
class Served:
    """The daemon, a client with an admin token, and the daemon's log."""

    daemon: Daemon
    client: httpx.Client
    log: Path

    def state(self) -> tuple[Any, ...]:
        """What a refused body must leave alone."""
        stats = self.client.get("/stats").json()
        return (
            stats["events"],
            stats["last_seq"],
            self.client.get("/blacklist").json(),
            self.client.get("/data-sources").json(),
        )

    def log_end(self) -> int:
        """Where the daemon's log ends now."""
        return self.log.stat().st_size

    def assert_no_traceback(self, since: int) -> None:
        """Nothing the daemon logged after ``since`` is a traceback."""
        with self.log.open("rb") as log:
            log.seek(since)
            text = log.read().decode("utf-8", "replace")
        assert "Traceback" not in text, text


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    root = Path(tempfile.mkdtemp(prefix="zbb-"))  # a Unix socket path must stay short
    data = root / "data"
    data.mkdir()
    token = make_token(data, "admin")
    config = root / "served.toml"
    config.write_text("[http]\nport = 0\n[sync]\nlive = false\n", encoding="utf-8")
    daemon = spawn(data, ZEITBUS_CONFIG=str(config))
    try:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=daemon.url, headers=headers) as client:
            seeded = client.post("/events", content=GOOD[("POST", "/events")])
            assert seeded.json()["ids"] == [1]
            yield Served(daemon, client, data.parent / "daemon.log")
    finally:
        assert daemon.stop() == 0
        shutil.rmtree(root, ignore_errors=True)


def send(served: Served, method: str, path: str, body: bytes) -> httpx.Response:
    return served.client.request(
        method, concrete(path), content=body, headers={"Content-Type": "application/json"}
    )


def check(served: Served, method: str, path: str, bad: Spoiled, *, refused: bool) -> None:
    """Send ``bad``: never a 5xx; a refusal is JSON, names the byte and changes nothing."""
    before, since = served.state(), served.log_end()
    answer = send(served, method, path, bad.data)
    assert answer.status_code < 500, (bad, answer.text)
    if refused or bad.says is not None:
        assert answer.status_code == 400, (bad, answer.text)
    if answer.status_code >= 400:
        error = answer.json()
        assert set(error) == {"error", "reason"}, error
        bad.checks(error["reason"])
        assert served.state() == before, bad
    served.assert_no_traceback(since)


def test_every_body_taking_route_is_fuzzed() -> None:
    """A new route that takes a body needs a good body here before it is fuzzed."""
    assert set(body_routes()) == set(GOOD)


def test_the_good_bodies_are_good(served: Served) -> None:
    """What the fuzz spoils is accepted (a data source or peer that is not there is a 404)."""
    for method, path in body_routes():
        answer = send(served, method, path, GOOD[(method, path)])
        expected = 404 if path.startswith(("/data-sources/", "/sync/peers/")) else 200
        assert answer.status_code == expected, (method, path, answer.text)


@pytest.mark.parametrize(
    ("method", "path", "body", "reason"),
    [
        (
            "POST",
            "/events",
            b'[{"actor":"\xff","subjects":[{"uri":"file:///a"}]}]',
            "not valid UTF-8: invalid start byte (byte 11)",
        ),
        (
            "POST",
            "/events",
            b'[{"actor":"\\ud800","subjects":[{"uri":"file:///a"}]}]',
            "not valid JSON: unpaired UTF-16 surrogate \\ud800 (byte 11)",
        ),
        (
            "POST",
            "/events/find",
            b'{"templates":[{"actor":"\xc0\x80"}]}',
            "not valid UTF-8: invalid start byte (byte 24)",
        ),
        (
            "POST",
            "/changes",
            b'{"templates":[{"actor":"x\\udc00"}]}',
            "not valid JSON: unpaired UTF-16 surrogate \\udc00 (byte 25)",
        ),
        (
            "PUT",
            "/blacklist/{template_id}",
            b'{"actor":"\xed\xa0\x80"}',
            "not valid UTF-8: invalid continuation byte (byte 10)",
        ),
        (
            "POST",
            "/search",
            b'{"query":"report\\ud800"}',
            "not valid JSON: unpaired UTF-16 surrogate \\ud800 (byte 16)",
        ),
        ("POST", "/events/delete", b'{"ids":[1', "not valid JSON: the text ends early (byte 9)"),
    ],
)
def test_bytes_that_are_not_text_get_a_400_naming_the_byte(
    served: Served, method: str, path: str, body: bytes, reason: str
) -> None:
    before, since = served.state(), served.log_end()
    answer = send(served, method, path, body)
    assert (answer.status_code, answer.json()) == (
        400,
        {"error": "invalid_argument", "reason": reason},
    )
    assert served.state() == before
    served.assert_no_traceback(since)


FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize(("method", "path"), body_routes())
@FUZZ
@given(data=st.data())
def test_spoiled_bodies_are_refused_with_the_byte_named(
    served: Served, method: str, path: str, data: st.DataObject
) -> None:
    bad = data.draw(known_bad(GOOD[(method, path)]))
    # A route whose body is optional takes an empty one: a cut at 0 is not bad there.
    assume(bad.data or (method, path) not in OPTIONAL_BODY)
    check(served, method, path, bad, refused=True)


@pytest.mark.parametrize(("method", "path"), body_routes())
@FUZZ
@given(data=st.data())
def test_any_bytes_get_no_server_error(
    served: Served, method: str, path: str, data: st.DataObject
) -> None:
    bad = data.draw(spoiled(GOOD[(method, path)]))
    check(served, method, path, bad, refused=False)
