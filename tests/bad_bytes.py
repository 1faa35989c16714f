"""Hypothesis strategies for inputs that are not good JSON text, byte by byte.

Each draws from a good input (a request body, a JSON Lines file) and spoils
it, or draws bytes outright. A drawn ``Spoiled`` knows, where it can, what
the refusal must say and at which byte: a sequence that is not UTF-8, or an
escaped unpaired surrogate (``\\ud800``, which ``json.loads`` accepts but no
UTF-8 encoder does), inserted at a known offset of otherwise good text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hypothesis import strategies as st

# Byte sequences no UTF-8 decoder may accept, each failing at its first byte.
NOT_UTF8 = (
    b"\xff",
    b"\xfe",
    b"\x80",  # a continuation byte with nothing to continue
    b"\xbf",
    b"\xc3",  # a two-byte sequence cut short
    b"\xe2\x82",  # a three-byte one cut short
    b"\xf0\x9f\x98",  # a four-byte one cut short
    b"\xc3\x28",  # a lead byte followed by ASCII
    b"\xc0\x80",  # overlong NUL ("modified UTF-8")
    b"\xc1\xbf",  # overlong DEL
    b"\xe0\x80\xaf",  # overlong "/"
    b"\xf0\x80\x80\xaf",  # overlong "/", four bytes
    b"\xed\xa0\x80",  # U+D800 encoded (CESU-8 / WTF-8)
    b"\xed\xbf\xbf",  # U+DFFF encoded
    b"\xf4\x90\x80\x80",  # past U+10FFFF
    b"\xf8\x88\x80\x80\x80",  # five-byte form
    b"\xfc\x84\x80\x80\x80\x80",  # six-byte form
)

# Escapes that name no character: a surrogate without its other half.
UNPAIRED = (
    rb"\ud800",
    rb"\uDBFF",
    rb"\udc00",
    rb"\uDFFF",
    rb"\ud800\u0041",  # a high surrogate followed by another escape
    rb"\ud800\ud800",  # two high ones
    rb"\udc00\ud800",  # a pair in the wrong order
    rb"\ud83d",  # half of an emoji
)


@dataclass(frozen=True)
class Spoiled:
    """A spoiled input and, if known, what its refusal must name."""

    data: bytes
    how: str
    says: str | None = None  # text the refusal's reason must contain
    at: int | None = None  # the byte offset the reason must name

    def checks(self, reason: str) -> None:
        """Assert that ``reason`` says what it must and names the byte."""
        if self.says is not None:
            assert self.says in reason, (self.how, reason)
        if self.at is not None:
            assert f"(byte {self.at})" in reason, (self.how, self.at, reason)


def first_bad_utf8(data: bytes) -> int | None:
    """The offset at which ``data`` stops being UTF-8, or None if it is UTF-8."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.start
    return None


def char_starts(text: bytes) -> list[int]:
    """Offsets of good JSON ``text`` between two characters, outside escapes, and its end.

    Bytes put inside an escaped surrogate pair would leave its first half
    unpaired, a problem before them.
    """
    escaped = {
        i for found in _ESCAPES.finditer(text) for i in range(found.start() + 1, found.end())
    }
    starts = [i for i, byte in enumerate(text) if byte & 0xC0 != 0x80 and i not in escaped]
    return [*starts, len(text)]


# An escaped surrogate pair (as one span), any other \u escape, or a short one.
_ESCAPES = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|\\u[0-9a-fA-F]{4}|\\."
)


def utf8_is_first(data: bytes, bad: int | None) -> bool:
    """Whether bytes that are not UTF-8 at ``bad`` are the first problem ``data`` has.

    An escape before them might be half of a surrogate pair the spoiling broke.
    """
    return bad is not None and b"\\u" not in data[:bad]


