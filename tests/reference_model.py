"""An obviously-correct, in-memory reference model of the engine (no SQL).

It keeps whole events in a dict and answers every query by looking at every
(event, subject) row, one at a time, with the semantics of docs/ZEITGEIST.md
§2.2-2.5 written out as plainly as possible. It is slow on purpose: it is the
yardstick the stateful test holds the SQLite engine against.

What it shares with the engine: ``zeitbus.validation.prepare`` and
``check_unique_uris`` (pure functions: the auto-fill and the insert checks),
the value types of ``zeitbus.model`` and the ontology's ``children``.
Everything else (ids, dedup, MoveEvent, template matching, grouping and
ordering, the changes feed) is written again here, independently.

SQL NULL semantics are modelled explicitly: an empty stored value is NULL
(``None`` below), and a comparison with NULL is never true, so ``!x`` does not
match a row whose field is NULL, except for a negated prefix, which upstream
writes as ``(col NOT IN (...) OR col IS NULL)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from msgspec.structs import replace

from zeitbus.errors import InvalidArgument
from zeitbus.model import INT64_MAX, ChangeKind, Event, Subject, TimeRange
from zeitbus.ontology import MOVE_EVENT, ontology
from zeitbus.validation import check_unique_uris, prepare

# See ReferenceLog._move: False is what Zeitgeist 1.0.4 (and the engine) does.
MOVES_SKIP_MOVE_ROWS = False


def _no_clock() -> int:
    raise AssertionError("the reference model only takes events with a timestamp")


@dataclass(frozen=True, slots=True)
class Row:
    """One (event, subject) row, as Zeitgeist's flat ``event`` table has it."""

    event: Event
    subject: Subject

    @property
    def id(self) -> int:
        """The event id of the row."""
        return self.event.id

    @property
    def ts(self) -> int:
        """The timestamp of the row (the event's)."""
        return self.event.ts


@dataclass(frozen=True, slots=True)
class ModelChange:
    """One entry of the model's changes feed (the uid is learned from the engine)."""

    seq: int
    kind: ChangeKind
    id: int
    timestamp: int


def _null(value: str) -> str | None:
    """Stored values: the empty string is NULL."""
    return value or None


# The value of each field of a row, None for NULL.
FieldGetter = Callable[[Row], str | None]
EVENT_INTERPRETATION: FieldGetter = lambda r: r.event.interpretation  # noqa: E731
EVENT_MANIFESTATION: FieldGetter = lambda r: r.event.manifestation  # noqa: E731
ACTOR: FieldGetter = lambda r: r.event.actor  # noqa: E731
EVENT_ORIGIN: FieldGetter = lambda r: _null(r.event.origin)  # noqa: E731
SUBJECT_URI: FieldGetter = lambda r: r.subject.uri  # noqa: E731
CURRENT_URI: FieldGetter = lambda r: _null(r.subject.current_uri)  # noqa: E731
SUBJECT_INTERPRETATION: FieldGetter = lambda r: _null(r.subject.interpretation)  # noqa: E731
SUBJECT_MANIFESTATION: FieldGetter = lambda r: _null(r.subject.manifestation)  # noqa: E731
SUBJECT_ORIGIN: FieldGetter = lambda r: _null(r.subject.origin)  # noqa: E731
CURRENT_ORIGIN: FieldGetter = lambda r: _null(r.subject.current_origin)  # noqa: E731
MIMETYPE: FieldGetter = lambda r: _null(r.subject.mimetype)  # noqa: E731
TEXT: FieldGetter = lambda r: _null(r.subject.text)  # noqa: E731
STORAGE: FieldGetter = lambda r: _null(r.subject.storage)  # noqa: E731

# The fields whose values live in upstream's ``uri`` table.
URI_FIELDS = (EVENT_ORIGIN, SUBJECT_URI, CURRENT_URI, SUBJECT_ORIGIN, CURRENT_ORIGIN)

