"""The in-memory matcher: Zeitgeist's monitor and blacklist semantics (§2.5).

The table cases were checked against the reference daemon through its Blacklist extension
(a blacklisted event gets id 0): each case is a blacklist template and an inserted event.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zeitbus.matching import matches, matches_any
from zeitbus.model import Event, Subject
from zeitbus.ontology import (
    ACCESS_EVENT,
    DATA_OBJECT,
    EVENT_INTERPRETATION,
    FILE_DATA_OBJECT,
    INFORMATION_ELEMENT,
    NFO,
    USER_ACTIVITY,
    WEB_DATA_OBJECT,
    ZG,
    ontology,
)

MODIFY_EVENT = ZG + "ModifyEvent"
EVENT_MANIFESTATION = ZG + "EventManifestation"
DOCUMENT = NFO + "Document"
TEXT_DOCUMENT = NFO + "TextDocument"
HTML_DOCUMENT = NFO + "HtmlDocument"
IMAGE = NFO + "Image"
HOME = "file:///home/user"

# An event as the daemon hands it to monitors and the blacklist: auto-filled, two subjects.
EVENT = Event(
    id=7,
    timestamp=1000,
    interpretation=ACCESS_EVENT,
    manifestation=USER_ACTIVITY,
    actor="application://gedit.desktop",
    origin=HOME,
    subjects=(
        Subject(
            uri=HOME + "/a.txt",
            interpretation=TEXT_DOCUMENT,
            manifestation=FILE_DATA_OBJECT,
            origin=HOME,
            mimetype="text/plain",
            text="a",
            storage="unknown",
            current_uri=HOME + "/a.txt",
            current_origin=HOME,
        ),
        Subject(
            uri="https://example.com/page",
            interpretation=HTML_DOCUMENT,
            manifestation=WEB_DATA_OBJECT,
            origin="https://example.com/",
            mimetype="text/html",
            storage="net",
            current_uri="https://example.com/page",
            current_origin="https://example.com/",
        ),
    ),
)
# Fields left empty are NULL: no event origin, and a subject with nothing but its URI.
BARE = Event(
    id=8,
    timestamp=2000,
    interpretation=ACCESS_EVENT,
    manifestation=USER_ACTIVITY,
    actor="application://gedit.desktop",
    subjects=(Subject(uri="x-test:bare", storage="unknown", current_uri="x-test:bare"),),
)


def on_subject(**fields: str) -> Event:
    """A template with one subject template."""
    return Event(subjects=(Subject(**fields),))


# (case id, event, template, matches?)
CASES: list[tuple[str, Event, Event, bool]] = [
    ("empty-template", EVENT, Event(), True),
    # event interpretation: a symbol (equal, or the event's value descends from it)
    ("interpretation-equal", EVENT, Event(interpretation=ACCESS_EVENT), True),
    ("interpretation-other", EVENT, Event(interpretation=MODIFY_EVENT), False),
    ("interpretation-parent", EVENT, Event(interpretation=EVENT_INTERPRETATION), True),
    ("interpretation-root", EVENT, Event(interpretation=INFORMATION_ELEMENT), True),
    (
        "interpretation-child-of-event-value",
        EVENT.with_changes(interpretation=EVENT_INTERPRETATION),
        Event(interpretation=ACCESS_EVENT),
        False,
    ),
    ("interpretation-negated", EVENT, Event(interpretation="!" + ACCESS_EVENT), False),
    ("interpretation-negated-other", EVENT, Event(interpretation="!" + MODIFY_EVENT), True),
    (
        "interpretation-negated-parent",
        EVENT,
        Event(interpretation="!" + EVENT_INTERPRETATION),
        False,
    ),
    ("interpretation-plus-is-literal", EVENT, Event(interpretation="+" + ACCESS_EVENT), False),
    ("interpretation-star-is-literal", EVENT, Event(interpretation=ZG + "Access*"), False),
    (
        "interpretation-unknown-symbol-equal",
        EVENT.with_changes(interpretation="x-test:unknown"),
        Event(interpretation="x-test:unknown"),
        True,
    ),
    ("lone-negation-is-wildcard", EVENT, Event(interpretation="!"), True),
    # event manifestation
    ("manifestation-equal", EVENT, Event(manifestation=USER_ACTIVITY), True),
    ("manifestation-parent", EVENT, Event(manifestation=EVENT_MANIFESTATION), True),
    ("manifestation-root", EVENT, Event(manifestation=DATA_OBJECT), True),
    ("manifestation-negated-parent", EVENT, Event(manifestation="!" + EVENT_MANIFESTATION), False),
    # actor: equality or a trailing-* prefix
    ("actor-equal", EVENT, Event(actor="application://gedit.desktop"), True),
    ("actor-other", EVENT, Event(actor="application://firefox.desktop"), False),
    ("actor-prefix", EVENT, Event(actor="application://ged*"), True),
    ("actor-prefix-other", EVENT, Event(actor="application://fire*"), False),
    ("actor-negated-prefix", EVENT, Event(actor="!application://ged*"), False),
    ("actor-star-matches-any-value", EVENT, Event(actor="*"), True),
    ("actor-not-a-prefix-without-star", EVENT, Event(actor="application://"), False),
    (
        "actor-star-value-equal",
        EVENT.with_changes(actor="app*"),
        Event(actor="app*"),
        True,
    ),
    ("actor-plus-is-literal", EVENT, Event(actor="+application://gedit.desktop"), False),
    # event origin: NULL on BARE
    ("origin-equal", EVENT, Event(origin=HOME), True),
    ("origin-prefix", EVENT, Event(origin="file:*"), True),
    ("origin-star-does-not-match-null", BARE, Event(origin="*"), False),
    ("origin-negated-star-matches-null", BARE, Event(origin="!*"), True),
    ("origin-negated-star-on-a-value", EVENT, Event(origin="!*"), False),
    ("origin-negated-matches-null", BARE, Event(origin="!" + HOME), True),
    # subject uri; subjects are ORed
    ("uri-first-subject", EVENT, on_subject(uri=HOME + "/a.txt"), True),
    ("uri-second-subject", EVENT, on_subject(uri="https://example.com/page"), True),
    ("uri-prefix", EVENT, on_subject(uri="https://*"), True),
    ("uri-no-subject-has-it", EVENT, on_subject(uri="file:///nope"), False),
    ("uri-negated-prefix-other-subject", EVENT, on_subject(uri="!file:*"), True),
    ("uri-negated-prefix-every-subject", BARE, on_subject(uri="!x-test:*"), False),
    # current_uri and current_origin
    ("current-uri-prefix", EVENT, on_subject(current_uri=HOME + "/*"), True),
    ("current-uri-other", EVENT, on_subject(current_uri=HOME + "/b.txt"), False),
    ("current-origin-equal", EVENT, on_subject(current_origin="https://example.com/"), True),
    ("current-origin-negated-null", BARE, on_subject(current_origin="!" + HOME), True),
    # subject origin
    ("subject-origin-prefix", EVENT, on_subject(origin="https://example.*"), True),
    ("subject-origin-null", BARE, on_subject(origin="*"), False),
    # subject interpretation and manifestation: symbols, no "+" operator in memory
    ("subject-interpretation-ancestor", EVENT, on_subject(interpretation=DOCUMENT), True),
    ("subject-interpretation-root", EVENT, on_subject(interpretation=INFORMATION_ELEMENT), True),
    ("subject-interpretation-other", EVENT, on_subject(interpretation=IMAGE), False),
    (
        "subject-interpretation-plus-is-literal",
        EVENT,
        on_subject(interpretation="+" + TEXT_DOCUMENT),
        False,
    ),
    (
        "subject-interpretation-negated-null",
        BARE,
        on_subject(interpretation="!" + DOCUMENT),
        True,
    ),
    ("subject-manifestation-equal", EVENT, on_subject(manifestation=WEB_DATA_OBJECT), True),
    ("subject-manifestation-root", EVENT, on_subject(manifestation=DATA_OBJECT), True),
    ("subject-manifestation-null", BARE, on_subject(manifestation=FILE_DATA_OBJECT), False),
    # mimetype
    ("mimetype-equal", EVENT, on_subject(mimetype="text/html"), True),
    ("mimetype-prefix", EVENT, on_subject(mimetype="text/*"), True),
    ("mimetype-prefix-other", EVENT, on_subject(mimetype="image/*"), False),
    ("mimetype-negated-matches-null", BARE, on_subject(mimetype="!text/plain"), True),
    ("mimetype-star-does-not-match-null", BARE, on_subject(mimetype="*"), False),
    # not tested: text, storage, id, timestamp, payload
    ("text-is-not-tested", EVENT, on_subject(text="zzz"), True),
    ("storage-is-not-tested", EVENT, on_subject(storage="zzz"), True),
    ("id-is-not-tested", EVENT, Event(id=4242), True),
    ("timestamp-is-not-tested", EVENT, Event(timestamp=5), True),
    ("payload-is-not-tested", EVENT, Event(payload=b"zzz"), True),
    # subject templates: ORed with each other, fields of one ANDed
    (
        "subject-templates-are-ored",
        EVENT,
        Event(subjects=(Subject(uri="file:///nope"), Subject(mimetype="text/html"))),
        True,
    ),
    (
        "fields-of-one-subject-template-are-anded",
        EVENT,
        on_subject(uri=HOME + "/a.txt", mimetype="text/html"),
        False,
    ),
    (
        "event-and-subject-fields-are-anded",
        EVENT,
        Event(actor="application://firefox.desktop", subjects=(Subject(mimetype="text/html"),)),
        False,
    ),
    (
        "every-field-set",
        EVENT,
        Event(
            interpretation=EVENT_INTERPRETATION,
            manifestation=USER_ACTIVITY,
            actor="application://*",
            origin=HOME,
            subjects=(
                Subject(
                    uri="https://*",
                    interpretation=DOCUMENT,
                    manifestation=WEB_DATA_OBJECT,
                    origin="https://example.com/",
                    mimetype="text/html",
                    current_uri="https://example.com/page",
                    current_origin="https://*",
                    text="ignored",
                    storage="ignored",
                ),
            ),
        ),
        True,
    ),
]


@pytest.mark.parametrize(
    ("event", "template", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_template_matches_event_like_zeitgeist(
    event: Event, template: Event, expected: bool
) -> None:
    """Each case matches, or not, exactly as the reference daemon's blacklist decides."""
    assert matches(event, template) is expected


