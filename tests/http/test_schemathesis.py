"""The served OpenAPI document, fuzzed with schemathesis: no 5xx, every answer as documented.

Every operation gets generated requests, valid and invalid, with a token
that may do everything; each answer is checked against the document
(status code, content type, body schema) and for server errors. The feed's
streaming modes are tested in test_feed.py: here every request reads the
feed in ``normal`` mode (a hook sets it), so no generated request waits.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from tests.http.conftest import ACCESS, USER
from zeitbus import Engine
from zeitbus.errors import DatabaseError
from zeitbus.http.app import Extras, create_app
from zeitbus.http.settings import HttpSettings
from zeitbus.jsonl import event_from_json
from zeitbus.sync.peers import Peer
from zeitbus.sync.service import Endpoint, SyncService
from zeitbus.sync.settings import SyncSettings


class _Offline:
    """A peer that is never reached: every call fails as an unreachable one does."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def _fail(self, *args: object, **kwargs: object) -> Any:
        raise DatabaseError(f"cannot reach {self.url}: not in this test")

    node = read = checkpoint = write = _fail

    async def close(self) -> None:
        pass


def _offline(peer: Peer) -> Endpoint:
    return cast(Endpoint, _Offline(peer.url))


@pytest.fixture
def api_schema(tmp_path: Path) -> Iterator[Any]:
    with Engine.open(tmp_path / "data") as engine:
        token, _ = engine.create_token("admin", "schemathesis")
        engine.insert_events(
            [
                event_from_json(
                    {
                        "timestamp": 1_767_225_600_000 + n,
                        "interpretation": ACCESS,
                        "manifestation": USER,
                        "actor": "application://vim.desktop",
                        "subjects": [{"uri": f"file:///{n}"}],
                    }
                )
                for n in range(5)
            ]
        )
        # Peers are stored, never followed (live = false), and a catch-up reaches no
        # network: a generated URL is not a place this test may send anything.
        sync = SyncService(engine, SyncSettings(live=False), connect=_offline)
        app = create_app(
            engine,
            HttpSettings(max_batch=200, max_body_bytes=1_000_000),
            extras=Extras(sync=sync),
        )
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        schema.config.headers = {"Authorization": f"Bearer {token}"}
        yield schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schemathesis.hook
def map_query(context: schemathesis.HookContext, query: dict[str, Any] | None) -> Any:
    """Streaming feeds and long polls would wait for changes: read without waiting."""
    if query and "feed" in query:
        query["feed"] = "normal"
    if query and "wait" in query:
        query["wait"] = 0
    return query


@schema.parametrize()
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_answers_as_documented(case: schemathesis.Case[Any]) -> None:
    # Every built-in check but the two that judge how strict input validation
    # is: the document states the shapes, while the engine also enforces
    # Zeitgeist's rules no JSON schema can state (an event's required
    # fields, no NUL characters, one subject per URI...), and it takes a
    # ``null`` page size as the default. Those answers are tested in
    # test_api.py; here what counts is no 5xx and answers as documented.
    case.call_and_validate(excluded_checks=[positive_data_acceptance, negative_data_rejection])
