"""zeitbus.gvariant reads what GLib writes, and refuses what it cannot read."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.gvariant_encoder import encode
from zeitbus.gvariant import GVariantError, VariantType, decode, parse_type

SYSTEM_PYTHON = Path("/usr/bin/python3")
GLIB_SCRIPT = Path(__file__).with_name("gvariant_glib.py")
BLACKLIST = "a{s(asaasay)}"  # what Zeitgeist's extensions store
REGISTRY = "a(sssa(asaasay)bxb)"


def _glib_missing() -> str | None:
    if not SYSTEM_PYTHON.exists():
        return f"{SYSTEM_PYTHON} is missing"
    done = subprocess.run(
        [str(SYSTEM_PYTHON), "-I", "-c", "from gi.repository import GLib"],
        capture_output=True,
        check=False,
    )
    return None if done.returncode == 0 else "python3-gi is missing (apt-get install python3-gi)"


class GLibSerializer:
    """GLib's serializer in a /usr/bin/python3 process (tests/gvariant_glib.py)."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [str(SYSTEM_PYTHON), "-I", str(GLIB_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def serialize(self, type_string: str, value: Any) -> bytes:
        """``g_variant_get_data`` of ``value`` as a ``type_string``."""
        process = self._process
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(json.dumps({"type": type_string, "value": _to_json(value)}) + "\n")
        process.stdin.flush()
        line = process.stdout.readline()
        assert line, f"the GLib helper exited ({process.wait()})"
        return bytes.fromhex(line.strip())

    def close(self) -> None:
        """End the helper (closing its stdin ends it)."""
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(timeout=10)
        assert self._process.stdout is not None
        self._process.stdout.close()


def _to_json(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [_to_json(item) for item in value]
    return value


@pytest.fixture(scope="module")
def glib() -> Iterator[GLibSerializer]:
    """GLib's serializer; skips where /usr/bin/python3 has no GLib bindings."""
    reason = _glib_missing()
    if reason is not None:
        pytest.skip(reason)
    serializer = GLibSerializer()
    try:
        yield serializer
    finally:
        serializer.close()


# -- strategies --------------------------------------------------------------------

FIXED_BASIC = "bynqiuxtd"


def type_strings(basic: str) -> st.SearchStrategy[str]:
    """Type strings of arrays, structs and dict entries over the ``basic`` codes."""
    leaves = st.sampled_from(basic)
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            inner.map(lambda t: "a" + t),
            st.lists(inner, max_size=4).map(lambda ts: "(" + "".join(ts) + ")"),
            st.tuples(leaves, inner).map(lambda kv: "a{" + kv[0] + kv[1] + "}"),
        ),
        max_leaves=8,
    )


_TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\0"))
_INTEGERS = {
    "y": (0, 2**8 - 1),
    "n": (-(2**15), 2**15 - 1),
    "q": (0, 2**16 - 1),
    "i": (-(2**31), 2**31 - 1),
    "u": (0, 2**32 - 1),
    "x": (-(2**63), 2**63 - 1),
    "t": (0, 2**64 - 1),
}


def values(kind: VariantType) -> st.SearchStrategy[Any]:
    """Values of a parsed type, in the shapes ``decode`` returns."""
    code = kind.code
    if code == "b":
        return st.booleans()
    if code in _INTEGERS:
        low, high = _INTEGERS[code]
        return st.integers(low, high)
    if code == "d":
        return st.floats(allow_nan=False, allow_infinity=False)
    if code in "sog":
        return _TEXT
    if code == "a":
        element = kind.children[0]
        if element.code == "y":
            return st.binary(max_size=40)
        return st.lists(values(element), max_size=5)
    return st.tuples(*(values(child) for child in kind.children))


@st.composite
def typed_values(draw: st.DrawFn, basic: str) -> tuple[str, Any]:
    """A type string and a value of it."""
    type_string = draw(type_strings(basic))
    return type_string, draw(values(parse_type(type_string)))


def zeitgeist_event(draw: st.DrawFn) -> tuple[list[str], list[list[str]], bytes]:
    fields = draw(st.lists(_TEXT, min_size=0, max_size=6))
    subjects = draw(st.lists(st.lists(_TEXT, min_size=7, max_size=9), max_size=3))
    return fields, subjects, draw(st.binary(max_size=20))


@st.composite
def blacklists(draw: st.DrawFn) -> list[tuple[str, Any]]:
    """Values of Zeitgeist's stored blacklist, ``a{s(asaasay)}``."""
    ids = draw(st.lists(_TEXT, max_size=4, unique=True))
    return [(template_id, zeitgeist_event(draw)) for template_id in ids]


