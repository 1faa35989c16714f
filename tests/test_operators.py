"""Every cell of Zeitgeist's operator-by-field table (docs/ZEITGEIST.md §2.5), and the rest
of the template semantics of FindEventIds: subject templates ANDed on one row, templates
ORed, the empty-template quirk, event ids, unknown values, NULL columns, time ranges and
storage states.

Every expectation here was checked against the reference daemon (Debian's zeitgeist-core
1.0.4) with the same fixture, inserted into a fresh log. The fixture is built so that each
operator is observable: values that literally contain ``*``, ``+`` and ``!`` show where
Zeitgeist matches literally, and an event whose string fields hold ontology symbols shows
where it does not expand the hierarchy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from zeitbus import Engine, Event, InvalidArgument, ResultType, Subject, TimeRange
from zeitbus.model import INT64_MAX
from zeitbus.ontology import (
    ACCESS_EVENT,
    DATA_OBJECT,
    EVENT_INTERPRETATION,
    FILE_DATA_OBJECT,
    INFORMATION_ELEMENT,
    MOVE_EVENT,
    NFO,
    REMOTE_DATA_OBJECT,
    USER_ACTIVITY,
    WEB_DATA_OBJECT,
    ZG,
)

MODIFY_EVENT = ZG + "ModifyEvent"
CREATE_EVENT = ZG + "CreateEvent"
SEND_EVENT = ZG + "SendEvent"
EVENT_MANIFESTATION = ZG + "EventManifestation"
HEURISTIC_ACTIVITY = ZG + "HeuristicActivity"
SYSTEM_NOTIFICATION = ZG + "SystemNotification"
DOCUMENT = NFO + "Document"
TEXT_DOCUMENT = NFO + "TextDocument"
HTML_DOCUMENT = NFO + "HtmlDocument"
PAGINATED_TEXT_DOCUMENT = NFO + "PaginatedTextDocument"
SPREADSHEET = NFO + "Spreadsheet"
RASTER_IMAGE = NFO + "RasterImage"

FIREFOX = "application://firefox.desktop"
HOME = "file:///home/user"
NOTES = HOME + "/notes.txt"
MOVED_NOTES = HOME + "/docs/notes.txt"
ODS = "application/vnd.oasis.opendocument.spreadsheet"

INVALID_ARGUMENT = "org.gnome.zeitgeist.EngineError.InvalidArgument"

# The fixture, inserted in this order into a fresh log: ids 1..8, timestamps 1000..8000.
FIXTURE: dict[str, Event] = {
    "web": Event(
        timestamp=1000,
        interpretation=ACCESS_EVENT,
        manifestation=USER_ACTIVITY,
        actor=FIREFOX,
        subjects=(
            Subject(
                uri="https://example.com/page",
                interpretation=HTML_DOCUMENT,
                manifestation=WEB_DATA_OBJECT,
                origin="https://example.com/",
                mimetype="text/html",
                text="Example page",
            ),
        ),
    ),
    "notes": Event(
        timestamp=2000,
        interpretation=MODIFY_EVENT,
        manifestation=USER_ACTIVITY,
        actor="application://gedit.desktop",
        origin=HOME,
        subjects=(
            Subject(
                uri=NOTES,
                interpretation=TEXT_DOCUMENT,
                manifestation=FILE_DATA_OBJECT,
                origin=HOME,
                mimetype="text/plain",
                text="notes",
            ),
        ),
    ),
    "sheet": Event(
        timestamp=3000,
        interpretation=CREATE_EVENT,
        manifestation=HEURISTIC_ACTIVITY,
        actor="application://libreoffice-calc.desktop",
        subjects=(
            Subject(
                uri=HOME + "/budget.ods",
                interpretation=SPREADSHEET,
                manifestation=FILE_DATA_OBJECT,
                origin=HOME,
                mimetype=ODS,
            ),
            Subject(
                uri=HOME + "/pics/logo.png",
                interpretation=RASTER_IMAGE,
                manifestation=FILE_DATA_OBJECT,
                origin=HOME + "/pics",
                mimetype="image/png",
            ),
        ),
    ),
    # Moves notes.txt: from now on event "notes" has current_uri MOVED_NOTES too.
    "move": Event(
        timestamp=4000,
        interpretation=MOVE_EVENT,
        manifestation=USER_ACTIVITY,
        actor="application://nautilus.desktop",
        subjects=(
            Subject(
                uri=NOTES,
                current_uri=MOVED_NOTES,
                interpretation=TEXT_DOCUMENT,
                manifestation=FILE_DATA_OBJECT,
                origin=HOME,
                current_origin=HOME + "/docs",
                mimetype="text/plain",
            ),
        ),
    ),
    # A subject with nothing but a URI (and the storage "net" the daemon fills in).
    "mail": Event(
        timestamp=5000,
        interpretation=SEND_EVENT,
        manifestation=SYSTEM_NOTIFICATION,
        actor="application://evolution.desktop",
        origin="mailto:me@example.com",
        subjects=(Subject(uri="mailto:bob@example.com"),),
    ),
    "remote": Event(
        timestamp=6000,
        interpretation=ACCESS_EVENT,
        manifestation=USER_ACTIVITY,
        actor="application://filezilla.desktop",
        origin="sftp://server/",
        subjects=(
            Subject(
                uri="sftp://server/report.pdf",
                interpretation=PAGINATED_TEXT_DOCUMENT,
                manifestation=REMOTE_DATA_OBJECT,
                origin="sftp://server/",
                mimetype="application/pdf",
                text="!bang +plus star*",
            ),
        ),
    ),
    # Values that literally contain the operator characters.
    "literal": Event(
        timestamp=7000,
        interpretation=ACCESS_EVENT,
        manifestation=ZG + "User*",
        actor="+application://plus.desktop",
        origin="+origin:plus",
        subjects=(
            Subject(
                uri="+file:///tmp/plus",
                interpretation=NFO + "Text*",
                origin="+file:///tmp",
                mimetype="+text/plain",
                text="+text",
                storage="+unknown",
            ),
        ),
    ),
    # Ontology symbols in fields that have no hierarchy.
    "symbolic": Event(
        timestamp=8000,
        interpretation=ACCESS_EVENT,
        manifestation=USER_ACTIVITY,
        actor=SPREADSHEET,
        origin=SPREADSHEET,
        subjects=(
            Subject(
                uri=SPREADSHEET,
                interpretation=SPREADSHEET,
                manifestation=WEB_DATA_OBJECT,
                origin=SPREADSHEET,
                mimetype=SPREADSHEET,
                text=SPREADSHEET,
                storage=SPREADSHEET,
            ),
        ),
    ),
}
NAMES = tuple(FIXTURE)
ALL = NAMES
NONE: tuple[str, ...] = ()


def _but(*excluded: str) -> tuple[str, ...]:
    return tuple(name for name in NAMES if name not in excluded)


class Log:
    """The fixture in a fresh engine, with finds answered by event name."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        ids = engine.insert_events(list(FIXTURE.values()))
        assert ids == list(range(1, len(FIXTURE) + 1))
        self.names = dict(zip(ids, NAMES, strict=True))

    def find(
        self,
        templates: Sequence[Event] = (),
        time_range: TimeRange | None = None,
        storage_state: int = 2,
    ) -> list[str]:
        """Names of the matching events, oldest first."""
        ids = self.engine.find_event_ids(
            time_range or TimeRange.always(),
            templates,
            storage_state,
            0,
            ResultType.LEAST_RECENT_EVENTS,
        )
        return [self.names[i] for i in ids]


