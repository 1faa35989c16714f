"""Shared fixtures: engines on real SQLite files in a temporary directory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from zeitbus import Engine

settings.register_profile(
    "ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """An engine on a fresh SQLite file (WAL mode, separate reader connections)."""
    with Engine.open(tmp_path / "data") as opened:
        yield opened
