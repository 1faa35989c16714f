"""``stats``, ``export``, ``import`` and ``import-zeitgeist``: the whole log at once."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from zeitbus.cli.app import CliError, State, cli, pass_state
from zeitbus.cli.output import print_stats, stderr_console, warn
from zeitbus.engine import Engine
from zeitbus.errors import InvalidArgument
from zeitbus.jsonl import ImportReport, export_events, import_events
from zeitbus.model import TimeRange
from zeitbus.zeitgeist_import import import_zeitgeist


@contextlib.contextmanager
def progress_bar(description: str) -> Iterator[Callable[[int, int], None]]:
    """A ``progress(done, total)`` callback drawing a bar on stderr (if it is a terminal)."""
    console = stderr_console()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, disable=not console.is_terminal) as progress:
        task = progress.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


@cli.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_state
def stats_command(state: State, /, as_json: bool) -> None:
    """Summarize the log: counts, time span, size, top actors.

    \b
    zeitbus stats
    zeitbus stats --json
    """
    print_stats(state.engine().stats(), str(state.path), as_json=as_json)


def _export_to_file(engine: Engine, path: Path, time_range: TimeRange) -> int:
    """Export into a temporary file beside ``path``, renamed at the end: whole or not at all."""
    try:
        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
    except OSError as error:
        raise CliError(f"cannot write {path}: {error.strerror or error}") from error
    try:
        with os.fdopen(handle, "wb") as out:
            count = export_events(engine, out, time_range=time_range)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return count


@cli.command("export")
@click.argument(
    "file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path), default="-"
)
@click.option("--since", help="Only events at or after this time (2d, 2026-01-01, ...).")
@click.option("--until", help="Only events at or before this time.")
@pass_state
def export_command(state: State, /, file: Path, since: str | None, until: str | None) -> None:
    """Write the log to FILE (default stdout) as JSON Lines, oldest first.

    Every field is kept: uid, node, local id, timestamp, current URIs, and
    the payload (base64). A FILE is written whole or not at all, readable
    only by you (it holds your activity).

    \b
    zeitbus export backup.jsonl
    zeitbus export --since 7d | gzip > last-week.jsonl.gz
    """
    time_range = TimeRange(state.time(since, "--since") or 0, state.time(until, "--until") or 0)
    engine = state.engine()
    if str(file) == "-":
        count = export_events(engine, sys.stdout.buffer, time_range=time_range)
        sys.stdout.buffer.flush()
        name = "stdout"
    else:
        count = _export_to_file(engine, file, time_range)
        name = click.format_filename(file)
    click.echo(f"Exported {_plural(count, 'event')} to {name}", err=True)


def _print_import(report: ImportReport) -> None:
    for line, reason in report.problems:
        warn(f"skipped line {line}: {reason}")
    if report.skipped > len(report.problems):
        warn(f"... and {report.skipped - len(report.problems)} more bad lines")
    parts = [f"{report.already_present:,} already present"]
    if report.skipped:
        parts.append(f"{_plural(report.skipped, 'bad line')} skipped")
    click.echo(f"Imported {_plural(report.imported, 'event')} ({', '.join(parts)})")


@cli.command("import")
@click.argument("file", type=click.File("rb"), default="-")
@click.option("--skip-bad", is_flag=True, help="Skip malformed lines (and count them).")
@click.option("--keep-ids", is_flag=True, help="Keep the local ids in the file.")
@pass_state
def import_command(state: State, /, file: IO[bytes], skip_bad: bool, keep_ids: bool) -> None:
    """Import JSON Lines (as written by export) from FILE (default stdin).

    Events already in the log (same uid, or same timestamp, interpretation,
    manifestation, actor and subject URI) are not stored again, so importing
    a file twice changes nothing. A malformed line stops the import before
    anything is stored and names its line number (exit status 2), unless
    --skip-bad is given. With --keep-ids, an id taken by another event makes
    that line malformed.

    \b
    zeitbus import backup.jsonl
    zcat old.jsonl.gz | zeitbus import --skip-bad
    """
    with progress_bar("Importing") as progress:
        report = import_events(
            state.engine(), file, skip_bad=skip_bad, keep_ids=keep_ids, progress=progress
        )
    _print_import(report)


@cli.command("import-zeitgeist")
@click.argument("path", type=click.Path(exists=True, dir_okay=True, path_type=Path))
@click.option(
    "--keep-ids/--new-ids",
    default=None,
    help="Keep Zeitgeist's event ids, or give new ones [default: keep them if the log is empty].",
)
@pass_state
def import_zeitgeist_command(state: State, /, path: Path, keep_ids: bool | None) -> None:
    """Import a Zeitgeist activity.sqlite (schema 3 to 11) with a progress bar.

    PATH is the file or the directory holding it (usually
    ~/.local/share/zeitgeist). The file is only read, never written, and a
    running zeitgeist-daemon can keep using it. Importing the same file again
    stores nothing new.

    \b
    zeitbus import-zeitgeist ~/.local/share/zeitgeist/activity.sqlite
    """
    if path.is_dir():
        path = path / "activity.sqlite"
        if not path.is_file():
            raise InvalidArgument(f"{path.parent} holds no activity.sqlite")
    with progress_bar("Importing Zeitgeist events") as progress:
        report = import_zeitgeist(state.engine(), path, keep_ids=keep_ids, progress=progress)
    if report.unreadable:
        shown = ", ".join(map(str, report.unreadable[:10]))
        more = ", ..." if len(report.unreadable) > 10 else ""
        warn(
            f"skipped {len(report.unreadable):,} Zeitgeist events that cannot be stored "
            f"(incomplete, or text that is not UTF-8): ids {shown}{more}"
        )
    ids = "kept Zeitgeist's ids" if report.kept_ids else "new ids"
    click.echo(
        f"Imported {_plural(report.imported, 'event')} of {report.found:,} "
        f"({report.already_present:,} already present, {ids}, schema v{report.schema_version})"
    )
