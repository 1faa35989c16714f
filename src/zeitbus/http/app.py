"""The HTTP API: resources over the engine, with the semantics of the D-Bus API.

Theory of operation. Each route checks who is asking (``_authorize``),
decodes its body strictly (``wire``), runs the engine call in a worker
thread (SQLite blocks) and answers JSON. Engine errors become 4xx answers in
one place (``errors``). A find's answer is paged: the ids are found once and
kept under an opaque cursor (``Pages``) that later requests read on from, so
no answer has a size cap and no page is found twice. docs/http-api.md is the
reference.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from zeitbus import __version__
from zeitbus.engine import Engine
from zeitbus.errors import InvalidArgument, NothingMatched, ZeitbusError
from zeitbus.extensions.blacklist import Blacklist
from zeitbus.extensions.datasources import DataSource, DataSourceRegistry
from zeitbus.extensions.fts import RELEVANCIES_RESULT_TYPES, FullTextIndex
from zeitbus.http import feed, wire
from zeitbus.http.errors import (
    HttpError,
    on_http_error,
    on_starlette_http_exception,
    on_zeitbus_error,
)
from zeitbus.http.openapi import document as openapi_document
from zeitbus.http.settings import HttpSettings
from zeitbus.jsonl import events_from_json
from zeitbus.model import UINT32_MAX, Event
from zeitbus.sync.service import SyncService
from zeitbus.tokens import Scope as TokenScope

T = TypeVar("T")
TRUSTED = "zeitbus.trusted"  # ASGI scope key: the request came over the owner's Unix socket
PAGE_IDLE_SECONDS = 300.0  # a find's cursor lives this long after its last use
MAX_OPEN_PAGES = 1000  # cursors kept at most; the least recently used goes first
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass
class _Paged:
    ids: list[int]
    ids_only: bool
    page_size: int
    position: int = 0
    used: float = field(default_factory=time.monotonic)


class Pages:
    """The ids of finds still being read, by cursor."""

    def __init__(self) -> None:
        self._open: OrderedDict[str, _Paged] = OrderedDict()

    def add(self, paged: _Paged) -> str:
        """Keep a find's ids; returns its cursor."""
        self._expire()
        cursor = secrets.token_urlsafe(18)
        self._open[cursor] = paged
        while len(self._open) > MAX_OPEN_PAGES:
            self._open.popitem(last=False)
        return cursor

    def take(self, cursor: str) -> _Paged:
        """The find behind a cursor; 410 if it expired or never was."""
        self._expire()
        paged = self._open.get(cursor)
        if paged is None:
            raise HttpError(410, "cursor_expired", "this cursor expired or never existed")
        paged.used = time.monotonic()
        self._open.move_to_end(cursor)
        return paged

    def close(self, cursor: str) -> None:
        """Forget a find that was read to its end."""
        self._open.pop(cursor, None)

    def _expire(self) -> None:
        now = time.monotonic()
        while self._open:
            cursor, oldest = next(iter(self._open.items()))
            if now - oldest.used < PAGE_IDLE_SECONDS:
                break
            del self._open[cursor]


class BlacklistControl(Protocol):
    """The loaded Blacklist extension (its D-Bus service, which signals changes)."""

    blacklist: Blacklist

    async def add(self, template_id: str, template: Event) -> Event: ...  # pragma: no cover

    async def remove(self, template_id: str) -> Event | None: ...  # pragma: no cover


class DataSourceControl(Protocol):
    """The loaded data-source registry (its D-Bus service, which signals changes)."""

    registry: DataSourceRegistry

    async def set_enabled(self, unique_id: str, enabled: bool) -> None: ...  # pragma: no cover


@dataclass
class Extras:
    """The extensions the daemon loaded, for their resources (None: not loaded)."""

    blacklist: BlacklistControl | None = None
    datasources: DataSourceControl | None = None
    index: FullTextIndex | None = None
    sync: SyncService | None = None  # the daemon's peers (and its [sync] settings)


@dataclass
class Api:
    """What the routes share."""

    engine: Engine
    settings: HttpSettings
    watch: feed.FeedWatch
    extras: Extras = field(default_factory=Extras)
    pages: Pages = field(default_factory=Pages)
    streams: int = 0
    # Set when the server is about to stop: long polls answer at once with what
    # there is, rather than being cancelled mid-answer after the grace period.
    closing: asyncio.Event = field(default_factory=asyncio.Event)


def _api(request: Request) -> Api:
    api = request.app.state.api
    assert isinstance(api, Api)
    return api


