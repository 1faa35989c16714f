"""The ``zeitbus`` command line: every command, its output forms and its exit codes."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import pytest
from click.testing import CliRunner, Result

from zeitbus import DatabaseError, Engine, Event, InvalidArgument, Subject
from zeitbus.cli import State, cli
from zeitbus.cli.parsing import (
    SymbolKind,
    parse_duration,
    parse_time,
    resolve_symbol,
    short_symbol,
)
from zeitbus.jsonl import decode_line, encode_line
from zeitbus.ontology import ACCESS_EVENT, MOVE_EVENT, NFO, USER_ACTIVITY, ZG

NOW = 1_767_225_600_000  # 2026-01-01T00:00:00Z: the CLI's clock in these tests
DAY = 86_400_000
Run = Callable[..., Result]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A fresh data directory."""
    return tmp_path / "data"


@pytest.fixture
def run(data_dir: Path) -> Run:
    """Invoke ``zeitbus --data-dir DATA ARGS...`` in-process with a fixed clock."""

    def invoke(*args: str, input: str | bytes | None = None) -> Result:
        runner = CliRunner(env={"COLUMNS": "200"})
        return runner.invoke(
            cli, ["--data-dir", str(data_dir), *args], input=input, obj=State(clock=lambda: NOW)
        )

    return invoke


def ok(result: Result) -> str:
    """stdout of a command that must have succeeded."""
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def one_error_line(result: Result, code: int) -> str:
    """The single ``zeitbus: error:`` line of a failed command."""
    assert result.exit_code == code, result.output
    assert not isinstance(result.exception, AssertionError | TypeError | KeyError)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("zeitbus: error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0].removeprefix("zeitbus: error: ")


def events_of(output: str) -> list[Event]:
    """The events in JSON Lines output."""
    return [decode_line(line) for line in output.splitlines()]


def log(run: Run, *args: str) -> int:
    """Log one event with flags; its id."""
    return int(ok(run("log", *args)))


def seed(run: Run) -> list[int]:
    """Five varied events, over five days before NOW."""
    return [
        log(
            run,
            "-a",
            "application://vim.desktop",
            "-u",
            "file:///home/me/notes.txt",
            "--mimetype",
            "text/plain",
            "-t",
            str(NOW - 4 * DAY),
        ),
        log(
            run,
            "-a",
            "application://firefox.desktop",
            "-u",
            "https://example.com/",
            "-t",
            str(NOW - 3 * DAY),
        ),
        log(
            run,
            "-i",
            "modify",
            "-a",
            "application://vim.desktop",
            "-u",
            "file:///home/me/notes.txt",
            "--mimetype",
            "text/plain",
            "-t",
            str(NOW - 2 * DAY),
        ),
        log(
            run,
            "-a",
            "application://gimp.desktop",
            "-u",
            "file:///tmp/a.png",
            "-u",
            "file:///tmp/b.png",
            "--mimetype",
            "image/png",
            "-t",
            str(NOW - DAY),
        ),
        log(
            run,
            "-a",
            "application://vim.desktop",
            "-u",
            "file:///home/me/notes.txt",
            "--mimetype",
            "text/plain",
            "-t",
            str(NOW - 1000),
        ),
    ]


# -- parsing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("access", SymbolKind.EVENT_INTERPRETATION, ACCESS_EVENT),
        ("AccessEvent", SymbolKind.EVENT_INTERPRETATION, ACCESS_EVENT),
        ("ACCESS_EVENT", SymbolKind.EVENT_INTERPRETATION, ACCESS_EVENT),
        ("zg:MoveEvent", SymbolKind.EVENT_INTERPRETATION, MOVE_EVENT),
        ("!access", SymbolKind.EVENT_INTERPRETATION, "!" + ACCESS_EVENT),
        ("+access", SymbolKind.EVENT_INTERPRETATION, "+" + ACCESS_EVENT),
        ("user", SymbolKind.EVENT_MANIFESTATION, USER_ACTIVITY),
        ("scheduled", SymbolKind.EVENT_MANIFESTATION, ZG + "ScheduledActivity"),
        ("document", SymbolKind.SUBJECT_INTERPRETATION, NFO + "Document"),
        ("file", SymbolKind.SUBJECT_MANIFESTATION, NFO + "FileDataObject"),
        ("web", SymbolKind.SUBJECT_MANIFESTATION, NFO + "WebDataObject"),
        (ACCESS_EVENT, SymbolKind.EVENT_INTERPRETATION, ACCESS_EVENT),
        ("acc*", SymbolKind.EVENT_INTERPRETATION, "acc*"),
        ("custom:Thing", SymbolKind.EVENT_INTERPRETATION, "custom:Thing"),
    ],
)
def test_short_and_prefixed_symbol_names_resolve(
    text: str, kind: SymbolKind, expected: str
) -> None:
    """Short names, prefixed names and operators resolve; URIs and patterns pass through."""
    assert resolve_symbol(text, kind) == expected


