"""FindRelatedUris: which URIs are used around the events a template matches.

Pure logic over (event id, timestamp, uri) rows in time order. This is
Zeitgeist's sliding-window algorithm (docs/ZEITGEIST.md §2.2) with two
upstream bugs fixed, both listed in docs/zeitgeist-compatibility.md:

* upstream fills the second half of its candidate set by reading past the end
  of ``result_ids``; here the candidates are exactly the template events plus
  the result-template events;
* upstream sorts by count and then re-sorts by time alone (a stable sort on
  ``timestamp`` that throws the count order away), so "Related" was really
  "Recent"; here Related orders by count, then recency, and Recent takes the
  same top URIs and orders them by recency.

For each row, the window is the (up to) five rows before it, cut after the
first row of a template event, as upstream; if the window holds a template
event, each result-template row in it counts once for its URI.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from zeitbus.model import RelevantResultType

WINDOW = 5


@dataclass(slots=True)
class _Counter:
    uri: str
    count: int
    timestamp: int


def related_uris(
    rows: Sequence[tuple[int, int, str]],
    template_ids: set[int],
    result_ids: set[int],
    num: int,
    result_type: RelevantResultType,
) -> list[str]:
    """The at most ``num`` URIs related to ``template_ids`` (0 yields none, as upstream)."""
    counters: dict[str, _Counter] = {}
    # Only a row with a template row among the WINDOW rows before it has a
    # window that counts, so only those rows are visited.
    starts = sorted(
        {
            i
            for t, row in enumerate(rows)
            if row[0] in template_ids
            for i in range(t + 1, min(t + WINDOW + 1, len(rows)))
        }
    )
    for i in starts:
        window_end = -1
        for j in range(max(0, i - WINDOW), i):
            if rows[j][0] in template_ids:
                window_end = j
                break
        for j in range(max(0, i - WINDOW), window_end + 1):
            event_id, timestamp, uri = rows[j]
            if event_id in result_ids:
                counter = counters.get(uri)
                if counter is None:
                    counters[uri] = _Counter(uri, 1, timestamp)
                else:
                    counter.count += 1
                    counter.timestamp = max(counter.timestamp, timestamp)
    ranked = sorted(counters.values(), key=lambda c: (-c.count, -c.timestamp, c.uri))[:num]
    if result_type is RelevantResultType.RECENT:
        ranked.sort(key=lambda c: (-c.timestamp, -c.count, c.uri))
    return [c.uri for c in ranked]
