"""Zeitbus events as CouchDB documents, and a database's changes back as events (docs/sync.md).

Every event is one immutable document; a deleted event is a deleted
document (a tombstone). In clear, the document's ``_id`` is ``ev-`` and the
uid, and its body the event's JSON (docs/event-json.md) without the local
``id``; ``sync.crypto`` gives encrypted documents with opaque ids. Both are
*codecs* (``DocCodec``), so the code that moves documents does not care.

Revisions are Zeitbus's own, derived from the ``_id`` alone: an event is
revision ``1-<h1>`` and its tombstone ``2-<h2>`` with ``1-<h1>`` as parent,
written with ``_bulk_docs`` and ``new_edits: false`` (``bulk_docs``). So any
machine can write the tombstone of an event knowing only its uid, the
tombstone grafts onto the event's branch whichever arrives first, and a
late or repeated insert of the event changes nothing: the tombstone stays
the winning revision (checked against pouchdb-server in
tests/sync/test_couch_server.py). Writing the same event twice, from
two machines or from a replayed batch, is a no-op.

Reading is strict, in two layers. A ``_changes`` answer (``include_docs=true``,
``style=all_docs``) whose structure is wrong (an unknown key, a wrong type,
a seq or an id past its bound) is a broken server: ``read_changes`` raises
InvalidArgument naming the field and nothing of the page should be taken.
A well-formed row whose *document* is not a Zeitbus event or tombstone (an
edited document, an unknown field, an encrypted one without the key) is a
bad document: it comes back in ``ChangesPage.refused`` with its reason, to
be counted and reported while the rest of the page is taken. Design
documents are passed over.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

import msgspec

from zeitbus.errors import InvalidArgument, UndecryptableDocument
from zeitbus.jsonl import decode_reason, event_from_json, event_to_json
from zeitbus.model import INT64_MAX, Event

__all__ = [
    "CLEAR",
    "CLEAR_PREFIX",
    "ChangesPage",
    "ClearDocs",
    "DocChange",
    "DocCodec",
    "Refused",
    "Seq",
    "bulk_docs",
    "check_meta",
    "check_uid",
    "event_body",
    "event_rev",
    "read_changes",
    "read_row",
    "tombstone_rev",
    "tombstone_revisions",
]

CLEAR_PREFIX = "ev-"
DESIGN_PREFIX = "_design/"
MAX_DOC_ID = 256  # characters; Zeitbus's own ids have 39 (clear) or 25 (encrypted)
MAX_REV = 200
MAX_LEAVES = 1000  # revisions one row of style=all_docs may list
MAX_SEQ_TEXT = 16384  # CouchDB 2+ seqs are opaque text that grows with the shards

Seq = int | str  # pouchdb-server's seqs are integers, CouchDB 2+'s opaque text
_Seq = (
    Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)]
    | Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SEQ_TEXT)]
)
_DocId = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_DOC_ID)]
_Rev = Annotated[str, msgspec.Meta(pattern=r"^[1-9][0-9]{0,9}-[0-9A-Za-z]+$", max_length=MAX_REV)]
_UID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# What CouchDB adds to a body: include_docs gives the first three, revs=true the last.
META = frozenset(("_id", "_rev", "_deleted", "_revisions"))


class _Leaf(msgspec.Struct, forbid_unknown_fields=True):
    rev: _Rev


class _Row(msgspec.Struct, forbid_unknown_fields=True):
    seq: _Seq
    id: _DocId
    changes: Annotated[list[_Leaf], msgspec.Meta(min_length=1, max_length=MAX_LEAVES)]
    doc: dict[str, Any]  # required: the feed is read with include_docs=true
    deleted: bool = False


class _Page(msgspec.Struct, forbid_unknown_fields=True):
    results: list[_Row]
    last_seq: _Seq
    pending: Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)] | None = None


_page_decoder = msgspec.json.Decoder(_Page)
_row_decoder = msgspec.json.Decoder(_Row)


# -- revisions -----------------------------------------------------------------


def _rev_hash(kind: str, doc_id: str) -> str:
    return hashlib.sha256(f"zeitbus:{kind}:{doc_id}".encode()).hexdigest()[:32]


def event_rev(doc_id: str) -> str:
    """The one revision of an event's document: ``1-`` and 32 hex digits from the ``_id``."""
    return "1-" + _rev_hash("event", doc_id)


def tombstone_rev(doc_id: str) -> str:
    """The revision of a deleted event's document, a child of ``event_rev(doc_id)``."""
    return "2-" + _rev_hash("tombstone", doc_id)