@pytest.fixture
def log(engine: Engine) -> Log:
    """The operator fixture in a fresh log."""
    return Log(engine)


_EVENT_FIELDS = {
    "event interpretation": "interpretation",
    "event manifestation": "manifestation",
    "actor": "actor",
    "event origin": "origin",
}
_SUBJECT_FIELDS = {
    "subject uri": "uri",
    "current_uri": "current_uri",
    "subject origin": "origin",
    "current_origin": "current_origin",
    "subject interpretation": "interpretation",
    "subject manifestation": "manifestation",
    "mimetype": "mimetype",
    "text": "text",
    "storage": "storage",
}


def template(field: str, value: str) -> Event:
    """A template with one field set, named as in the §2.5 table."""
    if field in _EVENT_FIELDS:
        return Event().with_changes(**{_EVENT_FIELDS[field]: value})
    return Event(subjects=(Subject().with_changes(**{_SUBJECT_FIELDS[field]: value}),))


@dataclass(frozen=True)
class Rejected:
    """The answer "InvalidArgument with this message"."""

    message: str


def _no_prefix(field: str) -> Rejected:
    return Rejected(f"Field '{field}' doesn't support prefix search")


Expected = tuple[str, ...] | Rejected

# field -> [(operator column, template value, expected event names or Rejected)]
TABLE: dict[str, list[tuple[str, str, Expected]]] = {
    "event interpretation": [
        ("exact", ACCESS_EVENT, ("web", "remote", "literal", "symbolic")),
        ("negation", "!" + ACCESS_EVENT, ("notes", "sheet", "move", "mail")),
        ("prefix", ZG + "Access*", _no_prefix("interpretation")),
        ("noexpand", "+" + EVENT_INTERPRETATION, NONE),  # the parent alone: no event has it
        ("noexpand", "+" + ACCESS_EVENT, ("web", "remote", "literal", "symbolic")),
        ("noexpand", "!+" + EVENT_INTERPRETATION, ALL),
        ("hierarchy", EVENT_INTERPRETATION, ALL),
        ("hierarchy", INFORMATION_ELEMENT, ALL),  # the root of the tree: every symbol
    ],
    "event manifestation": [
        ("exact", USER_ACTIVITY, ("web", "notes", "move", "remote", "symbolic")),
        ("negation", "!" + USER_ACTIVITY, ("sheet", "mail", "literal")),
        # Not rejected: upstream tests the *interpretation* for a "*". Matched literally.
        ("prefix", ZG + "User*", ("literal",)),
        ("noexpand", "+" + EVENT_MANIFESTATION, NONE),
        ("noexpand", "+" + USER_ACTIVITY, ("web", "notes", "move", "remote", "symbolic")),
        ("hierarchy", EVENT_MANIFESTATION, _but("literal")),
        ("hierarchy", DATA_OBJECT, _but("literal")),
    ],
    "actor": [
        ("exact", FIREFOX, ("web",)),
        ("negation", "!" + FIREFOX, _but("web")),
        ("prefix", "application://f*", ("web", "remote")),
        ("prefix", "!application://f*", _but("web", "remote")),
        ("noexpand", "+application://plus.desktop", ("literal",)),  # "+" is literal
        ("hierarchy", DOCUMENT, NONE),  # the actor Spreadsheet is not a "child"
        ("hierarchy", SPREADSHEET, ("symbolic",)),
    ],
    "event origin": [
        ("exact", HOME, ("notes",)),
        ("exact", "file:///home", NONE),  # exact is not a prefix
        ("negation", "!" + HOME, ("mail", "remote", "literal", "symbolic")),  # NULLs excluded
        ("prefix", "file:*", ("notes",)),
        ("prefix", "!file:*", _but("notes")),  # NULLs included
        ("prefix", "*", ("notes", "mail", "remote", "literal", "symbolic")),  # any origin
        ("prefix", "!*", ("web", "sheet", "move")),  # no origin
        ("noexpand", "+origin:plus", ("literal",)),
        ("hierarchy", DOCUMENT, NONE),
        ("hierarchy", SPREADSHEET, ("symbolic",)),
    ],
    "subject uri": [
        ("exact", NOTES, ("notes", "move")),
        ("exact", HOME, NONE),
        ("negation", "!" + NOTES, _but("notes", "move")),
        ("prefix", HOME + "/*", ("notes", "sheet", "move")),
        ("prefix", "!file:*", ("web", "mail", "remote", "literal", "symbolic")),
        ("noexpand", "+file:///tmp/plus", ("literal",)),
        ("hierarchy", DOCUMENT, NONE),
        ("hierarchy", SPREADSHEET, ("symbolic",)),
    ],
    "current_uri": [
        ("exact", MOVED_NOTES, ("notes", "move")),  # the move rewrote the earlier event
        ("exact", NOTES, NONE),  # ... so the old URI is nobody's current URI
        ("negation", "!" + MOVED_NOTES, _but("notes", "move")),
        ("prefix", HOME + "/docs/*", ("notes", "move")),
        ("prefix", "!file:*", ("web", "mail", "remote", "literal", "symbolic")),
        ("noexpand", "+file:///tmp/plus", ("literal",)),
        ("hierarchy", DOCUMENT, NONE),
        ("hierarchy", SPREADSHEET, ("symbolic",)),
    ],
    "subject origin": [
        ("exact", HOME, ("notes", "sheet", "move")),
        # Per subject row: "sheet" matches through logo.png; mail's NULL origin is excluded.
        ("negation", "!" + HOME, ("web", "sheet", "remote", "literal", "symbolic")),
        ("prefix", HOME + "/p*", ("sheet",)),
        ("prefix", "!file:*", ("web", "mail", "remote", "literal", "symbolic")),
        ("noexpand", "+file:///tmp", ("literal",)),  # upstream's check has swapped arguments
        ("hierarchy", DOCUMENT, NONE),
        ("hierarchy", SPREADSHEET, ("symbolic",)),
    ],
    "current_origin": [
        ("exact", HOME + "/docs", ("notes", "move")),
        ("exact", HOME, ("sheet",)),
        ("negation", "!" + HOME + "/docs", ("web", "sheet", "remote", "literal", "symbolic")),
        ("prefix", HOME + "/d*", ("notes", "move")),
        ("prefix", "!file:*", ("web", "mail", "remote", "literal", "symbolic")),
        ("noexpand", "+file:///tmp", ("literal",)),
        ("hierarchy", DOCUMENT, NONE),
        ("hierarchy", SPREADSHEET, ("symbolic",)),
    ],
    "subject interpretation": [
        ("exact", HTML_DOCUMENT, ("web",)),
        ("exact", RASTER_IMAGE, ("sheet",)),  # through the event's second subject
        ("negation", "!" + DOCUMENT, ("sheet", "literal")),  # descendants and NULLs excluded
        ("negation", "!" + RASTER_IMAGE, _but("mail")),
        ("negation", "!" + INFORMATION_ELEMENT, ("literal",)),  # "Text*" is no symbol
        # Not rejected: upstream tests the event interpretation for a "*". Matched literally.
        ("prefix", NFO + "Text*", ("literal",)),
        ("noexpand", "+" + TEXT_DOCUMENT, ("notes", "move")),
        ("noexpand", "+" + DOCUMENT, NONE),
        ("hierarchy", DOCUMENT, ("web", "notes", "sheet", "move", "remote", "symbolic")),
        ("hierarchy", INFORMATION_ELEMENT, _but("mail", "literal")),
        ("noexpand", "+" + INFORMATION_ELEMENT, NONE),
    ],
    "subject manifestation": [
        ("exact", WEB_DATA_OBJECT, ("web", "symbolic")),
        ("negation", "!" + FILE_DATA_OBJECT, ("web", "symbolic")),
        ("negation", "!+" + FILE_DATA_OBJECT, ("web", "remote", "symbolic")),
        ("prefix", NFO + "File*", _no_prefix("subject manifestation")),
        ("noexpand", "+" + FILE_DATA_OBJECT, ("notes", "sheet", "move")),
        ("hierarchy", FILE_DATA_OBJECT, ("notes", "sheet", "move", "remote")),
        ("hierarchy", DATA_OBJECT, _but("mail", "literal")),
    ],
    "mimetype": [
        ("exact", "text/plain", ("notes", "move")),
        ("exact", "text", NONE),
        ("negation", "!text/plain", ("web", "sheet", "remote", "literal", "symbolic")),
        ("prefix", "text/*", ("web", "notes", "move")),
        ("prefix", "!text/*", ("sheet", "mail", "remote", "literal", "symbolic")),
        ("prefix", "!*", ("mail",)),  # only the subject without a mimetype
        ("noexpand", "+text/plain", ("literal",)),
        ("hierarchy", DOCUMENT, NONE),
        ("hierarchy", SPREADSHEET, ("symbolic",)),
    ],
    "text": [  # exact only: "!", "*" and "+" are ordinary characters
        ("exact", "notes", ("notes",)),
        ("exact", "!bang +plus star*", ("remote",)),
        ("negation", "!notes", NONE),
        ("prefix", "Example*", NONE),
        ("noexpand", "+text", ("literal",)),
        ("hierarchy", DOCUMENT, NONE),
        ("hierarchy", SPREADSHEET, ("symbolic",)),
    ],
    "storage": [
        ("exact", "unknown", ("notes", "sheet", "move")),
        ("exact", "net", ("web", "mail", "remote")),
        ("negation", "!unknown", Rejected("Field 'subject storage' doesn't support negation")),
        ("prefix", "unk*", _no_prefix("subject storage")),
        ("noexpand", "+unknown", ("literal",)),  # upstream's check has swapped arguments
        ("hierarchy", DOCUMENT, NONE),
        ("hierarchy", SPREADSHEET, ("symbolic",)),
    ],
}
CELLS = [(field, *case) for field, cases in TABLE.items() for case in cases]


