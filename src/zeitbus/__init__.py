"""Zeitbus: one timeline of everything that happens on your machines."""

from zeitbus.engine import Engine
from zeitbus.errors import (
    BadRecord,
    DatabaseError,
    InvalidArgument,
    InvalidEvent,
    InvalidKey,
    TooManyResults,
    ZeitbusError,
)
from zeitbus.model import (
    Change,
    ChangeKind,
    Event,
    RelevantResultType,
    ResultType,
    StorageState,
    Subject,
    TimeRange,
)

__version__ = "0.1.0"

__all__ = [
    "BadRecord",
    "Change",
    "ChangeKind",
    "DatabaseError",
    "Engine",
    "Event",
    "InvalidArgument",
    "InvalidEvent",
    "InvalidKey",
    "RelevantResultType",
    "ResultType",
    "StorageState",
    "Subject",
    "TimeRange",
    "TooManyResults",
    "ZeitbusError",
    "__version__",
]
