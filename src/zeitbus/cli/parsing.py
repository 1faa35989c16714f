"""Reading what people type: ontology short names, times and durations.

Nothing here touches the engine, so every rule is unit-testable with a fixed
``now``. Errors are InvalidArgument with a message that says what is accepted.
"""

from __future__ import annotations

import enum
import re
from datetime import UTC, datetime, timedelta
from functools import cache

from zeitbus.errors import InvalidArgument
from zeitbus.ontology import EVENT_INTERPRETATION, ZG, ontology

EVENT_MANIFESTATION = ZG + "EventManifestation"

# A short name may leave out these endings: access -> AccessEvent,
# user -> UserActivity, file -> FileDataObject.
_SUFFIXES = ("event", "activity", "dataobject")


class SymbolKind(enum.Enum):
    """Which part of the ontology a field takes its values from."""

    EVENT_INTERPRETATION = "interpretation"
    EVENT_MANIFESTATION = "manifestation"
    SUBJECT_INTERPRETATION = "subject interpretation"
    SUBJECT_MANIFESTATION = "subject manifestation"


def _normal(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name).lower()


def _fragment(uri: str) -> str:
    return uri.rpartition("#")[2]


@cache
def _symbols(kind: SymbolKind) -> dict[str, str]:
    """normalized short name -> URI for one kind; exact names win over shortened ones."""
    onto = ontology()
    events = {EVENT_INTERPRETATION} | onto.children(EVENT_INTERPRETATION)
    manifestations = {EVENT_MANIFESTATION} | onto.children(EVENT_MANIFESTATION)
    if kind is SymbolKind.EVENT_INTERPRETATION:
        uris = events
    elif kind is SymbolKind.EVENT_MANIFESTATION:
        uris = manifestations
    else:
        root = "Interpretation" if kind is SymbolKind.SUBJECT_INTERPRETATION else "Manifestation"
        uris = {s.uri for s in onto.symbols.values() if s.root == root} - events - manifestations
    exact = {_normal(_fragment(uri)): uri for uri in sorted(uris)}
    short: dict[str, str] = {}
    for key, uri in exact.items():
        for suffix in _SUFFIXES:
            if key.endswith(suffix) and len(key) > len(suffix):
                short.setdefault(key[: -len(suffix)], uri)
    return short | exact


def resolve_symbol(value: str, kind: SymbolKind) -> str:
    """The full URI for a short (``access``) or prefixed (``zg:AccessEvent``) name.

    Template operators stay in front (``!access`` -> ``!…zg#AccessEvent``);
    full URIs and ``*`` patterns pass through untouched, and so does a
    prefixed name that is not in the ontology (it may be a custom URI).
    """
    body = value.lstrip("!+")
    operators = value[: len(value) - len(body)]
    if not body or body.endswith("*") or "://" in body or "#" in body:
        return value
    namespace, colon, name = body.partition(":")
    if colon:
        for uri in ontology().symbols:
            if f"/{namespace.lower()}#" in uri and _normal(_fragment(uri)) == _normal(name):
                return operators + uri
        return value
    found = _symbols(kind).get(_normal(body))
    if found is None:
        shortest: dict[str, str] = {}
        for name, uri in _symbols(kind).items():
            if len(name) < len(shortest.get(uri, name + " ")):
                shortest[uri] = name
        examples = ", ".join(sorted(shortest.values())[:8])
        raise InvalidArgument(
            f"unknown {kind.value} {body!r}: give a URI, a prefixed name such as "
            f"zg:AccessEvent, or a short name ({examples}, ...)"
        )
    return operators + found


def short_symbol(uri: str) -> str:
    """``AccessEvent`` for an ontology URI; other values unchanged."""
    if uri in ontology().symbols:
        return _fragment(uri)
    return uri


def symbol_names(kind: SymbolKind) -> dict[str, str]:
    """Every short name of one kind, with its URI (for help texts and docs)."""
    return dict(_symbols(kind))


# -- times -----------------------------------------------------------------------

_UNITS_MS = {
    "ms": 1,
    "s": 1000,
    "sec": 1000,
    "m": 60_000,
    "min": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 7 * 86_400_000,
}
_DURATION = re.compile(r"(\d+)\s*(ms|sec|min|s|m|h|d|w)")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TIME_FORMATS = (
    "a duration ago (30s, 15m, 2h, 2d, 1w, 1d12h), now, today, yesterday, "
    "a date or date-time (2026-01-01, 2026-01-01T09:30, local time unless it has a zone) "
    "or milliseconds since the epoch"
)


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _local(now_ms: int) -> datetime:
    return (_EPOCH + timedelta(milliseconds=now_ms)).astimezone()


def parse_duration(text: str) -> int:
    """Milliseconds in ``2d``, ``90m``, ``1d12h``...; InvalidArgument otherwise."""
    compact = text.strip().lower()
    parts = _DURATION.findall(compact)
    if not parts or "".join(f"{n}{u}" for n, u in parts) != compact.replace(" ", ""):
        raise InvalidArgument(f"cannot read duration {text!r} (try 30s, 15m, 2h, 2d or 1w)")
    return sum(int(number) * _UNITS_MS[unit] for number, unit in parts)


def parse_time(text: str, now_ms: int) -> int:
    """A moment in ms since the epoch, from any of ``TIME_FORMATS``."""
    value = text.strip().lower()
    if value == "now":
        return now_ms
    if value in ("today", "yesterday"):
        midnight = _local(now_ms).replace(hour=0, minute=0, second=0, microsecond=0)
        return _ms(midnight - timedelta(days=1 if value == "yesterday" else 0))
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    if value.endswith(" ago"):
        value = value.removesuffix(" ago")
    if value and value[0].isdigit() and value[-1].isalpha():
        try:
            return now_ms - parse_duration(value)
        except InvalidArgument:
            pass
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidArgument(f"cannot read time {text!r}: use {TIME_FORMATS}") from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # a naive time is local time
    return _ms(moment)


def format_time(timestamp: int) -> str:
    """A timestamp as local date and time, to the second."""
    try:
        return _local(timestamp).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, ValueError, OSError):
        return f"{timestamp} ms"
