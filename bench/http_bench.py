"""HTTP benchmark: Zeitbus's HTTP API next to ActivityWatch's aw-server 0.12 (issue 4).

    uv run python bench/http_bench.py --events 100000
    uv run python bench/http_bench.py --quick            # 10k events

Both servers run on 127.0.0.1 with their data in a temporary directory:
``python -m zeitbus daemon`` (no session bus, HTTP on a free port, a write
token) and ``aw-server --storage peewee`` from its own virtualenv
(``--aw-venv``, made on first use with aw-server 0.12 from PyPI, ``peewee<4``
and ``flask==2.2.5``, without which it answers 500). One blocking httpx
client drives both with the same events (bench/generate.py's seeded
TARGETS.md data; for aw-server each event is ``{"app": actor, "title":
text, "uri": first subject}``), alternating the servers request by request.

Measured: inserts one event per POST, then in batches of 100 and 1000 until
each holds N events; the 50 most recent events; one day of events; a
one-day summary (events per actor: Zeitbus's ``POST /summary``, aw-server's
query2 ``merge_events_by_keys(events, ["app"])``); Zeitbus's feed read
(``/changes``, with and without the events) and its Server-Sent Events
fan-out to 100 clients (aw-server has neither). Printed as a table with
ratios and PASS/FAIL against issue 4's targets, written as JSON to
bench/results/. Never run by the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.generate import generate_events
from zeitbus import Engine, Event
from zeitbus.jsonl import event_to_json

RESULTS = Path(__file__).resolve().parent / "results"
AW_PACKAGES = ("aw-server==0.12.*", "peewee<4", "flask==2.2.5")
DAY_MS = 86_400_000
JSON = {"Content-Type": "application/json"}
START_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_http(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited: {log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code < 500:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {START_TIMEOUT:.0f} s")
        time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def ensure_aw_venv(venv: Path) -> Path:
    """aw-server's virtualenv (made once); the path of its ``aw-server``."""
    binary = venv / "bin" / "aw-server"
    if not binary.exists():
        print(f"installing aw-server into {venv} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, *AW_PACKAGES], check=True)
    return binary


class Side:
    """One server: how to insert, query and summarize on it."""

    name: str
    client: httpx.Client

    def body(self, events: Sequence[Event]) -> bytes:
        """The JSON of an insert request for ``events`` (built before the clock starts)."""
        raise NotImplementedError

    def insert(self, body: bytes) -> None:
        raise NotImplementedError

    def recent(self) -> int:
        raise NotImplementedError

    def day(self, start: int) -> int:
        raise NotImplementedError

    def summary(self, start: int) -> int:
        raise NotImplementedError


class Zeitbus(Side):
    name = "zeitbus"

    def __init__(self, url: str, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        self.client = httpx.Client(base_url=url, headers=headers, timeout=120)

    def body(self, events: Sequence[Event]) -> bytes:
        return json.dumps([event_to_json(e) for e in events]).encode()

    def insert(self, body: bytes) -> None:
        answer = self.client.post("/events", content=body, headers=JSON)
        answer.raise_for_status()

    def recent(self) -> int:
        body = {"limit": 50, "page_size": 50}
        return len(self.client.post("/events/find", json=body).json()["events"])

    def day(self, start: int) -> int:
        body = {"time_range": [start, start + DAY_MS - 1], "page_size": 10_000}
        page = self.client.post("/events/find", json=body).json()
        count = len(page["events"])
        while page["next"]:
            page = self.client.get(f"/events/find/{page['next']}").json()
            count += len(page["events"])
        return count

    def summary(self, start: int) -> int:
        body = {"group": "actor", "time_range": [start, start + DAY_MS - 1]}
        return len(self.client.post("/summary", json=body).json()["groups"])


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


class ActivityWatch(Side):
    name = "aw-server"
    bucket = "zeitbus-bench"

    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=url + "/api/0", timeout=120)
        self.client.post(
            f"/buckets/{self.bucket}",
            json={"client": "bench", "type": "app.activity", "hostname": "bench"},
        ).raise_for_status()

    def body(self, events: Sequence[Event]) -> bytes:
        return json.dumps(
            [
                {
                    "timestamp": _iso(e.timestamp or 0),
                    "duration": 0,
                    "data": {
                        "app": e.actor,
                        "title": e.subjects[0].text if e.subjects else "",
                        "uri": e.subjects[0].uri if e.subjects else "",
                    },
                }
                for e in events
            ]
        ).encode()

    def insert(self, body: bytes) -> None:
        answer = self.client.post(f"/buckets/{self.bucket}/events", content=body, headers=JSON)
        answer.raise_for_status()

    def recent(self) -> int:
        return len(self.client.get(f"/buckets/{self.bucket}/events", params={"limit": 50}).json())

    def day(self, start: int) -> int:
        params: dict[str, str | int] = {
            "start": _iso(start),
            "end": _iso(start + DAY_MS - 1),
            "limit": -1,
        }
        return len(self.client.get(f"/buckets/{self.bucket}/events", params=params).json())

    def summary(self, start: int) -> int:
        query = {
            "timeperiods": [f"{_iso(start)}/{_iso(start + DAY_MS)}"],
            "query": [
                f'events = query_bucket("{self.bucket}");',
                'events = merge_events_by_keys(events, ["app"]);',
                "RETURN = sort_by_duration(events);",
            ],
        }
        answer = self.client.post("/query/", json=query)
        answer.raise_for_status()
        return len(answer.json()[0])


@contextlib.contextmanager
def zeitbus_daemon(data: Path, run_dir: Path, config: str) -> Iterator[tuple[str, str]]:
    """``zeitbus daemon`` (no session bus) serving ``data`` with ``config``: its URL, a token."""
    data.mkdir(parents=True, exist_ok=True)
    with Engine.open(data / "zeitbus.sqlite") as engine:
        token, _ = engine.create_token("write", "bench")
    config_path = run_dir / f"{data.name}-config.toml"
    config_path.write_text(config, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "DBUS_SESSION_BUS_ADDRESS"}
    env.update(ZEITBUS_CONFIG=str(config_path), ZEITGEIST_DATA_PATH=str(data))
    log = run_dir / f"{data.name}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "zeitbus", "daemon", "--log-level=WARNING", f"--log-file={log}"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        discovery = data / "daemon.json"
        deadline = time.monotonic() + START_TIMEOUT
        while not discovery.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"zeitbus did not start: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        yield json.loads(discovery.read_text())["url"], token
    finally:
        _stop(process)


@contextlib.contextmanager
def servers(run_dir: Path, aw_binary: Path) -> Iterator[tuple[Zeitbus, ActivityWatch]]:
    aw_port = _free_port()
    aw_home = run_dir / "aw"
    aw_env = dict(
        os.environ,
        HOME=str(aw_home),
        XDG_DATA_HOME=str(aw_home / "data"),
        XDG_CONFIG_HOME=str(aw_home / "config"),
        XDG_CACHE_HOME=str(aw_home / "cache"),
    )
    aw_log = run_dir / "aw.log"
    config = "[http]\nport = 0\nmax_streams = 200\n"
    with zeitbus_daemon(run_dir / "zeitbus", run_dir, config) as (url, token):
        with aw_log.open("wb") as sink:
            aw = subprocess.Popen(
                [str(aw_binary), "--port", str(aw_port), "--storage", "peewee"],
                env=aw_env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            _wait_http(f"http://127.0.0.1:{aw_port}/api/0/info", aw, aw_log)
            yield Zeitbus(url, token), ActivityWatch(f"http://127.0.0.1:{aw_port}")
        finally:
            _stop(aw)


def _timed(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def insert_stage(sides: Sequence[Side], events: Sequence[Event], size: int) -> dict[str, float]:
    """Insert ``events`` in batches of ``size``, alternating the servers; events/s each.

    Each request's JSON is made before its clock starts: what is timed is the
    server's work (and the round trip), not the benchmark client's encoding.
    """
    spent = {side.name: 0.0 for side in sides}
    for n, start in enumerate(range(0, len(events), size)):
        batch = events[start : start + size]
        order = sides if n % 2 == 0 else list(reversed(sides))
        for side in order:
            body = side.body(batch)
            spent[side.name] += _timed(lambda s=side, b=body: s.insert(b))  # type: ignore[misc]
    return {name: len(events) / seconds for name, seconds in spent.items()}


def query_stage(sides: Sequence[Side], call: Callable[[Side], Any], reps: int) -> dict[str, float]:
    """Median ms of ``call`` per server (alternating), after one warm-up each."""
    for side in sides:
        call(side)
    times: dict[str, list[float]] = {side.name: [] for side in sides}
    for n in range(reps):
        for side in sides if n % 2 == 0 else list(reversed(sides)):
            times[side.name].append(_timed(lambda side=side: call(side)) * 1000)  # type: ignore[misc]
    return {name: statistics.median(values) for name, values in times.items()}


def feed_stage(zeitbus: Zeitbus, include_docs: bool) -> float:
    """Rows/s reading the whole feed in one normal request."""
    params = {"include_docs": "true" if include_docs else "false"}
    start = time.perf_counter()
    rows = len(zeitbus.client.get("/changes", params=params).json()["results"])
    return rows / (time.perf_counter() - start)


async def _fan_out(url: str, token: str, clients: int, events: Sequence[Event]) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=clients + 4)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=300, limits=limits) as http:
        since = (await http.get("/")).json()["last_seq"]
        ready = asyncio.Semaphore(0)
        received: list[float] = []

        async def listen() -> None:
            params = {"feed": "eventsource", "since": str(since), "limit": str(len(events))}
            async with http.stream("GET", "/changes", params=params) as stream:
                ready.release()
                count = 0
                async for line in stream.aiter_lines():
                    if line.startswith("data: "):
                        count += 1
                received.append(time.perf_counter())
                assert count == len(events), count

        tasks = [asyncio.ensure_future(listen()) for _ in range(clients)]
        for _ in range(clients):
            await ready.acquire()
        start = time.perf_counter()
        for first in range(0, len(events), 100):
            batch = [event_to_json(e) for e in events[first : first + 100]]
            (await http.post("/events", json=batch)).raise_for_status()
        await asyncio.gather(*tasks)
        seconds = max(received) - start
    deliveries = clients * len(events)
    return {
        "clients": clients,
        "events": len(events),
        "seconds": seconds,
        "deliveries_per_s": deliveries / seconds,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="10k events")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--single", type=int, default=500, help="events posted one per request")
    parser.add_argument(
        "--aw-venv", type=Path, default=Path(tempfile.gettempdir()) / "zeitbus-aw-venv"
    )
    args = parser.parse_args(argv)
    n = 10_000 if args.quick else args.events
    aw_binary = ensure_aw_venv(args.aw_venv)
    fan_events = list(generate_events(n + 1000, args.seed))[n:]
    events = list(generate_events(n, args.seed))
    day = (events[n // 2].timestamp or 0) // DAY_MS * DAY_MS  # a UTC day mid-log
    result: dict[str, Any] = {"events": n, "seed": args.seed}
    with (
        tempfile.TemporaryDirectory(prefix="zb-http-bench-") as tmp,
        servers(Path(tmp), aw_binary) as (zb, aw),
    ):
        sides: list[Side] = [zb, aw]
        single = args.single
        batched = (n - single) // 5  # a fifth in batches of 100, the rest in batches of 1000
        plan = [
            (1, events[:single]),
            (100, events[single : single + batched]),
            (1000, events[single + batched :]),
        ]
        for size, chunk in plan:
            print(f"insert {len(chunk)} events in batches of {size} ...", flush=True)
            result[f"insert_{size}"] = insert_stage(sides, chunk, size)
        print("queries ...", flush=True)
        result["recent_50"] = query_stage(sides, lambda s: s.recent(), 50)
        result["one_day"] = query_stage(sides, lambda s: s.day(day), 20)
        result["one_day_summary"] = query_stage(sides, lambda s: s.summary(day), 20)
        result["day_sizes"] = {s.name: s.day(day) for s in sides}
        print("feed ...", flush=True)
        result["feed_rows_per_s"] = feed_stage(zb, include_docs=False)
        result["feed_docs_per_s"] = feed_stage(zb, include_docs=True)
        print("SSE fan-out to 100 clients ...", flush=True)
        token = zb.client.headers["Authorization"].removeprefix("Bearer ")
        result["sse_fan_out"] = asyncio.run(
            _fan_out(str(zb.client.base_url), token, 100, fan_events)
        )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"http_bench-{n}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    report(result)
    print(f"\nwritten to {out}")
    return 0


def report(r: dict[str, Any]) -> None:
    def row(
        name: str, unit: str, ours: float, theirs: float | None, target: str, ok: bool | None
    ) -> None:
        ratio = "" if not theirs else f"{ours / theirs:.3g}"
        verdict = "" if ok is None else ("PASS" if ok else "FAIL")
        their = "" if theirs is None else f"{theirs:,.4g}"
        print(f"{name:<42} {unit:<5} {ours:>10,.4g} {their:>10} {ratio:>7}  {target:<10} {verdict}")

    print(f"\nHTTP benchmark, {r['events']:,} events; ratio = zeitbus / aw-server")
    print(f"{'check':<42} {'unit':<5} {'zeitbus':>10} {'aw-server':>10} {'ratio':>7}  target")
    for size in (1, 100, 1000):
        z, a = r[f"insert_{size}"]["zeitbus"], r[f"insert_{size}"]["aw-server"]
        target = ">= 5" if size > 1 else ""
        row(f"insert, {size} per POST", "ev/s", z, a, target, z / a >= 5 if size > 1 else None)
    for key, label in (("recent_50", "50 most recent"), ("one_day", "one day of events")):
        row(label, "ms", r[key]["zeitbus"], r[key]["aw-server"], "", None)
    s = r["one_day_summary"]
    row(
        "one-day summary (events per actor)",
        "ms",
        s["zeitbus"],
        s["aw-server"],
        "< 100 ms",
        s["zeitbus"] < 100,
    )
    row(
        "feed read (rows)",
        "ev/s",
        r["feed_rows_per_s"],
        None,
        ">= 50k",
        r["feed_rows_per_s"] >= 50_000,
    )
    row("feed read (include_docs)", "ev/s", r["feed_docs_per_s"], None, "", None)
    fan = r["sse_fan_out"]
    row(
        f"SSE fan-out, {fan['clients']} clients x {fan['events']}",
        "del/s",
        fan["deliveries_per_s"],
        None,
        "",
        None,
    )


if __name__ == "__main__":
    raise SystemExit(main())
