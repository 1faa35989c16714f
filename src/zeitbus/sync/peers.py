"""The peers this node syncs with, kept in the log so that they survive a restart.

A peer is another Zeitbus daemon (``kind`` "zeitbus"), reached at ``url``
with a bearer ``token`` of the peer's (may be empty, for a peer that trusts
its callers), synced both ways or one (``direction``). ``kind`` "couchdb"
and ``encrypt`` (for a server that must see only ciphertext) are the
CouchDB path of issue 14: accepted by the command line and the API and
refused with a clear "not yet" until that path lands, so nothing stored now
needs migrating then.

A peer's id is the first 8 hex digits of the SHA-256 of its kind and
normalized URL: short, the same on every run, and the same if the peer is
removed and added again (a URL can be added once).

Storage: one JSON list under ("sync", "peers") in the log's
``extension_conf`` table (``zeitbus.extensions.conf``), next to the
blacklist and the data sources; a small list, read whole and written whole
in one transaction, so no schema migration is needed. A peer's token is
kept there in clear (it is sent to the peer with every request); the log is
a file only its owner can read (``zeitbus.location``), and no answer of the
API or line of the CLI shows the token again.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from zeitbus.engine import Engine
from zeitbus.errors import InvalidArgument, InvalidKey
from zeitbus.extensions.conf import ExtensionConf
from zeitbus.validation import now_ms

logger = logging.getLogger(__name__)

DIRECTIONS = ("both", "pull", "push")
KINDS = ("zeitbus", "couchdb")
SUPPORTED_KINDS = ("zeitbus",)  # "couchdb" joins when the CouchDB path lands
MAX_URL = 2000
MAX_TOKEN = 1000
_CONF = ("sync", "peers")


@dataclass(frozen=True, slots=True)
class Peer:
    """A node this one syncs with."""

    id: str
    url: str
    token: str = ""
    direction: str = "both"  # both, pull (take its changes in), push (send ours)
    kind: str = "zeitbus"
    encrypt: bool = False
    created: int = 0  # ms since the epoch

    @property
    def pulls(self) -> bool:
        return self.direction in ("both", "pull")

    @property
    def pushes(self) -> bool:
        return self.direction in ("both", "push")

    def as_dict(self) -> dict[str, Any]:
        """The peer for the API and the CLI: ``token`` says only whether there is one."""
        return {
            "id": self.id,
            "url": self.url,
            "kind": self.kind,
            "direction": self.direction,
            "encrypt": self.encrypt,
            "token": bool(self.token),
            "created": self.created,
        }

    def stored(self) -> dict[str, Any]:
        """The peer as kept in the log (with its token)."""
        return {**self.as_dict(), "token": self.token}


def check_url(url: object) -> str:
    """``url`` normalized (scheme and host in lower case, no trailing slash); InvalidArgument."""
    if not isinstance(url, str):
        raise InvalidArgument(f"a peer's URL must be text, not {url!r}")
    text = url.strip()
    if not text:
        raise InvalidArgument("a peer needs a URL, e.g. http://desktop.local:5680")
    if len(text) > MAX_URL:
        raise InvalidArgument(f"a peer's URL is at most {MAX_URL} characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in text):
        raise InvalidArgument(f"a peer's URL cannot hold spaces or control characters: {text!r}")
    try:
        parts = urlsplit(text)
        port = parts.port  # ValueError past 65535 or not a number
    except ValueError as error:
        raise InvalidArgument(f"not a URL: {text!r} ({error})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidArgument(f"a peer's URL must start with http:// or https://, not {text!r}")
    if not parts.hostname:
        raise InvalidArgument(f"a peer's URL needs a host: {text!r}")
    if parts.username is not None or parts.password is not None:
        raise InvalidArgument(
            f"a peer's URL cannot carry a user or password: {text!r} (give a token instead)"
        )
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        raise InvalidArgument(f"a peer's URL has no query or fragment: {text!r}")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), "", ""))


def check_token(token: object) -> str:
    """A peer's token: visible ASCII (it goes in a header), or empty."""
    if token is None:
        return ""
    if not isinstance(token, str):
        raise InvalidArgument(f"a peer's token must be text, not {token!r}")
    if len(token) > MAX_TOKEN:
        raise InvalidArgument(f"a peer's token is at most {MAX_TOKEN} characters")
    if any(not 33 <= ord(c) <= 126 for c in token):
        raise InvalidArgument("a peer's token is visible ASCII, without spaces")
    return token


