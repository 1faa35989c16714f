"""``python -m zeitbus.dbus``: the daemon without the rest of the CLI (a faster start)."""

from zeitbus.dbus.cli import daemon

daemon(prog_name="zeitbus daemon")
