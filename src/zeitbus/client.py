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
``Client(url, token=...)`` talks to any daemon. Requests are built and
answers read by the same functions for both clients; only sending differs.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from zeitbus import discovery
from zeitbus.discovery import Daemon
from zeitbus.engine import default_data_dir
from zeitbus.errors import (
    AccessDenied,
    DatabaseBusy,
    DatabaseError,
    InvalidArgument,
    InvalidEvent,
    InvalidKey,
    ZeitbusError,
)
from zeitbus.jsonl import event_from_json, event_to_json
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
    "unauthorized": AccessDenied,
    "forbidden": AccessDenied,
    "database_busy": DatabaseBusy,
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


def _range(time_range: TimeRange | None) -> list[int] | None:
    return None if time_range is None else [time_range.start, time_range.end]


def _templates(templates: Sequence[Event]) -> list[dict[str, Any]]:
    return [event_to_json(template) for template in templates]


def _find_body(
    templates: Sequence[Event],
    time_range: TimeRange | None,
    storage_state: StorageState | int | str,
    limit: int,
    result_type: ResultType | int | str,
    ids_only: bool,
    page_size: int | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "templates": _templates(templates),
        "time_range": _range(time_range),
        "storage_state": int(StorageState.parse(storage_state)),
        "result_type": int(ResultType.parse(result_type)),
        "limit": limit,
        "ids_only": ids_only,
    }
    if page_size is not None:
        body["page_size"] = page_size
    return body


def _related_body(
    time_range: TimeRange | None,
    templates: Sequence[Event],
    result_templates: Sequence[Event],
    storage_state: StorageState | int | str,
    limit: int,
    result_type: RelevantResultType | int,
) -> dict[str, Any]:
    return {
        "templates": _templates(templates),
        "result_templates": _templates(result_templates),
        "time_range": _range(time_range),
        "storage_state": int(StorageState.parse(storage_state)),
        "limit": limit,
        "result_type": int(result_type),
    }


def _summary_body(
    time_range: TimeRange | None,
    templates: Sequence[Event],
    storage_state: StorageState | int | str,
    group: str,
) -> dict[str, Any]:
    return {
        "group": group,
        "templates": _templates(templates),
        "time_range": _range(time_range),
        "storage_state": int(StorageState.parse(storage_state)),
    }


def _groups(answer: dict[str, Any]) -> list[tuple[str, int, int]]:
    return [(g["value"], int(g["count"]), int(g["newest"])) for g in answer["groups"]]


def _events(items: Sequence[dict[str, Any] | None]) -> list[Event | None]:
    return [None if item is None else event_from_json(item) for item in items]


def _changes_params(
    since: int | str, limit: int | None, include_docs: bool, feed: str, heartbeat: int | None
) -> dict[str, str]:
    params = {"since": str(since), "feed": feed, "include_docs": str(include_docs).lower()}
    if limit is not None:
        params["limit"] = str(limit)
    if heartbeat is not None:
        params["heartbeat"] = str(heartbeat)
    return params


