"""DeleteEvents at scale: ranges, tombstones, no orphaned rows, and terms reused after."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.test_stateful_regressions import orphan_terms
from zeitbus import ChangeKind, Engine, Event, Subject
from zeitbus.location import DB_NAME
from zeitbus.ontology import ACCESS_EVENT, USER_ACTIVITY, ZG

N = 3000


def _event(n: int, *, actor: str | None = None, text: str | None = None) -> Event:
    """Event number ``n`` (timestamp 10 * n): shared values, a few unique ones, 1-3 subjects."""
    subjects = tuple(
        Subject(
            uri=f"file:///home/dir{n % 7}/file{n}-{k}.txt",
            origin=f"file:///home/dir{n % 7}",
            mimetype=("text/plain", "image/png", "application/pdf")[(n + k) % 3],
            text=text if text is not None else f"text {n % 50}",
        )
        for k in range(1 + n % 3)
    )
    return Event(
        timestamp=10 * n,
        interpretation=(ACCESS_EVENT, ZG + "ModifyEvent")[n % 2],
        manifestation=USER_ACTIVITY,
        actor=actor if actor is not None else f"application://app{n % 5}.desktop",
        origin=f"app://origin{n % 4}" if n % 3 else "",
        subjects=subjects,
        payload=bytes([n % 256]) if n % 2 else b"",
    )


def _fill(engine: Engine, count: int = N) -> list[int]:
    ids: list[int] = []
    for start in range(1, count + 1, 500):
        ids += engine.insert_events([_event(n) for n in range(start, min(start + 500, count + 1))])
    return ids


def _rows(engine: Engine) -> dict[str, int]:
    """Row counts and dangling rows, read from the file with a separate connection."""
    with sqlite3.connect(f"file:{engine.store.path}?mode=ro", uri=True) as conn:
        counts = {
            "event": conn.execute("SELECT count(*) FROM event").fetchone()[0],
            "subject": conn.execute("SELECT count(*) FROM subject").fetchone()[0],
            "lonely subjects": conn.execute(
                "SELECT count(*) FROM subject WHERE event_id NOT IN (SELECT id FROM event)"
            ).fetchone()[0],
            "empty events": conn.execute(
                "SELECT count(*) FROM event WHERE id NOT IN (SELECT event_id FROM subject)"
            ).fetchone()[0],
        }
    conn.close()
    return {key: int(value) for key, value in counts.items()}


def _subjects_of(ids: range | list[int]) -> int:
    return sum(1 + n % 3 for n in ids)


def test_deleting_a_thousand_events_leaves_no_orphans_and_writes_tombstones(
    engine: Engine,
) -> None:
    """Deleting 1000 of 3000 events returns their range, one tombstone each, no orphans."""
    ids = _fill(engine)
    assert ids == list(range(1, N + 1))
    before = engine.last_seq()
    doomed = list(range(1000, 2000))
    assert engine.delete_events(doomed) == (10_000, 19_990)
    survivors = [n for n in range(1, N + 1) if not 1000 <= n < 2000]
    assert _rows(engine) == {
        "event": len(survivors),
        "subject": _subjects_of(survivors),
        "lonely subjects": 0,
        "empty events": 0,
    }
    assert orphan_terms(engine) == []
    tombstones = engine.changes(before, 2000)
    assert [c.seq for c in tombstones] == list(range(before + 1, before + 1001))
    assert {c.kind for c in tombstones} == {ChangeKind.DELETE}
    assert [c.id for c in tombstones] == doomed
    inserts = {c.id: c for c in engine.changes(0, N)}
    assert [c.uid for c in tombstones] == [inserts[i].uid for i in doomed]
    assert [c.timestamp for c in tombstones] == [10 * i for i in doomed]
    got = engine.get_events([999, 1000, 1999, 2000])
    assert [e.id if e else None for e in got] == [999, None, None, 2000]


def test_deleting_everything_drops_every_term_but_storages(engine: Engine) -> None:
    """After deleting every event only term 0 and the storage media are left."""
    _fill(engine, 1200)
    assert engine.delete_events(list(range(1, 1201))) == (10, 12_000)
    assert _rows(engine) == {"event": 0, "subject": 0, "lonely subjects": 0, "empty events": 0}
    with sqlite3.connect(f"file:{engine.store.path}?mode=ro", uri=True) as conn:
        left = conn.execute("SELECT value FROM term ORDER BY id").fetchall()
    conn.close()
    assert [value for (value,) in left] == ["", "unknown"]
    assert engine.find_event_ids() == []


def test_inserts_after_deletes_reuse_and_recreate_terms_correctly(engine: Engine) -> None:
    """Values whose terms were dropped are stored and found again; shared ones stay shared."""
    _fill(engine, 600)
    lone = "application://only-once.desktop"
    [lone_id] = engine.insert_events([_event(5000, actor=lone, text="a unique text")])
    by_actor = Event(actor=lone)
    by_text = Event(subjects=(Subject(text="a unique text"),))
    assert engine.find_event_ids(templates=[by_actor]) == [lone_id]  # caches the term
    assert engine.delete_events([lone_id]) == (50_000, 50_000)
    assert orphan_terms(engine) == []
    assert engine.find_event_ids(templates=[by_actor]) == []
    assert engine.find_event_ids(templates=[by_text]) == []
    # The dropped values come back with new terms; the cache must not keep the old ids.
    [again] = engine.insert_events([_event(5001, actor=lone, text="a unique text")])
    assert again == lone_id + 1  # ids are never reused, even of the newest event
    assert engine.find_event_ids(templates=[by_actor]) == [again]
    assert engine.find_event_ids(templates=[by_text]) == [again]
    [stored] = engine.get_events([again])
    assert stored is not None
    assert stored.actor == lone
    assert stored.subjects[0].text == "a unique text"
    # Shared values of deleted events stay usable by the survivors and by new events.
    assert engine.delete_events(list(range(1, 301))) == (10, 3000)
    assert orphan_terms(engine) == []
    app0 = Event(actor="application://app0.desktop")
    survivors = [n for n in range(600, 300, -1) if n % 5 == 0]
    assert engine.find_event_ids(templates=[app0]) == survivors
    [new] = engine.insert_events([_event(6020)])  # app0, dir0
    assert engine.find_event_ids(templates=[app0]) == [new, *survivors]
    dir0 = Event(subjects=(Subject(origin="file:///home/dir0"),))
    found = engine.find_event_ids(templates=[dir0])
    assert found == [new, *[n for n in range(600, 300, -1) if n % 7 == 0]]
    assert orphan_terms(engine) == []


def test_deleting_nothing_or_unknown_ids_returns_none_and_writes_nothing(engine: Engine) -> None:
    """No ids, id 0 and unknown ids return None and leave the feed and the rows alone."""
    _fill(engine, 50)
    seq, rows = engine.last_seq(), _rows(engine)
    assert engine.delete_events([]) is None
    assert engine.delete_events([0]) is None
    assert engine.delete_events([51, 52, 10_000, 2**32 - 1]) is None
    assert engine.last_seq() == seq
    assert _rows(engine) == rows
    # Known and unknown ids together: the range and tombstones of the known ones only.
    assert engine.delete_events([999, 7, 7, 3, 0]) == (30, 70)
    assert [(c.kind, c.id) for c in engine.changes(seq, 10)] == [
        (ChangeKind.DELETE, 3),
        (ChangeKind.DELETE, 7),
    ]
    assert engine.delete_events([3, 7]) is None
    assert engine.last_seq() == seq + 2


def _file_state(path: str) -> dict[str, list[tuple[object, ...]]]:
    """Every table but the feed and meta, as rows (the aggregates included), uids aside."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = ["subject", "subject_info", "term", "stat", "storage"]
        state = {t: db.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in tables}
        state["event"] = db.execute(  # all but the uid, which each log makes at random
            "SELECT id, timestamp, interpretation, manifestation, actor, origin, node, payload"
            " FROM event ORDER BY id"
        ).fetchall()
        return state
    finally:
        db.close()


