"""A process that pulls a daemon's log into a file once, for tests that kill it (test_catch_up).

    python tests/sync/puller.py URL TOKEN LOG

Prints ``stored N`` (events it stored) when it has caught up.
"""

from __future__ import annotations

import asyncio
import sys

from zeitbus import Engine
from zeitbus.sync.http_peer import HttpPeer
from zeitbus.sync.local import LocalLog
from zeitbus.sync.replicator import Replication


async def main(url: str, token: str, log: str) -> int:
    with Engine.open(log) as engine:
        replication = Replication(HttpPeer(url, token=token), LocalLog(engine))
        try:
            status = await replication.run_once()
        finally:
            await replication.close()
    print("stored", status.events)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(*sys.argv[1:4])))