def _cell_id(field: str, column: str, value: str) -> str:
    return f"{field}|{column}|{value.rsplit('#', 1)[-1]}"


@pytest.mark.parametrize(
    ("field", "column", "value", "expected"), CELLS, ids=[_cell_id(*c[:3]) for c in CELLS]
)
def test_operator_on_field_behaves_as_in_zeitgeist(
    log: Log, field: str, column: str, value: str, expected: Expected
) -> None:
    """Each operator on each field matches, or is rejected, exactly as the reference does."""
    if isinstance(expected, Rejected):
        with pytest.raises(InvalidArgument) as raised:
            log.find([template(field, value)])
        assert raised.value.message == expected.message
        assert raised.value.dbus_name == INVALID_ARGUMENT
    else:
        assert log.find([template(field, value)]) == list(expected)


def test_table_has_a_case_for_every_field_and_operator() -> None:
    """The cases cover all 13 fields × 5 operator columns of the §2.5 table."""
    fields = {**_EVENT_FIELDS, **_SUBJECT_FIELDS}
    columns = {"exact", "negation", "prefix", "noexpand", "hierarchy"}
    covered = {(field, column) for field, column, *_ in CELLS}
    assert covered == {(f, c) for f in fields for c in columns}


# -- unknown values ---------------------------------------------------------------------------

