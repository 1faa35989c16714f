"""The SQLite engine against the in-memory reference model, step by step.

A hypothesis ``RuleBasedStateMachine`` drives a real ``Engine`` on a real
SQLite file (WAL mode, in its own temporary directory per example) and
``tests/reference_model.py`` side by side, and after every step compares
what they say: insert ids and rejections, deletes, gets, finds with random
templates under all 35 result types, and the changes feed; the SQLite file is
also read directly to check that no term, subject or event row is orphaned.

Values come from small alphabets with shared prefixes, ontology parents and
children, so that templates, groups, dedup keys and moves collide often.
Distinct events get distinct timestamps (``base * 1000 + counter``): ties
between different events are not ordered by Zeitgeist, and which row
represents a group on a tie is SQLite's choice, so the model cannot predict
them. Deliberate duplicates reuse a stored event's dedup key on purpose.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from msgspec.structs import replace

from tests.reference_model import ReferenceLog
from tests.test_stateful_regressions import orphan_terms
from zeitbus import ChangeKind, Engine, Event, Subject, TimeRange
from zeitbus.errors import ZeitbusError
from zeitbus.model import INT64_MAX, INT64_MIN
from zeitbus.ontology import MOVE_EVENT, NFO, ZG

NMM = "http://www.semanticdesktop.org/ontologies/2009/02/19/nmm#"

ACTORS = [
    "application://firefox.desktop",
    "application://firefox-esr.desktop",
    "application://gedit.desktop",
    "application://eog.desktop",
]
EVENT_INTERPRETATIONS = [
    ZG + "AccessEvent",
    ZG + "ModifyEvent",
    ZG + "CreateEvent",
    ZG + "LeaveEvent",
    ZG + "EventInterpretation",  # the parent of all of the above
    "x-custom:interpretation",
]
EVENT_MANIFESTATIONS = [
    ZG + "UserActivity",
    ZG + "SystemNotification",
    ZG + "HeuristicActivity",
    ZG + "EventManifestation",  # their parent
    "x-custom:manifestation*",  # a stored value that ends in "*"
]
URIS = [
    "file:///home/a.txt",
    "file:///home/ab.txt",
    "file:///home/b/c.pdf",
    "file:///home/é.png",
    "https://example.com/",
    "https://example.com/x",
    "http://example.org/p",
    "ftp://host/f.ogg",
    "note:1",
]
SUBJECT_ORIGINS = ["", "", "file:///home", "file:///home/b", "https://example.com", "note:"]
EVENT_ORIGINS = ["", "", "app://launcher", "file:///home", "https://example.com"]
MIMETYPES = [
    "",
    "text/plain",
    "text/html",
    "application/pdf",
    "image/png",
    "audio/ogg",
    "application/x-thing",
]
SUBJECT_INTERPRETATIONS = [
    "",
    "",
    NFO + "Document",
    NFO + "TextDocument",
    NFO + "PaginatedTextDocument",
    NFO + "HtmlDocument",
    NFO + "Image",
    NFO + "Audio",
    NFO + "Media",
    NMM + "MusicPiece",
    "x-custom:subject-interpretation",
]
SUBJECT_MANIFESTATIONS = [
    "",
    "",
    NFO + "FileDataObject",
    NFO + "RemoteDataObject",
    NFO + "WebDataObject",
    NFO + "DeletedResource",
    "x-custom:subject-manifestation",
]
# "file:///home/a.txt" is also a URI: a text must not make it a known URI.
TEXTS = ["", "", "a", "A!", "*", "+x", "file:///home/a.txt"]
STORAGES = ["", "", "", "net", "unknown", "usb-stick"]
PAYLOADS = [b"", b"", b"\x00\x01\xff", b"payload"]

# Current origins a move may set ("" means "the subject's origin"); some are
# also subject origins, some are not.
MOVE_ORIGINS = ["", "file:///home", "https://example.com", "file:///moved", "file:///moved/2"]


def _subject(
    uri: str,
    interpretation: str,
    manifestation: str,
    origin: str,
    mimetype: str,
    text: str,
    storage: str,
    explicit_current: tuple[bool, bool],
) -> Subject:
    return Subject(
        uri=uri,
        interpretation=interpretation,
        manifestation=manifestation,
        origin=origin,
        mimetype=mimetype,
        text=text,
        storage=storage,
        current_uri=uri if explicit_current[0] else "",
        current_origin=origin if explicit_current[1] else "",
    )


SUBJECTS = st.builds(
    _subject,
    st.sampled_from(URIS),
    st.sampled_from(SUBJECT_INTERPRETATIONS),
    st.sampled_from(SUBJECT_MANIFESTATIONS),
    st.sampled_from(SUBJECT_ORIGINS),
    st.sampled_from(MIMETYPES),
    st.sampled_from(TEXTS),
    st.sampled_from(STORAGES),
    st.tuples(st.booleans(), st.booleans()),
)
# A valid, new event; its timestamp is a base (1-40) the machine makes unique.
NEW_EVENTS = st.builds(
    Event,
    timestamp=st.integers(1, 40),
    interpretation=st.sampled_from(EVENT_INTERPRETATIONS),
    manifestation=st.sampled_from(EVENT_MANIFESTATIONS),
    actor=st.sampled_from(ACTORS),
    origin=st.sampled_from(EVENT_ORIGINS),
    subjects=st.lists(SUBJECTS, min_size=1, max_size=3, unique_by=lambda s: s.uri).map(tuple),
    payload=st.sampled_from(PAYLOADS),
)

TEMPLATE_EXTRAS = ["nope", "!", "*", "!*", "+", "application://eog.desktop"]

INVALID_KINDS = [
    "no actor",
    "no interpretation",
    "no manifestation",
    "subject without uri",
    "current_uri without move",
    "current_origin without move",
    "redundant move",
    "duplicate subject uri",
]


# Infos whose aggregates disagree with their rows: the count covers the rows of
# events up to the fold watermark (store/pending.py), and the newest and oldest
# rows, merged with those of the later (pending) rows, are those of all rows.
_INFO_AGGREGATES = """
SELECT i.id, i.rows, i.newest_ts, i.newest_id, i.oldest_ts, i.oldest_id,
       (SELECT count(*) FROM subject s WHERE s.info = i.id AND s.event_id <= :folded)