def test_unknown_short_name_is_refused_with_examples() -> None:
    """A bare word that names no symbol of that kind is an InvalidArgument listing real ones."""
    with pytest.raises(InvalidArgument, match=r"unknown interpretation 'acess'.*access"):
        resolve_symbol("acess", SymbolKind.EVENT_INTERPRETATION)
    with pytest.raises(InvalidArgument, match="unknown manifestation"):
        resolve_symbol("access", SymbolKind.EVENT_MANIFESTATION)


def test_short_symbol_strips_ontology_namespaces_only() -> None:
    """Ontology URIs display as their fragment; anything else is unchanged."""
    assert short_symbol(ACCESS_EVENT) == "AccessEvent"
    assert short_symbol("urn:x#y") == "urn:x#y"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("2d", NOW - 2 * DAY),
        ("2 d", NOW - 2 * DAY),
        ("1d12h", NOW - 36 * 3_600_000),
        ("90m ago", NOW - 90 * 60_000),
        ("30s", NOW - 30_000),
        ("1w", NOW - 7 * DAY),
        ("1700000000000", 1_700_000_000_000),
        ("-5", -5),
        ("2025-12-25T10:00:00+00:00", NOW - 6 * DAY - 14 * 3_600_000),
        ("2025-12-31T23:00Z", NOW - 3_600_000),
    ],
)
def test_times_parse_relative_to_now(text: str, expected: int) -> None:
    """Durations count back from now; ISO times with a zone and plain ms are absolute."""
    assert parse_time(text, NOW) == expected


def test_dates_without_a_zone_are_local_time() -> None:
    """A date or naive date-time means local time; today/yesterday are local midnights."""
    local = datetime(2025, 12, 24).astimezone()
    assert parse_time("2025-12-24", NOW) == int(local.timestamp() * 1000)
    today = (
        datetime.fromtimestamp(NOW / 1000, tz=UTC)
        .astimezone()
        .replace(hour=0, minute=0, second=0, microsecond=0)
    )
    assert parse_time("today", NOW) == int(today.timestamp() * 1000)
    assert parse_time("yesterday", NOW) == int((today - timedelta(days=1)).timestamp() * 1000)


@pytest.mark.parametrize("text", ["", "banana", "2x", "d2", "2026-13-01", "1.5d"])
def test_unreadable_times_are_refused(text: str) -> None:
    """Text that is no time raises InvalidArgument listing what is accepted."""
    with pytest.raises(InvalidArgument, match="cannot read"):
        parse_time(text, NOW)


def test_durations_add_up_their_parts() -> None:
    """A compound duration is the sum of its parts."""
    assert parse_duration("1h30m") == 90 * 60_000
    with pytest.raises(InvalidArgument):
        parse_duration("1h30")


# -- log ------------------------------------------------------------------------


def test_log_from_flags_prints_the_id_and_resolves_short_names(run: Run) -> None:
    """log stores one event with AccessEvent/UserActivity by default and prints its id."""
    assert log(run, "-a", "application://vim.desktop", "-u", "file:///a.txt", "-t", "5") == 1
    [event] = events_of(ok(run("get", "1", "--json")))
    assert (event.interpretation, event.manifestation) == (ACCESS_EVENT, USER_ACTIVITY)
    assert event.timestamp == 5
    assert event.actor == "application://vim.desktop"
    assert event.subjects[0].manifestation == NFO + "FileDataObject"