UNKNOWN = "x-test://never-stored"

# Lookup-table fields map an unknown value to id -1: "= -1" matches nothing and "!= -1"
# every non-NULL value. URI, text and storage fields compare with a subquery that yields
# NULL for an unknown value, so neither the value nor its negation matches anything.
UNKNOWN_CELLS = [
    ("event interpretation", NONE, ALL),
    ("event manifestation", NONE, ALL),
    ("actor", NONE, ALL),
    ("subject interpretation", NONE, _but("mail")),
    ("subject manifestation", NONE, _but("mail", "literal")),
    ("mimetype", NONE, _but("mail")),
    ("event origin", NONE, NONE),
    ("subject uri", NONE, NONE),
    ("current_uri", NONE, NONE),
    ("subject origin", NONE, NONE),
    ("current_origin", NONE, NONE),
    ("text", NONE, NONE),
    ("storage", NONE, None),  # a negated storage is rejected before the value is looked up
]


@pytest.mark.parametrize(
    ("field", "plain", "negated"), UNKNOWN_CELLS, ids=[c[0] for c in UNKNOWN_CELLS]
)
def test_unknown_value_matches_like_zeitgeist(
    log: Log, field: str, plain: tuple[str, ...], negated: tuple[str, ...] | None
) -> None:
    """An unknown value matches nothing; its negation matches all non-NULL values or nothing."""
    assert log.find([template(field, UNKNOWN)]) == list(plain)
    if negated is None:
        with pytest.raises(InvalidArgument):
            log.find([template(field, "!" + UNKNOWN)])
    else:
        assert log.find([template(field, "!" + UNKNOWN)]) == list(negated)


