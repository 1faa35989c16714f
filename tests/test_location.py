"""Where the log lives, and that what Zeitbus keeps there is private whatever the umask."""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from zeitbus import discovery
from zeitbus.cli import cli
from zeitbus.engine import Engine
from zeitbus.errors import InvalidArgument
from zeitbus.extensions.fts import FullTextIndex
from zeitbus.location import (
    MEMORY,
    data_dir_of,
    log_location,
    private_database,
    warn_if_shared,
)
from zeitbus.model import Event, Subject


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@contextlib.contextmanager
def umask(value: int) -> Iterator[None]:
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def an_event(uri: str = "file:///home/me/notes.txt") -> Event:
    return Event(
        timestamp=1767225600000,
        interpretation="http://www.zeitgeist-project.com/ontologies/2010/01/27/zg#AccessEvent",
        manifestation="http://www.zeitgeist-project.com/ontologies/2010/01/27/zg#UserActivity",
        actor="application://vim.desktop",
        subjects=(Subject(uri=uri),),
    )


class TestWhereTheLogLives:
    def test_data_dir_wins_over_everything(self, tmp_path: Path) -> None:
        env = {"ZEITGEIST_DATABASE_PATH": "/elsewhere/x.db", "ZEITGEIST_DATA_PATH": "/zg"}
        assert log_location(env, tmp_path) == str(tmp_path / "zeitbus.sqlite")

    def test_zeitgeist_database_path_names_the_file_itself(self) -> None:
        env = {"ZEITGEIST_DATABASE_PATH": "/elsewhere/activity.log", "ZEITGEIST_DATA_PATH": "/z"}
        assert log_location(env) == "/elsewhere/activity.log"

    def test_zeitgeist_data_path_names_the_directory(self) -> None:
        assert log_location({"ZEITGEIST_DATA_PATH": "/zg"}) == "/zg/zeitbus.sqlite"

    def test_otherwise_the_xdg_data_directory(self) -> None:
        assert log_location({"XDG_DATA_HOME": "/d"}) == "/d/zeitbus/zeitbus.sqlite"

    def test_an_in_memory_log_has_no_directory_a_command_could_use(self) -> None:
        assert log_location({"ZEITGEIST_DATABASE_PATH": ":memory:"}) == MEMORY
        with pytest.raises(InvalidArgument, match=r":memory:.*--data-dir"):
            data_dir_of(MEMORY)

    def test_a_command_refuses_a_log_in_the_daemons_memory_in_one_line(self) -> None:
        done = CliRunner().invoke(
            cli, ["stats"], env={"ZEITGEIST_DATABASE_PATH": ":memory:", "ZEITBUS_DATA_DIR": None}
        )
        assert done.exit_code == 2
        assert done.output.count("\n") == 1
        assert "zeitbus: error: ZEITGEIST_DATABASE_PATH is :memory:" in done.output

    def test_a_command_opens_the_file_zeitgeist_database_path_names(self, tmp_path: Path) -> None:
        """Whatever its name: not a directory of that name with a zeitbus.sqlite in it."""
        log = tmp_path / "logs" / "activity-log"
        env = {"ZEITGEIST_DATABASE_PATH": str(log), "ZEITBUS_DATA_DIR": None}
        runner = CliRunner()
        logged = runner.invoke(
            cli, ["log", "-a", "application://vim.desktop", "-u", "file:///a"], env=env
        )
        assert logged.exit_code == 0, logged.output
        assert log.is_file()
        with Engine.open(log) as engine:
            assert engine.stats().events == 1


class TestPrivateFiles:
    """Under the usual umask 022, nothing Zeitbus makes can be read by other users."""

    def test_a_new_log_is_private_with_its_wal_and_shm(self, tmp_path: Path) -> None:
        data = tmp_path / "new" / "zeitbus"
        with umask(0o022), Engine.open(data) as engine:
            engine.insert_events([an_event()])
            files = sorted(p.name for p in data.iterdir())
            assert files == ["zeitbus.sqlite", "zeitbus.sqlite-shm", "zeitbus.sqlite-wal"]
            assert {p.name: mode(p) for p in data.iterdir()} == dict.fromkeys(files, 0o600)
        assert mode(data) == 0o700
        assert mode(data.parent) == 0o755  # a parent is made as mkdir -p makes it

    def test_a_log_made_readable_before_is_made_private_when_opened(self, tmp_path: Path) -> None:
        with Engine.open(tmp_path) as engine:
            engine.insert_events([an_event()])
        log = tmp_path / "zeitbus.sqlite"
        os.chmod(log, 0o644)
        with Engine.open(tmp_path):
            assert mode(log) == 0o600
            assert mode(tmp_path / "zeitbus.sqlite-wal") == 0o600

    def test_the_full_text_index_is_private(self, tmp_path: Path) -> None:
        with umask(0o022), Engine.open(tmp_path / "data") as engine:
            index = FullTextIndex.beside(engine)
            try:
                index.catch_up()
                made = [p for p in (tmp_path / "data").iterdir() if p.name.startswith("fts")]
                assert made
                assert {p.name: mode(p) for p in made} == {p.name: 0o600 for p in made}
            finally:
                index.close()

    def test_daemon_json_is_private(self, tmp_path: Path) -> None:
        with umask(0o022):
            path = discovery.write(tmp_path, discovery.Daemon(os.getpid(), "http://x", ""))
        assert mode(path) == 0o600

    def test_a_shared_directory_gets_a_warning_not_a_change(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        shared = tmp_path / "shared"
        shared.mkdir()
        os.chmod(shared, 0o755)
        private_database(shared / "zeitbus.sqlite")
        with caplog.at_level(logging.WARNING, logger="zeitbus.location"):
            assert warn_if_shared(shared)
        assert mode(shared) == 0o755
        assert "can be read by other users (mode 0755)" in caplog.text
        os.chmod(shared, 0o700)
        assert not warn_if_shared(shared)
