"""The CLI with a daemon running: log/find/get/delete go through it; ``tail`` follows the feed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click

from tests.http.daemons import START_TIMEOUT, _env, spawn
from zeitbus.cli.app import State, cli
from zeitbus.client import Client
from zeitbus.engine import Engine


def zeitbus(data: Path, *args: str, direct: bool = False) -> str:
    """Run the CLI on ``data``; its stdout (fails the test on a non-zero exit)."""
    flags = ["--direct"] if direct else []
    done = subprocess.run(
        [sys.executable, "-m", "zeitbus", "--data-dir", str(data), *flags, *args],
        env=_env(data),
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _log(data: Path, uri: str) -> str:
    return zeitbus(data, "log", "-a", "application://vim.desktop", "-u", uri, "-t", "1767225600000")


def test_the_cli_uses_a_running_daemon_and_the_file_otherwise(data: Path) -> None:
    daemon = spawn(data)
    try:
        with click.Context(cli) as ctx:
            state = ctx.ensure_object(State)
            state.data_dir = data
            assert isinstance(state.log(), Client)
            state.direct = True
            assert isinstance(state.log(), Engine)
        assert _log(data, "file:///a.txt") == "1\n"
        found = [json.loads(line) for line in zeitbus(data, "find", "--json").splitlines()]
        assert [event["subjects"][0]["uri"] for event in found] == ["file:///a.txt"]
        assert json.loads(zeitbus(data, "get", "1", "--json"))["id"] == 1
        assert zeitbus(data, "delete", "1").startswith("Deleted 1 event")
    finally:
        assert daemon.stop() == 0
    with click.Context(cli) as ctx:
        state = ctx.ensure_object(State)
        state.data_dir = data
        assert isinstance(state.log(), Engine)  # no daemon: the file itself
    assert zeitbus(data, "find", "--ids-only") == ""


def test_tail_prints_the_same_rows_through_the_daemon_and_from_the_file(data: Path) -> None:
    daemon = spawn(data)
    try:
        _log(data, "file:///a.txt")
        _log(data, "file:///b.txt")
        zeitbus(data, "delete", "1")
        through_daemon = zeitbus(data, "tail", "--since", "0", "-n", "2", "--json")
        from_file = zeitbus(data, "tail", "--since", "0", "-n", "2", "--json", direct=True)
    finally:
        assert daemon.stop() == 0
    assert through_daemon == from_file
    rows = [json.loads(line) for line in through_daemon.splitlines()]
    assert [row["seq"] for row in rows] == [2, 3]  # the deleted event's insert is left out
    assert rows[0]["doc"]["subjects"][0]["uri"] == "file:///b.txt"
    assert rows[1]["deleted"] is True


def test_tail_follows_live_changes_with_filters(data: Path) -> None:
    daemon = spawn(data)
    try:
        tail = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "zeitbus",
                "--data-dir",
                str(data),
                "tail",
                "--since",
                "0",
                "-n",
                "1",
                "-u",
                "file:///wanted*",
            ],
            env=_env(data),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        _log(data, "file:///other.txt")
        _log(data, "file:///wanted/notes.txt")
        out, err = tail.communicate(timeout=START_TIMEOUT)
        assert tail.returncode == 0, err
        (line,) = out.splitlines()
        assert line.split()[0] == "2"
        assert "application://vim.desktop  file:///wanted/notes.txt" in line
    finally:
        assert daemon.stop() == 0
