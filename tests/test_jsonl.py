"""The JSON form of an event, and JSON Lines export and import (zeitbus.jsonl)."""

from __future__ import annotations

import base64
import io
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zeitbus import BadRecord, Engine, Event, InvalidArgument, Subject, TimeRange
from zeitbus.jsonl import (
    ImportReport,
    decode_events,
    decode_line,
    encode_line,
    event_from_json,
    event_to_json,
    export_events,
    import_events,
    iter_events,
)
from zeitbus.model import INT64_MAX, INT64_MIN, UINT32_MAX
from zeitbus.ontology import ACCESS_EVENT, MOVE_EVENT, USER_ACTIVITY, ZG

MODIFY_EVENT = ZG + "ModifyEvent"
SCHEDULED_ACTIVITY = ZG + "ScheduledActivity"
EVENT_KEYS = [
    "id",
    "uid",
    "node",
    "timestamp",
    "interpretation",
    "manifestation",
    "actor",
    "origin",
    "subjects",
    "payload",
]
SUBJECT_KEYS = [
    "uri",
    "interpretation",
    "manifestation",
    "origin",
    "mimetype",
    "text",
    "storage",
    "current_uri",
    "current_origin",
]

# -- strategies ------------------------------------------------------------------

# Any text an event field can hold: valid Unicode without NUL.
texts = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"))
subjects = st.builds(
    Subject,
    **{name: texts for name in SUBJECT_KEYS},
)
any_events = st.builds(
    Event,
    id=st.integers(0, UINT32_MAX),
    timestamp=st.none() | st.integers(INT64_MIN, INT64_MAX),
    interpretation=texts,
    manifestation=texts,
    actor=texts,
    origin=texts,
    subjects=st.lists(subjects, max_size=3).map(tuple),
    payload=st.binary(max_size=64),
    uid=st.just("") | st.uuids().map(str),
    node=texts,
)

URIS = [f"file:///home/me/{name}" for name in ("a.txt", "b.png", "c.pdf", "d")] + [
    "https://example.com/",
    "https://example.com/page?q=ü",
]
ORIGINS = ["file:///home/me", "file:///srv", "https://example.com"]


@st.composite
def stored_subject(draw: st.DrawFn, uri: str) -> Subject:
    """A subject as a client logs it (origins set, so moves never clear them)."""
    return Subject(
        uri=uri,
        origin=draw(st.sampled_from(ORIGINS)),
        mimetype=draw(st.sampled_from(["", "text/plain", "image/png", "application/pdf"])),
        text=draw(st.sampled_from(["", "A title", "Ünïcode ☃"])),
    )


@st.composite
def loggable_event(draw: st.DrawFn) -> Event:
    """An event ``insert_events`` accepts, sometimes a MoveEvent."""
    uris = draw(st.lists(st.sampled_from(URIS), min_size=1, max_size=3, unique=True))
    timestamp = draw(st.integers(-(10**12), 2 * 10**12))
    common = {
        "timestamp": timestamp,
        "manifestation": draw(st.sampled_from([USER_ACTIVITY, SCHEDULED_ACTIVITY])),
        "actor": draw(st.sampled_from(["application://vim.desktop", "application://gimp.desktop"])),
        "origin": draw(st.sampled_from(["", "urn:host:laptop"])),
        "payload": draw(st.binary(max_size=32)),
    }
    if draw(st.booleans()) and draw(st.booleans()):
        subject = draw(stored_subject(uris[0]))
        moved = Subject(
            uri=subject.uri,
            origin=subject.origin,
            current_uri=subject.uri + ".moved",
            current_origin=draw(st.sampled_from(ORIGINS)),
        )
        return Event(interpretation=MOVE_EVENT, subjects=(moved,), **common)  # type: ignore[arg-type]
    interpretation = draw(st.sampled_from([ACCESS_EVENT, MODIFY_EVENT]))
    chosen = tuple(draw(stored_subject(uri)) for uri in uris)
    return Event(interpretation=interpretation, subjects=chosen, **common)  # type: ignore[arg-type]


