"""Recorded events for the CouchDB document tests: any (hypothesis) and lifelike (fixed)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from zeitbus import Event, Subject
from zeitbus.ids import UidGenerator, new_node_id, uid_to_str
from zeitbus.model import INT64_MAX, INT64_MIN
from zeitbus.ontology import ACCESS_EVENT, MOVE_EVENT, USER_ACTIVITY, ZG

# Any text an event field can hold: valid Unicode without NUL.
texts = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"))
subjects = st.builds(
    Subject,
    uri=texts,
    interpretation=texts,
    manifestation=texts,
    origin=texts,
    mimetype=texts,
    text=texts,
    storage=texts,
    current_uri=texts,
    current_origin=texts,
)
recorded_events = st.builds(
    Event,
    timestamp=st.integers(INT64_MIN, INT64_MAX),
    interpretation=texts,
    manifestation=texts,
    actor=texts,
    origin=texts,
    subjects=st.lists(subjects, max_size=3).map(tuple),
    payload=st.binary(max_size=64),
    uid=st.uuids().map(str),
    node=texts.filter(bool),
)
uids = st.uuids().map(str)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def replace_somewhere(value: Any, path: list[int], new: Any) -> Any:
    """``value`` with the element that ``path`` picks (by index into keys or items) replaced."""
    if not path or not isinstance(value, dict | list) or not value:
        return new
    keys = list(value) if isinstance(value, dict) else list(range(len(value)))
    key = keys[path[0] % len(keys)]
    copy: Any = dict(value) if isinstance(value, dict) else list(value)
    copy[key] = replace_somewhere(value[key], path[1:], new)
    return copy


def as_included(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` as ``_changes?include_docs=true`` gives it back: JSON, no ``_revisions``."""
    copy: dict[str, Any] = json.loads(json.dumps(doc))
    copy.pop("_revisions", None)
    return copy


def row(doc: dict[str, Any], seq: int | str) -> dict[str, Any]:
    """The ``_changes`` row (``include_docs``, ``style=all_docs``) of a stored ``doc``."""
    included = as_included(doc)
    out: dict[str, Any] = {
        "seq": seq,
        "id": included["_id"],
        "changes": [{"rev": included["_rev"]}],
        "doc": included,
    }
    if included.get("_deleted"):
        out["deleted"] = True
    return out


def page(docs: list[dict[str, Any]], **extra: Any) -> bytes:
    """A ``_changes`` answer listing ``docs`` at seqs 1, 2, ..."""
    rows = [row(doc, seq) for seq, doc in enumerate(docs, start=1)]
    return json.dumps({"results": rows, "last_seq": len(rows), **extra}).encode()


FIREFOX = "application://firefox-esr.desktop"
WRITER = "application://org.gnome.TextEditor.desktop"
MODIFY_EVENT = ZG + "ModifyEvent"
WEB_PAGE = "http://www.semanticdesktop.org/ontologies/2007/03/22/nfo#Website"
DOCUMENT = "http://www.semanticdesktop.org/ontologies/2007/03/22/nfo#Document"
REMOTE = "http://www.semanticdesktop.org/ontologies/2007/03/22/nfo#RemoteDataObject"
FILE = "http://www.semanticdesktop.org/ontologies/2007/03/22/nfo#FileDataObject"


def lifelike_events(count: int, *, start: int = 1_767_225_600_000) -> list[Event]:
    """``count`` recorded events from one machine with distinct, recognisable strings.

    Every string is long and unusual, so that finding one in a server's bytes
    means it leaked rather than that ciphertext happened to spell it.
    """
    node = new_node_id()
    raw_uids = UidGenerator().batch(count)
    events = []
    for n in range(count):
        if n % 3 == 0:
            subject = Subject(
                uri=f"https://news.example.org/articles/zeitbus-secret-{n}-quarterly",
                interpretation=WEB_PAGE,
                manifestation=REMOTE,
                origin="https://news.example.org/",
                mimetype="text/html",
                text=f"Confidential merger rumours, part {n}",
            )
            actor = FIREFOX
        else:
            subject = Subject(
                uri=f"file:///home/alice/Documents/medical-report-{n}.odt",
                interpretation=DOCUMENT,
                manifestation=FILE,
                origin="file:///home/alice/Documents",
                mimetype="application/vnd.oasis.opendocument.text",
                text=f"medical-report-{n}.odt",
                storage="7a3b9c1e-5d2f-4e6a-9b8c-0d1e2f3a4b5c",
            )
            actor = WRITER
        if n % 7 == 6:
            moved = subject.uri.replace("Documents", "Archive")
            subject = subject.with_changes(
                current_uri=moved, current_origin="file:///home/alice/Archive"
            )
        events.append(
            Event(
                timestamp=start + 61_003 * n,
                interpretation=MOVE_EVENT if n % 7 == 6 else (ACCESS_EVENT, MODIFY_EVENT)[n % 2],
                manifestation=USER_ACTIVITY,
                actor=actor,
                origin=f"urn:zeitbus:test:session-{n}-origin",
                subjects=(subject,),
                payload=f"private payload number {n}".encode(),
                uid=uid_to_str(raw_uids[n]),
                node=node,
            )
        )
    return events
