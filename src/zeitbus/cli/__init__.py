"""The ``zeitbus`` command line: commands over the engine (docs/cli.md)."""

from __future__ import annotations

import os
import sys

from zeitbus.cli import data as _data
from zeitbus.cli import events as _events
from zeitbus.cli import sync as _sync
from zeitbus.cli import tail as _tail
from zeitbus.cli import tokens as _tokens
from zeitbus.cli.app import CliError, State, cli

__all__ = ["CliError", "State", "cli", "main"]

_COMMANDS = (_data, _events, _sync, _tail, _tokens)  # imported for their @cli.command registrations


def main() -> None:
    """Run the CLI (the ``zeitbus`` console script and ``python -m zeitbus``)."""
    try:
        cli(prog_name="zeitbus")
    except BrokenPipeError:
        # The reader went away (``zeitbus export | head``): stop quietly, and
        # keep Python from complaining while it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)
