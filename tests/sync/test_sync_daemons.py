"""Two real ``zeitbus daemon`` processes syncing, set up with ``zeitbus sync`` as a user would.

Each daemon has a data directory (and config.toml) of its own and serves
HTTP on a free port of 127.0.0.1; the commands find it through its
daemon.json and talk to it over its Unix socket.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from click.testing import CliRunner

from tests.http.daemons import START_TIMEOUT, Daemon, _env, make_token, spawn
from zeitbus.cli import cli
from zeitbus.client import Client
from zeitbus.engine import Engine
from zeitbus.sync.peers import PeerStore

T = TypeVar("T")
DEADLINE = 30.0


def zeitbus(data: Path, *args: str, status: int = 0) -> subprocess.CompletedProcess[str]:
    """Run the CLI on ``data`` and check its exit status."""
    done = subprocess.run(
        [sys.executable, "-m", "zeitbus", "--data-dir", str(data), *args],
        env=_env(data),
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        check=False,
    )
    assert done.returncode == status, (done.stdout, done.stderr)
    return done


def log(data: Path, uri: str) -> None:
    zeitbus(data, "log", "-a", "application://vim.desktop", "-u", uri)


def wait_for(condition: Callable[[], T | None], what: str) -> T:
    """The first true value of ``condition``, polled until DEADLINE."""
    deadline = time.monotonic() + DEADLINE
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.02)


def uris(daemon: Daemon) -> set[str]:
    with Client(socket=daemon.socket) as client:
        return {e.subjects[0].uri for e in client.find_events()}


def ways(daemon: Daemon) -> dict[tuple[str, str], dict[str, Any]]:
    """Each (peer id, direction)'s status, as the daemon reports it."""
    with Client(socket=daemon.socket) as client:
        return {
            (peer["id"], way["direction"]): way
            for peer in client.sync_status()
            for way in peer["replications"]
        }


def all_live(daemon: Daemon) -> dict[tuple[str, str], dict[str, Any]] | None:
    found = ways(daemon)
    live = all(w["state"] == "live" and w["lag_events"] == 0 for w in found.values())
    return found if found and live else None


def failed(daemon: Daemon, key: tuple[str, str], times: int) -> dict[str, Any] | None:
    """The status of a peer's direction once it has failed ``times`` times."""
    way = ways(daemon)[key]
    return way if way["errors"] >= times else None


def added_id(done: subprocess.CompletedProcess[str]) -> str:
    """The peer id in ``added peer ID: URL (...)``."""
    assert done.stdout.startswith("added peer "), done.stdout
    return done.stdout.split()[2].rstrip(":")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens there once the socket is closed