def test_template_with_subjects_never_matches_an_event_without_subjects() -> None:
    """Subject templates need at least one event subject to match."""
    assert not matches(EVENT.with_changes(subjects=()), on_subject(uri="*"))
    assert matches(EVENT.with_changes(subjects=()), Event(actor="application://*"))


def test_matches_any_needs_one_matching_template() -> None:
    """matches_any is an OR over the templates, and False for an empty list."""
    no, yes = Event(actor="application://firefox.desktop"), Event(actor="application://gedit*")
    assert matches_any(EVENT, [no, yes])
    assert matches_any(EVENT, [yes, no])
    assert not matches_any(EVENT, [no])
    assert not matches_any(EVENT, [])


def test_roots_are_ancestors_of_every_symbol_in_their_tree() -> None:
    """nie#InformationElement (nie#DataObject) is above every interpretation (manifestation)."""
    onto = ontology()
    for uri, symbol in onto.symbols.items():
        root = INFORMATION_ELEMENT if symbol.root == "Interpretation" else DATA_OBJECT
        if uri == root:
            continue
        assert root in onto.parents(uri)
        assert uri in onto.children(root)
    assert onto.parents("x-test:unknown") == frozenset()
    assert len(onto.children(INFORMATION_ELEMENT)) == 68
    assert len(onto.children(DATA_OBJECT)) == 22