def _transport_args(
    url: str | None, token: str | None, socket: str | None
) -> tuple[str, dict[str, str], str | None]:
    if url is None and socket is None:
        raise InvalidArgument("give the daemon's url or its socket")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return (url or "http://zeitbus"), headers, socket


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

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            answer = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise DatabaseError(f"cannot reach the daemon: {error}") from error
        _raise_for(answer)
        return answer.json()

    def insert_events(self, events: Sequence[Event], sender: str | None = None) -> list[int]:
        """InsertEvents: ids in order, 0 for an event not stored.

        ``sender`` is accepted for the engine's signature and not sent: the
        data-source registry's senders are D-Bus names.
        """
        answer = self._call("POST", "/events", json=[event_to_json(e) for e in events])
        return [int(i) for i in answer["ids"]]

    def get_events(self, ids: Sequence[int]) -> list[Event | None]:
        """GetEvents: in the order asked, None for an id that names no event."""
        if not ids:
            return []
        answer = self._call("GET", "/events", params={"ids": ",".join(map(str, ids))})
        return _events(answer["events"])

    def get_event_by_uid(self, uid: str) -> Event | None:
        """The event with this uid, or None."""
        try:
            return event_from_json(self._call("GET", f"/events/uid/{uid}"))
        except ZeitbusError as error:
            if "no event" in error.message:
                return None
            raise

    def find_event_ids(
        self,
        time_range: TimeRange | None = None,
        templates: Sequence[Event] = (),
        storage_state: StorageState | int | str = StorageState.ANY,
        limit: int = 0,
        result_type: ResultType | int | str = ResultType.MOST_RECENT_EVENTS,
    ) -> list[int]:
        """FindEventIds (every page of it)."""
        body = _find_body(templates, time_range, storage_state, limit, result_type, True, None)
        page = self._call("POST", "/events/find", json=body)
        ids = list(page["ids"])
        while page["next"] is not None:
            page = self._call("GET", f"/events/find/{page['next']}")
            ids += page["ids"]
        return ids

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
        body = _find_body(
            templates, time_range, storage_state, limit, result_type, False, page_size
        )
        page = self._call("POST", "/events/find", json=body)
        while True:
            for item in page["events"]:
                yield event_from_json(item)
            if page["next"] is None:
                return
            page = self._call("GET", f"/events/find/{page['next']}")

    def delete_events(self, ids: Sequence[int]) -> tuple[int, int] | None:
        """DeleteEvents: (first, last) timestamp deleted, None if nothing was deleted."""
        answer = self._call("POST", "/events/delete", json={"ids": list(ids)})
        found = answer["time_range"]
        return None if found is None else (found[0], found[1])

    def find_related_uris(
        self,
        time_range: TimeRange | None = None,
        templates: Sequence[Event] = (),
        result_templates: Sequence[Event] = (),
        storage_state: StorageState | int | str = StorageState.ANY,
        limit: int = 10,
        result_type: RelevantResultType | int = RelevantResultType.RECENT,
    ) -> list[str]:
        """FindRelatedUris."""
        body = _related_body(
            time_range, templates, result_templates, storage_state, limit, result_type
        )
        return [str(uri) for uri in self._call("POST", "/related-uris", json=body)["uris"]]

    def summary(
        self,
        time_range: TimeRange | None = None,
        templates: Sequence[Event] = (),
        storage_state: StorageState | int | str = StorageState.ANY,
        group: str = "actor",
    ) -> list[tuple[str, int, int]]:
        """(value, count, newest timestamp) per value of ``group``, most used first."""
        body = _summary_body(time_range, templates, storage_state, group)
        return _groups(self._call("POST", "/summary", json=body))

    def histogram(self) -> list[tuple[int, int]]:
        """Events per day."""
        return [(d["day"], d["count"]) for d in self._call("GET", "/histogram")["days"]]

    def stats(self) -> dict[str, Any]:
        """Counts over the whole log."""
        answer: dict[str, Any] = self._call("GET", "/stats")
        return answer

    def last_seq(self) -> int:
        """The feed's end."""
        return int(self._call("GET", "/")["last_seq"])

    def changes(
        self,
        since: int | str = 0,
        limit: int | None = None,
        *,
        include_docs: bool = False,
        templates: Sequence[Event] = (),
    ) -> dict[str, Any]:
        """One read of the changes feed (feed=normal): results, last_seq, pending."""
        params = _changes_params(since, limit, include_docs, "normal", None)
        answer: dict[str, Any] = self._call(
            "POST", "/changes", params=params, json={"templates": _templates(templates)}
        )
        return answer

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
            params = _changes_params(cursor, None, include_docs, "continuous", heartbeat)
            try:
                with self._http.stream(
                    "POST",
                    "/changes",
                    params=params,
                    json={"templates": _templates(templates)},
                    timeout=httpx.Timeout(60.0, read=heartbeat / 1000 * 3),
                ) as answer:
                    if answer.status_code >= 400:
                        answer.read()
                        _raise_for(answer)
                    for line in answer.iter_lines():
                        if not line.strip():
                            continue  # a heartbeat
                        row = json.loads(line)
                        if "changes" not in row:
                            cursor = row["last_seq"]
                            break  # the feed ended (timeout): open it again
                        cursor = row["seq"]
                        yield row
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

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            answer = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise DatabaseError(f"cannot reach the daemon: {error}") from error
        _raise_for(answer)
        return answer.json()

    async def insert_events(self, events: Sequence[Event]) -> list[int]:
        """InsertEvents."""
        answer = await self._call("POST", "/events", json=[event_to_json(e) for e in events])
        return [int(i) for i in answer["ids"]]

    async def get_events(self, ids: Sequence[int]) -> list[Event | None]:
        """GetEvents."""
        if not ids:
            return []
        answer = await self._call("GET", "/events", params={"ids": ",".join(map(str, ids))})
        return _events(answer["events"])

    async def get_event_by_uid(self, uid: str) -> Event | None:
        """The event with this uid, or None."""
        try:
            return event_from_json(await self._call("GET", f"/events/uid/{uid}"))
        except ZeitbusError as error:
            if "no event" in error.message:
                return None
            raise

    async def find_event_ids(
        self,
        time_range: TimeRange | None = None,
        templates: Sequence[Event] = (),
        storage_state: StorageState | int | str = StorageState.ANY,
        limit: int = 0,
        result_type: ResultType | int | str = ResultType.MOST_RECENT_EVENTS,
    ) -> list[int]:
        """FindEventIds (every page of it)."""
        body = _find_body(templates, time_range, storage_state, limit, result_type, True, None)
        page = await self._call("POST", "/events/find", json=body)
        ids = list(page["ids"])
        while page["next"] is not None:
            page = await self._call("GET", f"/events/find/{page['next']}")
            ids += page["ids"]
        return ids

    async def find_related_uris(
        self,
        time_range: TimeRange | None = None,
        templates: Sequence[Event] = (),
        result_templates: Sequence[Event] = (),
        storage_state: StorageState | int | str = StorageState.ANY,
        limit: int = 10,
        result_type: RelevantResultType | int = RelevantResultType.RECENT,
    ) -> list[str]:
        """FindRelatedUris."""
        body = _related_body(
            time_range, templates, result_templates, storage_state, limit, result_type
        )
        answer = await self._call("POST", "/related-uris", json=body)
        return [str(uri) for uri in answer["uris"]]

    async def summary(
        self,
        time_range: TimeRange | None = None,
        templates: Sequence[Event] = (),
        storage_state: StorageState | int | str = StorageState.ANY,
        group: str = "actor",
    ) -> list[tuple[str, int, int]]:
        """(value, count, newest timestamp) per value of ``group``, most used first."""
        body = _summary_body(time_range, templates, storage_state, group)
        return _groups(await self._call("POST", "/summary", json=body))

    async def histogram(self) -> list[tuple[int, int]]:
        """Events per day."""
        return [(d["day"], d["count"]) for d in (await self._call("GET", "/histogram"))["days"]]

    async def stats(self) -> dict[str, Any]:
        """Counts over the whole log."""
        answer: dict[str, Any] = await self._call("GET", "/stats")
        return answer

    async def last_seq(self) -> int:
        """The feed's end."""
        return int((await self._call("GET", "/"))["last_seq"])

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
        body = _find_body(
            templates, time_range, storage_state, limit, result_type, False, page_size
        )
        page = await self._call("POST", "/events/find", json=body)
        while True:
            for item in page["events"]:
                yield event_from_json(item)
            if page["next"] is None:
                return
            page = await self._call("GET", f"/events/find/{page['next']}")

    async def delete_events(self, ids: Sequence[int]) -> tuple[int, int] | None:
        """DeleteEvents: (first, last) timestamp deleted, None if nothing was deleted."""
        answer = await self._call("POST", "/events/delete", json={"ids": list(ids)})
        found = answer["time_range"]
        return None if found is None else (found[0], found[1])

    async def changes(
        self,
        since: int | str = 0,
        limit: int | None = None,
        *,
        include_docs: bool = False,
        templates: Sequence[Event] = (),
    ) -> dict[str, Any]:
        """One read of the changes feed (feed=normal)."""
        params = _changes_params(since, limit, include_docs, "normal", None)
        answer: dict[str, Any] = await self._call(
            "POST", "/changes", params=params, json={"templates": _templates(templates)}
        )
        return answer

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
            params = _changes_params(cursor, None, include_docs, "continuous", heartbeat)
            try:
                async with self._http.stream(
                    "POST",
                    "/changes",
                    params=params,
                    json={"templates": _templates(templates)},
                    timeout=httpx.Timeout(60.0, read=heartbeat / 1000 * 3),
                ) as answer:
                    if answer.status_code >= 400:
                        await answer.aread()
                        _raise_for(answer)
                    async for line in answer.aiter_lines():
                        if not line.strip():
                            continue  # a heartbeat
                        row = json.loads(line)
                        if "changes" not in row:
                            cursor = row["last_seq"]
                            break  # the feed ended (timeout): open it again
                        cursor = row["seq"]
                        yield row
            except httpx.TransportError as error:
                raise DatabaseError(f"lost the daemon: {error}") from error
