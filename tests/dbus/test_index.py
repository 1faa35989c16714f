"""Full-text search (``org.gnome.zeitgeist.Index``) of ``zeitbus daemon``, over raw
dbus-fast calls and Debian's python3-zeitgeist / dbus-python client."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from tests.dbus.conftest import ZeitbusDaemon, daemon_env, spawn_daemon
from tests.zeitgeist_reference import SYSTEM_PYTHON
from zeitbus import Event, Subject
from zeitbus.dbus.codec import event_to_wire
from zeitbus.dbus.log import ENGINE_BUS_NAME, LOG_INTERFACE, LOG_PATH
from zeitbus.model import INT64_MAX

pytestmark = pytest.mark.slow

INDEX_PATH = "/org/gnome/zeitgeist/index/activity"
INDEX = "org.gnome.zeitgeist.Index"
ACCESS = "http://www.zeitgeist-project.com/ontologies/2010/01/27/zg#AccessEvent"
USER = "http://www.zeitgeist-project.com/ontologies/2010/01/27/zg#UserActivity"
ALWAYS = [0, INT64_MAX]
RELEVANCY = 100
INVALID_ARGUMENT = "org.gnome.zeitgeist.EngineError.InvalidArgument"


def event(timestamp: int, uri: str, text: str, actor: str = "application://gedit.desktop") -> Event:
    """One event with one subject."""
    return Event(
        timestamp=timestamp,
        interpretation=ACCESS,
        manifestation=USER,
        actor=actor,
        subjects=(Subject(uri=uri, text=text, mimetype="text/plain"),),
    )


# ids 1-5 in a fresh log
EVENTS = [
    event(1000, "file:///home/ann/Documents/ProjectPlan.odt", "Project plan"),
    event(2000, "http://www.example.org/wiki/Kittens", "Kittens", "application://firefox.desktop"),
    event(3000, "file:///tmp/other_notes.txt", "notes about cats"),
    event(4000, "file:///tmp/other_notes.txt", "notes about cats again"),
    event(5000, "file:///tmp/recipes.txt", "soup recipes"),
]


class Index:
    """Raw calls to the daemon's Log and Index on a dbus-fast connection."""

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus

    async def call(self, path: str, interface: str, member: str, sig: str, body: Any) -> Message:
        reply = await self.bus.call(
            Message(
                destination=ENGINE_BUS_NAME,
                path=path,
                interface=interface,
                member=member,
                signature=sig,
                body=body,
            )
        )
        assert reply is not None
        return reply

    async def insert(self, events: list[Event]) -> list[int]:
        reply = await self.call(
            LOG_PATH,
            LOG_INTERFACE,
            "InsertEvents",
            "a(asaasay)",
            [[event_to_wire(e) for e in events]],
        )
        return list(ok(reply)[0])

    async def delete(self, ids: list[int]) -> None:
        ok(await self.call(LOG_PATH, LOG_INTERFACE, "DeleteEvents", "au", [ids]))

    async def search_raw(
        self,
        query: str,
        time_range: list[int] = ALWAYS,
        templates: list[Event] = (),  # type: ignore[assignment]
        offset: int = 0,
        count: int = 10,
        result_type: int = RELEVANCY,
    ) -> Message:
        return await self.call(
            INDEX_PATH,
            INDEX,
            "Search",
            "s(xx)a(asaasay)uuu",
            [query, time_range, [event_to_wire(t) for t in templates], offset, count, result_type],
        )

    async def search(self, query: str, **kwargs: Any) -> tuple[list[int], int]:
        """Search: (ids of the events, matches)."""
        events, matches = ok(await self.search_raw(query, **kwargs))
        return [int(e[0][0]) for e in events], matches

    async def with_relevancies_raw(
        self, query: str, storage_state: int = 2, count: int = 10, result_type: int = RELEVANCY
    ) -> Message:
        return await self.call(
            INDEX_PATH,
            INDEX,
            "SearchWithRelevancies",
            "s(xx)a(asaasay)uuuu",
            [query, ALWAYS, [], storage_state, 0, count, result_type],
        )

    async def with_relevancies(
        self, query: str, **kwargs: Any
    ) -> tuple[list[int], list[float], int]:
        events, relevancies, matches = ok(await self.with_relevancies_raw(query, **kwargs))
        return [int(e[0][0]) for e in events], relevancies, matches


