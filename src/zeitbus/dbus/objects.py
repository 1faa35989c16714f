"""Exported objects whose method calls Zeitbus dispatches itself.

Theory of operation. dbus-fast's ``ServiceInterface`` does not hand a method
the caller's bus name, which several Zeitgeist methods need (InsertEvents,
the monitor methods, RegisterDataSource). So an interface is described once,
as a table of ``Method``s and ``Signal``s, and served in two parts:

* a message handler on the connection takes the calls to (path, interface,
  member) of the table, checks the signature (a wrong one gets
  ``org.freedesktop.DBus.Error.InvalidArgs``, as from GDBus), and runs the
  handler as a task with the sender's unique name as its first argument;
  its result (or its error, mapped by ``errors.error_reply``) is the reply.
  A method may also have a *quick* handler, called first and at once in the
  message handler: it answers a call it can answer without waiting (a
  bounded read) or returns ``LATER`` for the task. A task and the loop
  iteration that starts it cost about as much as a simple query;
* an exported ``ServiceInterface`` built from the same table answers
  introspection (dbus-python clients marshal their arguments by it) and the
  Properties interface, so the two cannot disagree.

Signals are sent with the signature of their arguments. A signal may
introspect with another signature than it is sent with: upstream's
Blacklist declares ``TemplateRemoved`` as ``(asassay)`` (a typo) and sends
``(asaasay)``; Zeitbus does the same.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dbus_fast import ArgDirection, Message, MessageFlag, MessageType
from dbus_fast import introspection as intr
from dbus_fast.aio import MessageBus
from dbus_fast.service import ServiceInterface

from zeitbus.dbus.errors import INVALID_ARGS, error_reply

logger = logging.getLogger(__name__)

BUS_DAEMON = "org.freedesktop.DBus"
NAME_OWNER_CHANGED = (
    f"type='signal',sender='{BUS_DAEMON}',interface='{BUS_DAEMON}',"
    "member='NameOwnerChanged',path='/org/freedesktop/DBus'"
)
STOP_GRACE = 5.0  # seconds calls in progress get to finish when the daemon stops

Handler = Callable[..., Awaitable[Any]]
# A quick handler returns the result at once, or LATER to hand the call to the handler.
QuickHandler = Callable[..., Any]


class _Later:
    """The type of ``LATER``."""

    def __repr__(self) -> str:
        return "LATER"


LATER: Any = _Later()


@dataclass(frozen=True, slots=True)
class Method:
    """One method: its argument names and types, and its result types."""

    name: str
    args: tuple[tuple[str, str], ...]
    results: tuple[str, ...]

    @property
    def in_signature(self) -> str:
        """The D-Bus signature of the arguments."""
        return "".join(kind for _, kind in self.args)

    @property
    def out_signature(self) -> str:
        """The D-Bus signature of the reply."""
        return "".join(self.results)

    def introspect(self) -> intr.Method:
        """The introspection data of this method."""
        return intr.Method(
            self.name,
            [intr.Arg(kind, ArgDirection.IN, name) for name, kind in self.args],
            [intr.Arg(kind, ArgDirection.OUT, "result") for kind in self.results],
        )


@dataclass(frozen=True, slots=True)
class Signal:
    """One signal: its argument names and types (``introspected`` overrides the types shown)."""

    name: str
    args: tuple[tuple[str, str], ...]
    introspected: tuple[str, ...] | None = None

    @property
    def signature(self) -> str:
        """The signature the signal is sent with."""
        return "".join(kind for _, kind in self.args)

    def introspect(self) -> intr.Signal:
        """The introspection data of this signal."""
        kinds = self.introspected or tuple(kind for _, kind in self.args)
        return intr.Signal(
            self.name,
            [
                intr.Arg(kind, ArgDirection.OUT, name)
                for (name, _), kind in zip(self.args, kinds, strict=True)
            ],
        )


async def add_match(bus: MessageBus, rule: str) -> None:
    """Ask the bus daemon for the messages ``rule`` matches (RuntimeError if refused)."""
    reply = await bus.call(
        Message(
            destination=BUS_DAEMON,
            path="/org/freedesktop/DBus",
            interface=BUS_DAEMON,
            member="AddMatch",
            signature="s",
            body=[rule],
        )
    )
    if reply is None or reply.message_type is MessageType.ERROR:
        raise RuntimeError(f"AddMatch failed: {reply and reply.error_name}")


class Introspection(ServiceInterface):
    """An exported interface whose introspection lists the methods and signals of a table."""

    def __init__(self, name: str, methods: Sequence[Method], signals: Sequence[Signal]) -> None:
        super().__init__(name)
        self._methods = list(methods)
        self._signals = list(signals)

    def introspect(self) -> intr.Interface:
        """The interface with the table's methods and signals."""
        interface = super().introspect()
        interface.methods = [method.introspect() for method in self._methods]
        interface.signals = [signal.introspect() for signal in self._signals]
        return interface