def test_log_builds_several_subjects_and_a_payload(run: Run) -> None:
    """Repeated subject flags pair up in order; a flag given once applies to every subject."""
    event_id = log(
        run,
        "-i",
        "modify",
        "-m",
        "scheduled",
        "-a",
        "app://x",
        "--origin",
        "urn:o",
        "-u",
        "file:///a",
        "-u",
        "file:///b",
        "--text",
        "A",
        "--text",
        "B",
        "--mimetype",
        "text/plain",
        "--subject-interpretation",
        "document",
        "--payload",
        "héllo",
        "-t",
        "2d",
    )
    [event] = events_of(ok(run("get", str(event_id), "--json")))
    assert event.interpretation == ZG + "ModifyEvent"
    assert event.manifestation == ZG + "ScheduledActivity"
    assert event.origin == "urn:o"
    assert event.payload == "héllo".encode()
    assert event.timestamp == NOW - 2 * DAY
    assert [(s.uri, s.text, s.mimetype) for s in event.subjects] == [
        ("file:///a", "A", "text/plain"),
        ("file:///b", "B", "text/plain"),
    ]
    assert {s.interpretation for s in event.subjects} == {NFO + "Document"}


def test_log_reads_json_lines_and_arrays_from_stdin(run: Run) -> None:
    """--stdin takes JSON Lines or a JSON array, stores the batch and prints every id."""
    events = [
        Event(
            timestamp=t,
            interpretation=ACCESS_EVENT,
            manifestation=USER_ACTIVITY,
            actor="app://x",
            subjects=(Subject(uri=f"file:///{t}"),),
            payload=b"\x00\x01",
        )
        for t in (1, 2, 3)
    ]
    lines = b"".join(encode_line(e) for e in events[:2])
    assert ok(run("log", "--stdin", input=lines)).split() == ["1", "2"]
    array = json.dumps([json.loads(encode_line(events[2]))])
    assert ok(run("log", "--stdin", input=array)).split() == ["3"]
    stored = events_of(ok(run("get", "1", "2", "3", "--json")))
    assert [e.payload for e in stored] == [b"\x00\x01"] * 3


def test_log_rejects_bad_stdin_whole(run: Run) -> None:
    """A bad event on stdin names its line, exits 2, and stores nothing of the batch."""
    good = encode_line(
        Event(
            actor="a", interpretation="i", manifestation="m", subjects=(Subject(uri="file:///a"),)
        )
    )
    message = one_error_line(run("log", "--stdin", input=good + b'{"actor": 7}\n'), 2)
    assert message.startswith("line 2: actor")
    assert "No events." in run("find").stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-u", "file:///a"], "give --actor"),
        (["-a", "x"], "--subject-uri"),
        (["-a", "x", "-i", "acess", "-u", "file:///a"], "unknown interpretation 'acess'"),
        (
            [
                "-a",
                "x",
                "-u",
                "file:///a",
                "-u",
                "file:///b",
                "--text",
                "1",
                "--text",
                "2",
                "--text",
                "3",
            ],
            "--text is given 3 times for 2 subjects",
        ),
        (["-a", "x", "-u", "file:///a", "-u", "file:///a"], "same URI"),
        (["-a", "x", "-u", "file:///a", "-t", "someday"], "--timestamp: cannot read time"),
        (["-a", "x", "-i", "move", "-u", "file:///a"], "Redundant event"),
        (["--stdin", "-a", "x"], "do not combine"),
    ],
)
def test_log_bad_input_is_one_line_and_exit_2(run: Run, args: list[str], message: str) -> None:
    """Every kind of bad log input is one error line and exit status 2."""
    assert message in one_error_line(run("log", *args, input=""), 2)


def test_log_warns_about_events_that_are_not_stored(run: Run) -> None:
    """An event with a preset id gets id 0 and a warning, as Zeitgeist does."""
    event = encode_line(
        Event(
            id=9,
            actor="a",
            interpretation="i",
            manifestation="m",
            subjects=(Subject(uri="file:///a"),),
        )
    )
    result = run("log", "--stdin", input=event)
    assert ok(result) == "0\n"
    assert "event 1 was not stored" in result.stderr


# -- find -----------------------------------------------------------------------


def test_find_shows_a_table_newest_first(run: Run) -> None:
    """The default output is a readable table, most recent first, with a count."""
    ids = seed(run)
    table = ok(run("find"))
    assert table.splitlines()[0].split() == ["id", "time", "event", "actor", "subjects"]
    rows = [line.split() for line in table.splitlines()[1:]]
    assert [int(row[0]) for row in rows if len(row) >= 5 and row[0].isdigit()] == ids[::-1]
    assert "ModifyEvent" in table
    assert "file:///tmp/b.png (image/png)" in table
    assert "5 events" in table


