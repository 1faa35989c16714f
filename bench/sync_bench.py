"""Sync benchmark: catch-up and live latency between two Zeitbus nodes (issue 14).

    uv run python bench/sync_bench.py --events 100000
    uv run python bench/sync_bench.py --quick            # 20k events

Node A is a real ``zeitbus daemon`` (no session bus, HTTP on a free port)
whose log holds N events of bench/generate.py's seeded data, written before
it starts. Node B is a fresh log in this process. Measured side by side:

* **catch-up**: B pulls A's whole log over loopback HTTP
  (``Replication(HttpPeer(A), LocalLog(B))``), events/s;
* **the floor**: the same events inserted into another fresh log in this
  process with ``Engine.insert_events`` in the replication's batch size
  (B's own insert rate), and with ``Engine.receive`` (the write half of a
  catch-up, without HTTP);
* **live latency**: B follows A live while a client inserts one event per
  POST on A at 100 events/s; from just before the POST until the event is
  committed on B (B's commit hook), median and p99.

Printed with ratios against issue 14's targets (catch-up >= 0.8x the floor;
live median < 20 ms, p99 < 100 ms) and written as JSON to bench/results/.
The CouchDB comparisons (pouchdb-server's own replicator, encryption) join
once sync through CouchDB lands. Never run by the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.generate import batched, generate_events
from bench.http_bench import zeitbus_daemon
from zeitbus import Engine, Event, Subject
from zeitbus.jsonl import event_to_json
from zeitbus.ontology import ACCESS_EVENT, USER_ACTIVITY
from zeitbus.sync.http_peer import HttpPeer
from zeitbus.sync.local import LocalLog
from zeitbus.sync.replicator import BATCH, Replication

RESULTS = Path(__file__).resolve().parent / "results"


def daemon(data: Path, run_dir: Path) -> AbstractContextManager[tuple[str, str]]:
    """A daemon serving ``data`` over HTTP; its URL and a write token."""
    return zeitbus_daemon(data, run_dir, "[http]\nport = 0\n")


def fill(data: Path, count: int) -> float:
    """A's log with ``count`` events; the seconds it took (not a figure of the benchmark)."""
    start = time.perf_counter()
    with Engine.open(data) as engine:
        for batch in batched(generate_events(count), 1000):
            engine.insert_events(batch)
    return time.perf_counter() - start


def floor(events: list[Event], run_dir: Path, size: int) -> dict[str, float]:
    """B's own rates for the same events in batches of ``size``: insert, and receive."""
    rates = {}
    with Engine.open(run_dir / "floor-insert") as engine:
        fresh = list(generate_events(len(events)))  # as A's were inserted (no uid, no move done)
        start = time.perf_counter()
        for n in range(0, len(fresh), size):
            engine.insert_events(fresh[n : n + size])
        rates["insert"] = len(events) / (time.perf_counter() - start)
    with Engine.open(run_dir / "floor-receive") as engine:
        start = time.perf_counter()
        for n in range(0, len(events), size):
            engine.receive(events[n : n + size], source=events[0].node)
        rates["receive"] = len(events) / (time.perf_counter() - start)
    return rates


async def catch_up(url: str, token: str, run_dir: Path) -> tuple[float, int]:
    """B pulls A's log: events/s and events stored."""
    with Engine.open(run_dir / "b") as engine:
        replication = Replication(HttpPeer(url, token=token), LocalLog(engine))
        start = time.perf_counter()
        try:
            status = await replication.run_once()
        finally:
            await replication.close()
        elapsed = time.perf_counter() - start
        return status.events / elapsed, status.events


def _live_event(n: int) -> dict[str, Any]:
    event = Event(
        timestamp=int(time.time() * 1000),
        interpretation=ACCESS_EVENT,
        manifestation=USER_ACTIVITY,
        actor="application://bench.desktop",
        subjects=(Subject(uri=f"file:///bench/live/{n}"),),
    )
    return event_to_json(event)


