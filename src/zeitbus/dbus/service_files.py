"""Files that let the session bus and systemd start ``zeitbus daemon`` on demand.

Two files, both plain text and both ours (each starts with ``MARKER``, so
``--uninstall`` removes only what ``install-service`` wrote):

* a D-Bus session service activation file,
  ``$XDG_DATA_HOME/dbus-1/services/org.gnome.zeitgeist.Engine.service``
  (default ``~/.local/share``). The session bus reads ``$XDG_DATA_HOME``'s
  service directory before the system ones, so this file wins over
  zeitgeist-core's ``/usr/share/dbus-1/services`` file of the same name;
  the first call to ``org.gnome.zeitgeist.Engine`` then starts Zeitbus.
  ``SystemdService=`` lets a bus that activates through systemd start the
  unit below instead.
* a systemd user unit, ``$XDG_CONFIG_HOME/systemd/user/zeitbus.service``
  (default ``~/.config``), of ``Type=dbus``: systemd considers it started
  once it owns the bus name.

Installing writes a file only if its content differs (idempotent); the
result says, per file, whether it was written, unchanged or removed.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from zeitbus.dbus.log import ENGINE_BUS_NAME

MARKER = (
    "# Installed by `zeitbus install-service`; `zeitbus install-service --uninstall` removes it."
)
UNIT_NAME = "zeitbus.service"


def default_command() -> list[str]:
    """The daemon's command line: this interpreter running ``zeitbus daemon``."""
    return [sys.executable, "-m", "zeitbus", "daemon"]


def service_dir(environ: Mapping[str, str]) -> Path:
    """``$XDG_DATA_HOME/dbus-1/services``."""
    data_home = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "dbus-1" / "services"


def systemd_user_dir(environ: Mapping[str, str]) -> Path:
    """``$XDG_CONFIG_HOME/systemd/user``."""
    config_home = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "systemd" / "user"


def dbus_service_text(command: Sequence[str]) -> str:
    """The activation file for ``org.gnome.zeitgeist.Engine``."""
    return (
        f"{MARKER}\n[D-BUS Service]\nName={ENGINE_BUS_NAME}\n"
        f"Exec={shlex.join(command)}\nSystemdService={UNIT_NAME}\n"
    )


def systemd_unit_text(command: Sequence[str]) -> str:
    """The systemd user unit running the daemon."""
    return (
        f"{MARKER}\n[Unit]\nDescription=Zeitbus activity log (Zeitgeist D-Bus API)\n\n"
        f"[Service]\nType=dbus\nBusName={ENGINE_BUS_NAME}\nExecStart={shlex.join(command)}\n"
        "Restart=on-failure\n\n[Install]\nWantedBy=default.target\n"
    )


@dataclass(frozen=True, slots=True)
class Change:
    """What happened to one file: "written", "unchanged", "removed", "absent" or "kept"."""

    path: Path
    action: str


def _targets(services: Path, units: Path, command: Sequence[str]) -> list[tuple[Path, str]]:
    return [
        (services / f"{ENGINE_BUS_NAME}.service", dbus_service_text(command)),
        (units / UNIT_NAME, systemd_unit_text(command)),
    ]


def install(services: Path, units: Path, command: Sequence[str]) -> list[Change]:
    """Write both files where their content differs."""
    changes = []
    for path, text in _targets(services, units, command):
        # As bytes: a file that is not UTF-8 is only different, and rewritten.
        if path.is_file() and path.read_bytes() == text.encode("utf-8"):
            changes.append(Change(path, "unchanged"))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
        changes.append(Change(path, "written"))
    return changes


def uninstall(services: Path, units: Path) -> list[Change]:
    """Remove both files if they are ours; a file someone else wrote is kept."""
    changes = []
    for path, _ in _targets(services, units, default_command()):
        if not path.is_file():
            changes.append(Change(path, "absent"))
        elif path.read_text(encoding="utf-8", errors="replace").startswith(MARKER):
            path.unlink()
            changes.append(Change(path, "removed"))
        else:
            changes.append(Change(path, "kept"))
    return changes