def test_find_json_and_ids_only(run: Run) -> None:
    """--json prints JSON Lines of whole events; --ids-only prints the ids alone."""
    ids = seed(run)
    events = events_of(ok(run("find", "--json")))
    assert [e.id for e in events] == ids[::-1]
    assert all(e.uid and e.node for e in events)
    assert ok(run("find", "--ids-only")).split() == [str(i) for i in ids[::-1]]


def test_find_templates_from_flags_with_operators(run: Run) -> None:
    """Event and subject flags AND together; !, trailing * and short names pass through."""
    ids = seed(run)

    def found(*args: str) -> list[int]:
        return [int(i) for i in ok(run("find", "--ids-only", *args)).split()]

    assert found("-a", "application://vim.desktop") == [ids[4], ids[2], ids[0]]
    assert found("-a", "application://g*") == [ids[3]]
    assert found("-a", "!application://vim.desktop") == [ids[3], ids[1]]
    assert found("-i", "modify") == [ids[2]]
    assert found("-i", "!modify", "-a", "application://vim.desktop") == [ids[4], ids[0]]
    assert found("--mimetype", "image/*") == [ids[3]]
    assert found("-u", "file:///tmp/b.png") == [ids[3]]
    assert found("--subject-interpretation", "document") == [ids[4], ids[2], ids[0]]
    assert found("--subject-manifestation", "web") == [ids[1]]
    assert found("--storage", "net") == [ids[1]]


def test_find_json_templates_are_ored(run: Run) -> None:
    """Each --template is one more template; templates (and the flags' one) are ORed."""
    ids = seed(run)
    args = [
        "--template",
        '{"actor": "application://gimp.desktop"}',
        "--template",
        '{"subjects": [{"uri": "https://example.com/"}]}',
    ]
    assert ok(run("find", "--ids-only", *args)).split() == [str(ids[3]), str(ids[1])]
    message = one_error_line(run("find", "--template", '{"actor": 1}'), 2)
    assert message.startswith("--template 1: actor")


def test_find_time_ranges(run: Run) -> None:
    """--since and --until bound the time range, relative to now or absolute."""
    ids = seed(run)
    assert ok(run("find", "--ids-only", "--since", "2d")).split() == [
        str(ids[4]),
        str(ids[3]),
        str(ids[2]),
    ]
    assert ok(run("find", "--ids-only", "--until", "3d")).split() == [str(ids[1]), str(ids[0])]
    assert ok(run("find", "--ids-only", "--since", "3d", "--until", "2d")).split() == [
        str(ids[2]),
        str(ids[1]),
    ]
    assert ok(run("find", "--ids-only", "--since", "2025-12-31T00:00Z")).split() == [
        str(ids[4]),
        str(ids[3]),
    ]


def test_find_result_types_by_name_or_number(run: Run) -> None:
    """--result-type takes a name in any spelling or a number, with the same answer."""
    ids = seed(run)
    popular = ok(run("find", "--ids-only", "-r", "most-popular-subjects"))
    assert popular.split()[0] == str(ids[4])  # notes.txt: three events
    for spelling in ("4", "MostPopularSubjects", "MOST_POPULAR_SUBJECTS"):
        assert ok(run("find", "--ids-only", "-r", spelling)) == popular
    assert ok(run("find", "--ids-only", "-r", "least-recent-events")).split()[0] == str(ids[0])
    assert ok(run("find", "--ids-only", "-r", "most-recent-actor")).split() == [
        str(ids[4]),
        str(ids[3]),
        str(ids[1]),
    ]


def test_find_limit_defaults_to_20_and_0_means_all(run: Run) -> None:
    """Without --limit find prints 20 events; --limit 0 prints them all."""
    lines = b"".join(
        encode_line(
            Event(
                timestamp=t,
                actor="a",
                interpretation="i",
                manifestation="m",
                subjects=(Subject(uri=f"file:///{t}"),),
            )
        )
        for t in range(1, 31)
    )
    ok(run("log", "--stdin", input=lines))
    assert len(ok(run("find", "--ids-only")).split()) == 20
    assert len(ok(run("find", "--ids-only", "--limit", "0")).split()) == 30
    assert ok(run("find", "--ids-only", "-n", "2")).split() == ["30", "29"]