def _log(event_id: int = 0, **changes: Any) -> Event:
    fields: dict[str, Any] = {
        "id": event_id,
        "timestamp": 1_000,
        "interpretation": ACCESS_EVENT,
        "manifestation": USER_ACTIVITY,
        "actor": "application://vim.desktop",
        "subjects": (Subject(uri="file:///home/me/a.txt"),),
    }
    fields.update(changes)
    return Event(**fields)


def _export(engine: Engine, **options: Any) -> bytes:
    out = io.BytesIO()
    export_events(engine, out, **options)
    return out.getvalue()


@pytest.fixture
def memory() -> Iterator[Engine]:
    """An in-memory engine."""
    with Engine.open(":memory:") as engine:
        yield engine


# -- the JSON form ---------------------------------------------------------------


def test_json_form_has_the_documented_keys_in_order() -> None:
    """An event becomes an object with the ten documented keys; payload is base64."""
    event = _log(7, payload=b"\x00\xffhi", uid=str(uuid.uuid4()), node="n1")
    obj = event_to_json(event)
    assert list(obj) == EVENT_KEYS
    assert list(obj["subjects"][0]) == SUBJECT_KEYS
    assert obj["payload"] == base64.b64encode(b"\x00\xffhi").decode()
    assert obj["timestamp"] == 1_000
    assert obj["id"] == 7
    assert json.loads(encode_line(event)) == obj


def test_empty_payload_is_an_empty_string() -> None:
    """No payload is written as "", not null."""
    assert event_to_json(_log())["payload"] == ""


def test_encoded_line_is_one_line_ending_in_newline() -> None:
    """encode_line gives exactly one line, even for text with newlines."""
    line = encode_line(_log(subjects=(Subject(uri="file:///a", text="two\nlines"),)))
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1


@given(any_events)
def test_decode_of_encode_is_identity(event: Event) -> None:
    """decode(encode(e)) == e for every event value."""
    assert decode_line(encode_line(event)) == event
    assert event_from_json(event_to_json(event)) == event


def test_missing_keys_take_defaults() -> None:
    """A hand-written event may leave fields out; timestamp then means "now"."""
    event = event_from_json({"actor": "a", "subjects": [{"uri": "file:///x"}]})
    assert event == Event(actor="a", subjects=(Subject(uri="file:///x"),))
    assert event.timestamp is None


def test_uid_is_stored_in_canonical_form() -> None:
    """A uid in another UUID spelling is normalised to the canonical text form."""
    value = uuid.uuid4()
    assert event_from_json({"uid": value.hex.upper()}).uid == str(value)


@pytest.mark.parametrize(
    ("obj", "field"),
    [
        ({"foo": 1}, "foo"),
        ({"subjects": [{"uri": "x", "colour": "red"}]}, "colour"),
        ({"id": "1"}, "id"),
        ({"id": 1.0}, "id"),
        ({"id": True}, "id"),
        ({"id": -1}, "id"),
        ({"id": UINT32_MAX + 1}, "id"),
        ({"timestamp": 1.5}, "timestamp"),
        ({"timestamp": INT64_MAX + 1}, "timestamp"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"actor": 5}, "actor"),
        ({"actor": None}, "actor"),
        ({"subjects": {"uri": "x"}}, "subjects"),
        ({"subjects": [{"uri": 3}]}, "subjects[0].uri"),
        ({"payload": "not base64!"}, "payload"),
        ({"payload": "YQ"}, "payload"),
        ({"payload": 12}, "payload"),
        ({"uid": "not-a-uuid"}, "uid"),
        ({"actor": "a\x00b"}, "actor"),
        ({"subjects": [{"uri": "a\x00"}]}, "uri"),
    ],
)
def test_bad_fields_are_rejected_naming_the_field(obj: dict[str, Any], field: str) -> None:
    """Unknown keys, wrong types, floats, out-of-range numbers, bad base64: InvalidArgument."""
    with pytest.raises(InvalidArgument, match=field.replace("[", r"\[").replace("]", r"\]")):
        event_from_json(obj)
    with pytest.raises(InvalidArgument, match=field.replace("[", r"\[").replace("]", r"\]")):
        decode_line(json.dumps(obj).encode())


