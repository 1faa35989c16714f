"""In-process HTTP API fixtures: the app over a real SQLite log, called through httpx."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from zeitbus import Engine
from zeitbus.http.app import create_app
from zeitbus.http.settings import HttpSettings

ACCESS = "http://www.zeitgeist-project.com/ontologies/2010/01/27/zg#AccessEvent"
USER = "http://www.zeitgeist-project.com/ontologies/2010/01/27/zg#UserActivity"


def event_json(
    uri: str, timestamp: int, actor: str = "application://vim.desktop"
) -> dict[str, Any]:
    """A small event in the documented JSON form."""
    return {
        "timestamp": timestamp,
        "interpretation": ACCESS,
        "manifestation": USER,
        "actor": actor,
        "subjects": [{"uri": uri, "mimetype": "text/plain", "text": uri.rsplit("/", 1)[-1]}],
    }


class Api:
    """The app on an engine, with a token of each scope."""

    def __init__(self, engine: Engine, settings: HttpSettings) -> None:
        self.engine = engine
        self.app = create_app(engine, settings)
        self.tokens = {
            scope: engine.create_token(scope, f"test {scope}")[0]
            for scope in ("read", "write", "admin")
        }

    @asynccontextmanager
    async def client(self, scope: str | None = "admin") -> AsyncIterator[httpx.AsyncClient]:
        """An httpx client on the app, sending a token of ``scope`` (None: no token)."""
        headers = {"Authorization": f"Bearer {self.tokens[scope]}"} if scope else {}
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers=headers
        ) as client:
            yield client

    def run(
        self, test: Callable[[httpx.AsyncClient], Awaitable[None]], scope: str | None = "admin"
    ) -> None:
        """Run ``test`` with a client, in a fresh event loop."""

        async def main() -> None:
            async with self.client(scope) as client:
                await test(client)

        asyncio.run(main())


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    """The HTTP API over a fresh log, with small limits to test them."""
    settings = HttpSettings(
        max_batch=50, max_page_size=20, default_page_size=5, max_body_bytes=200_000, max_streams=2
    )
    with Engine.open(tmp_path / "data") as engine:
        yield Api(engine, settings)


@pytest.fixture
def data() -> Iterator[Path]:
    """A data directory with a short path (a Unix socket path must stay under 104 bytes)."""
    root = Path(tempfile.mkdtemp(prefix="zbh-"))
    (root / "data").mkdir()
    try:
        yield root / "data"
    finally:
        shutil.rmtree(root, ignore_errors=True)
