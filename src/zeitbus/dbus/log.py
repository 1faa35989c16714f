"""``org.gnome.zeitgeist.Log`` on ``/org/gnome/zeitgeist/log/activity``.

Theory of operation. Each method decodes its arguments (``codec``), calls
one Engine method in a worker thread, and encodes the answer, so a long query
never stops the bus from being served. The engine is thread-safe (one writer,
a reader connection per thread). GetEvents, FindEventIds and FindEvents are
first tried on the event loop, where the thread hand-off is saved, if their
work is bounded: a few ids, or a limited find under a budget of SQLite steps
that stops it and hands it to a thread when it runs over (``INLINE_STEPS``).

Method calls are dispatched by ``objects.ExportedObject``, not by
dbus-fast's ``ServiceInterface``, because InsertEvents and the monitor
methods need the caller's unique bus name, which dbus-fast does not hand to
service methods. ``LogProperties`` is exported at the same path: it serves
the three properties and the introspection data (dbus-python clients marshal
by it), built from the same ``METHODS`` table that dispatching uses, so the
two cannot disagree. A call with the wrong signature gets
``org.freedesktop.DBus.Error.InvalidArgs``, as from GDBus.

Monitors are fed from the engine's changes feed (``_catch_up``): after every
InsertEvents and DeleteEvents, and before its reply is sent (upstream's
order), the service reads the changes after its cursor and sends NotifyInsert
and NotifyDelete calls for them; a poll picks up what other routes (the CLI,
another process on the same database) committed. So monitors hear of what
was stored, from any route, exactly once and in commit order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from dbus_fast import Message, MessageFlag, MessageType, PropertyAccess
from dbus_fast import introspection as intr
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusSignature
from dbus_fast.service import ServiceInterface, dbus_property

from zeitbus.commits import on_commit
from zeitbus.dbus.codec import (
    event_to_wire,
    events_to_insert,
    structs_to_wire,
    templates_from_wire,
)
from zeitbus.dbus.monitors import DeleteNotification, InsertNotification, MonitorRegistry
from zeitbus.dbus.objects import (
    BUS_DAEMON,
    LATER,
    NAME_OWNER_CHANGED,
    ExportedObject,
    Method,
    add_match,
)
from zeitbus.engine import Engine
from zeitbus.model import Change, ChangeKind, Event, TimeRange

logger = logging.getLogger(__name__)

ENGINE_BUS_NAME = "org.gnome.zeitgeist.Engine"
LOG_PATH = "/org/gnome/zeitgeist/log/activity"
LOG_INTERFACE = "org.gnome.zeitgeist.Log"
MONITOR_INTERFACE = "org.gnome.zeitgeist.Monitor"
ZEITGEIST_VERSION = (1, 0, 4)  # the release whose API we speak; clients compare with it

EVENTS = "a(asaasay)"
FEED_PAGE = 1000  # changes read per step when catching up
POLL_INTERVAL = 1.0  # seconds between looks at the feed for other routes' changes


_QUERY_ARGS = (
    ("time_range", "(xx)"),
    ("event_templates", EVENTS),
    ("storage_state", "u"),
    ("num_events", "u"),
    ("result_type", "u"),
)

METHODS = {
    method.name: method
    for method in (
        Method("InsertEvents", (("events", EVENTS),), ("au",)),
        Method("GetEvents", (("event_ids", "au"),), (EVENTS,)),
        Method("FindEventIds", _QUERY_ARGS, ("au",)),
        Method("FindEvents", _QUERY_ARGS, (EVENTS,)),
        Method(
            "FindRelatedUris",
            (
                ("time_range", "(xx)"),
                ("event_templates", EVENTS),
                ("result_event_templates", EVENTS),
                ("storage_state", "u"),
                ("num_events", "u"),
                ("result_type", "u"),
            ),
            ("as",),
        ),
        Method("DeleteEvents", (("event_ids", "au"),), ("(xx)",)),
        Method(
            "InstallMonitor",
            (("monitor_path", "o"), ("time_range", "(xx)"), ("event_templates", EVENTS)),
            (),
        ),
        Method("RemoveMonitor", (("monitor_path", "o"),), ()),
        Method("Quit", (), ()),
    )
}


class LogProperties(ServiceInterface):
    """The Log interface's properties and introspection (its methods: ``LogService``)."""

    def __init__(self, datapath: str, extensions: Sequence[str] = ()) -> None:
        super().__init__(LOG_INTERFACE)
        self._datapath = datapath
        self._extensions = list(extensions)

    @dbus_property(access=PropertyAccess.READ, name="version")
    def version(self) -> Annotated[list[int], DBusSignature("(iii)")]:
        """The Zeitgeist version this daemon is compatible with."""
        return list(ZEITGEIST_VERSION)

    @dbus_property(access=PropertyAccess.READ, name="extensions")
    def extensions(self) -> Annotated[list[str], DBusSignature("as")]:
        """The names of the loaded extensions."""
        return list(self._extensions)

    @dbus_property(access=PropertyAccess.READ, name="datapath")
    def datapath(self) -> Annotated[str, DBusSignature("s")]:
        """The database file (":memory:" for an in-memory log), as upstream."""
        return self._datapath

    def introspect(self) -> intr.Interface:
        """The interface with the methods of ``METHODS`` added."""
        interface = super().introspect()
        interface.methods = [method.introspect() for method in METHODS.values()]
        return interface