class ExportedObject:
    """Serves one interface at one path on ``bus`` from a table of methods and handlers.

    Each handler is called as ``handler(sender, *arguments)`` in a task of its
    own; its return value is the reply's one value (none for a method
    without results, a tuple of the values for a method with several). A
    method in ``quick`` is first offered to its quick handler, called the
    same way but synchronously, in the message handler: a result other than
    ``LATER`` (or an error) is the reply, sent at once. With
    ``ordered``, calls are handled one at a time in the order they arrived,
    as in upstream's single-threaded daemon, so a client that sends a change
    and then a read without waiting for the first reply reads its change
    (the extensions' calls are all quick).
    """

    def __init__(
        self,
        bus: MessageBus,
        path: str,
        interface: str,
        methods: Sequence[Method],
        handlers: Mapping[str, Handler],
        signals: Sequence[Signal] = (),
        properties: ServiceInterface | None = None,
        *,
        ordered: bool = False,
        quick: Mapping[str, QuickHandler] | None = None,
    ) -> None:
        if {method.name for method in methods} != set(handlers):
            raise ValueError(f"{interface}: methods and handlers differ")
        if not set(quick or {}) <= set(handlers):
            raise ValueError(f"{interface}: quick handlers for unknown methods")
        if ordered and quick:
            raise ValueError(f"{interface}: an ordered interface answers in arrival order")
        self.bus = bus
        self.path = path
        self.interface = interface
        self.methods = {method.name: method for method in methods}
        self.signals = {signal.name: signal for signal in signals}
        self._handlers = dict(handlers)
        self._quick = dict(quick or {})
        self._exported = properties or Introspection(interface, methods, signals)
        self._tasks: set[asyncio.Task[None]] = set()
        self._after_reply: dict[str, Callable[[], None]] = {}
        # asyncio.Lock wakes waiters first come, first served, and tasks start
        # in the order they were created: so calls run in arrival order.
        self._order = asyncio.Lock() if ordered else None

    def export(self) -> None:
        """Export the interface and start taking calls."""
        self.bus.export(self.path, self._exported)
        self.bus.add_message_handler(self.handle)

    def after_reply(self, method: str, action: Callable[[], None]) -> None:
        """Run ``action`` once the reply to each call of ``method`` has been sent."""
        self._after_reply[method] = action

    async def stop(self) -> None:
        """Stop taking calls and let the calls in progress finish (a while)."""
        self.bus.remove_message_handler(self.handle)
        tasks = list(self._tasks)
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=STOP_GRACE)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        self.bus.unexport(self.path, self._exported)

    def emit(self, name: str, *body: Any) -> None:
        """Send signal ``name`` of this interface with ``body`` (fire and forget)."""
        signal = self.signals[name]
        self.bus.send(
            Message.new_signal(self.path, self.interface, name, signal.signature, list(body))
        )

    def handle(self, msg: Message) -> bool:
        """dbus-fast message handler: take this interface's calls; pass everything else."""
        if (
            msg.message_type is not MessageType.METHOD_CALL
            or msg.path != self.path
            or msg.interface not in (self.interface, None)
            or msg.member not in self.methods
        ):
            return False
        method = self.methods[msg.member]
        if msg.signature != method.in_signature:
            self._reply(
                msg,
                Message.new_error(
                    msg,
                    INVALID_ARGS,
                    f"Type of message, '({msg.signature})', does not match "
                    f"expected type '({method.in_signature})'",
                ),
            )
            return True
        quick = self._quick.get(method.name)
        if quick is not None and self._answered(quick, method, msg):
            return True
        task: asyncio.Task[None] = asyncio.ensure_future(self._dispatch(method, msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    def _answered(self, quick: QuickHandler, method: Method, msg: Message) -> bool:
        """Offer a call to its quick handler; True if it was answered."""
        started = time.perf_counter()
        try:
            result = quick(msg.sender or "", *msg.body)
        except Exception as error:
            self._reply(msg, self._error(method, msg, error))
            return True
        if result is LATER:
            return False
        self._reply(msg, self._result(method, msg, result, started))
        return True

    async def _dispatch(self, method: Method, msg: Message) -> None:
        if self._order is None:
            await self._answer(method, msg)
            return
        async with self._order:
            await self._answer(method, msg)

    async def _answer(self, method: Method, msg: Message) -> None:
        started = time.perf_counter()
        try:
            result = await self._handlers[method.name](msg.sender or "", *msg.body)
        except Exception as error:
            reply = self._error(method, msg, error)
        else:
            reply = self._result(method, msg, result, started)
        sent = self._reply(msg, reply)
        action = self._after_reply.get(method.name)
        if action is not None:
            if sent is not None:
                await sent  # out before whatever comes next
            action()

    @staticmethod
    def _result(method: Method, msg: Message, result: Any, started: float) -> Message:
        body = [result] if len(method.results) == 1 else list(result or ())
        reply = Message.new_method_return(msg, method.out_signature, body)
        if logger.isEnabledFor(logging.DEBUG):
            elapsed = (time.perf_counter() - started) * 1000
            logger.debug("%s from %s: %.1f ms", method.name, msg.sender, elapsed)
        return reply

    @staticmethod
    def _error(method: Method, msg: Message, error: Exception) -> Message:
        reply = error_reply(msg, error)
        logger.debug("%s from %s: %s", method.name, msg.sender, reply.error_name)
        return reply

    def _reply(self, call: Message, reply: Message) -> asyncio.Future[None] | None:
        if call.flags & MessageFlag.NO_REPLY_EXPECTED:
            return None
        sent: asyncio.Future[None] = self.bus.send(reply)
        return sent
