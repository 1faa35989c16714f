"""Globally unique, time-ordered event ids (UUIDv7) and node ids.

A uid is a UUID version 7 (RFC 9562): 48 bits of Unix time in ms, then a
12-bit counter that keeps uids made in the same millisecond in order (the
RFC's "method 1"), then 62 random bits. Python 3.11 has no ``uuid7``, and
making a batch of uids from one ``os.urandom`` call keeps bulk inserts cheap.
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid


class UidGenerator:
    """Makes strictly increasing UUIDv7 values; safe across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = 0
        self._counter = 0

    def batch(self, count: int) -> list[bytes]:
        """``count`` new uids as 16-byte values, in increasing order."""
        # The low 8 bytes are random but for the variant bits (0b10); the high 8
        # bytes are the time, the version (7) and the counter.
        randomness = bytearray(os.urandom(8 * count))
        randomness[::8] = bytes([(b & 0x3F) | 0x80 for b in randomness[::8]])
        out = []
        with self._lock:
            now = time.time_ns() // 1_000_000
            if now > self._last_ms:
                self._last_ms, self._counter = now, 0
            for i in range(0, 8 * count, 8):
                if self._counter > 0xFFF:  # counter spent: borrow the next millisecond
                    self._last_ms += 1
                    self._counter = 0
                high = (self._last_ms & 0xFFFFFFFFFFFF) << 16 | 0x7000 | self._counter
                self._counter += 1
                out.append(high.to_bytes(8, "big") + randomness[i : i + 8])
        return out


def uid_to_str(raw: bytes) -> str:
    """The canonical text form of a uid (uuid.UUID's, without making one: 3x faster)."""
    if len(raw) != 16:
        raise ValueError(f"a uid is 16 bytes, not {len(raw)}")
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def uid_from_str(text: str) -> bytes:
    """The 16 bytes of a uid in text form; ValueError if it is not a UUID.

    The canonical form (what Zeitbus writes) is read directly, 6x faster than
    uuid.UUID, which every received event's uid went through twice; other
    forms uuid.UUID accepts (braces, upper case, no dashes) are read by it.
    """
    if len(text) == 36 and _CANONICAL.fullmatch(text):
        return bytes.fromhex(text[:8] + text[9:13] + text[14:18] + text[19:23] + text[24:])
    return uuid.UUID(text).bytes


_CANONICAL = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def new_node_id() -> str:
    """A fresh node id (random UUID, as text)."""
    return str(uuid.uuid4())