URI_FIELDS = ["event origin", "subject uri", "current_uri", "subject origin", "current_origin"]


@pytest.mark.parametrize("field", URI_FIELDS)
def test_negated_uri_known_only_as_another_kind_of_value_matches_nothing(
    log: Log, field: str
) -> None:
    """A negated URI stored only as an actor or mimetype is unknown to Zeitgeist's uri table."""
    assert log.find([template(field, "!" + FIREFOX)]) == []
    assert log.find([template(field, "!text/plain")]) == []


def test_text_known_only_as_a_uri_matches_nothing(log: Log) -> None:
    """A text template equal to a stored URI matches no subject's text."""
    assert log.find([template("text", NOTES)]) == []


# -- subject templates, template lists ---------------------------------------------------------


def test_subject_templates_in_one_template_are_anded_on_the_same_subject(log: Log) -> None:
    """Two subject templates must both match one subject row, not one each."""
    budget = Subject(uri=HOME + "/budget.ods")
    assert log.find([Event(subjects=(budget, Subject(mimetype="image/png")))]) == []
    assert log.find([Event(subjects=(budget, Subject(mimetype=ODS)))]) == ["sheet"]
    two_uris = (budget, Subject(uri=HOME + "/pics/logo.png"))
    assert log.find([Event(subjects=two_uris)]) == []


