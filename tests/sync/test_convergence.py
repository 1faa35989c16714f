"""Convergence: three nodes, random inserts, deletes, syncs, partitions and restarts, then healing.

Every node ends with the same events (by uid, with the same fields apart
from local ids), the same tombstones, no duplicate, and the same answers to
every result type. MoveEvents are not drawn yet: a move that reaches a
node before the events it moves leaves their current URI as it was there
(docs/sync.md, "Open"). The nodes sync in-process (``LocalLog`` on both sides of
the replicator); tests/sync/test_peers.py runs the same replicator over HTTP.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zeitbus import Engine, Event, ResultType, Subject, TimeRange
from zeitbus.model import StorageState
from zeitbus.ontology import ACCESS_EVENT, USER_ACTIVITY, ZG
from zeitbus.sync.local import LocalLog
from zeitbus.sync.replicator import Replication

NODES = 3
URIS = [f"file:///home/me/{name}" for name in ("a.txt", "b.odt", "c.png", "d.html")]
ACTORS = ["application://vim.desktop", "application://gimp.desktop"]

insert = st.tuples(
    st.just("insert"),
    st.integers(0, NODES - 1),
    st.integers(1, 1000),  # timestamp: nodes record in any order
    st.sampled_from(URIS),
    st.sampled_from(ACTORS),
    st.sampled_from([ACCESS_EVENT, ZG + "CreateEvent"]),
)
delete = st.tuples(st.just("delete"), st.integers(0, NODES - 1), st.integers(0, 50))
sync = st.tuples(st.just("sync"), st.integers(0, NODES - 1), st.integers(0, NODES - 1))
restart = st.tuples(st.just("restart"), st.integers(0, NODES - 1))
operations = st.lists(st.one_of(insert, insert, delete, sync, sync, restart), max_size=40)


class Cluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.engines = [Engine.open(root / f"node{n}") for n in range(NODES)]

    def close(self) -> None:
        for engine in self.engines:
            engine.close()

    def restart(self, n: int) -> None:
        self.engines[n].close()
        self.engines[n] = Engine.open(self.root / f"node{n}")

    async def sync(self, a: int, b: int) -> None:
        """``a`` pulls from ``b`` (and, for the same pair, ``b`` from ``a``)."""
        if a == b:
            return
        for source, target in ((b, a), (a, b)):
            replication = Replication(
                LocalLog(self.engines[source]), LocalLog(self.engines[target]), batch=7
            )
            try:
                await replication.run_once()
            finally:
                await replication.close()

    async def heal(self) -> None:
        for _ in range(2):  # any change reaches every node in two rounds of a full mesh
            for a in range(NODES):
                for b in range(a + 1, NODES):
                    await self.sync(a, b)


def picture(engine: Engine) -> dict[str, object]:
    """What must be equal on every node: events by uid, tombstones, and query answers.

    Answers are compared apart from local ids: Zeitgeist breaks ties (events
    of one timestamp, groups of one count) by local id, which differ from
    node to node. So each answer is compared as its events' timestamps in
    order and its set of uids, and a grouped answer also by its length.
    """
    events = {e.uid: e.with_changes(id=0) for e in engine.iter_events()}
    tombstones = sorted(c.uid for c in engine.changes(0, 1_000_000) if c.kind.value == "delete")
    answers: dict[str, object] = {}
    for result_type in ResultType:
        found = engine.find_events(TimeRange(), [], StorageState.ANY, 100, result_type)
        if result_type.name.endswith("_EVENTS"):
            answers[result_type.name] = ([e.timestamp for e in found], {e.uid for e in found})
        else:
            answers[result_type.name] = len(found)
    return {"events": events, "tombstones": tombstones, "answers": answers}


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(operations)
def test_every_node_ends_with_the_same_log(ops: list[tuple[object, ...]]) -> None:
    root = Path(tempfile.mkdtemp(prefix="zb-converge-"))
    cluster = Cluster(root)
    try:

        async def main() -> None:
            for op in ops:
                kind, n = op[0], int(op[1])  # type: ignore[call-overload]
                engine = cluster.engines[n]
                if kind == "insert":
                    _, _, ts, uri, actor, interpretation = op
                    engine.insert_events(
                        [
                            Event(
                                timestamp=int(ts),  # type: ignore[call-overload]
                                interpretation=str(interpretation),
                                manifestation=USER_ACTIVITY,
                                actor=str(actor),
                                subjects=(Subject(uri=str(uri)),),
                            )
                        ]
                    )
                elif kind == "delete":
                    stored = [e.id for e in engine.iter_events()]
                    if stored:
                        engine.delete_events([stored[int(op[2]) % len(stored)]])  # type: ignore[call-overload]
                elif kind == "sync":
                    await cluster.sync(n, int(op[2]))  # type: ignore[call-overload]
                else:
                    cluster.restart(n)
            await cluster.heal()

        asyncio.run(main())
        pictures = [picture(engine) for engine in cluster.engines]
        assert pictures[1] == pictures[0]
        assert pictures[2] == pictures[0]
        for engine in cluster.engines:  # no duplicate: each uid stored once
            uids = [e.uid for e in engine.iter_events()]
            assert len(uids) == len(set(uids))
    finally:
        cluster.close()
        shutil.rmtree(root, ignore_errors=True)
