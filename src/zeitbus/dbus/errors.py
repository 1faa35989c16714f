"""Errors on the wire: the one place where Zeitbus errors become D-Bus error replies.

Every ``ZeitbusError`` carries the name Zeitgeist uses for the same condition
(``dbus_name``, docs/ZEITGEIST.md §2.6), so the mapping is one attribute
lookup. A full disk (``DiskFull``) is upstream's ``EngineError.DatabaseError``,
the name Zeitgeist gives any failed write (it has none closer), with a message
that says the disk is full and which file. The two errors only the wire
format can produce, a struct with too few fields and (upstream's name for) a
NULL event where an event is needed, are defined here because the core never
sees them.

Anything else a method raises is a bug: its traceback goes to the log and the
caller gets ``org.freedesktop.DBus.Error.Failed`` with no internals in it.
"""

from __future__ import annotations

import logging

from dbus_fast import DBusError, Message

from zeitbus.errors import InvalidArgument, ZeitbusError

logger = logging.getLogger(__name__)

_DATAMODEL = "org.gnome.zeitgeist.DataModelError."
FAILED = "org.freedesktop.DBus.Error.Failed"
INVALID_ARGS = "org.freedesktop.DBus.Error.InvalidArgs"


class InvalidSignature(InvalidArgument):
    """A struct on the wire has too few fields (an event needs 5, a subject 7)."""

    dbus_name = _DATAMODEL + "InvalidSignature"
    code = "invalid_signature"


class NullEvent(InvalidArgument):
    """A NULL event (no fields) where an event is needed, e.g. a blacklist template."""

    dbus_name = _DATAMODEL + "NullEvent"
    code = "null_event"


def error_reply(call: Message, error: BaseException) -> Message:
    """The error reply to ``call`` for ``error`` (logged with its traceback if unexpected)."""
    if isinstance(error, ZeitbusError):
        return Message.new_error(call, error.dbus_name, error.message)
    if isinstance(error, DBusError):
        return Message.new_error(call, error.type, error.text)
    logger.error("%s.%s failed unexpectedly", call.interface, call.member, exc_info=error)
    return Message.new_error(call, FAILED, f"internal error ({type(error).__name__})")