@pytest.fixture
def root() -> Iterator[Path]:
    """A short directory (a Unix socket path must stay under 104 bytes) for the machines."""
    path = Path(tempfile.mkdtemp(prefix="zbs-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def machine(root: Path, name: str) -> Path:
    """A data directory of its own (spawn writes config.toml beside it)."""
    data = root / name / "data"
    data.mkdir(parents=True)
    return data


def test_two_daemons_sync_both_ways_survive_a_restart_and_stop_when_removed(root: Path) -> None:
    laptop, desktop = machine(root, "laptop"), machine(root, "desktop")
    laptop_token, desktop_token = make_token(laptop, "write"), make_token(desktop, "write")
    on_laptop, on_desktop = spawn(laptop), spawn(desktop)
    try:
        added = zeitbus(laptop, "sync", "add", on_desktop.url, "--token", desktop_token)
        assert added.stdout == f"added peer {added_id(added)}: {on_desktop.url} (pull and push)\n"
        assert added.stderr == ""  # a daemon runs: nothing to note
        desktop_id = added_id(added)
        laptop_id = added_id(
            zeitbus(desktop, "sync", "add", on_laptop.url, "--token", laptop_token)
        )

        log(laptop, "file:///from-laptop")
        wait_for(lambda: uris(on_desktop) == {"file:///from-laptop"}, "the event on the desktop")
        log(desktop, "file:///from-desktop")
        both = {"file:///from-laptop", "file:///from-desktop"}
        wait_for(lambda: uris(on_laptop) == both, "the desktop's event on the laptop")

        wait_for(lambda: all_live(on_laptop), "the laptop's directions live")
        status = json.loads(zeitbus(laptop, "sync", "status", "--json").stdout)
        [peer] = status["peers"]
        assert (peer["id"], peer["url"], peer["token"]) == (desktop_id, on_desktop.url, True)
        assert desktop_token not in json.dumps(status)
        assert [w["direction"] for w in peer["replications"]] == ["pull", "push"]
        for way in peer["replications"]:
            assert way["state"] == "live"
            assert (way["lag_events"], way["lag_seconds"], way["last_error"]) == (0, 0.0, "")
        table = zeitbus(laptop, "sync", "status").stdout
        assert table.splitlines()[0] == f"{desktop_id}  {on_desktop.url}  (zeitbus, pull and push)"
        assert [line.split()[:2] for line in table.splitlines()[2:]] == [
            ["pull", "live"],
            ["push", "live"],
        ]

        # The laptop restarts: its peer is still there and it syncs again, both ways.
        assert on_laptop.stop() == 0
        log(desktop, "file:///while-the-laptop-was-down")
        on_laptop = spawn(laptop)
        listed = json.loads(zeitbus(laptop, "sync", "list", "--json").stdout)
        assert [(p["id"], p["url"]) for p in listed["peers"]] == [(desktop_id, on_desktop.url)]
        both.add("file:///while-the-laptop-was-down")
        wait_for(lambda: uris(on_laptop) == both, "what the laptop missed")
        log(laptop, "file:///after-the-restart")
        both.add("file:///after-the-restart")
        wait_for(lambda: uris(on_desktop) == both, "the laptop's new event on the desktop")

        # Removed on both sides: no peer, no replication.
        removed = zeitbus(laptop, "sync", "remove", desktop_id)
        assert removed.stdout == f"removed peer {desktop_id}: {on_desktop.url}\n"
        zeitbus(desktop, "sync", "remove", laptop_id)
        assert ways(on_laptop) == ways(on_desktop) == {}
        assert json.loads(zeitbus(laptop, "sync", "list", "--json").stdout) == {"peers": []}
        zeitbus(laptop, "sync", "remove", desktop_id, status=2)
    finally:
        assert on_laptop.stop() == 0
        assert on_desktop.stop() == 0


def test_a_bad_token_or_url_is_a_clear_error_in_status_and_retried(root: Path) -> None:
    laptop, desktop = machine(root, "laptop"), machine(root, "desktop")
    desktop_token = make_token(desktop, "write")
    on_laptop, on_desktop = spawn(laptop), spawn(desktop)
    try:
        wrong = "zbt_00000000_not-the-desktops-token"
        peer = added_id(
            zeitbus(laptop, "sync", "add", on_desktop.url, "--token", wrong, "--pull-only")
        )
        refused = (
            f"{on_desktop.url} answered 401: the token is not valid (revoked, or never made here)"
        )
        pull = wait_for(lambda: failed(on_laptop, (peer, "pull"), 1), "an error")
        assert pull["last_error"] == refused
        assert pull["state"] in ("retrying", "catching up")
        # `sync now` retries at once, and says why it failed.
        now = zeitbus(laptop, "sync", "now", peer, status=1)
        assert now.stdout == f"{peer} pull: failed: {refused}\n"
        assert now.stderr.splitlines()[-1] == "zeitbus: error: 1 of 1 directions failed (see above)"
        assert ways(on_laptop)[(peer, "pull")]["errors"] >= 2

        # Nothing listens at this URL: "cannot reach", retried with backoff.
        port = free_port()
        gone = added_id(zeitbus(laptop, "sync", "add", f"http://127.0.0.1:{port}", "--push-only"))
        retried = wait_for(lambda: failed(on_laptop, (gone, "push"), 2), "a retry")
        assert retried["last_error"].startswith(f"cannot reach http://127.0.0.1:{port}")

        # The right token: removed and added again, and it syncs.
        zeitbus(laptop, "sync", "remove", peer)
        zeitbus(laptop, "sync", "add", on_desktop.url, "--token", desktop_token, "--pull-only")
        log(desktop, "file:///at-last")
        wait_for(lambda: uris(on_laptop) == {"file:///at-last"}, "the event with the right token")
    finally:
        assert on_laptop.stop() == 0
        assert on_desktop.stop() == 0


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (
            ["localhost:5680"],
            "a peer's URL must start with http:// or https://, not 'localhost:5680'",
        ),
        (["http://"], "a peer's URL needs a host: 'http://'"),
        (
            ["http://desktop", "--couchdb"],
            "CouchDB peers are not supported yet; a Zeitbus daemon's URL works without --couchdb",
        ),
        (["http://desktop", "--encrypt"], "encryption is for CouchDB peers (--couchdb), whose"),
        (
            ["http://desktop", "--pull-only", "--push-only"],
            "--pull-only and --push-only together sync nothing; give one",
        ),
        (["http://desktop", "--token", "two words"], "a peer's token is visible ASCII"),
    ],
)
def test_bad_input_to_sync_add_is_one_line_and_exit_status_2(
    tmp_path: Path, args: list[str], reason: str
) -> None:
    runner = CliRunner(env={"ZEITBUS_CONFIG": str(tmp_path / "none.toml")})
    data = ["--data-dir", str(tmp_path / "data")]
    done = runner.invoke(cli, [*data, "sync", "add", *args])
    assert done.exit_code == 2, done.output
    [line] = done.stderr.splitlines()
    assert line.startswith(f"zeitbus: error: {reason}"), line
    listed = runner.invoke(cli, [*data, "sync", "list", "--json"])
    assert json.loads(listed.stdout) == {"peers": []}


