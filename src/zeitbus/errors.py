"""The errors Zeitbus raises on purpose, one tree for every layer.

    ZeitbusError
    ├── InvalidArgument (ValueError)   bad events, templates, result types, ranges
    │   ├── BadRecord                  a malformed line in an import file
    │   ├── NothingMatched             FindRelatedUris' templates match no event
    │   └── UndecryptableDocument      a sync document that does not decrypt or verify
    ├── InvalidEvent (ValueError)      an event Zeitgeist refuses as a whole
    ├── InvalidKey (LookupError)       an unknown key (data source, cursor, ...)
    ├── AccessDenied (PermissionError) no token, a bad one, or too small a scope (HTTP)
    ├── TooManyResults                 a reply over the size cap
    └── DatabaseError                  the store failed underneath
        ├── DatabaseBusy               another writer holds the file
        ├── DatabaseCorrupt            the file is not a usable database
        └── DiskFull                   no room left to write (the disk or the quota)

Each class carries the D-Bus error name Zeitgeist uses for the same condition,
so the D-Bus adapter maps errors with one attribute lookup, and the HTTP
adapter and the CLI use ``code`` as a stable machine-readable name.
"""

from __future__ import annotations

import errno

_ENGINE = "org.gnome.zeitgeist.EngineError."
_DATAMODEL = "org.gnome.zeitgeist.DataModelError."


class ZeitbusError(Exception):
    """Base class for every error Zeitbus raises on purpose."""

    dbus_name: str = _ENGINE + "DatabaseError"
    code: str = "error"

    @property
    def message(self) -> str:
        """The human-readable message, without the class name."""
        return str(self.args[0]) if self.args else self.code


class InvalidArgument(ValueError, ZeitbusError):
    """An argument (event, template, result type, range...) is not acceptable."""

    dbus_name = _ENGINE + "InvalidArgument"
    code = "invalid_argument"


class BadRecord(InvalidArgument):
    """A record in an import file cannot be read; ``line`` says which one."""

    code = "bad_record"

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


class NothingMatched(InvalidArgument):
    """FindRelatedUris' templates match no event (an error in Zeitgeist's API)."""

    code = "nothing_matched"


class UndecryptableDocument(InvalidArgument):
    """An encrypted sync document that does not decrypt or verify with this key.

    ``doc_id`` names the document, ``reason`` says why (a wrong key, a
    tampered or moved document, an unknown format...), for sync status.
    """

    code = "undecryptable_document"

    def __init__(self, doc_id: str, reason: str) -> None:
        super().__init__(f"document {doc_id!r}: {reason}")
        self.doc_id = doc_id
        self.reason = reason


class InvalidEvent(ValueError, ZeitbusError):
    """An event is structurally refused (e.g. two subjects with one URI)."""

    dbus_name = _ENGINE + "InvalidEvent"
    code = "invalid_event"


class InvalidKey(LookupError, ZeitbusError):
    """A key that names nothing known."""

    dbus_name = _ENGINE + "InvalidKey"
    code = "invalid_key"


class AccessDenied(PermissionError, ZeitbusError):
    """The request's token is missing, invalid, or its scope too small."""

    dbus_name = "org.freedesktop.DBus.Error.AccessDenied"
    code = "unauthorized"


class TooManyResults(ZeitbusError):
    """A result is larger than the interface allows in one reply."""

    dbus_name = _DATAMODEL + "TooManyResults"
    code = "too_many_results"


class DatabaseError(ZeitbusError):
    """The store failed; the original driver error is the ``__cause__``."""

    dbus_name = _ENGINE + "DatabaseError"
    code = "database_error"


class DatabaseBusy(DatabaseError):
    """Another process holds the database for writing."""

    dbus_name = _ENGINE + "DatabaseBusy"
    code = "database_busy"


class DatabaseCorrupt(DatabaseError):
    """The file is not a database Zeitbus can use."""

    dbus_name = _ENGINE + "DatabaseCorrupt"
    code = "database_corrupt"


class DiskFull(DatabaseError):
    """A write found no room on the disk (or in the user's quota); nothing stored is lost.

    Zeitgeist has no name of its own for it, so D-Bus callers see its
    ``DatabaseError`` (as for any failed write) with this message. ``path``
    is the file that could not be written ("" when only the message came
    back, from a daemon, say).
    """

    code = "disk_full"
    path: str = ""

    @classmethod
    def at(cls, path: str, reason: str = "") -> DiskFull:
        """The error for a write to ``path`` that failed for lack of space (``reason``: why)."""
        error = cls(
            f"the disk is full: cannot write to {path}" + (f" ({reason})" if reason else "")
        )
        error.path = path
        return error


# What a write of a file fails with when there is no room: the disk, or the quota.
NO_SPACE = frozenset((errno.ENOSPC, errno.EDQUOT))