def test_find_storage_state(run: Run) -> None:
    """--storage-state takes a name or a number."""
    seed(run)
    for state in ("any", "available", "not-available", "0", "1", "2"):
        ok(run("find", "--storage-state", state))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-r", "most-popular-everything"], "Invalid ResultType"),
        (["-r", "99"], "Invalid ResultType"),
        (["--storage-state", "maybe"], "storage state"),
        (["--since", "soonish"], "--since: cannot read time"),
        (["--until", "whenever"], "--until: cannot read time"),
        (["--since", "1d", "--until", "2d"], "starts after it ends"),
        (["--storage", "!net"], "doesn't support negation"),
        (["-i", "acc*"], "doesn't support prefix search"),
        (["--subject-manifestation", "nosuch"], "unknown subject manifestation"),
    ],
)
def test_find_bad_input_is_one_line_and_exit_2(run: Run, args: list[str], message: str) -> None:
    """Bad result types, storage states, times and operators: one line, exit 2, no traceback."""
    assert message in one_error_line(run("find", *args), 2)


def test_usage_errors_exit_2(run: Run) -> None:
    """Click's own usage errors (a negative limit, an unknown option) also exit with 2."""
    assert run("find", "--limit", "-1").exit_code == 2
    assert run("find", "--colour").exit_code == 2
    assert run("get", "one").exit_code == 2


# -- get and delete ----------------------------------------------------------------


def test_get_keeps_order_and_exits_1_for_unknown_ids(run: Run) -> None:
    """get prints the known events in request order and exits 1 naming unknown ids."""
    ids = seed(run)
    assert ok(run("get", "--ids-only", "3", "1", "3")).split() == ["3", "1", "3"]
    result = run("get", "--ids-only", "2", "99", "98")
    assert result.stdout.split() == [str(ids[1])]
    assert one_error_line(result, 1) == "no event with id 99, 98"
    assert one_error_line(run("get"), 2) == "give at least one event id"


def test_get_table_output(run: Run) -> None:
    """get prints the same table as find by default."""
    seed(run)
    table = ok(run("get", "2"))
    assert "https://example.com/" in table
    assert "application://firefox.desktop" in table


def test_delete_prints_the_range_and_exits_1_when_nothing_was_deleted(run: Run) -> None:
    """delete exits 0 with the deleted range, or 1 if none of the ids existed."""
    ids = seed(run)
    out = ok(run("delete", str(ids[0]), str(ids[1]), "77"))
    assert out.startswith("Deleted 2 events from ")
    assert f"({NOW - 4 * DAY}..{NOW - 3 * DAY} ms)" in out
    result = run("delete", "--json", str(ids[0]))
    assert json.loads(result.stdout) == {"deleted": 0, "start": None, "end": None}
    assert one_error_line(result, 1).startswith("nothing was deleted")
    report = json.loads(ok(run("delete", "--json", str(ids[2]))))
    assert report == {"deleted": 1, "start": NOW - 2 * DAY, "end": NOW - 2 * DAY}
    assert ok(run("find", "--ids-only")).split() == [str(ids[4]), str(ids[3])]


# -- stats ----------------------------------------------------------------------


def test_stats_summary_and_json(run: Run, data_dir: Path) -> None:
    """stats prints a short summary, or one JSON object with --json."""
    seed(run)
    text = ok(run("stats"))
    assert "5 (6 subjects)" in text
    assert str(data_dir) in text
    assert "application://vim.desktop" in text
    stats = json.loads(ok(run("stats", "--json")))
    assert (stats["events"], stats["subjects"], stats["actors"]) == (5, 6, 3)
    assert stats["first_timestamp"] == NOW - 4 * DAY
    assert stats["top_actors"][0] == {"actor": "application://vim.desktop", "events": 3}


def test_stats_of_an_empty_log(run: Run) -> None:
    """An empty log has a summary too."""
    assert "Events    0 (0 subjects)" in ok(run("stats"))


# -- export and import ------------------------------------------------------------


