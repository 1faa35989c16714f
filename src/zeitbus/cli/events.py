"""``log``, ``find``, ``get`` and ``delete``: the event commands."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from zeitbus.cli.app import CliError, State, cli, pass_state
from zeitbus.cli.output import print_events, warn
from zeitbus.cli.parsing import SymbolKind, format_time, resolve_symbol
from zeitbus.errors import InvalidArgument
from zeitbus.jsonl import decode_events, event_from_json
from zeitbus.model import UINT32_MAX, Event, ResultType, StorageState, Subject, TimeRange

F = TypeVar("F", bound=Callable[..., Any])

# (option names, Subject field, help); the same flags in ``log`` and ``find``.
_SUBJECT_FLAGS = (
    (("--uri", "--subject-uri", "-u"), "uri", "Subject URI."),
    (("--current-uri",), "current_uri", "Subject's current URI (after a move)."),
    (("--subject-origin",), "origin", "Subject origin (e.g. the containing folder or site)."),
    (("--current-origin",), "current_origin", "Subject's current origin."),
    (("--subject-interpretation",), "interpretation", "What the subject is (document, image)."),
    (("--subject-manifestation",), "manifestation", "How it exists (file, web, remote...)."),
    (("--mimetype",), "mimetype", "Subject MIME type."),
    (("--text",), "text", "Subject text (a title)."),
    (("--storage",), "storage", "Subject storage medium."),
)
_SUBJECT_KINDS = {
    "interpretation": SymbolKind.SUBJECT_INTERPRETATION,
    "manifestation": SymbolKind.SUBJECT_MANIFESTATION,
}


def _subject_options(*, multiple: bool) -> Callable[[F], F]:
    def decorate(function: F) -> F:
        for names, name, text in reversed(_SUBJECT_FLAGS):
            extra = " Repeat for several subjects." if multiple and name == "uri" else ""
            function = click.option(
                *names, f"subject_{name}", multiple=multiple, help=text + extra
            )(function)
        return function

    return decorate


def _output_options(function: F) -> F:
    function = click.option("--ids-only", is_flag=True, help="Print only the event ids.")(function)
    return click.option("--json", "as_json", is_flag=True, help="Print JSON Lines.")(function)


def _symbol(value: str | None, kind: SymbolKind) -> str:
    return resolve_symbol(value, kind) if value else ""


def _read_ids(ids: Sequence[int]) -> list[int]:
    if not ids:
        raise InvalidArgument("give at least one event id")
    return list(ids)


_ID = click.IntRange(0, UINT32_MAX)


# -- log -------------------------------------------------------------------------


def _subjects_from_flags(values: dict[str, tuple[str, ...]]) -> tuple[Subject, ...]:
    uris = values["uri"]
    if not uris:
        raise InvalidArgument(
            "give at least one --subject-uri (Zeitgeist does not store events without subjects)"
        )
    subjects = []
    for n, uri in enumerate(uris):
        fields: dict[str, str] = {"uri": uri}
        for name, given in values.items():
            if name == "uri" or not given:
                continue
            if len(given) not in (1, len(uris)):
                raise InvalidArgument(
                    f"--{name.replace('_', '-')} is given {len(given)} times for {len(uris)} "
                    "subjects: give it once (for every subject) or once per --subject-uri"
                )
            value = given[0] if len(given) == 1 else given[n]
            kind = _SUBJECT_KINDS.get(name)
            fields[name] = resolve_symbol(value, kind) if kind else value
        subjects.append(Subject(**fields))
    return tuple(subjects)


@cli.command("log")
@click.option("--interpretation", "-i", default="access", show_default=True, help="What happened.")
@click.option("--manifestation", "-m", default="user", show_default=True, help="How it happened.")
@click.option("--actor", "-a", help="Who did it, e.g. application://firefox.desktop.")
@click.option("--origin", help="Where the event came from (event origin).")
@click.option("--timestamp", "-t", help="When it happened [default: now].")
@click.option("--payload", help="Payload, stored as UTF-8 bytes.")
@_subject_options(multiple=True)
@click.option(
    "--stdin", "from_stdin", is_flag=True, help="Read JSON events from stdin instead of flags."
)
@pass_state
def log_command(
    state: State,
    /,
    interpretation: str,
    manifestation: str,
    actor: str | None,
    origin: str | None,
    timestamp: str | None,
    payload: str | None,
    from_stdin: bool,
    **subject_values: tuple[str, ...],
) -> None:
    """Record one event from flags, or JSON events from stdin; print their ids.

    With --stdin, stdin holds one JSON event per line or a JSON array of
    events (docs/event-json.md). A batch is stored whole or not at all. An id
    of 0 means the event was not stored (Zeitgeist's rule for events with a
    preset id or without subjects).

    \b
    zeitbus log -a application://vim.desktop -u file:///home/me/notes.txt
    zeitbus log -i modify -a application://gimp.desktop \\
        -u file:///tmp/a.png -u file:///tmp/b.png --mimetype image/png
    echo '{"actor": "app://x", "interpretation": "…", ...}' | zeitbus log --stdin
    """
    values = {key.removeprefix("subject_"): given for key, given in subject_values.items()}
    if from_stdin:
        if actor or origin or timestamp or payload or any(values.values()):
            raise InvalidArgument("--stdin reads whole events; do not combine it with flags")
        events = decode_events(sys.stdin.buffer.read())
        if not events:
            raise InvalidArgument("no events on stdin")
    else:
        if not actor:
            raise InvalidArgument("give --actor (who did it, e.g. application://vim.desktop)")
        event = Event(
            timestamp=state.time(timestamp, "--timestamp"),
            interpretation=_symbol(interpretation, SymbolKind.EVENT_INTERPRETATION),
            manifestation=_symbol(manifestation, SymbolKind.EVENT_MANIFESTATION),
            actor=actor,
            origin=origin or "",
            subjects=_subjects_from_flags(values),
            payload=(payload or "").encode("utf-8"),
        )
        events = [event]
    ids = state.log().insert_events(events, sender="zeitbus-cli")
    for n, event_id in enumerate(ids, start=1):
        click.echo(str(event_id))
        if event_id == 0:
            warn(f"event {n} was not stored (it has a preset id, no subjects, or was dropped)")


# -- find ------------------------------------------------------------------------


def _template_from_flags(
    event_fields: dict[str, str | None], subject_fields: dict[str, str | None]
) -> Event | None:
    subject = Subject(
        **{
            name: _symbol(value, _SUBJECT_KINDS[name]) if name in _SUBJECT_KINDS else value
            for name, value in subject_fields.items()
            if value
        }
    )
    event = Event(
        interpretation=_symbol(event_fields["interpretation"], SymbolKind.EVENT_INTERPRETATION),
        manifestation=_symbol(event_fields["manifestation"], SymbolKind.EVENT_MANIFESTATION),
        actor=event_fields["actor"] or "",
        origin=event_fields["origin"] or "",
        subjects=(subject,) if subject != Subject() else (),
    )
    return None if event == Event() else event


def _templates_from_json(texts: Sequence[str]) -> list[Event]:
    templates = []
    for n, text in enumerate(texts, start=1):
        try:
            templates.append(event_from_json(json.loads(text)))
        except json.JSONDecodeError as error:
            raise InvalidArgument(f"--template {n}: not valid JSON: {error.msg}") from None
        except InvalidArgument as error:
            raise InvalidArgument(f"--template {n}: {error.message}") from None
    return templates


@cli.command("find")
@click.option("--interpretation", "-i", help="Event interpretation (access, modify, ...).")
@click.option("--manifestation", "-m", help="Event manifestation (user, scheduled, ...).")
@click.option("--actor", "-a", help="Actor; a trailing * matches a prefix.")
@click.option("--origin", help="Event origin.")
@_subject_options(multiple=False)
@click.option(
    "--template", "templates", multiple=True, help="A template as a JSON event; repeat to OR."
)
@click.option("--since", help="Only events at or after this time (2d, 2026-01-01, ...).")
@click.option("--until", help="Only events at or before this time.")
@click.option(
    "--result-type",
    "-r",
    default="most-recent-events",
    show_default=True,
    help="Grouping and order, by name or number (e.g. most-popular-subjects, 4).",
)
@click.option(
    "--storage-state",
    default="any",
    show_default=True,
    help="any, available or not-available (or 2, 1, 0).",
)
@click.option(
    "--limit",
    "-n",
    type=click.IntRange(0, UINT32_MAX),
    default=20,
    show_default=True,
    help="At most this many events; 0 for all.",
)
@_output_options
@pass_state
def find_command(
    state: State,
    /,
    interpretation: str | None,
    manifestation: str | None,
    actor: str | None,
    origin: str | None,
    templates: tuple[str, ...],
    since: str | None,
    until: str | None,
    result_type: str,
    storage_state: str,
    limit: int,
    as_json: bool,
    ids_only: bool,
    **subject_values: str | None,
) -> None:
    """Find events with Zeitgeist's template semantics.

    The flags make one template (fields ANDed, subject fields on the same
    subject); each --template adds another, and templates are ORed. Values
    keep Zeitgeist's operators: a leading ! negates, a trailing * matches a
    prefix, a leading + turns off the ontology's hierarchy expansion.

    \b
    zeitbus find --since 2d
    zeitbus find -a 'application://firefox*' --since 2026-01-01 --json
    zeitbus find --subject-interpretation '!image' -r most-popular-subjects -n 10
    """
    event_fields = {
        "interpretation": interpretation,
        "manifestation": manifestation,
        "actor": actor,
        "origin": origin,
    }
    subject_fields = {key.removeprefix("subject_"): v for key, v in subject_values.items()}
    all_templates = _templates_from_json(templates)
    from_flags = _template_from_flags(event_fields, subject_fields)
    if from_flags is not None:
        all_templates.insert(0, from_flags)
    start = state.time(since, "--since")
    end = state.time(until, "--until")
    query = (
        TimeRange(start or 0, end or 0),
        all_templates,
        StorageState.parse(storage_state),
        limit,
        ResultType.parse(result_type),
    )
    log = state.log()
    if ids_only:
        # Ids straight from the query: no event is loaded, repeats stay as Zeitgeist gives them.
        click.echo("".join(f"{event_id}\n" for event_id in log.find_event_ids(*query)), nl=False)
        return
    print_events(list(log.find_events(*query)), as_json=as_json, ids_only=False)


# -- get and delete --------------------------------------------------------------


@cli.command("get")
@click.argument("ids", nargs=-1, type=_ID)
@_output_options
@pass_state
def get_command(state: State, /, ids: tuple[int, ...], as_json: bool, ids_only: bool) -> None:
    """Print events by id, in the order given.

    Exits with 1 (after printing the others) if an id names no event.

    \b
    zeitbus get 12 7 --json
    """
    wanted = _read_ids(ids)
    found = state.log().get_events(wanted)
    events = [event for event in found if event is not None]
    print_events(events, as_json=as_json, ids_only=ids_only)
    missing = [event_id for event_id, event in zip(wanted, found, strict=True) if event is None]
    if missing:
        raise CliError(f"no event with id {', '.join(map(str, dict.fromkeys(missing)))}")


@cli.command("delete")
@click.argument("ids", nargs=-1, type=_ID)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_state
def delete_command(state: State, /, ids: tuple[int, ...], as_json: bool) -> None:
    """Delete events by id and print the time range they covered.

    Exits with 0 if anything was deleted and with 1 if none of the ids named
    an event (then nothing changes). Unknown ids among known ones are ignored,
    as in Zeitgeist.

    \b
    zeitbus delete 12 13 14
    """
    wanted = _read_ids(ids)
    log = state.log()
    existing = {event.id for event in log.get_events(wanted) if event is not None}
    deleted = log.delete_events(wanted)
    if deleted is None:
        if as_json:
            click.echo(json.dumps({"deleted": 0, "start": None, "end": None}))
        raise CliError("nothing was deleted: no event has any of these ids")
    start, end = deleted
    if as_json:
        click.echo(json.dumps({"deleted": len(existing), "start": start, "end": end}))
    else:
        noun = "event" if len(existing) == 1 else "events"
        click.echo(
            f"Deleted {len(existing)} {noun} from {format_time(start)} to {format_time(end)}"
            f" ({start}..{end} ms)"
        )