async def _authorize(request: Request, needed: TokenScope) -> None:
    """Let the request through if it may do what ``needed`` allows; 401/403 otherwise."""
    api = _api(request)
    if request.scope.get(TRUSTED):
        return
    client = request.client.host if request.client else ""
    if api.settings.trust_loopback and client in _LOOPBACK:
        return
    header = request.headers.get("authorization", "")
    kind, _, token = header.partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        raise HttpError(
            401,
            "unauthorized",
            "this request needs a token: Authorization: Bearer <token> "
            "(make one with `zeitbus token create`)",
            {"WWW-Authenticate": 'Bearer realm="zeitbus"'},
        )
    scope = await asyncio.to_thread(api.engine.check_token, token.strip())
    if scope is None:
        raise HttpError(
            401,
            "unauthorized",
            "the token is not valid (revoked, or never made here)",
            {"WWW-Authenticate": 'Bearer realm="zeitbus", error="invalid_token"'},
        )
    if scope < needed:
        raise HttpError(
            403,
            "forbidden",
            f"this request needs a token with the {needed.label} scope; this one has {scope.label}",
        )


async def _body(request: Request) -> bytes:
    """The request body, refused with 413 past ``max_body_bytes``."""
    limit = _api(request).settings.max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> HttpError:
    return HttpError(413, "body_too_large", f"the request body is over {limit} bytes")


def _check_batch(api: Api, count: int, what: str) -> None:
    if count > api.settings.max_batch:
        raise HttpError(
            413,
            "batch_too_large",
            f"{count} {what} in one request; at most {api.settings.max_batch}",
        )


