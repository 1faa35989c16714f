"""The sync routes: what one Zeitbus daemon asks of another (docs/sync.md).

* ``GET /sync/changes?since=N&limit=L&not_from=NODE&wait=MS``: a batch of
  this log's changes (``sync.wire``), leaving out what came from NODE; with
  ``wait``, a long poll: if there is nothing yet, the answer waits for the
  next change (or ``wait`` ms). Scope read.
* ``POST /sync/receive``: a batch from another node, stored with its
  checkpoint in one transaction (``Engine.receive``). Scope write.
* ``GET /sync/checkpoints/{node}``: the last seq of NODE this log took in.
  Scope read.

The peers this daemon syncs with, and how it is doing (scope admin; the
daemon's sync service, ``sync.service``; 404 ``not_loaded`` where none runs):

* ``GET /sync/peers``: ``{"peers": [peer...]}`` (a peer's token is never shown).
* ``POST /sync/peers``: ``{"url", "token"?, "direction"?, "kind"?, "encrypt"?}``
  stores a peer and starts syncing with it; answers the peer.
* ``DELETE /sync/peers/{id}``: forgets a peer, stops syncing; answers it.
* ``GET /sync/status``: ``{"peers": [peer with "replications": [status...]]}``.
* ``POST /sync/peers/{id}/now``: ``{"direction"?}`` (or no body): catches up
  with the peer now and answers its status when done.
"""

from __future__ import annotations

import asyncio

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from zeitbus.errors import InvalidArgument
from zeitbus.http import wire
from zeitbus.http.app import _api, _authorize, _body, _check_batch, _run
from zeitbus.http.errors import HttpError
from zeitbus.http.feed import PAGE
from zeitbus.model import INT64_MAX
from zeitbus.sync.local import checkpoint as checkpoint_of
from zeitbus.sync.local import read_batch
from zeitbus.sync.local import receive as receive_batch
from zeitbus.sync.service import SyncService
from zeitbus.sync.wire import decode_batch, encode_batch
from zeitbus.tokens import Scope as TokenScope

MAX_WAIT_MS = 600_000


def _number(request: Request, name: str, default: int, high: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    if not text.isdigit() or int(text) > high:
        raise InvalidArgument(f"{name} must be a whole number from 0 to {high}, not {text!r}")
    return int(text)


async def changes(request: Request) -> Response:
    """A batch of changes for another node (see the module doc)."""
    await _authorize(request, TokenScope.READ)
    api = _api(request)
    since = _number(request, "since", 0, INT64_MAX)
    limit = max(1, _number(request, "limit", PAGE, api.settings.max_batch))
    wait = _number(request, "wait", 0, MAX_WAIT_MS) / 1000
    not_from = request.query_params.get("not_from", "")
    engine = api.engine
    version = api.watch.version
    batch = await _run(read_batch, engine, since, limit, not_from)
    if batch.last_seq == since and wait > 0 and not api.closing.is_set():
        changed = asyncio.ensure_future(api.watch.wait(wait, version))
        closing = asyncio.ensure_future(api.closing.wait())
        try:
            await asyncio.wait((changed, closing), return_when=asyncio.FIRST_COMPLETED)
        finally:
            changed.cancel()
            closing.cancel()
        batch = await _run(read_batch, engine, since, limit, not_from)
    body = await asyncio.to_thread(encode_batch, batch, engine.node)
    return Response(body, media_type="application/json")


async def receive(request: Request) -> Response:
    """Store a batch another node sent, with its checkpoint."""
    await _authorize(request, TokenScope.WRITE)
    api = _api(request)
    data = await _body(request)
    source, batch = await _run(decode_batch, data)
    _check_batch(api, batch.size, "changes")
    if source == api.engine.node:
        raise InvalidArgument(f"a batch from this node itself ({source})")
    filtered = api.extras.sync is not None and api.extras.sync.filter_received
    done = await _run(receive_batch, api.engine, batch, source, filtered)
    answer = {"stored": done.stored, "refused": done.refused, "last_seq": batch.last_seq}
    return JSONResponse(answer)


async def checkpoint(request: Request) -> Response:
    """The last seq of a node this log took in (0: none)."""
    await _authorize(request, TokenScope.READ)
    node = request.path_params["node"]
    seq = await _run(checkpoint_of, _api(request).engine, node)
    return JSONResponse({"node": node, "seq": seq})


# -- peers ----------------------------------------------------------------------------


class PeerBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /sync/peers``; the values are checked by ``sync.peers.new_peer``."""

    url: str
    token: str = ""
    direction: str = "both"
    kind: str = "zeitbus"
    encrypt: bool = False


class NowBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /sync/peers/{id}/now``: which direction (none given: each the peer syncs)."""

    direction: str | None = None


async def _service(request: Request) -> SyncService:
    await _authorize(request, TokenScope.ADMIN)
    service = _api(request).extras.sync
    if service is None:
        raise HttpError(404, "not_loaded", "this server runs no sync service (the daemon does)")
    return service


async def get_peers(request: Request) -> Response:
    """The peers (without their tokens)."""
    service = await _service(request)
    return JSONResponse({"peers": [peer.as_dict() for peer in await service.peers()]})


async def add_peer(request: Request) -> Response:
    """Store a peer and start syncing with it."""
    service = await _service(request)
    body = wire.decode(await _body(request), PeerBody)
    peer = await service.add(
        body.url,
        token=body.token,
        direction=body.direction,
        kind=body.kind,
        encrypt=body.encrypt,
    )
    return JSONResponse(peer.as_dict())


async def remove_peer(request: Request) -> Response:
    """Forget a peer and stop syncing with it; 404 if there is none by that id."""
    service = await _service(request)
    peer = await service.remove(request.path_params["peer_id"])
    return JSONResponse(peer.as_dict())


async def status(request: Request) -> Response:
    """Every peer with the status of each direction it syncs."""
    service = await _service(request)
    return JSONResponse({"peers": await service.status()})


async def now(request: Request) -> Response:
    """Catch up with a peer now; its status once done (a failed direction says why)."""
    service = await _service(request)
    data = await _body(request)
    body = wire.decode(data, NowBody) if data.strip() else NowBody()
    answer = await service.now(request.path_params["peer_id"], body.direction)
    return JSONResponse(answer)
