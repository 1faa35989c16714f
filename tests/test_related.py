"""FindRelatedUris' sliding window, checked against a plain transcription of it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from zeitbus.model import RelevantResultType
from zeitbus.related import WINDOW, related_uris


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
