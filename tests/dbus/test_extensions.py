"""The Zeitgeist extensions of ``zeitbus daemon``: Blacklist, DataSourceRegistry,
Histogram, StorageMonitor, as Debian's python3-zeitgeist and raw D-Bus clients use them."""

from __future__ import annotations

import asyncio
import calendar
import signal
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from tests.dbus.conftest import (
    ZeitbusDaemon,
    daemon_env,
    make_event,
    spawn_daemon,
)
from tests.zeitgeist_reference import ReferenceDaemonError
from zeitbus import Event, Subject
from zeitbus.dbus.log import ENGINE_BUS_NAME

DEADLINE = 10.0  # seconds to wait for a signal
BLACKLIST = ("/org/gnome/zeitgeist/blacklist", "org.gnome.zeitgeist.Blacklist")
REGISTRY = ("/org/gnome/zeitgeist/data_source_registry", "org.gnome.zeitgeist.DataSourceRegistry")
HISTOGRAM = ("/org/gnome/zeitgeist/journal/activity", "org.gnome.zeitgeist.Histogram")
STORAGE = ("/org/gnome/zeitgeist/storagemonitor", "org.gnome.zeitgeist.StorageMonitor")
TEMPLATE = [["", "", "", "", "", ""], [["file:///secret*", "", "", "", "", "", "", "", ""]], b""]


def call(target: tuple[str, str], member: str, signature: str = "", body: Any = None) -> Message:
    """A method call to an extension object of the engine."""
    path, interface = target
    return Message(
        destination=ENGINE_BUS_NAME,
        path=path,
        interface=interface,
        member=member,
        signature=signature,
        body=body or [],
    )


class Signals:
    """Records the signals the engine sends on a dbus-fast connection."""

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus
        self.received: list[Message] = []
        self._arrived = asyncio.Event()
        bus.add_message_handler(self._handle)

    async def start(self) -> None:
        """Subscribe to every signal of the engine."""
        reply = await self.bus.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus",
                member="AddMatch",
                signature="s",
                body=[f"type='signal',sender='{ENGINE_BUS_NAME}'"],
            )
        )
        assert reply is not None
        assert reply.message_type is MessageType.METHOD_RETURN

    def _handle(self, msg: Message) -> bool:
        if msg.message_type is MessageType.SIGNAL and msg.path != "/org/freedesktop/DBus":
            self.received.append(msg)
            self._arrived.set()
        return False

    async def wait_for(self, count: int) -> list[tuple[str, list[Any]]]:
        """The first ``count`` signals (member, body); fails after DEADLINE."""
        async with asyncio.timeout(DEADLINE):
            while len(self.received) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return [(m.member or "", m.body) for m in self.received[:count]]


def on_bus(daemon: ZeitbusDaemon, work: Callable[[MessageBus], Awaitable[Any]]) -> Any:
    """Run ``work`` with a dbus-fast connection to the daemon's bus."""

    async def main() -> Any:
        bus = await MessageBus(bus_address=daemon.bus_address).connect()
        try:
            return await work(bus)
        finally:
            bus.disconnect()

    return asyncio.run(main())


def checked(reply: Message | None) -> Any:
    """The reply's body; fails on an error reply."""
    assert reply is not None
    assert reply.message_type is MessageType.METHOD_RETURN, (reply.error_name, reply.body)
    return reply.body


def event_at(timestamp: int, uri: str, actor: str = "application://gedit.desktop") -> Event:
    """One event with one subject."""
    return make_event(timestamp, uri, actor=actor)


def restart(daemon: ZeitbusDaemon, how: int) -> ZeitbusDaemon:
    """Stop ``daemon`` with signal ``how`` and start another one on its data."""
    status = daemon.stop(how)
    assert status == (0 if how == signal.SIGTERM else -how)
    log = daemon.log.with_name(f"{daemon.log.stem}-{how}.log")
    return spawn_daemon(daemon.bus_address, daemon.env, log)