def test_fields_of_one_subject_template_are_anded(log: Log) -> None:
    """Fields of one subject template must all hold on the same subject row."""
    mixed = Subject(uri=HOME + "/budget.ods", mimetype="image/png")
    assert log.find([Event(subjects=(mixed,))]) == []


def test_event_and_subject_fields_of_one_template_are_anded(log: Log) -> None:
    """Event fields and subject fields of one template must all hold."""
    found = log.find([Event(interpretation=ACCESS_EVENT, subjects=(Subject(mimetype="text/*"),))])
    assert found == ["web"]


def test_templates_in_a_list_are_ored(log: Log) -> None:
    """An event matches a list of templates if it matches any one of them."""
    templates = [template("actor", FIREFOX), template("mimetype", "text/plain")]
    assert log.find(templates) == ["web", "notes", "move"]


def test_empty_template_list_matches_everything(log: Log) -> None:
    """No templates at all means no condition."""
    assert log.find([]) == list(ALL)


@pytest.mark.parametrize(
    "empty",
    [Event(), Event(subjects=(Subject(),)), Event(timestamp=1000), Event(payload=b"x")],
    ids=["no-field", "empty-subject", "timestamp-only", "payload-only"],
)
def test_template_without_conditions_alone_matches_everything(log: Log, empty: Event) -> None:
    """A template that sets no field (its timestamp is ignored) matches every event."""
    assert log.find([empty]) == list(ALL)


@pytest.mark.parametrize(
    "empty",
    [Event(), Event(subjects=(Subject(),)), Event(timestamp=1000)],
    ids=["no-field", "empty-subject", "timestamp-only"],
)
def test_empty_template_in_a_list_adds_no_condition(log: Log, empty: Event) -> None:
    """An empty template ORed with others does not widen them (upstream WhereClause.extend)."""
    assert log.find([template("actor", FIREFOX), empty]) == ["web"]
    assert log.find([empty, template("actor", FIREFOX)]) == ["web"]


# -- event ids ---------------------------------------------------------------------------------


def test_template_id_matches_that_event_only(log: Log) -> None:
    """A template's id field matches the event with that id."""
    assert log.find([Event(id=2)]) == ["notes"]


def test_template_id_is_anded_with_the_other_fields(log: Log) -> None:
    """An id and another field must both hold."""
    assert log.find([Event(id=2, actor=FIREFOX)]) == []
    assert log.find([Event(id=3, subjects=(Subject(mimetype="image/png"),))]) == ["sheet"]


def test_templates_with_ids_are_ored(log: Log) -> None:
    """Several id templates select several events."""
    assert log.find([Event(id=3), Event(id=1)]) == ["web", "sheet"]


def test_template_with_an_unused_id_matches_nothing(log: Log) -> None:
    """An id that no event has matches nothing."""
    assert log.find([Event(id=999)]) == []


