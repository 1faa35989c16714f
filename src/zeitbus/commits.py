"""The engine's commits as wake-ups on an asyncio loop.

The engine calls its commit hooks in whichever thread committed (a worker
thread, mostly). The tasks that follow the log (feed streams, D-Bus
monitors, the full-text index) want to be woken on their own loop; this is
that bridge, written once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from zeitbus.engine import Engine


def on_commit(engine: Engine, wake: Callable[[], None]) -> Callable[[], None]:
    """Call ``wake`` on the running loop after each commit; returns what stops it."""
    loop = asyncio.get_running_loop()

    def hook() -> None:
        # A closed loop means the daemon is stopping: nothing is left to wake.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(wake)

    engine.add_commit_hook(hook)
    return lambda: engine.remove_commit_hook(hook)