@pytest.fixture
def restartable(bus: str, tmp_path: Path) -> Iterator[list[ZeitbusDaemon]]:
    """A daemon on a database file, in a list a test may replace it in (stopped at the end)."""
    daemons = [spawn_daemon(bus, daemon_env(bus, tmp_path), tmp_path / "daemon.log")]
    try:
        yield daemons
    finally:
        assert daemons[-1].stop() == 0


def test_blacklist_drops_matching_events_and_survives_a_restart(
    restartable: list[ZeitbusDaemon],
) -> None:
    """The real client blacklists a template; matches get id 0, and stay blocked after SIGKILL."""
    client = restartable[0].client()
    template = Event(subjects=(Subject(uri="file:///secret*"),))
    client.blacklist_add("secrets", template)
    stored = client.call({"cmd": "blacklist_get"})
    assert list(stored) == ["secrets"]
    assert stored["secrets"]["subjects"][0][0] == "file:///secret*"
    assert stored["secrets"]["fields"][1] != ""  # an empty timestamp is "now", as upstream

    ids = client.insert([event_at(1000, "file:///secret/diary"), event_at(1001, "file:///tmp/a")])
    assert ids[0] == 0
    assert ids[1] > 0
    assert client.find_ids() == [ids[1]]

    restartable.append(restart(restartable[0], signal.SIGKILL))
    client = restartable[-1].client()
    assert list(client.call({"cmd": "blacklist_get"})) == ["secrets"]
    assert client.insert([event_at(2000, "file:///secret/plans")]) == [0]
    client.call({"cmd": "blacklist_remove", "id": "secrets"})
    client.call({"cmd": "blacklist_remove", "id": "never there"})  # a silent no-op
    assert client.call({"cmd": "blacklist_get"}) == {}
    assert client.insert([event_at(2001, "file:///secret/plans")])[0] > 0


def test_blacklist_signals_and_bad_templates(zeitbus_daemon: ZeitbusDaemon) -> None:
    """TemplateAdded/TemplateRemoved reach listeners; a NULL or short template stores nothing."""

    async def work(bus: MessageBus) -> tuple[list[Any], list[Message], Any]:
        signals = Signals(bus)
        await signals.start()
        checked(await bus.call(call(BLACKLIST, "AddTemplate", "s(asaasay)", ["t1", TEMPLATE])))
        checked(await bus.call(call(BLACKLIST, "RemoveTemplate", "s", ["t1"])))
        seen = await signals.wait_for(2)
        errors = [
            await bus.call(call(BLACKLIST, "AddTemplate", "s(asaasay)", ["null", [[], [], b""]])),
            await bus.call(
                call(BLACKLIST, "AddTemplate", "s(asaasay)", ["short", [["", ""], [], b""]])
            ),
            await bus.call(call(BLACKLIST, "AddTemplate", "s", ["wrong"])),
        ]
        left = checked(await bus.call(call(BLACKLIST, "GetTemplates")))[0]
        return seen, [e for e in errors if e is not None], left

    seen, errors, left = on_bus(zeitbus_daemon, work)
    assert [member for member, _ in seen] == ["TemplateAdded", "TemplateRemoved"]
    assert seen[0][1][0] == "t1"
    assert seen[0][1][1][1] == TEMPLATE[1]
    assert seen[1][1][0] == "t1"
    assert seen[1][1][1][1] == TEMPLATE[1]
    assert [e.error_name for e in errors] == [
        "org.gnome.zeitgeist.DataModelError.NullEvent",
        "org.gnome.zeitgeist.DataModelError.InvalidSignature",
        "org.freedesktop.DBus.Error.InvalidArgs",
    ]
    assert left == {}