def ok(reply: Message) -> Any:
    """The body of a method return; fails on an error reply."""
    assert reply.message_type is MessageType.METHOD_RETURN, (reply.error_name, reply.body)
    return reply.body


def on_index(daemon: ZeitbusDaemon, work: Any) -> Any:
    """Run ``work(Index)`` on a dbus-fast connection to the daemon's bus."""

    async def main() -> Any:
        bus = await MessageBus(bus_address=daemon.bus_address).connect()
        try:
            return await work(Index(bus))
        finally:
            bus.disconnect()

    return asyncio.run(main())


@pytest.fixture
def seeded(zeitbus_daemon: ZeitbusDaemon) -> ZeitbusDaemon:
    """The daemon with EVENTS stored (ids 1-5)."""
    assert on_index(zeitbus_daemon, lambda index: index.insert(EVENTS)) == [1, 2, 3, 4, 5]
    return zeitbus_daemon


def test_words_phrases_operators_and_wildcards(seeded: ZeitbusDaemon) -> None:
    """What people type: words (ANDed), phrases, OR, NOT, -word, trailing *; URI parts too."""

    async def work(index: Index) -> dict[str, tuple[list[int], int]]:
        queries = [
            "plan",
            "project plan",
            '"plan project"',
            '"project plan"',
            "kittens OR recipes",
            "notes NOT again",
            "notes -again",
            "proj*",
            "documents",
            "example.org",
            "firefox",
        ]
        return {q: await index.search(q, result_type=0) for q in queries}

    found = on_index(seeded, work)
    assert found["plan"] == ([1], 1)
    assert found["project plan"] == ([1], 1)
    assert found['"plan project"'] == ([], 0)
    assert found['"project plan"'] == ([1], 1)
    assert found["kittens OR recipes"] == ([5, 2], 2)
    assert found["notes NOT again"] == ([3], 1)
    assert found["notes -again"] == ([3], 1)
    assert found["proj*"] == ([1], 1)
    assert found["documents"] == ([1], 1)  # a directory of the file
    assert found["example.org"] == ([2], 1)  # the host of the page
    assert found["firefox"] == ([2], 1)  # the actor's app name


def test_time_range_templates_offset_and_count(seeded: ZeitbusDaemon) -> None:
    """Time range and templates narrow the matches; offset/count page them; matches counts all."""

    async def work(index: Index) -> list[tuple[list[int], int]]:
        firefox = Event(actor="application://firefox.desktop")
        gedit = Event(actor="application://gedit.desktop")
        query = "cats OR kittens OR plan"
        return [
            await index.search(query, result_type=0),
            await index.search(query, time_range=[1500, 3500], result_type=0),
            await index.search(query, templates=[firefox], result_type=0),
            await index.search(query, templates=[gedit], result_type=1),
            await index.search(query, offset=1, count=2, result_type=0),
            await index.search(query, offset=10, count=2, result_type=0),
            await index.search(query, count=0, result_type=0),
        ]

    assert on_index(seeded, work) == [
        ([4, 3, 2, 1], 4),
        ([3, 2], 2),
        ([2], 1),
        ([1, 3, 4], 3),
        ([3, 2], 4),
        ([], 4),
        ([], 4),
    ]


def test_relevancy_puts_the_best_match_first(seeded: ZeitbusDaemon) -> None:
    """Result type 100 orders by relevance, the best with relevancy 1.0, then decreasing."""

    async def work(index: Index) -> tuple[Any, Any]:
        await index.insert(
            [
                event(6000, "file:///tmp/a.txt", "soup"),
                event(7000, "file:///tmp/soup-soup.txt", "soup soup soup"),
            ]
        )
        return await index.with_relevancies("soup"), await index.search("soup")

    (ids, relevancies, matches), plain = on_index(seeded, work)
    assert ids[0] == 7
    assert set(ids) == {5, 6, 7}
    assert matches == 3
    assert relevancies[0] == 1.0
    assert relevancies == sorted(relevancies, reverse=True)
    assert all(0 < r <= 1 for r in relevancies)
    assert plain == (ids, 3)


