"""The wire codec and the monitor registry: pure functions, no bus."""

from __future__ import annotations

import json
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.zeitgeist_reference import SYSTEM_PYTHON
from zeitbus import Event, Subject, TooManyResults
from zeitbus.dbus.codec import (
    _c_integer,
    event_from_wire,
    event_to_wire,
    events_from_wire,
    events_to_insert,
    events_to_wire,
    parse_id,
    parse_timestamp,
    size_of,
    templates_from_wire,
)
from zeitbus.dbus.errors import InvalidSignature
from zeitbus.dbus.monitors import MonitorRegistry, intersect
from zeitbus.errors import ZeitbusError
from zeitbus.model import INT64_MAX, INT64_MIN
from zeitbus.ontology import MOVE_EVENT
from zeitbus.validation import prepare

text = st.text(max_size=20)
subjects = st.builds(
    Subject,
    uri=text,
    interpretation=text,
    manifestation=text,
    origin=text,
    mimetype=text,
    text=text,
    storage=text,
    current_uri=text,
    current_origin=text,
)
events = st.builds(
    Event,
    id=st.integers(0, 2**32 - 1),
    timestamp=st.one_of(st.none(), st.integers(1, INT64_MAX)),
    interpretation=text,
    manifestation=text,
    actor=text,
    origin=text,
    subjects=st.lists(subjects, max_size=3).map(tuple),
    payload=st.binary(max_size=40),
)


@given(events)
def test_events_round_trip(event: Event) -> None:
    """Encoding then decoding gives the event back."""
    assert event_from_wire(event_to_wire(event)) == event


@pytest.mark.parametrize(
    ("field", "expected"),
    [("", 0), ("12", 12), ("0x10", 16), ("010", 8), ("abc", 0), ("7abc", 7), (" 5", 5)],
)
def test_ids_parse_like_strtoull_base_0(field: str, expected: int) -> None:
    """Ids are read as upstream's ``uint64.parse`` reads them."""
    assert parse_id(field) == expected


def test_ids_wrap_to_32_bits_and_timestamps_saturate() -> None:
    """Ids are truncated to uint32; timestamps saturate at the int64 bounds."""
    assert parse_id(str(2**32 + 3)) == 3
    assert parse_id("-1") == 2**32 - 1
    assert parse_id("9" * 30) == 2**32 - 1
    assert parse_timestamp("9" * 30) == INT64_MAX
    assert parse_timestamp("-" + "9" * 30) == INT64_MIN
    assert parse_timestamp("-5") == -5


def test_short_and_null_structs() -> None:
    """0 fields is NULL; 5 event fields and 7 subject fields are enough; fewer is refused."""
    assert event_from_wire([[], [], b""]) is None
    assert templates_from_wire([[[], [], b""]]) == [Event()]
    event = event_from_wire([["", "", "i", "m", "a"], [["u", "", "", "", "", "", ""]], b"\x00"])
    assert event == Event(
        interpretation="i",
        manifestation="m",
        actor="a",
        subjects=(Subject(uri="u"),),
        payload=b"\x00",
    )
    with pytest.raises(InvalidSignature, match="Missing event information"):
        event_from_wire([["", "", "i", "m"], [], b""])
    with pytest.raises(InvalidSignature, match="Missing subject information"):
        event_from_wire([["", "", "i", "m", "a"], [["u"] * 6], b""])


# Wire structs that mostly pass prepare's checks, so that what it fills in is
# compared, with values that steer its branches: empty (filled in or refused),
# MoveEvent, URIs of schemes with a manifestation or a network storage, and
# mimetypes with an interpretation; sometimes too few fields.
uris = st.sampled_from(["", "file:///a", "file:///b", "http://x/", "smb://h/s", "x"])
origins = st.sampled_from(["", "file:///", "o"])
wire_subject = st.tuples(
    uris,
    st.sampled_from(["", "si"]),
    st.sampled_from(["", "sm"]),
    origins,
    st.sampled_from(["", "text/plain", "image/png", "q/q"]),
    st.sampled_from(["", "t"]),
    st.sampled_from(["", "st", "net"]),
    uris,
    origins,
).flatmap(
    lambda values: st.sampled_from(
        [
            list(values),
            [*values[:7], values[0], values[3]],  # current_uri, current_origin as set
            [*values[:7], values[0], values[3]],
            [*values[:7], values[0], values[3]],
            list(values[:7]),
            list(values[:8]),
            list(values[:6]),  # too few
            [*values, "extra"],
        ]
    )
)
wire_fields = st.tuples(
    st.sampled_from(["", "", "", "7"]),
    st.sampled_from(["", "5", "5", "010"]),
    st.sampled_from(["i", "i", MOVE_EVENT, ""]),
    st.sampled_from(["m", "m", "m", ""]),
    st.sampled_from(["a", "a", "a", ""]),
    origins,
).flatmap(lambda f: st.sampled_from([list(f), list(f), list(f[:5]), [*f, "x"], list(f[:4]), []]))
wire_batches = st.lists(
    st.tuples(wire_fields, st.lists(wire_subject, max_size=2), st.binary(max_size=3)).map(list),
    min_size=1,
    max_size=2,
)