def test_disabled_data_source_events_get_id_0_and_state_persists(
    restartable: list[ZeitbusDaemon],
) -> None:
    """A disabled source's sender gets [0]; others do not; registration survives a restart."""
    source = restartable[0].client()
    other = restartable[0].new_client()
    templates = [Event(interpretation="stfu:CreateEvent")]
    assert source.register_data_source("ds.one", "One", "the first © source", templates)
    source.call({"cmd": "set_data_source_enabled", "unique_id": "ds.one", "enabled": False})
    assert source.insert([event_at(1000, "file:///a")]) == [0]
    assert other.insert([event_at(1001, "file:///b")])[0] > 0

    [listed] = other.call({"cmd": "data_sources"})
    uid, name, description, listed_templates, running, last_seen, enabled = listed
    assert (uid, name, description, running, enabled) == (
        "ds.one",
        "One",
        "the first © source",
        True,
        False,
    )
    assert listed_templates[0]["fields"][2] == "stfu:CreateEvent"
    assert last_seen > 0

    source.call({"cmd": "set_data_source_enabled", "unique_id": "ds.one", "enabled": True})
    assert source.insert([event_at(1002, "file:///c")])[0] > 0
    source.call({"cmd": "set_data_source_enabled", "unique_id": "ds.one", "enabled": False})

    restartable.append(restart(restartable[0], signal.SIGKILL))
    client = restartable[-1].client()
    [after] = client.call({"cmd": "data_sources"})
    assert after[0] == "ds.one"
    assert after[4] is False
    assert after[6] is False
    # The enabled flag persists: re-registering a disabled source keeps it disabled.
    assert client.register_data_source("ds.one", "One", "again", []) is False
    assert client.insert([event_at(3000, "file:///d")]) == [0]

    restartable.append(restart(restartable[-1], signal.SIGTERM))
    [again] = restartable[-1].client().call({"cmd": "data_sources"})
    assert again[2] == "again"
    assert again[4] is False
    assert again[6] is False


def test_data_source_signals_and_running_state(zeitbus_daemon: ZeitbusDaemon) -> None:
    """Registered, Enabled, Disconnected are signalled; a source stops running with its sender."""

    async def work(bus: MessageBus) -> tuple[list[Any], list[Any], Message | None]:
        signals = Signals(bus)
        await signals.start()
        source = await MessageBus(bus_address=zeitbus_daemon.bus_address).connect()
        register = ["ds.two", "Two", "", [TEMPLATE, [[], [], b""]]]
        assert checked(
            await source.call(call(REGISTRY, "RegisterDataSource", "sssa(asaasay)", register))
        ) == [True]
        checked(await source.call(call(REGISTRY, "SetDataSourceEnabled", "sb", ["ds.two", False])))
        checked(await source.call(call(REGISTRY, "SetDataSourceEnabled", "sb", ["ds.two", False])))
        source.disconnect()
        seen = await signals.wait_for(3)
        got = checked(await bus.call(call(REGISTRY, "GetDataSourceFromId", "s", ["ds.two"])))
        missing = await bus.call(call(REGISTRY, "GetDataSourceFromId", "s", ["nope"]))
        return seen, got, missing

    seen, got, missing = on_bus(zeitbus_daemon, work)
    assert [member for member, _ in seen] == [
        "DataSourceRegistered",
        "DataSourceEnabled",
        "DataSourceDisconnected",
    ]
    registered = seen[0][1][0]
    assert registered[0] == "ds.two"
    assert registered[4] is True
    assert registered[6] is True
    assert len(registered[3]) == 1  # the NULL template is skipped, as upstream
    assert seen[1][1] == ["ds.two", False]
    disconnected = seen[2][1][0]
    assert disconnected[4] is False
    assert disconnected[6] is False
    assert got[0][4] is False
    assert missing is not None
    assert missing.error_name == "org.gnome.zeitgeist.EngineError.InvalidKey"


def test_bad_data_source_is_not_registered(zeitbus_daemon: ZeitbusDaemon) -> None:
    """A template with too few fields rejects the registration whole."""

    async def work(bus: MessageBus) -> tuple[Message | None, Any]:
        bad = ["ds.bad", "Bad", "", [TEMPLATE, [["1", "2"], [], b""]]]
        error = await bus.call(call(REGISTRY, "RegisterDataSource", "sssa(asaasay)", bad))
        return error, checked(await bus.call(call(REGISTRY, "GetDataSources")))

    error, sources = on_bus(zeitbus_daemon, work)
    assert error is not None
    assert error.error_name == "org.gnome.zeitgeist.DataModelError.InvalidSignature"
    assert sources == [[]]