@pytest.mark.parametrize("line", [b"nope", b'{"id": 1', b'{"id": 1}{', b"[1]", b'"text"', b"\xff"])
def test_malformed_json_is_an_invalid_argument(line: bytes) -> None:
    """Text that is not one JSON object raises InvalidArgument, not a decoder error."""
    with pytest.raises(InvalidArgument):
        decode_line(line)


def test_decode_events_reads_arrays_and_lines() -> None:
    """decode_events takes a JSON array or JSON Lines, ignoring blank lines."""
    events = [_log(1), _log(2, actor="b")]
    lines = b"\n" + b"".join(encode_line(e) for e in events) + b"\n\n"
    array = json.dumps([event_to_json(e) for e in events]).encode()
    assert decode_events(lines) == events == decode_events(array)
    assert decode_events(array.decode()) == events


def test_decode_events_names_the_bad_element_or_line() -> None:
    """A bad array element names its position; a bad line its line number."""
    with pytest.raises(InvalidArgument, match="event 2: actor"):
        decode_events(b'[{"actor": "a"}, {"actor": 1}]')
    with pytest.raises(BadRecord, match="line 3") as caught:
        decode_events(b'{"actor": "a"}\n\n{"actor": 1}\n')
    assert caught.value.line == 3


# -- export ------------------------------------------------------------------------


def test_export_is_oldest_first_across_page_boundaries(memory: Engine) -> None:
    """Events come out by (timestamp, id), also when many share a timestamp."""
    stamps = [5, 3, 3, 3, 3, 1, 3, 9]
    memory.insert_events([_log(timestamp=t, actor=f"a{n}") for n, t in enumerate(stamps)])
    for page_size in (1, 2, 3, 100):
        got = [(e.timestamp, e.id) for e in iter_events(memory, page_size=page_size)]
        assert got == sorted((t, n + 1) for n, t in enumerate(stamps))


def test_export_limits_to_a_time_range(memory: Engine) -> None:
    """A time range exports only the events inside it (bounds inclusive, 0 open)."""
    memory.insert_events([_log(timestamp=t, actor=f"a{t}") for t in (10, 20, 30, 40)])
    assert [e.timestamp for e in iter_events(memory, time_range=TimeRange(20, 30))] == [20, 30]
    assert [e.timestamp for e in iter_events(memory, time_range=TimeRange(25, 0))] == [30, 40]
    assert [e.timestamp for e in iter_events(memory, time_range=TimeRange(0, 10))] == [10]


def test_export_counts_and_writes_one_line_per_event(engine: Engine) -> None:
    """export_events returns the number of lines written, on a file-backed log too."""
    engine.insert_events([_log(timestamp=t, actor=f"a{t}") for t in range(1, 2502)])
    out = io.BytesIO()
    assert export_events(engine, out, page_size=1000) == 2501
    lines = out.getvalue().splitlines()
    assert len(lines) == 2501
    assert [decode_line(line).timestamp for line in lines] == list(range(1, 2502))


def test_export_is_a_snapshot_while_others_write(engine: Engine) -> None:
    """Events inserted during an export do not appear in it (one read transaction)."""
    engine.insert_events([_log(timestamp=t, actor=f"a{t}") for t in range(1, 6)])
    seen = []
    for event in iter_events(engine, page_size=2):
        seen.append(event.timestamp)
        if event.timestamp == 1:
            engine.insert_events([_log(timestamp=3, actor="late"), _log(timestamp=99)])
    assert seen == [1, 2, 3, 4, 5]
    assert len(list(iter_events(engine))) == 7


