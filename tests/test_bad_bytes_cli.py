"""Files and stdin that are not good text, byte by byte, read by every command that reads one.

``import`` (a file or stdin, with and without --skip-bad) and ``log
--stdin`` get JSON spoiled byte by byte (tests/bad_bytes.py): a refusal is
one ``zeitbus: error:`` line naming the line and the byte, exit status 2,
no traceback, and nothing of the batch stored. ``import-zeitgeist`` gets
Zeitgeist files with text that is not UTF-8 (those events are skipped and
named, the others imported) and files spoiled byte by byte. The daemon's
config file and the service files ``install-service`` compares are read as
bytes too.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.bad_bytes import NOT_UTF8, Spoiled, first_bad_utf8, known_bad, spoiled
from zeitbus import Engine, Event, InvalidArgument, Subject
from zeitbus import zeitgeist_import as zeitgeist_import_module
from zeitbus.cli import State, cli
from zeitbus.dbus import service_files
from zeitbus.http import settings as http_settings
from zeitbus.jsonl import encode_line
from zeitbus.ontology import ACCESS_EVENT, USER_ACTIVITY

NOW = 1_767_225_600_000
Run = Callable[..., Result]
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))

SEED = [
    Event(
        timestamp=NOW - n,
        interpretation=ACCESS_EVENT,
        manifestation=USER_ACTIVITY,
        actor="application://vim.desktop",
        subjects=(Subject(uri=f"file:///home/me/Überweisung-{n}.odt", text="ünïcödé 😀"),),
    )
    for n in range(3)
]


def runner(data_dir: Path) -> Run:
    def invoke(*args: str, input: bytes | None = None) -> Result:
        return CliRunner().invoke(
            cli, ["--data-dir", str(data_dir), *args], input=input, obj=State(clock=lambda: NOW)
        )

    return invoke


def events_in(run: Run) -> int:
    result = run("stats", "--json")
    assert result.exit_code == 0, result.output
    count: int = json.loads(result.stdout)["events"]
    return count


def no_traceback(result: Result) -> None:
    """The command ended by exiting (a mapped error), not by an exception."""
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        result.exc_info,
        result.output,
    )
    assert "Traceback" not in result.output


def refused(result: Result) -> str:
    """The one error line of a command refused with exit status 2."""
    no_traceback(result)
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("zeitbus: error: "), result.stderr
    return lines[0].removeprefix("zeitbus: error: ")


def where(data: bytes, at: int) -> tuple[int, int]:
    """The 1-based line holding byte ``at``, and the byte's offset in that line."""
    return data.count(b"\n", 0, at) + 1, at - (data.rfind(b"\n", 0, at) + 1)


def names_line_and_byte(bad: Spoiled, message: str) -> None:
    """``message`` refuses JSON Lines: the known problem's line and byte, or an earlier line."""
    found = re.match(r"line (\d+): ", message)
    assert found is not None, message
    if bad.at is None:
        return
    line, byte = where(bad.data, bad.at)
    assert int(found[1]) <= line, (bad, message)  # a mutation may have spoiled an earlier one
    if int(found[1]) == line:
        assert message.startswith(f"line {line}: {bad.says}"), (bad, message)
        assert message.endswith(f"(byte {byte})"), (bad, message)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """A log of three events, and their export (good JSON Lines, all already present)."""
    data = tmp_path_factory.mktemp("bad-bytes") / "data"
    with Engine.open(data) as engine:
        ids = engine.insert_events(SEED)
        exported = b"".join(encode_line(e) for e in engine.get_events(ids) if e is not None)
    return data, exported


# -- import ----------------------------------------------------------------------


@FUZZ
@given(data=st.data(), from_stdin=st.booleans())
def test_import_refuses_a_spoiled_line_naming_its_line_and_byte(
    seeded: tuple[Path, bytes], tmp_path: Path, data: st.DataObject, from_stdin: bool
) -> None:
    data_dir, good = seeded
    run = runner(data_dir)
    bad = data.draw(known_bad(good, cut=False))
    assert bad.at is not None
    assert bad.says is not None
    before = events_in(run)
    if from_stdin:
        result = run("import", input=bad.data)
    else:
        (tmp_path / "in.jsonl").write_bytes(bad.data)
        result = run("import", str(tmp_path / "in.jsonl"))
    message = refused(result)
    assert message.startswith(f"line {where(bad.data, bad.at)[0]}: "), (bad, message)
    names_line_and_byte(bad, message)
    assert events_in(run) == before


