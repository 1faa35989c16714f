"""``config.toml``: where it is and reading it, for every table's settings.

The file is ``$XDG_CONFIG_HOME/zeitbus/config.toml`` (or the file
``ZEITBUS_CONFIG`` names); each part of Zeitbus reads its own table and
checks its own keys (``[http]``: ``zeitbus.http.settings``, ``[sync]``:
``zeitbus.sync.settings``). A file that cannot be read, is not UTF-8 or not
TOML is an InvalidArgument naming it: a daemon should not start on a config
it misreads.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zeitbus.errors import InvalidArgument


def config_path(environ: Mapping[str, str]) -> Path:
    """Where ``config.toml`` is read from."""
    named = environ.get("ZEITBUS_CONFIG", "")
    if named:
        return Path(named)
    base = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME", "~")) / ".config")
    return Path(os.path.expanduser(base)) / "zeitbus" / "config.toml"


def read(environ: Mapping[str, str]) -> tuple[dict[str, Any], str]:
    """The parsed file (empty if there is none) and its path, for messages."""
    path = config_path(environ)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}, str(path)
    except OSError as error:
        raise InvalidArgument(f"cannot read {path}: {error.strerror}") from None
    try:
        text = data.decode("utf-8")  # TOML is UTF-8
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - data.rfind(b"\n", 0, error.start)
        raise InvalidArgument(
            f"{path}: not valid UTF-8 at line {line}, column {column}: {error.reason}"
        ) from None
    try:
        return tomllib.loads(text), str(path)
    except tomllib.TOMLDecodeError as error:
        raise InvalidArgument(f"{path}: {error}") from None