FROM subject_info i
"""
_INFO_ROWS = "SELECT timestamp, event_id FROM subject WHERE info = ?"


class EngineMachine(RuleBasedStateMachine):
    """Engine and model receive the same calls and must give the same answers."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="zeitbus-stateful-"))
        # Durability is not under test: skip fsyncs to keep 200 examples fast.
        self.engine = Engine.open(self.dir, synchronous="OFF")
        self.model = ReferenceLog()
        # The checks read the file through a connection of their own (autocommit,
        # so every statement sees the latest commit).
        self.db = sqlite3.connect(
            f"file:{self.engine.store.path}?mode=ro", uri=True, isolation_level=None
        )
        assert self.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        self.counter = 0
        self.steps = 0
        self.sent: dict[int, Event] = {}  # id -> the event as it was first sent
        self.seen_seq = 0
        # Deleted with the removal deferred and not purged yet: still in the file.
        self.due: dict[int, Event] = {}

    def teardown(self) -> None:
        """Close the engine and remove its directory."""
        steps, events = min(self.steps // 10 * 10, 30), min(self.model.last_id // 10 * 10, 40)
        event(f"steps: {steps}+, events: {events}+")
        self.db.close()
        self.engine.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- generators ----------------------------------------------------------

    def _timestamp(self, data: st.DataObject) -> int:
        """A timestamp no other event of the example has (ties are not ordered)."""
        self.counter += 1
        return int(data.draw(st.integers(1, 40), label="ts base")) * 1000 + self.counter

    def _new_event(self, data: st.DataObject) -> Event:
        # One draw per event: many small draws make generation the slowest part.
        event = data.draw(NEW_EVENTS, label="new event")
        self.counter += 1
        return replace(event, timestamp=event.ts * 1000 + self.counter)

    def _move_event(self, data: st.DataObject) -> Event:
        """A MoveEvent, usually of a URI some stored row currently has."""
        current = sorted({s.current_uri for e in self.model.events.values() for s in e.subjects})
        count = data.draw(st.integers(1, 2), label="moved subjects")
        olds = data.draw(
            st.lists(st.sampled_from(current + URIS), min_size=count, max_size=count, unique=True),
            label="moved from",
        )
        subjects = []
        for old in olds:
            new = data.draw(st.sampled_from([u for u in [*URIS, "file:///moved/x"] if u != old]))
            subjects.append(
                Subject(
                    uri=old,
                    current_uri=new,
                    origin=data.draw(st.sampled_from(SUBJECT_ORIGINS)),
                    current_origin=data.draw(st.sampled_from(MOVE_ORIGINS)),
                    mimetype=data.draw(st.sampled_from(MIMETYPES)),
                )
            )
        return Event(
            timestamp=self._timestamp(data),
            interpretation=MOVE_EVENT,
            manifestation=data.draw(st.sampled_from(EVENT_MANIFESTATIONS)),
            actor=data.draw(st.sampled_from(ACTORS)),
            subjects=tuple(subjects),
        )

    def _duplicate(self, data: st.DataObject, batch: list[Event | None]) -> Event | None:
        """A new event with the dedup key of a stored (or earlier batch) event."""
        # Stored rows may have moved since: repeat events as they were first sent.
        pool = [e for e in batch if e is not None and e.subjects and not e.id]
        pool += [self.sent[i] for i in self.model.events if i in self.sent]
        if not pool:
            return None
        original = data.draw(st.sampled_from(pool), label="duplicate of")
        subjects = original.subjects
        if data.draw(st.booleans(), label="key only"):
            # Same dedup key (one shared subject URI), different everything else:
            # new values too, which must not leave terms behind.
            keep = data.draw(st.sampled_from(subjects), label="shared subject")
            others = [u for u in URIS if u not in {s.uri for s in subjects}]
            extra = data.draw(st.lists(st.sampled_from(others), max_size=1), label="extra")
            if original.interpretation == MOVE_EVENT:
                extra = []  # a move's subjects must all move
            subjects = (
                replace(keep, text="a duplicate's text", mimetype="text/x-duplicate"),
                *[Subject(uri=u, origin="file:///duplicate") for u in extra],
            )
            if data.draw(st.booleans(), label="shared subject last"):
                subjects = subjects[::-1]
        return Event(
            timestamp=original.ts,
            interpretation=original.interpretation,
            manifestation=original.manifestation,
            actor=original.actor,
            origin=original.origin,
            subjects=subjects,
            payload=data.draw(st.sampled_from(PAYLOADS)),
        )

    def _invalid(self, data: st.DataObject) -> Event:
        event = self._new_event(data)
        kind = data.draw(st.sampled_from(INVALID_KINDS), label="invalid kind")
        first = event.subjects[0]
        if kind == "no actor":
            return replace(event, actor="")
        if kind == "no interpretation":
            return replace(event, interpretation="")
        if kind == "no manifestation":
            return replace(event, manifestation="")
        if kind == "subject without uri":
            return replace(event, subjects=(*event.subjects, Subject(mimetype="text/plain")))
        if kind == "current_uri without move":
            return replace(event, subjects=(replace(first, current_uri="file:///elsewhere"),))
        if kind == "current_origin without move":
            return replace(event, subjects=(replace(first, current_origin="file:///elsewhere"),))
        if kind == "redundant move":
            return replace(
                event, interpretation=MOVE_EVENT, subjects=(replace(first, current_uri=first.uri),)
            )
        return replace(event, subjects=(*event.subjects, Subject(uri=first.uri)))

    # -- rules ---------------------------------------------------------------

    @rule(data=st.data())
    def insert_batch(self, data: st.DataObject) -> None:
        """Insert a batch of new, duplicate, moving, NULL and id-0 events."""
        size = data.draw(st.integers(1, 6), label="batch size")
        batch: list[Event | None] = []
        for _ in range(size):
            kind = data.draw(
                st.sampled_from(["new"] * 8 + ["move", "duplicate", "null", "preset id", "empty"]),
                label="kind",
            )
            if kind == "move":
                batch.append(self._move_event(data))
            elif kind == "duplicate":
                batch.append(self._duplicate(data, batch) or self._new_event(data))
            elif kind == "null":
                batch.append(None)
            elif kind == "preset id":
                preset = data.draw(st.integers(1, 50), label="preset id")
                batch.append(replace(self._new_event(data), id=preset))
            elif kind == "empty":
                batch.append(replace(self._new_event(data), subjects=()))
            else:
                batch.append(self._new_event(data))
        before, moved = self.model.last_id, self.model.moved_rows
        expected = self.model.insert(batch)
        assert self.engine.insert_events(batch) == expected
        for sent, event_id in zip(batch, expected, strict=True):
            if sent is not None and event_id > before:
                self.sent.setdefault(event_id, sent)
        event(f"insert: {sum(0 < i <= before for i in expected)} deduplicated")
        event(f"insert: moved rows {self.model.moved_rows > moved}")

    @rule(data=st.data())
    def insert_invalid_batch(self, data: st.DataObject) -> None:
        """A batch with one invalid event is rejected whole and writes nothing."""
        batch: list[Event | None] = [
            self._new_event(data) for _ in range(data.draw(st.integers(0, 2)))
        ]
        position = data.draw(st.integers(0, len(batch)), label="bad position")
        batch.insert(position, self._invalid(data))
        before_seq = self.engine.last_seq()
        before = self._counts()
        try:
            self.model.insert(batch)
        except ZeitbusError as error:
            expected: type[ZeitbusError] = type(error)
        else:
            raise AssertionError(f"the model accepted an invalid batch: {batch}")
        with pytest.raises(ZeitbusError) as raised:
            self.engine.insert_events(batch)
        assert type(raised.value) is expected, (raised.value, expected)
        assert self.engine.last_seq() == before_seq
        assert self._counts() == before

    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        """Delete existing, unknown, repeated and no ids; compare the ranges."""
        existing = list(self.model.events)
        choices = st.integers(0, self.model.last_id + 3)
        if existing:
            choices = st.sampled_from(existing) | choices
        ids = data.draw(st.lists(choices, max_size=4), label="delete ids")
        doomed = {i: self.model.events[i] for i in ids if i in self.model.events}
        expected = self.model.delete(ids)
        defer = data.draw(st.booleans(), label="defer the removal")
        assert self.engine.delete_events(ids, defer=defer) == expected
        event(f"delete: {'nothing' if expected is None else 'something'}")
        if not defer:
            return
        # The rows stay until a purge; whatever comes next must not meet them.
        self.due.update(doomed)
        then = data.draw(st.sampled_from(["get", "find", "insert", "delete", "purge", "nothing"]))
        event(f"deferred delete, then {then}")
        if then == "get":
            self.get(data)
        elif then == "find":
            self.find(data)
        elif then == "insert":
            self.insert_batch(data)
        elif then == "delete":
            self.delete(data)
        elif then == "purge":
            self.engine.purge_deleted()

    @rule(data=st.data())
    def get(self, data: st.DataObject) -> None:
        """Get events in order, with repeats and unknown ids."""
        ids = data.draw(
            st.lists(st.integers(0, self.model.last_id + 2), max_size=6), label="get ids"
        )
        got = self.engine.get_events(ids)
        want = self.model.get(ids)
        assert len(got) == len(want)
        for event_id, mine, theirs in zip(ids, got, want, strict=True):
            if theirs is None:
                assert mine is None, event_id
                continue
            assert mine is not None, event_id
            assert mine.uid == self.model.uids[event_id]
            assert mine.node == self.engine.node
            assert replace(mine, uid="", node="") == theirs

    @rule(data=st.data())
    def find(self, data: st.DataObject) -> None:
        """Find with random templates, ranges, states, limits and result types."""
        time_range = self._time_range(data)
        n_templates = data.draw(st.sampled_from([0, 0, 1, 1, 1, 2, 3]), label="templates")
        templates = [self._template(data) for _ in range(n_templates)]
        storage_state = data.draw(st.sampled_from([0, 1, 2, 2, 2]), label="storage state")
        num_events = data.draw(st.sampled_from([0, 0, 0, 1, 2, 5]), label="num_events")
        result_type = data.draw(st.integers(0, 34), label="result type")
        self._compare_find(time_range, templates, storage_state, num_events, result_type)

    @rule(data=st.data())
    def insert_another_batch(self, data: st.DataObject) -> None:
        """The same as insert_batch: inserts twice as often, so the log grows."""
        self.insert_batch(data)

    @rule(data=st.data())
    def find_again(self, data: st.DataObject) -> None:
        """The same as find, or (rarely) an unknown result type or storage state."""
        if data.draw(st.integers(0, 9), label="bad arguments") > 0:
            self.find(data)
        elif data.draw(st.booleans()):
            self._compare_find(TimeRange(), [], data.draw(st.sampled_from([3, 7, 99])), 0, 0)
        else:
            self._compare_find(TimeRange(), [], 2, 0, data.draw(st.sampled_from([35, 99, 100])))

    @rule(data=st.data())
    def set_storage_state(self, data: st.DataObject) -> None:
        """A storage medium in use becomes (un)available, as the StorageMonitor records it."""
        known = [
            str(value)
            for (value,) in self.db.execute(
                "SELECT t.value FROM storage s JOIN term t ON t.id = s.id ORDER BY t.value"
            )
        ]
        if not known:
            return
        storage = data.draw(st.sampled_from(known), label="storage")
        state = data.draw(st.sampled_from([0, 1, None]), label="state")
        with self.engine.transaction() as tx:
            tx.connection.execute(
                "UPDATE storage SET state = ? WHERE id = (SELECT id FROM term WHERE value = ?)",
                (state, storage),
            )
        if state is None:
            self.model.storage_states.pop(storage, None)
        else:
            self.model.storage_states[storage] = state

    @rule()
    def reopen(self) -> None:
        """Close and reopen the log: ids, dedup, terms and the feed carry over."""
        node = self.engine.node
        every = self.engine.store.fold_every
        self.engine.close()
        self.engine = Engine.open(self.dir, synchronous="OFF")
        self.engine.store.fold_every = every
        assert self.engine.node == node

    @rule(data=st.data())
    def another_process_writes(self, data: st.DataObject) -> None:
        """Another writer on the same file (``zeitbus log`` beside a daemon) inserts or
        deletes; this engine's caches (ids, terms, infos, kept pending rows) must notice."""
        mine = self.engine
        self.engine = Engine.open(self.dir, synchronous="OFF")
        self.engine.store.fold_every = mine.store.fold_every
        try:
            if data.draw(st.booleans(), label="delete instead"):
                self.delete(data)
            else:
                self.insert_batch(data)
        finally:
            self.engine.close()
            self.engine = mine

    @rule(every=st.sampled_from([1, 2, 5, 4000]))
    def fold_every(self, every: int) -> None:
        """Aggregates folded after every few events, or seldom (store/pending.py)."""
        self.engine.store.fold_every = every

    @rule()
    def fold(self) -> None:
        """Fold the pending rows now: answers must not change."""
        self.engine.store.fold()

    @rule()
    def whole_feed(self) -> None:
        """The whole feed, read again from the start, still agrees with the model."""
        self._check_changes(0)

    # -- find helpers ----------------------------------------------------------

    def _compare_find(
        self,
        time_range: TimeRange,
        templates: list[Event],
        storage_state: int,
        num_events: int,
        result_type: int,
    ) -> None:
        args = (time_range, templates, storage_state, num_events, result_type)
        refusal: type[ZeitbusError] | None = None
        try:
            expected = self.model.find(*args)
        except ZeitbusError as error:
            refusal = type(error)
        if refusal is not None:
            with pytest.raises(ZeitbusError) as raised:
                self.engine.find_event_ids(*args)
            assert type(raised.value) is refusal, (raised.value, refusal, args)
            event(f"find: {refusal.__name__}")
            return
        got = self.engine.find_event_ids(*args)
        assert got == expected, (f"engine {got} != model {expected}", args)
        event(f"find: {min(len(got), 3)} ids")
        if num_events == 0 and result_type == 0:
            events = self.engine.find_events(time_range, templates, storage_state, 0, result_type)
            assert [e.id for e in events] == expected

    def _time_range(self, data: st.DataObject) -> TimeRange:
        stamps = sorted({e.ts for e in self.model.events.values()})
        kind = data.draw(st.sampled_from(["zero", "always", "both", "start", "end", "int64"]))
        if kind == "zero":
            return TimeRange(0, 0)
        if kind == "int64":
            return TimeRange(INT64_MIN, data.draw(st.sampled_from([INT64_MAX, 0, 20_000])))
        if kind == "always":
            return TimeRange.always()
        bound = st.sampled_from(stamps) if stamps else st.integers(1, 41_000)
        bound = bound.flatmap(lambda t: st.sampled_from([t - 1, t, t + 1]))
        low = data.draw(bound, label="start")
        if kind == "start":
            return TimeRange(low, 0)
        high = data.draw(bound, label="end")
        if kind == "end":
            return TimeRange(0, high)
        return TimeRange(min(low, high), max(low, high))

    def _value(self, data: st.DataObject, pool: list[str], *, operators: bool = True) -> str:
        """A template value: exact, negated, prefix, no-expand or an odd one."""
        base = data.draw(st.sampled_from([v for v in pool if v] + TEMPLATE_EXTRAS))
        if not operators:
            return base
        form = data.draw(
            st.sampled_from(["exact"] * 4 + ["not"] * 2 + ["prefix"] * 2 + ["notprefix", "plus"])
        )
        if form == "not":
            return "!" + base
        if form == "plus":
            return "+" + base
        if form in ("prefix", "notprefix"):
            cut = data.draw(st.integers(0, len(base)), label="prefix length")
            return ("!" if form == "notprefix" else "") + base[:cut] + "*"
        return base

    def _rare_star(self, data: st.DataObject, pool: list[str]) -> str:
        """A value for a field that rejects "*" (and "!" for storage): mostly valid."""
        value = self._value(data, pool)
        if value.endswith("*") and data.draw(st.integers(0, 9)) > 0:
            value = value.rstrip("*") or pool[-1]
        return value

    def _template(self, data: st.DataObject) -> Event:
        def maybe(p: int) -> bool:
            return bool(data.draw(st.integers(0, 99)) < p)

        subjects = []
        for _ in range(data.draw(st.sampled_from([0, 0, 1, 1, 2]), label="subject templates")):
            storage = ""
            if maybe(10):
                storage = self._rare_star(data, [s for s in STORAGES if s])
                if storage.startswith("!") and data.draw(st.integers(0, 9)) > 0:
                    storage = storage[1:]
            subjects.append(
                Subject(
                    uri=self._value(data, URIS) if maybe(30) else "",
                    interpretation=self._value(data, SUBJECT_INTERPRETATIONS) if maybe(20) else "",
                    manifestation=(
                        self._rare_star(data, SUBJECT_MANIFESTATIONS) if maybe(15) else ""
                    ),
                    origin=self._value(data, SUBJECT_ORIGINS + MOVE_ORIGINS) if maybe(15) else "",
                    mimetype=self._value(data, MIMETYPES) if maybe(20) else "",
                    text=self._value(data, TEXTS) if maybe(10) else "",
                    storage=storage,
                    current_uri=self._value(data, [*URIS, "file:///moved/x"]) if maybe(20) else "",
                    current_origin=self._value(data, MOVE_ORIGINS) if maybe(15) else "",
                )
            )
        event_ids = [*self.model.events, 999]
        return Event(
            id=data.draw(st.sampled_from(event_ids)) if maybe(5) else 0,
            timestamp=data.draw(st.sampled_from([None, 5])),  # ignored by find
            interpretation=(
                self._rare_star(data, [*EVENT_INTERPRETATIONS, MOVE_EVENT]) if maybe(30) else ""
            ),
            manifestation=self._value(data, EVENT_MANIFESTATIONS) if maybe(20) else "",
            actor=self._value(data, ACTORS) if maybe(30) else "",
            origin=self._value(data, EVENT_ORIGINS) if maybe(15) else "",
            subjects=tuple(subjects),
        )

    # -- invariants ------------------------------------------------------------

    def _counts(self) -> tuple[int, int]:
        events = self.db.execute("SELECT count(*) FROM event").fetchone()[0]
        subjects = self.db.execute("SELECT count(*) FROM subject").fetchone()[0]
        return int(events), int(subjects)

    @invariant()
    def same_counts(self) -> None:
        """The file holds exactly the model's events and subjects (and those due a purge)."""
        if not self.engine.store.purge_due:
            self.due.clear()
        # Another process may have purged them (it finishes what it finds due).
        marks = ",".join("?" * len(self.due))
        still = {
            i
            for (i,) in self.db.execute(f"SELECT id FROM event WHERE id IN ({marks})", [*self.due])
        }
        held = [*self.model.events.values(), *(e for i, e in self.due.items() if i in still)]
        assert self._counts() == (len(held), sum(len(e.subjects) for e in held))

    @invariant()
    def no_orphans(self) -> None:
        """Every term but 0 is referenced; every subject has its event and vice versa."""
        assert orphan_terms(self.engine, self.db) == []
        lonely_subjects = self.db.execute(
            "SELECT count(*) FROM subject WHERE event_id NOT IN (SELECT id FROM event)"
        ).fetchone()[0]
        empty_events = self.db.execute(
            "SELECT count(*) FROM event WHERE id NOT IN (SELECT event_id FROM subject)"
        ).fetchone()[0]
        assert lonely_subjects == 0
        assert empty_events == 0
        self._check_info_aggregates()

    def _check_info_aggregates(self) -> None:
        """Each info's aggregates, with its pending rows, describe its rows; none is unused."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'folded_id'").fetchone()
        folded = int(row[0]) if row else 0
        for info, rows, newest_ts, newest_id, oldest_ts, oldest_id, folded_rows in self.db.execute(
            _INFO_AGGREGATES, {"folded": folded}
        ).fetchall():
            all_rows = self.db.execute(_INFO_ROWS, (info,)).fetchall()
            assert all_rows, f"info {info} is used by no row"
            assert rows == folded_rows
            ends = [(ts, eid) for ts, eid in all_rows if eid > folded]
            if newest_ts is not None:
                ends += [(newest_ts, newest_id), (oldest_ts, oldest_id)]
            assert max(ends, key=lambda e: (e[0], -e[1])) == max(
                all_rows, key=lambda e: (e[0], -e[1])
            )
            assert min(ends) == min(all_rows)

    @invariant()
    def feed_matches(self) -> None:
        """New changes are gap-free and match the model's inserts and tombstones."""
        self.seen_seq = self._check_changes(self.seen_seq)
        self.steps += 1

    def _check_changes(self, since: int) -> int:
        changes = self.engine.changes(since, 1_000_000)
        expected = self.model.changes[since:]
        assert [(c.seq, c.kind, c.id, c.timestamp) for c in changes] == [
            (m.seq, m.kind, m.id, m.timestamp) for m in expected
        ]
        for change in changes:
            assert change.uid
            if change.kind is ChangeKind.INSERT:
                known = self.model.uids.setdefault(change.id, change.uid)
                assert known == change.uid
                if change.id in self.model.events:
                    assert change.node == self.engine.node
            else:
                assert self.model.uids[change.id] == change.uid
        assert len(set(self.model.uids.values())) == len(self.model.uids)
        assert self.engine.last_seq() == len(self.model.changes)
        return len(self.model.changes)


EngineMachine.TestCase.settings = settings(stateful_step_count=30)
TestEngineAgainstModel = EngineMachine.TestCase
TestEngineAgainstModel.__doc__ = "The engine and the reference model agree on every step."