@pytest.fixture
def tokyo_daemon(bus: str, tmp_path: Path) -> Iterator[ZeitbusDaemon]:
    """A daemon whose local time zone is Asia/Tokyo (UTC+9, no DST)."""
    daemon = spawn_daemon(bus, daemon_env(bus, tmp_path, TZ="Asia/Tokyo"), tmp_path / "d.log")
    try:
        yield daemon
    finally:
        assert daemon.stop() == 0


def test_histogram_counts_subjects_per_local_day(tokyo_daemon: ZeitbusDaemon) -> None:
    """Days are local (the daemon's TZ), keyed as upstream: the local date's 00:00 UTC."""
    day = calendar.timegm((2011, 12, 24, 0, 0, 0))  # the key of local 2011-12-24
    late = (day - 3600) * 1000  # 23:00 UTC on the 23rd = 08:00 on the 24th in Tokyo
    two_subjects = Event(
        timestamp=late + 1,
        interpretation=make_event(0).interpretation,
        manifestation=make_event(0).manifestation,
        actor="application://x.desktop",
        subjects=(Subject(uri="file:///1"), Subject(uri="file:///2")),
    )
    before = (day - 10 * 3600) * 1000  # 14:00 UTC on the 23rd = 23:00 on the 23rd in Tokyo
    tokyo_daemon.client().insert(
        [event_at(late, "file:///0"), two_subjects, event_at(before, "x:")]
    )

    async def work(bus: MessageBus) -> Any:
        return checked(await bus.call(call(HISTOGRAM, "GetHistogramData")))[0]

    assert [list(pair) for pair in on_bus(tokyo_daemon, work)] == [[day, 3], [day - 86400, 1]]


def test_storage_monitor_lists_media(bus: str, tmp_path: Path) -> None:
    """GetStorages lists the media subjects are on: net and unknown, in states nobody knows.

    With no system bus there is no network service to follow, so, as upstream's,
    neither is available (tests/dbus/test_storage_monitor.py compares this with
    the real daemon).
    """
    nowhere = f"unix:path={tmp_path / 'no-system-bus'}"
    env = daemon_env(bus, tmp_path, DBUS_SYSTEM_BUS_ADDRESS=nowhere)
    daemon = spawn_daemon(bus, env, tmp_path / "d.log")

    async def work(bus: MessageBus) -> Any:
        return checked(await bus.call(call(STORAGE, "GetStorages")))[0]

    try:
        assert on_bus(daemon, work) == []
        daemon.client().insert([event_at(1000, "https://example.org/"), event_at(1001, "f:")])
        storages = {name: {k: v.value for k, v in d.items()} for name, d in on_bus(daemon, work)}
        assert storages == {
            "net": {"available": False, "icon": "", "display-name": ""},
            "unknown": {"available": False, "icon": "", "display-name": ""},
        }
    finally:
        assert daemon.stop() == 0


def test_extensions_property_and_disabled_extensions(bus: str, tmp_path: Path) -> None:
    """ZEITGEIST_DISABLED_EXTENSIONS leaves extensions out of the property and off the bus."""
    env = daemon_env(bus, tmp_path, ZEITGEIST_DISABLED_EXTENSIONS="Blacklist;Histogram")
    daemon = spawn_daemon(bus, env, tmp_path / "d.log")
    try:
        client = daemon.client()
        assert client.call({"cmd": "property", "name": "extensions"}) == [
            "DataSourceRegistryExtension",
            "StorageMonitor",
            "SearchEngine",
        ]
        with pytest.raises(ReferenceDaemonError) as error:
            client.blacklist_add("x", Event(actor="a"))
        # The client finds no such method on the object (introspection lists none).
        assert "Unknown method name: AddTemplate" in str(error.value)
        # Without the blacklist nothing is dropped.
        assert client.insert([event_at(1000, "file:///a")])[0] > 0
    finally:
        assert daemon.stop() == 0


def test_all_extensions_are_listed(zeitbus_daemon: ZeitbusDaemon) -> None:
    """By default the property lists the five extensions in upstream's order."""
    assert zeitbus_daemon.client().call({"cmd": "property", "name": "extensions"}) == [
        "DataSourceRegistryExtension",
        "Blacklist",
        "Histogram",
        "StorageMonitor",
        "SearchEngine",
    ]
