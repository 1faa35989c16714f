"""Taking over a Zeitgeist data directory: ``zeitbus daemon`` migrates activity.sqlite."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests import zeitgeist_upstream
from tests.dbus.conftest import ACCESS, MODIFY, daemon_env, make_event, run_daemon, spawn_daemon
from tests.zeitgeist_reference import ZeitgeistClient, missing, reference_daemon
from zeitbus import Event, Subject

pytestmark = [
    pytest.mark.reference,
    pytest.mark.slow,
    pytest.mark.skipif(missing() is not None, reason=f"reference daemon: {missing()}"),
]


def _dump(db: Path) -> list[str]:
    """The SQL text of a database's content (a backup is not byte-identical)."""
    conn = sqlite3.connect(db)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def _zeitgeist_log(run_dir: Path) -> tuple[Path, list[int], list[Event | None]]:
    """A database made by the real zeitgeist-daemon, with gaps in its ids; its events."""
    with reference_daemon(run_dir) as daemon:
        client = daemon.client()
        events = [
            make_event(1000 + i, f"file:///tmp/{i % 7}.txt", payload=bytes([i])) for i in range(40)
        ]
        events.append(
            Event(
                timestamp=5000,
                interpretation=events[0].interpretation,
                manifestation=events[0].manifestation,
                actor="application://firefox.desktop",
                origin="http://example.org/",
                subjects=(
                    Subject(uri="https://example.org/a", mimetype="text/html", text="A"),
                    Subject(uri="https://example.org/b", storage="usb-stick"),
                ),
            )
        )
        ids = client.insert(events)
        client.delete(ids[3:10])  # ids with gaps, as a real log has
        kept = [i for i in ids if i not in ids[3:10]]
        expected = client.get(kept)
        db = daemon.db_path
    return db, kept, expected


def test_a_zeitgeist_database_path_is_backed_up_and_migrated_keeping_ids(
    bus: str, tmp_path: Path
) -> None:
    """ZEITGEIST_DATABASE_PATH at Zeitgeist's file: backup, migration, same events and ids."""
    db, ids, expected = _zeitgeist_log(tmp_path / "zg")
    original = _dump(db)
    env = daemon_env(bus, tmp_path, ZEITGEIST_DATABASE_PATH=str(db))
    daemon = spawn_daemon(bus, env, tmp_path / "daemon.log")
    try:
        client = daemon.client()
        assert client.get(ids) == expected
        newest_first = sorted((e for e in expected if e is not None), key=lambda e: -e.ts)
        assert client.find_ids() == [e.id for e in newest_first]
        assert client.call({"cmd": "property", "name": "datapath"}) == str(db)
        new_id = client.insert([make_event(90_000)])
        assert new_id[0] > max(ids)
        assert "Migrated 34 events" in daemon.log_text()
    finally:
        assert daemon.stop() == 0
    backup = db.with_name("activity.sqlite.zeitgeist.bck")
    assert _dump(backup) == original
    # Started again, it opens its own log: no second migration.
    daemon = spawn_daemon(bus, env, tmp_path / "daemon2.log")
    try:
        assert daemon.client().get(ids) == expected
        assert "Migrated" not in daemon.log_text()
    finally:
        assert daemon.stop() == 0


def test_a_zeitgeist_data_directory_is_migrated_beside_the_untouched_original(
    bus: str, tmp_path: Path
) -> None:
    """ZEITGEIST_DATA_PATH with activity.sqlite: zeitbus.sqlite is made, the original stays."""
    db, ids, expected = _zeitgeist_log(tmp_path / "zg")
    original = db.read_bytes()
    env = daemon_env(bus, tmp_path, ZEITGEIST_DATA_PATH=str(db.parent))
    daemon = spawn_daemon(bus, env, tmp_path / "daemon.log")
    try:
        assert daemon.client().get(ids) == expected
    finally:
        assert daemon.stop() == 0
    assert (db.parent / "zeitbus.sqlite").is_file()
    assert db.read_bytes() == original
    assert not db.with_name("activity.sqlite.zeitgeist.bck").exists()