# -- time ranges ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0, 0, ALL),
        (0, INT64_MAX, ALL),
        (0, 3000, ("web", "notes", "sheet")),
        (3000, 0, ("sheet", "move", "mail", "remote", "literal", "symbolic")),
        (2000, 4000, ("notes", "sheet", "move")),
        (2001, 3999, ("sheet",)),
        (4001, 4999, NONE),
    ],
    ids=["zero-zero", "always", "open-start", "open-end", "inclusive", "inside", "empty"],
)
def test_time_range_bounds_are_inclusive_and_zero_is_open(
    log: Log, start: int, end: int, expected: tuple[str, ...]
) -> None:
    """A range keeps start <= timestamp <= end; a 0 bound leaves that side open."""
    assert log.find([], TimeRange(start, end)) == list(expected)


def test_time_range_is_anded_with_the_templates(log: Log) -> None:
    """The time range restricts what the templates match."""
    found = log.find([template("event interpretation", ACCESS_EVENT)], TimeRange(2000, 6000))
    assert found == ["remote"]


def test_template_timestamp_is_ignored(log: Log) -> None:
    """A template's own timestamp does not restrict the match."""
    assert log.find([Event(timestamp=1000, actor="application://gedit.desktop")]) == ["notes"]


# -- storage states ------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [0, 1, 2], ids=["not-available", "available", "any"])
def test_every_storage_state_matches_storages_of_unknown_state(log: Log, state: int) -> None:
    """On a fresh log no storage has a known state, so all three filters keep every event."""
    assert log.find([], storage_state=state) == list(ALL)


@pytest.mark.parametrize("state", [3, 7, 99])
def test_unknown_storage_state_is_invalid_argument(log: Log, state: int) -> None:
    """A storage state other than 0, 1, 2 raises InvalidArgument with Zeitgeist's message."""
    with pytest.raises(InvalidArgument) as raised:
        log.find([], storage_state=state)
    assert raised.value.message == f"Unknown storage state '{state}'"
    assert raised.value.dbus_name == INVALID_ARGUMENT


def test_storage_state_filter_drops_subjects_on_storage_in_the_other_state(log: Log) -> None:
    """With "net" known unavailable, Available drops its subjects and NotAvailable keeps them."""
    with log.engine.store.writing() as conn:
        # What the StorageMonitor records when a medium goes away (state 0).
        conn.execute(
            "UPDATE storage SET state = 0 WHERE id = (SELECT id FROM term WHERE value = 'net')"
        )
    assert log.find([], storage_state=1) == list(_but("web", "mail", "remote"))
    assert log.find([], storage_state=0) == list(ALL)
    assert log.find([], storage_state=2) == list(ALL)


# -- moves ---------------------------------------------------------------------------------------


def test_move_rewrites_current_uri_of_earlier_move_events_too(engine: Engine) -> None:
    """After moves a->b then b->c, both moves have current_uri c, as in the reference."""

    def move(ts: int, old: str, new: str) -> Event:
        return Event(
            timestamp=ts,
            interpretation=MOVE_EVENT,
            manifestation=USER_ACTIVITY,
            actor="application://nautilus.desktop",
            subjects=(Subject(uri=old, current_uri=new),),
        )

    ids = engine.insert_events([move(1000, "file:///a", "file:///b")])
    ids += engine.insert_events([move(2000, "file:///b", "file:///c")])
    found = engine.find_event_ids(
        TimeRange.always(), [template("current_uri", "file:///c")], 2, 0, 1
    )
    assert found == ids


def test_storage_state_combines_with_templates(log: Log) -> None:
    """Storage state and templates both apply (the reference fails with "no such column")."""
    # Zeitgeist 1.0.4 drops the storage filter's "needs event_view" flag when a template
    # without subqueries follows, and its SQL then names a column table "event" lacks.
    with log.engine.store.writing() as conn:
        conn.execute(
            "UPDATE storage SET state = 0 WHERE id = (SELECT id FROM term WHERE value = 'net')"
        )
    templates = [template("event interpretation", ACCESS_EVENT)]
    assert log.find(templates, storage_state=1) == ["literal", "symbolic"]
    assert log.find(templates, storage_state=0) == ["web", "remote", "literal", "symbolic"]
