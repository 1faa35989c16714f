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
    n = len(rows)
    # first_template[k]: the first row at or after k of a template event (n: none).
    first_template = [n] * (n + 1)
    for k in range(n - 1, -1, -1):
        first_template[k] = k if rows[k][0] in template_ids else first_template[k + 1]
    # The window before row i holds rows i-WINDOW..i-1 and counts if one of them is
    # a template row; it then counts its rows up to the first such. A row counts once
    # per window that reaches it, so count each row's windows first (a difference
    # array), then visit each row once.
    reach = [0] * (n + 1)
    for i in range(1, n):
        start = i - WINDOW if i > WINDOW else 0
        end = first_template[start]
        if end < i:
            reach[start] += 1
            reach[end + 1] -= 1
    windows = 0
    for k in range(n):
        windows += reach[k]
        if windows:
            event_id, timestamp, uri = rows[k]
            if event_id in result_ids:
                counter = counters.get(uri)
                if counter is None:
                    counters[uri] = _Counter(uri, windows, timestamp)
                else:
                    counter.count += windows
                    counter.timestamp = max(counter.timestamp, timestamp)
    ranked = sorted(counters.values(), key=lambda c: (-c.count, -c.timestamp, c.uri))[:num]
    if result_type is RelevantResultType.RECENT:
        ranked.sort(key=lambda c: (-c.timestamp, -c.count, c.uri))
    return [c.uri for c in ranked]