def test_zeitgeists_default_data_directory_is_taken_over_by_default(
    bus: str, tmp_path: Path
) -> None:
    """With no ZEITGEIST_* settings, the first start migrates ~/.local/share/zeitgeist."""
    db, ids, expected = _zeitgeist_log(tmp_path / "zg")
    original = db.read_bytes()
    env = daemon_env(bus, tmp_path, XDG_DATA_HOME=str(db.parent.parent))
    del env["ZEITGEIST_DATA_PATH"]
    daemon = spawn_daemon(bus, env, tmp_path / "daemon.log")
    try:
        assert daemon.client().get(ids) == expected
    finally:
        assert daemon.stop() == 0
    assert (db.parent.parent / "zeitbus" / "zeitbus.sqlite").is_file()
    assert db.read_bytes() == original


def test_an_unreadable_zeitgeist_database_exits_21_and_is_left_alone(
    bus: str, tmp_path: Path
) -> None:
    """A Zeitgeist file that cannot be migrated: exit 21 with the reason, file unchanged."""
    db, _, _ = _zeitgeist_log(tmp_path / "zg")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE schema_version SET version = 12 WHERE schema = 'core'")
    conn.close()
    before = db.read_bytes()
    done = run_daemon(daemon_env(bus, tmp_path, ZEITGEIST_DATABASE_PATH=str(db)))
    assert done.returncode == 21
    assert "schema version 12; only versions 3 to 11" in done.stderr
    assert db.read_bytes() == before
    assert not list(db.parent.glob("*.migrating.sqlite*"))


SECRET = "file:///home/user/secret/"


def _user_settings(client: ZeitgeistClient, muted: ZeitgeistClient) -> None:
    """A blacklist template, an enabled data source and a disabled one, set by clients."""
    client.blacklist_add("no-secrets", Event(subjects=(Subject(uri=SECRET + "*"),)))
    client.blacklist_add(
        "no-chat", Event(actor="application://gajim.desktop", interpretation="!" + ACCESS)
    )
    client.register_data_source(
        "org.example.logger", "Example logger", "Logs files", [make_event(1, "file:///*")]
    )
    muted.register_data_source("org.example.muted", "Muted", "The user switched it off")
    client.call(
        {"cmd": "set_data_source_enabled", "unique_id": "org.example.muted", "enabled": False}
    )


def _extension_state(client: ZeitgeistClient) -> tuple[dict[str, Any], list[list[Any]]]:
    """GetTemplates and GetDataSources, as the client sees them."""
    return client.call({"cmd": "blacklist_get"}), client.call({"cmd": "data_sources"})


def test_a_takeover_keeps_the_blacklist_and_the_data_sources(bus: str, tmp_path: Path) -> None:
    """What the user set in Zeitgeist reads back the same through D-Bus, and still applies."""
    run_dir = tmp_path / "zg"
    with reference_daemon(run_dir) as daemon:
        _user_settings(daemon.client(), daemon.new_client())
        db = daemon.db_path
    # What Zeitgeist itself serves from that file once restarted (sources not running).
    with reference_daemon(run_dir, db) as daemon:
        expected = _extension_state(daemon.client())
    templates, sources = expected
    assert set(templates) == {"no-secrets", "no-chat"}
    assert [s[0] for s in sources] == ["org.example.logger", "org.example.muted"]

    env = daemon_env(bus, tmp_path, ZEITGEIST_DATABASE_PATH=str(db))
    zeitbus = spawn_daemon(bus, env, tmp_path / "daemon.log")
    try:
        client = zeitbus.client()
        assert _extension_state(client) == expected
        ids = client.insert(
            [
                make_event(10_000, "file:///home/user/notes.txt"),
                make_event(10_001, SECRET + "diary.txt"),
                make_event(
                    10_002,
                    "xmpp://friend",
                    actor="application://gajim.desktop",
                    interpretation=MODIFY,
                ),
            ]
        )
        assert ids[0] != 0
        assert ids[1:] == [0, 0]
        muted = zeitbus.new_client()
        assert muted.register_data_source("org.example.muted", "Muted", "Again") is False
        assert muted.insert([make_event(10_003, "file:///home/user/other.txt")]) == [0]
        assert (
            "Carried over Zeitgeist's blacklist (2 templates) and data sources (2, 1 disabled)"
            in (zeitbus.log_text())
        )
    finally:
        assert zeitbus.stop() == 0


