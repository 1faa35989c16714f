"""``org.gnome.zeitgeist.Histogram`` on ``/org/gnome/zeitgeist/journal/activity``.

GetHistogramData returns ``a(xu)``: (day, subjects logged that day), newest
day first, computed by ``zeitbus.extensions.histogram`` in a worker thread
(days in the daemon's local time zone, keyed as upstream keys them).
"""

from __future__ import annotations

import asyncio

from dbus_fast.aio import MessageBus

from zeitbus.dbus.objects import ExportedObject, Method
from zeitbus.engine import Engine
from zeitbus.extensions.histogram import histogram

PATH = "/org/gnome/zeitgeist/journal/activity"
INTERFACE = "org.gnome.zeitgeist.Histogram"
METHODS = (Method("GetHistogramData", (), ("a(xu)",)),)
UINT32_MAX = 2**32 - 1


class HistogramService:
    """Serves the histogram of ``engine``'s log on ``bus``."""

    def __init__(self, engine: Engine, bus: MessageBus) -> None:
        self.engine = engine
        self._object = ExportedObject(
            bus,
            PATH,
            INTERFACE,
            METHODS,
            {"GetHistogramData": self.get_histogram_data},
        )

    async def start(self) -> None:
        """Export the interface."""
        self._object.export()

    async def stop(self) -> None:
        """Stop taking calls."""
        await self._object.stop()

    async def get_histogram_data(self, sender: str) -> list[list[int]]:
        """GetHistogramData: (day, subjects) pairs, newest day first."""
        days = await asyncio.to_thread(histogram, self.engine)
        return [[day, min(count, UINT32_MAX)] for day, count in days]