async def live(url: str, token: str, run_dir: Path, count: int, rate: float) -> list[float]:
    """Latencies (ms) from just before an insert on A until it is committed on B."""
    sent: dict[str, float] = {}
    with Engine.open(run_dir / "live-b") as engine:
        # The hook only notes when each commit happened and the highest local id it
        # left (an attribute, no read): reading the log inside a commit hook held
        # up B's next write (the first version of this benchmark lost events so).
        commits: list[tuple[float, int]] = []
        engine.add_commit_hook(lambda: commits.append((time.perf_counter(), engine.store.last_id)))
        stop = asyncio.Event()
        replication = Replication(HttpPeer(url, token=token), LocalLog(engine))
        following = asyncio.ensure_future(replication.run(stop))
        while replication.status.state != "live":
            await asyncio.sleep(0.01)
        first_id = engine.store.last_id  # the catch-up's events come before
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as client:
            start = time.perf_counter()
            for n in range(count):
                due = start + n / rate
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                body = [_live_event(n)]
                uri = body[0]["subjects"][0]["uri"]
                sent[uri] = time.perf_counter()
                answer = await client.post("/events", json=body)
                answer.raise_for_status()
            deadline = time.perf_counter() + 10
            while engine.store.last_id < first_id + count and time.perf_counter() < deadline:
                await asyncio.sleep(0.01)
        stop.set()
        await following
        await replication.close()
        arrived: dict[str, float] = {}
        done = first_id
        for at, last_id in commits:
            for event in engine.get_events(list(range(done + 1, last_id + 1))):
                if event is not None:
                    arrived[event.subjects[0].uri] = at
            done = max(done, last_id)
    return [(arrived[uri] - t0) * 1000 for uri, t0 in sent.items() if uri in arrived]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="20k events, 200 live inserts")
    parser.add_argument("--live", type=int, default=1000, help="live inserts (at 100/s)")
    args = parser.parse_args(argv)
    count, live_count = (20_000, 200) if args.quick else (args.events, args.live)
    with tempfile.TemporaryDirectory(prefix="zb-sync-bench-") as tmp:
        run_dir = Path(tmp)
        a_data = run_dir / "a"
        filled = fill(a_data, count)
        print(f"A holds {count:,} events (filled in {filled:.1f} s)", flush=True)
        with Engine.open(a_data) as a:
            events = list(a.iter_events())
        rates = floor(events, run_dir, BATCH)
        with daemon(a_data, run_dir) as (url, token):
            pulled, stored = asyncio.run(catch_up(url, token, run_dir))
            assert stored == count, f"B stored {stored} of {count}"
            latencies = asyncio.run(live(url, token, run_dir, live_count, 100.0))
    latencies.sort()
    result = {
        "events": count,
        "batch": BATCH,
        "catch_up_events_per_s": pulled,
        "floor_insert_events_per_s": rates["insert"],
        "floor_receive_events_per_s": rates["receive"],
        "catch_up_vs_insert": pulled / rates["insert"],
        "live_count": len(latencies),
        "live_median_ms": statistics.median(latencies),
        "live_p99_ms": latencies[int(0.99 * (len(latencies) - 1))],
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    report(result)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"sync-{count}-{int(time.time())}.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written to {out}")
    return 0


def report(r: dict[str, Any]) -> None:
    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    print(f"\n{r['events']:,} events, batches of {r['batch']}")
    print(f"  catch-up A -> B over HTTP   {r['catch_up_events_per_s']:>10,.0f} events/s")
    print(f"  B's own insert_events       {r['floor_insert_events_per_s']:>10,.0f} events/s")
    print(f"  B's own receive (no HTTP)   {r['floor_receive_events_per_s']:>10,.0f} events/s")
    ratio = r["catch_up_vs_insert"]
    print(f"  catch-up / insert floor     {ratio:>10.2f}x  (>= 0.8x: {verdict(ratio >= 0.8)})")
    median, p99 = r["live_median_ms"], r["live_p99_ms"]
    print(
        f"  live latency ({r['live_count']} at 100/s)  median {median:.1f} ms "
        f"({verdict(median < 20)} < 20), p99 {p99:.1f} ms ({verdict(p99 < 100)} < 100)"
    )


if __name__ == "__main__":
    raise SystemExit(main())