def test_empty_log_exports_nothing(memory: Engine) -> None:
    """An empty log exports zero events and writes nothing."""
    assert _export(memory) == b""


# -- round trips ---------------------------------------------------------------------


@pytest.mark.slow
@given(st.lists(loggable_event(), min_size=1, max_size=8))
def test_export_then_import_into_a_fresh_log_is_lossless(events: list[Event]) -> None:
    """Every field survives, uids, nodes, payloads and moved current_uri included."""
    with Engine.open(":memory:") as source, Engine.open(":memory:") as target:
        for event in events:  # one by one, so each MoveEvent rewrites what came before
            source.insert_events([event])
        exported = _export(source)
        original = list(iter_events(source))
        report = import_events(target, exported.splitlines(), skip_bad=False, keep_ids=False)
        assert report == ImportReport(read=len(original), imported=len(original), already_present=0)
        copied = list(iter_events(target))
        assert [e.with_changes(id=0) for e in copied] == [e.with_changes(id=0) for e in original]
        # Importing the same export again changes nothing.
        seq = target.last_seq()
        again = import_events(target, exported.splitlines())
        assert (again.imported, again.already_present) == (0, len(original))
        assert target.last_seq() == seq


@pytest.mark.slow
@given(st.lists(loggable_event(), min_size=1, max_size=8))
def test_export_import_with_kept_ids_reproduces_the_log(events: list[Event]) -> None:
    """With keep_ids the copy is identical, local ids included, and exports the same bytes."""
    with Engine.open(":memory:") as source, Engine.open(":memory:") as target:
        for event in events:
            source.insert_events([event])
        exported = _export(source)
        import_events(target, io.BytesIO(exported), keep_ids=True)
        assert list(iter_events(target)) == list(iter_events(source))
        assert _export(target) == exported


def test_reimport_into_the_same_log_is_a_no_op(engine: Engine) -> None:
    """An export imported into the log it came from stores nothing and adds no changes."""
    engine.insert_events([_log(timestamp=t, actor=f"a{t}", payload=b"p") for t in range(1, 11)])
    exported = _export(engine)
    seq = engine.last_seq()
    for keep_ids in (False, True):
        report = import_events(engine, exported.splitlines(), keep_ids=keep_ids)
        assert report == ImportReport(read=10, imported=0, already_present=10)
    assert engine.last_seq() == seq
    assert _export(engine) == exported


def test_current_uri_after_a_move_survives_the_round_trip(memory: Engine) -> None:
    """An event whose subject moved later keeps its rewritten current_uri in the copy."""
    memory.insert_events([_log(subjects=(Subject(uri="file:///a", origin="file:///"),))])
    moved = Subject(
        uri="file:///a", origin="file:///", current_uri="file:///b", current_origin="file:///"
    )
    memory.insert_events([_log(timestamp=2_000, interpretation=MOVE_EVENT, subjects=(moved,))])
    with Engine.open(":memory:") as copy:
        import_events(copy, _export(memory).splitlines())
        [first, _] = list(iter_events(copy))
    assert first.subjects[0].uri == "file:///a"
    assert first.subjects[0].current_uri == "file:///b"


def test_empty_current_origin_after_a_move_survives_the_round_trip(memory: Engine) -> None:
    """current_origin "" (set by a MoveEvent without origins) is exported and imported as ""."""
    memory.insert_events([_log(subjects=(Subject(uri="file:///a", origin="file:///"),))])
    moved = Subject(uri="file:///a", current_uri="file:///b")
    memory.insert_events([_log(timestamp=2_000, interpretation=MOVE_EVENT, subjects=(moved,))])
    original = list(iter_events(memory))
    assert original[0].subjects[0].current_origin == ""
    with Engine.open(":memory:") as copy:
        import_events(copy, _export(memory).splitlines(), keep_ids=True)
        assert list(iter_events(copy)) == original


