"""End-to-end encrypted sync documents, for a CouchDB server you do not trust (docs/sync.md).

The user's machines share one key (``new_key``: ``zbk1_`` and base64url of
32 random bytes and a 4-byte checksum, so a mistyped key is refused rather
than used). HKDF-SHA256 derives two subkeys from it: one encrypts, one
makes document ids. A server holding the documents sees no actor, URI,
text, payload or timestamp:

* ``_id`` is ``ez-`` and the first 16 bytes of HMAC-SHA256(id subkey, uid),
  base64url: a uid starts with its time, so it cannot be the id;
* an event is ``{"v": 1, "k": key id, "n": nonce, "c": ciphertext}``,
  ChaCha20-Poly1305 of the event's JSON (padded with spaces to a multiple
  of 64 bytes, so sizes say little) under a random 96-bit nonce, with the
  version, key id, kind and ``_id`` as associated data: a document changed,
  or moved to another id, does not verify;
* a tombstone is the deleted document of the same id, its body the uid
  encrypted the same way (the server learns only that some document was
  deleted; a machine learns which uid, and that the deletion came from a
  holder of the key, not from the server).

``k`` (4 bytes of HMAC with the id subkey) names the key without revealing
it, so a document written under another key is refused as such, not as
tampered. Revisions are ``sync.couch``'s, derived from the ``_id``.
Anything that does not decrypt and verify is an UndecryptableDocument
with the reason; a document that does but holds a malformed event is an
InvalidArgument naming the field (a machine with the key wrote it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from typing import Any

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from zeitbus.errors import InvalidArgument, UndecryptableDocument
from zeitbus.ids import uid_from_str
from zeitbus.jsonl import decode_line
from zeitbus.model import Event
from zeitbus.sync.couch import (
    CLEAR_PREFIX,
    META,
    check_uid,
    event_body,
    event_rev,
    tombstone_rev,
    tombstone_revisions,
)

__all__ = ["ENCRYPTED_PREFIX", "KEY_PREFIX", "EncryptedDocs", "SyncKey", "new_key", "parse_key"]

KEY_PREFIX = "zbk1_"
ENCRYPTED_PREFIX = "ez-"
VERSION = 1
_SECRET = 32
_CHECK = 4
_KEY_CHARS = 48  # base64url of 36 bytes
_ID_BYTES = 16  # of HMAC-SHA256: no collision among any number of events a person records
_KEY_ID = 4
_NONCE = 12
_TAG = 16
_PAD = 64
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_ENC_ID = re.compile(ENCRYPTED_PREFIX + r"[A-Za-z0-9_-]{22}")
_FIELDS = META | {"v", "k", "n", "c"}
_encode = msgspec.json.Encoder().encode


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """Strict unpadded base64url: ValueError for anything that does not round-trip."""
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:  # unused low bits set: another text for the same bytes
        raise ValueError("not canonical base64url")
    return data


def _checksum(secret: bytes) -> bytes:
    return hashlib.sha256(b"zeitbus sync key v1" + secret).digest()[:_CHECK]


def _subkey(secret: bytes, purpose: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"zeitbus sync v1 " + purpose)
    return hkdf.derive(secret)


class SyncKey:
    """A parsed sync key: its subkeys, and ``key_id`` to compare keys without showing them."""

    __slots__ = ("_aead", "_id_key", "key_id", "text")

    def __init__(self, secret: bytes) -> None:
        if len(secret) != _SECRET:
            raise InvalidArgument(f"sync key: {_SECRET} bytes, not {len(secret)}")
        self.text = KEY_PREFIX + _b64(secret + _checksum(secret))
        self._aead = ChaCha20Poly1305(_subkey(secret, b"encryption"))
        self._id_key = _subkey(secret, b"document id")
        self.key_id = _b64(self._mac(b"key id")[:_KEY_ID])

    def __repr__(self) -> str:  # never the secret: reprs end up in logs
        return f"SyncKey(key_id={self.key_id!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SyncKey) and hmac.compare_digest(self.text, other.text)

    def __hash__(self) -> int:
        return hash(self.key_id)

    def _mac(self, data: bytes) -> bytes:
        return hmac.digest(self._id_key, data, "sha256")

    def doc_id(self, uid: str) -> str:
        """The opaque ``_id`` of the event ``uid``'s document."""
        raw = uid_from_str(check_uid(uid))
        return ENCRYPTED_PREFIX + _b64(self._mac(b"uid " + raw)[:_ID_BYTES])

    def seal(self, kind: str, doc_id: str, plaintext: bytes) -> dict[str, Any]:
        """The encrypted fields ``v``, ``k``, ``n``, ``c`` of a document."""
        nonce = os.urandom(_NONCE)
        sealed = self._aead.encrypt(nonce, plaintext, self._aad(kind, doc_id))
        return {"v": VERSION, "k": self.key_id, "n": _b64(nonce), "c": _b64(sealed)}

    def open(self, kind: str, doc: Mapping[str, Any]) -> bytes:
        """The plaintext of a document's encrypted fields; UndecryptableDocument if none."""
        doc_id: str = doc["_id"]
        extra = sorted(set(doc) - _FIELDS)
        if extra:
            raise UndecryptableDocument(doc_id, f"unknown field {extra[0]!r}")
        version = doc.get("v")
        if type(version) is not int:
            raise UndecryptableDocument(doc_id, f"v: not a format version: {version!r}")
        if version != VERSION:
            raise UndecryptableDocument(doc_id, f"v: unknown format version {version}")
        for name in ("k", "n", "c"):
            if not isinstance(doc.get(name), str):
                raise UndecryptableDocument(doc_id, f"{name}: missing, or not text")
        if doc["k"] != self.key_id:
            raise UndecryptableDocument(
                doc_id,
                f"encrypted with another key (key id {doc['k']!r}, this one's {self.key_id!r})",
            )
        try:
            nonce = _unb64(doc["n"])
            sealed = _unb64(doc["c"])
        except (ValueError, binascii.Error):
            raise UndecryptableDocument(doc_id, "n or c: not base64url") from None
        if len(nonce) != _NONCE:
            raise UndecryptableDocument(doc_id, f"n: a nonce is {_NONCE} bytes, not {len(nonce)}")
        if len(sealed) < _TAG:
            raise UndecryptableDocument(doc_id, "c: shorter than its authentication tag")
        try:
            return self._aead.decrypt(nonce, sealed, self._aad(kind, doc_id))
        except InvalidTag:
            raise UndecryptableDocument(
                doc_id,
                "does not verify with this key: changed on the way, or moved from another document",
            ) from None

    def _aad(self, kind: str, doc_id: str) -> bytes:
        return f"zeitbus/v{VERSION}/{self.key_id}/{kind}/{doc_id}".encode()


