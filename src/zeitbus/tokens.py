"""API tokens: what they look like, how they are stored, how they are checked.

A token is ``zbt_<id>_<secret>``: ``id`` (8 hex digits) names the token and
is stored as is; ``secret`` (43 characters of URL-safe base64, 256 random
bits) is stored only as its SHA-256. Checking a token looks its id up and
compares the digests with ``hmac.compare_digest``, which takes the same time
wherever they differ; an unknown id is compared against a dummy digest, so
the answer takes as long either way.

Scopes are ordered: ``read`` (queries and the changes feed), ``write`` (also
inserts and deletes), ``admin`` (also the blacklist and data sources).
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re
import secrets
import sqlite3
from dataclasses import dataclass

from zeitbus.errors import InvalidArgument, InvalidKey

PREFIX = "zbt_"
_TOKEN = re.compile(r"zbt_([0-9a-f]{8})_([A-Za-z0-9_-]{43})")
_DUMMY = hashlib.sha256(b"no such token").digest()


class Scope(enum.IntEnum):
    """What a token may do; each scope includes the ones below it."""

    READ = 1
    WRITE = 2
    ADMIN = 3

    @classmethod
    def parse(cls, value: str) -> Scope:
        """The scope for a name (read, write, admin); InvalidArgument otherwise."""
        try:
            return cls[value.strip().upper()]
        except KeyError:
            raise InvalidArgument(
                f"unknown scope {value!r} (choose read, write or admin)"
            ) from None

    @property
    def label(self) -> str:
        """The scope's name as users type it."""
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A stored token, without its secret."""

    id: str
    name: str
    scope: Scope
    created: int  # ms since the epoch


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("ascii")).digest()


def new_token() -> tuple[str, str, bytes]:
    """A fresh token: (its text, its id, the digest to store)."""
    token_id = secrets.token_hex(4)
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")
    return f"{PREFIX}{token_id}_{secret}", token_id, _digest(secret)


def parse(text: str) -> tuple[str, str] | None:
    """(id, secret) of a well-formed token text, else None."""
    found = _TOKEN.fullmatch(text.strip())
    return (found.group(1), found.group(2)) if found else None


SCHEMA = """
CREATE TABLE token (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    scope INTEGER NOT NULL,
    digest BLOB NOT NULL,
    created INTEGER NOT NULL
) WITHOUT ROWID
"""


def add(conn: sqlite3.Connection, name: str, scope: Scope, now_ms: int) -> tuple[str, TokenInfo]:
    """Store a new token; returns its text (shown once) and what is stored."""
    if len(name) > 200 or "\n" in name:
        raise InvalidArgument("a token name is one line of at most 200 characters")
    while True:
        text, token_id, digest = new_token()
        try:
            conn.execute(
                "INSERT INTO token (id, name, scope, digest, created) VALUES (?, ?, ?, ?, ?)",
                (token_id, name, int(scope), digest, now_ms),
            )
        except sqlite3.IntegrityError:
            continue  # the id is taken (1 in 4 billion): draw another
        return text, TokenInfo(token_id, name, scope, now_ms)


def listed(conn: sqlite3.Connection) -> list[TokenInfo]:
    """Every stored token, oldest first."""
    return [
        TokenInfo(str(row[0]), str(row[1]), Scope(row[2]), int(row[3]))
        for row in conn.execute("SELECT id, name, scope, created FROM token ORDER BY created, id")
    ]


def remove(conn: sqlite3.Connection, token_id: str) -> None:
    """Revoke a token by id; InvalidKey if there is none."""
    if conn.execute("DELETE FROM token WHERE id = ?", (token_id,)).rowcount == 0:
        raise InvalidKey(f"no token with id {token_id!r}")


def check(conn: sqlite3.Connection, text: str) -> Scope | None:
    """The scope of a valid token, None for anything else."""
    parsed = parse(text)
    token_id, secret = parsed if parsed else ("", "")
    row = conn.execute("SELECT scope, digest FROM token WHERE id = ?", (token_id,)).fetchone()
    stored = bytes(row[1]) if row else _DUMMY
    matched = hmac.compare_digest(_digest(secret), stored)
    return Scope(row[0]) if row and matched and parsed else None
