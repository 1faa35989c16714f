"""zeitgeist-daemon's behaviour: options, exit codes, signals, where the log lives."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.dbus.conftest import (
    ZeitbusDaemon,
    daemon_env,
    make_event,
    name_owner,
    run_daemon,
    spawn_daemon,
)


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGINT, signal.SIGTERM])
def test_signals_stop_the_daemon_cleanly(zeitbus_daemon: ZeitbusDaemon, signum: int) -> None:
    """SIGHUP, SIGINT and SIGTERM give exit status 0 and free the bus name."""
    assert zeitbus_daemon.client().insert([make_event(1000)]) == [1]
    assert zeitbus_daemon.stop(signum) == 0
    assert name_owner(zeitbus_daemon.bus_address) is None


def test_version_option_prints_the_zeitgeist_version(bus: str, tmp_path: Path) -> None:
    """-v prints the Zeitgeist version this daemon stands in for and exits 0."""
    done = run_daemon(daemon_env(bus, tmp_path), "-v")
    assert (done.returncode, done.stdout) == (0, "1.0.4\n")


def test_bad_option_exits_1(bus: str, tmp_path: Path) -> None:
    """An unknown option is exit status 1, as GLib's option parser gives upstream."""
    done = run_daemon(daemon_env(bus, tmp_path), "--bogus")
    assert done.returncode == 1
    assert "--bogus" in done.stderr


def test_a_second_instance_exits_10(zeitbus_daemon: ZeitbusDaemon, tmp_path: Path) -> None:
    """While the name is owned, another daemon exits with 10 and the first keeps it."""
    owner = name_owner(zeitbus_daemon.bus_address)
    done = run_daemon(daemon_env(zeitbus_daemon.bus_address, tmp_path / "second"))
    assert done.returncode == 10
    assert "--replace" in done.stderr
    assert name_owner(zeitbus_daemon.bus_address) == owner


def test_replace_takes_over_and_quit_stops(zeitbus_daemon: ZeitbusDaemon, tmp_path: Path) -> None:
    """--replace makes the running daemon quit (exit 0) and owns the name; --quit stops it."""
    bus = zeitbus_daemon.bus_address
    old_owner = name_owner(bus)
    env = daemon_env(bus, tmp_path / "new")
    new = spawn_daemon(bus, env, tmp_path / "new.log", ["--replace"])
    try:
        assert zeitbus_daemon.wait() == 0
        # The new instance asked the old one to quit before it requested the name
        # (as upstream does), so for a moment nobody may own it.
        deadline = time.monotonic() + 30
        while name_owner(bus) in (None, old_owner):
            assert time.monotonic() < deadline, "the new instance never took the name"
            time.sleep(0.05)
        assert new.client().insert([make_event(1000)]) == [1]
        done = run_daemon(env, "--quit")
        assert done.returncode == 0
        assert new.wait() == 0
        assert name_owner(bus) is None
    finally:
        new.stop()


def test_quit_without_a_running_instance_is_fine(bus: str, tmp_path: Path) -> None:
    """--quit with nothing running exits 0 and starts nothing."""
    done = run_daemon(daemon_env(bus, tmp_path), "--quit")
    assert done.returncode == 0
    assert name_owner(bus) is None


def test_memory_database_starts_empty_every_time(bus: str, tmp_path: Path) -> None:
    """ZEITGEIST_DATABASE_PATH=:memory: keeps no file; datapath says ':memory:'."""
    env = daemon_env(bus, tmp_path, ZEITGEIST_DATABASE_PATH=":memory:")
    for _ in range(2):
        daemon = spawn_daemon(bus, env, tmp_path / "daemon.log")
        try:
            client = daemon.client()
            assert client.call({"cmd": "property", "name": "datapath"}) == ":memory:"
            assert client.find_ids() == []
            assert client.insert([make_event(1000)]) == [1]
        finally:
            assert daemon.stop() == 0
    assert not (tmp_path / "zeitgeist").exists()


def test_database_path_is_honoured_and_survives_restarts(bus: str, tmp_path: Path) -> None:
    """ZEITGEIST_DATABASE_PATH names the file (any name); events survive a restart."""
    db = tmp_path / "somewhere" / "activity-log"
    env = daemon_env(bus, tmp_path, ZEITGEIST_DATABASE_PATH=str(db))
    daemon = spawn_daemon(bus, env, tmp_path / "daemon.log")
    try:
        assert daemon.client().insert([make_event(1000)]) == [1]
        assert daemon.client().call({"cmd": "property", "name": "datapath"}) == str(db)
    finally:
        assert daemon.stop() == 0
    assert db.is_file()
    daemon = spawn_daemon(bus, env, tmp_path / "daemon.log")
    try:
        (event,) = daemon.client().get([1])
        assert event is not None
        assert event.subjects[0].uri == "file:///tmp/a.txt"
    finally:
        assert daemon.stop() == 0


def test_vacuum_compacts_and_exits(bus: str, tmp_path: Path) -> None:
    """--vacuum reports as upstream does and exits 0 (without taking the bus name)."""
    env = daemon_env(bus, tmp_path)
    daemon = spawn_daemon(bus, env, tmp_path / "daemon.log")
    daemon.client().insert([make_event(1000)])
    assert daemon.stop() == 0
    done = run_daemon(env, "--vacuum")
    assert (done.returncode, done.stdout) == (0, "Performing VACUUM operation... OK\n")


def test_a_broken_zeitgeist_database_is_not_opened(bus: str, tmp_path: Path) -> None:
    """A Zeitgeist-looking file that cannot be migrated: exit 21, the reason, no name taken."""
    db = tmp_path / "activity.sqlite"
    with sqlite3.connect(db) as conn:
        for table in ("schema_version", "event", "uri"):
            conn.execute(f"CREATE TABLE {table} (id INTEGER)")
    conn.close()
    done = run_daemon(daemon_env(bus, tmp_path, ZEITGEIST_DATABASE_PATH=str(db)))
    assert done.returncode == 21
    assert "could not migrate the Zeitgeist database" in done.stderr
    assert name_owner(bus) is None


def test_without_a_session_bus_the_daemon_runs_until_stopped(tmp_path: Path) -> None:
    """No reachable session bus: it says so, opens the log, and a signal stops it with 0."""
    address = f"unix:path={tmp_path}/no-bus-here"
    env = daemon_env(address, tmp_path)
    log = tmp_path / "daemon.log"
    log.touch()  # read before the daemon opens it
    process = subprocess.Popen(
        [sys.executable, "-m", "zeitbus", "daemon", "--log-level=INFO", f"--log-file={log}"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    daemon = ZeitbusDaemon(address, env, log, process)
    try:
        daemon.wait_for_log("without D-Bus")
        assert "No session bus" in daemon.log_text()
        assert process.poll() is None
        assert (tmp_path / "zeitgeist" / "zeitbus.sqlite").exists()
    finally:
        assert daemon.stop(signal.SIGTERM) == 0


def test_quit_without_a_session_bus_exits_1(tmp_path: Path) -> None:
    """--quit needs the bus to reach the running instance: exit 1 with a message."""
    env = daemon_env(f"unix:path={tmp_path}/no-bus-here", tmp_path)
    done = run_daemon(env, "--quit")
    assert done.returncode == 1
    assert "session bus" in done.stderr