# Result type number -> its name (Zeitgeist's Python client), written out again
# here so that the model does not lean on zeitbus.model's grouping table.
RESULT_TYPE_NAMES = [
    "MostRecentEvents",
    "LeastRecentEvents",
    "MostRecentSubjects",
    "LeastRecentSubjects",
    "MostPopularSubjects",
    "LeastPopularSubjects",
    "MostPopularActor",
    "LeastPopularActor",
    "MostRecentActor",
    "LeastRecentActor",
    "MostRecentOrigin",
    "LeastRecentOrigin",
    "MostPopularOrigin",
    "LeastPopularOrigin",
    "OldestActor",
    "MostRecentSubjectInterpretation",
    "LeastRecentSubjectInterpretation",
    "MostPopularSubjectInterpretation",
    "LeastPopularSubjectInterpretation",
    "MostRecentMimeType",
    "LeastRecentMimeType",
    "MostPopularMimeType",
    "LeastPopularMimeType",
    "MostRecentCurrentUri",
    "LeastRecentCurrentUri",
    "MostPopularCurrentUri",
    "LeastPopularCurrentUri",
    "MostRecentEventOrigin",
    "LeastRecentEventOrigin",
    "MostPopularEventOrigin",
    "LeastPopularEventOrigin",
    "MostRecentCurrentOrigin",
    "LeastRecentCurrentOrigin",
    "MostPopularCurrentOrigin",
    "LeastPopularCurrentOrigin",
]

# Name suffix -> the field the type groups by (§2.4's table).
GROUP_SUFFIXES: dict[str, FieldGetter] = {
    "Subjects": SUBJECT_URI,
    "Actor": ACTOR,
    "SubjectInterpretation": SUBJECT_INTERPRETATION,
    "MimeType": MIMETYPE,
    "CurrentUri": CURRENT_URI,
    "EventOrigin": EVENT_ORIGIN,
    "CurrentOrigin": CURRENT_ORIGIN,
    "Origin": SUBJECT_ORIGIN,  # checked last: the other *Origin suffixes are longer
}


@dataclass(frozen=True, slots=True)
class ResultSpec:
    """How one result type groups and orders rows."""

    group: FieldGetter | None
    popular: bool
    ascending: bool
    oldest: bool


def result_spec(result_type: int) -> ResultSpec:
    """The grouping and order of a result type number; InvalidArgument if unknown."""
    if isinstance(result_type, bool) or not 0 <= result_type < len(RESULT_TYPE_NAMES):
        raise InvalidArgument("Invalid ResultType.")
    name = RESULT_TYPE_NAMES[result_type]
    if name == "OldestActor":
        return ResultSpec(ACTOR, popular=False, ascending=True, oldest=True)
    ascending = name.startswith("Least")
    rest = name.removeprefix("Most").removeprefix("Least")
    popular = rest.startswith("Popular")
    rest = rest.removeprefix("Popular").removeprefix("Recent")
    if rest == "Events":
        return ResultSpec(None, popular=False, ascending=ascending, oldest=False)
    for suffix, getter in GROUP_SUFFIXES.items():
        if rest == suffix:
            return ResultSpec(getter, popular=popular, ascending=ascending, oldest=False)
    raise AssertionError(f"no grouping for {name}")


Condition = Callable[[Row], bool]