async def _run(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(function, *args, **kwargs)


# -- routes ----------------------------------------------------------------------


async def root(request: Request) -> Response:
    """What this is: version, node and the feed's end."""
    await _authorize(request, TokenScope.READ)
    engine = _api(request).engine
    last_seq = await _run(engine.last_seq)
    return JSONResponse({"zeitbus": __version__, "node": engine.node, "last_seq": last_seq})


async def health(request: Request) -> Response:
    """Liveness, for supervisors: no token needed, no data given."""
    return JSONResponse({"ok": True})


async def openapi(request: Request) -> Response:
    """The OpenAPI document of this API."""
    return JSONResponse(openapi_document())


async def insert_events(request: Request) -> Response:
    """InsertEvents: ids in order, 0 for an event not stored (blacklisted, preset id)."""
    await _authorize(request, TokenScope.WRITE)
    api = _api(request)
    raw = await _body(request)
    items = wire.decode(raw, list[dict[str, Any]] | wire.InsertBody)
    items = items.events if isinstance(items, wire.InsertBody) else items
    _check_batch(api, len(items), "events")
    events = events_from_json(items)

    def insert() -> tuple[list[int], int]:
        ids = api.engine.insert_events(events)
        return ids, api.engine.last_seq()

    ids, last_seq = await _run(insert)
    return JSONResponse({"ids": ids, "last_seq": last_seq})


def _ids_param(request: Request) -> list[int]:
    text = request.query_params.get("ids", "")
    try:
        ids = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InvalidArgument(f"ids must be event ids separated by commas, not {text!r}") from None
    if not ids:
        raise InvalidArgument("give the events' ids: /events?ids=1,2,3")
    return ids


async def get_events(request: Request) -> Response:
    """GetEvents: events in the order asked, null for an id that names none."""
    await _authorize(request, TokenScope.READ)
    api = _api(request)
    ids = _ids_param(request)
    _check_batch(api, len(ids), "ids")
    # An id past the 32-bit range names no event (D-Bus cannot even ask for one).
    possible = [i for i in ids if i <= UINT32_MAX]
    found = dict(zip(possible, await _run(api.engine.get_events, possible), strict=True))
    return JSONResponse({"events": [wire.event_json(found.get(i)) for i in ids]})


def _path_id(request: Request) -> int:
    event_id = int(request.path_params["event_id"])  # the route takes digits only
    if event_id > UINT32_MAX:
        raise InvalidArgument(f"an event id is a number from 0 to {UINT32_MAX}, not {event_id}")
    return event_id


async def get_event(request: Request) -> Response:
    """One event by id; 404 if there is none."""
    await _authorize(request, TokenScope.READ)
    event_id = _path_id(request)
    (event,) = await _run(_api(request).engine.get_events, [event_id])
    if event is None:
        raise HttpError(404, "not_found", f"no event with id {event_id}")
    return JSONResponse(wire.event_json(event))


async def get_event_by_uid(request: Request) -> Response:
    """One event by uid (the id it has on every machine); 404 if there is none."""
    await _authorize(request, TokenScope.READ)
    uid = request.path_params["uid"]
    event = await _run(_api(request).engine.get_event_by_uid, uid)
    if event is None:
        raise HttpError(404, "not_found", f"no event with uid {uid}")
    return JSONResponse(wire.event_json(event))


async def _delete(request: Request, ids: list[int]) -> tuple[int, int] | None:
    engine = _api(request).engine
    return await _run(engine.delete_events, ids, defer=True)  # type: ignore[no-any-return]


def _purge_later(engine: Engine) -> BackgroundTask:
    # The rows go after the answer (docs/storage.md, "Deferred deletes").
    return BackgroundTask(asyncio.to_thread, engine.purge_deleted)


async def delete_events(request: Request) -> Response:
    """DeleteEvents: the time range of what was deleted (null if nothing was)."""
    await _authorize(request, TokenScope.WRITE)
    api = _api(request)
    body = wire.decode(await _body(request), wire.DeleteBody)
    _check_batch(api, len(body.ids), "ids")
    deleted = await _delete(request, body.ids)
    return JSONResponse(
        {"time_range": None if deleted is None else list(deleted)},
        background=_purge_later(api.engine),
    )


async def delete_event(request: Request) -> Response:
    """Delete one event; 404 if there is none."""
    await _authorize(request, TokenScope.WRITE)
    event_id = _path_id(request)
    deleted = await _delete(request, [event_id])
    if deleted is None:
        raise HttpError(404, "not_found", f"no event with id {event_id}")
    return JSONResponse(
        {"time_range": list(deleted)}, background=_purge_later(_api(request).engine)
    )


async def find(request: Request) -> Response:
    """FindEvents (or FindEventIds with ``ids_only``): the first page and a cursor."""
    await _authorize(request, TokenScope.READ)
    api = _api(request)
    body = wire.decode(await _body(request), wire.FindBody)
    page_size = body.page_size or api.settings.default_page_size
    if page_size > api.settings.max_page_size:
        raise HttpError(
            400,
            "page_size_too_large",
            f"page_size {page_size} is over this server's {api.settings.max_page_size}",
        )
    templates = events_from_json(body.templates, "template")
    ids = await _run(
        api.engine.find_event_ids,
        wire.time_range(body.time_range),
        templates,
        wire.storage_state(body.storage_state),
        body.limit,
        wire.result_type(body.result_type),
    )
    return await _page(api, _Paged(ids, body.ids_only, page_size), None)


async def find_next(request: Request) -> Response:
    """The next page of a find, by its cursor."""
    await _authorize(request, TokenScope.READ)
    api = _api(request)
    cursor = request.path_params["cursor"]
    return await _page(api, api.pages.take(cursor), cursor)


async def _page(api: Api, paged: _Paged, cursor: str | None) -> Response:
    chunk = paged.ids[paged.position : paged.position + paged.page_size]
    paged.position += len(chunk)
    more = paged.position < len(paged.ids)
    if more and cursor is None:
        cursor = api.pages.add(paged)
    elif not more and cursor is not None:
        api.pages.close(cursor)
    answer: dict[str, Any] = {"total": len(paged.ids), "next": cursor if more else None}
    if paged.ids_only:
        answer["ids"] = chunk
    else:
        # Events deleted since the find are left out of its pages.
        events = await _run(api.engine.get_events, chunk)
        answer["events"] = [wire.event_json(e) for e in events if e is not None]
    return JSONResponse(answer)


async def related_uris(request: Request) -> Response:
    """FindRelatedUris (templates that match nothing give an empty list, not an error)."""
    await _authorize(request, TokenScope.READ)
    api = _api(request)
    body = wire.decode(await _body(request), wire.RelatedBody)
    templates = events_from_json(body.templates, "template")
    result_templates = events_from_json(body.result_templates, "result template")
    try:
        uris = await _run(
            api.engine.find_related_uris,
            wire.time_range(body.time_range),
            templates,
            result_templates,
            wire.storage_state(body.storage_state),
            body.limit,
            wire.relevant_type(body.result_type),
        )
    except NothingMatched:
        uris = []  # Zeitgeist's D-Bus API raises; over HTTP nothing related is an empty list
    return JSONResponse({"uris": uris})


async def summary(request: Request) -> Response:
    """Events per actor (or subjects per URI, mimetype...) over a time range."""
    await _authorize(request, TokenScope.READ)
    api = _api(request)
    body = wire.decode(await _body(request), wire.SummaryBody)
    groups = await _run(
        api.engine.summary,
        wire.time_range(body.time_range),
        events_from_json(body.templates, "template"),
        wire.storage_state(body.storage_state),
        body.group,
    )
    return JSONResponse(
        {"groups": [{"value": v, "count": n, "newest": newest} for v, n, newest in groups]}
    )


async def histogram(request: Request) -> Response:
    """Events per day (local midnight, as Zeitgeist's Histogram extension)."""
    await _authorize(request, TokenScope.READ)
    days = await _run(_api(request).engine.histogram)
    return JSONResponse({"days": [{"day": day, "count": count} for day, count in days]})


async def stats(request: Request) -> Response:
    """Counts over the whole log."""
    await _authorize(request, TokenScope.READ)
    summary = await _run(_api(request).engine.stats)
    return JSONResponse(dataclasses.asdict(summary))


def _loaded(found: T | None, name: str) -> T:
    if found is None:
        raise HttpError(
            404,
            "not_loaded",
            f"the {name} extension is not loaded (disabled, or the daemon has no session bus)",
        )
    return found


async def get_blacklist(request: Request) -> Response:
    """The blacklisted templates by id."""
    await _authorize(request, TokenScope.READ)
    control = _loaded(_api(request).extras.blacklist, "Blacklist")
    templates = control.blacklist.templates()
    return JSONResponse({"templates": {k: wire.event_json(t) for k, t in templates.items()}})


async def put_blacklist(request: Request) -> Response:
    """Blacklist a template under an id (replacing one there): matching inserts get id 0."""
    await _authorize(request, TokenScope.ADMIN)
    control = _loaded(_api(request).extras.blacklist, "Blacklist")
    (template,) = events_from_json([wire.decode(await _body(request), dict[str, Any])], "template")
    template_id = request.path_params["template_id"]
    stored = await control.add(template_id, template)
    return JSONResponse({"id": template_id, "template": wire.event_json(stored)})


async def delete_blacklist(request: Request) -> Response:
    """Remove a blacklisted template; 404 if there is none by that id."""
    await _authorize(request, TokenScope.ADMIN)
    control = _loaded(_api(request).extras.blacklist, "Blacklist")
    template_id = request.path_params["template_id"]
    removed = await control.remove(template_id)
    if removed is None:
        raise HttpError(404, "not_found", f"no blacklisted template {template_id!r}")
    return JSONResponse({"id": template_id, "template": wire.event_json(removed)})


def _source_json(source: DataSource) -> dict[str, Any]:
    return {
        "unique_id": source.unique_id,
        "name": source.name,
        "description": source.description,
        "templates": [wire.event_json(t) for t in source.templates],
        "running": source.running,
        "last_seen": source.last_seen,
        "enabled": source.enabled,
    }


async def get_data_sources(request: Request) -> Response:
    """The registered data sources."""
    await _authorize(request, TokenScope.READ)
    control = _loaded(_api(request).extras.datasources, "DataSourceRegistry")
    sources = control.registry.sources()
    return JSONResponse({"data_sources": [_source_json(s) for s in sources]})


async def set_data_source_enabled(request: Request) -> Response:
    """Enable or disable a data source (a disabled source's events get id 0)."""
    await _authorize(request, TokenScope.ADMIN)
    control = _loaded(_api(request).extras.datasources, "DataSourceRegistry")
    body = wire.decode(await _body(request), wire.EnabledBody)
    unique_id = request.path_params["unique_id"]
    control.registry.get(unique_id)  # InvalidKey (404) for an unknown source
    await control.set_enabled(unique_id, body.enabled)
    return JSONResponse(_source_json(control.registry.get(unique_id)))


async def search(request: Request) -> Response:
    """Full-text search (SearchWithRelevancies): a page of events and their relevancies."""
    await _authorize(request, TokenScope.READ)
    index = _loaded(_api(request).extras.index, "SearchEngine")
    body = wire.decode(await _body(request), wire.SearchBody)
    if body.result_type not in RELEVANCIES_RESULT_TYPES:
        raise InvalidArgument("Requested result type is not supported")
    found = await _run(
        index.search,
        body.query,
        wire.time_range(body.time_range),
        events_from_json(body.templates, "template"),
        wire.storage_state(body.storage_state),
        body.offset,
        body.count,
        body.result_type,
        by_relevance=True,
    )
    return JSONResponse(
        {
            "events": [wire.event_json(e) for e in found.events],
            "relevancies": found.relevancies,
            "matches": found.matches,
        }
    )


async def changes(request: Request) -> Response:
    """The changes feed (``feed.py``)."""
    await _authorize(request, TokenScope.READ)
    api = _api(request)
    templates: list[Any] = []
    if request.method == "POST":
        templates = wire.decode(await _body(request), wire.FeedFilterBody).templates
    elif request.query_params.get("templates", "").strip():
        templates = wire.decode(
            request.query_params["templates"].encode("utf-8"), list[dict[str, Any]]
        )
    feed_request = feed.parse_request(
        dict(request.query_params),
        request.headers.get("last-event-id"),
        events_from_json(templates, "template"),
    )
    if feed_request.from_now:
        feed_request = dataclasses.replace(feed_request, since=await _run(api.engine.last_seq))
    if feed_request.mode == "normal":
        return StreamingResponse(
            feed.normal(api.engine, feed_request, api.watch), media_type="application/json"
        )
    if api.streams >= api.settings.max_streams:
        raise HttpError(
            429,
            "too_many_streams",
            f"{api.streams} feeds are open; this server allows {api.settings.max_streams}",
            {"Retry-After": "1"},
        )
    body = (
        feed.normal(api.engine, feed_request, api.watch)
        if feed_request.mode == "longpoll"
        else feed.stream(api.engine, feed_request, api.watch)
    )
    media = {
        "longpoll": "application/json",
        "continuous": "application/x-ndjson",
        "eventsource": "text/event-stream",
    }[feed_request.mode]
    api.streams += 1  # taken here, with the check: a burst cannot slip past the limit
    return _CountedStream(api, body, media_type=media, headers={"Cache-Control": "no-cache"})


class _CountedStream(StreamingResponse):
    """A feed stream that gives its place back when it ends, however it ends."""

    def __init__(self, api: Api, body: Any, **kwargs: Any) -> None:
        super().__init__(body, **kwargs)
        self._api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._api.streams -= 1


Endpoint = Callable[[Request], Awaitable[Response]]


def _route(path: str, **endpoints: Endpoint) -> Route:
    """A path and its endpoint per method (one route, so a 405 lists them all in Allow)."""

    async def dispatch(request: Request) -> Response:
        return await endpoints[request.method.lower()](request)

    only = next(iter(endpoints.values())) if len(endpoints) == 1 else dispatch
    return Route(path, only, methods=[method.upper() for method in endpoints])


def routes() -> list[Route]:
    """The API's routes (docs/http-api.md)."""
    from zeitbus.http import sync  # its routes use this module's helpers

    return [
        _route("/", get=root),
        _route("/health", get=health),
        _route("/openapi.json", get=openapi),
        _route("/events", get=get_events, post=insert_events),
        _route("/events/find", post=find),
        _route("/events/find/{cursor}", get=find_next),
        _route("/events/delete", post=delete_events),
        _route("/events/uid/{uid}", get=get_event_by_uid),
        _route("/events/{event_id:int}", get=get_event, delete=delete_event),
        _route("/related-uris", post=related_uris),
        _route("/summary", post=summary),
        _route("/histogram", get=histogram),
        _route("/stats", get=stats),
        _route("/changes", get=changes, post=changes),
        _route("/blacklist", get=get_blacklist),
        _route("/blacklist/{template_id}", put=put_blacklist, delete=delete_blacklist),
        _route("/data-sources", get=get_data_sources),
        _route("/data-sources/{unique_id}/enabled", put=set_data_source_enabled),
        _route("/search", post=search),
        _route("/sync/changes", get=sync.changes),
        _route("/sync/receive", post=sync.receive),
        _route("/sync/checkpoints/{node}", get=sync.checkpoint),
        _route("/sync/peers", get=sync.get_peers, post=sync.add_peer),
        _route("/sync/peers/{peer_id}", delete=sync.remove_peer),
        _route("/sync/peers/{peer_id}/now", post=sync.now),
        _route("/sync/status", get=sync.status),
    ]


def create_app(
    engine: Engine,
    settings: HttpSettings | None = None,
    watch: feed.FeedWatch | None = None,
    extras: Extras | None = None,
) -> Starlette:
    """The API as an ASGI app, serving ``engine`` (and the extensions in ``extras``)."""
    api = Api(
        engine, settings or HttpSettings(), watch or feed.FeedWatch(engine), extras or Extras()
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        api.watch.start()
        try:
            yield
        finally:
            await api.watch.stop()

    app = Starlette(
        routes=routes(),
        exception_handlers={
            HttpError: on_http_error,
            ZeitbusError: on_zeitbus_error,
            HTTPException: on_starlette_http_exception,
        },
        lifespan=lifespan,
    )
    app.state.api = api
    return app


def trusted(app: ASGIApp) -> ASGIApp:
    """The app for the owner's Unix socket: its requests need no token."""

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        scope[TRUSTED] = True
        await app(scope, receive, send)

    return serve
