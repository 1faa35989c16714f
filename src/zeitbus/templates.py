"""Event templates to SQL: Zeitgeist's query semantics on Zeitbus's schema.

Theory of operation. A query matches *rows*, one per (event, subject) pair,
as Zeitgeist's flat ``event`` table does. In SQL the rows are ``subject s``
joined to ``event e``, and what a subject says (uri, interpretation,
manifestation, origin, mimetype, text, storage) is read from its
``subject_info i``; when no condition names a subject field the compiler
leaves the joins out and reads ``event e`` alone, which is equivalent because
every stored event has at least one subject.

Inside one template every set field is ANDed, and subject templates are ANDed
against the *same* subject row; templates are ORed. A template with no set
field adds no condition, so it does not widen an OR of other templates (the
upstream ``WhereClause.extend`` quirk, kept on purpose). Operators, their
parse order (trailing ``*``, then ``!``, then ``+`` on symbols) and which
fields reject which operator follow docs/ZEITGEIST.md §2.5, including the
upstream checks that test the wrong field (a trailing ``*`` on an event
manifestation or a subject interpretation is matched literally).

Unknown values keep Zeitgeist's SQL semantics: actors, mimetypes and symbols
map to id -1 (``= -1`` matches nothing, ``!= -1`` every non-NULL value), while
URIs, texts and storages compare against NULL (nothing matches either way).

``current_uri``/``current_origin`` are stored as NULL when equal to
``uri``/``origin`` (they almost always are); the compiler splits a positive
condition on them into two branches (the stored value, or NULL and the info's
value) so that each can be read through an index.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from zeitbus.errors import InvalidArgument
from zeitbus.model import Event, GroupField, StorageState, Subject, TimeRange
from zeitbus.ontology import ontology

# value -> term id, or None if the value was never stored
TermLookup = Callable[[str], int | None]

_CURRENT_URI = "COALESCE(s.current_uri, i.uri)"
# True if the term bound five times is stored in some URI column (what Zeitgeist's uri
# table holds). Uncorrelated, so SQLite evaluates it once; each probe is one index seek.
_USED_AS_URI = (
    "(EXISTS (SELECT 1 FROM subject_info u WHERE u.uri = ?)"
    " OR EXISTS (SELECT 1 FROM subject u WHERE u.current_uri = ?)"
    " OR EXISTS (SELECT 1 FROM subject_info u WHERE u.origin = ?)"
    " OR EXISTS (SELECT 1 FROM subject u WHERE u.current_origin = ?)"
    " OR EXISTS (SELECT 1 FROM event u WHERE u.origin = ?))"
)
_CURRENT_ORIGIN = "NULLIF(COALESCE(s.current_origin, i.origin), 0)"
# Conditions name subject_info's columns through the alias "i".
_READS_INFO = re.compile(r"\bi\.")
# The condition no row meets (a value that was never stored); the planner drops
# arms that hold it.
NEVER = "0"


def reads_info(sql: str) -> bool:
    """True if the SQL fragment reads a column of ``subject_info i``."""
    return bool(_READS_INFO.search(sql))


# group field -> (SQL expression of the group key, needs the subject join)
GROUP_COLUMNS: dict[GroupField, tuple[str, bool]] = {
    GroupField.SUBJECT_URI: ("i.uri", True),
    GroupField.ACTOR: ("e.actor", False),
    GroupField.SUBJECT_ORIGIN: ("i.origin", True),
    GroupField.SUBJECT_INTERPRETATION: ("i.interpretation", True),
    GroupField.MIMETYPE: ("i.mimetype", True),
    GroupField.CURRENT_URI: (_CURRENT_URI, True),
    GroupField.EVENT_ORIGIN: ("e.origin", False),
    GroupField.CURRENT_ORIGIN: (_CURRENT_ORIGIN, True),
}


# One way a fork can hold: conditions (SQL, parameters, served by a subject index), ANDed.
Branch = list[tuple[str, list[object], bool]]


@dataclass
class Where:
    """SQL conditions with their parameters, and whether they read ``s``."""

    sql: list[str] = field(default_factory=list)
    params: list[object] = field(default_factory=list)
    uses_subject: bool = False
    uses_event: bool = False
    # True if some condition reads ``subject_info i`` (joined to ``s`` by its info id).
    uses_info: bool = False
    # True if some condition is an equality that a (column, timestamp) index on
    # ``subject`` serves in time order.
    seek_subject: bool = False
    # Subject conditions of the form "A or B" kept apart, so that a planner can
    # turn them into two index-ordered arms (see ``expand``).
    forks: list[tuple[Branch, Branch]] = field(default_factory=list)
    # Per condition: does it read ``s`` (else ``e`` or nothing), and how many
    # parameters it takes; lets a planner split conditions by table.
    on_subject: list[bool] = field(default_factory=list)
    arity: list[int] = field(default_factory=list)

    def add(self, sql: str, *params: object, subject: bool = False, seek: bool = False) -> None:
        """Append one condition (ANDed with the others) on ``s`` or on ``e``."""
        self.sql.append(sql)
        self.params.extend(params)
        self.on_subject.append(subject)
        self.arity.append(len(params))
        if subject:
            self.uses_subject = True
            self.uses_info |= bool(_READS_INFO.search(sql))
        else:
            self.uses_event = True
        self.seek_subject |= seek

    def copy(self) -> Where:
        """An independent copy."""
        return Where(
            list(self.sql),
            list(self.params),
            self.uses_subject,
            self.uses_event,
            self.uses_info,
            self.seek_subject,
            list(self.forks),
            list(self.on_subject),
            list(self.arity),
        )

    def conditions(self) -> list[tuple[str, list[object], bool]]:
        """Each condition with its own parameters and whether it reads ``s``."""
        out = []
        cursor = 0
        for sql, count, subject in zip(self.sql, self.arity, self.on_subject, strict=True):
            out.append((sql, self.params[cursor : cursor + count], subject))
            cursor += count
        return out

    def event_driven(self) -> Where:
        """The same conditions for a query over ``event e`` alone.

        Conditions on ``subject`` move into one EXISTS on the event's own
        subjects, so they still hold on a single subject row.
        """
        event_part, subject_part = Where(), Where()
        for sql, params, on_subject in self.conditions():
            (subject_part if on_subject else event_part).add(sql, *params, subject=on_subject)
        if subject_part.sql:
            source = "subject s"
            if self.uses_info:
                source += " JOIN subject_info i ON i.id = s.info"
            event_part.add(
                f"EXISTS (SELECT 1 FROM {source} WHERE s.event_id = e.id AND "
                + " AND ".join(subject_part.sql)
                + ")",
                *subject_part.params,
            )
        return event_part

    def add_all(self, other: Where) -> None:
        """Append every condition of ``other`` (ANDed)."""
        for sql, params, subject in other.conditions():
            self.add(sql, *params, subject=subject)
        self.seek_subject |= other.seek_subject

    def expand(self) -> list[Where]:
        """One Where per choice of a branch in every fork."""
        arms = [self.copy()]
        for branches in self.forks:
            arms = [_with(arm, branch) for arm in arms for branch in branches]
        for arm in arms:
            arm.forks = []
        return arms

    def extend(self, other: Where, operator: str) -> None:
        """Append all of ``other``'s conditions as one, joined by ``operator``."""
        self.sql.append(other.joined(operator))
        self.params.extend(other.params)
        self.on_subject.append(other.uses_subject)
        self.arity.append(len(other.params))
        self.uses_subject |= other.uses_subject
        self.uses_event |= other.uses_event
        self.uses_info |= other.uses_info

    def clause(self) -> str:
        """The conditions ANDed after " WHERE ", or "" if there is none."""
        return " WHERE " + " AND ".join(self.sql) if self.sql else ""

    def joined(self, operator: str) -> str:
        """The conditions joined by AND or OR, parenthesised."""
        if len(self.sql) == 1:
            return self.sql[0]
        return "(" + f" {operator} ".join(self.sql) + ")"


