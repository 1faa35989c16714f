"""The ``zeitbus daemon`` command: zeitgeist-daemon's command line (docs/dbus.md).

Option errors exit with 1, as upstream's (GLib's option parser) do, not with
click's 2: scripts that start zeitgeist-daemon check for 0, 1, 10, 21 and 22.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from zeitbus.daemon import (
    LOG_LEVELS,
    Options,
    run,
    setup_logging,
    vacuum,
)
from zeitbus.dbus import service_files
from zeitbus.dbus.log import ZEITGEIST_VERSION
from zeitbus.dbus.session import EXIT_ERROR
from zeitbus.location import log_location

_OPTIONS = "--version -v --no-datahub --vacuum --replace -r --quit -q --log-level --log-file --help"


class DaemonUsageError(click.UsageError):
    """A bad daemon option: exit status 1, as upstream."""

    exit_code = EXIT_ERROR


class DaemonCommand(click.Command):
    """A click command whose usage errors exit with upstream's status 1."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Parse as click does; a usage error gets exit status 1."""
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as error:
            raise DaemonUsageError(error.message, error.ctx) from None


def _data_dir(ctx: click.Context) -> Path | None:
    """The group's --data-dir, when run as ``zeitbus [--data-dir D] daemon``."""
    found = getattr(ctx.find_root().obj, "data_dir", None)
    return found if isinstance(found, Path) else None


@click.command(
    "daemon",
    cls=DaemonCommand,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option("-v", "--version", "show_version", is_flag=True, help="Print the version and exit.")
@click.option("--no-datahub", is_flag=True, help="Accepted for compatibility (no datahub).")
@click.option("--no-passive-loggers", is_flag=True, hidden=True)
@click.option("--vacuum", "do_vacuum", is_flag=True, help="Compact the database and exit.")
@click.option("-r", "--replace", is_flag=True, help="Replace a running instance.")
@click.option("-q", "--quit", "do_quit", is_flag=True, help="Quit the running instance.")
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default="WARNING",
    show_default=True,
    help="How much to log.",
)
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Append the log to this file instead of stderr.",
)
@click.option(
    "--http-port",
    type=click.IntRange(0, 65535),
    help="Serve the HTTP API on this port (0: any free one) [default: 5680, or config.toml's].",
)
@click.option("--no-http", is_flag=True, help="Do not serve the HTTP API.")
@click.option("--shell-completion", is_flag=True, hidden=True)
@click.pass_context
def daemon(
    ctx: click.Context,
    show_version: bool,
    no_datahub: bool,
    no_passive_loggers: bool,
    do_vacuum: bool,
    replace: bool,
    do_quit: bool,
    log_level: str,
    log_file: Path | None,
    http_port: int | None,
    no_http: bool,
    shell_completion: bool,
) -> None:
    """Serve Zeitgeist's D-Bus API (org.gnome.zeitgeist.Engine) and the HTTP API.

    A drop-in replacement for zeitgeist-daemon 1.0.4. The log is
    $ZEITGEIST_DATABASE_PATH (":memory:" for none), else zeitbus.sqlite in
    $ZEITGEIST_DATA_PATH, else in Zeitbus's data directory (--data-dir).
    Exit status: 0 ok, 1 error, 10 another instance is running, 21 cannot
    open the database, 22 the database is locked.
    """
    if show_version:
        click.echo(".".join(map(str, ZEITGEIST_VERSION)))
        ctx.exit(0)
    if shell_completion:
        click.echo(_OPTIONS)
        ctx.exit(0)
    level = log_level.upper()
    data_dir = _data_dir(ctx)
    if do_vacuum:
        setup_logging(level, log_file)
        ctx.exit(vacuum(log_location(os.environ, data_dir)))
    options = Options(
        replace=replace,
        quit=do_quit,
        log_level=level,
        log_file=log_file,
        data_dir=data_dir,
        http=not no_http,
        http_port=http_port,
    )
    status = run(options)
    sys.stdout.flush()
    ctx.exit(status)


@click.command("install-service")
@click.option("--uninstall", "remove", is_flag=True, help="Remove the files instead.")
@click.option(
    "--dbus-service-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the D-Bus activation file goes [default: $XDG_DATA_HOME/dbus-1/services].",
)
@click.option(
    "--systemd-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the systemd user unit goes [default: $XDG_CONFIG_HOME/systemd/user].",
)
def install_service(remove: bool, dbus_service_dir: Path | None, systemd_dir: Path | None) -> None:
    """Let the session bus start `zeitbus daemon` when a Zeitgeist client calls it.

    Installs a D-Bus session service activation file for
    org.gnome.zeitgeist.Engine and a systemd user unit (zeitbus.service);
    running it again changes nothing, --uninstall removes both. Enable the
    unit with `systemctl --user enable zeitbus.service` if you want it
    started at login rather than on demand.
    """
    services = dbus_service_dir or service_files.service_dir(os.environ)
    units = systemd_dir or service_files.systemd_user_dir(os.environ)
    if remove:
        changes = service_files.uninstall(services, units)
    else:
        changes = service_files.install(services, units, service_files.default_command())
    for change in changes:
        click.echo(f"{change.action}: {change.path}")
