"""Which calls the daemon tries on its event loop, and the step budget that bounds them."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zeitbus import Engine, Event, Subject, TimeRange
from zeitbus.dbus.log import INLINE_IDS, INLINE_STEPS, INLINE_TEMPLATES, may_answer_inline
from zeitbus.ontology import NFO, ZG

ACTOR = "application://a.desktop"
EVENTS = 2000


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """A log of 2,000 events: four actors, text and web subjects, access and modify events."""
    path: Path = tmp_path_factory.mktemp("inline") / "zeitbus.sqlite"
    engine = Engine.open(path, synchronous="OFF")
    engine.insert_events(
        [
            Event(
                timestamp=1_000_000 + i,
                interpretation=ZG + ("AccessEvent" if i % 3 else "ModifyEvent"),
                manifestation=ZG + "UserActivity",
                actor=f"application://app{i % 4}.desktop",
                subjects=(
                    Subject(
                        uri=f"file:///home/u/{i % 700}.txt",
                        interpretation=NFO + "TextDocument",
                        manifestation=NFO + "FileDataObject",
                        mimetype="text/plain",
                        text=f"t{i % 97}",
                    ),
                    Subject(uri=f"https://example.org/{i % 300}", mimetype="text/html"),
                ),
            )
            for i in range(EVENTS)
        ]
    )
    return engine


def test_limited_plain_finds_with_few_templates_are_tried_inline() -> None:
    """Most or least recent events, a limit up to the cap, up to 8 templates."""
    assert may_answer_inline(0, 50, 0, INLINE_IDS)
    assert may_answer_inline(INLINE_TEMPLATES, INLINE_IDS, 1, INLINE_IDS)


def test_no_limit_many_templates_and_grouped_types_go_to_a_thread() -> None:
    """No limit, a limit past the cap, too many templates or a grouped type: a thread."""
    assert not may_answer_inline(0, 0, 0, INLINE_IDS)
    assert not may_answer_inline(0, INLINE_IDS + 1, 0, INLINE_IDS)
    assert not may_answer_inline(INLINE_TEMPLATES + 1, 50, 0, INLINE_IDS)
    assert not may_answer_inline(0, 50, 2, INLINE_IDS)  # MostRecentSubjects


def test_the_benchmarks_simple_finds_fit_the_budget(engine: Engine) -> None:
    """The 50 most recent events for one-field templates are answered within the budget."""
    for template in (
        Event(),
        Event(actor="application://app1.desktop"),
        Event(interpretation=ZG + "AccessEvent"),
        Event(subjects=(Subject(mimetype="text/html"),)),
        Event(subjects=(Subject(interpretation=NFO + "Document"),)),
        Event(subjects=(Subject(uri="file:///home/u/1*"),)),
    ):
        found = engine.find_event_ids_within(INLINE_STEPS, TimeRange(), [template], 2, 50, 0)
        assert found == engine.find_event_ids(TimeRange(), [template], 2, 50, 0)


def test_a_find_over_its_budget_stops_and_the_connection_is_left_clean(engine: Engine) -> None:
    """A find that walks the whole log for nothing runs out; the next find is not cut short."""
    nothing = Event(subjects=(Subject(uri="!file://*", mimetype="text/plain"),))
    assert engine.find_event_ids_within(1000, TimeRange(), [nothing], 2, 50, 0) is None
    assert engine.find_event_ids(TimeRange(), [nothing], 2, 50, 0) == []
    assert len(engine.find_event_ids(TimeRange(), [], 2, 0, 0)) == EVENTS


TEMPLATES = st.builds(
    Event,
    actor=st.sampled_from(["", ACTOR, "application://app2.desktop", "!application://app3*"]),
    interpretation=st.sampled_from(["", ZG + "AccessEvent", "!" + ZG + "ModifyEvent"]),
    subjects=st.lists(
        st.builds(
            Subject,
            uri=st.sampled_from(["", "file:///home/u/1*", "https://example.org/7", "!file://*"]),
            mimetype=st.sampled_from(["", "text/plain", "text/html", "image/png"]),
            text=st.sampled_from(["", "t5", "t1*"]),
        ),
        max_size=2,
    ).map(tuple),
)


@given(
    templates=st.lists(TEMPLATES, max_size=3),
    steps=st.sampled_from([1000, 5000, 20_000, INLINE_STEPS]),
    num_events=st.integers(1, 60),
    result_type=st.sampled_from([0, 1]),
    start=st.sampled_from([0, 1_000_500]),
)
def test_a_find_within_a_budget_is_the_find_or_nothing(
    engine: Engine,
    templates: list[Event],
    steps: int,
    num_events: int,
    result_type: int,
    start: int,
) -> None:
    """Within any budget the answer is exactly find_event_ids's, or None if it ran out."""
    query = (TimeRange(start, 0), templates, 2, num_events, result_type)
    found = engine.find_event_ids_within(steps, *query)
    assert found is None or found == engine.find_event_ids(*query)
    assert engine.find_event_ids_within(10**9, *query) == engine.find_event_ids(*query)
