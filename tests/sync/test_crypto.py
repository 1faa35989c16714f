"""End-to-end encrypted sync documents and sync keys (sync.crypto)."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.sync.couch_events import (
    as_included,
    json_values,
    lifelike_events,
    page,
    recorded_events,
    replace_somewhere,
    uids,
)
from zeitbus import Event, InvalidArgument
from zeitbus.errors import UndecryptableDocument
from zeitbus.sync.couch import CLEAR, event_rev, read_changes, tombstone_rev
from zeitbus.sync.crypto import EncryptedDocs, SyncKey, new_key, parse_key

KEY = parse_key(new_key())
OTHER = parse_key(new_key())
DOCS = EncryptedDocs(KEY)
EVENT = lifelike_events(1)[0]
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sealed(event: Event = EVENT) -> dict[str, Any]:
    return as_included(DOCS.event_doc(event))


def refusal(doc: dict[str, Any], docs: EncryptedDocs = DOCS) -> str:
    """Why ``docs`` refuses ``doc``: an UndecryptableDocument, raised and in a read page."""
    if doc.get("_deleted"):
        with pytest.raises(UndecryptableDocument) as caught:
            docs.read_tombstone(doc)
    else:
        with pytest.raises(UndecryptableDocument) as caught:
            docs.read_event(doc)
    assert caught.value.doc_id == doc["_id"]
    [refused] = read_changes(page([doc]), docs).refused
    assert refused.code == "undecryptable_document"
    assert refused.reason == caught.value.reason
    return caught.value.reason


# -- keys ----------------------------------------------------------------------


def test_a_new_key_is_printable_text_that_parses_back() -> None:
    text = new_key()
    assert re.fullmatch(r"zbk1_[A-Za-z0-9_-]{48}", text)
    key = parse_key(text)
    assert key.text == text
    assert parse_key(f"  {text}\n") == key
    assert new_key() != text


def test_a_key_never_shows_its_secret_in_its_repr() -> None:
    assert KEY.text not in repr(KEY)
    assert KEY.text[5:15] not in repr(KEY)
    assert repr(KEY) == f"SyncKey(key_id={KEY.key_id!r})"


@given(st.data())
def test_a_key_with_one_character_mistyped_is_refused(data: st.DataObject) -> None:
    text = KEY.text
    where = data.draw(st.integers(5, len(text) - 1))
    typo = data.draw(st.sampled_from(B64URL).filter(lambda c: c != text[where]))
    with pytest.raises(InvalidArgument, match="mistyped"):
        parse_key(text[:where] + typo + text[where + 1 :])


@given(st.data())
def test_a_key_with_a_character_left_out_or_doubled_is_refused(data: st.DataObject) -> None:
    text = KEY.text
    where = data.draw(st.integers(5, len(text) - 1))
    with pytest.raises(InvalidArgument, match="48 characters after 'zbk1_', not 47"):
        parse_key(text[:where] + text[where + 1 :])
    with pytest.raises(InvalidArgument, match="48 characters after 'zbk1_', not 49"):
        parse_key(text[:where] + text[where] + text[where:])


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "a key starts with 'zbk1_'"),
        ("zbk2_" + "A" * 48, "a key starts with 'zbk1_'"),
        ("ZBK1_" + "A" * 48, "a key starts with 'zbk1_'"),
        ("zbk1_" + "A" * 47 + "=", r"'=' \(character 48\) is not in a key"),
        ("zbk1_" + "A" * 20 + " " + "A" * 27, r"' ' \(character 21\) is not in a key"),
        ("zbk1_" + "A" * 48, "checksum does not match"),
    ],
)
def test_text_that_is_no_key_is_refused_saying_why(text: str, reason: str) -> None:
    with pytest.raises(InvalidArgument, match=reason):
        parse_key(text)


def test_subkeys_are_separate_and_ids_depend_on_the_key() -> None:
    assert KEY.key_id != OTHER.key_id
    assert KEY.doc_id(EVENT.uid) != OTHER.doc_id(EVENT.uid)
    assert KEY.doc_id(EVENT.uid) == parse_key(KEY.text).doc_id(EVENT.uid)
    with pytest.raises(InvalidArgument, match="32 bytes"):
        SyncKey(b"short")


# -- documents -------------------------------------------------------------------


def test_an_encrypted_document_shows_the_server_nothing_of_the_event() -> None:
    doc = DOCS.event_doc(EVENT)
    assert re.fullmatch(r"ez-[A-Za-z0-9_-]{22}", doc["_id"])
    assert doc["_rev"] == event_rev(doc["_id"])
    assert set(doc) == {"_id", "_rev", "v", "k", "n", "c"}
    assert doc["v"] == 1
    assert doc["k"] == KEY.key_id
    text = json.dumps(doc)
    for secret in (EVENT.uid, EVENT.uid[:13], EVENT.node, EVENT.actor, str(EVENT.timestamp)):
        assert secret not in text
    assert EVENT.subjects[0].uri not in text
    # The plaintext is padded: its length says little about the event's.
    assert (len(_unb64(doc["c"])) - 16) % 64 == 0


def test_each_write_of_an_event_has_a_fresh_nonce_and_the_same_id_and_revision() -> None:
    first, second = DOCS.event_doc(EVENT), DOCS.event_doc(EVENT)
    assert first["n"] != second["n"]
    assert first["c"] != second["c"]
    assert (first["_id"], first["_rev"]) == (second["_id"], second["_rev"])


def test_an_encrypted_tombstone_is_the_deleted_next_revision_and_hides_the_uid() -> None:
    doc = DOCS.tombstone_doc(EVENT.uid)
    assert doc["_id"] == DOCS.doc_id(EVENT.uid)
    assert doc["_deleted"] is True
    assert doc["_rev"] == tombstone_rev(doc["_id"])
    assert doc["_revisions"]["ids"][1] == event_rev(doc["_id"]).removeprefix("1-")
    assert EVENT.uid not in json.dumps(doc)
    assert DOCS.read_tombstone(as_included(doc)) == EVENT.uid


@given(recorded_events)
def test_encrypt_then_decrypt_is_the_same_event(event: Event) -> None:
    assert DOCS.read_event(as_included(DOCS.event_doc(event))) == event


@given(st.lists(recorded_events, max_size=4), st.lists(uids, max_size=4))
def test_an_encrypted_changes_page_gives_back_every_event_and_tombstone(
    events: list[Event], deleted: list[str]
) -> None:
    docs = [DOCS.event_doc(e) for e in events] + [DOCS.tombstone_doc(u) for u in deleted]
    result = read_changes(page(docs), DOCS)
    assert result.refused == ()
    assert result.events == events
    assert result.tombstones == deleted


def _flip(text: str, bit: int) -> str:
    raw = bytearray(_unb64(text))
    raw[bit // 8 % len(raw)] ^= 1 << (bit % 8)
    return _b64(bytes(raw))


@given(st.sampled_from(["n", "c"]), st.integers(0, 10_000), st.booleans())
def test_any_bit_changed_in_nonce_or_ciphertext_is_refused(
    field: str, bit: int, tombstone: bool
) -> None:
    doc = as_included(DOCS.tombstone_doc(EVENT.uid) if tombstone else DOCS.event_doc(EVENT))
    doc[field] = _flip(doc[field], bit)
    assert "does not verify with this key" in refusal(doc)


@given(uids, st.booleans())
def test_a_document_moved_to_another_id_is_refused(other_uid: str, tombstone: bool) -> None:
    doc = as_included(DOCS.tombstone_doc(EVENT.uid) if tombstone else DOCS.event_doc(EVENT))
    doc["_id"] = DOCS.doc_id(other_uid)
    if not tombstone:
        doc["_rev"] = event_rev(doc["_id"])  # a server that knows Zeitbus's revisions
    assert "does not verify with this key" in refusal(doc)


def test_swapped_documents_are_both_refused() -> None:
    one, two = (as_included(DOCS.event_doc(e)) for e in lifelike_events(2))
    for doc, other in ((one, two), (two, one)):
        swapped = {**other, "_id": doc["_id"], "_rev": doc["_rev"]}
        assert "does not verify" in refusal(swapped)


def test_an_event_body_posing_as_a_tombstone_is_refused() -> None:
    doc = sealed()
    doc.update(_deleted=True, _rev=tombstone_rev(doc["_id"]))
    assert "does not verify" in refusal(doc)


@given(recorded_events)
def test_a_document_under_another_key_is_refused_as_such(event: Event) -> None:
    theirs = EncryptedDocs(OTHER)
    doc = as_included(theirs.event_doc(event))
    doc["_id"] = DOCS.doc_id(event.uid)  # even where this key would look for it
    doc["_rev"] = event_rev(doc["_id"])
    assert "encrypted with another key" in refusal(doc)
    doc["k"] = KEY.key_id  # a key id copied over does not help
    assert "does not verify with this key" in refusal(doc)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"v": 2}, "v: unknown format version 2"),
        ({"v": "1"}, "v: not a format version: '1'"),
        ({"v": True}, "v: not a format version: True"),
        ({"v": None}, "v: not a format version"),
        ({"n": "a+b/"}, "n or c: not base64url"),
        ({"c": "AAAA="}, "n or c: not base64url"),
        ({"c": "AB"}, "n or c: not base64url"),  # unused bits set: not canonical
        ({"c": "A"}, "n or c: not base64url"),
        ({"n": _b64(b"x" * 11)}, "n: a nonce is 12 bytes, not 11"),
        ({"c": _b64(b"x" * 15)}, "c: shorter than its authentication tag"),
        ({"c": 5}, "c: missing, or not text"),
        ({"n": None}, "n: missing, or not text"),
        ({"k": []}, "k: missing, or not text"),
        ({"plain": "text"}, "unknown field 'plain'"),
        ({"_rev": "2-" + "d" * 32}, "revision '2-d"),
        ({"_id": "ez-short"}, "not an encrypted Zeitbus document"),
        ({"_id": "ev-" + EVENT.uid}, "in clear in an encrypted database"),
    ],
)
def test_a_malformed_encrypted_document_is_refused_saying_why(
    change: dict[str, Any], reason: str
) -> None:
    doc = sealed()
    doc.update(change)
    assert reason in refusal(doc)


def test_a_missing_field_is_refused() -> None:
    for name in ("v", "k", "n", "c"):
        doc = sealed()
        del doc[name]
        assert refusal(doc).startswith(name)


def test_a_clear_document_in_an_encrypted_database_is_refused() -> None:
    # The server, or a machine without the key, cannot add events.
    clear = as_included(CLEAR.event_doc(EVENT))
    assert refusal(clear) == "in clear in an encrypted database"
    tombstone = as_included(CLEAR.tombstone_doc(EVENT.uid))
    assert refusal(tombstone) == "in clear in an encrypted database"


def test_a_tombstone_the_server_made_is_refused() -> None:
    # The server sees the ids, so it could delete any of them: that deletes nothing.
    doc_id = DOCS.doc_id(EVENT.uid)
    doc: dict[str, Any] = {"_id": doc_id, "_rev": tombstone_rev(doc_id), "_deleted": True}
    assert refusal(doc).startswith("v: not a format version")


def _sealed_with(kind: str, doc_id: str, plaintext: bytes, **doc: Any) -> dict[str, Any]:
    return {"_id": doc_id, **doc, **KEY.seal(kind, doc_id, plaintext)}


def test_a_tombstone_naming_another_uid_or_none_is_refused() -> None:
    doc_id = DOCS.doc_id(EVENT.uid)
    rev = {"_rev": tombstone_rev(doc_id), "_deleted": True}
    other = lifelike_events(1)[0].uid
    assert "whose document is another" in refusal(
        _sealed_with("tombstone", doc_id, other.encode(), **rev)
    )
    assert "names no uid" in refusal(_sealed_with("tombstone", doc_id, b"\xff" * 36, **rev))
    assert "names no uid" in refusal(
        _sealed_with("tombstone", doc_id, EVENT.uid.upper().encode(), **rev)
    )


def test_an_event_that_decrypts_but_is_malformed_is_refused_naming_the_field() -> None:
    # Only a holder of the key can write one: a bug, not an attack, so it names the field.
    doc_id = DOCS.doc_id(EVENT.uid)
    body = json.dumps({"uid": EVENT.uid, "node": "n", "timestamp": 1, "actor": 5}).encode()
    doc = _sealed_with("event", doc_id, body, _rev=event_rev(doc_id))
    [refused] = read_changes(page([doc]), DOCS).refused
    assert refused.code == "invalid_argument"
    assert "actor: expected `str`, got `int`" in refused.reason
    for bad in (
        {"uid": EVENT.uid, "node": "n"},
        {"uid": EVENT.uid, "node": "n", "timestamp": 1, "id": 3},
    ):
        doc = _sealed_with("event", doc_id, json.dumps(bad).encode(), _rev=event_rev(doc_id))
        with pytest.raises(InvalidArgument, match="a synced event has a uid, node and timestamp"):
            DOCS.read_event(doc)
    other = lifelike_events(1)[0]
    body = json.dumps({"uid": other.uid, "node": "n", "timestamp": 1}).encode()
    doc = _sealed_with("event", doc_id, body, _rev=event_rev(doc_id))
    assert "whose document is another" in refusal(doc)


@given(st.lists(st.integers(0, 50), max_size=6), json_values)
def test_any_change_to_an_encrypted_answer_is_taken_refused_or_an_error_never_a_crash(
    path: list[int], new: Any
) -> None:
    docs = [DOCS.event_doc(EVENT), DOCS.tombstone_doc(EVENT.uid)]
    answer = json.loads(page(docs))
    data = json.dumps(replace_somewhere(answer, path, new)).encode()
    try:
        result = read_changes(data, DOCS)
    except InvalidArgument:
        return
    for change in result.changes:  # what is taken is what was written
        assert change.uid == EVENT.uid
        assert change.event in (None, EVENT)
