#!/bin/sh
# Stands in for ./src/zeitgeist-daemon when the upstream Zeitgeist D-Bus test
# suite runs against Zeitbus (docs/dbus.md): exec, so signals reach the daemon.
ROOT="$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)"
exec "$ROOT/.venv/bin/python" -m zeitbus.dbus "$@"