def test_export_and_import_round_trip_through_files(run: Run, tmp_path: Path) -> None:
    """A log exported to a file and imported into another log has the same events (new ids)."""
    seed(run)
    ok(run("delete", "2"))
    backup = tmp_path / "backup.jsonl"
    result = run("export", str(backup))
    assert ok(result) == ""
    assert "Exported 4 events to" in result.stderr
    copy = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "copy"), "import", str(backup)])
    assert ok(copy) == "Imported 4 events (0 already present)\n"
    again = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "copy"), "export", "-"])
    copied = [decode_line(line) for line in again.stdout_bytes.splitlines()]
    original = [decode_line(line) for line in backup.read_bytes().splitlines()]
    assert [e.id for e in copied] == [1, 2, 3, 4]
    assert [e.id for e in original] == [1, 3, 4, 5]
    assert [e.with_changes(id=0) for e in copied] == [e.with_changes(id=0) for e in original]
    assert ok(run("import", str(backup))) == "Imported 0 events (4 already present)\n"


def test_export_to_stdout_and_import_from_stdin(run: Run, tmp_path: Path) -> None:
    """export writes JSON Lines to stdout; import reads stdin; --keep-ids makes an exact copy."""
    ids = seed(run)
    exported = run("export").stdout_bytes
    assert [decode_line(line).id for line in exported.splitlines()] == ids
    copy = CliRunner().invoke(
        cli, ["--data-dir", str(tmp_path / "copy"), "import", "--keep-ids"], input=exported
    )
    assert ok(copy).startswith("Imported 5 events")
    with Engine.open(tmp_path / "copy") as engine:
        assert [e.id for e in engine.find_events(num_events=0)] == ids[::-1]
    again = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "copy"), "export"])
    assert again.stdout_bytes == exported


def test_export_time_range(run: Run) -> None:
    """export --since/--until exports only that part of the log."""
    ids = seed(run)
    exported = run("export", "--since", "2d", "--until", "1d").stdout_bytes
    assert [decode_line(line).id for line in exported.splitlines()] == [ids[2], ids[3]]
    assert "--since: cannot read time" in one_error_line(run("export", "--since", "x"), 2)
    message = one_error_line(run("export", "--since", "1d", "--until", "x"), 2)
    assert message.startswith("--until: cannot read time")