def test_a_deferred_delete_ends_as_an_immediate_one(tmp_path: Path) -> None:
    """The same deletes, with and without deferring the removal, leave the same file."""
    ends = []
    for defer in (False, True):
        with Engine.open(tmp_path / str(defer)) as engine:
            ids = _fill(engine, 600)
            first = engine.delete_events(ids[::3], defer=defer)
            second = engine.delete_events(ids[1::7], defer=defer)
            assert first == (10, 5980)
            assert second is not None
            engine.purge_deleted()
            assert not engine.store.purge_due
            ends.append(_file_state(engine.store.path))
    assert ends[0] == ends[1]


def test_deferred_rows_are_never_read_and_their_tombstones_are_written_at_once(
    engine: Engine,
) -> None:
    ids = _fill(engine, 300)
    assert engine.delete_events(ids[:100], defer=True) == (10, 1000)
    assert engine.store.purge_due
    # The feed has the tombstones before any purge, and reads the same after it.
    before = engine.changes(0, 1000)
    assert [c.id for c in before if c.kind is ChangeKind.DELETE] == ids[:100]
    assert engine.store.purge_due  # reading the feed does not wait for the purge
    # ... every other read does: none sees the rows.
    assert engine.get_events(ids[:3]) == [None, None, None]
    assert not engine.store.purge_due
    assert engine.changes(0, 1000) == before
    assert engine.delete_events(ids[:100], defer=True) is None  # already gone


def test_a_deferred_delete_left_by_a_crash_is_purged_by_the_next_process(
    tmp_path: Path,
) -> None:
    """A process that stopped before its purge (a crash) leaves tombstones the next one finishes."""
    first = Engine.open(tmp_path)
    ids = _fill(first, 200)
    first.delete_events(ids[:50], defer=True)
    # Another process opens the log while the first has not purged.
    with Engine.open(tmp_path) as second:
        assert second.store.purge_due
        assert second.get_events(ids[:2]) == [None, None]
        assert second.find_event_ids(num_events=0)[-1] == ids[50]
    first.store.purge()  # nothing left for it to do
    assert not first.store.purge_due
    first.close()
    assert len(_file_state(str(tmp_path / DB_NAME))["event"]) == 150


def test_an_id_reused_by_an_import_is_not_taken_for_a_deleted_one(tmp_path: Path) -> None:
    """Imports may keep ids; an event restored under a purged event's id stays."""
    with Engine.open(tmp_path) as engine:
        ids = _fill(engine, 20)
        kept = engine.get_events([ids[0]])[0]
        assert kept is not None
        engine.delete_events([ids[0]], defer=True)
        engine.purge_deleted()
        engine.import_events([kept.with_changes(uid="")], keep_ids=True)
    with Engine.open(tmp_path) as engine:
        assert not engine.store.purge_due
        assert engine.get_events([ids[0]])[0] is not None
