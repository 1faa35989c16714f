"""Taking over a Zeitgeist data directory: ``zeitbus daemon`` migrates activity.sqlite."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.dbus.conftest import daemon_env, make_event, run_daemon, spawn_daemon
from tests.zeitgeist_reference import missing, reference_daemon
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


def test_an_unreadable_zeitgeist_database_exits_21_and_is_left_alone(
    bus: str, tmp_path: Path
) -> None:
    """A Zeitgeist file that cannot be migrated: exit 21 with the reason, file unchanged."""
    db, _, _ = _zeitgeist_log(tmp_path / "zg")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE schema_version SET version = 7 WHERE schema = 'core'")
    conn.close()
    before = db.read_bytes()
    done = run_daemon(daemon_env(bus, tmp_path, ZEITGEIST_DATABASE_PATH=str(db)))
    assert done.returncode == 21
    assert "schema version 7" in done.stderr
    assert db.read_bytes() == before
    assert not list(db.parent.glob("*.migrating.sqlite*"))
