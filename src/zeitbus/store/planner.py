"""Choosing how each arm of a find reads conditions on ``subject_info``.

Theory of operation. A subject's interpretation, manifestation, origin,
mimetype, text and storage live in ``subject_info`` (see store/schema.py), and
``subject`` has one ``(info, timestamp)`` index instead of one index per
field. An arm whose only subject conditions are on those fields can be read
three ways, and which is fastest depends on how many rows match:

* **a few infos** (a text, a small folder, a rare mimetype): one
  index-ordered arm per info, ``s.info = ?``, merged by time like any other
  arms; each reads only the rows it returns.
* **many infos, few rows** (a rare interpretation over many files): one arm
  with ``s.info IN (...)``, which reads every matching row from the index and
  sorts them; cheap because they are few.
* **many rows** (Document, a busy site): walk events newest first and test
  each one's subjects, which finds the newest matches after a few rows.

The matching infos and their row counts (``subject_info.rows``) come from one
bounded query per arm, so the choice is made on the real numbers. An arm that
already has a seekable condition (a URI) keeps its plan.
"""

from __future__ import annotations

import json
import re
import sqlite3

from zeitbus.templates import Where, reads_info

_READS_SUBJECT_ROW = re.compile(r"\bs\.")
# At most this many infos become one index-ordered arm each.
FORK_INFOS = 12
# Above this many matching infos the rows are assumed common: walk by time.
MANY_INFOS = 400


def seek_infos(
    conn: sqlite3.Connection, arms: list[Where], num_events: int, subject_rows: int
) -> list[Where]:
    """The arms with info conditions turned into index seeks where that is cheaper."""
    planned: list[Where] = []
    for arm in arms:
        if arm.seek_subject or not arm.uses_info:
            planned.append(arm)
            continue
        planned.extend(_plan(conn, arm, num_events, subject_rows))
    return planned


def _plan(conn: sqlite3.Connection, arm: Where, num_events: int, subject_rows: int) -> list[Where]:
    sql: list[str] = []
    params: list[object] = []
    for condition, values, on_subject in arm.conditions():
        if on_subject and reads_info(condition) and not _READS_SUBJECT_ROW.search(condition):
            sql.append(condition)
            params.extend(values)
    if not sql:
        return [arm]
    if num_events and any(
        _broad_prefix(conn, condition, values) for condition, values, _ in arm.conditions()
    ):
        return [_walking(arm, num_events)]
    where = " AND ".join(sql)
    # Counting first reads the infos' indexes only; their rows are read if few.
    many = conn.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM subject_info i WHERE {where} LIMIT {MANY_INFOS + 1})",
        params,
    ).fetchone()[0]
    if many > MANY_INFOS:
        if not num_events:
            # Every match is wanted: reading the matching infos' rows by the
            # (info, timestamp) key and sorting them beats testing every event's
            # subjects (62k of 100k events for ``file://*``: 86 against 138 ms).
            return [_by_infos(arm, where, params)]
        return [_walking(arm, num_events)]
    infos = conn.execute(f"SELECT id, rows FROM subject_info i WHERE {where}", params).fetchall()
    if not infos:
        never = arm.copy()
        never.add("0", subject=True)
        return [never]
    if len(infos) <= FORK_INFOS:
        forked = []
        for info, _ in infos:
            one = arm.copy()
            one.add("s.info = ?", info, subject=True, seek=True)
            forked.append(one)
        return forked
    matching = sum(rows for _, rows in infos)
    # Sorting the matching rows costs about ``matching``; walking by time until
    # ``num_events`` are found costs about num_events * subject_rows / matching.
    walk = (num_events or subject_rows) * subject_rows / max(matching, 1)
    if matching > walk:
        return [_walking(arm, num_events)]
    sorted_arm = arm.copy()
    sorted_arm.add(
        "s.info IN (SELECT value FROM json_each(?))",
        json.dumps([info for info, _ in infos]),
        subject=True,
        seek=True,
    )
    return [sorted_arm]


def _by_infos(arm: Where, where: str, params: list[object]) -> Where:
    """The arm reading the rows of the infos ``where`` selects, in one sorted read."""
    out = Where()
    for condition, values, on_subject in arm.conditions():
        if on_subject and reads_info(condition) and not _READS_SUBJECT_ROW.search(condition):
            continue  # answered by the subquery below
        out.add(condition, *values, subject=on_subject)
    joins_info = out.uses_info
    out.add(
        f"s.info IN (SELECT i.id FROM subject_info i WHERE {where})",
        *params,
        subject=True,
        seek=True,
    )
    # The subquery reads subject_info under its own alias: the rows need no join.
    out.uses_info = joins_info
    return out


# templates.py's prefix condition on an info column: the terms in a range.
_PREFIX = re.compile(r"^(i\.\w+) IN \(SELECT id FROM term WHERE value >= \? AND value < \?\)$")


def _broad_prefix(conn: sqlite3.Connection, condition: str, values: list[object]) -> bool:
    """True for a prefix condition whose range holds many terms (``file://*``)."""
    if not _PREFIX.match(condition):
        return False
    found = conn.execute(
        "SELECT count(*) FROM (SELECT 1 FROM term WHERE value >= ? AND value < ?"
        f" LIMIT {MANY_INFOS + 1})",
        values,
    ).fetchone()[0]
    return bool(found > MANY_INFOS)


def _walking(arm: Where, num_events: int) -> Where:
    """The arm for a walk by time: prefix conditions test each row's term instead.

    ``column IN (SELECT id FROM term WHERE ...)`` makes SQLite collect every
    term of the range before the first row (tens of thousands for
    ``file://*``); a walk that stops after a few hundred rows is cheaper
    looking up each row's term. A walk over everything (no limit) is not.
    """
    if not num_events:
        return arm
    out = Where()
    for condition, values, on_subject in arm.conditions():
        prefix = _PREFIX.match(condition)
        if prefix:
            condition = (
                f"EXISTS (SELECT 1 FROM term t WHERE t.id = {prefix.group(1)}"
                " AND t.value >= ? AND t.value < ?)"
            )
        out.add(condition, *values, subject=on_subject)
    return out
