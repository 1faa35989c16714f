"""FindRelatedUris' sliding window, checked against a plain transcription of it."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from zeitbus import Engine, Event, InvalidArgument, Subject, TimeRange
from zeitbus.model import RelevantResultType, ResultType
from zeitbus.ontology import ACCESS_EVENT, USER_ACTIVITY
from zeitbus.related import WINDOW, related_uris
from zeitbus.store import neighbours, queries


def _every_row(
    rows: list[tuple[int, int, str]],
    template_ids: set[int],
    result_ids: set[int],
    num: int,
    result_type: RelevantResultType,
) -> list[str]:
    """The algorithm as docs/ZEITGEIST.md §2.2 states it, visiting every row."""
    counts: dict[str, list[int]] = {}
    for i in range(len(rows)):
        end = next((j for j in range(max(0, i - WINDOW), i) if rows[j][0] in template_ids), -1)
        for j in range(max(0, i - WINDOW), end + 1):
            event_id, timestamp, uri = rows[j]
            if event_id in result_ids:
                entry = counts.setdefault(uri, [0, timestamp])
                entry[0] += 1
                entry[1] = max(entry[1], timestamp)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))[:num]
    if result_type is RelevantResultType.RECENT:
        ranked.sort(key=lambda kv: (-kv[1][1], -kv[1][0], kv[0]))
    return [uri for uri, _ in ranked]


@given(
    events=st.lists(
        st.tuples(st.integers(1, 12), st.sampled_from(["a", "b", "c", "d", "e"])),
        max_size=60,
    ),
    templates=st.sets(st.integers(1, 12), max_size=4),
    results=st.sets(st.integers(1, 12)),
    num=st.integers(0, 6),
    result_type=st.sampled_from(list(RelevantResultType)),
)
def test_visiting_only_windows_with_a_template_row_changes_nothing(
    events: list[tuple[int, str]],
    templates: set[int],
    results: set[int],
    num: int,
    result_type: RelevantResultType,
) -> None:
    """Skipping rows whose window holds no template row gives the same URIs."""
    rows = [(event_id, 1000 + n, uri) for n, (event_id, uri) in enumerate(events)]
    assert related_uris(rows, templates, results, num, result_type) == _every_row(
        rows, templates, results, num, result_type
    )


URIS = ["file:///a", "file:///b", "file:///c", "http://x/1", "http://x/2"]
ACTORS = ["application://one.desktop", "application://two.desktop"]
TEMPLATE_CHOICES = [
    Event(subjects=(Subject(uri="file:///a"),)),
    Event(subjects=(Subject(uri="file:///b"),)),
    Event(actor=ACTORS[1]),
    Event(subjects=(Subject(uri="http://*"),)),
]
RESULT_CHOICES = [
    Event(subjects=(Subject(uri="file://*"),)),
    Event(actor=ACTORS[0]),
    Event(subjects=(Subject(uri="!file:///c"),)),
    Event(),
]


@st.composite
def logs(draw: st.DrawFn) -> list[Event]:
    """Events with 1-3 subjects and timestamps that often tie."""
    out = []
    for _ in range(draw(st.integers(1, 40))):
        uris = draw(st.lists(st.sampled_from(URIS), min_size=1, max_size=3, unique=True))
        out.append(
            Event(
                timestamp=draw(st.integers(2, 60)) * 10,
                interpretation=ACCESS_EVENT,
                manifestation=USER_ACTIVITY,
                actor=draw(st.sampled_from(ACTORS)),
                subjects=tuple(Subject(uri=uri) for uri in uris),
            )
        )
    return out


@given(
    log=logs(),
    templates=st.lists(st.sampled_from(TEMPLATE_CHOICES), min_size=1, max_size=2),
    result_templates=st.lists(st.sampled_from(RESULT_CHOICES), max_size=2),
    start=st.sampled_from([0, 100, 300]),
    end=st.sampled_from([0, 400, 600]),
    num=st.integers(1, 6),
    result_type=st.sampled_from(list(RelevantResultType)),
)
def test_reading_only_the_rows_near_template_events_changes_nothing(
    log: list[Event],
    templates: list[Event],
    result_templates: list[Event],
    start: int,
    end: int,
    num: int,
    result_type: RelevantResultType,
) -> None:
    """Both neighbourhood reads give the URIs of reading every row either side matches."""
    with tempfile.TemporaryDirectory() as tmp, Engine.open(Path(tmp)) as engine:
        engine.insert_events(log)
        time_range = TimeRange(start, end)

        def related() -> list[str] | str:
            try:
                return engine.find_related_uris(
                    time_range, templates, result_templates, 0, num, result_type
                )
            except InvalidArgument as error:
                return str(error)

        def every_row() -> list[str] | str:
            """The full read: every row of every event either side matches."""
            oldest = ResultType.LEAST_RECENT_EVENTS
            ids = engine.find_event_ids(time_range, templates, 0, 0, oldest)
            if not ids:
                return "No results found for the event_templates"
            results = engine.find_event_ids(time_range, result_templates, 0, 0, oldest)
            with engine.store.reading() as conn:
                rows = queries.related_rows(conn, engine.store, set(ids) | set(results))
            return related_uris(rows, set(ids), set(results), num, result_type)

        expected = every_row()
        assert related() == expected  # few template events: finds around each
        few = neighbours.MAX_TEMPLATE_EVENTS
        neighbours.MAX_TEMPLATE_EVENTS = -1  # as if many: one windowed pass
        try:
            assert related() == expected
        finally:
            neighbours.MAX_TEMPLATE_EVENTS = few
