#!/usr/bin/python3
"""Serializes values with GLib's own GVariant code (tests only; runs under /usr/bin/python3).

Protocol: one JSON object per line on stdin, ``{"type": type string, "value":
value}``, and one line of hex on stdout: ``g_variant_get_data`` of that value.
Values are JSON as ``tests/test_gvariant.py`` writes them: ``ay`` as a hex
string, structs, dict entries and other arrays as lists. Each container is
built child by child (``new_array``, ``new_tuple``, ``new_dict_entry``), so
the type string alone decides the layout.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from gi.repository import GLib  # type: ignore[import-not-found]


def split_types(text: str) -> list[str]:
    """The complete types in a concatenation of type strings."""
    out, depth, start = [], 0, 0
    for at, char in enumerate(text):
        if char in "({":
            depth += 1
        elif char in ")}":
            depth -= 1
        if depth == 0 and char != "a":
            out.append(text[start : at + 1])
            start = at + 1
    return out


def build(type_string: str, value: Any) -> Any:
    code = type_string[0]
    if type_string == "ay":
        return GLib.Variant("ay", bytes.fromhex(value))
    if code == "a":
        element = type_string[1:]
        children = [build(element, item) for item in value]
        return GLib.Variant.new_array(GLib.VariantType.new(element), children)
    if code == "(":
        members = split_types(type_string[1:-1])
        return GLib.Variant.new_tuple(*[build(t, v) for t, v in zip(members, value, strict=True)])
    if code == "{":
        key, item = split_types(type_string[1:-1])
        return GLib.Variant.new_dict_entry(build(key, value[0]), build(item, value[1]))
    return GLib.Variant(type_string, value)


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        variant = build(request["type"], request["value"])
        assert variant.get_type_string() == request["type"], variant.get_type_string()
        sys.stdout.write(bytes(variant.get_data_as_bytes().get_data()).hex() + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