def new_key() -> str:
    """A fresh sync key as text, to be set on each of the user's machines."""
    return SyncKey(os.urandom(_SECRET)).text


def parse_key(text: str) -> SyncKey:
    """The key ``text`` names (blanks around it ignored); InvalidArgument saying what is wrong."""
    text = text.strip()
    if not text.startswith(KEY_PREFIX):
        raise InvalidArgument(f"sync key: a key starts with {KEY_PREFIX!r}")
    body = text.removeprefix(KEY_PREFIX)
    bad = next((c for c in body if not _B64URL.fullmatch(c)), None)
    if bad is not None:
        raise InvalidArgument(
            f"sync key: {bad!r} (character {body.index(bad) + 1}) is not in a key"
        )
    if len(body) != _KEY_CHARS:
        raise InvalidArgument(
            f"sync key: {_KEY_CHARS} characters after {KEY_PREFIX!r}, not {len(body)}"
        )
    raw = base64.urlsafe_b64decode(body)  # 48 characters of the alphabet: 36 bytes, no padding
    secret, check = raw[:_SECRET], raw[_SECRET:]
    if not hmac.compare_digest(check, _checksum(secret)):
        raise InvalidArgument("sync key: the checksum does not match: a character is mistyped")
    return SyncKey(secret)


class EncryptedDocs:
    """Events encrypted with ``key`` (a ``sync.couch.DocCodec``)."""

    def __init__(self, key: SyncKey) -> None:
        self.key = key

    def doc_id(self, uid: str) -> str:
        return self.key.doc_id(uid)

    def event_doc(self, event: Event) -> dict[str, Any]:
        body = _encode(event_body(event))
        body += b" " * (-len(body) % _PAD)
        doc_id = self.doc_id(event.uid)
        return {"_id": doc_id, "_rev": event_rev(doc_id), **self.key.seal("event", doc_id, body)}

    def tombstone_doc(self, uid: str) -> dict[str, Any]:
        doc_id = self.doc_id(uid)
        return {
            "_id": doc_id,
            "_rev": tombstone_rev(doc_id),
            "_revisions": tombstone_revisions(doc_id),
            "_deleted": True,
            **self.key.seal("tombstone", doc_id, uid.encode("ascii")),
        }

    def _check_id(self, doc: Mapping[str, Any], rev: str, *, deleted: bool) -> str:
        doc_id: str = doc["_id"]
        if doc_id.startswith(CLEAR_PREFIX):
            raise UndecryptableDocument(doc_id, "in clear in an encrypted database")
        if not _ENC_ID.fullmatch(doc_id):
            raise UndecryptableDocument(doc_id, "not an encrypted Zeitbus document")
        if doc.get("_deleted", False) is not deleted:
            raise UndecryptableDocument(doc_id, f"_deleted must be {deleted}")
        if not deleted and doc.get("_rev") != rev:
            raise UndecryptableDocument(
                doc_id, f"revision {doc.get('_rev')!r} is not Zeitbus's (was it edited?)"
            )
        return doc_id

    def _uid_of(self, doc_id: str, uid: str) -> None:
        if self.doc_id(uid) != doc_id:
            raise UndecryptableDocument(doc_id, f"holds uid {uid!r}, whose document is another")

    def read_event(self, doc: Mapping[str, Any]) -> Event:
        doc_id = self._check_id(doc, event_rev(doc["_id"]), deleted=False)
        plaintext = self.key.open("event", doc)
        try:
            event = decode_line(plaintext)
            if event.id or not event.uid or not event.node or event.timestamp is None:
                raise InvalidArgument("a synced event has a uid, node and timestamp, no local id")
        except InvalidArgument as error:
            raise InvalidArgument(f"document {doc_id!r}: {error.message}") from None
        self._uid_of(doc_id, event.uid)
        return event

    def read_tombstone(self, doc: Mapping[str, Any]) -> str:
        # The revision is not checked: the server could change it, and the
        # ciphertext already proves that a holder of the key deleted this uid.
        doc_id = self._check_id(doc, "", deleted=True)
        plaintext = self.key.open("tombstone", doc)
        try:
            uid = plaintext.decode("ascii")
            self.doc_id(uid)
        except (UnicodeDecodeError, InvalidArgument):
            raise UndecryptableDocument(doc_id, "a tombstone that names no uid") from None
        self._uid_of(doc_id, uid)
        return uid
