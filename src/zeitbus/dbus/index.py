"""``org.gnome.zeitgeist.Index`` on ``/org/gnome/zeitgeist/index/activity``: full-text search.

Theory of operation. Upstream's daemon proxies these two methods to a
separate Xapian indexer process; Zeitbus serves them itself from
``zeitbus.extensions.fts`` (SQLite FTS5, ``fts.sqlite`` beside the log).

The index follows the changes feed (``zeitbus.extensions.loaded`` keeps it
current, in a worker thread, so the bus is never blocked by indexing). A
search runs in a worker thread too and first
catches up to the feed's end, so it sees every event whose insert returned
before it was called.

    Search(s query, (xx) time_range, a(asaasay) filter_templates, u offset,
           u count, u result_type) -> (a(asaasay) events, u matches)
    SearchWithRelevancies(s query, (xx) time_range, a(asaasay) filter_templates,
           u storage_state, u offset, u count, u result_type)
        -> (a(asaasay) events, ad relevancies, u matches)

Errors, as upstream's where it has them: a result type that is neither 100
(Relevancy) nor a find's gets InvalidArgument "Invalid ResultType." from
Search, and SearchWithRelevancies takes only the result types upstream's
does (InvalidArgument "Requested result type is not supported"). A query
with an operator missing an operand is InvalidArgument with Xapian's message
(upstream names that error DatabaseError); an empty query matches nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any

from dbus_fast.aio import MessageBus

from zeitbus.dbus.codec import events_to_wire, templates_from_wire
from zeitbus.dbus.objects import ExportedObject, Method
from zeitbus.errors import InvalidArgument
from zeitbus.extensions.fts import RELEVANCIES_RESULT_TYPES, Found, FullTextIndex
from zeitbus.model import StorageState, TimeRange

PATH = "/org/gnome/zeitgeist/index/activity"
INTERFACE = "org.gnome.zeitgeist.Index"
EVENTS = "a(asaasay)"
METHODS = (
    Method(
        "Search",
        (
            ("query_string", "s"),
            ("time_range", "(xx)"),
            ("filter_templates", EVENTS),
            ("offset", "u"),
            ("count", "u"),
            ("result_type", "u"),
        ),
        (EVENTS, "u"),
    ),
    Method(
        "SearchWithRelevancies",
        (
            ("query_string", "s"),
            ("time_range", "(xx)"),
            ("filter_templates", EVENTS),
            ("storage_state", "u"),
            ("offset", "u"),
            ("count", "u"),
            ("result_type", "u"),
        ),
        (EVENTS, "ad", "u"),
    ),
)


class IndexService:
    """Serves full-text search over ``index`` on ``bus``."""

    def __init__(self, index: FullTextIndex, bus: MessageBus) -> None:
        self.index = index
        self._object = ExportedObject(
            bus,
            PATH,
            INTERFACE,
            METHODS,
            {"Search": self.search, "SearchWithRelevancies": self.search_with_relevancies},
        )

    async def start(self) -> None:
        """Export the interface."""
        self._object.export()

    async def stop(self) -> None:
        """Stop taking calls."""
        await self._object.stop()

    async def search(
        self,
        sender: str,
        query: str,
        time_range: list[int],
        templates: list[Any],
        offset: int,
        count: int,
        result_type: int,
    ) -> tuple[list[Any], int]:
        """Search: a page of events in the result type's order, and the results in all."""
        found = await self._search(
            query, time_range, templates, StorageState.ANY, offset, count, result_type, False
        )
        return found[0], found[2]

    async def search_with_relevancies(
        self,
        sender: str,
        query: str,
        time_range: list[int],
        templates: list[Any],
        storage_state: int,
        offset: int,
        count: int,
        result_type: int,
    ) -> tuple[list[Any], list[float], int]:
        """SearchWithRelevancies: as Search, with each event's relevancy (the best is 1.0)."""
        if result_type not in RELEVANCIES_RESULT_TYPES:
            raise InvalidArgument("Requested result type is not supported")
        return await self._search(
            query, time_range, templates, storage_state, offset, count, result_type, True
        )

    async def _search(
        self,
        query: str,
        time_range: list[int],
        templates: list[Any],
        storage_state: int,
        offset: int,
        count: int,
        result_type: int,
        by_relevance: bool,
    ) -> tuple[list[Any], list[float], int]:
        arguments = (TimeRange(*time_range), templates_from_wire(templates))

        def search() -> tuple[list[Any], list[float], int]:
            found: Found = self.index.search(
                query,
                *arguments,
                storage_state,
                offset,
                count,
                result_type,
                by_relevance=by_relevance,
            )
            return events_to_wire(found.events), found.relevancies, found.matches

        return await asyncio.to_thread(search)
