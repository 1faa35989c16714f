"""Engine.receive: a batch from another node, taken in once, with its cursor, deletes winning."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from zeitbus import ChangeKind, Engine, Event, InvalidArgument, Subject
from zeitbus.model import TimeRange
from zeitbus.ontology import ACCESS_EVENT, MOVE_EVENT, USER_ACTIVITY


def an_event(ts: int, uri: str, actor: str = "application://vim.desktop") -> Event:
    return Event(
        timestamp=ts,
        interpretation=ACCESS_EVENT,
        manifestation=USER_ACTIVITY,
        actor=actor,
        subjects=(Subject(uri=uri),),
    )


@pytest.fixture
def laptop(tmp_path: Path) -> Iterator[Engine]:
    with Engine.open(tmp_path / "laptop") as engine:
        yield engine


@pytest.fixture
def desktop(tmp_path: Path) -> Iterator[Engine]:
    with Engine.open(tmp_path / "desktop") as engine:
        yield engine


def recorded(engine: Engine, *events: Event) -> list[Event]:
    """Events as ``engine`` stored them (with uid and node), in the order given."""
    ids = engine.insert_events(list(events))
    return [e for e in engine.get_events(ids) if e is not None]


def uids(engine: Engine) -> set[str]:
    return {e.uid for e in engine.iter_events()}


def test_received_events_keep_uid_node_and_fields_and_get_local_ids(
    laptop: Engine, desktop: Engine
) -> None:
    desktop.insert_events([an_event(500, "file:///desk")])
    sent = recorded(laptop, an_event(1000, "file:///a"), an_event(2000, "file:///b"))
    done = desktop.receive(sent, source=laptop.node)
    assert (done.stored, done.refused) == (2, 0)
    got = [desktop.get_event_by_uid(e.uid) for e in sent]
    assert [g.id for g in got if g is not None] == [2, 3]
    for mine, theirs in zip(got, sent, strict=True):
        assert mine is not None
        assert mine.with_changes(id=0) == theirs.with_changes(id=0)
        assert mine.node == laptop.node
    changes = desktop.changes(1)
    assert [(c.kind, c.source, c.node) for c in changes] == [
        (ChangeKind.INSERT, laptop.node, laptop.node)
    ] * 2


def test_a_batch_replayed_any_number_of_times_creates_no_duplicate(
    laptop: Engine, desktop: Engine
) -> None:
    sent = recorded(laptop, an_event(1000, "file:///a"), an_event(2000, "file:///b"))
    desktop.receive(sent, source=laptop.node)
    last = desktop.last_seq()
    for _ in range(3):
        assert desktop.receive(sent, source=laptop.node).stored == 0
    assert desktop.last_seq() == last
    assert uids(desktop) == {e.uid for e in sent}


def test_events_of_two_nodes_with_one_dedup_key_are_both_kept(
    laptop: Engine, desktop: Engine
) -> None:
    """Zeitgeist's dedup key is per log; two machines recording it made two events."""
    same = an_event(1000, "file:///shared")
    theirs = recorded(laptop, same)
    mine = recorded(desktop, same)
    desktop.receive(theirs, source=laptop.node)
    assert uids(desktop) == {theirs[0].uid, mine[0].uid}


def test_a_tombstone_removes_the_event_and_goes_on_the_feed(
    laptop: Engine, desktop: Engine
) -> None:
    sent = recorded(laptop, an_event(1000, "file:///a"), an_event(2000, "file:///b"))
    desktop.receive(sent, source=laptop.node)
    done = desktop.receive([], [sent[0].uid], source=laptop.node)
    assert done.stored == 0
    assert uids(desktop) == {sent[1].uid}
    tombstone = desktop.changes(desktop.last_seq() - 1)[-1]
    assert (tombstone.kind, tombstone.uid, tombstone.source) == (
        ChangeKind.DELETE,
        sent[0].uid,
        laptop.node,
    )


