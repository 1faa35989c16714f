"""``zeitbus install-service``: the files, and a session bus starting Zeitbus on demand."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.dbus.conftest import make_event
from tests.zeitgeist_reference import (
    BUS_CONFIG,
    ENGINE_BUS_NAME,
    START_TIMEOUT,
    STOP_TIMEOUT,
    ZeitgeistClient,
    _clean_env,
    _pid_alive,
)


def install_service(*args: str, env: dict[str, str] | None = None) -> list[str]:
    """Run ``zeitbus install-service ARGS``; its output lines."""
    done = subprocess.run(
        [sys.executable, "-m", "zeitbus", "install-service", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=START_TIMEOUT,
    )
    return done.stdout.splitlines()


def test_install_is_idempotent_and_uninstall_removes_only_ours(tmp_path: Path) -> None:
    """Install writes both files, again changes nothing, --uninstall removes them."""
    env = _clean_env()
    env.update(XDG_DATA_HOME=str(tmp_path / "data"), XDG_CONFIG_HOME=str(tmp_path / "config"))
    service = tmp_path / "data/dbus-1/services/org.gnome.zeitgeist.Engine.service"
    unit = tmp_path / "config/systemd/user/zeitbus.service"
    assert install_service(env=env) == [f"written: {service}", f"written: {unit}"]
    text = service.read_text()
    assert f"Name={ENGINE_BUS_NAME}\n" in text
    assert f"Exec={sys.executable} -m zeitbus daemon\n" in text
    assert "Type=dbus\n" in unit.read_text()
    assert f"BusName={ENGINE_BUS_NAME}\n" in unit.read_text()
    assert install_service(env=env) == [f"unchanged: {service}", f"unchanged: {unit}"]
    unit.write_text("[Service]\nExecStart=/bin/true\n")  # somebody else's unit stays
    assert install_service("--uninstall", env=env) == [f"removed: {service}", f"kept: {unit}"]
    assert not service.exists()
    assert unit.exists()


@contextlib.contextmanager
def activating_bus(run_dir: Path, service_dir: Path, env: dict[str, str]) -> Iterator[str]:
    """A private session bus whose only service directory is ``service_dir``."""
    socket_dir = Path(tempfile.mkdtemp(prefix="zgbus-"))
    config = run_dir / "bus.conf"
    config.write_text(
        BUS_CONFIG.format(socket_dir=socket_dir).replace(
            "</busconfig>", f"  <servicedir>{service_dir}</servicedir>\n</busconfig>"
        )
    )
    out = subprocess.run(
        ["dbus-daemon", f"--config-file={config}", "--fork", "--print-address=1", "--print-pid=1"],
        env=env,
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
        with contextlib.suppress(ProcessLookupError):
            os.kill(bus_pid, signal.SIGTERM)
        shutil.rmtree(socket_dir, ignore_errors=True)


def _engine_pid(address: str) -> int:
    reply = subprocess.run(
        [
            "dbus-send",
            f"--bus={address}",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.GetConnectionUnixProcessID",
            f"string:{ENGINE_BUS_NAME}",
        ],
        env=_clean_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return int(reply.stdout.split()[-1])


def test_a_client_call_starts_zeitbus_through_the_installed_service(tmp_path: Path) -> None:
    """With the service file in the bus's service dir, the real client's call activates Zeitbus."""
    services = tmp_path / "services"
    install_service("--dbus-service-dir", str(services), "--systemd-dir", str(tmp_path / "u"))
    # The bus passes its environment to what it activates: keep the log in tmp_path.
    env = _clean_env()
    env.update(
        ZEITGEIST_DATA_PATH=str(tmp_path / "zeitgeist"),
        XDG_DATA_HOME=str(tmp_path / "xdg-data"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
    )
    with activating_bus(tmp_path, services, env) as address:
        client = ZeitgeistClient(address)
        try:
            assert client.insert([make_event(1000)]) == [1]
            assert client.find_ids() == [1]
            assert client.call({"cmd": "version"}) == [1, 0, 4]
        finally:
            client.close()
        pid = _engine_pid(address)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while _pid_alive(pid):
            assert time.monotonic() < deadline, "the activated daemon did not stop"
            time.sleep(0.01)
    assert (tmp_path / "zeitgeist" / "zeitbus.sqlite").is_file()
