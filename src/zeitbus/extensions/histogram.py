"""The histogram: how many subjects were logged on each local day.

Upstream (``extensions/histogram.vala``) answers with one SQL statement over
its event table, which has a row per subject:

    SELECT strftime('%s', datetime(timestamp/1000, 'unixepoch', 'localtime'),
                    'start of day') AS daystamp, COUNT(*)
    FROM event GROUP BY daystamp ORDER BY daystamp DESC

So it counts subjects, not events, and its day key is the local calendar day
written as the seconds of that date's midnight *in UTC* (not the instant the
local day began: decode a key as a UTC date). Zeitbus runs the same
statement over its subject table (one row per subject, with the event's
timestamp), so days follow the daemon's time zone (``TZ``) exactly as
upstream's do. One deliberate difference: upstream sorts the keys as text
(``strftime`` returns text), which misorders days before 2001-09-09 against
later ones; Zeitbus sorts them as numbers.

The statement runs in the store (``Engine.histogram``), over the subject
table.
"""

from __future__ import annotations

from zeitbus.engine import Engine


def histogram(engine: Engine) -> list[tuple[int, int]]:
    """(local day as upstream keys it, subjects logged that day), newest day first."""
    return engine.histogram()
