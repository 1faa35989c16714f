"""A node offline for 100k events catches up; a kill -9 mid-catch-up loses and doubles nothing.

Node A is a real daemon serving a log of 100k events; the puller is a real
process (``tests/sync/puller.py``) killed with SIGKILL while it writes, then
run again: it resumes from the checkpoint stored with the last batch it
committed, and ends with every event once.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.http.daemons import make_token, spawn
from zeitbus import Engine, Event, Subject
from zeitbus.errors import InvalidKey
from zeitbus.ontology import ACCESS_EVENT, USER_ACTIVITY
from zeitbus.sync.replicator import cursor_name

EVENTS = 100_000
PULLER = Path(__file__).with_name("puller.py")


def backlog(count: int) -> list[Event]:
    return [
        Event(
            timestamp=1_767_225_600_000 + n * 1000,
            interpretation=ACCESS_EVENT,
            manifestation=USER_ACTIVITY,
            actor=f"application://app{n % 7}.desktop",
            subjects=(Subject(uri=f"file:///home/me/{n % 5000}.txt", text=f"note {n}"),),
        )
        for n in range(count)
    ]


def puller(url: str, token: str, log: Path) -> subprocess.Popen[bytes]:
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root))
    return subprocess.Popen(
        [sys.executable, str(PULLER), url, token, str(log)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def checkpoint(log: Path, node: str) -> int:
    with Engine.open(log) as engine:
        try:
            return engine.cursor(cursor_name(node))
        except InvalidKey:
            return 0


@pytest.fixture
def data() -> Iterator[Path]:
    """A data directory with a short path (the daemon's socket path must stay short)."""
    root = Path(tempfile.mkdtemp(prefix="zbs-"))
    try:
        yield root / "data"
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_a_node_offline_for_100k_events_catches_up_through_a_kill_9(data: Path) -> None:
    events = backlog(EVENTS)
    with Engine.open(data) as engine:
        for start in range(0, EVENTS, 10_000):
            engine.insert_events(events[start : start + 10_000])
        node = engine.node
    token = make_token(data, "read")
    a = spawn(data)
    here = data.parent / "here.sqlite"
    try:
        first = puller(a.url, token, here)
        # Kill it once it has committed a few batches but not all of them.
        deadline = time.monotonic() + 120
        while checkpoint(here, node) < 10_000:
            assert first.poll() is None, first.communicate()[1].decode()
            assert time.monotonic() < deadline, "the puller made no progress"
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.communicate()
        killed_at = checkpoint(here, node)
        assert 0 < killed_at < EVENTS
        second = puller(a.url, token, here)
        out, err = second.communicate(timeout=300)
        assert second.returncode == 0, err.decode()
        # The batch in flight at the kill was not committed, its checkpoint with it:
        # the second run stores exactly what the first had not.
        assert out.decode().split() == ["stored", str(EVENTS - killed_at)]
    finally:
        assert a.stop() == 0
    with Engine.open(here) as mine, Engine.open(data) as theirs:
        assert mine.cursor(cursor_name(node)) == theirs.last_seq() == EVENTS
        uids = [e.uid for e in mine.iter_events()]
        assert len(uids) == len(set(uids)) == EVENTS  # every event once
        assert mine.last_seq() == EVENTS  # one insert per event in the feed: nothing twice
        assert set(uids) == {e.uid for e in theirs.iter_events()}