# -- properties -------------------------------------------------------------------------------

SYMBOLS = sorted(ontology().symbols)
# Values as Zeitgeist can name them literally in a template: not starting with "!".
plain = st.text(alphabet="ab/:.*+!", min_size=1, max_size=6).filter(lambda v: v[0] != "!")
values = st.one_of(st.just(""), plain)
symbols = st.one_of(st.just(""), st.sampled_from(SYMBOLS), plain)

subjects = st.builds(
    Subject,
    uri=plain,
    interpretation=symbols,
    manifestation=symbols,
    origin=values,
    mimetype=values,
    text=values,
    storage=values,
    current_uri=plain,
    current_origin=values,
)
events = st.builds(
    Event,
    id=st.integers(0, 2**32 - 1),
    timestamp=st.integers(0, 2**40),
    interpretation=symbols,
    manifestation=symbols,
    actor=values,
    origin=values,
    subjects=st.lists(subjects, min_size=1, max_size=3).map(tuple),
)

EVENT_FIELDS = ("interpretation", "manifestation", "actor", "origin")
SUBJECT_FIELDS = (
    "uri",
    "interpretation",
    "manifestation",
    "origin",
    "mimetype",
    "current_uri",
    "current_origin",
)


@st.composite
def event_and_own_template(draw: st.DrawFn) -> tuple[Event, Event]:
    """An event and a template copying some of its fields (and of one of its subjects)."""
    event = draw(events)
    kept = draw(st.sets(st.sampled_from(EVENT_FIELDS)))
    template = Event(**{name: getattr(event, name) for name in kept})
    if draw(st.booleans()):
        subject = draw(st.sampled_from(event.subjects))
        subject_kept = draw(st.sets(st.sampled_from(SUBJECT_FIELDS)))
        copied = Subject(**{name: getattr(subject, name) for name in subject_kept})
        template = template.with_changes(subjects=(copied,))
    return event, template


