"""Upstream Zeitgeist 1.0.4's own test data, read from a git dir of its source at run time.

The files are upstream's (LGPL) and are never copied into this repository,
as with the upstream D-Bus suite (docs/dbus.md): ``ZG_SRC_GIT`` names a git
dir of the 1.0.4 source (e.g. the deepin-community/zeitgeist mirror), and
tests that need it skip without it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

# upstream's test/data/databases/*.sql: a Zeitgeist release, its schema version
UPGRADE_DUMPS = {"071": 3, "080": 4, "090~alpha1": 5, "090~alpha2": 5, "090~alpha3": 6}


def source_git() -> Path | None:
    """The git dir named by ``ZG_SRC_GIT``, if it is one."""
    configured = os.environ.get("ZG_SRC_GIT", "")
    return Path(configured) if configured and Path(configured).is_dir() else None


def missing() -> str | None:
    """Why upstream's test data cannot be read here, or None."""
    if source_git() is None:
        return "set ZG_SRC_GIT to a git dir of the Zeitgeist 1.0.4 source"
    return None


def read(path: str) -> str:
    """A file of upstream's source tree (HEAD) as text."""
    git = source_git()
    assert git is not None, missing()
    return subprocess.run(
        ["git", f"--git-dir={git}", "show", f"HEAD:{path}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def upgrade_database(name: str, target: Path) -> Path:
    """An old Zeitgeist database made as upstream's upgrade-test.py makes it."""
    conn = sqlite3.connect(target)
    try:
        conn.executescript(read(f"test/data/databases/{name}.sql"))
    finally:
        conn.close()
    return target


def upgrade_events() -> list[dict[str, Any]]:
    """The events every upgrade dump holds (test/data/upgrade_test.js), in id order."""
    events: list[dict[str, Any]] = json.loads(read("test/data/upgrade_test.js"))
    return events
