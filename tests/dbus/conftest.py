"""Fixtures: ``zeitbus daemon`` as a real process on a private dbus-daemon.

``bus`` starts a headless session bus of the test's own (the recipe of
tests/zeitgeist_reference.py: a socket in a fresh directory, no service
directories). ``zeitbus_daemon`` starts ``python -m zeitbus daemon`` on it
with its data in the test's tmp_path and waits (with a deadline) until it
owns ``org.gnome.zeitgeist.Engine``; at the end it stops it with SIGTERM and
checks the clean exit 0. ``client`` is Debian's python3-zeitgeist speaking
to it through tests/zg_client.py.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.zeitgeist_reference import (
    ENGINE_BUS_NAME,
    START_TIMEOUT,
    STOP_TIMEOUT,
    DaemonProcess,
    ZeitgeistClient,
    _clean_env,
    _wait_for_name,
    missing,
    private_bus,
)
from zeitbus import Event, Subject

ACCESS = "http://www.zeitgeist-project.com/ontologies/2010/01/27/zg#AccessEvent"
MODIFY = "http://www.zeitgeist-project.com/ontologies/2010/01/27/zg#ModifyEvent"
USER = "http://www.zeitgeist-project.com/ontologies/2010/01/27/zg#UserActivity"


def make_event(
    timestamp: int,
    uri: str = "file:///tmp/a.txt",
    *,
    actor: str = "application://gedit.desktop",
    interpretation: str = ACCESS,
    payload: bytes = b"",
) -> Event:
    """A complete event with one subject."""
    return Event(
        timestamp=timestamp,
        interpretation=interpretation,
        manifestation=USER,
        actor=actor,
        subjects=(Subject(uri=uri, mimetype="text/plain", text="a"),),
        payload=payload,
    )


@dataclass
class ZeitbusDaemon(DaemonProcess):
    """A running ``zeitbus daemon``: its bus, data, log and clients."""

    bus_address: str
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes]
    _clients: list[ZeitgeistClient] = field(default_factory=list)

    def log_text(self) -> str:
        """What the daemon logged so far."""
        return self.log.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = START_TIMEOUT) -> None:
        """Return once ``text`` is in the daemon's log; fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while text not in self.log_text():
            assert time.monotonic() < deadline, f"{text!r} never logged:\n{self.log_text()}"
            time.sleep(0.01)

    def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        """Wait for the daemon to exit on its own; its exit status."""
        return self.process.wait(timeout=timeout)


def daemon_env(bus_address: str, run_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a daemon on ``bus_address`` with its data under ``run_dir``."""
    env = _clean_env()
    # The HTTP API on any free port: tests' daemons must not contend for 5680.
    config = run_dir / "config.toml"
    run_dir.mkdir(parents=True, exist_ok=True)
    config.write_text("[http]\nport = 0\n", encoding="utf-8")
    env.update(
        ZEITBUS_CONFIG=str(config),
        DBUS_SESSION_BUS_ADDRESS=bus_address,
        ZEITGEIST_DATA_PATH=str(run_dir / "zeitgeist"),
        XDG_DATA_HOME=str(run_dir / "xdg-data"),
        XDG_CACHE_HOME=str(run_dir / "cache"),
    )
    env.pop("ZEITGEIST_DATABASE_PATH", None)
    env.pop("ZEITBUS_DATA_DIR", None)
    env.update(extra)
    return env


def run_daemon(
    env: dict[str, str], *args: str, timeout: float = START_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run ``zeitbus daemon ARGS`` to completion (for the options that exit)."""
    return subprocess.run(
        [sys.executable, "-m", "zeitbus", "daemon", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def spawn_daemon(
    bus_address: str, env: dict[str, str], log: Path, args: Sequence[str] = ()
) -> ZeitbusDaemon:
    """Start ``zeitbus daemon`` and wait until it owns the engine's name."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "zeitbus",
            "daemon",
            "--no-datahub",
            "--log-level=DEBUG",
            f"--log-file={log}",
            *args,
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    daemon = ZeitbusDaemon(bus_address, env, log, process)
    try:
        _wait_for_name(bus_address, process, log)
    except BaseException:
        daemon.stop(signal.SIGKILL)
        raise
    return daemon


def name_owner(bus_address: str) -> str | None:
    """The unique name owning the engine's name on the bus, or None."""
    reply = subprocess.run(
        [
            "dbus-send",
            f"--bus={bus_address}",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.GetNameOwner",
            f"string:{ENGINE_BUS_NAME}",
        ],
        env=_clean_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if reply.returncode != 0:
        return None
    return reply.stdout.split('"')[1]


@pytest.fixture(scope="session", autouse=True)
def _needs_the_real_client() -> None:
    reason = missing()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[str]:
    """A private session bus (killed by PID at the end); its address."""
    with private_bus(tmp_path) as address:
        yield address


@pytest.fixture
def zeitbus_daemon(bus: str, tmp_path: Path) -> Iterator[ZeitbusDaemon]:
    """``zeitbus daemon`` on ``bus`` with a database file in tmp_path; exits 0 at the end."""
    env = daemon_env(bus, tmp_path)
    daemon = spawn_daemon(bus, env, tmp_path / "daemon.log")
    try:
        yield daemon
    finally:
        status = daemon.stop()
        assert status == 0, daemon.log_text()[-3000:]


@pytest.fixture
def client(zeitbus_daemon: ZeitbusDaemon) -> ZeitgeistClient:
    """Debian's python3-zeitgeist, talking to ``zeitbus_daemon``."""
    return zeitbus_daemon.client()


def data_path(daemon: ZeitbusDaemon) -> Path:
    """The directory the daemon keeps its database in."""
    return Path(daemon.env["ZEITGEIST_DATA_PATH"])
