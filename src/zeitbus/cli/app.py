"""The ``zeitbus`` command group: global options, the engine, and error mapping.

Every ZeitbusError a command raises becomes one line on stderr,
``zeitbus: error: <message>``, and exit status 2 for bad input
(InvalidArgument, InvalidEvent, InvalidKey) or 1 for anything else (the
database, the file system). Click's own usage errors also exit with 2.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

import click

from zeitbus import discovery
from zeitbus.cli.parsing import parse_time
from zeitbus.engine import Engine
from zeitbus.errors import InvalidArgument, InvalidEvent, InvalidKey, ZeitbusError
from zeitbus.location import data_dir_of, log_location
from zeitbus.model import Event, ResultType, StorageState, TimeRange
from zeitbus.store import failures
from zeitbus.validation import now_ms

EXIT_FAILURE = 1
EXIT_USAGE = 2


class CliError(click.ClickException):
    """A failure shown as one ``zeitbus: error: ...`` line (exit status 1)."""

    exit_code = EXIT_FAILURE

    def show(self, file: IO[Any] | None = None) -> None:
        """Print the one line to stderr."""
        click.echo(f"zeitbus: error: {self.format_message()}", err=True, file=file)

    @classmethod
    def from_error(cls, error: ZeitbusError) -> CliError:
        """The CLI form of a Zeitbus error, with any notes appended."""
        message = "; ".join([error.message, *getattr(error, "__notes__", ())])
        bad_input = isinstance(error, InvalidArgument | InvalidEvent | InvalidKey)
        return (BadInput if bad_input else CliError)(" ".join(message.split()))


class BadInput(CliError):
    """Input the user must fix, shown as one line (exit status 2)."""

    exit_code = EXIT_USAGE


# Commands imported only when run, so that their libraries (dbus-fast) cost
# the other commands nothing: name -> "module:attribute".
LAZY_COMMANDS = {
    "daemon": "zeitbus.dbus.cli:daemon",
    "install-service": "zeitbus.dbus.cli:install_service",
}


class ZeitbusGroup(click.Group):
    """A click group that maps Zeitbus and OS errors to one-line messages."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """The commands, lazy ones included."""
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """A command by name, importing a lazy one on first use."""
        if cmd_name in LAZY_COMMANDS:
            module, attribute = LAZY_COMMANDS[cmd_name].split(":")
            command: click.Command = getattr(importlib.import_module(module), attribute)
            return command
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand; translate the errors it raises."""
        try:
            return super().invoke(ctx)
        except ZeitbusError as error:
            raise CliError.from_error(error) from error
        except BrokenPipeError:
            raise
        except OSError as error:
            if failures.is_full(error):  # in the same words as the log's own full disk
                full = failures.disk_full(error, "a file")
                raise CliError.from_error(full) from error
            where = f"{error.filename}: " if error.filename else ""
            raise CliError(f"{where}{error.strerror or error}") from error


class EventLog(Protocol):
    """What ``log``, ``find``, ``get`` and ``delete`` need: an Engine or a daemon's Client."""

    def insert_events(
        self, events: Sequence[Event], sender: str | None = None
    ) -> list[int]: ...  # pragma: no cover

    def get_events(self, ids: Sequence[int]) -> list[Event | None]: ...  # pragma: no cover

    def find_event_ids(
        self,
        time_range: TimeRange | None,
        templates: Sequence[Event],
        storage_state: StorageState,
        limit: int,
        result_type: ResultType,
    ) -> list[int]: ...  # pragma: no cover

    def find_events(
        self,
        time_range: TimeRange | None,
        templates: Sequence[Event],
        storage_state: StorageState,
        limit: int,
        result_type: ResultType,
    ) -> Iterable[Event]: ...  # pragma: no cover

    def delete_events(self, ids: Sequence[int]) -> tuple[int, int] | None: ...  # pragma: no cover


@dataclass
class State:
    """What commands share: the data directory, the clock, the open engine or daemon."""

    data_dir: Path | None = None
    clock: Callable[[], int] = now_ms
    direct: bool = False
    _engine: Engine | None = field(default=None, repr=False)

    def engine(self) -> Engine:
        """The log, opened on first use and closed when the command ends.

        Opened as the daemon opens it (``takeover.open_log``): a Zeitgeist
        database to take over is migrated first, and the files are private.
        """
        if self._engine is None:
            from zeitbus.dbus import takeover  # the Zeitgeist importer: only when opening

            ctx = click.get_current_context()
            opened = takeover.open_log(Path(self.location), os.environ)
            self._engine = ctx.with_resource(opened)
        return self._engine

    def log(self) -> EventLog:
        """The running daemon of ``data_dir`` if there is one, else the log itself.

        Through the daemon, D-Bus monitors and feed followers see what the
        command writes at once; ``--direct`` works on the file regardless.
        """
        if not self.direct and discovery.find(self.path, self.location) is not None:
            from zeitbus.client import Client  # httpx: only when there is a daemon to talk to

            return click.get_current_context().with_resource(Client.connect(self.path))
        return self.engine()

    def time(self, value: str | None, option: str) -> int | None:
        """``value`` read as a time (relative to ``clock``), or None if not given."""
        if value is None:
            return None
        try:
            return parse_time(value, self.clock())
        except InvalidArgument as error:
            raise InvalidArgument(f"{option}: {error.message}") from None

    @property
    def location(self) -> str:
        """The log's file: the daemon's (``zeitbus.location``), or ``data_dir``'s."""
        return log_location(os.environ, self.data_dir)

    @property
    def path(self) -> Path:
        """The log's directory (InvalidArgument if the daemon's log is in memory)."""
        return data_dir_of(self.location)


pass_state = click.make_pass_decorator(State, ensure=True)


@click.group(cls=ZeitbusGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="ZEITBUS_DATA_DIR",
    help="Where the log lives [default: the daemon's: $ZEITGEIST_DATABASE_PATH, "
    "$ZEITGEIST_DATA_PATH, else $XDG_DATA_HOME/zeitbus; env ZEITBUS_DATA_DIR].",
)
@click.option(
    "--direct",
    is_flag=True,
    help="Work on the data directory itself even while a daemon serves it.",
)
@click.version_option(package_name="zeitbus", prog_name="zeitbus")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None, direct: bool) -> None:
    """Zeitbus: one timeline of everything that happens on your machines.

    Record events, query them with Zeitgeist's templates and result types,
    and move logs in and out as JSON Lines. Exit status: 0 on success, 1 on
    a failure (or nothing found to get or delete), 2 on bad input.
    """
    state = ctx.ensure_object(State)
    state.data_dir = data_dir
    state.direct = direct