@pytest.mark.parametrize("order", ["tombstone first", "same batch", "insert again later"])
def test_a_delete_wins_over_a_late_or_repeated_insert(
    laptop: Engine, desktop: Engine, order: str
) -> None:
    [event] = recorded(laptop, an_event(1000, "file:///a"))
    if order == "tombstone first":
        desktop.receive([], [event.uid], source=laptop.node)
        assert desktop.receive([event], source=laptop.node).refused == 1
    elif order == "same batch":
        desktop.receive([event], [event.uid], source=laptop.node)
    else:
        desktop.receive([event], source=laptop.node)
        desktop.receive([], [event.uid], source=laptop.node)
        desktop.receive([event], source=laptop.node)
    assert uids(desktop) == set()
    tombstones = [c for c in desktop.changes() if c.kind is ChangeKind.DELETE]
    assert [c.uid for c in tombstones] == [event.uid]  # one, however often it came


def test_a_tombstone_received_twice_is_recorded_once(laptop: Engine, desktop: Engine) -> None:
    [event] = recorded(laptop, an_event(1000, "file:///a"))
    desktop.receive([], [event.uid], source=laptop.node)
    last = desktop.last_seq()
    desktop.receive([], [event.uid, event.uid], source=laptop.node)
    assert desktop.last_seq() == last


def test_the_cursor_is_stored_with_the_batch(laptop: Engine, desktop: Engine) -> None:
    sent = recorded(laptop, an_event(1000, "file:///a"))
    desktop.receive(sent, source=laptop.node, cursor=("sync:pull:laptop", 7))
    assert desktop.cursor("sync:pull:laptop") == 7


def test_a_rejected_batch_stores_nothing_not_even_its_cursor(
    laptop: Engine, desktop: Engine
) -> None:
    good = recorded(laptop, an_event(1000, "file:///a"))
    desktop.receive([], source=laptop.node, cursor=("sync:pull:laptop", 1))
    last = desktop.last_seq()
    without_uid = an_event(2000, "file:///b")
    with pytest.raises(InvalidArgument, match="received event 1 needs a uid and a node"):
        desktop.receive([*good, without_uid], source=laptop.node, cursor=("sync:pull:laptop", 9))
    with pytest.raises(InvalidArgument, match="tombstone 0 is not a uid"):
        desktop.receive(good, ["not-a-uid"], source=laptop.node, cursor=("sync:pull:laptop", 9))
    assert desktop.last_seq() == last
    assert desktop.cursor("sync:pull:laptop") == 1
    assert uids(desktop) == set()


def test_a_received_move_event_moves_earlier_events_here(laptop: Engine, desktop: Engine) -> None:
    [opened] = recorded(laptop, an_event(1000, "file:///old"))
    desktop.receive([opened], source=laptop.node)
    move = Event(
        timestamp=2000,
        interpretation=MOVE_EVENT,
        manifestation=USER_ACTIVITY,
        actor="application://nautilus.desktop",
        subjects=(Subject(uri="file:///old", current_uri="file:///new"),),
    )
    [moved] = recorded(laptop, move)
    desktop.receive([moved], source=laptop.node)
    found = desktop.find_events(TimeRange(), [], 0, 10, 0)
    current = {e.uid: e.subjects[0].current_uri for e in found}
    assert current[opened.uid] == "file:///new"
    assert current == {
        e.uid: e.subjects[0].current_uri for e in laptop.find_events(TimeRange(), [], 0, 10, 0)
    }


def test_an_event_like_one_a_tombstone_of_the_same_batch_removed_is_stored_whole(
    laptop: Engine, desktop: Engine
) -> None:
    """The removal drops the subject's info; the insert after it must make it anew."""
    [first] = recorded(laptop, an_event(1000, "file:///a"))
    desktop.receive([first], source=laptop.node)
    laptop.delete_events([first.id])
    [again] = recorded(laptop, an_event(1000, "file:///a"))  # the same strings, a new event
    desktop.receive([again], [first.uid], source=laptop.node)
    [stored] = list(desktop.iter_events())
    assert stored.uid == again.uid
    assert stored.subjects == again.subjects


def test_the_checkpoint_never_goes_backwards(laptop: Engine, desktop: Engine) -> None:
    """The desktop's pull and the laptop's push both keep the desktop's checkpoint."""
    sent = recorded(laptop, an_event(1000, "file:///a"), an_event(2000, "file:///b"))
    desktop.receive(sent, source=laptop.node, cursor=("sync:from:laptop", 2))
    desktop.receive(sent[:1], source=laptop.node, cursor=("sync:from:laptop", 1))
    assert desktop.cursor("sync:from:laptop") == 2