@FUZZ
@given(data=st.data())
def test_import_skip_bad_skips_a_spoiled_line_and_names_it(
    seeded: tuple[Path, bytes], data: st.DataObject
) -> None:
    data_dir, good = seeded
    run = runner(data_dir)
    bad = data.draw(known_bad(good, cut=False))
    assert bad.at is not None
    assert bad.says is not None
    before = events_in(run)
    result = run("import", "--skip-bad", input=bad.data)
    no_traceback(result)
    assert result.exit_code == 0, result.output
    line, byte = where(bad.data, bad.at)
    warning = f"zeitbus: skipped line {line}: {bad.says}"
    assert any(
        w.startswith(warning) and w.endswith(f"(byte {byte})") for w in result.stderr.splitlines()
    ), (bad, result.stderr)
    assert events_in(run) == before  # the good lines were all present already


@FUZZ
@given(data=st.data())
def test_import_of_any_bytes_is_an_error_line_or_an_import(
    seeded: tuple[Path, bytes], data: st.DataObject
) -> None:
    data_dir, good = seeded
    run = runner(data_dir)
    bad = data.draw(spoiled(good))
    before = events_in(run)
    result = run("import", input=bad.data)
    no_traceback(result)
    if result.exit_code != 0:
        names_line_and_byte(bad, refused(result))
        assert events_in(run) == before
    else:
        assert bad.says is None


# -- log --stdin -----------------------------------------------------------------


def _log_input(array: bool) -> bytes:
    objects = [json.loads(encode_line(e)) for e in SEED]
    if array:
        return json.dumps(objects, ensure_ascii=False, indent=1).encode("utf-8")
    return b"".join(json.dumps(o, ensure_ascii=False).encode("utf-8") + b"\n" for o in objects)


def names_the_byte(bad: Spoiled, message: str) -> None:
    """``message`` refuses stdin: JSON Lines by line, a JSON array by the byte from its start."""
    if message.startswith("line "):
        names_line_and_byte(bad, message)
    elif message.startswith("not valid"):
        bad.checks(message)  # else an event of the array, named by its position


@FUZZ
@given(data=st.data(), array=st.booleans())
def test_log_stdin_refuses_spoiled_json_naming_the_byte(
    seeded: tuple[Path, bytes], data: st.DataObject, array: bool
) -> None:
    data_dir, _ = seeded
    run = runner(data_dir)
    good = _log_input(array)
    bad = data.draw(known_bad(good, cut=array))
    before = events_in(run)
    message = refused(run("log", "--stdin", input=bad.data))
    names_the_byte(bad, message)
    assert events_in(run) == before


@FUZZ
@given(data=st.data(), array=st.booleans())
def test_log_stdin_of_any_bytes_is_an_error_line_or_a_log(
    seeded: tuple[Path, bytes], data: st.DataObject, array: bool
) -> None:
    data_dir, _ = seeded
    run = runner(data_dir)
    bad = data.draw(spoiled(_log_input(array)))
    before = events_in(run)
    result = run("log", "--stdin", input=bad.data)
    no_traceback(result)
    if result.exit_code != 0:
        names_the_byte(bad, refused(result))
        assert events_in(run) == before
    else:
        assert bad.says is None


@pytest.mark.parametrize("command", ["find", "tail"])
@pytest.mark.parametrize("text", ['{"actor": "\\ud800"}', '{"actor": "a\\udfffb"}'])
def test_a_template_with_an_unpaired_surrogate_is_refused(
    seeded: tuple[Path, bytes], command: str, text: str
) -> None:
    """json.loads takes an escaped lone surrogate; the template is refused all the same."""
    data_dir, _ = seeded
    message = refused(runner(data_dir)(command, "--template", text))
    assert message.startswith("--template 1: "), message