def test_export_file_is_whole_or_absent(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty log exports an empty file; a failed export leaves neither file nor temp file."""
    empty = tmp_path / "empty.jsonl"
    ok(run("export", str(empty)))
    assert empty.read_bytes() == b""
    assert empty.stat().st_mode & 0o777 == 0o600

    def failing(engine: Engine, out: BinaryIO, **options: object) -> int:
        out.write(b'{"partial": ')
        raise DatabaseError("database error: disk I/O error")

    monkeypatch.setattr("zeitbus.cli.data.export_events", failing)
    target = tmp_path / "out" / "backup.jsonl"
    target.parent.mkdir()
    assert one_error_line(run("export", str(target)), 1) == "database error: disk I/O error"
    assert list(target.parent.iterdir()) == []


def test_export_into_a_missing_directory_is_one_error_line(run: Run, tmp_path: Path) -> None:
    """A FILE in a directory that does not exist: exit 1, one line naming the file."""
    target = tmp_path / "absent" / "x.jsonl"
    message = one_error_line(run("export", str(target)), 1)
    assert message == f"cannot write {target}: No such file or directory"


def test_import_malformed_line_names_it_and_imports_nothing(run: Run, tmp_path: Path) -> None:
    """A bad line: one error line with its number, exit 2, and the log stays empty."""
    good = encode_line(
        Event(
            timestamp=1,
            actor="a",
            interpretation="i",
            manifestation="m",
            subjects=(Subject(uri="file:///a"),),
        )
    )
    bad_file = tmp_path / "bad.jsonl"
    bad_file.write_bytes(good + b"\n" + b'{"id": -1}\n' + good)
    assert one_error_line(run("import", str(bad_file)), 2) == "line 3: id: expected `int` >= 0"
    assert json.loads(ok(run("stats", "--json")))["events"] == 0


def test_import_skip_bad_reports_how_many_were_skipped(run: Run, tmp_path: Path) -> None:
    """--skip-bad imports the good lines, warns about each bad one, and counts them."""
    good = encode_line(
        Event(
            timestamp=1,
            actor="a",
            interpretation="i",
            manifestation="m",
            subjects=(Subject(uri="file:///a"),),
        )
    )
    result = run("import", "--skip-bad", input=b"oops\n" + good + b'{"payload": "%%%"}\n')
    assert ok(result) == "Imported 1 event (0 already present, 2 bad lines skipped)\n"
    assert "zeitbus: skipped line 1: not valid JSON" in result.stderr
    assert "zeitbus: skipped line 3: payload: invalid base64" in result.stderr


def test_import_missing_file_is_a_usage_error(run: Run, tmp_path: Path) -> None:
    """import of a file that does not exist exits 2 (click's usage error)."""
    assert run("import", str(tmp_path / "absent.jsonl")).exit_code == 2


# -- import-zeitgeist -----------------------------------------------------------------


def test_import_zeitgeist_refuses_what_is_not_a_zeitgeist_database(
    run: Run, tmp_path: Path
) -> None:
    """A directory without activity.sqlite exits 2; a foreign SQLite file exits 1; one line each."""
    assert "holds no activity.sqlite" in one_error_line(run("import-zeitgeist", str(tmp_path)), 2)
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    assert "not a Zeitgeist database" in one_error_line(run("import-zeitgeist", str(other)), 1)
    text = tmp_path / "notes.txt"
    text.write_text("hello " * 1000)
    assert "not a readable database" in one_error_line(run("import-zeitgeist", str(text)), 1)


def _reference_missing() -> str | None:
    """Why the reference daemon cannot run here, or None."""
    try:
        from tests.zeitgeist_reference import missing
    except ImportError as error:  # the helper belongs to the Zeitgeist import tests
        return str(error)
    return missing()


@pytest.mark.slow
@pytest.mark.reference
@pytest.mark.skipif(_reference_missing() is not None, reason=f"{_reference_missing()}")
def test_import_zeitgeist_imports_a_real_database(run: Run, tmp_path: Path) -> None:
    """Events logged by the reference daemon come in with their ids, and again changes nothing."""
    from tests.zeitgeist_reference import reference_daemon

    logged = [
        Event(
            timestamp=NOW - n * DAY,
            interpretation=ACCESS_EVENT,
            manifestation=USER_ACTIVITY,
            actor="application://vim.desktop",
            subjects=(Subject(uri=f"file:///home/me/{n}.txt", mimetype="text/plain"),),
            payload=bytes([n, 0, 255]),
        )
        for n in range(1, 6)
    ]
    with reference_daemon(tmp_path / "zg") as daemon:
        ids = daemon.client().insert(logged)
        expected = daemon.client().get(ids)
        result = run("import-zeitgeist", str(daemon.db_path.parent))
        assert ok(result) == (
            "Imported 5 events of 5 (0 already present, kept Zeitgeist's ids, schema v11)\n"
        )
        again = run("import-zeitgeist", "--new-ids", str(daemon.db_path))
        assert "Imported 0 events of 5 (5 already present, new ids" in ok(again)
    got = events_of(ok(run("get", "--json", *map(str, ids))))
    assert [e.with_changes(uid="", node="") for e in got] == expected


# -- the real program -------------------------------------------------------------------


def test_the_installed_program_runs_end_to_end(tmp_path: Path) -> None:
    """``python -m zeitbus`` and the ``zeitbus`` script run as subprocesses, exit codes too."""
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg"), "COLUMNS": "200"}

    def zeitbus(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "zeitbus", *args],
            input=stdin,
            capture_output=True,
            env=env,
            timeout=60,
            check=False,
        )

    logged = zeitbus("log", "-a", "application://vim.desktop", "-u", "file:///a.txt", "-t", "1000")
    assert (logged.returncode, logged.stdout) == (0, b"1\n")
    assert (tmp_path / "xdg" / "zeitbus" / "zeitbus.sqlite").exists()  # the default data dir
    found = zeitbus("find", "--json")
    assert found.returncode == 0
    assert decode_line(found.stdout).subjects[0].uri == "file:///a.txt"
    bad = zeitbus("find", "-r", "sideways")
    assert bad.returncode == 2
    assert bad.stderr.decode().splitlines() == [
        "zeitbus: error: Invalid ResultType. (unknown result type 'sideways')"
    ]
    assert zeitbus("delete", "42").returncode == 1
    exported = zeitbus("export")
    imported = zeitbus("--data-dir", str(tmp_path / "copy"), "import", stdin=exported.stdout)
    assert imported.stdout == b"Imported 1 event (0 already present)\n"
    script = Path(sys.executable).with_name("zeitbus")
    assert script.exists(), "the console script is installed next to the interpreter"
    stats = subprocess.run(
        [str(script), "stats", "--json"], capture_output=True, env=env, timeout=60, check=True
    )
    assert json.loads(stats.stdout)["events"] == 1