def tombstone_revisions(doc_id: str) -> dict[str, Any]:
    """The ``_revisions`` that graft a tombstone onto its event (``new_edits: false``)."""
    return {"start": 2, "ids": [_rev_hash("tombstone", doc_id), _rev_hash("event", doc_id)]}


def bulk_docs(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``_bulk_docs`` body for Zeitbus documents: revisions as given (``new_edits: false``).

    The answer lists only the documents that failed (``[]``: all stored).
    """
    return {"docs": docs, "new_edits": False}


# -- codecs --------------------------------------------------------------------


class DocCodec(Protocol):
    """How events map to documents in one database: in clear, or encrypted."""

    def doc_id(self, uid: str) -> str:
        """The ``_id`` of the event ``uid``'s document."""
        ...  # pragma: no cover

    def event_doc(self, event: Event) -> dict[str, Any]:
        """The document for a recorded event (with its uid, node and timestamp)."""
        ...  # pragma: no cover

    def tombstone_doc(self, uid: str) -> dict[str, Any]:
        """The deleted document saying the event ``uid`` was deleted."""
        ...  # pragma: no cover

    def read_event(self, doc: Mapping[str, Any]) -> Event:
        """The event in a live document; InvalidArgument (or a subclass) if there is none."""
        ...  # pragma: no cover

    def read_tombstone(self, doc: Mapping[str, Any]) -> str:
        """The uid a deleted document deletes; InvalidArgument (or a subclass) if none."""
        ...  # pragma: no cover


def check_uid(uid: str) -> str:
    """``uid`` if it is a UUID in canonical form (as Zeitbus writes them), else InvalidArgument."""
    if not isinstance(uid, str) or not _UID.fullmatch(uid):
        raise InvalidArgument(f"uid: {uid!r} is not a UUID in canonical form")
    return uid


def event_body(event: Event) -> dict[str, Any]:
    """The event's JSON as it travels between machines: no local ``id``.

    InvalidArgument if the event was never recorded (no uid, node or timestamp).
    """
    if not event.uid or not event.node or event.timestamp is None:
        raise InvalidArgument("only a recorded event (with uid, node and timestamp) is synced")
    body = event_to_json(event)
    del body["id"]
    return body


def check_meta(doc: Mapping[str, Any], rev: str, *, deleted: bool) -> str:
    """The ``_id`` of ``doc`` after checking that it is revision ``rev`` (live or deleted).

    InvalidArgument if the document was edited by something other than Zeitbus.
    """
    doc_id: str = doc["_id"]
    if doc.get("_rev") != rev:
        raise InvalidArgument(
            f"document {doc_id!r}: revision {doc.get('_rev')!r} is not Zeitbus's {rev!r} "
            "(events are immutable: was the document edited?)"
        )
    if doc.get("_deleted", False) is not deleted:
        raise InvalidArgument(f"document {doc_id!r}: _deleted must be {deleted}")
    return doc_id


class ClearDocs:
    """Events in clear: ``_id`` ``ev-<uid>``, the body the event's JSON."""

    def doc_id(self, uid: str) -> str:
        return CLEAR_PREFIX + check_uid(uid)

    def event_doc(self, event: Event) -> dict[str, Any]:
        body = event_body(event)
        doc_id = self.doc_id(event.uid)
        return {"_id": doc_id, "_rev": event_rev(doc_id), **body}

    def tombstone_doc(self, uid: str) -> dict[str, Any]:
        doc_id = self.doc_id(uid)
        return {
            "_id": doc_id,
            "_rev": tombstone_rev(doc_id),
            "_revisions": tombstone_revisions(doc_id),
            "_deleted": True,
        }

    def _uid(self, doc_id: str) -> str:
        if doc_id.startswith("ez-"):
            raise UndecryptableDocument(doc_id, "encrypted, and no key is set for this database")
        uid = doc_id.removeprefix(CLEAR_PREFIX)
        if uid == doc_id or not _UID.fullmatch(uid):
            raise InvalidArgument(f"document {doc_id!r}: not a Zeitbus event (ev-<uid>)")
        return uid

    def read_event(self, doc: Mapping[str, Any]) -> Event:
        doc_id = doc["_id"]
        uid = self._uid(doc_id)
        check_meta(doc, event_rev(doc_id), deleted=False)
        body = {key: value for key, value in doc.items() if key not in META}
        try:
            if "id" in body:
                raise InvalidArgument("id: a synced event carries no local id")
            event = event_from_json(body)
            if event.uid != uid:
                raise InvalidArgument(f"uid: {event.uid!r} is not the document's {uid!r}")
            if not event.node or event.timestamp is None:
                missing = "node" if not event.node else "timestamp"
                raise InvalidArgument(f"{missing}: a synced event has one")
        except InvalidArgument as error:
            raise InvalidArgument(f"document {doc_id!r}: {error.message}") from None
        return event

    def read_tombstone(self, doc: Mapping[str, Any]) -> str:
        doc_id = doc["_id"]
        uid = self._uid(doc_id)
        # A deletion made with CouchDB's own DELETE has a revision of its own; in
        # clear the server is trusted, so any deleted revision deletes the event.
        extra = sorted(set(doc) - META)
        if extra:
            raise InvalidArgument(f"document {doc_id!r}: a tombstone has no field {extra[0]!r}")
        return uid


CLEAR = ClearDocs()


# -- changes -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DocChange:
    """One taken row of a database's changes: an event, or the uid of a deleted one."""

    seq: Seq
    doc_id: str
    uid: str
    event: Event | None  # None: a tombstone


@dataclass(frozen=True, slots=True)
class Refused:
    """A row whose document is no Zeitbus event or tombstone, and why (for sync status)."""

    seq: Seq
    doc_id: str
    reason: str
    code: str  # the error's code: invalid_argument, undecryptable_document


@dataclass(frozen=True, slots=True)
class ChangesPage:
    """A ``_changes`` answer read: the rows taken, the rows refused, and where it ended."""

    changes: tuple[DocChange, ...]
    refused: tuple[Refused, ...]
    last_seq: Seq
    pending: int | None = None

    @property
    def events(self) -> list[Event]:
        return [c.event for c in self.changes if c.event is not None]

    @property
    def tombstones(self) -> list[str]:
        return [c.uid for c in self.changes if c.event is None]


def read_changes(data: bytes, codec: DocCodec) -> ChangesPage:
    """A normal or longpoll ``_changes`` answer (``include_docs=true&style=all_docs``).

    InvalidArgument naming the field if the answer is malformed; a bad
    document is in ``refused`` instead (see the module doc).
    """
    try:
        page = _page_decoder.decode(data)
    except (msgspec.DecodeError, UnicodeError) as error:
        raise InvalidArgument(decode_reason(data, error, "changes")) from None
    changes: list[DocChange] = []
    refused: list[Refused] = []
    for n, row in enumerate(page.results):
        try:
            taken = _take(row, codec)
        except UndecryptableDocument as error:
            refused.append(Refused(row.seq, row.id, error.reason, error.code))
        except InvalidArgument as error:
            if isinstance(error, _Malformed):
                raise InvalidArgument(f"results[{n}].{error.message}") from None
            refused.append(Refused(row.seq, row.id, error.message, error.code))
        else:
            if taken is not None:
                changes.append(taken)
    return ChangesPage(tuple(changes), tuple(refused), page.last_seq, page.pending)


def read_row(data: bytes, codec: DocCodec) -> DocChange | Refused | None:
    """One row of a continuous feed: taken, refused, or None (a design document).

    InvalidArgument naming the field if the row is malformed.
    """
    try:
        row = _row_decoder.decode(data)
    except (msgspec.DecodeError, UnicodeError) as error:
        raise InvalidArgument(decode_reason(data, error, "row")) from None
    try:
        return _take(row, codec)
    except UndecryptableDocument as error:
        return Refused(row.seq, row.id, error.reason, error.code)
    except InvalidArgument as error:
        if isinstance(error, _Malformed):
            raise InvalidArgument(error.message) from None
        return Refused(row.seq, row.id, error.message, error.code)


class _Malformed(InvalidArgument):
    """The row itself disagrees with its document: the server's fault, not a writer's."""


def _take(row: _Row, codec: DocCodec) -> DocChange | None:
    if row.id.startswith(DESIGN_PREFIX):
        return None
    doc_id = row.doc.get("_id")
    if doc_id != row.id:
        raise _Malformed(f"doc._id: {doc_id!r} is not the row's id {row.id!r}")
    if row.doc.get("_rev") not in [leaf.rev for leaf in row.changes]:
        raise _Malformed(f"doc._rev: {row.doc.get('_rev')!r} is not among the row's changes")
    if row.doc.get("_deleted", False) is not row.deleted:
        raise _Malformed(f"doc._deleted: the row says deleted={row.deleted}")
    if row.deleted:
        return DocChange(row.seq, row.id, codec.read_tombstone(row.doc), None)
    event = codec.read_event(row.doc)
    return DocChange(row.seq, row.id, event.uid, event)