@given(event_and_own_template())
def test_template_built_from_an_events_own_fields_matches_it(
    pair: tuple[Event, Event],
) -> None:
    """Copying any of an event's fields (and of one subject's) into a template matches it."""
    event, template = pair
    assert matches(event, template)


@given(st.data())
def test_negating_one_set_field_flips_the_result(data: st.DataObject) -> None:
    """On a one-subject event, "!" before one copied, non-empty field turns a match off."""
    event = data.draw(events.map(lambda e: e.with_changes(subjects=e.subjects[:1])))
    subject = event.subjects[0]
    candidates = [("event", name) for name in EVENT_FIELDS if getattr(event, name)]
    candidates += [("subject", name) for name in SUBJECT_FIELDS if getattr(subject, name)]
    where, name = data.draw(st.sampled_from(candidates))
    template = Event(**{n: getattr(event, n) for n in EVENT_FIELDS})
    wanted = Subject(**{n: getattr(subject, n) for n in SUBJECT_FIELDS})
    template = template.with_changes(subjects=(wanted,))
    assert matches(event, template)
    if where == "event":
        negated = template.with_changes(**{name: "!" + getattr(event, name)})
    else:
        flipped = wanted.with_changes(**{name: "!" + getattr(subject, name)})
        negated = template.with_changes(subjects=(flipped,))
    assert not matches(event, negated)


@given(events, st.lists(subjects, min_size=1, max_size=3), symbols, values)
def test_subject_templates_are_ored(
    event: Event, wanted: list[Subject], interpretation: str, actor: str
) -> None:
    """A template with several subject templates matches if one of them alone does."""
    base = Event(interpretation=interpretation, actor=actor)
    together = matches(event, base.with_changes(subjects=tuple(wanted)))
    alone = [matches(event, base.with_changes(subjects=(s,))) for s in wanted]
    assert together == any(alone)


@given(events, st.lists(events, max_size=3))
def test_matches_any_is_any_of_matches(event: Event, templates: list[Event]) -> None:
    """matches_any(e, ts) is any(matches(e, t) for t in ts)."""
    assert matches_any(event, templates) == any(matches(event, t) for t in templates)


@given(events, st.sampled_from(SYMBOLS))
def test_every_ancestor_of_the_interpretation_matches(event: Event, symbol: str) -> None:
    """A template naming any ancestor of the event's interpretation matches it."""
    event = event.with_changes(interpretation=symbol)
    for ancestor in ontology().parents(symbol) | {symbol}:
        assert matches(event, Event(interpretation=ancestor))
