"""Debian's real zeitgeist-daemon 1.0.4 on a private bus, for comparison tests.

``reference_daemon(run_dir)`` starts a headless ``dbus-daemon`` session bus
that only this test owns (a unix socket in a fresh directory, EXTERNAL auth,
no service directories, so nothing is ever auto-activated), then
``/usr/bin/zeitgeist-daemon --no-datahub`` on it with every path it uses
(database, data dir, XDG dirs) inside ``run_dir``. It waits for the bus name,
yields a ``ReferenceDaemon`` and, however the test ends, stops everything by
PID: the clients first, the daemon with SIGTERM (a clean shutdown checkpoints
the WAL into the database file), then the bus.

Clients run Debian's ``/usr/bin/python3`` (python3-zeitgeist and dbus-python
exist only there) on ``tests/zg_client.py`` and speak JSON lines with it; see
that file for the protocol. ``ZeitgeistClient`` turns its answers back into
Zeitbus ``Event`` values, so tests compare like with like.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zeitbus import Event, Subject
from zeitbus.model import INT64_MAX

ZEITGEIST_DAEMON = Path("/usr/bin/zeitgeist-daemon")
SYSTEM_PYTHON = Path("/usr/bin/python3")
CLIENT_SCRIPT = Path(__file__).with_name("zg_client.py")
ENGINE_BUS_NAME = "org.gnome.zeitgeist.Engine"
START_TIMEOUT = 20.0  # seconds for the bus name to appear (measured: 0.07 s)
STOP_TIMEOUT = 30.0  # seconds for a clean shutdown after SIGTERM

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={socket_dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
  <limit name="max_message_size">1000000000</limit>
  <limit name="max_incoming_bytes">1000000000</limit>
  <limit name="max_outgoing_bytes">1000000000</limit>
  <limit name="max_replies_per_connection">50000</limit>
</busconfig>
"""


def missing() -> str | None:
    """Why the reference daemon cannot run here, or None if it can."""
    for path, package in (
        (ZEITGEIST_DAEMON, "zeitgeist-core"),
        (SYSTEM_PYTHON, "python3"),
        (Path("/usr/lib/python3/dist-packages/zeitgeist/client.py"), "python3-zeitgeist"),
    ):
        if not path.exists():
            return f"{path} is missing (apt-get install {package})"
    for tool in ("dbus-daemon", "dbus-send"):
        if shutil.which(tool) is None:
            return f"{tool} is missing (apt-get install dbus)"
    return None


class ReferenceDaemonError(RuntimeError):
    """The reference daemon (or its client) answered with an error."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


# -- events on the wire --------------------------------------------------------


def event_to_wire(event: Event) -> dict[str, Any]:
    """An event (or template) as the client's JSON form of ``(asaasay)``."""
    fields = [
        str(event.id) if event.id else "",
        "" if event.timestamp is None else str(event.timestamp),
        event.interpretation,
        event.manifestation,
        event.actor,
        event.origin,
    ]
    subjects = [list(s.values()) for s in event.subjects]
    return {
        "fields": fields,
        "subjects": subjects,
        "payload": base64.b64encode(event.payload).decode("ascii"),
    }


def event_from_wire(wire: dict[str, Any]) -> Event:
    """The Zeitbus value of an event the reference daemon returned."""
    fields = list(wire["fields"]) + [""] * (6 - len(wire["fields"]))
    event_id, timestamp, interpretation, manifestation, actor, origin = fields[:6]
    subjects = []
    for values in wire["subjects"]:
        values = list(values) + [""] * (9 - len(values))
        uri, interp, manif, s_origin, mimetype, text, storage, current_uri, current_origin = values[
            :9
        ]
        subjects.append(
            Subject(
                uri=uri,
                interpretation=interp,
                manifestation=manif,
                origin=s_origin,
                mimetype=mimetype,
                text=text,
                storage=storage,
                current_uri=current_uri,
                current_origin=current_origin,
            )
        )
    return Event(
        id=int(event_id) if event_id else 0,
        timestamp=int(timestamp) if timestamp else None,
        interpretation=interpretation,
        manifestation=manifestation,
        actor=actor,
        origin=origin,
        subjects=tuple(subjects),
        payload=base64.b64decode(wire["payload"]),
    )


