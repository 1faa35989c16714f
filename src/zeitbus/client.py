"""``zeitbus.client``: the HTTP API from Python, blocking (``Client``) or async (``AsyncClient``).

Both speak the whole API of docs/http-api.md with the engine's own types
(``Event``, ``TimeRange``, ``ResultType``...) and raise the engine's own
errors, so code written against ``Engine`` reads the same against a daemon::

    from zeitbus.client import Client
    with Client.connect() as log:                  # the daemon of the default data dir
        ids = log.insert_events([event])
        for event in log.find_events(templates, limit=0):   # paged as it is read
            ...
        for change in log.follow(since="now"):     # the changes feed, live
            ...

``connect`` finds a running daemon through the ``daemon.json`` it writes
beside the log and prefers its owner-only Unix socket (no token needed);
``Client(url, token=...)`` talks to any daemon.

Both clients run the same operations: each is a generator (``_Op``) that
yields the requests it needs and gets their JSON answers (or the error they
raised) sent back, so building requests, paging and reading answers are
written once, and ``Client._run`` / ``AsyncClient._run`` only send.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Generator, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from zeitbus import discovery
from zeitbus.discovery import Daemon
from zeitbus.errors import (
    AccessDenied,
    DatabaseBusy,
    DatabaseError,
    DiskFull,
    InvalidArgument,
    InvalidEvent,
    InvalidKey,
    NothingMatched,
    ZeitbusError,
)
from zeitbus.jsonl import event_from_json, event_to_json
from zeitbus.location import default_data_dir
from zeitbus.model import (
    Event,
    RelevantResultType,
    ResultType,
    StorageState,
    TimeRange,
)

_ERRORS: dict[str, type[ZeitbusError]] = {
    "invalid_argument": InvalidArgument,
    "invalid_event": InvalidEvent,
    "invalid_key": InvalidKey,
    "not_found": InvalidKey,
    "nothing_matched": NothingMatched,
    "unauthorized": AccessDenied,
    "forbidden": AccessDenied,
    "database_busy": DatabaseBusy,
    "disk_full": DiskFull,
}


def find_daemon(data_dir: Path | None = None) -> Daemon | None:
    """The daemon serving the log in ``data_dir`` (default: Zeitbus's), if one runs."""
    return discovery.find(data_dir if data_dir is not None else default_data_dir())


def _raise_for(answer: httpx.Response) -> None:
    if answer.status_code < 400:
        return
    try:
        body = answer.json()
        code, reason = str(body["error"]), str(body["reason"])
    except (ValueError, KeyError, TypeError):
        code, reason = "http_error", answer.text[:200]
    if answer.status_code >= 500 and code not in _ERRORS:
        raise DatabaseError(f"the daemon failed: {reason} (HTTP {answer.status_code})")
    raise _ERRORS.get(code, ZeitbusError)(reason)


# -- the operations, written once --------------------------------------------------

T = TypeVar("T")
_Request = tuple[str, str, dict[str, Any]]  # method, path, httpx keyword arguments
_Op = Generator[_Request, Any, T]


def _range(time_range: TimeRange | None) -> list[int] | None:
    return None if time_range is None else [time_range.start, time_range.end]


def _templates(templates: Sequence[Event]) -> list[dict[str, Any]]:
    return [event_to_json(template) for template in templates]


def _state(storage_state: StorageState | int | str) -> int:
    return int(StorageState.parse(storage_state))


def _insert(events: Sequence[Event]) -> _Op[list[int]]:
    answer = yield ("POST", "/events", {"json": [event_to_json(e) for e in events]})
    return [int(i) for i in answer["ids"]]


def _get(ids: Sequence[int]) -> _Op[list[Event | None]]:
    if not ids:
        return []
    answer = yield ("GET", "/events", {"params": {"ids": ",".join(map(str, ids))}})
    return [None if item is None else event_from_json(item) for item in answer["events"]]


def _get_by_uid(uid: str) -> _Op[Event | None]:
    try:
        return event_from_json((yield ("GET", f"/events/uid/{uid}", {})))
    except InvalidKey:
        return None


def _find_request(
    time_range: TimeRange | None,
    templates: Sequence[Event],
    storage_state: StorageState | int | str,
    limit: int,
    result_type: ResultType | int | str,
    ids_only: bool,
    page_size: int | None = None,
) -> _Request:
    body: dict[str, Any] = {
        "templates": _templates(templates),
        "time_range": _range(time_range),
        "storage_state": _state(storage_state),
        "result_type": int(ResultType.parse(result_type)),
        "limit": limit,
        "ids_only": ids_only,
    }
    if page_size is not None:
        body["page_size"] = page_size
    return ("POST", "/events/find", {"json": body})


def _next_page(page: dict[str, Any]) -> _Request | None:
    return None if page["next"] is None else ("GET", f"/events/find/{page['next']}", {})


def _find_ids(first: _Request) -> _Op[list[int]]:
    page = yield first
    ids = list(page["ids"])
    while (request := _next_page(page)) is not None:
        page = yield request
        ids += page["ids"]
    return ids


def _delete(ids: Sequence[int]) -> _Op[tuple[int, int] | None]:
    answer = yield ("POST", "/events/delete", {"json": {"ids": list(ids)}})
    found = answer["time_range"]
    return None if found is None else (found[0], found[1])


def _related(
    time_range: TimeRange | None,
    templates: Sequence[Event],
    result_templates: Sequence[Event],
    storage_state: StorageState | int | str,
    limit: int,
    result_type: RelevantResultType | int,
) -> _Op[list[str]]:
    body = {
        "templates": _templates(templates),
        "result_templates": _templates(result_templates),
        "time_range": _range(time_range),
        "storage_state": _state(storage_state),
        "limit": limit,
        "result_type": int(result_type),
    }
    answer = yield ("POST", "/related-uris", {"json": body})
    return [str(uri) for uri in answer["uris"]]


def _summary(
    time_range: TimeRange | None,
    templates: Sequence[Event],
    storage_state: StorageState | int | str,
    group: str,
) -> _Op[list[tuple[str, int, int]]]:
    body = {
        "group": group,
        "templates": _templates(templates),
        "time_range": _range(time_range),
        "storage_state": _state(storage_state),
    }
    answer = yield ("POST", "/summary", {"json": body})
    return [(g["value"], int(g["count"]), int(g["newest"])) for g in answer["groups"]]


def _histogram() -> _Op[list[tuple[int, int]]]:
    answer = yield ("GET", "/histogram", {})
    return [(day["day"], day["count"]) for day in answer["days"]]


def _stats() -> _Op[dict[str, Any]]:
    answer: dict[str, Any] = yield ("GET", "/stats", {})
    return answer


def _last_seq() -> _Op[int]:
    return int((yield ("GET", "/", {}))["last_seq"])


def _sync_peers() -> _Op[list[dict[str, Any]]]:
    return list((yield ("GET", "/sync/peers", {}))["peers"])


def _sync_add(
    url: str, token: str, direction: str, kind: str, encrypt: bool
) -> _Op[dict[str, Any]]:
    body = {"url": url, "token": token, "direction": direction, "kind": kind, "encrypt": encrypt}
    answer: dict[str, Any] = yield ("POST", "/sync/peers", {"json": body})
    return answer


def _sync_remove(peer_id: str) -> _Op[dict[str, Any]]:
    answer: dict[str, Any] = yield ("DELETE", f"/sync/peers/{quote(peer_id, safe='')}", {})
    return answer


def _sync_status() -> _Op[list[dict[str, Any]]]:
    return list((yield ("GET", "/sync/status", {}))["peers"])


def _sync_now(peer_id: str, direction: str | None) -> _Op[dict[str, Any]]:
    # A catch-up answers when it is done, however long the backlog: no timeout.
    path = f"/sync/peers/{quote(peer_id, safe='')}/now"
    answer: dict[str, Any] = yield (
        "POST",
        path,
        {"json": {"direction": direction}, "timeout": None},
    )
    return answer


def _changes(
    since: int | str, limit: int | None, include_docs: bool, templates: Sequence[Event]
) -> _Op[dict[str, Any]]:
    answer: dict[str, Any] = yield _changes_request(
        since, limit, include_docs, templates, "normal", None
    )
    return answer


def _changes_request(
    since: int | str,
    limit: int | None,
    include_docs: bool,
    templates: Sequence[Event],
    feed: str,
    heartbeat: int | None,
) -> _Request:
    params = {"since": str(since), "feed": feed, "include_docs": str(include_docs).lower()}
    if limit is not None:
        params["limit"] = str(limit)
    kwargs: dict[str, Any] = {"params": params, "json": {"templates": _templates(templates)}}
    if heartbeat is not None:
        # A feed that sent nothing (not even a heartbeat) for three beats is gone.
        params["heartbeat"] = str(heartbeat)
        kwargs["timeout"] = httpx.Timeout(60.0, read=heartbeat / 1000 * 3)
    return ("POST", "/changes", kwargs)


def _follow_line(line: str) -> tuple[dict[str, Any] | None, int | None]:
    """A continuous feed's line: (a row, None), (None, the end's last_seq), or a heartbeat."""
    if not line.strip():
        return None, None
    row: dict[str, Any] = json.loads(line)
    return (row, None) if "changes" in row else (None, int(row["last_seq"]))


def _transport_args(
    url: str | None, token: str | None, socket: str | None
) -> tuple[str, dict[str, str], str | None]:
    if url is None and socket is None:
        raise InvalidArgument("give the daemon's url or its socket")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return (url or "http://zeitbus"), headers, socket


# -- the two clients ------------------------------------------------------------------


class Client:
    """A blocking client of a Zeitbus daemon's HTTP API."""

    def __init__(
        self,
        url: str | None = None,
        *,
        token: str | None = None,
        socket: str | None = None,
        timeout: float = 60.0,
    ) -> None:
        base, headers, uds = _transport_args(url, token, socket)
        transport = httpx.HTTPTransport(uds=uds) if uds else None
        self._http = httpx.Client(
            base_url=base, headers=headers, timeout=timeout, transport=transport
        )

    @classmethod
    def connect(cls, data_dir: Path | None = None, *, token: str | None = None) -> Client:
        """The daemon of ``data_dir``: its socket if we may use it, else its URL.

        ``token`` defaults to ``$ZEITBUS_TOKEN`` (needed only over TCP).
        """
        token = token if token is not None else os.environ.get("ZEITBUS_TOKEN") or None
        daemon = find_daemon(data_dir)
        if daemon is None:
            raise DatabaseError("no daemon is running for this data directory")
        if daemon.socket and Path(daemon.socket).exists():
            return cls(socket=daemon.socket, token=token)
        return cls(daemon.url, token=token)

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, request: _Request) -> Any:
        method, path, kwargs = request
        try:
            answer = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise DatabaseError(f"cannot reach the daemon: {error}") from error
        _raise_for(answer)
        return answer.json()

    def _run(self, op: _Op[T]) -> T:
        """Drive an operation: send each request it yields, give it the answer or error."""
        try:
            request = next(op)
            while True:
                try:
                    answer = self._call(request)
                except ZeitbusError as error:
                    request = op.throw(error)
                else:
                    request = op.send(answer)
        except StopIteration as done:
            result: T = done.value
            return result

    def insert_events(self, events: Sequence[Event], sender: str | None = None) -> list[int]:
        """InsertEvents: ids in order, 0 for an event not stored.

        ``sender`` is accepted for the engine's signature and not sent: the
        data-source registry's senders are D-Bus names.
        """
        return self._run(_insert(events))

    def get_events(self, ids: Sequence[int]) -> list[Event | None]:
        """GetEvents: in the order asked, None for an id that names no event."""
        return self._run(_get(ids))

    def get_event_by_uid(self, uid: str) -> Event | None:
        """The event with this uid, or None."""
        return self._run(_get_by_uid(uid))

    def find_event_ids(
        self,
        time_range: TimeRange | None = None,
        templates: Sequence[Event] = (),
        storage_state: StorageState | int | str = StorageState.ANY,
        limit: int = 0,
        result_type: ResultType | int | str = ResultType.MOST_RECENT_EVENTS,
    ) -> list[int]:
        """FindEventIds (every page of it)."""
        first = _find_request(time_range, templates, storage_state, limit, result_type, True)
        return self._run(_find_ids(first))

    def find_events(
        self,
        time_range: TimeRange | None = None,
        templates: Sequence[Event] = (),
        storage_state: StorageState | int | str = StorageState.ANY,
        limit: int = 0,
        result_type: ResultType | int | str = ResultType.MOST_RECENT_EVENTS,
        page_size: int | None = None,
    ) -> Iterator[Event]:
        """FindEvents, read page by page as it is iterated."""
        request: _Request | None = _find_request(
            time_range, templates, storage_state, limit, result_type, False, page_size
        )
        while request is not None:
            page = self._call(request)
            yield from map(event_from_json, page["events"])
            request = _next_page(page)

    def delete_events(self, ids: Sequence[int]) -> tuple[int, int] | None:
        """DeleteEvents: (first, last) timestamp deleted, None if nothing was deleted."""
        return self._run(_delete(ids))

    def find_related_uris(
        self,
        time_range: TimeRange | None = None,
        templates: Sequence[Event] = (),
        result_templates: Sequence[Event] = (),
        storage_state: StorageState | int | str = StorageState.ANY,
        limit: int = 10,
        result_type: RelevantResultType | int = RelevantResultType.RECENT,
    ) -> list[str]:
        """FindRelatedUris (no related URIs when the templates match nothing)."""
        op = _related(time_range, templates, result_templates, storage_state, limit, result_type)
        return self._run(op)

    def summary(
        self,
        time_range: TimeRange | None = None,
        templates: Sequence[Event] = (),
        storage_state: StorageState | int | str = StorageState.ANY,
        group: str = "actor",
    ) -> list[tuple[str, int, int]]:
        """(value, count, newest timestamp) per value of ``group``, most used first."""
        return self._run(_summary(time_range, templates, storage_state, group))

    def histogram(self) -> list[tuple[int, int]]:
        """Events per day."""
        return self._run(_histogram())

    def stats(self) -> dict[str, Any]:
        """Counts over the whole log."""
        return self._run(_stats())

    def last_seq(self) -> int:
        """The feed's end."""
        return self._run(_last_seq())

    def changes(
        self,
        since: int | str = 0,
        limit: int | None = None,
        *,
        include_docs: bool = False,
        templates: Sequence[Event] = (),
    ) -> dict[str, Any]:
        """One read of the changes feed (feed=normal): results, last_seq, pending."""
        return self._run(_changes(since, limit, include_docs, templates))

    def sync_peers(self) -> list[dict[str, Any]]:
        """The peers the daemon syncs with (docs/sync.md)."""
        return self._run(_sync_peers())

    def sync_add(
        self,
        url: str,
        *,
        token: str = "",
        direction: str = "both",
        kind: str = "zeitbus",
        encrypt: bool = False,
    ) -> dict[str, Any]:
        """Add a peer; the daemon starts syncing with it."""
        return self._run(_sync_add(url, token, direction, kind, encrypt))

    def sync_remove(self, peer_id: str) -> dict[str, Any]:
        """Remove a peer (InvalidKey if there is none); the daemon stops syncing with it."""
        return self._run(_sync_remove(peer_id))

    def sync_status(self) -> list[dict[str, Any]]:
        """Each peer with the status of each direction it syncs."""
        return self._run(_sync_status())

    def sync_now(self, peer_id: str, direction: str | None = None) -> dict[str, Any]:
        """Catch up with a peer now; its status when done."""
        return self._run(_sync_now(peer_id, direction))

    def follow(
        self,
        since: int | str = "now",
        *,
        include_docs: bool = False,
        templates: Sequence[Event] = (),
        heartbeat: int = 10_000,
    ) -> Iterator[dict[str, Any]]:
        """The changes feed, live: rows as they come, reconnecting from the last seq seen."""
        cursor = since
        while True:
            method, path, kwargs = _changes_request(
                cursor, None, include_docs, templates, "continuous", heartbeat
            )
            try:
                with self._http.stream(method, path, **kwargs) as answer:
                    if answer.status_code >= 400:
                        answer.read()
                        _raise_for(answer)
                    for line in answer.iter_lines():
                        row, end = _follow_line(line)
                        if row is not None:
                            cursor = row["seq"]
                            yield row
                        elif end is not None:
                            cursor = end
                            break  # the feed ended (timeout): open it again
            except httpx.TransportError as error:
                raise DatabaseError(f"lost the daemon: {error}") from error


