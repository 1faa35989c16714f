"""Real ``zeitbus daemon`` processes serving HTTP, for the end-to-end tests."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.zeitgeist_reference import _clean_env

START_TIMEOUT = 30.0


@dataclass
class Daemon:
    """A daemon without a session bus, serving HTTP on a free port."""

    data: Path
    process: subprocess.Popen[bytes]
    url: str
    socket: str

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        return self.process.wait(timeout=START_TIMEOUT)


def _env(data: Path) -> dict[str, str]:
    env = _clean_env()  # no DBUS_SESSION_BUS_ADDRESS: the daemon runs without a bus
    config = data.parent / "config.toml"
    config.write_text("[http]\nport = 0\n", encoding="utf-8")
    env.update(ZEITBUS_CONFIG=str(config), ZEITGEIST_DATA_PATH=str(data))
    for name in ("ZEITGEIST_DATABASE_PATH", "ZEITBUS_DATA_DIR"):
        env.pop(name, None)
    return env


def spawn(data: Path, **environ: str) -> Daemon:
    """Start the daemon (``environ`` added to its environment), wait for its daemon.json."""
    discovery = data / "daemon.json"
    discovery.unlink(missing_ok=True)
    log = data.parent / "daemon.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "zeitbus", "daemon", "--log-level=INFO", f"--log-file={log}"],
        env=_env(data) | environ,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + START_TIMEOUT
    while not discovery.exists():
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "the daemon never wrote daemon.json"
        time.sleep(0.01)
    info = json.loads(discovery.read_text())
    assert info["pid"] == process.pid
    return Daemon(data, process, info["url"], info["socket"])


def make_token(data: Path, scope: str, env: dict[str, str] | None = None) -> str:
    """A token made with the CLI, as a user would (``env``: the daemon's environment)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "zeitbus",
            "--data-dir",
            str(data),
            "token",
            "create",
            "--scope",
            scope,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=START_TIMEOUT,
        env=_env(data) if env is None else env,
    )
    return done.stdout.strip()
