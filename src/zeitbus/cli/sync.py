"""``zeitbus sync``: the peers this log syncs with, their status, and catching up now.

Through the running daemon when there is one (its sync service follows the
peers, ``zeitbus.sync.service``); else on the log itself: peers are stored
for the daemon to follow when it runs, and ``sync now`` runs the
replications in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from zeitbus.cli.app import CliError, State, cli, pass_state
from zeitbus.cli.output import stderr_console, stdout_console, warn
from zeitbus.cli.parsing import format_time
from zeitbus.engine import Engine
from zeitbus.errors import InvalidArgument
from zeitbus.sync import settings as sync_settings
from zeitbus.sync.service import SyncService

POLL_SECONDS = 0.2  # how often a catch-up's progress is looked at


class Peers(Protocol):
    """What the commands need: the daemon's sync service, or one on the log itself."""

    def peers(self) -> list[dict[str, Any]]: ...  # pragma: no cover

    def add(
        self, url: str, token: str, direction: str, kind: str, encrypt: bool
    ) -> dict[str, Any]: ...  # pragma: no cover

    def remove(self, peer_id: str) -> dict[str, Any]: ...  # pragma: no cover

    def status(self) -> list[dict[str, Any]]: ...  # pragma: no cover

    def now(
        self, peer_id: str, direction: str | None, watch: Callable[[list[dict[str, Any]]], None]
    ) -> dict[str, Any]:
        """Catch up; ``watch`` gets every peer's status now and then while it runs."""
        ...  # pragma: no cover


class _Daemon:
    """The running daemon's sync service, over its API."""

    daemon = True

    def __init__(self, state: State, client: Any) -> None:
        self._state = state
        self._client = client

    def peers(self) -> list[dict[str, Any]]:
        return list(self._client.sync_peers())

    def add(self, url: str, token: str, direction: str, kind: str, encrypt: bool) -> dict[str, Any]:
        return dict(
            self._client.sync_add(url, token=token, direction=direction, kind=kind, encrypt=encrypt)
        )

    def remove(self, peer_id: str) -> dict[str, Any]:
        return dict(self._client.sync_remove(peer_id))

    def status(self) -> list[dict[str, Any]]:
        return list(self._client.sync_status())

    def now(
        self, peer_id: str, direction: str | None, watch: Callable[[list[dict[str, Any]]], None]
    ) -> dict[str, Any]:
        from zeitbus.client import Client

        # The catch-up answers when done; its progress is read meanwhile with a
        # client of its own (one connection each, in two threads).
        outcome: dict[str, Any] = {}

        def catch_up() -> None:
            try:
                with Client.connect(self._state.path) as client:
                    outcome["answer"] = client.sync_now(peer_id, direction)
            except BaseException as error:  # handed to the main thread
                outcome["error"] = error

        worker = threading.Thread(target=catch_up, name=f"sync now {peer_id}", daemon=True)
        worker.start()
        while worker.is_alive():
            worker.join(POLL_SECONDS)
            if worker.is_alive():
                with contextlib.suppress(Exception):  # progress is a nicety
                    watch(self.status())
        if "error" in outcome:
            raise outcome["error"]
        return dict(outcome["answer"])


class _Direct:
    """A sync service on the log itself, for this command alone (no daemon runs)."""

    daemon = False

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._settings = sync_settings.load(os.environ)
        if self._settings.filter_received:
            _filter_received(engine)

    def _service(self) -> SyncService:
        from zeitbus.sync.http_peer import connect  # httpx: only when peers are synced here

        return SyncService(self._engine, self._settings, connect=connect)

    def peers(self) -> list[dict[str, Any]]:
        return [peer.as_dict() for peer in asyncio.run(self._service().peers())]

    def add(self, url: str, token: str, direction: str, kind: str, encrypt: bool) -> dict[str, Any]:
        add = self._service().add(url, token=token, direction=direction, kind=kind, encrypt=encrypt)
        return asyncio.run(add).as_dict()

    def remove(self, peer_id: str) -> dict[str, Any]:
        return asyncio.run(self._service().remove(peer_id)).as_dict()

    def status(self) -> list[dict[str, Any]]:
        return asyncio.run(self._service().status())

    def now(
        self, peer_id: str, direction: str | None, watch: Callable[[list[dict[str, Any]]], None]
    ) -> dict[str, Any]:
        async def main() -> dict[str, Any]:
            service = self._service()
            task = asyncio.ensure_future(service.now(peer_id, direction))
            while not task.done():
                await asyncio.wait({task}, timeout=POLL_SECONDS)
                if not task.done():
                    watch(await service.status())
            return task.result()

        return asyncio.run(main())


