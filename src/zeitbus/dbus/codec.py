"""Zeitgeist's wire structs <-> Zeitbus values (pure: no I/O, no D-Bus connection).

Theory of operation. On the bus an event is ``(asaasay)``: the event fields
``[id, timestamp, interpretation, manifestation, actor, origin]``, a list of
subjects of nine strings each, and the payload bytes (docs/ZEITGEIST.md §2.3).
dbus-fast hands a struct over as a list and ``ay`` as ``bytes``. Decoding
follows upstream's ``Event.from_variant`` and ``Subject.from_variant``:

* An event with no fields at all is the NULL event (``None``). In a batch of
  events it gets id 0; in a list of templates it is an empty template.
* Otherwise an event needs at least 5 fields (older clients send no origin)
  and a subject at least 7 (no current_uri, current_origin); anything
  shorter is ``DataModelError.InvalidSignature`` for the whole call. Fields
  past the ones we know are ignored.
* The id and the timestamp are parsed as C's ``strtoull``/``strtoll`` with
  base 0 do (``"0x10"`` is 16, ``"abc"`` is 0), the id then truncated to 32
  bits. An empty id is "unset", an empty timestamp "now" (left to the engine).

Encoding writes every event with 6 fields and every subject with 9, an id or
timestamp of 0 as ``""``, and an unknown event (``None``) as ``([], [], [])``.
Replies that carry events are capped at 4 MiB of serialized GVariant, as
upstream's ``Events.to_variant_with_limit`` does: ``size_of`` computes the
exact GVariant size of an encoded event so the cap falls where Zeitgeist's does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from zeitbus.dbus.errors import InvalidSignature
from zeitbus.errors import TooManyResults
from zeitbus.model import INT64_MAX, INT64_MIN, Event, Subject
from zeitbus.validation import complete_subject

MAX_RESULT_SIZE = 4 * 1024 * 1024  # upstream MAX_DBUS_RESULT_SIZE

# An event as dbus-fast passes it: [fields (as), subjects (aas), payload (ay)].
WireEvent = list[Any]

_UINT64_MAX = 2**64 - 1
_C_INTEGER = re.compile(r"[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")


def _c_integer(text: str) -> tuple[bool, int]:
    """(negative, magnitude) of the integer ``strtoull(text, NULL, 0)`` reads."""
    found = _C_INTEGER.match(text)
    if found is None:
        return False, 0
    sign, digits = found.groups()
    if digits[:2] in ("0x", "0X"):
        value = int(digits[2:], 16)
    elif digits.startswith("0"):
        value = int(digits, 8)
    else:
        value = int(digits)
    return sign == "-", value


def parse_id(text: str) -> int:
    """An event id field as upstream reads it: ``(uint32) uint64.parse(text)``."""
    if not text:  # the usual case: an event to insert has no id yet
        return 0
    negative, value = _c_integer(text)
    if value > _UINT64_MAX:
        value = _UINT64_MAX
    elif negative:
        value = -value % 2**64
    return value & 0xFFFFFFFF


def parse_timestamp(text: str) -> int:
    """A timestamp field as upstream reads it: ``int64.parse(text)``, saturating."""
    # The usual case first: plain decimal digits that fit in 63 bits. A leading
    # "0" is octal to strtoll, so it takes the general path.
    if text.isascii() and text.isdigit() and len(text) < 19 and text[0] != "0":
        return int(text)
    negative, value = _c_integer(text)
    value = -value if negative else value
    return max(INT64_MIN, min(INT64_MAX, value))


def _subject_from_wire(values: Sequence[str]) -> Subject:
    # A Subject's fields are the wire's nine strings in wire order; missing
    # current_uri and current_origin keep their default "".
    n = len(values)
    if n == 9:
        return Subject(*values)
    if n < 7:
        raise InvalidSignature("Missing subject information")
    return Subject(*values[:9])


def _subject_to_insert(values: Sequence[str]) -> Subject:
    # As _subject_from_wire, with what the engine's prepare would fill in filled.
    n = len(values)
    if n == 9:
        return complete_subject(values)
    if n < 7:
        raise InvalidSignature("Missing subject information")
    return complete_subject([*values[:9], "", ""][:9])


def _event_from_wire(
    struct: WireEvent, subject_from_wire: Callable[[Sequence[str]], Subject]
) -> Event | None:
    fields, subjects, payload = struct
    n = len(fields)
    if not n:
        return None
    if n < 5:
        raise InvalidSignature("Missing event information.")
    return Event(
        parse_id(fields[0]),
        parse_timestamp(fields[1]) if fields[1] else None,
        fields[2],
        fields[3],
        fields[4],
        fields[5] if n > 5 else "",
        tuple([subject_from_wire(values) for values in subjects]),
        bytes(payload),
    )


def event_from_wire(struct: WireEvent) -> Event | None:
    """The event in a ``(asaasay)`` struct; None for the NULL event."""
    return _event_from_wire(struct, _subject_from_wire)


def events_from_wire(structs: Sequence[WireEvent]) -> list[Event | None]:
    """A batch of events; NULL events stay None."""
    return [_event_from_wire(struct, _subject_from_wire) for struct in structs]


def events_to_insert(structs: Sequence[WireEvent]) -> list[Event | None]:
    """InsertEvents' batch: ``events_from_wire`` with the subjects completed early.

    Each subject is decoded with what ``validation.prepare`` fills in already
    filled in (``validation.complete_subject``), so the engine's prepare,
    which still checks every event, finds nothing to fill and keeps the
    subjects and the event instead of building them again. Prepared, the
    batch is the same as ``events_from_wire``'s (tests/dbus/test_codec.py).
    """
    return [_event_from_wire(struct, _subject_to_insert) for struct in structs]


def templates_from_wire(structs: Sequence[WireEvent]) -> list[Event]:
    """A list of templates; a NULL event is an empty template (it matches anything)."""
    return [event_from_wire(struct) or Event() for struct in structs]


NULL_EVENT: WireEvent = [[], [], b""]


def event_to_wire(event: Event | None) -> WireEvent:
    """The ``(asaasay)`` struct of an event, or of the NULL event for None."""
    if event is None:
        return [[], [], b""]
    return [
        [
            str(event.id) if event.id else "",
            str(event.timestamp) if event.timestamp else "",
            event.interpretation,
            event.manifestation,
            event.actor,
            event.origin,
        ],
        [list(s.values()) for s in event.subjects],
        event.payload,
    ]


def _framed(body: int, offsets: int) -> int:
    """The size of a GVariant container: its body plus ``offsets`` framing offsets."""
    if offsets == 0:
        return body
    for width in (1, 2, 4, 8):
        total = body + offsets * width
        if total < 1 << (8 * width):
            return total
    raise AssertionError("a GVariant larger than 2**64 bytes")  # pragma: no cover


def _strings_size(strings: Sequence[str]) -> int:
    # Each string is its UTF-8 bytes and a NUL; one encode of them all is cheaper.
    return _framed(len("".join(strings).encode()) + len(strings), len(strings))


def size_of(wire: WireEvent) -> int:
    """The serialized GVariant size of an encoded event (what upstream's cap counts)."""
    fields, subjects, payload = wire
    subject_sizes = [_strings_size(values) for values in subjects]
    return _framed(
        _strings_size(fields) + _framed(sum(subject_sizes), len(subject_sizes)) + len(payload),
        2,  # (as, aas, ay): the first two members are variable-sized and not last
    )


def events_to_wire(events: Sequence[Event | None], limit: int = MAX_RESULT_SIZE) -> list[WireEvent]:
    """Encoded events, or TooManyResults once they pass ``limit`` bytes (as upstream)."""
    return structs_to_wire([event_to_wire(event) for event in events], limit)


def structs_to_wire(
    structs: Sequence[WireEvent | None], limit: int = MAX_RESULT_SIZE
) -> list[WireEvent]:
    """The engine's event structs as a reply: None as the NULL event, capped as above.

    A struct (``Engine.get_event_structs``) is already an encoded event:
    ``event_to_wire`` of the stored event, built from the rows.
    """
    out: list[WireEvent] = []
    total = 0
    for n, struct in enumerate(structs, start=1):
        wire = [[], [], b""] if struct is None else struct
        total += size_of(wire)
        if total > limit:
            roughly = limit // max(1, total // n)
            raise TooManyResults(
                f"Query exceeded size limit of {limit // 1024 // 1024}MiB "
                f"(roughly ~{roughly} events)."
            )
        out.append(wire)
    return out