@st.composite
def registries(draw: st.DrawFn) -> list[Any]:
    """Values of Zeitgeist's stored data-source registry, ``a(sssa(asaasay)bxb)``."""
    return [
        (
            draw(_TEXT),
            draw(_TEXT),
            draw(_TEXT),
            [zeitgeist_event(draw) for _ in range(draw(st.integers(0, 3)))],
            draw(st.booleans()),
            draw(st.integers(-(2**63), 2**63 - 1)),
            draw(st.booleans()),
        )
        for _ in range(draw(st.integers(0, 3)))
    ]


def _as_decoded(value: Any) -> Any:
    """A value built from lists as ``decode`` gives it back (structs as tuples)."""
    fields, subjects, payload = value
    return (list(fields), [list(s) for s in subjects], payload)


# -- against GLib ------------------------------------------------------------------


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(typed_values(FIXED_BASIC + "s"))
def test_the_test_encoder_writes_what_glib_writes(
    glib: GLibSerializer, typed: tuple[str, Any]
) -> None:
    """The pure encoder the other properties rely on is byte-for-byte GLib's serializer."""
    type_string, value = typed
    assert encode(type_string, value) == glib.serialize(type_string, value)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(blacklists())
def test_a_blacklist_serialized_by_glib_decodes_to_its_value(
    glib: GLibSerializer, blacklist: list[tuple[str, Any]]
) -> None:
    """Zeitgeist's blacklist type, written by GLib, reads back as the same templates."""
    decoded = decode(BLACKLIST, glib.serialize(BLACKLIST, blacklist))
    assert decoded == [(key, _as_decoded(event)) for key, event in blacklist]


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(registries())
def test_a_registry_serialized_by_glib_decodes_to_its_value(
    glib: GLibSerializer, registry: list[Any]
) -> None:
    """Zeitgeist's data-source registry type, written by GLib, reads back the same."""
    decoded = decode(REGISTRY, glib.serialize(REGISTRY, registry))
    assert decoded == [
        (uid, name, text, [_as_decoded(e) for e in events], running, seen, enabled)
        for uid, name, text, events, running, seen, enabled in registry
    ]


# -- pure properties and examples ----------------------------------------------------


@settings(max_examples=1000)
@given(typed_values(FIXED_BASIC + "sog"))
def test_decode_inverts_encode(typed: tuple[str, Any]) -> None:
    """Every value of every supported type reads back as itself."""
    type_string, value = typed
    assert decode(type_string, encode(type_string, value)) == value


@settings(max_examples=1000)
@given(st.sampled_from([BLACKLIST, REGISTRY, "a(sb)", "(asx)", "as"]), st.binary(max_size=64))
def test_arbitrary_bytes_decode_or_raise_gvariant_error(type_string: str, data: bytes) -> None:
    """Whatever the bytes, decode returns a value or raises GVariantError, nothing else."""
    with contextlib.suppress(GVariantError):
        decode(type_string, data)


def test_a_large_array_uses_wider_framing_offsets() -> None:
    """Containers past 255 and 65535 bytes frame with 2- and 4-byte offsets."""
    for count in (10, 100, 20_000):
        value = [f"string number {n}" for n in range(count)]
        data = encode("as", value)
        assert decode("as", data) == value
    assert len(encode("as", ["x" * 70_000])) == 70_001 + 4


def test_a_blob_from_glib_reads_as_upstream_stored_it() -> None:
    """A blacklist as g_variant_get_data wrote it (recorded from GLib 2.74)."""
    blob = bytes.fromhex("780031003200020461000203000a060210")
    assert decode(BLACKLIST, blob) == [("x", (["1", "2"], [["a"]], b"\0"))]


@pytest.mark.parametrize(
    ("type_string", "data", "message"),
    [
        ("s", b"abc", "ending in one NUL"),
        ("s", b"a\0b\0", "ending in one NUL"),
        ("s", b"\xff\0", "not UTF-8"),
        ("b", b"\x02", "0 or 1"),
        ("x", b"\0" * 7, "takes 8 bytes"),
        ("ai", b"\0" * 6, "cannot be 6 bytes"),
        ("as", b"a\0\x09", "framing offsets do not fit"),
        ("as", b"a\0\x03\x02", "out of range"),
        ("(ss)", b"a\0b\0\x09", "outside the struct"),
        ("v", b"", "unsupported type"),
        ("a{as}", b"", "basic key"),
        ("(s", b"", "unbalanced"),
        ("ss", b"", "more than one type"),
    ],
)
def test_malformed_data_and_unsupported_types_are_refused(
    type_string: str, data: bytes, message: str
) -> None:
    """Bytes GLib would read as default values, and types it has but we do not, raise."""
    with pytest.raises(GVariantError, match=message):
        decode(type_string, data)