def _with(where: Where, branch: Branch) -> Where:
    out = where.copy()
    for sql, params, seek in branch:
        out.add(sql, *params, subject=True, seek=seek)
    return out


def right_boundary(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix``."""
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF:
            bumped = last + 1
            if 0xD800 <= bumped <= 0xDFFF:  # surrogates cannot be stored; skip them
                bumped = 0xE000
            return prefix[:-1] + chr(bumped)
        prefix = prefix[:-1]
    return chr(0x10FFFF)


def _field_error(name: str, what: str) -> InvalidArgument:
    return InvalidArgument(f"Field '{name}' doesn't support {what}")


def _split_wildcard(value: str) -> tuple[str, bool]:
    if value.endswith("*"):
        return value[:-1], True
    return value, False


def _split_negation(value: str) -> tuple[str, bool]:
    if value.startswith("!"):
        return value[1:], True
    return value, False


class TemplateCompiler:
    """Compiles time ranges, storage states and templates to one WHERE."""

    def __init__(
        self,
        lookup: TermLookup,
        unavailable_storages: Callable[[int], list[int]],
        *,
        forks: bool = False,
    ):
        self._lookup = lookup
        self._unavailable = unavailable_storages
        self._forks = forks

    def arms(self, templates: Sequence[Event], storage_state: StorageState) -> list[Where]:
        """The find as ORed arms (ANDed conditions each), for a merging planner.

        One arm per template that sets something, times the branches of its
        forks; the storage condition is in every arm. Needs ``forks=True``.
        """
        base = self.where((), storage_state)
        arms = []
        for template in templates:
            conditions = self.template(template)
            if not (conditions.sql or conditions.forks):
                continue  # an empty template adds no condition (upstream quirk)
            for arm in conditions.expand():
                merged = base.copy()
                merged.add_all(arm)
                arms.append(merged)
        if not arms:
            return [base]
        # An arm with a condition no row can meet (a value the log has never
        # stored) is left out, so no plan walks the log to find nothing; with
        # none left, the find matches nothing.
        return [arm for arm in arms if NEVER not in arm.sql]

    def where(self, templates: Sequence[Event], storage_state: StorageState) -> Where:
        """The conditions of a find but its time range (see ``time_conditions``)."""
        where = Where()
        if storage_state is not StorageState.ANY:
            excluded = self._unavailable(int(storage_state))
            if excluded:
                marks = ",".join("?" * len(excluded))
                where.add(
                    f"(i.storage IS NULL OR i.storage NOT IN ({marks}))", *excluded, subject=True
                )
        alternatives = Where()
        for template in templates:
            conditions = self.template(template)
            if conditions.sql:
                alternatives.extend(conditions, "AND")
        if alternatives.sql:
            where.extend(alternatives, "OR")
        return where

    @staticmethod
    def time_conditions(where: Where, time_range: TimeRange, column: str) -> Where:
        """``where`` plus the time range on ``column`` (0 bounds are open)."""
        out = where.copy()
        on_subject = column.startswith("s.")
        if time_range.start != 0:
            out.add(f"{column} >= ?", time_range.start, subject=on_subject)
        if time_range.end != 0:
            out.add(f"{column} <= ?", time_range.end, subject=on_subject)
        out.uses_subject, out.uses_event = where.uses_subject, where.uses_event
        out.uses_info = where.uses_info
        return out

    def template(self, template: Event) -> Where:
        """The ANDed conditions of one event template."""
        where = Where()
        if template.id:
            where.add("e.id = ?", template.id)  # e.id and s.event_id agree on every row
        if template.interpretation:
            if template.interpretation.endswith("*"):
                raise _field_error("interpretation", "prefix search")
            self._symbol(where, "e.interpretation", template.interpretation, subject=False)
        if template.manifestation:
            # Upstream checks the *interpretation* for a wildcard here, so a
            # trailing "*" on a manifestation is matched literally.
            self._symbol(where, "e.manifestation", template.manifestation, subject=False)
        if template.actor:
            self._looked_up(where, "e.actor", template.actor, subject=False)
        if template.origin:
            self._uri(where, "e.origin", template.origin, subject=False)
        for subject in template.subjects:
            self._subject(where, subject, template)
        return where

    def _subject(self, where: Where, subject: Subject, template: Event) -> None:
        if subject.interpretation:
            # Upstream tests the event interpretation for a wildcard here too.
            self._symbol(where, "i.interpretation", subject.interpretation, subject=True)
        if subject.manifestation:
            if subject.manifestation.endswith("*"):
                raise _field_error("subject manifestation", "prefix search")
            self._symbol(where, "i.manifestation", subject.manifestation, subject=True)
        if subject.mimetype:
            self._looked_up(where, "i.mimetype", subject.mimetype, subject=True)
        if subject.uri:
            self._uri(where, "i.uri", subject.uri, subject=True)
        if subject.origin:
            self._uri(where, "i.origin", subject.origin, subject=True)
        if subject.text:
            # "!", "+" and "*" are ordinary characters in a text template.
            sql, params = self._equals_uri("i.text", subject.text)
            where.add(sql, *params, subject=True)
        if subject.current_uri:
            self._uri(
                where,
                _CURRENT_URI,
                subject.current_uri,
                subject=True,
                stored=("s.current_uri", "i.uri"),
            )
        if subject.current_origin:
            self._uri(
                where,
                _CURRENT_ORIGIN,
                subject.current_origin,
                subject=True,
                stored=("s.current_origin", "i.origin"),
            )
        if subject.storage:
            if subject.storage.startswith("!"):
                raise _field_error("subject storage", "negation")
            if subject.storage.endswith("*"):
                raise _field_error("subject storage", "prefix search")
            sql, params = self._equals_uri("i.storage", subject.storage)
            where.add(sql, *params, subject=True)

    def _symbol(self, where: Where, column: str, value: str, *, subject: bool) -> None:
        value, negated = _split_negation(value)
        noexpand = value.startswith("+")
        if noexpand:
            value = value[1:]
        symbols = [value]
        if not noexpand:
            symbols.extend(sorted(ontology().children(value)))
        ids = [self._id_or_minus_one(symbol) for symbol in symbols]
        if not negated and all(i == -1 for i in ids):
            where.add(NEVER, subject=subject)  # no stored value: nothing matches
            return
        marks = ",".join("?" * len(ids))
        sql = f"{column} = ?" if len(ids) == 1 else f"{column} IN ({marks})"
        where.add(f"NOT ({sql})" if negated else sql, *ids, subject=subject)

    def _id_or_minus_one(self, value: str) -> int:
        term = self._lookup(value)
        return -1 if term is None else term

    def _looked_up(self, where: Where, column: str, value: str, *, subject: bool) -> None:
        """Actor and mimetype: exact values via the lookup cache (-1 if unknown)."""
        value, prefix = _split_wildcard(value)
        value, negated = _split_negation(value)
        if prefix:
            self._prefix(where, column, value, negated, subject=subject)
        else:
            term = self._id_or_minus_one(value)
            if term == -1 and not negated:
                where.add(NEVER, subject=subject)  # no stored value: nothing matches
                return
            op = "!=" if negated else "="
            seek = column.startswith("s.") and not negated
            where.add(f"{column} {op} ?", term, subject=subject, seek=seek)

    def _equals_uri(self, column: str, value: str) -> tuple[str, list[object]]:
        """Text and storage: exact match only, compared by subquery upstream."""
        term = self._lookup(value)
        if term is None:
            return NEVER, []  # compares with NULL upstream: matches nothing
        return f"{column} = ?", [term]

    def _uri(
        self,
        where: Where,
        column: str,
        value: str,
        *,
        subject: bool,
        stored: tuple[str, str] | None = None,
    ) -> None:
        """URI-like fields: exact values compared by subquery, or a prefix."""
        value, prefix = _split_wildcard(value)
        value, negated = _split_negation(value)
        if prefix:
            self._prefix(where, column, value, negated, subject=subject, stored=stored)
            return
        # An empty value ("!" alone) is never in Zeitgeist's uri table (empty means
        # NULL there), so it matches nothing; our term 0 is the empty string only to
        # mark an explicitly empty current_origin, and must not count as a URI.
        term = self._lookup(value) if value else None
        if term is None:
            where.add(NEVER, subject=subject)
        elif negated:
            # Zeitgeist compares with "(SELECT id FROM uri WHERE value = ?)", and its uri
            # table holds only URIs. A value stored only as an actor, mimetype, text... is
            # NULL there, so even "!value" matches nothing. Our one term table knows every
            # string, so the negation applies only if the term is in use as a URI.
            where.add(f"({_USED_AS_URI} AND {column} != ?)", *[term] * 6, subject=subject)
        elif stored:
            own, base = stored
            if self._forks:
                where.forks.append(
                    (
                        [(f"{own} = ?", [term], True)],
                        # subject_info's columns have no (column, timestamp) index; the
                        # planner (store/planner.py) turns this into info seeks if it pays.
                        [(f"{own} IS NULL", [], False), (f"{base} = ?", [term], False)],
                    )
                )
            else:
                where.add(
                    f"({own} = ? OR ({own} IS NULL AND {base} = ?))", term, term, subject=subject
                )
        else:
            where.add(f"{column} = ?", term, subject=subject, seek=column.startswith("s."))

    def _prefix(
        self,
        where: Where,
        column: str,
        prefix: str,
        negated: bool,
        *,
        subject: bool,
        stored: tuple[str, str] | None = None,
    ) -> None:
        if prefix:
            terms = "SELECT id FROM term WHERE value >= ? AND value < ?"
            bounds: tuple[object, ...] = (prefix, right_boundary(prefix))
        else:
            # Every term but 0: term 0 marks an explicitly empty current_origin, which
            # is NULL for queries, so "*" must not match it (nor "!*" exclude it).
            terms, bounds = "SELECT id FROM term WHERE id != 0", ()
        if negated:
            where.add(f"({column} NOT IN ({terms}) OR {column} IS NULL)", *bounds, subject=subject)
        elif stored:
            own, base = stored
            where.add(
                f"({own} IN ({terms}) OR ({own} IS NULL AND {base} IN ({terms})))",
                *bounds,
                *bounds,
                subject=subject,
            )
        else:
            where.add(f"{column} IN ({terms})", *bounds, subject=subject)
