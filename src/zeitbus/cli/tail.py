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
from zeitbus.client import Client
from zeitbus.engine import Engine
from zeitbus.errors import InvalidArgument
from zeitbus.http.wire import change_row
from zeitbus.jsonl import event_from_json
from zeitbus.matching import matches_any
from zeitbus.model import ChangeKind, Event

POLL_SECONDS = 0.5  # how often the log itself is looked at when no daemon serves it
_PAGE = 1000


def _rows_from_engine(
    engine: Engine, since: int, templates: Sequence[Event]
) -> Iterator[dict[str, Any]]:
    """The feed read from the file, polled: rows in the daemon's shape, docs included."""
    while True:
        changes = engine.changes(since, _PAGE)
        if not changes:
            time.sleep(POLL_SECONDS)
            continue
        inserted = [c.id for c in changes if c.kind is ChangeKind.INSERT]
        stored = {e.id: e for e in engine.get_events(inserted) if e is not None}
        for change in changes:
            since = change.seq
            event = stored.get(change.id)
            if change.kind is ChangeKind.INSERT:
                if event is None:
                    continue  # deleted since: its tombstone follows
                if templates and not matches_any(event, templates):
                    continue
            yield change_row(change, event, include_doc=True)


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
    if isinstance(log, Client):
        rows = log.follow(since=since, include_docs=True, templates=wanted)
    else:
        engine = state.engine()
        start = engine.last_seq() if since == "now" else int(since)
        rows = _rows_from_engine(engine, start, wanted)
    try:
        for count, row in enumerate(rows, start=1):
            click.echo(json.dumps(row, separators=(",", ":")) if as_json else _line(row))
            if limit is not None and count >= limit:
                return
    except KeyboardInterrupt:
        return