def _prepared(decode: object, batch: list[object]) -> object:
    """The prepared batch, or the error's type and message (decoding or preparing)."""
    try:
        return [
            None if event is None else prepare(event, lambda: 42)
            for event in decode(batch)  # type: ignore[operator]
        ]
    except (ZeitbusError, ValueError) as error:
        return type(error), str(error)


@settings(max_examples=500)
@given(wire_batches)
def test_events_to_insert_prepare_as_events_from_wire(batch: list[object]) -> None:
    """InsertEvents' early-completed batch prepares to the same events, or fails alike."""
    assert _prepared(events_to_insert, batch) == _prepared(events_from_wire, batch)


@given(events)
def test_prepare_keeps_what_it_would_copy(event: Event) -> None:
    """Preparing a prepared event changes nothing; a subject with nothing empty is kept."""
    try:
        prepared = prepare(event, lambda: 42)
    except ZeitbusError:
        return
    again = prepare(prepared, lambda: 7)
    assert again == prepared
    for new, old in zip(again.subjects, prepared.subjects, strict=True):
        assert new is old or "" in old.values()


@given(st.one_of(st.from_regex(r"\A[0-9]{1,25}\Z"), st.text(max_size=25)))
def test_timestamps_parse_like_strtoll_base_0(field: str) -> None:
    """The decimal shortcut reads a timestamp as the general strtoll reading does."""
    negative, value = _c_integer(field)
    expected = max(INT64_MIN, min(INT64_MAX, -value if negative else value))
    assert parse_timestamp(field) == expected


def test_null_event_and_zero_fields_encode_as_upstream() -> None:
    """None is ([], [], []); id 0 and timestamp 0 are written as empty strings."""
    assert event_to_wire(None) == [[], [], b""]
    assert event_to_wire(Event(timestamp=0))[0][:2] == ["", ""]


def test_size_matches_glib_gvariant() -> None:
    """``size_of`` is GLib's serialized size of the (asaasay) variant, small and large."""
    samples = [
        None,
        Event(id=1, timestamp=5, actor="a"),
        Event(
            id=70000,
            timestamp=1_700_000_000_000,
            interpretation="x" * 300,
            actor="é" * 50,
            subjects=tuple(Subject(uri=f"file:///{n}" * 30, text="t") for n in range(4)),
            payload=b"\xff" * 70000,
        ),
    ]
    wires = [event_to_wire(event) for event in samples]
    script = (
        "import json, sys\n"
        "from gi.repository import GLib\n"
        "for f, s, p in json.load(sys.stdin):\n"
        "    v = GLib.Variant('(asaasay)', (f, s, bytes.fromhex(p)))\n"
        "    print(v.get_size())\n"
    )
    data = json.dumps([[f, s, p.hex()] for f, s, p in wires])
    out = subprocess.run(
        [str(SYSTEM_PYTHON), "-I", "-c", script],
        input=data,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    assert [size_of(wire) for wire in wires] == [int(n) for n in out]


def test_replies_over_the_limit_are_too_many_results() -> None:
    """The cap counts serialized sizes and names roughly how many events would fit."""
    event = Event(id=1, timestamp=1, payload=b"x" * 1000)
    assert len(events_to_wire([event] * 3, limit=3100)) == 3
    with pytest.raises(TooManyResults, match=r"roughly ~2 events"):
        events_to_wire([event] * 3, limit=3000)


def test_intersect_is_literal() -> None:
    """Ranges meet inclusively; 0 is a timestamp like any other here."""
    assert intersect((10, 20), (15, 30)) == (15, 20)
    assert intersect((10, 20), (20, 30)) == (20, 20)
    assert intersect((10, 20), (21, 30)) is None
    assert intersect((5, 5), (0, 0)) is None


def test_registry_install_remove_and_owners() -> None:
    """(owner, path) is the key; a second install is refused; owners take theirs along."""
    registry = MonitorRegistry()
    assert registry.install(":1.1", "/m/1", (0, 10), [])
    assert not registry.install(":1.1", "/m/1", (0, 99), [])
    assert registry.install(":1.1", "/m/2", (0, 10), [])
    assert registry.install(":1.2", "/m/1", (0, 10), [])
    assert registry.remove(":1.2", "/m/1")
    assert not registry.remove(":1.2", "/m/1")
    assert registry.remove_owner(":1.1") == 2
    assert len(registry) == 0


def test_registry_picks_matching_events_and_ranges() -> None:
    """Inserts: matching events in the intersection; deletes: every monitor in range."""
    registry = MonitorRegistry()
    registry.install(":1.1", "/all", (0, INT64_MAX), [])
    registry.install(":1.1", "/vim", (150, 400), [Event(actor="application://vim*")])
    registry.install(":1.1", "/late", (1000, 2000), [])
    batch = [
        Event(id=1, timestamp=100, actor="application://vim.desktop"),
        Event(id=2, timestamp=200, actor="application://vim.desktop"),
        Event(id=3, timestamp=300, actor="application://gedit.desktop"),
    ]
    told = {
        n.monitor.path: (n.time_range, [e.id for e in n.events]) for n in registry.for_insert(batch)
    }
    assert told == {"/all": ((100, 300), [1, 2, 3]), "/vim": ((150, 300), [2])}
    deletes = {
        n.monitor.path: (n.time_range, n.ids) for n in registry.for_delete((100, 300), [1, 9])
    }
    assert deletes == {"/all": ((100, 300), (1, 9)), "/vim": ((150, 300), (1, 9))}