class AsyncClient:
    """An asyncio client of a Zeitbus daemon's HTTP API (the same methods, awaited)."""

    def __init__(
        self,
        url: str | None = None,
        *,
        token: str | None = None,
        socket: str | None = None,
        timeout: float = 60.0,
    ) -> None:
        base, headers, uds = _transport_args(url, token, socket)
        transport = httpx.AsyncHTTPTransport(uds=uds) if uds else None
        self._http = httpx.AsyncClient(
            base_url=base, headers=headers, timeout=timeout, transport=transport
        )

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _call(self, request: _Request) -> Any:
        method, path, kwargs = request
        try:
            answer = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise DatabaseError(f"cannot reach the daemon: {error}") from error
        _raise_for(answer)
        return answer.json()

    async def _run(self, op: _Op[T]) -> T:
        """Drive an operation: send each request it yields, give it the answer or error."""
        try:
            request = next(op)
            while True:
                try:
                    answer = await self._call(request)
                except ZeitbusError as error:
                    request = op.throw(error)
                else:
                    request = op.send(answer)
        except StopIteration as done:
            result: T = done.value
            return result

    async def insert_events(self, events: Sequence[Event], sender: str | None = None) -> list[int]:
        """InsertEvents (``sender`` is not sent, as in ``Client``)."""
        return await self._run(_insert(events))

    async def get_events(self, ids: Sequence[int]) -> list[Event | None]:
        """GetEvents."""
        return await self._run(_get(ids))

    async def get_event_by_uid(self, uid: str) -> Event | None:
        """The event with this uid, or None."""
        return await self._run(_get_by_uid(uid))

    async def find_event_ids(
        self,
        time_range: TimeRange | None = None,
        templates: Sequence[Event] = (),
        storage_state: StorageState | int | str = StorageState.ANY,
        limit: int = 0,
        result_type: ResultType | int | str = ResultType.MOST_RECENT_EVENTS,
    ) -> list[int]:
        """FindEventIds (every page of it)."""
        first = _find_request(time_range, templates, storage_state, limit, result_type, True)
        return await self._run(_find_ids(first))

    async def find_events(
        self,
        time_range: TimeRange | None = None,
        templates: Sequence[Event] = (),
        storage_state: StorageState | int | str = StorageState.ANY,
        limit: int = 0,
        result_type: ResultType | int | str = ResultType.MOST_RECENT_EVENTS,
        page_size: int | None = None,
    ) -> AsyncIterator[Event]:
        """FindEvents, read page by page as it is iterated."""
        request: _Request | None = _find_request(
            time_range, templates, storage_state, limit, result_type, False, page_size
        )
        while request is not None:
            page = await self._call(request)
            for item in page["events"]:
                yield event_from_json(item)
            request = _next_page(page)

    async def delete_events(self, ids: Sequence[int]) -> tuple[int, int] | None:
        """DeleteEvents: (first, last) timestamp deleted, None if nothing was deleted."""
        return await self._run(_delete(ids))

    async def find_related_uris(
        self,
        time_range: TimeRange | None = None,
        templates: Sequence[Event] = (),
        result_templates: Sequence[Event] = (),
        storage_state: StorageState | int | str = StorageState.ANY,
        limit: int = 10,
        result_type: RelevantResultType | int = RelevantResultType.RECENT,
    ) -> list[str]:
        """FindRelatedUris (no related URIs when the templates match nothing)."""
        op = _related(time_range, templates, result_templates, storage_state, limit, result_type)
        return await self._run(op)

    async def summary(
        self,
        time_range: TimeRange | None = None,
        templates: Sequence[Event] = (),
        storage_state: StorageState | int | str = StorageState.ANY,
        group: str = "actor",
    ) -> list[tuple[str, int, int]]:
        """(value, count, newest timestamp) per value of ``group``, most used first."""
        return await self._run(_summary(time_range, templates, storage_state, group))

    async def histogram(self) -> list[tuple[int, int]]:
        """Events per day."""
        return await self._run(_histogram())

    async def stats(self) -> dict[str, Any]:
        """Counts over the whole log."""
        return await self._run(_stats())

    async def last_seq(self) -> int:
        """The feed's end."""
        return await self._run(_last_seq())

    async def changes(
        self,
        since: int | str = 0,
        limit: int | None = None,
        *,
        include_docs: bool = False,
        templates: Sequence[Event] = (),
    ) -> dict[str, Any]:
        """One read of the changes feed (feed=normal)."""
        return await self._run(_changes(since, limit, include_docs, templates))

    async def sync_peers(self) -> list[dict[str, Any]]:
        """The peers the daemon syncs with (docs/sync.md)."""
        return await self._run(_sync_peers())

    async def sync_add(
        self,
        url: str,
        *,
        token: str = "",
        direction: str = "both",
        kind: str = "zeitbus",
        encrypt: bool = False,
    ) -> dict[str, Any]:
        """Add a peer; the daemon starts syncing with it."""
        return await self._run(_sync_add(url, token, direction, kind, encrypt))

    async def sync_remove(self, peer_id: str) -> dict[str, Any]:
        """Remove a peer (InvalidKey if there is none); the daemon stops syncing with it."""
        return await self._run(_sync_remove(peer_id))

    async def sync_status(self) -> list[dict[str, Any]]:
        """Each peer with the status of each direction it syncs."""
        return await self._run(_sync_status())

    async def sync_now(self, peer_id: str, direction: str | None = None) -> dict[str, Any]:
        """Catch up with a peer now; its status when done."""
        return await self._run(_sync_now(peer_id, direction))

    async def follow(
        self,
        since: int | str = "now",
        *,
        include_docs: bool = False,
        templates: Sequence[Event] = (),
        heartbeat: int = 10_000,
    ) -> AsyncIterator[dict[str, Any]]:
        """The changes feed, live: rows as they come, reconnecting from the last seq seen."""
        cursor = since
        while True:
            method, path, kwargs = _changes_request(
                cursor, None, include_docs, templates, "continuous", heartbeat
            )
            try:
                async with self._http.stream(method, path, **kwargs) as answer:
                    if answer.status_code >= 400:
                        await answer.aread()
                        _raise_for(answer)
                    async for line in answer.aiter_lines():
                        row, end = _follow_line(line)
                        if row is not None:
                            cursor = row["seq"]
                            yield row
                        elif end is not None:
                            cursor = end
                            break  # the feed ended (timeout): open it again
            except httpx.TransportError as error:
                raise DatabaseError(f"lost the daemon: {error}") from error