# -- bad input on import --------------------------------------------------------------


def _lines(*events: Event) -> list[bytes]:
    return [encode_line(event) for event in events]


def test_a_malformed_line_names_its_number_and_imports_nothing(memory: Engine) -> None:
    """One bad line anywhere: BadRecord with its line number, and the log stays empty."""
    lines = _lines(*[_log(timestamp=t, actor=f"a{t}") for t in range(1, 8)])
    lines.insert(5, b'{"timestamp": "soon"}\n')
    with pytest.raises(BadRecord, match=r"line 6: timestamp") as caught:
        import_events(memory, lines, batch_size=2)
    assert caught.value.line == 6
    assert memory.last_seq() == 0


def test_an_incomplete_event_is_a_bad_line(memory: Engine) -> None:
    """A line the engine would refuse (no actor, duplicate subject URIs) is caught up front."""
    good = _lines(_log())
    no_actor = _lines(_log(actor=""))
    twins = _lines(_log(subjects=(Subject(uri="file:///x"), Subject(uri="file:///x"))))
    for bad in (no_actor, twins):
        with pytest.raises(BadRecord, match="line 2"):
            import_events(memory, good + bad)
    assert memory.last_seq() == 0


def test_skip_bad_imports_the_rest_and_counts_the_skipped(memory: Engine) -> None:
    """With skip_bad, bad lines are left out, counted, and their reasons kept."""
    lines = [
        *_lines(_log(timestamp=1)),
        b"garbage\n",
        b"\n",
        *_lines(_log(timestamp=2)),
        b'{"actor": "a", "extra": true}\n',
    ]
    report = import_events(memory, lines, skip_bad=True)
    assert (report.read, report.imported, report.skipped) == (2, 2, 2)
    assert [n for n, _ in report.problems] == [2, 5]
    assert "extra" in report.problems[1][1]
    assert [e.timestamp for e in iter_events(memory)] == [1, 2]


def test_keep_ids_refuses_an_id_taken_by_another_event(memory: Engine) -> None:
    """An id used by a different event in the log or earlier in the file is a bad line."""
    memory.insert_events([_log(timestamp=1)])
    with pytest.raises(BadRecord, match="line 1: id: event id 1 is already used"):
        import_events(memory, _lines(_log(1, timestamp=2)), keep_ids=True)
    twice = _lines(_log(5, timestamp=3), _log(5, timestamp=4))
    with pytest.raises(BadRecord, match="line 2: id: event id 5 is also used on line 1"):
        import_events(memory, twice, keep_ids=True)
    report = import_events(memory, twice, keep_ids=True, skip_bad=True)
    assert (report.imported, report.skipped) == (1, 1)
    assert memory.get_events([5])[0] is not None


def test_without_keep_ids_taken_ids_get_new_ones(memory: Engine) -> None:
    """Ids in the file are ignored unless keep_ids is given."""
    memory.insert_events([_log(timestamp=1)])
    report = import_events(memory, _lines(_log(1, timestamp=2)))
    assert report.imported == 1
    assert [e.id for e in iter_events(memory)] == [1, 2]


def test_import_reports_progress_per_batch(memory: Engine) -> None:
    """progress(done, total) starts at 0 and ends at the total."""
    calls: list[tuple[int, int]] = []
    lines = _lines(*[_log(timestamp=t, actor=f"a{t}") for t in range(5)])
    import_events(memory, lines, batch_size=2, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(0, 5), (2, 5), (4, 5), (5, 5)]


def test_bad_batch_size_is_refused(memory: Engine) -> None:
    """A batch size below 1 is an InvalidArgument."""
    with pytest.raises(InvalidArgument, match="batch size"):
        import_events(memory, [], batch_size=0)
