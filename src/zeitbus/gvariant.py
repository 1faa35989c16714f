"""Reading serialized GVariants (the format GLib writes), without GLib.

Theory of operation. Zeitgeist keeps its extensions' state as serialized
GVariants (``g_variant_get_data``), which is GLib's binary format as the GVariant
specification describes it: every value is a byte string whose length is
known from outside, so nothing in it says how long it is itself.

* A basic fixed-size value (``b y n q i u x t d``) is its bytes in the
  machine's byte order (little-endian on every machine Zeitgeist ran on).
* A string (``s o g``) is UTF-8 followed by one NUL.
* Containers align each child to the child's alignment (1, 2, 4 or 8,
  relative to the container's start). Where a child's end cannot be known
  from its type, the container records it in a *framing offset*: an unsigned
  little-endian integer at the container's end, 0, 1, 2, 4 or 8 bytes wide
  depending on the container's total size (``_offset_size``).
* An array of fixed-size elements is just the elements; of variable-size
  ones, the elements followed by one offset per element (its end); the last
  offset is where the offsets start, which gives their number.
* A struct (and a ``{key, value}`` dict entry, a two-member struct) stores an
  offset for every variable-size member but the last, in reverse order from
  the end. A struct of fixed-size members only is fixed-size itself, padded
  to its alignment; ``()`` is one zero byte.

``decode(type_string, data)`` supports exactly these types: the basic ones,
arrays, structs and dict entries (Zeitgeist's ``a{s(asaasay)}`` and
``a(sssa(asaasay)bxb)`` need no more), and returns plain values: ``bool``,
``int``, ``float``, ``str``, ``bytes`` for ``ay``, ``list`` for other arrays
and ``tuple`` for structs and dict entries. Unlike GLib, which reads data
that is not in normal form as default values, it raises ``GVariantError``
on anything malformed: an importer should refuse what it cannot read rather
than quietly take an empty blacklist.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

__all__ = ["GVariantError", "VariantType", "decode", "parse_type"]


class GVariantError(ValueError):
    """The bytes are not a serialized GVariant of the type (or the type is unsupported)."""


# type code -> (struct format, size); all fixed-size, aligned to their size
_FIXED_BASIC = {
    "b": ("<B", 1),
    "y": ("<B", 1),
    "n": ("<h", 2),
    "q": ("<H", 2),
    "i": ("<i", 4),
    "u": ("<I", 4),
    "x": ("<q", 8),
    "t": ("<Q", 8),
    "d": ("<d", 8),
}
_STRINGS = frozenset("sog")
_BASIC = _FIXED_BASIC.keys() | _STRINGS


@dataclass(frozen=True, slots=True)
class VariantType:
    """A parsed type: its code, children, alignment and fixed size (None if variable)."""

    code: str  # a basic type code, "a", "(" or "{"
    children: tuple[VariantType, ...]
    alignment: int
    fixed_size: int | None


def _align(position: int, alignment: int) -> int:
    return -(-position // alignment) * alignment


def _parse(text: str, at: int) -> tuple[VariantType, int]:
    """The type that starts at ``text[at]`` and the index just past it."""
    if at >= len(text):
        raise GVariantError(f"incomplete type string {text!r}")
    code = text[at]
    if code in _FIXED_BASIC:
        size = _FIXED_BASIC[code][1]
        return VariantType(code, (), size, size), at + 1
    if code in _STRINGS:
        return VariantType(code, (), 1, None), at + 1
    if code == "a":
        element, end = _parse(text, at + 1)
        return VariantType("a", (element,), element.alignment, None), end
    if code in "({":
        close = ")" if code == "(" else "}"
        children: list[VariantType] = []
        at += 1
        while at < len(text) and text[at] != close:
            child, at = _parse(text, at)
            children.append(child)
        if at >= len(text):
            raise GVariantError(f"unbalanced type string {text!r}")
        if code == "{" and (len(children) != 2 or children[0].code not in _BASIC):
            raise GVariantError(f"a dict entry is a basic key and a value, not {text!r}")
        return _container(code, tuple(children)), at + 1
    raise GVariantError(f"unsupported type {code!r} in {text!r}")


def _container(code: str, children: tuple[VariantType, ...]) -> VariantType:
    alignment = max((c.alignment for c in children), default=1)
    if any(c.fixed_size is None for c in children):
        return VariantType(code, children, alignment, None)
    if not children:
        return VariantType(code, children, 1, 1)  # the unit type takes one byte
    size = 0
    for child in children:
        size = _align(size, child.alignment) + (child.fixed_size or 0)
    return VariantType(code, children, alignment, _align(size, alignment))


def parse_type(text: str) -> VariantType:
    """The parsed form of a complete type string."""
    parsed, end = _parse(text, 0)
    if end != len(text):
        raise GVariantError(f"{text!r} is more than one type")
    return parsed


def _offset_size(container_size: int) -> int:
    if container_size == 0:
        return 0
    if container_size <= 0xFF:
        return 1
    if container_size <= 0xFFFF:
        return 2
    if container_size <= 0xFFFFFFFF:
        return 4
    return 8


def _read_offset(data: memoryview, at: int, size: int) -> int:
    return int.from_bytes(data[at : at + size], "little")


def decode(type_string: str, data: bytes) -> Any:
    """The value of type ``type_string`` serialized in ``data`` (see the module docstring)."""
    return _decode(parse_type(type_string), memoryview(bytes(data)))


def _decode(kind: VariantType, data: memoryview) -> Any:
    if kind.fixed_size is not None and len(data) != kind.fixed_size:
        raise GVariantError(f"{kind.code} takes {kind.fixed_size} bytes, got {len(data)}")
    code = kind.code
    if code in _FIXED_BASIC:
        value = struct.unpack(_FIXED_BASIC[code][0], data)[0]
        if code == "b":
            if value > 1:
                raise GVariantError(f"a boolean is 0 or 1, got {value}")
            return bool(value)
        return value
    if code in _STRINGS:
        raw = bytes(data)
        if not raw.endswith(b"\0") or b"\0" in raw[:-1]:
            raise GVariantError("a string is UTF-8 text ending in one NUL")
        try:
            return raw[:-1].decode("utf-8")
        except UnicodeDecodeError as error:
            raise GVariantError(f"a string is not UTF-8: {error}") from None
    if code == "a":
        return _decode_array(kind.children[0], data)
    return tuple(_decode_struct(kind.children, data))


def _decode_array(element: VariantType, data: memoryview) -> Any:
    if element.code == "y":
        return bytes(data)
    if element.fixed_size is not None:
        if len(data) % element.fixed_size:
            raise GVariantError(
                f"an array of {element.fixed_size}-byte elements cannot be {len(data)} bytes"
            )
        step = element.fixed_size
        return [_decode(element, data[i : i + step]) for i in range(0, len(data), step)]
    if not data:
        return []
    size = _offset_size(len(data))
    table = _read_offset(data, len(data) - size, size)
    if table > len(data) or (len(data) - table) % size:
        raise GVariantError("an array's framing offsets do not fit its size")
    out = []
    start = 0
    for at in range(table, len(data), size):
        end = _read_offset(data, at, size)
        start = _align(start, element.alignment)
        if not start <= end <= table:
            raise GVariantError("an array element's framing offset is out of range")
        out.append(_decode(element, data[start:end]))
        start = end
    return out


def _decode_struct(members: tuple[VariantType, ...], data: memoryview) -> list[Any]:
    size = _offset_size(len(data))
    frames_end = len(data)  # the framing offsets are read from the end backwards
    position = 0
    out = []
    for n, member in enumerate(members):
        start = _align(position, member.alignment)
        if member.fixed_size is not None:
            end = start + member.fixed_size
        elif n == len(members) - 1:
            end = frames_end
        else:
            frames_end -= size
            if frames_end < 0:
                raise GVariantError("a struct's framing offsets do not fit its size")
            end = _read_offset(data, frames_end, size)
        if not start <= end <= frames_end:
            raise GVariantError("a struct member lies outside the struct")
        out.append(_decode(member, data[start:end]))
        position = end
    return out