# -- the client ------------------------------------------------------------------


class ZeitgeistClient:
    """A python3-zeitgeist client process bound to one bus."""

    def __init__(self, bus_address: str) -> None:
        env = dict(os.environ)
        env["DBUS_SESSION_BUS_ADDRESS"] = bus_address
        for name in ("DISPLAY", "WAYLAND_DISPLAY", "PYTHONPATH", "PYTHONHOME"):
            env.pop(name, None)
        self._process = subprocess.Popen(
            [str(SYSTEM_PYTHON), "-I", str(CLIENT_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )

    def call(self, request: dict[str, Any]) -> Any:
        """Send one request and return its result (ReferenceDaemonError on an error)."""
        process = self._process
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(json.dumps(request) + "\n")
        process.stdin.flush()
        line = process.stdout.readline()
        if not line:
            raise ReferenceDaemonError("client", f"the client exited ({process.poll()})")
        reply = json.loads(line)
        if "error" in reply:
            raise ReferenceDaemonError(reply["error"], reply["message"])
        return reply["ok"]

    def insert(self, events: Sequence[Event]) -> list[int]:
        """InsertEvents: the ids, in order (0 for dropped events)."""
        return list(self.call({"cmd": "insert", "events": [event_to_wire(e) for e in events]}))

    def get(self, ids: Sequence[int]) -> list[Event | None]:
        """GetEvents: events in request order, None for the NULL event."""
        wires = self.call({"cmd": "get", "ids": list(ids)})
        return [None if w is None else event_from_wire(w) for w in wires]

    def find_ids(
        self,
        time_range: tuple[int, int] = (0, INT64_MAX),
        templates: Sequence[Event] = (),
        storage_state: int = 2,
        num_events: int = 0,
        result_type: int = 0,
    ) -> list[int]:
        """FindEventIds with raw arguments (defaults: always, any storage, no limit)."""
        return list(
            self.call(
                {
                    "cmd": "find_ids",
                    "time_range": list(time_range),
                    "templates": [event_to_wire(t) for t in templates],
                    "storage_state": storage_state,
                    "num": num_events,
                    "result_type": result_type,
                }
            )
        )

    def delete(self, ids: Sequence[int]) -> tuple[int, int]:
        """DeleteEvents: the deleted events' time range, (-1, -1) if none existed."""
        start, end = self.call({"cmd": "delete", "ids": list(ids)})
        return int(start), int(end)

    def blacklist_add(self, template_id: str, template: Event) -> None:
        """Blacklist.AddTemplate (stored in extensions_conf at once)."""
        self.call({"cmd": "blacklist_add", "id": template_id, "template": event_to_wire(template)})

    def register_data_source(
        self, unique_id: str, name: str, description: str, templates: Sequence[Event] = ()
    ) -> bool:
        """DataSourceRegistry.RegisterDataSource (stored when the daemon stops)."""
        return bool(
            self.call(
                {
                    "cmd": "register_data_source",
                    "unique_id": unique_id,
                    "name": name,
                    "description": description,
                    "templates": [event_to_wire(t) for t in templates],
                }
            )
        )

    def close(self) -> None:
        """End the client process (closing stdin ends it; kill if it lingers)."""
        process = self._process
        if process.poll() is None:
            with contextlib.suppress(OSError):
                assert process.stdin is not None
                process.stdin.close()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


# -- the bus and the daemon ------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie left to a non-reaping init counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _stop_pid(pid: int) -> None:
    """SIGTERM a process that is not our child and wait until it is gone."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    if _pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _clean_env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS"):
        env.pop(name, None)
    return env


@contextlib.contextmanager
def private_bus(config_dir: Path) -> Iterator[str]:
    """A private session bus; yields its address and kills it (by PID) at exit."""
    # A unix socket path must stay under 108 bytes, so the socket gets a short
    # directory of its own rather than one below pytest's long tmp_path.
    socket_dir = Path(tempfile.mkdtemp(prefix="zgbus-"))
    config = config_dir / "bus.conf"
    config.write_text(BUS_CONFIG.format(socket_dir=socket_dir))
    try:
        out = subprocess.run(
            [
                "dbus-daemon",
                f"--config-file={config}",
                "--fork",
                "--print-address=1",
                "--print-pid=1",
            ],
            env=_clean_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=True,
            timeout=START_TIMEOUT,
        ).stdout.split()
        address, bus_pid = out[0], int(out[1])
        try:
            yield address
        finally:
            _stop_pid(bus_pid)
    finally:
        shutil.rmtree(socket_dir, ignore_errors=True)


def _wait_for_name(address: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Return once ``ENGINE_BUS_NAME`` has an owner; raise if the daemon died."""
    if shutil.which("gdbus") is not None:
        done = subprocess.run(
            [
                "gdbus",
                "wait",
                "--address",
                address,
                "--timeout",
                str(int(START_TIMEOUT)),
                ENGINE_BUS_NAME,
            ],
            env=_clean_env(),
            capture_output=True,
            check=False,
            timeout=START_TIMEOUT + 10,
        )
        if done.returncode == 0:
            return
    else:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and process.poll() is None:
            reply = subprocess.run(
                [
                    "dbus-send",
                    f"--bus={address}",
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    f"string:{ENGINE_BUS_NAME}",
                ],
                env=_clean_env(),
                capture_output=True,
                text=True,
                check=False,
            )
            if "boolean true" in reply.stdout:
                return
            time.sleep(0.02)
    raise RuntimeError(
        f"zeitgeist-daemon did not take {ENGINE_BUS_NAME} (exit status {process.poll()}): "
        + log.read_text(errors="replace")[-2000:]
    )


class DaemonProcess:
    """What a daemon under test shares: its client processes and a clean stop.

    Mixed into dataclasses that have ``bus_address``, ``process`` and ``_clients``.
    """

    bus_address: str
    process: subprocess.Popen[bytes]
    _clients: list[ZeitgeistClient]

    def client(self) -> ZeitgeistClient:
        """The first client on this daemon's bus (started on first use)."""
        if not self._clients:
            self._clients.append(ZeitgeistClient(self.bus_address))
        return self._clients[0]

    def new_client(self) -> ZeitgeistClient:
        """Another client process (closed with the daemon)."""
        client = ZeitgeistClient(self.bus_address)
        self._clients.append(client)
        return client

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Close the clients, signal the daemon and wait; returns its exit status."""
        while self._clients:
            self._clients.pop().close()
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)


@dataclass
class ReferenceDaemon(DaemonProcess):
    """A running reference daemon: its database, bus and clients."""

    run_dir: Path
    db_path: Path
    bus_address: str
    process: subprocess.Popen[bytes]
    _clients: list[ZeitgeistClient] = field(default_factory=list)


@contextlib.contextmanager
def reference_daemon(run_dir: Path, db_path: Path | None = None) -> Iterator[ReferenceDaemon]:
    """zeitgeist-daemon on a private bus, with its state in ``run_dir``.

    ``db_path`` (default ``run_dir/data/zeitgeist/activity.sqlite``) may be an
    existing database, to restart the daemon on it.
    """
    data = run_dir / "data"
    zg_data = data / "zeitgeist"
    cache = run_dir / "cache"
    for directory in (zg_data, cache):
        directory.mkdir(parents=True, exist_ok=True)
    db_path = db_path or zg_data / "activity.sqlite"
    log = run_dir / "zeitgeist-daemon.log"
    with private_bus(run_dir) as address:
        env = _clean_env()
        env.update(
            DBUS_SESSION_BUS_ADDRESS=address,
            ZEITGEIST_DATA_PATH=str(zg_data),
            ZEITGEIST_DATABASE_PATH=str(db_path),
            XDG_DATA_HOME=str(data),
            XDG_CACHE_HOME=str(cache),
            GIO_USE_VFS="local",
            GSETTINGS_BACKEND="memory",
        )
        with log.open("ab") as log_file:
            process = subprocess.Popen(
                [str(ZEITGEIST_DAEMON), "--no-datahub", "--log-level=WARNING"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        daemon = ReferenceDaemon(run_dir, db_path, address, process)
        try:
            _wait_for_name(address, process, log)
            yield daemon
        finally:
            daemon.stop()