def _filter_received(engine: Engine) -> None:
    """The blacklist's hook on ``engine``, as the daemon has it (unless disabled)."""
    from zeitbus.extensions.blacklist import Blacklist
    from zeitbus.extensions.conf import ExtensionConf
    from zeitbus.extensions.loaded import disabled_extensions

    if "Blacklist" not in disabled_extensions(os.environ):
        Blacklist(ExtensionConf(engine)).install(engine)


def _peers(state: State) -> Peers:
    log = state.log()
    if isinstance(log, Engine):
        return _Direct(log)
    return _Daemon(state, log)


def _ways(direction: str) -> str:
    return {"both": "pull and push", "pull": "pull only", "push": "push only"}[direction]


def _print_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))


def _no_daemon_note(peers: Peers) -> None:
    if not getattr(peers, "daemon", True):
        warn("no daemon is running: peers sync while `zeitbus daemon` runs, or with `sync now`")


@cli.group("sync")
def sync() -> None:
    """Sync this log with other machines' (docs/sync.md).

    A peer is another machine's Zeitbus daemon, reached over its HTTP API
    with a token of its own (`zeitbus token create --scope write` there).
    The daemon keeps syncing with every peer, both ways unless told
    otherwise; peers are kept in the log and survive restarts.

    \b
    zeitbus sync add http://desktop.local:5680 --token zbt_...
    zeitbus sync status
    zeitbus sync now
    """


@sync.command("add")
@click.argument("url")
@click.option("--token", default="", help="The peer's token ('-': read it from stdin).")
@click.option("--couchdb", is_flag=True, help="The URL is a CouchDB database (not yet).")
@click.option("--pull-only", is_flag=True, help="Only take the peer's events in.")
@click.option("--push-only", is_flag=True, help="Only send this log's events to the peer.")
@click.option("--encrypt", is_flag=True, help="Encrypt what a CouchDB server stores.")
@pass_state
def add(
    state: State,
    /,
    url: str,
    token: str,
    couchdb: bool,
    pull_only: bool,
    push_only: bool,
    encrypt: bool,
) -> None:
    """Sync with the peer at URL from now on (http://host:port of its daemon).

    \b
    zeitbus sync add http://desktop.local:5680 --token zbt_...
    zeitbus sync add https://server.example/zeitbus --token - --push-only < token.txt
    """
    if pull_only and push_only:
        raise InvalidArgument("--pull-only and --push-only together sync nothing; give one")
    if token == "-":
        token = sys.stdin.readline().strip()
    direction = "pull" if pull_only else "push" if push_only else "both"
    kind = "couchdb" if couchdb else "zeitbus"
    peers = _peers(state)
    peer = peers.add(url, token, direction, kind, encrypt)
    click.echo(f"added peer {peer['id']}: {peer['url']} ({_ways(peer['direction'])})")
    _no_daemon_note(peers)


@sync.command("list")
@click.option("--json", "as_json", is_flag=True, help='Print {"peers": [...]}.')
@pass_state
def list_peers(state: State, /, as_json: bool) -> None:
    """List the peers: id, URL, kind, direction, whether it has a token, when added."""
    found = _peers(state).peers()
    if as_json:
        _print_json({"peers": found})
        return
    if not found:
        click.echo("No peers (zeitbus sync add URL adds one).", err=True)
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("id", "url", "kind", "direction", "token", "added"):
        table.add_column(name, overflow="fold" if name == "url" else "ellipsis")
    for peer in found:
        table.add_row(
            peer["id"],
            peer["url"],
            peer["kind"],
            peer["direction"],
            "yes" if peer["token"] else "no",
            format_time(peer["created"]),
        )
    stdout_console().print(table)


