"""How commands print: rich tables for people, JSON Lines for programs."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from zeitbus.cli.parsing import format_time, short_symbol
from zeitbus.jsonl import encode_lines
from zeitbus.model import Event, Stats


def stdout_console() -> Console:
    """A console on the current stdout (CliRunner swaps it per test)."""
    return Console(file=sys.stdout, highlight=False)


def stderr_console() -> Console:
    """A console on the current stderr, for progress bars."""
    return Console(file=sys.stderr, highlight=False)


def write_bytes(data: bytes) -> None:
    """Write raw bytes to stdout (JSON Lines)."""
    stream = sys.stdout.buffer
    stream.write(data)
    stream.flush()


def warn(message: str) -> None:
    """One ``zeitbus: ...`` line on stderr."""
    click.echo(f"zeitbus: {message}", err=True)


def print_events(events: Sequence[Event], *, as_json: bool, ids_only: bool) -> None:
    """Events as ids, JSON Lines or a table."""
    if ids_only:
        click.echo("".join(f"{event.id}\n" for event in events), nl=False)
    elif as_json:
        write_bytes(encode_lines(events))
    elif not events:
        click.echo("No events.", err=True)
    else:
        stdout_console().print(events_table(events))


def events_table(events: Sequence[Event]) -> Table:
    """A readable table: id, local time, what happened, who, to what."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("time", no_wrap=True)
    table.add_column("event", no_wrap=True)
    table.add_column("actor", overflow="fold")
    table.add_column("subjects", overflow="fold")
    for event in events:
        subjects = []
        for subject in event.subjects:
            line = subject.uri
            if subject.current_uri and subject.current_uri != subject.uri:
                line += f" → {subject.current_uri}"
            if subject.mimetype:
                line += f" ({subject.mimetype})"
            subjects.append(line)
        table.add_row(
            str(event.id),
            format_time(event.ts),
            short_symbol(event.interpretation),
            event.actor,
            "\n".join(subjects),
        )
    noun = "event" if len(events) == 1 else "events"
    table.caption = f"{len(events)} {noun}"
    return table


def stats_json(stats: Stats) -> dict[str, Any]:
    """The stats as a JSON-ready dict."""
    return {
        "events": stats.events,
        "subjects": stats.subjects,
        "first_timestamp": stats.first_timestamp,
        "last_timestamp": stats.last_timestamp,
        "last_seq": stats.last_seq,
        "actors": stats.actors,
        "uris": stats.uris,
        "node": stats.node,
        "schema_version": stats.schema_version,
        "file_bytes": stats.file_bytes,
        "top_actors": [{"actor": actor, "events": n} for actor, n in stats.top_actors],
    }


def _size(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def print_stats(stats: Stats, data_dir: str, *, as_json: bool) -> None:
    """The stats as a short summary or one JSON object."""
    if as_json:
        click.echo(json.dumps(stats_json(stats), ensure_ascii=False))
        return
    rows = [
        ("Log", data_dir),
        ("Events", f"{stats.events:,} ({stats.subjects:,} subjects)"),
        ("Distinct", f"{stats.uris:,} URIs, {stats.actors:,} actors"),
    ]
    if stats.first_timestamp is not None and stats.last_timestamp is not None:
        rows.append(("First", format_time(stats.first_timestamp)))
        rows.append(("Last", format_time(stats.last_timestamp)))
    per_event = f", {stats.file_bytes // stats.events} bytes/event" if stats.events else ""
    rows += [
        ("Size", f"{_size(stats.file_bytes)}{per_event}"),
        ("Feed", f"last seq {stats.last_seq:,}"),
        ("Node", stats.node),
        ("Schema", f"version {stats.schema_version}"),
    ]
    for n, (actor, count) in enumerate(stats.top_actors):
        rows.append(("Top actors" if n == 0 else "", f"{count:>8,}  {actor}"))
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        click.echo(f"{label:<{width}}  {value}")