def string_starts(text: bytes) -> list[int]:
    """Offsets just inside the opening quote of each JSON string in ``text``."""
    starts, inside, escaped = [], False, False
    for i, byte in enumerate(text):
        if escaped:
            escaped = False
        elif inside and byte == ord("\\"):
            escaped = True
        elif byte == ord('"'):
            inside = not inside
            if inside:
                starts.append(i + 1)
    return starts


@st.composite
def not_utf8_inserted(draw: st.DrawFn, good: bytes) -> Spoiled:
    """A sequence that is not UTF-8 inserted between two characters of ``good``."""
    at = draw(st.sampled_from(char_starts(good)))
    bad = draw(st.sampled_from(NOT_UTF8))
    return Spoiled(good[:at] + bad + good[at:], f"{bad!r} at {at}", "not valid UTF-8", at)


@st.composite
def unpaired_inserted(draw: st.DrawFn, good: bytes) -> Spoiled:
    """An escaped unpaired surrogate at the start of one of ``good``'s strings."""
    at = draw(st.sampled_from(string_starts(good)))
    bad = draw(st.sampled_from(UNPAIRED))
    return Spoiled(
        good[:at] + bad + good[at:],
        f"{bad!r} at {at}",
        "not valid JSON: unpaired UTF-16 surrogate",
        at,
    )


@st.composite
def nul_inserted(draw: st.DrawFn, good: bytes) -> Spoiled:
    """A raw NUL byte inside one of ``good``'s strings (JSON forbids control characters)."""
    at = draw(st.sampled_from(string_starts(good)))
    return Spoiled(good[:at] + b"\x00" + good[at:], f"NUL at {at}", "not valid JSON", at)


@st.composite
def truncated(draw: st.DrawFn, good: bytes) -> Spoiled:
    """``good`` cut short (possibly inside a multi-byte character)."""
    end = draw(st.integers(0, len(good.rstrip()) - 1))
    cut = good[:end]
    bad = first_bad_utf8(cut)
    if utf8_is_first(cut, bad):
        return Spoiled(cut, f"cut at {end}", "not valid UTF-8", bad)
    return Spoiled(cut, f"cut at {end}")


@st.composite
def mutated(draw: st.DrawFn, good: bytes) -> Spoiled:
    """``good`` with a few bytes replaced, inserted or deleted (it may even stay good)."""
    data = bytearray(good)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["replace", "insert", "delete"]))
        chunk = draw(st.binary(min_size=1, max_size=4))
        if action == "replace" and at < len(data):
            data[at : at + len(chunk)] = chunk
        elif action == "delete":
            del data[at : at + len(chunk)]
        else:
            data[at:at] = chunk
    spoiled = bytes(data)
    bad = first_bad_utf8(spoiled)
    if utf8_is_first(spoiled, bad):
        return Spoiled(spoiled, "mutated", "not valid UTF-8", bad)
    return Spoiled(spoiled, "mutated")


@st.composite
def random_bytes(draw: st.DrawFn) -> Spoiled:
    """Bytes drawn outright."""
    data = draw(st.binary(max_size=200))
    bad = first_bad_utf8(data)
    if utf8_is_first(data, bad):
        return Spoiled(data, "random", "not valid UTF-8", bad)
    return Spoiled(data, "random")


def known_bad(good: bytes, *, cut: bool = True) -> st.SearchStrategy[Spoiled]:
    """Spoilings of ``good`` that must be refused, saying what and where.

    ``cut``: a cut-short ``good`` is bad too (one JSON value, not JSON Lines,
    which a cut at a line's end leaves good).
    """
    kinds = [not_utf8_inserted(good), unpaired_inserted(good), nul_inserted(good)]
    return st.one_of(*kinds, truncated(good)) if cut else st.one_of(*kinds)


def spoiled(good: bytes) -> st.SearchStrategy[Spoiled]:
    """Any spoiling of ``good``, or random bytes (some may be good by chance)."""
    return st.one_of(known_bad(good, cut=False), truncated(good), mutated(good), random_bytes())
