"""The sync routes: what one Zeitbus daemon asks of another (docs/sync.md).

* ``GET /sync/changes?since=N&limit=L&not_from=NODE&wait=MS``: a batch of
  this log's changes (``sync.wire``), leaving out what came from NODE; with
  ``wait``, a long poll: if there is nothing yet, the answer waits for the
  next change (or ``wait`` ms). Scope read.
* ``POST /sync/receive``: a batch from another node, stored with its
  checkpoint in one transaction (``Engine.receive``). Scope write.
* ``GET /sync/checkpoints/{node}``: the last seq of NODE this log took in.
  Scope read.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from zeitbus.errors import InvalidArgument, InvalidKey
from zeitbus.http.app import _api, _authorize, _body, _check_batch, _run
from zeitbus.http.feed import PAGE
from zeitbus.model import INT64_MAX
from zeitbus.sync.local import read_batch
from zeitbus.sync.replicator import cursor_name
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
    if batch.last_seq == since and wait > 0:
        await api.watch.wait(wait, version)
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
    done = await _run(
        api.engine.receive,
        batch.events,
        batch.tombstones,
        source=source,
        cursor=(cursor_name(source), batch.last_seq),
        filtered=api.settings.sync_filtered,
    )
    answer = {"stored": done.stored, "refused": done.refused, "last_seq": batch.last_seq}
    return JSONResponse(answer)


async def checkpoint(request: Request) -> Response:
    """The last seq of a node this log took in (0: none)."""
    await _authorize(request, TokenScope.READ)
    node = request.path_params["node"]
    try:
        seq = await _run(_api(request).engine.cursor, cursor_name(node))
    except InvalidKey:
        seq = 0
    return JSONResponse({"node": node, "seq": seq})