# Calls answered on the event loop rather than a worker thread: the hand-off to
# a thread and back costs about 0.2 ms a call, as much as a simple query
# itself (docs/performance.md). A read is tried on the loop when its Python
# work is bounded (a limit, a few templates, a plain result type) and SQLite's
# is capped by a step budget: a find that runs over it is stopped and run again
# in a thread, so one slow query never stops the bus for more than the budget.
INLINE_IDS = 1000  # FindEventIds limit
INLINE_EVENTS = 100  # GetEvents ids, FindEvents limit
INLINE_TEMPLATES = 8
# SQLite VM steps: the 50 most recent events for any one-field template take
# 200-16,500 at 100k and at 1M events; 30,000 is about 1.2 ms at the slowest
# step rate measured (24,600 a ms: a walk testing each event's subjects), so a
# find that runs over wastes at most about that before its thread starts.
INLINE_STEPS = 30_000
_PLAIN_EVENT_TYPES = (0, 1)  # MostRecentEvents, LeastRecentEvents


def may_answer_inline(templates: int, num_events: int, result_type: int, limit: int) -> bool:
    """True for a find worth trying on the loop under the step budget.

    Most or least recent events, a limit up to ``limit`` and at most
    ``INLINE_TEMPLATES`` templates: the work outside SQLite (compiling the
    templates, one row per result) is then small whatever the log holds.
    Grouped types aggregate in Python and no limit may mean the whole log:
    those always go to a thread.
    """
    return (
        result_type in _PLAIN_EVENT_TYPES
        and 0 < num_events <= limit
        and templates <= INLINE_TEMPLATES
    )