# -- import-zeitgeist ------------------------------------------------------------

# The tables and columns of a Zeitgeist 1.0 (schema 11) activity.sqlite that
# import_zeitgeist reads.
_ZEITGEIST_SCHEMA = """
CREATE TABLE schema_version (schema VARCHAR PRIMARY KEY, version INT);
INSERT INTO schema_version VALUES ('core', 11);
CREATE TABLE uri (id INTEGER PRIMARY KEY, value VARCHAR UNIQUE);
CREATE TABLE interpretation (id INTEGER PRIMARY KEY, value VARCHAR UNIQUE);
CREATE TABLE manifestation (id INTEGER PRIMARY KEY, value VARCHAR UNIQUE);
CREATE TABLE mimetype (id INTEGER PRIMARY KEY, value VARCHAR UNIQUE);
CREATE TABLE actor (id INTEGER PRIMARY KEY, value VARCHAR UNIQUE);
CREATE TABLE text (id INTEGER PRIMARY KEY, value VARCHAR UNIQUE);
CREATE TABLE payload (id INTEGER PRIMARY KEY, value BLOB);
CREATE TABLE storage (id INTEGER PRIMARY KEY, value VARCHAR UNIQUE, state INTEGER,
                      icon VARCHAR, display_name VARCHAR);
CREATE TABLE event (id INTEGER, timestamp INTEGER, interpretation INTEGER,
                    manifestation INTEGER, actor INTEGER, payload INTEGER, subj_id INTEGER,
                    subj_id_current INTEGER, subj_interpretation INTEGER,
                    subj_manifestation INTEGER, subj_origin INTEGER,
                    subj_origin_current INTEGER, subj_mimetype INTEGER, subj_text INTEGER,
                    subj_storage INTEGER, origin INTEGER);
INSERT INTO interpretation VALUES (1, '{access}');
INSERT INTO manifestation VALUES (1, '{user}');
INSERT INTO storage VALUES (1, 'local', 1, NULL, NULL);
"""
# Each of three events has its own actor, uri, mimetype and text (id = the event's).
_LOOKUPS = ("actor", "uri", "mimetype", "text")


def zeitgeist_file(path: Path, spoil: tuple[str, bytes] | None = None) -> Path:
    """A three-event Zeitgeist file; ``spoil``: (table, bytes) for event 2's value there."""
    conn = sqlite3.connect(path)
    conn.executescript(_ZEITGEIST_SCHEMA.format(access=ACCESS_EVENT, user=USER_ACTIVITY))
    for n in (1, 2, 3):
        values = {
            "actor": f"application://app{n}.desktop",
            "uri": f"file:///home/me/ü{n}.txt",
            "mimetype": "text/plain",
            "text": f"Überweisung {n}",
        }
        for table in _LOOKUPS:
            if spoil is not None and spoil[0] == table and n == 2:
                # Text as Zeitgeist's SQLite would hold it, bytes unchecked.
                conn.execute(f"INSERT INTO {table} VALUES (?, CAST(? AS TEXT))", (n, spoil[1]))
            else:
                conn.execute(f"INSERT INTO {table} VALUES (?, ?)", (n, f"{values[table]}#{n}"))
        # id, timestamp, interpretation, manifestation, actor, payload, subj_id,
        # subj_id_current, subj_interpretation, subj_manifestation, subj_origin,
        # subj_origin_current, subj_mimetype, subj_text, subj_storage, origin
        row = (n, NOW + n, 1, 1, n, None, n, n, 1, None, None, None, n, n, 1, None)
        conn.execute(f"INSERT INTO event VALUES ({', '.join('?' * len(row))})", row)
    conn.commit()
    conn.close()
    return path