def test_subject_result_types_collapse_by_subject(seeded: ZeitbusDaemon) -> None:
    """MostRecentSubjects gives one event per subject URI, its newest, newest first."""

    async def work(index: Index) -> tuple[Any, Any, Any]:
        return (
            await index.search("notes OR soup", result_type=2),
            await index.search("notes OR soup", result_type=4),
            await index.with_relevancies("notes OR soup", result_type=3),
        )

    recent, popular, least_recent = on_index(seeded, work)
    assert recent == ([5, 4], 2)
    assert popular == ([4, 5], 2)  # other_notes.txt has two events
    assert least_recent[0] == [4, 5]
    assert least_recent[2] == 2


def test_deleted_events_disappear_from_the_index(seeded: ZeitbusDaemon) -> None:
    """A deleted event is not found any more, by the next search."""

    async def work(index: Index) -> tuple[Any, Any]:
        before = await index.search("notes", result_type=0)
        await index.delete([3])
        return before, await index.search("notes", result_type=0)

    assert on_index(seeded, work) == (([4, 3], 2), ([4], 1))


def test_malformed_queries_and_bad_result_types(seeded: ZeitbusDaemon) -> None:
    """A dangling operator is InvalidArgument, an empty query finds nothing, bad types fail."""

    async def work(index: Index) -> list[Message]:
        return [
            await index.search_raw("cats AND"),
            await index.search_raw("OR"),
            await index.search_raw(""),
            await index.search_raw('"unterminated ( quote'),
            await index.search_raw("cats", result_type=35),
            await index.search_raw("cats", result_type=101),
            await index.with_relevancies_raw("cats", result_type=6),
            await index.with_relevancies_raw("cats", storage_state=3),
        ]

    replies = on_index(seeded, work)
    names = [r.error_name for r in replies]
    assert names == [INVALID_ARGUMENT, INVALID_ARGUMENT, None, None] + [INVALID_ARGUMENT] * 4
    assert replies[0].body == ["Syntax: <expression> AND <expression>"]
    assert replies[2].body == [[], 0]
    assert replies[4].body == ["Invalid ResultType."]
    assert replies[6].body == ["Requested result type is not supported"]


def test_the_index_survives_a_restart_without_reindexing(bus: str, tmp_path: Path) -> None:
    """fts.sqlite keeps the rows and the cursor; a restarted daemon searches at once and resumes."""
    env = daemon_env(bus, tmp_path)
    daemon = spawn_daemon(bus, env, tmp_path / "daemon.log")
    try:
        on_index(daemon, lambda index: index.insert(EVENTS))
        assert on_index(daemon, lambda index: index.search("cats", result_type=0)) == ([4, 3], 2)
        assert daemon.stop(signal.SIGKILL) == -signal.SIGKILL
        index_file = Path(env["ZEITGEIST_DATA_PATH"]) / "fts.sqlite"
        with sqlite3.connect(index_file) as conn:
            cursor = conn.execute("SELECT value FROM state WHERE key = 'cursor'").fetchone()[0]
            rows = conn.execute("SELECT count(*) FROM document").fetchone()[0]
        assert (cursor, rows) == ("5", 5)

        daemon = spawn_daemon(bus, env, tmp_path / "daemon-2.log")

        async def work(index: Index) -> tuple[Any, Any]:
            found = await index.search("cats", result_type=0)
            await index.insert([event(9000, "file:///tmp/cats.txt", "more")])
            return found, await index.search("cats", result_type=0)

        assert on_index(daemon, work) == (([4, 3], 2), ([6, 4, 3], 3))
        assert "Rebuilding the full-text index" not in daemon.log_text()
    finally:
        assert daemon.stop() == 0