@pytest.mark.skipif(
    zeitgeist_upstream.missing() is not None, reason=f"{zeitgeist_upstream.missing()}"
)
@pytest.mark.parametrize("dump", list(zeitgeist_upstream.UPGRADE_DUMPS))
def test_an_old_zeitgeist_database_is_taken_over_in_place(
    bus: str, tmp_path: Path, dump: str
) -> None:
    """Upstream's upgrade dumps (0.7.1-0.9): the events with their ids, the old file backed up."""
    db = zeitgeist_upstream.upgrade_database(dump, tmp_path / "zeitgeist.upgrade.sqlite")
    original = _dump(db)
    source = zeitgeist_upstream.upgrade_events()
    env = daemon_env(bus, tmp_path, ZEITGEIST_DATABASE_PATH=str(db))
    daemon = spawn_daemon(bus, env, tmp_path / "daemon.log")
    try:
        events = daemon.client().get([1, 2, 3])
        assert [e.timestamp if e else None for e in events] == [e["timestamp"] for e in source]
        assert [e.actor if e else None for e in events] == [e["actor"] for e in source]
        assert f"(schema {zeitgeist_upstream.UPGRADE_DUMPS[dump]})" in daemon.log_text()
    finally:
        assert daemon.stop() == 0
    assert _dump(db.with_name(db.name + ".zeitgeist.bck")) == original


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"SQLite format 3\0" + b"\xff" * 4000, "is not a readable database"),
        (b"this is no database at all\n" * 100, "is not a readable database"),
    ],
    ids=["damaged-sqlite", "not-sqlite"],
)
def test_an_unreadable_activity_sqlite_in_the_data_directory_exits_21(
    bus: str, tmp_path: Path, content: bytes, message: str
) -> None:
    """A damaged Zeitgeist file is not silently passed over: one line, exit 21, file as it was."""
    data = tmp_path / "zeitgeist"
    data.mkdir()
    db = data / "activity.sqlite"
    db.write_bytes(content)
    done = run_daemon(daemon_env(bus, tmp_path))
    assert done.returncode == 21
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert f"could not migrate the Zeitgeist database {db}" in lines[0]
    assert message in lines[0]
    assert db.read_bytes() == content
    assert sorted(p.name for p in data.iterdir()) == ["activity.sqlite"]


def test_an_unreadable_blacklist_stops_the_takeover(bus: str, tmp_path: Path) -> None:
    """Starting without the user's blacklist would log what they excluded: exit 21 instead."""
    with reference_daemon(tmp_path / "zg") as daemon:
        daemon.client().blacklist_add("no-secrets", Event(subjects=(Subject(uri=SECRET + "*"),)))
        db = daemon.db_path
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE extensions_conf SET value = x'ff00ff' WHERE key = 'blacklist'")
    conn.close()
    before = db.read_bytes()
    done = run_daemon(daemon_env(bus, tmp_path, ZEITGEIST_DATABASE_PATH=str(db)))
    assert done.returncode == 21
    assert "cannot carry over Zeitgeist's blacklist (ZeitgeistBlacklist)" in done.stderr
    assert db.read_bytes() == before
    assert not list(db.parent.glob("*.migrating.sqlite*"))