def test_without_a_daemon_the_commands_work_on_the_log_and_sync_now_runs_here(root: Path) -> None:
    laptop, desktop = machine(root, "laptop"), machine(root, "desktop")
    desktop_token = make_token(desktop, "write")
    on_desktop = spawn(desktop)
    try:
        for n in range(3):
            log(desktop, f"file:///desktop/{n}")
        log(laptop, "file:///laptop")
        added = zeitbus(laptop, "sync", "add", on_desktop.url, "--token", desktop_token)
        peer = added_id(added)
        assert "no daemon is running" in added.stderr
        status = json.loads(zeitbus(laptop, "sync", "status", "--json").stdout)
        assert [w["state"] for w in status["peers"][0]["replications"]] == ["idle", "idle"]

        now = zeitbus(laptop, "sync", "now")
        assert now.stdout.splitlines() == [
            f"{peer} pull: 3 events, at seq 3 of {on_desktop.url}",
            f"{peer} push: 1 event, {on_desktop.url} at seq 4 of this log",
        ]
        everything = {"file:///laptop", *(f"file:///desktop/{n}" for n in range(3))}
        assert uris(on_desktop) == everything
        found = zeitbus(laptop, "find", "--json").stdout.splitlines()
        assert {json.loads(line)["subjects"][0]["uri"] for line in found} == everything

        again = zeitbus(laptop, "sync", "now", peer, "--pull-only")
        assert again.stdout == f"{peer} pull: 0 events, at seq 4 of {on_desktop.url}\n"
        zeitbus(laptop, "sync", "now", "nope", status=2)
        listed = zeitbus(laptop, "sync", "list").stdout
        assert peer in listed
        assert on_desktop.url in listed
    finally:
        assert on_desktop.stop() == 0


def test_a_token_can_come_from_stdin_and_is_never_shown(tmp_path: Path) -> None:
    runner = CliRunner(env={"ZEITBUS_CONFIG": str(tmp_path / "none.toml")})
    data = ["--data-dir", str(tmp_path / "data")]
    secret = "zbt_3594b765_mvRbcyYcTU4V6PUAP"
    added = runner.invoke(
        cli, [*data, "sync", "add", "http://127.0.0.1:9", "--token", "-"], input=f"{secret}\n"
    )
    assert added.exit_code == 0, added.output
    for command in (["list", "--json"], ["list"], ["status", "--json"], ["status"]):
        shown = runner.invoke(cli, [*data, "sync", *command])
        assert shown.exit_code == 0, shown.output
        assert secret not in shown.output
    [peer] = json.loads(runner.invoke(cli, [*data, "sync", "list", "--json"]).stdout)["peers"]
    assert peer["token"] is True
    with Engine.open(tmp_path / "data") as engine:
        assert [p.token for p in PeerStore(engine).all()] == [secret]