def test_disabled_search_engine_is_not_exported(bus: str, tmp_path: Path) -> None:
    """ZEITGEIST_DISABLED_EXTENSIONS=SearchEngine: no Index object, not in the property."""
    env = daemon_env(bus, tmp_path, ZEITGEIST_DISABLED_EXTENSIONS="SearchEngine")
    daemon = spawn_daemon(bus, env, tmp_path / "daemon.log")
    try:
        reply = on_index(daemon, lambda index: index.search_raw("cats"))
        assert reply.error_name is not None
        assert reply.error_name.startswith("org.freedesktop.DBus.Error.Unknown")
        assert "SearchEngine" not in daemon.client().call({"cmd": "property", "name": "extensions"})
        assert not (Path(env["ZEITGEIST_DATA_PATH"]) / "fts.sqlite").exists()
    finally:
        assert daemon.stop() == 0


def test_in_memory_log_lists_but_does_not_export_the_index(bus: str, tmp_path: Path) -> None:
    """As upstream with ZEITGEIST_DATABASE_PATH=:memory:: SearchEngine listed, nothing exported."""
    env = daemon_env(bus, tmp_path, ZEITGEIST_DATABASE_PATH=":memory:")
    daemon = spawn_daemon(bus, env, tmp_path / "daemon.log")
    try:
        reply = on_index(daemon, lambda index: index.search_raw("cats"))
        assert reply.error_name is not None
        assert reply.error_name.startswith("org.freedesktop.DBus.Error.Unknown")
        listed = daemon.client().call({"cmd": "property", "name": "extensions"})
        assert listed == [
            "DataSourceRegistryExtension",
            "Blacklist",
            "Histogram",
            "StorageMonitor",
            "SearchEngine",
        ]
    finally:
        assert daemon.stop() == 0


REAL_CLIENT = """
import json
import dbus
from zeitgeist.client import ZeitgeistDBusInterface
from zeitgeist.datamodel import Event, Subject, TimeRange
iface = ZeitgeistDBusInterface()
index = iface.get_extension("Index", "index/activity")
ids = iface.InsertEvents([
    Event.new_for_values(timestamp=1000 + n, actor="application://gedit.desktop",
        interpretation="ACCESS", manifestation="USER",
        subjects=[Subject.new_for_values(uri="file:///tmp/" + str(n), text=text)])
    for n, text in enumerate(["bread and butter", "butter", "jam"])])
events, matches = index.Search("butter", TimeRange.always(), [], 0, 10, 100)
relevant = index.SearchWithRelevancies("butter", TimeRange.always(), [], 2, 0, 10, 0)
try:
    index.Search("butter OR", TimeRange.always(), [], 0, 10, 100)
    error = None
except dbus.DBusException as e:
    error = e.get_dbus_name()
print(json.dumps({
    "ids": [int(i) for i in ids],
    "found": [int(Event(e).id) for e in events], "matches": int(matches),
    "relevant": [int(Event(e).id) for e in relevant[0]],
    "relevancies": [float(r) for r in relevant[1]],
    "extensions": [str(x) for x in iface.extensions()],
    "error": error,
}))
""".replace("ACCESS", ACCESS).replace("USER", USER)


def test_the_real_client_searches_through_get_extension(zeitbus_daemon: ZeitbusDaemon) -> None:
    """python3-zeitgeist's get_extension("Index", ...) proxy (dbus-python) searches the log."""
    env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=zeitbus_daemon.bus_address)
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "PYTHONPATH", "PYTHONHOME"):
        env.pop(name, None)
    done = subprocess.run(
        [str(SYSTEM_PYTHON), "-I", "-c", REAL_CLIENT],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["ids"] == [1, 2, 3]
    assert sorted(answer["found"]) == [1, 2]
    assert answer["matches"] == 2
    assert answer["relevant"][0] == answer["found"][0]
    assert len(answer["relevancies"]) == 2
    assert "SearchEngine" in answer["extensions"]
    assert answer["error"] == INVALID_ARGUMENT
