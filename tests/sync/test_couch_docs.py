"""Events as CouchDB documents in clear, and ``_changes`` answers read back (sync.couch)."""

from __future__ import annotations

import contextlib
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
    row,
    uids,
)
from zeitbus import Event, InvalidArgument
from zeitbus.errors import UndecryptableDocument
from zeitbus.sync.couch import (
    CLEAR,
    ChangesPage,
    DocChange,
    Refused,
    bulk_docs,
    event_rev,
    read_changes,
    read_row,
    tombstone_rev,
)

REV = re.compile(r"[12]-[0-9a-f]{32}")
EVENT = lifelike_events(1)[0]


def doc_of(event: Event = EVENT, **changes: Any) -> dict[str, Any]:
    doc = as_included(CLEAR.event_doc(event))
    doc.update(changes)
    return doc


def refusal(doc: dict[str, Any], codec: Any = CLEAR) -> str:
    """Why ``codec`` refuses ``doc``, read as one row of a page."""
    result = read_changes(page([doc]), codec)
    assert result.changes == ()
    [refused] = result.refused
    return refused.reason


# -- writing -------------------------------------------------------------------


def test_an_event_is_one_document_named_by_its_uid_with_the_events_json() -> None:
    doc = CLEAR.event_doc(EVENT)
    assert doc["_id"] == "ev-" + EVENT.uid
    assert doc["_rev"] == event_rev(doc["_id"])
    assert REV.fullmatch(doc["_rev"])
    assert doc["actor"] == EVENT.actor
    assert doc["timestamp"] == EVENT.timestamp
    assert doc["subjects"][0]["uri"] == EVENT.subjects[0].uri
    assert "id" not in doc  # the local id means nothing on another machine
    assert CLEAR.event_doc(EVENT) == doc  # the same on every machine, every time


def test_a_tombstone_is_the_deleted_next_revision_of_the_events_document() -> None:
    doc = CLEAR.tombstone_doc(EVENT.uid)
    doc_id = "ev-" + EVENT.uid
    assert doc["_id"] == doc_id
    assert doc["_deleted"] is True
    assert doc["_rev"] == tombstone_rev(doc_id)
    assert REV.fullmatch(doc["_rev"])
    assert doc["_rev"].startswith("2-")
    # Its parent is the event's one revision: it grafts onto that branch.
    assert doc["_revisions"]["start"] == 2
    assert doc["_revisions"]["ids"][1] == event_rev(doc_id).removeprefix("1-")
    assert doc["_revisions"]["ids"][0] == doc["_rev"].removeprefix("2-")
    assert set(doc) == {"_id", "_rev", "_revisions", "_deleted"}


def test_documents_are_written_with_their_own_revisions() -> None:
    docs = [CLEAR.event_doc(EVENT)]
    assert bulk_docs(docs) == {"docs": docs, "new_edits": False}


@pytest.mark.parametrize(
    ("changes", "missing"),
    [({"uid": ""}, "uid"), ({"node": ""}, "node"), ({"timestamp": None}, "timestamp")],
)
def test_only_a_recorded_event_becomes_a_document(changes: dict[str, Any], missing: str) -> None:
    with pytest.raises(InvalidArgument, match="only a recorded event"):
        CLEAR.event_doc(EVENT.with_changes(**changes))
    del missing


@pytest.mark.parametrize("uid", ["", "nope", EVENT.uid.upper(), "{" + EVENT.uid + "}"])
def test_a_uid_not_in_canonical_form_names_no_document(uid: str) -> None:
    with pytest.raises(InvalidArgument, match="uid"):
        CLEAR.doc_id(uid)
    with pytest.raises(InvalidArgument, match="uid"):
        CLEAR.tombstone_doc(uid)


# -- round trips -----------------------------------------------------------------


@given(recorded_events)
def test_event_to_document_and_back_is_the_same_event(event: Event) -> None:
    assert CLEAR.read_event(as_included(CLEAR.event_doc(event))) == event


