"""A full disk: named as such everywhere, logged once, and over as soon as space is freed.

Each test puts the files it writes on a 3 MB tmpfs of its own and fills it
with a filler file; deleting the filler is the space coming back. Mounting
needs root (and a kernel that lets us): elsewhere the tests skip, saying why.

Filling is deterministic because the log's WAL is emptied (a TRUNCATE
checkpoint) before the filler takes the last free byte: SQLite reuses a
WAL's space after a checkpoint, so a WAL with room in it would still take
a small commit on a full disk.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from tests.dbus.conftest import daemon_env, spawn_daemon
from tests.zeitgeist_reference import START_TIMEOUT, _clean_env, private_bus
from zeitbus import Engine, Event, Subject, discovery
from zeitbus.daemon import EXIT_CANNOT_OPEN
from zeitbus.dbus.log import ENGINE_BUS_NAME, LOG_INTERFACE, LOG_PATH
from zeitbus.errors import DiskFull
from zeitbus.extensions import loaded as loaded_module
from zeitbus.extensions.fts import FullTextIndex
from zeitbus.extensions.loaded import Loaded
from zeitbus.ontology import ACCESS_EVENT, USER_ACTIVITY

T0 = 1_767_225_600_000
TEXT = "quarterly report " * 2000  # 34 kB a subject: the disk fills in a few batches
FULL_LINE = "The disk is full"
AGAIN_LINE = "works again"


@pytest.fixture
def disk() -> Iterator[Path]:
    """A fresh 3 MB tmpfs (at a short path: a Unix socket's must fit 108 bytes)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = Path(tempfile.mkdtemp(prefix="zbdisk-"))
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        mount.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        # A file still open on it (a connection not closed) makes this fail the test.
        busy = subprocess.run(["umount", str(mount)], capture_output=True, text=True)
        if busy.returncode != 0:
            subprocess.run(["umount", "--lazy", str(mount)], check=True)
        mount.rmdir()
        assert busy.returncode == 0, busy.stderr


def fill(disk: Path) -> Path:
    """Take every free byte of ``disk`` with a filler file; the filler's path."""
    filler = disk / "filler"
    chunk = b"\0" * 65536
    out = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        while True:
            try:
                os.write(out, chunk)  # the last one writes what fits
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
                return filler
    finally:
        os.close(out)


def empty_wal(database: Path) -> None:
    """Copy the WAL into the database and truncate it (retried while a reader is in the way)."""
    conn = sqlite3.connect(database, isolation_level=None)
    try:
        wait_until(lambda: conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0)
    finally:
        conn.close()
    assert database.with_name(database.name + "-wal").stat().st_size == 0


def wait_until(condition: Callable[[], object], what: str = "the condition") -> None:
    """Poll ``condition`` until it holds (no event says when; fails after START_TIMEOUT)."""
    deadline = time.monotonic() + START_TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"{what} never held"
        time.sleep(0.01)


def events(first: int, count: int = 4, text: str = TEXT) -> list[Event]:
    """``count`` events with a long text each, timestamps from ``T0 + first``."""
    return [
        Event(
            timestamp=T0 + first + n,
            interpretation=ACCESS_EVENT,
            manifestation=USER_ACTIVITY,
            actor="application://gedit.desktop",
            subjects=(Subject(uri=f"file:///home/me/{first + n}.txt", text=text),),
        )
        for n in range(count)
    ]


def lines(records: list[logging.LogRecord], text: str) -> list[logging.LogRecord]:
    return [record for record in records if text in record.getMessage()]


# -- in one process ----------------------------------------------------------------


def test_a_full_disk_refuses_writes_by_name_until_space_is_freed(
    disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    database = disk / "zeitbus.sqlite"
    engine = Engine.open(database)
    try:
        acknowledged = engine.insert_events(events(0)) + engine.insert_events(events(100))
        empty_wal(database)
        filler = fill(disk)
        for attempt in range(3):
            with pytest.raises(DiskFull) as refused:
                engine.insert_events(events(1000 + 100 * attempt))
            assert refused.value.message == f"the disk is full: cannot write to {database}"
            assert refused.value.code == "disk_full"
        with pytest.raises(DiskFull):
            engine.import_events(events(5000))
        assert len(lines(caplog.records, FULL_LINE)) == 1  # once, not per refused batch
        assert not [record for record in caplog.records if record.exc_info]

        filler.unlink()
        # The next write works, on the same open log: the failed ones left nothing open.
        acknowledged += engine.insert_events(events(9000))
        assert len(lines(caplog.records, AGAIN_LINE)) == 1
        assert len(lines(caplog.records, FULL_LINE)) == 1
        stored = engine.get_events(acknowledged)
        assert [event.id if event else None for event in stored] == acknowledged
        assert engine.stats().events == len(acknowledged)
    finally:
        engine.close()


def test_the_index_follower_says_once_that_the_disk_is_full_and_catches_up_after(
    tmp_path: Path,
    disk: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Space that comes back wakes no one: the follower looks again by itself.
    monkeypatch.setattr(loaded_module, "DISK_FULL_RETRY", 0.01)
    caplog.set_level(logging.DEBUG)
    engine = Engine.open(tmp_path / "zeitbus.sqlite")  # the log has room; its index has not
    index = FullTextIndex(engine, disk / "fts.sqlite")
    extensions = Loaded(index=index)

    def indexed() -> bool:
        return index.cursor == engine.last_seq()

    async def main() -> None:
        await extensions.start()
        try:
            await asyncio.to_thread(engine.insert_events, events(0))
            await asyncio.to_thread(wait_until, indexed, "indexing")
            filler = await asyncio.to_thread(fill, disk)
            # The log takes these; the index cannot (a few tries: the follower may
            # find its WAL some room the first time).
            for batch in range(10):
                await asyncio.to_thread(engine.insert_events, events(1000 + 100 * batch))
                if lines(caplog.records, FULL_LINE):
                    break
            await asyncio.to_thread(wait_until, lambda: lines(caplog.records, FULL_LINE))
            with pytest.raises(DiskFull, match=f"the disk is full: cannot write to {index.path}"):
                await asyncio.to_thread(index.catch_up)
            assert not indexed()
            filler.unlink()
            await asyncio.to_thread(wait_until, indexed, "catching up")  # no commit woke it
        finally:
            await extensions.stop()

    try:
        asyncio.run(main())
    finally:
        engine.close()
    assert len(lines(caplog.records, FULL_LINE)) == 1
    assert len(lines(caplog.records, AGAIN_LINE)) == 1
    assert not [record for record in caplog.records if record.exc_info]  # no traceback


@pytest.mark.parametrize("room", [0, 100_000])  # none; some, but less than the tables take
def test_a_new_log_that_does_not_fit_is_a_full_disk(disk: Path, room: int) -> None:
    filler = fill(disk)
    os.truncate(filler, filler.stat().st_size - room)
    database = disk / "new" / "zeitbus.sqlite"
    with pytest.raises(DiskFull, match=f"the disk is full: cannot write to {database}"):
        Engine.open(database)
    filler.unlink()
    with Engine.open(database) as engine:  # what the failed open left is no obstacle
        assert engine.insert_events(events(0)) == [1, 2, 3, 4]


def test_daemon_json_that_does_not_fit_is_a_full_disk_and_leaves_nothing(disk: Path) -> None:
    fill(disk)
    published = discovery.Daemon(os.getpid(), "http://127.0.0.1:1", "")
    with pytest.raises(DiskFull, match=f"the disk is full: cannot write to {disk}/daemon.json"):
        discovery.write(disk, published)
    assert sorted(path.name for path in disk.iterdir()) == ["filler"]


# -- a daemon, through HTTP, D-Bus and the CLI ----------------------------------------


def test_a_daemon_that_has_no_room_to_open_its_log_says_so(tmp_path: Path, disk: Path) -> None:
    Engine.open(disk / "zeitbus.sqlite").close()  # its WAL and shared memory go with it
    fill(disk)  # opening makes the shared-memory file again, and that needs room
    log = tmp_path / "daemon.log"
    env = _clean_env() | {"ZEITGEIST_DATA_PATH": str(disk)}
    for name in ("ZEITGEIST_DATABASE_PATH", "ZEITBUS_DATA_DIR", "DBUS_SESSION_BUS_ADDRESS"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-m", "zeitbus", "daemon", "--no-http", f"--log-file={log}"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=START_TIMEOUT,
        check=False,
    )
    assert done.returncode == EXIT_CANNOT_OPEN
    expected = f"the disk is full: cannot write to {disk}/zeitbus.sqlite"
    assert expected in log.read_text()
    assert "Traceback" not in log.read_text()


def _wire(event_id: int) -> list[Any]:
    """An event as InsertEvents takes it: (asaasay)."""
    fields = ["", str(T0 + event_id), ACCESS_EVENT, USER_ACTIVITY, "application://gedit.desktop"]
    subject = [f"file:///home/me/bus-{event_id}.txt", "", "", "", "text/plain", TEXT, ""]
    return [fields, [subject], b""]


def insert_over_dbus(bus_address: str, event_ids: list[int]) -> Message:
    """InsertEvents from a dbus-fast client: the reply (a return or an error)."""

    async def main() -> Message:
        bus = await MessageBus(bus_address=bus_address).connect()
        try:
            call = Message(
                destination=ENGINE_BUS_NAME,
                path=LOG_PATH,
                interface=LOG_INTERFACE,
                member="InsertEvents",
                signature="a(asaasay)",
                body=[[_wire(event_id) for event_id in event_ids]],
            )
            reply = await bus.call(call)
            assert reply is not None
            return reply
        finally:
            bus.disconnect()

    return asyncio.run(main())


def zeitbus(data: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run the CLI on the log in ``data``."""
    env = _clean_env()
    env.pop("ZEITBUS_DATA_DIR", None)
    env.pop("ZEITGEIST_DATABASE_PATH", None)
    env["ZEITGEIST_DATA_PATH"] = str(data)
    return subprocess.run(
        [sys.executable, "-m", "zeitbus", "--data-dir", str(data), *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        check=False,
    )


def test_every_interface_names_a_full_disk_and_the_daemon_writes_again_after(
    tmp_path: Path, disk: Path
) -> None:
    if shutil.which("dbus-daemon") is None:
        pytest.skip("dbus-daemon is missing (apt-get install dbus)")
    data = disk / "zeitgeist"
    database = data / "zeitbus.sqlite"
    log = tmp_path / "daemon.log"  # off the small disk: it must take the lines
    backup = tmp_path / "backup.jsonl"
    backup.write_text(
        json.dumps(
            {
                "timestamp": T0 + 7000,
                "interpretation": ACCESS_EVENT,
                "manifestation": USER_ACTIVITY,
                "actor": "application://vim.desktop",
                "subjects": [{"uri": "file:///home/me/imported.txt", "text": TEXT}],
            }
        )
        + "\n"
    )
    with private_bus(tmp_path) as bus:
        env = daemon_env(bus, tmp_path / "run", ZEITGEIST_DATA_PATH=str(data))
        daemon = spawn_daemon(bus, env, log)
        try:
            socket = json.loads((data / "daemon.json").read_text())["socket"]
            transport = httpx.HTTPTransport(uds=socket)
            with httpx.Client(transport=transport, base_url="http://zeitbus") as http:
                body = [_json(n) for n in range(4)]
                acknowledged = http.post("/events", json=body).json()["ids"]
                dbus_reply = insert_over_dbus(bus, [100, 101])
                assert dbus_reply.message_type is MessageType.METHOD_RETURN
                acknowledged += dbus_reply.body[0]
                empty_wal(database)
                filler = fill(disk)

                refused = http.post("/events", json=[_json(1000)])
                assert refused.status_code == 507
                reason = refused.json()["reason"]
                assert refused.json() == {"error": "disk_full", "reason": reason}
                assert reason.startswith("the disk is full: cannot write to ")
                assert str(data) in reason

                dbus_refused = insert_over_dbus(bus, [2000])
                assert dbus_refused.message_type is MessageType.ERROR
                assert dbus_refused.error_name == "org.gnome.zeitgeist.EngineError.DatabaseError"
                assert dbus_refused.body == [reason]

                flags = ["-a", "application://vim.desktop", "-u", "file:///home/me/cli.txt"]
                for command in (
                    ["log", *flags],  # through the daemon
                    ["--direct", "log", *flags],
                    ["import", str(backup)],  # imports write the file themselves
                ):
                    done = zeitbus(data, *command)
                    assert done.returncode == 1, done.stderr
                    assert done.stderr.splitlines() == [f"zeitbus: error: {reason}"], command
                    assert done.stdout == ""

                text = log.read_text()
                assert text.count(FULL_LINE) == 1, text
                assert "Traceback" not in text

                filler.unlink()  # no restart: the next writes just work
                assert insert_over_dbus(bus, [3000]).message_type is MessageType.METHOD_RETURN
                assert zeitbus(data, "log", *flags).returncode == 0
                again = http.post("/events", json=[_json(4000)])
                assert again.status_code == 200
                acknowledged += again.json()["ids"]
                last_seq = again.json()["last_seq"]

                wait_until(lambda: AGAIN_LINE in log.read_text(), "the line saying so")
                ids = ",".join(map(str, acknowledged))
                stored = http.get("/events", params={"ids": ids}).json()["events"]
                assert [event["id"] for event in stored] == acknowledged
                wait_until(lambda: _index_cursor(data) == last_seq, "the index catching up")
            text = log.read_text()
            assert text.count(FULL_LINE) == 1, text
            assert text.count(AGAIN_LINE) == 1, text
            assert "Traceback" not in text
        finally:
            assert daemon.stop() == 0, daemon.log_text()[-3000:]


def _json(event_id: int) -> dict[str, Any]:
    """An event in the HTTP API's JSON form."""
    return {
        "timestamp": T0 + event_id,
        "interpretation": ACCESS_EVENT,
        "manifestation": USER_ACTIVITY,
        "actor": "application://gedit.desktop",
        "subjects": [{"uri": f"file:///home/me/http-{event_id}.txt", "text": TEXT}],
    }


def _index_cursor(data: Path) -> int:
    """The feed position the daemon's full-text index has reached."""
    conn = sqlite3.connect(data / "fts.sqlite")
    try:
        return int(conn.execute("SELECT value FROM state WHERE key = 'cursor'").fetchone()[0])
    finally:
        conn.close()
