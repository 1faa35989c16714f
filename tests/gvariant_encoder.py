"""A pure GVariant serializer for tests: the inverse of ``zeitbus.gvariant.decode``.

It writes normal form as GLib does (tests/test_gvariant.py checks that it is
byte-for-byte what ``g_variant_get_data`` gives), so the decoder can be
property-tested on many more types and values than a GLib process could
produce quickly. Values have the shapes ``decode`` returns.
"""

from __future__ import annotations

import struct
from typing import Any

from zeitbus.gvariant import VariantType, parse_type

_FORMATS = {"b": "<B", "y": "<B", "n": "<h", "q": "<H", "i": "<i", "u": "<I"}
_FORMATS |= {"x": "<q", "t": "<Q", "d": "<d"}


def encode(type_string: str, value: Any) -> bytes:
    """``value`` serialized as a GVariant of ``type_string``."""
    return bytes(_encode(parse_type(type_string), value))


def _pad(body: bytearray, alignment: int) -> None:
    body.extend(b"\0" * (-len(body) % alignment))


def _framed(body: bytearray, offsets: list[int]) -> bytearray:
    """``body`` followed by ``offsets`` in the smallest width that fits the total."""
    if not offsets:
        return body
    for width in (1, 2, 4, 8):
        if len(body) + width * len(offsets) < 2 ** (8 * width):
            break
    for offset in offsets:
        body.extend(offset.to_bytes(width, "little"))
    return body


def _encode(kind: VariantType, value: Any) -> bytearray:
    code = kind.code
    if code in _FORMATS:
        return bytearray(struct.pack(_FORMATS[code], value))
    if code in "sog":
        return bytearray(value.encode("utf-8") + b"\0")
    body = bytearray()
    if code == "a":
        element = kind.children[0]
        if element.code == "y":
            return bytearray(value)
        ends = []
        for item in value:
            _pad(body, element.alignment)
            body.extend(_encode(element, item))
            ends.append(len(body))
        return body if element.fixed_size is not None else _framed(body, ends)
    if not kind.children:
        return bytearray(b"\0")
    ends = []
    for n, (member, item) in enumerate(zip(kind.children, value, strict=True)):
        _pad(body, member.alignment)
        body.extend(_encode(member, item))
        if member.fixed_size is None and n < len(kind.children) - 1:
            ends.append(len(body))
    if kind.fixed_size is not None:
        _pad(body, kind.alignment)
        return body
    return _framed(body, ends[::-1])