@given(st.lists(recorded_events, max_size=5), st.lists(uids, max_size=5))
def test_a_changes_page_gives_back_every_event_and_tombstone(
    events: list[Event], deleted: list[str]
) -> None:
    docs = [CLEAR.event_doc(e) for e in events] + [CLEAR.tombstone_doc(u) for u in deleted]
    result = read_changes(page(docs, pending=3), CLEAR)
    assert result.refused == ()
    assert result.events == events
    assert result.tombstones == deleted
    assert [c.seq for c in result.changes] == list(range(1, len(docs) + 1))
    assert [c.doc_id for c in result.changes] == [d["_id"] for d in docs]
    assert result.last_seq == len(docs)
    assert result.pending == 3


def test_a_continuous_feed_row_is_read_alone() -> None:
    line = json.dumps(row(CLEAR.event_doc(EVENT), 12)).encode()
    assert read_row(line, CLEAR) == DocChange(12, "ev-" + EVENT.uid, EVENT.uid, EVENT)
    gone = json.dumps(row(CLEAR.tombstone_doc(EVENT.uid), "13-g1AAAA")).encode()
    assert read_row(gone, CLEAR) == DocChange("13-g1AAAA", "ev-" + EVENT.uid, EVENT.uid, None)


def test_a_deletion_made_with_couchdbs_own_delete_deletes_the_event() -> None:
    doc = {"_id": "ev-" + EVENT.uid, "_rev": "2-" + "e" * 32, "_deleted": True}
    assert read_changes(page([doc]), CLEAR).tombstones == [EVENT.uid]


def test_design_documents_are_passed_over() -> None:
    design = {"_id": "_design/views", "_rev": "1-" + "a" * 32, "views": {}}
    result = read_changes(page([design, CLEAR.event_doc(EVENT)]), CLEAR)
    assert result == ChangesPage(
        (DocChange(2, "ev-" + EVENT.uid, EVENT.uid, EVENT),), (), last_seq=2
    )


# -- bad documents: refused one by one, the rest of the page taken ----------------


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"colour": "red"}, "colour"),
        ({"actor": 7}, "actor: expected `str`, got `int`"),
        ({"timestamp": 1.5}, "timestamp"),
        ({"timestamp": 2**63}, "timestamp"),
        ({"subjects": [{"uri": "x", "size": 1}]}, r"subjects\[0\]"),
        ({"payload": "not base64!"}, "payload"),
        ({"id": 7}, "no local id"),
        ({"uid": "0190b0d0-0000-7000-8000-000000000000"}, "not the document's"),
        ({"node": ""}, "node: a synced event has one"),
        ({"actor": "a\x00b"}, "actor"),
        ({"_attachments": {}}, "_attachments"),
    ],
)
def test_a_document_that_is_no_event_is_refused_naming_the_field(
    change: dict[str, Any], reason: str
) -> None:
    assert re.search(reason, refusal(doc_of(**change)))


def test_a_document_without_a_timestamp_is_refused() -> None:
    doc = doc_of()
    del doc["timestamp"]
    assert "timestamp" in refusal(doc)


def test_an_edited_event_document_is_refused() -> None:
    reason = refusal(doc_of(_rev="2-" + "b" * 32, actor="application://evil.desktop"))
    assert "immutable" in reason


@pytest.mark.parametrize("doc_id", ["foreign-doc", "ev-nope", "ev-" + EVENT.uid.upper()])
def test_a_document_of_another_kind_is_refused(doc_id: str) -> None:
    assert "not a Zeitbus event" in refusal(doc_of(_id=doc_id))


def test_a_tombstone_with_a_body_is_refused() -> None:
    doc = as_included(CLEAR.tombstone_doc(EVENT.uid))
    doc["actor"] = "x"
    assert "a tombstone has no field 'actor'" in refusal(doc)


def test_an_encrypted_document_without_a_key_is_refused_as_such() -> None:
    doc: dict[str, Any] = {
        "_id": "ez-" + "A" * 22,
        "_rev": "1-" + "c" * 32,
        "v": 1,
        "k": "x",
        "n": "",
        "c": "",
    }
    result = read_changes(page([doc]), CLEAR)
    assert result.refused == (
        Refused(
            1,
            doc["_id"],
            "encrypted, and no key is set for this database",
            "undecryptable_document",
        ),
    )
    with pytest.raises(UndecryptableDocument):
        CLEAR.read_event(doc)


