"""Every command finds the daemon's log, and the daemon keeps its directory private."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.http.daemons import START_TIMEOUT, _env, spawn


def zeitbus(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it in the daemon's shell: no --data-dir."""
    return subprocess.run(
        [sys.executable, "-m", "zeitbus", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        check=False,
    )


@pytest.mark.parametrize("variable", ["ZEITGEIST_DATABASE_PATH", "ZEITGEIST_DATA_PATH"])
def test_a_token_made_in_the_daemons_shell_is_accepted_by_the_daemon(
    data: Path, variable: str
) -> None:
    env = _env(data)  # the daemon's: ZEITGEIST_DATA_PATH=data
    if variable == "ZEITGEIST_DATABASE_PATH":
        env.pop("ZEITGEIST_DATA_PATH")
        env[variable] = str(data / "my-activity.db")
    daemon = spawn(data, **env)
    try:
        made = zeitbus(env, "token", "create", "--scope", "write")
        assert made.returncode == 0, made.stderr
        token = made.stdout.strip()
        headers = {"Authorization": f"Bearer {token}"}
        answer = httpx.get(f"{daemon.url}/stats", headers=headers, timeout=START_TIMEOUT)
        assert answer.status_code == 200, answer.text
        # And a command's events go to the daemon's log, seen by the daemon.
        logged = zeitbus(env, "log", "-a", "application://vim.desktop", "-u", "file:///a")
        assert logged.returncode == 0, logged.stderr
        assert answer.json()["events"] == 0
        again = httpx.get(f"{daemon.url}/stats", headers=headers, timeout=START_TIMEOUT)
        assert again.json()["events"] == 1
    finally:
        assert daemon.stop() == 0
    if variable == "ZEITGEIST_DATABASE_PATH":
        assert sorted(p.name for p in data.glob("*.sqlite")) == ["fts.sqlite"]
        assert (data / "my-activity.db").is_file()


def test_the_daemon_keeps_its_data_directory_private_under_umask_022(data: Path) -> None:
    fresh = data / "fresh"
    old = os.umask(0o022)
    try:
        daemon = spawn(fresh)
    finally:
        os.umask(old)
    try:
        made = {p.name: stat.S_IMODE(p.stat().st_mode) for p in fresh.iterdir()}
    finally:
        assert daemon.stop() == 0
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700
    for name in ("zeitbus.sqlite", "zeitbus.sqlite-wal", "fts.sqlite", "daemon.json"):
        assert name in made
    assert made == dict.fromkeys(made, 0o600)
    log = (data / "daemon.log").read_text()
    assert "can be read by other users" not in log


def test_a_data_directory_others_can_read_gets_a_warning_at_start(data: Path) -> None:
    os.chmod(data, 0o755)
    daemon = spawn(data)
    assert daemon.stop() == 0
    log = (data.parent / "daemon.log").read_text()
    assert f"The data directory {data} can be read by other users (mode 0755)" in log
    assert stat.S_IMODE(data.stat().st_mode) == 0o755  # the user's choice, not changed