class LogService:
    """Serves the Log methods on ``bus`` with ``engine``; ``on_quit`` is called by Quit."""

    def __init__(
        self,
        engine: Engine,
        bus: MessageBus,
        *,
        datapath: str,
        on_quit: Callable[[], None],
        extensions: Sequence[str] = (),
    ) -> None:
        self.engine = engine
        self.bus = bus
        self.datapath = datapath
        self.monitors = MonitorRegistry()
        self._cursor = 0
        self._feed_lock = asyncio.Lock()
        self._poll: asyncio.Task[None] | None = None
        self._object = ExportedObject(
            bus,
            LOG_PATH,
            LOG_INTERFACE,
            list(METHODS.values()),
            {
                "InsertEvents": self.insert_events,
                "GetEvents": self.get_events,
                "FindEventIds": self.find_event_ids,
                "FindEvents": self.find_events,
                "FindRelatedUris": self.find_related_uris,
                "DeleteEvents": self.delete_events,
                "InstallMonitor": self.install_monitor,
                "RemoveMonitor": self.remove_monitor,
                "Quit": self.quit,
            },
            properties=LogProperties(datapath, extensions),
            quick={
                "GetEvents": self._get_events_now,
                "FindEventIds": self._find_event_ids_now,
                "FindEvents": self._find_events_now,
            },
        )
        self._object.after_reply("Quit", on_quit)  # the reply goes out before the daemon stops
        self._object.after_reply("DeleteEvents", self._purge_soon)
        self._purges: set[asyncio.Task[None]] = set()
        self._committed_elsewhere = asyncio.Event()
        self._unhook: Callable[[], None] | None = None

    async def start(self) -> None:
        """Export the interface and start listening (before the bus name is taken)."""
        self._cursor = await asyncio.to_thread(self.engine.last_seq)
        self._object.export()
        self.bus.add_message_handler(self._signal)
        await add_match(self.bus, NAME_OWNER_CHANGED)
        # Every commit in this process wakes the poll at once, not at its next
        # tick: events another route stored (the HTTP API) reach the monitors
        # at once. The D-Bus calls' own catch-up and the poll's share the
        # feed's cursor, so nothing is notified twice.
        self._unhook = on_commit(self.engine, self._committed_elsewhere.set)
        self._poll = asyncio.ensure_future(self._poll_feed())

    async def stop(self) -> None:
        """Stop taking calls, let the calls in progress finish (a while), stop the poll."""
        self.bus.remove_message_handler(self._signal)
        if self._unhook is not None:
            self._unhook()
        if self._poll is not None:
            self._poll.cancel()
        await self._object.stop()
        await asyncio.gather(*self._purges, return_exceptions=True)

    def _signal(self, msg: Message) -> bool:
        """dbus-fast message handler: follow NameOwnerChanged; pass everything on."""
        if (
            msg.message_type is MessageType.SIGNAL
            and msg.member == "NameOwnerChanged"
            and msg.sender == BUS_DAEMON
        ):
            self._name_owner_changed(msg.body)
        return False

    # -- the methods -----------------------------------------------------------

    async def insert_events(self, sender: str, events: list[Any]) -> list[int]:
        """InsertEvents: ids in order, 0 for dropped events; monitors are told first."""
        batch = events_to_insert(events)
        ids, last_seq = await asyncio.to_thread(self._insert, batch, sender or None)
        await self._catch_up(last_seq)
        return ids

    def _insert(
        self, batch: list[Event | None], sender: str | None
    ) -> tuple[list[int], int | None]:
        """Insert in a worker thread, with the feed's end (``_feed_end``)."""
        return self.engine.insert_events(batch, sender), self._feed_end()

    def _feed_end(self) -> int | None:
        """In a writing worker thread: the feed's end while no monitor needs its changes.

        Reading it in the same thread saves ``_catch_up`` a second hand-off.
        """
        return None if len(self.monitors) else self.engine.last_seq()

    async def get_events(self, sender: str, ids: list[int]) -> list[Any]:
        """GetEvents: events in request order, the NULL event for unknown ids."""
        return await asyncio.to_thread(lambda: structs_to_wire(self.engine.get_event_structs(ids)))

    async def find_event_ids(
        self,
        sender: str,
        time_range: list[int],
        templates: list[Any],
        storage_state: int,
        num_events: int,
        result_type: int,
    ) -> list[int]:
        """FindEventIds."""
        query = (TimeRange(*time_range), templates_from_wire(templates))
        return await asyncio.to_thread(
            self.engine.find_event_ids, *query, storage_state, num_events, result_type
        )

    async def find_events(
        self,
        sender: str,
        time_range: list[int],
        templates: list[Any],
        storage_state: int,
        num_events: int,
        result_type: int,
    ) -> list[Any]:
        """FindEvents: the events of FindEventIds, capped at 4 MiB."""
        query = (TimeRange(*time_range), templates_from_wire(templates))

        def find() -> list[Any]:
            found = self.engine.find_event_structs(*query, storage_state, num_events, result_type)
            return structs_to_wire(found)

        return await asyncio.to_thread(find)

    # The same three on the event loop, when they are quick (see INLINE_STEPS).

    def _get_events_now(self, sender: str, ids: list[int]) -> Any:
        """GetEvents of up to ``INLINE_EVENTS`` ids (bounded by the ids), or LATER."""
        if len(ids) > INLINE_EVENTS or self.engine.readers_wait_for_writers:
            return LATER
        return structs_to_wire(self.engine.get_event_structs(ids))

    def _find_event_ids_now(
        self,
        sender: str,
        time_range: list[int],
        templates: list[Any],
        storage_state: int,
        num_events: int,
        result_type: int,
    ) -> Any:
        """FindEventIds within the step budget, or LATER."""
        query = (time_range, templates, storage_state, num_events, result_type)
        ids = self._find_ids_now(*query, limit=INLINE_IDS)
        return LATER if ids is None else ids

    def _find_events_now(
        self,
        sender: str,
        time_range: list[int],
        templates: list[Any],
        storage_state: int,
        num_events: int,
        result_type: int,
    ) -> Any:
        """FindEvents within the step budget, or LATER."""
        query = (time_range, templates, storage_state, num_events, result_type)
        ids = self._find_ids_now(*query, limit=INLINE_EVENTS)
        if ids is None:
            return LATER
        found = self.engine.get_event_structs(ids)
        return structs_to_wire([struct for struct in found if struct is not None])

    def _find_ids_now(
        self,
        time_range: list[int],
        templates: list[Any],
        storage_state: int,
        num_events: int,
        result_type: int,
        *,
        limit: int,
    ) -> list[int] | None:
        """The ids of a find tried on the loop; None if it belongs in a thread."""
        if self.engine.readers_wait_for_writers or not may_answer_inline(
            len(templates), num_events, result_type, limit
        ):
            return None
        return self.engine.find_event_ids_within(
            INLINE_STEPS,
            TimeRange(*time_range),
            templates_from_wire(templates),
            storage_state,
            num_events,
            result_type,
        )

    async def find_related_uris(
        self,
        sender: str,
        time_range: list[int],
        templates: list[Any],
        result_templates: list[Any],
        storage_state: int,
        num_events: int,
        result_type: int,
    ) -> list[str]:
        """FindRelatedUris."""
        query = (
            TimeRange(*time_range),
            templates_from_wire(templates),
            templates_from_wire(result_templates),
        )
        return await asyncio.to_thread(
            self.engine.find_related_uris, *query, storage_state, num_events, result_type
        )

    async def delete_events(self, sender: str, ids: list[int]) -> list[int]:
        """DeleteEvents: the deleted events' time range, (-1, -1) if none existed.

        The reply follows the tombstones' commit; the rows are removed right
        after it (``_purge_soon``), or first by whatever read or write comes
        before that (store/removal.py).
        """
        deleted, last_seq = await asyncio.to_thread(self._delete, ids)
        await self._catch_up(last_seq)
        return [-1, -1] if deleted is None else list(deleted)

    def _delete(self, ids: list[int]) -> tuple[tuple[int, int] | None, int | None]:
        """Delete in a worker thread, with the feed's end (``_feed_end``)."""
        return self.engine.delete_events(ids, defer=True), self._feed_end()

    def _purge_soon(self) -> None:
        """After a DeleteEvents reply: remove the deleted events' rows on a thread."""
        if not self.engine.purge_due:
            return
        task = asyncio.ensure_future(asyncio.to_thread(self.engine.purge_deleted))
        self._purges.add(task)
        task.add_done_callback(self._purged)

    def _purged(self, task: asyncio.Task[None]) -> None:
        self._purges.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # Not lost: the next read or write purges first (and fails if it cannot).
            logger.warning("Removing deleted events' rows failed: %s", task.exception())

    async def install_monitor(
        self, sender: str, path: str, time_range: list[int], templates: list[Any]
    ) -> None:
        """InstallMonitor for (sender, path); a second install of the pair is ignored."""
        start, end = time_range
        if not self.monitors.install(sender, path, (start, end), templates_from_wire(templates)):
            logger.warning("There's already a monitor installed for %s#%s", sender, path)

    async def remove_monitor(self, sender: str, path: str) -> None:
        """RemoveMonitor; an unknown monitor is only logged."""
        if not self.monitors.remove(sender, path):
            logger.warning("There's no monitor installed for %s#%s", sender, path)

    async def quit(self, sender: str) -> None:
        """Quit: the reply goes out, then the daemon stops."""
        logger.info("Quit called by %s", sender)

    # -- monitors --------------------------------------------------------------

    def _name_owner_changed(self, body: list[Any]) -> None:
        name, _old, new = body
        if not new and name.startswith(":"):
            removed = self.monitors.remove_owner(name)
            if removed:
                logger.debug("Client %s disconnected: %d monitors removed", name, removed)

    async def _poll_feed(self) -> None:
        """Notify monitors of changes other routes committed.

        A failure is logged and tried again at the next tick; it never stops the loop.
        """
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._committed_elsewhere.wait(), POLL_INTERVAL)
            self._committed_elsewhere.clear()
            if len(self.monitors):
                try:
                    await self._catch_up()
                except Exception:
                    logger.exception("Reading the changes feed for monitors failed")

    async def _catch_up(self, last_seq: int | None = None) -> None:
        """Notify monitors of every change after the cursor, in commit order.

        ``last_seq`` is the feed's end read after a write when no monitor was
        installed: with none still installed, the cursor moves there without
        reading the feed (never backwards: another call may have moved it on).
        """
        async with self._feed_lock:
            if not len(self.monitors):
                if last_seq is None:
                    last_seq = await asyncio.to_thread(self.engine.last_seq)
                self._cursor = max(self._cursor, last_seq)
                return
            while True:
                runs, cursor = await asyncio.to_thread(self._read_feed, self._cursor)
                for run in runs:
                    for notification in run.notifications(self.monitors):
                        self._notify(notification)
                if cursor == self._cursor:
                    return
                self._cursor = cursor

    def _read_feed(self, since: int) -> tuple[list[_Run], int]:
        """The next page of changes, as runs of inserts and runs of deletes, and its end."""
        changes = self.engine.changes(since, FEED_PAGE)
        if not changes:
            return [], since
        stored = self.engine.get_events(
            [change.id for change in changes if change.kind is ChangeKind.INSERT]
        )
        by_id = {event.id: event for event in stored if event is not None}
        runs: list[_Run] = []
        for change in changes:
            if not runs or runs[-1].kind is not change.kind:
                runs.append(_Run(change.kind))
            runs[-1].add(change, by_id)
        return runs, changes[-1].seq

    def _notify(self, notification: InsertNotification | DeleteNotification) -> None:
        monitor = notification.monitor
        if isinstance(notification, InsertNotification):
            member, signature = "NotifyInsert", "(xx)a(asaasay)"
            payload: list[Any] = [event_to_wire(event) for event in notification.events]
        else:
            member, signature = "NotifyDelete", "(xx)au"
            payload = list(notification.ids)
        # Like upstream, fire and forget: a client that went away must not stall the daemon.
        self.bus.send(
            Message(
                destination=monitor.owner,
                path=monitor.path,
                interface=MONITOR_INTERFACE,
                member=member,
                signature=signature,
                body=[list(notification.time_range), payload],
                flags=MessageFlag.NO_REPLY_EXPECTED | MessageFlag.NO_AUTOSTART,
            )
        )


@dataclass
class _Run:
    """Consecutive changes of one kind: the stored events, or the deleted (id, timestamp)s."""

    kind: ChangeKind
    events: list[Event] = field(default_factory=list)
    deleted: list[tuple[int, int]] = field(default_factory=list)

    def add(self, change: Change, stored: dict[int, Event]) -> None:
        """Add one change; an insert whose event is gone again is skipped (a tombstone follows)."""
        if change.kind is ChangeKind.DELETE:
            self.deleted.append((change.id, change.timestamp))
        elif change.id in stored:
            self.events.append(stored[change.id])

    def notifications(
        self, monitors: MonitorRegistry
    ) -> list[InsertNotification] | list[DeleteNotification]:
        """The calls this run asks for."""
        if self.kind is ChangeKind.INSERT:
            return monitors.for_insert(self.events)
        if not self.deleted:
            return []
        stamps = [stamp for _, stamp in self.deleted]
        ids = [event_id for event_id, _ in self.deleted]
        return monitors.for_delete((min(stamps), max(stamps)), ids)