class ReferenceLog:
    """The reference model: events, ids, dedup, moves, find, get, delete, feed."""

    def __init__(self) -> None:
        self.events: dict[int, Event] = {}
        self.last_id = 0
        self.changes: list[ModelChange] = []
        self.uids: dict[int, str] = {}
        self.moved_rows = 0  # rows a MoveEvent rewrote so far (for test statistics)
        # storage medium -> its known availability (0 or 1); absent = NULL (unknown)
        self.storage_states: dict[str, int] = {}

    # -- writes --------------------------------------------------------------

    def insert(self, events: Sequence[Event | None]) -> list[int]:
        """InsertEvents: ids in input order; raises (and changes nothing) on a bad batch."""
        prepared = [None if event is None else prepare(event, _no_clock) for event in events]
        for event in prepared:
            if event is not None:
                check_unique_uris(event)
        return [self._insert_one(event) for event in prepared]

    def _insert_one(self, event: Event | None) -> int:
        if event is None or event.id != 0 or not event.subjects:
            return 0
        for subject in event.subjects:
            existing = self._find_key(
                event.ts, event.interpretation, event.manifestation, event.actor, subject.uri
            )
            if existing is not None:
                return existing
        self.last_id += 1
        stored = replace(event, id=self.last_id)
        self.events[stored.id] = stored
        self.changes.append(
            ModelChange(len(self.changes) + 1, ChangeKind.INSERT, stored.id, stored.ts)
        )
        if stored.interpretation == MOVE_EVENT:
            self._move(stored)
        return stored.id

    def _find_key(
        self, ts: int, interpretation: str, manifestation: str, actor: str, uri: str
    ) -> int | None:
        """The id of the stored event with this dedup key, if any."""
        for stored in self.events.values():
            if (stored.ts, stored.interpretation, stored.manifestation, stored.actor) != (
                ts,
                interpretation,
                manifestation,
                actor,
            ):
                continue
            if any(s.uri == uri for s in stored.subjects):
                return stored.id
        return None

    def _move(self, move: Event) -> None:
        """Point earlier rows whose current_uri is a moved uri at the new place.

        §2.2 says "non-move" rows, but Zeitgeist 1.0.4's UPDATE binds the MoveEvent
        URI *string* to ``interpretation != ?`` against an integer id column
        (libzeitgeist/sql.vala, move_handling_stmt), which never excludes a row:
        earlier MoveEvents are rewritten too, and the engine keeps that.
        With ``MOVES_SKIP_MOVE_ROWS`` the model follows the documented intent instead.
        """
        for moved in move.subjects:
            for event_id, stored in list(self.events.items()):
                if MOVES_SKIP_MOVE_ROWS and stored.interpretation == MOVE_EVENT:
                    continue
                if not stored.ts < move.ts:
                    continue
                subjects = tuple(
                    replace(s, current_uri=moved.current_uri, current_origin=moved.current_origin)
                    if s.current_uri == moved.uri
                    else s
                    for s in stored.subjects
                )
                self.moved_rows += sum(s.current_uri == moved.uri for s in stored.subjects)
                self.events[event_id] = replace(stored, subjects=subjects)

    def delete(self, ids: Sequence[int]) -> tuple[int, int] | None:
        """DeleteEvents: (min, max) timestamp of the events that existed, else None."""
        found = sorted({i for i in ids if i in self.events})
        if not found:
            return None
        timestamps = [self.events[i].ts for i in found]
        for event_id in found:
            self.changes.append(
                ModelChange(
                    len(self.changes) + 1, ChangeKind.DELETE, event_id, self.events[event_id].ts
                )
            )
            del self.events[event_id]
        return min(timestamps), max(timestamps)

    # -- reads ---------------------------------------------------------------

    def get(self, ids: Sequence[int]) -> list[Event | None]:
        """GetEvents: request order, repeats repeat, unknown ids are None."""
        return [self.events.get(i) for i in ids]

    def rows(self) -> list[Row]:
        """Every (event, subject) row."""
        return [Row(event, subject) for event in self.events.values() for subject in event.subjects]

    def known_uris(self) -> set[str]:
        """The values upstream's ``uri`` table holds: those some stored row refers to."""
        return {value for row in self.rows() for get in URI_FIELDS if (value := get(row))}

    def find(
        self,
        time_range: TimeRange,
        templates: Sequence[Event],
        storage_state: int,
        num_events: int,
        result_type: int,
    ) -> list[int]:
        """FindEventIds, row by row."""
        if storage_state not in (0, 1, 2):
            raise InvalidArgument(f"Unknown storage state '{storage_state}'")
        spec = result_spec(result_type)
        match = self.matcher(templates)
        rows = [
            r
            for r in self.rows()
            if in_range(time_range, r.ts) and self._storage_ok(r, storage_state) and match(r)
        ]
        if spec.group is None:
            ordered = sorted(rows, key=lambda r: (r.ts, r.id), reverse=not spec.ascending)
            return collapse([r.id for r in ordered], num_events)
        groups: dict[str, list[Row]] = {}
        for row in rows:
            key = spec.group(row)
            if key is not None:
                groups.setdefault(key, []).append(row)
        picked: list[tuple[int, int, int]] = []  # (count, ts, id)
        for members in groups.values():
            if spec.oldest:
                end = min(members, key=lambda r: (r.ts, r.id))
            else:
                end = max(members, key=lambda r: (r.ts, -r.id))
            picked.append((len(members) if spec.popular else 0, end.ts, end.id))
        picked.sort(reverse=not spec.ascending)
        return collapse([event_id for _, _, event_id in picked], num_events)

    def _storage_ok(self, row: Row, storage_state: int) -> bool:
        """Zeitgeist's "(subj_storage_state = ? OR subj_storage_state IS NULL)" for 0 and 1."""
        if storage_state == 2:
            return True
        storage = STORAGE(row)
        state = None if storage is None else self.storage_states.get(storage)
        return state is None or state == storage_state

    # -- templates -------------------------------------------------------------

    def matcher(self, templates: Sequence[Event]) -> Condition:
        """One row predicate for a template list: templates ORed, empty ones ignored."""
        known = self.known_uris()
        alternatives = [c for t in templates if (c := template_conditions(t, known))]
        if not alternatives:
            return lambda row: True
        return lambda row: any(all(c(row) for c in conds) for conds in alternatives)


