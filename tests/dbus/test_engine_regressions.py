"""Engine bugs found through the D-Bus daemon, kept as regression tests."""

from __future__ import annotations

from pathlib import Path

from zeitbus import Engine, TimeRange


def test_a_limit_above_int32_is_a_limit(tmp_path: Path) -> None:
    """num_events = 2**31 is just a large limit (Zeitgeist takes any uint32).

    Found by tests/dbus/test_fuzz.py: the store passed the limit to
    ``cursor.fetchmany()``, which takes a C int, and raised OverflowError.
    """
    with Engine.open(tmp_path / "log.sqlite") as engine:
        assert engine.find_event_ids(TimeRange.always(), [], 2, 2**31, 0) == []