def duration(seconds: float | None) -> str:
    """A lag for people: 0s, 42s, 5m03s, 2h05m, 3d04h; '-' when unknown."""
    if seconds is None:
        return "-"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def status_table(peer: dict[str, Any]) -> Table:
    """One row per direction of ``peer``."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("  way", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("seq", justify="right", no_wrap=True)
    table.add_column("lag", justify="right", no_wrap=True)
    table.add_column("lag s", justify="right", no_wrap=True)
    table.add_column("moved", justify="right", no_wrap=True)
    table.add_column("errors", justify="right", no_wrap=True)
    table.add_column("last error", overflow="fold")
    for way in peer["replications"]:
        table.add_row(
            f"  {way['direction']}",
            way["state"],
            _count(way["last_seq"]),
            _count(way["lag_events"]),
            duration(way["lag_seconds"]),
            _count(way["events"]),
            _count(way["errors"]),
            way["last_error"] or "",
        )
    return table


def print_status(peers: list[dict[str, Any]]) -> None:
    """Each peer: a line naming it, then its directions."""
    console = stdout_console()
    for n, peer in enumerate(peers):
        if n:
            console.print()
        console.print(f"{peer['id']}  {peer['url']}  ({peer['kind']}, {_ways(peer['direction'])})")
        console.print(status_table(peer))


@sync.command("status")
@click.option("--json", "as_json", is_flag=True, help='Print {"peers": [...]} as the API does.')
@pass_state
def status(state: State, /, as_json: bool) -> None:
    """How syncing with each peer goes, each way.

    Per peer and direction: state (catching up, live, retrying, failed,
    idle), the last seq of the source taken in, the lag in changes and in
    seconds, events moved since the daemon started, errors and the last one.
    """
    peers = _peers(state)
    found = peers.status()
    if as_json:
        _print_json({"peers": found})
    elif not found:
        click.echo("No peers (zeitbus sync add URL adds one).", err=True)
    else:
        print_status(found)
    _no_daemon_note(peers)


@sync.command("remove")
@click.argument("peer_id")
@pass_state
def remove(state: State, /, peer_id: str) -> None:
    """Stop syncing with a peer and forget it (its events stay in the log)."""
    peer = _peers(state).remove(peer_id)
    click.echo(f"removed peer {peer['id']}: {peer['url']}")


@contextlib.contextmanager
def _progress() -> Iterator[Callable[[dict[tuple[str, str], tuple[int, int | None]]], None]]:
    """Bars on stderr (if it is a terminal): one per peer and direction, done of total."""
    console = stderr_console()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, disable=not console.is_terminal) as progress:
        tasks: dict[tuple[str, str], TaskID] = {}

        def update(done: dict[tuple[str, str], tuple[int, int | None]]) -> None:
            for key, (count, total) in done.items():
                if key not in tasks:
                    tasks[key] = progress.add_task(f"{key[0]} {key[1]}", total=total)
                progress.update(tasks[key], completed=count, total=total)

        yield update


def _seqs(peers: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(p["id"], way["direction"]): way for p in peers for way in p["replications"]}


@sync.command("now")
@click.argument("peer_id", required=False)
@click.option("--pull-only", is_flag=True, help="Only take the peers' events in.")
@click.option("--push-only", is_flag=True, help="Only send this log's events.")
@pass_state
def now(state: State, /, peer_id: str | None, pull_only: bool, push_only: bool) -> None:
    """Catch up with a peer (or every peer) now, with a progress bar.

    Without a daemon, the replications run in this command. Exit status 1
    if a direction failed (each says why).
    """
    if pull_only and push_only:
        raise InvalidArgument("--pull-only and --push-only together sync nothing; give one")
    direction = "pull" if pull_only else "push" if push_only else None
    peers = _peers(state)
    before = _seqs(peers.status())
    ids = [peer_id] if peer_id is not None else sorted({key[0] for key in before})
    if not ids:
        raise InvalidArgument("no peers to sync with (zeitbus sync add URL adds one)")
    failed = total = 0
    with _progress() as update:
        totals: dict[tuple[str, str], int] = {}

        def watch(statuses: list[dict[str, Any]]) -> None:
            shown: dict[tuple[str, str], tuple[int, int | None]] = {}
            for key, way in _seqs(statuses).items():
                if key[0] not in ids or direction not in (None, key[1]):
                    continue
                start = before.get(key, {}).get("last_seq", 0)
                done = max(0, way["last_seq"] - start)
                left = way["lag_events"] if way["lag_events"] is not None else way["pending"]
                if left is not None:
                    # A peer counts what is left after the batch it has read, which is
                    # one ahead of the one taken in: a total never shrinks.
                    totals[key] = max(totals.get(key, 0), done + left)
                shown[key] = (done, totals.get(key))
            update(shown)

        outcomes = []
        for one in ids:
            answer = peers.now(one, direction, watch)
            outcomes.append(answer)
            watch([answer])
    for answer in outcomes:
        for way in answer["replications"]:
            if direction not in (None, way["direction"]):
                continue
            total += 1
            key = (answer["id"], way["direction"])
            moved = way["events"] - before.get(key, {}).get("events", 0)
            if way["state"] == "failed":
                failed += 1
                click.echo(f"{answer['id']} {way['direction']}: failed: {way['last_error']}")
                continue
            seq = f"{way['last_seq']:,}"
            where = (
                f"at seq {seq} of {answer['url']}"
                if way["direction"] == "pull"
                else f"{answer['url']} at seq {seq} of this log"
            )
            moved = max(0, moved)
            events = f"{moved:,} event{'' if moved == 1 else 's'}"
            click.echo(f"{answer['id']} {way['direction']}: {events}, {where}")
    if failed:
        raise CliError(f"{failed} of {total} directions failed (see above)")