def in_range(time_range: TimeRange, ts: int) -> bool:
    """Zeitgeist's time range test: a 0 bound is open."""
    if time_range.start != 0 and ts < time_range.start:
        return False
    return not (time_range.end != 0 and ts > time_range.end)


def collapse(ids: list[int], num_events: int) -> list[int]:
    """Drop consecutive duplicate ids, then keep the first ``num_events`` (0: all)."""
    out: list[int] = []
    for event_id in ids:
        if not out or out[-1] != event_id:
            out.append(event_id)
    return out[:num_events] if num_events else out


def template_conditions(template: Event, known_uris: set[str]) -> list[Condition]:
    """The ANDed conditions of one template (empty: the template adds nothing)."""
    conds: list[Condition] = []
    if template.id:
        wanted_id = template.id
        conds.append(lambda row: row.id == wanted_id)
    if template.interpretation:
        if template.interpretation.endswith("*"):
            raise InvalidArgument("Field 'interpretation' doesn't support prefix search")
        conds.append(symbol(EVENT_INTERPRETATION, template.interpretation))
    if template.manifestation:
        # A trailing "*" is not rejected (upstream tests the interpretation):
        # it is part of the symbol and matches literally.
        conds.append(symbol(EVENT_MANIFESTATION, template.manifestation))
    if template.actor:
        conds.append(value_match(ACTOR, template.actor, known=None))
    if template.origin:
        conds.append(value_match(EVENT_ORIGIN, template.origin, known=known_uris))
    for subject in template.subjects:
        if subject.interpretation:
            conds.append(symbol(SUBJECT_INTERPRETATION, subject.interpretation))
        if subject.manifestation:
            if subject.manifestation.endswith("*"):
                raise InvalidArgument("Field 'subject manifestation' doesn't support prefix search")
            conds.append(symbol(SUBJECT_MANIFESTATION, subject.manifestation))
        if subject.mimetype:
            conds.append(value_match(MIMETYPE, subject.mimetype, known=None))
        if subject.uri:
            conds.append(value_match(SUBJECT_URI, subject.uri, known=known_uris))
        if subject.origin:
            conds.append(value_match(SUBJECT_ORIGIN, subject.origin, known=known_uris))
        if subject.text:
            conds.append(literal(TEXT, subject.text))
        if subject.current_uri:
            conds.append(value_match(CURRENT_URI, subject.current_uri, known=known_uris))
        if subject.current_origin:
            conds.append(value_match(CURRENT_ORIGIN, subject.current_origin, known=known_uris))
        if subject.storage:
            if subject.storage.startswith("!"):
                raise InvalidArgument("Field 'subject storage' doesn't support negation")
            if subject.storage.endswith("*"):
                raise InvalidArgument("Field 'subject storage' doesn't support prefix search")
            conds.append(literal(STORAGE, subject.storage))
    return conds


def symbol(get: FieldGetter, value: str) -> Condition:
    """Symbols: ``!`` then ``+``; the symbol or any descendant; NULL never matches."""
    negated = value.startswith("!")
    if negated:
        value = value[1:]
    noexpand = value.startswith("+")
    if noexpand:
        value = value[1:]
    allowed = {value} if noexpand else {value} | set(ontology().children(value))

    def cond(row: Row) -> bool:
        stored = get(row)
        if stored is None:
            return False
        return (stored in allowed) != negated

    return cond


def value_match(get: FieldGetter, value: str, *, known: set[str] | None) -> Condition:
    """Actor, mimetype and URI fields: trailing ``*`` first, then ``!``.

    ``known`` is None for fields compared by id (actor, mimetype: an unknown
    value is id -1, so ``!unknown`` matches every non-NULL row), and the set
    of stored URIs for fields compared by subquery (an unknown URI is NULL, so
    neither ``x`` nor ``!x`` matches anything).
    """
    prefix = value.endswith("*")
    if prefix:
        value = value[:-1]
    negated = value.startswith("!")
    if negated:
        value = value[1:]

    def cond(row: Row) -> bool:
        stored = get(row)
        if prefix:
            if stored is None:
                return negated
            return stored.startswith(value) != negated
        if stored is None:
            return False
        if negated:
            return (known is None or value in known) and stored != value
        return stored == value

    return cond


def literal(get: FieldGetter, value: str) -> Condition:
    """Text and storage: exact, with ``!``, ``+`` and ``*`` as plain characters."""
    return lambda row: get(row) == value


ALWAYS = TimeRange(0, INT64_MAX)