@FUZZ
@given(
    table=st.sampled_from(_LOOKUPS),
    value=st.one_of(
        st.sampled_from(NOT_UTF8).map(lambda bad: b"text " + bad + b" more"),
        st.binary(min_size=1, max_size=20),
    ),
    fetch=st.sampled_from([1, 2, 4096]),
)
def test_import_zeitgeist_skips_and_names_events_whose_text_is_not_utf8(
    tmp_path_factory: pytest.TempPathFactory, table: str, value: bytes, fetch: int
) -> None:
    """The events with such text are named and skipped; the others come in."""
    root = tmp_path_factory.mktemp("zg")
    source = zeitgeist_file(root / "activity.sqlite", (table, value))
    run = runner(root / "data")
    # A small fetch size makes the bad row come after rows already read.
    with mock.patch.object(zeitgeist_import_module, "_FETCH_ROWS", fetch):
        result = run("import-zeitgeist", str(source))
    no_traceback(result)
    assert result.exit_code == 0, result.output
    stored = events_in(run)
    if first_bad_utf8(value) is not None:
        assert stored == 2
        assert "zeitbus: skipped 1 Zeitgeist events that cannot be stored" in result.stderr
        assert result.stderr.rstrip().endswith("ids 2"), result.stderr
    else:
        assert stored in (2, 3)  # NUL, an empty actor or uri... are not stored either


@FUZZ
@given(data=st.data())
def test_import_zeitgeist_of_a_spoiled_file_is_an_error_line_or_an_import(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    root = tmp_path_factory.mktemp("zg")
    good = zeitgeist_file(root / "good.sqlite").read_bytes()
    spoiled_file = bytearray(good)
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(spoiled_file) - 1))
        chunk = data.draw(st.binary(min_size=1, max_size=8))
        spoiled_file[at : at + len(chunk)] = chunk
    source = root / "activity.sqlite"
    source.write_bytes(bytes(spoiled_file))
    run = runner(root / "data")
    result = run("import-zeitgeist", str(source))
    no_traceback(result)
    if result.exit_code != 0:
        assert result.exit_code in (1, 2), result.output
        assert result.stderr.splitlines()[-1].startswith("zeitbus: error: "), result.stderr
        assert events_in(run) == 0


# -- the daemon's config, install-service ------------------------------------------


def test_a_config_file_that_is_not_utf8_names_its_line_and_column(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_bytes(b'[http]\nport = 0\nhost = "\xc0\x80"\n')
    with pytest.raises(InvalidArgument, match=r"not valid UTF-8 at line 3, column 9"):
        http_settings.load({"ZEITBUS_CONFIG": str(config)})


@FUZZ
@given(data=st.data())
def test_any_config_bytes_give_settings_or_invalid_argument(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    config = tmp_path_factory.mktemp("config") / "config.toml"
    bad: Spoiled = data.draw(spoiled(b'[http]\nport = 0\nhost = "127.0.0.1"\nmax_batch = 10\n'))
    config.write_bytes(bad.data)
    environ = {"ZEITBUS_CONFIG": str(config)}
    first_bad = first_bad_utf8(bad.data)
    if first_bad is None:
        with contextlib.suppress(InvalidArgument):  # TOML it may not be
            http_settings.load(environ)
    else:
        line, byte = where(bad.data, first_bad)
        with pytest.raises(
            InvalidArgument, match=f"not valid UTF-8 at line {line}, column {byte + 1}:"
        ):
            http_settings.load(environ)


def test_the_daemon_refuses_a_config_that_is_not_utf8_without_a_traceback(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.toml"
    config.write_bytes(b"[http]\nport = \xff\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBUS_", "ZEITGEIST_"))}
    env |= {"ZEITBUS_CONFIG": str(config), "ZEITGEIST_DATA_PATH": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-m", "zeitbus", "daemon"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    assert f"{config}: not valid UTF-8 at line 2, column 8" in done.stderr


def test_install_service_rewrites_a_service_file_that_is_not_utf8(tmp_path: Path) -> None:
    services, units = tmp_path / "services", tmp_path / "units"
    services.mkdir()
    command = ["/usr/bin/zeitbus", "daemon"]
    ((path, _), _) = service_files._targets(services, units, command)
    path.write_bytes(b"[D-BUS Service]\nExec=\xff\n")
    changes = service_files.install(services, units, command)
    assert [change.action for change in changes] == ["written", "written"]
    assert service_files.install(services, units, command)[0].action == "unchanged"
