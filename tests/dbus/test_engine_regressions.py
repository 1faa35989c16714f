"""Engine bugs found through the D-Bus daemon, kept as failing tests until the engine is fixed.

Each test is a strict xfail: it fails today, and when the engine is fixed it
passes, which fails the run until the marker is removed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from zeitbus import Engine, TimeRange


@pytest.mark.xfail(
    strict=True,
    raises=OverflowError,
    reason="store/queries.py passes num_events to cursor.fetchmany(), which takes a C "
    "int: a limit of 2**31 or more (a valid uint32) raises OverflowError, which the "
    "daemon answers as org.freedesktop.DBus.Error.Failed (found by tests/dbus/test_fuzz.py)",
)
def test_a_limit_above_int32_is_a_limit(tmp_path: Path) -> None:
    """num_events = 2**31 is just a large limit (Zeitgeist takes any uint32)."""
    with Engine.open(tmp_path / "log.sqlite") as engine:
        assert engine.find_event_ids(TimeRange.always(), [], 2, 2**31, 0) == []