def test_refused_rows_leave_the_others_taken() -> None:
    good = [CLEAR.event_doc(e) for e in lifelike_events(3)]
    result = read_changes(page([good[0], doc_of(colour="red"), good[1], good[2]]), CLEAR)
    assert [c.seq for c in result.changes] == [1, 3, 4]
    assert [r.seq for r in result.refused] == [2]
    assert result.refused[0].code == "invalid_argument"


# -- a malformed answer: refused whole, naming the field ----------------------------


def _answer(**row_changes: Any) -> bytes:
    one = row(CLEAR.event_doc(EVENT), 1)
    one.update(row_changes)
    for key in [k for k, v in row_changes.items() if v is ...]:
        del one[key]
    return json.dumps({"results": [one], "last_seq": 1}).encode()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (b"", "not valid JSON"),
        (b"[]", "changes: expected `object`"),
        (b'{"results": []}', "last_seq"),
        (b'{"results": [], "last_seq": 1, "extra": 2}', "extra"),
        (b'{"results": [], "last_seq": -1}', "last_seq"),
        (b'{"results": [], "last_seq": 9223372036854775808}', "last_seq"),
        (b'{"results": [], "last_seq": 1, "pending": -2}', "pending"),
        (b'{"results": [], "last_seq": "\xff"}', "not valid UTF-8"),
        (_answer(seq=...), r"results\[0\]"),
        (_answer(seq=True), r"results\[0\].seq"),
        (_answer(seq="x" * 20000), r"results\[0\].seq"),
        (_answer(id="x" * 257), r"results\[0\].id"),
        (_answer(id=""), r"results\[0\].id"),
        (_answer(changes=[]), r"results\[0\].changes"),
        (_answer(changes=[{"rev": "1-abc", "x": 1}]), r"results\[0\].changes\[0\]"),
        (_answer(changes=[{"rev": "one"}]), r"results\[0\].changes\[0\].rev"),
        (_answer(changes=[{"rev": "1-ab"}] * 1001), r"results\[0\].changes"),
        (_answer(doc=...), r"results\[0\]"),
        (_answer(doc=[]), r"results\[0\].doc"),
        (_answer(deleted="yes"), r"results\[0\].deleted"),
        (_answer(surprise=1), "surprise"),
        (_answer(id="ev-" + "0" * 36), r"results\[0\].doc._id"),
        (_answer(changes=[{"rev": "1-" + "f" * 32}]), r"results\[0\].doc._rev"),
        (_answer(deleted=True), r"results\[0\].doc._deleted"),
    ],
)
def test_a_malformed_answer_is_refused_whole_naming_the_field(data: bytes, field: str) -> None:
    with pytest.raises(InvalidArgument, match=field) as caught:
        read_changes(data, CLEAR)
    assert not isinstance(caught.value, UndecryptableDocument)


def test_a_malformed_continuous_row_is_refused_naming_the_field() -> None:
    one = row(CLEAR.event_doc(EVENT), 1)
    one["seq"] = -1
    with pytest.raises(InvalidArgument, match="seq"):
        read_row(json.dumps(one).encode(), CLEAR)
    one["seq"], one["id"] = 1, "ev-other"
    with pytest.raises(InvalidArgument, match=r"doc\._id"):
        read_row(json.dumps(one).encode(), CLEAR)
    assert isinstance(read_row(json.dumps(row(doc_of(x=1), 2)).encode(), CLEAR), Refused)


@given(st.lists(st.integers(0, 50), max_size=6), json_values)
def test_any_change_to_a_good_answer_is_taken_refused_or_an_error_never_a_crash(
    path: list[int], new: Any
) -> None:
    docs = [CLEAR.event_doc(EVENT), CLEAR.tombstone_doc(EVENT.uid)]
    answer = json.loads(page(docs))
    data = json.dumps(replace_somewhere(answer, path, new)).encode()
    try:
        result = read_changes(data, CLEAR)
    except InvalidArgument:
        return
    assert isinstance(result, ChangesPage)
    for change in result.changes:
        assert change.event is None or change.event.uid == change.uid


@given(st.binary(max_size=200))
def test_any_bytes_are_an_answer_or_an_error_never_a_crash(data: bytes) -> None:
    with contextlib.suppress(InvalidArgument):
        read_changes(data, CLEAR)