def peer_id(kind: str, url: str) -> str:
    """The id of the peer of ``kind`` at the normalized ``url``."""
    return hashlib.sha256(f"{kind} {url}".encode()).hexdigest()[:8]


def new_peer(
    url: object,
    *,
    token: object = "",
    direction: object = "both",
    kind: object = "zeitbus",
    encrypt: object = False,
    created: int | None = None,
) -> Peer:
    """A peer from what a user gave, checked; InvalidArgument saying what is wrong."""
    if direction not in DIRECTIONS:
        raise InvalidArgument(
            f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}"
        )
    if kind not in KINDS:
        raise InvalidArgument(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if not isinstance(encrypt, bool):
        raise InvalidArgument(f"encrypt must be true or false, not {encrypt!r}")
    normalized = check_url(url)
    if encrypt and kind != "couchdb":
        raise InvalidArgument(
            "encryption is for CouchDB peers (--couchdb), whose server should see only "
            "ciphertext; a Zeitbus peer is a machine of yours and stores events as they are"
        )
    if kind not in SUPPORTED_KINDS:
        raise InvalidArgument(
            "CouchDB peers are not supported yet; a Zeitbus daemon's URL works without --couchdb"
        )
    return Peer(
        id=peer_id(str(kind), normalized),
        url=normalized,
        token=check_token(token),
        direction=str(direction),
        kind=str(kind),
        encrypt=encrypt,
        created=now_ms() if created is None else created,
    )


def _from_stored(item: Any) -> Peer | None:
    """A stored peer, or None (logged) if it cannot be read."""
    try:
        if not isinstance(item, dict):
            raise InvalidArgument("not an object")
        created = item.get("created", 0)
        if isinstance(created, bool) or not isinstance(created, int):
            raise InvalidArgument(f"created is not a time: {created!r}")
        url = check_url(item.get("url"))
        kind = item.get("kind", "zeitbus")
        if kind not in KINDS:
            raise InvalidArgument(f"unknown kind {kind!r}")
        direction = item.get("direction", "both")
        if direction not in DIRECTIONS:
            raise InvalidArgument(f"unknown direction {direction!r}")
        encrypt = item.get("encrypt", False)
        if not isinstance(encrypt, bool):
            raise InvalidArgument(f"encrypt is not true or false: {encrypt!r}")
        return Peer(
            id=peer_id(kind, url),
            url=url,
            token=check_token(item.get("token", "")),
            direction=direction,
            kind=kind,
            encrypt=encrypt,
            created=created,
        )
    except InvalidArgument as error:
        logger.warning("A stored sync peer cannot be read (%s); skipping it: %r", error, item)
        return None


class PeerStore:
    """The peers, kept in the engine's database (blocking: call from a worker thread)."""

    def __init__(self, engine: Engine) -> None:
        self._conf = ExtensionConf(engine)

    def all(self) -> list[Peer]:
        """The peers, oldest first."""
        stored = self._conf.load(*_CONF)
        if not isinstance(stored, list):
            if stored is not None:
                logger.warning("The stored sync peers are not a list; starting with none")
            return []
        return [peer for peer in map(_from_stored, stored) if peer is not None]

    def get(self, peer_id: str) -> Peer:
        """The peer with this id; InvalidKey if there is none."""
        for peer in self.all():
            if peer.id == peer_id:
                return peer
        raise InvalidKey(f"no sync peer {peer_id!r} (zeitbus sync list shows them)")

    def add(self, peer: Peer) -> Peer:
        """Keep ``peer``; InvalidArgument if its URL is a peer already."""
        return self._change(lambda peers: _added(peers, peer), peer)

    def remove(self, peer_id: str) -> Peer:
        """Forget the peer with this id; InvalidKey if there is none."""
        removed = self.get(peer_id)
        self._change(lambda peers: [p for p in peers if p.id != peer_id], removed)
        return removed

    def _change(self, change: Callable[[list[Peer]], list[Peer]], peer: Peer) -> Peer:
        self._conf.save(*_CONF, [p.stored() for p in change(self.all())])
        return peer


def _added(peers: list[Peer], peer: Peer) -> list[Peer]:
    for known in peers:
        if known.id == peer.id or known.url == peer.url:
            raise InvalidArgument(
                f"{peer.url} is a peer already ({known.id}); remove it first to change it"
            )
    return [*peers, peer]
