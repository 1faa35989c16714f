"""``zeitbus tail``: follow the changes feed, as a person or a program reads it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from typing import Any

import click

from zeitbus.cli.app import State, cli, pass_state
from zeitbus.cli.events import _template_from_flags, _templates_from_json
from zeitbus.cli.parsing import format_time, short_symbol
from zeitbus.engine import Engine
from zeitbus.errors import InvalidArgument
from zeitbus.http.feed import FeedRequest, read_rows
from zeitbus.jsonl import event_from_json
from zeitbus.model import Event

POLL_SECONDS = 0.5  # how often the log itself is looked at when no daemon serves it


def _rows_from_engine(
    engine: Engine, since: int, templates: Sequence[Event]
) -> Iterator[dict[str, Any]]:
    """The feed read from the file, polled: the rows the daemon's feed would send."""
    request = FeedRequest(include_docs=True, templates=tuple(templates))
    while True:
        rows, since, _ = read_rows(engine, request, since, None)
        yield from rows
        if not rows:
            time.sleep(POLL_SECONDS)


def _line(row: dict[str, Any]) -> str:
    when = format_time(row["timestamp"])
    if row.get("deleted"):
        return f"{row['seq']:>7}  {when}  deleted     event {row['event_id']} ({row['id']})"
    event = event_from_json(row["doc"])
    uris = " ".join(subject.uri for subject in event.subjects)
    what = short_symbol(event.interpretation)
    return f"{row['seq']:>7}  {when}  {what:<11} {event.actor}  {uris}"


@cli.command("tail")
@click.option("--since", default="now", show_default=True, help="Start after this seq, or now.")
@click.option("--actor", "-a", help="Only events of this actor (a trailing * matches a prefix).")
@click.option("--uri", "-u", help="Only events with a subject of this URI (or prefix*).")
@click.option("--interpretation", "-i", help="Only events of this interpretation.")
@click.option(
    "--template", "templates", multiple=True, help="A template as a JSON event; repeat to OR."
)
@click.option("--limit", "-n", type=click.IntRange(1), help="Stop after this many changes.")
@click.option("--json", "as_json", is_flag=True, help="Print each change as a JSON line.")
@pass_state
def tail_command(
    state: State,
    /,
    since: str,
    actor: str | None,
    uri: str | None,
    interpretation: str | None,
    templates: tuple[str, ...],
    limit: int | None,
    as_json: bool,
) -> None:
    """Follow the log's changes as they happen (Ctrl-C stops).

    Inserts show time, interpretation, actor and subject URIs; deletes show
    the event's id and uid. Filters apply to inserts; deletes always show.
    Through a running daemon if there is one (its changes feed), else on the
    data directory itself.

    \b
    zeitbus tail
    zeitbus tail -a 'application://firefox*' --json
    zeitbus tail --since 0 -n 100
    """
    wanted = _templates_from_json(templates)
    flags = _template_from_flags(
        {"interpretation": interpretation, "manifestation": None, "actor": actor, "origin": None},
        {"uri": uri},
    )
    if flags is not None:
        wanted.insert(0, flags)
    if since != "now" and not since.isdigit():
        raise InvalidArgument(f"--since: a seq or 'now', not {since!r}")
    log = state.log()
    rows: Iterator[dict[str, Any]]
    if isinstance(log, Engine):
        start = log.last_seq() if since == "now" else int(since)
        rows = _rows_from_engine(log, start, wanted)
    else:
        from zeitbus.client import Client  # state.log() gave the daemon's client

        assert isinstance(log, Client)
        rows = log.follow(since=since, include_docs=True, templates=wanted)
    try:
        for count, row in enumerate(rows, start=1):
            click.echo(json.dumps(row, separators=(",", ":")) if as_json else _line(row))
            if limit is not None and count >= limit:
                return
    except KeyboardInterrupt:
        return
