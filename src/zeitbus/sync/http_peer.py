"""Another Zeitbus daemon as a replication's source and target, over its HTTP API.

The adapter of ``sync.replicator`` on httpx: reads are ``GET /sync/changes``
(a long poll when waiting for the next change), writes ``POST
/sync/receive``, checkpoints ``GET /sync/checkpoints/{node}``; a token goes
as a bearer header. Errors are the project's tree: the peer's 4xx JSON
bodies become the matching error with its reason, a refused token
AccessDenied, a 5xx, a connection that fails or closes mid-answer, or an
answer that does not come in time a DatabaseError naming the peer, so that
sync status says what went wrong and the replication retries.
"""

from __future__ import annotations

from typing import Any

import httpx
import msgspec

from zeitbus.errors import AccessDenied, DatabaseError, InvalidArgument, ZeitbusError
from zeitbus.sync.peers import Peer
from zeitbus.sync.replicator import Batch
from zeitbus.sync.wire import decode_batch, encode_batch

TIMEOUT = 30.0  # seconds for an answer; a long poll adds its wait


class HttpPeer:
    """The daemon at ``url`` (``http://host:port``), as ``Source`` and ``Target``."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = TIMEOUT,
    ) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.AsyncClient(
            base_url=self.url, headers=headers, transport=transport, timeout=timeout
        )
        self._timeout = timeout
        self._node: str | None = None

    async def close(self) -> None:
        await self._client.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            answer = await self._client.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise DatabaseError(f"{self.url} did not answer in time") from None
        except httpx.ConnectError as error:
            raise DatabaseError(f"cannot reach {self.url}: {error}") from None
        except httpx.HTTPError as error:
            raise DatabaseError(f"the connection to {self.url} broke off: {error}") from None
        if answer.status_code >= 400:
            raise _error(self.url, answer)
        return answer

    async def node(self) -> str:
        if self._node is None:
            info = _json(self.url, (await self._request("GET", "/")).content)
            node = info.get("node") if isinstance(info, dict) else None
            if not isinstance(node, str) or not node:
                raise InvalidArgument(f"{self.url} is not a Zeitbus daemon (no node id in GET /)")
            self._node = node
        return self._node

    async def read(self, since: int, limit: int, not_from: str, wait: float = 0.0) -> Batch:
        params: dict[str, str | int] = {"since": since, "limit": limit, "not_from": not_from}
        timeout = self._timeout
        if wait > 0:
            params["wait"] = int(wait * 1000)
            timeout += wait
        answer = await self._request("GET", "/sync/changes", params=params, timeout=timeout)
        source, batch = decode_batch(answer.content)
        if source != await self.node():
            raise InvalidArgument(f"{self.url} sent changes of node {source}, not its own")
        if batch.last_seq < since:
            raise InvalidArgument(f"{self.url} went back in its feed (seq {batch.last_seq})")
        return batch

    async def checkpoint(self, source: str) -> int:
        answer = await self._request("GET", f"/sync/checkpoints/{source}")
        info = _json(self.url, answer.content)
        seq = info.get("seq") if isinstance(info, dict) else None
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise InvalidArgument(f"{self.url} answered a checkpoint that is not a seq: {seq!r}")
        return seq

    async def write(self, batch: Batch, source: str) -> int:
        body = encode_batch(batch, source)
        headers = {"Content-Type": "application/json"}
        answer = await self._request("POST", "/sync/receive", content=body, headers=headers)
        info = _json(self.url, answer.content)
        stored = info.get("stored") if isinstance(info, dict) else None
        if isinstance(stored, bool) or not isinstance(stored, int):
            raise InvalidArgument(f"{self.url} answered a batch without the count it stored")
        return stored


def connect(peer: Peer) -> HttpPeer:
    """The endpoint for a stored ``peer`` (``SyncService``'s ``connect``), by its kind."""
    if peer.kind == "zeitbus":
        return HttpPeer(peer.url, token=peer.token or None)
    raise InvalidArgument(f"{peer.kind} peers are not supported yet")


def _json(url: str, content: bytes) -> Any:
    try:
        return msgspec.json.decode(content)
    except (msgspec.DecodeError, UnicodeError):
        raise InvalidArgument(f"{url} answered something that is not JSON") from None


def _error(url: str, answer: httpx.Response) -> ZeitbusError:
    """The error a peer's error answer stands for."""
    try:
        body = msgspec.json.decode(answer.content)
        reason = str(body.get("reason", "")) if isinstance(body, dict) else ""
    except (msgspec.DecodeError, UnicodeError):
        reason = ""
    reason = reason or answer.reason_phrase or "no reason given"
    where = f"{url} answered {answer.status_code}: {reason}"
    if answer.status_code in (401, 403):
        return AccessDenied(where)
    if answer.status_code < 500:
        return InvalidArgument(where)
    return DatabaseError(where)
