"""D-Bus benchmark: Zeitbus's daemon next to Debian's zeitgeist-daemon 1.0.4 (issue 3).

    uv run python bench/dbus_bench.py --events 100000
    uv run python bench/dbus_bench.py --quick          # 10k events

Both daemons run side by side, each on a private ``dbus-daemon`` with its
data in a temporary directory: ``/usr/bin/zeitgeist-daemon --no-datahub``
(tests/zeitgeist_reference.py) and ``python -m zeitbus daemon --no-datahub``.
Both are driven by the same client, Debian's python3-zeitgeist under
/usr/bin/python3 (bench/zg_bench_client.py, one process per daemon), which
times each blocking D-Bus call itself, so the JSON-lines pipe between this
script and the clients is not measured. Every step alternates the two
daemons call by call (who goes first alternates too), so both see the same
machine. The data is bench/generate.py's seeded TARGETS.md distribution.

Measured: InsertEvents in batches of 100, 1000 and 1 while the logs grow to
N events; TARGETS.md's query set (FindEventIds, FindEvents, grouped result
types, all ids); GetEvents of 100 and 1000 random ids; FindRelatedUris;
monitor NotifyInsert latency; DeleteEvents in batches of 100; memory (VmRSS
after the inserts, VmHWM peak) and disk (every file in the data directory,
WAL included). Printed as a table of medians, p95s and ratios (ours/theirs)
with PASS/FAIL against issue 3's "Done when", and written as JSON to
bench/results/. docs/performance.md ("D-Bus benchmark (issue 3)") has the
method and the latest numbers. Never run by the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.zeitgeist_reference import (
    STOP_TIMEOUT,
    SYSTEM_PYTHON,
    ReferenceDaemonError,
    _clean_env,
    _wait_for_name,
    event_to_wire,
    missing,
    private_bus,
    reference_daemon,
)

from bench.engine_bench import (
    Report,
    checkpoint,
    fmt_ms,
    machine,
    percentile,
    source_version,
    stage,
)
from bench.generate import GENERATOR_VERSION, generate_events
from zeitbus import Event, RelevantResultType, ResultType, Subject
from zeitbus.ontology import NFO, ZG

Json = dict[str, Any]
RESULTS = Path(__file__).resolve().parent / "results"
CLIENT = Path(__file__).with_name("zg_bench_client.py")
SIDES = ("zeitbus", "zeitgeist")
ALWAYS = [0, 2**63 - 1]

# -- the client process ------------------------------------------------------------


class BenchClient:
    """bench/zg_bench_client.py under /usr/bin/python3, bound to one bus."""

    def __init__(self, bus_address: str) -> None:
        env = _clean_env()
        env["DBUS_SESSION_BUS_ADDRESS"] = bus_address
        for name in ("PYTHONPATH", "PYTHONHOME"):
            env.pop(name, None)
        self.process = subprocess.Popen(
            [str(SYSTEM_PYTHON), "-I", str(CLIENT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )

    def call(self, request: Json) -> Any:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None
        assert stdout is not None
        stdin.write(json.dumps(request) + "\n")
        stdin.flush()
        line = stdout.readline()
        if not line:
            raise ReferenceDaemonError("client", f"the client exited ({self.process.poll()})")
        reply = json.loads(line)
        if "error" in reply:
            raise ReferenceDaemonError(reply["error"], reply["message"])
        return reply["ok"]

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            with contextlib.suppress(OSError):
                self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


@dataclass
class Side:
    """One daemon under test: its process, data directory and client."""

    name: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    client: BenchClient
    ids: list[int] = field(default_factory=list)

    def status(self) -> dict[str, int]:
        """VmRSS and VmHWM of the daemon, in bytes."""
        out: dict[str, int] = {}
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(value.split()[0]) * 1024
        return out

    def disk(self) -> dict[str, int]:
        """Bytes of every file under the data directory."""
        return {
            str(p.relative_to(self.data_dir)): p.stat().st_size
            for p in sorted(self.data_dir.rglob("*"))
            if p.is_file()
        }


@contextlib.contextmanager
def zeitgeist_side(run_dir: Path) -> Iterator[Side]:
    with reference_daemon(run_dir) as daemon:
        client = BenchClient(daemon.bus_address)
        try:
            yield Side("zeitgeist", daemon.process, daemon.db_path.parent, client)
        finally:
            client.close()


@contextlib.contextmanager
def zeitbus_side(run_dir: Path) -> Iterator[Side]:
    data = run_dir / "zeitgeist"
    data.mkdir(parents=True)
    log = run_dir / "daemon.log"
    with private_bus(run_dir) as address:
        env = _clean_env()
        env.update(
            DBUS_SESSION_BUS_ADDRESS=address,
            ZEITGEIST_DATA_PATH=str(data),
            XDG_DATA_HOME=str(run_dir / "xdg-data"),
            XDG_CACHE_HOME=str(run_dir / "cache"),
            # Like for like: the reference runs without its full-text indexer (no
            # SimpleIndexer on its private bus), so ours runs without SearchEngine,
            # which would index every insert and add fts.sqlite to the disk figure.
            ZEITGEIST_DISABLED_EXTENSIONS="SearchEngine",
        )
        for name in ("ZEITGEIST_DATABASE_PATH", "ZEITBUS_DATA_DIR"):
            env.pop(name, None)
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "zeitbus",
                "daemon",
                "--no-datahub",
                "--log-level=WARNING",
                f"--log-file={log}",
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        client: BenchClient | None = None
        try:
            _wait_for_name(address, process, log)
            client = BenchClient(address)
            yield Side("zeitbus", process, data, client)
        finally:
            if client is not None:
                client.close()
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


# -- timings ---------------------------------------------------------------------


def summary(samples: Sequence[float], items: int = 1) -> Json:
    median = statistics.median(samples)
    return {
        "median_ms": median * 1000,
        "p95_ms": percentile(samples, 0.95) * 1000,
        "reps": len(samples),
        "items_per_call": items,
        "rate_per_s": items / median if median > 0 else math.inf,
    }


def alternate(sides: Sequence[Side], step: Callable[[Side, int], None], rounds: int) -> None:
    """``step(side, i)`` for every round, alternating which side goes first."""
    for i in range(rounds):
        order = sides if i % 2 == 0 else list(reversed(sides))
        for side in order:
            step(side, i)


def time_requests(
    sides: Sequence[Side],
    requests: Sequence[Json],
    *,
    min_reps: int,
    max_reps: int,
    budget: float,
) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Warm up with ``requests[0]``, then alternate timed calls until the budget."""
    counts: dict[str, int] = {}
    for side in sides:
        counts[side.name] = side.client.call({"cmd": "time", "request": requests[0]})["count"]
    samples: dict[str, list[float]] = {s.name: [] for s in sides}
    start = time.perf_counter()
    i = 0
    while i < max_reps and (i < min_reps or time.perf_counter() - start < budget):
        order = sides if i % 2 == 0 else list(reversed(sides))
        for side in order:
            req = requests[i % len(requests)]
            samples[side.name].append(side.client.call({"cmd": "time", "request": req})["time"])
        i += 1
    return samples, counts


# -- the data --------------------------------------------------------------------


def wire(events: Sequence[Event]) -> list[Json]:
    return [event_to_wire(e) for e in events]


def template(**fields: str) -> Json:
    """A one-field template in the client's wire form (subject fields prefixed s_)."""
    event_fields = {k: v for k, v in fields.items() if not k.startswith("s_")}
    subject_fields = {k[2:]: v for k, v in fields.items() if k.startswith("s_")}
    subjects = (Subject(**subject_fields),) if subject_fields else ()
    event_args: dict[str, Any] = event_fields
    return event_to_wire(Event(subjects=subjects, **event_args))


@dataclass
class Plan:
    """What goes where: the events in insertion order and the query picks."""

    n: int
    seed: int
    events: list[Event]
    extra: list[Event]  # inserted by the monitor-latency step, after the log
    top_actor: str
    top_mimetype: str
    busiest_file: str
    mid_file: str
    busiest_file_events: int
    mid_file_events: int


def plan(n: int, seed: int) -> Plan:
    extra_count = 60
    events = list(generate_events(n + extra_count, seed))
    log, extra = events[:n], events[n:]
    actors = Counter(e.actor for e in log)
    mimetypes = Counter(s.mimetype for e in log for s in e.subjects)
    files = Counter(
        uri for e in log for uri in {s.uri for s in e.subjects if s.uri.startswith("file://")}
    )
    busiest, busiest_count = files.most_common(1)[0]
    mids = sorted(uri for uri, c in files.items() if 10 <= c <= 20)
    mid = random.Random(seed).choice(mids) if mids else busiest
    return Plan(
        n=n,
        seed=seed,
        events=log,
        extra=extra,
        top_actor=actors.most_common(1)[0][0],
        top_mimetype=mimetypes.most_common(1)[0][0],
        busiest_file=busiest,
        mid_file=mid,
        busiest_file_events=busiest_count,
        mid_file_events=files[mid],
    )


# -- the steps -------------------------------------------------------------------


@dataclass
class Check:
    """One line of the verdict table."""

    name: str
    ours: float  # the measured quantity (events/s, ms or bytes/event)
    theirs: float
    unit: str
    target: str  # ">= 2" (ratio of rates) or "<= 0.5" (ratio of latencies), or ""

    @property
    def ratio(self) -> float:
        return self.ours / self.theirs if self.theirs else math.inf

    @property
    def verdict(self) -> str:
        if not self.target:
            return ""
        op, value = self.target.split()
        ok = self.ratio >= float(value) if op == ">=" else self.ratio <= float(value)
        return "PASS" if ok else "FAIL"


def bench_inserts(sides: Sequence[Side], p: Plan, single: int) -> Json:
    """Batches of 100 to 10% of N, then batches of 1000, then ``single`` one per call."""
    n_100 = min(p.n // 10, 10_000)
    n_single = min(single, p.n // 20)
    phases = [
        ("batch_100", 100, p.events[:n_100], 1000),
        ("batch_1000", 1000, p.events[n_100 : p.n - n_single], 5000),
        ("batch_1", 1, p.events[p.n - n_single :], 100),
    ]
    out: Json = {}
    for name, size, events, chunk in phases:
        with stage(f"insert {len(events)} events in batches of {size}"):
            times: dict[str, list[float]] = {s.name: [] for s in sides}
            chunks = [events[i : i + chunk] for i in range(0, len(events), chunk)]
            wires = [wire(c) for c in chunks]

            def step(
                side: Side,
                i: int,
                wires: list[list[Json]] = wires,
                size: int = size,
                times: dict[str, list[float]] = times,
            ) -> None:
                reply = side.client.call({"cmd": "insert_timed", "events": wires[i], "batch": size})
                times[side.name].extend(reply["times"])
                side.ids.extend(reply["ids"])

            alternate(sides, step, len(chunks))
        out[name] = {
            side: {
                **summary(t, size),
                "events": len(events),
                "total_s": sum(t),
                "rate_overall_per_s": len(events) / sum(t),
            }
            for side, t in times.items()
        }
    return out


def queries(p: Plan) -> list[tuple[str, str, list[Json]]]:
    """(name, kind, requests); kind is the verdict group (simple, grouped, related)."""

    def find(num: int, result_type: int, *templates: Json, cmd: str = "find_ids") -> Json:
        return {
            "cmd": cmd,
            "time_range": ALWAYS,
            "templates": list(templates),
            "storage_state": 2,
            "num": num,
            "result_type": result_type,
        }

    recent = ResultType.MOST_RECENT_EVENTS
    files = template(s_uri="file://*")
    return [
        ("FindEventIds 50 most recent", "simple", [find(50, recent)]),
        (
            "FindEventIds 50, actor",
            "simple",
            [find(50, recent, template(actor=p.top_actor))],
        ),
        (
            "FindEventIds 50, mimetype",
            "simple",
            [find(50, recent, template(s_mimetype=p.top_mimetype))],
        ),
        (
            "FindEventIds 50, AccessEvent",
            "simple",
            [find(50, recent, template(interpretation=ZG + "AccessEvent"))],
        ),
        (
            "FindEventIds 50, subject Document",
            "simple",
            [find(50, recent, template(s_interpretation=NFO + "Document"))],
        ),
        (
            "FindEventIds 50, Documents/* prefix",
            "simple",
            [find(50, recent, template(s_uri="file:///home/user/Documents/*"))],
        ),
        ("FindEvents 50 most recent", "simple", [find(50, recent, cmd="find_events")]),
        (
            "FindEvents 50, actor",
            "simple",
            [find(50, recent, template(actor=p.top_actor), cmd="find_events")],
        ),
        ("MostPopularSubjects 50", "grouped", [find(50, ResultType.MOST_POPULAR_SUBJECTS)]),
        ("MostRecentSubjects 50", "grouped", [find(50, ResultType.MOST_RECENT_SUBJECTS)]),
        ("MostPopularActor 50", "grouped", [find(50, ResultType.MOST_POPULAR_ACTOR)]),
        ("MostPopularMimeType 50", "grouped", [find(50, ResultType.MOST_POPULAR_MIMETYPE)]),
        ("all ids", "simple", [find(0, recent)]),
        (
            f"FindRelatedUris, a file with {p.mid_file_events} events",
            "related",
            [
                {
                    "cmd": "find_related",
                    "time_range": ALWAYS,
                    "templates": [template(s_uri=p.mid_file)],
                    "result_templates": [files],
                    "storage_state": 2,
                    "num": 10,
                    "result_type": RelevantResultType.RECENT,
                }
            ],
        ),
        (
            f"FindRelatedUris, the busiest file ({p.busiest_file_events} events)",
            "related",
            [
                {
                    "cmd": "find_related",
                    "time_range": ALWAYS,
                    "templates": [template(s_uri=p.busiest_file)],
                    "result_templates": [files],
                    "storage_state": 2,
                    "num": 10,
                    "result_type": RelevantResultType.RECENT,
                }
            ],
        ),
    ]


def random_index_sets(rng: random.Random, n: int, k: int, sets: int) -> list[list[int]]:
    return [rng.sample(range(n), min(k, n)) for _ in range(sets)]


def bench_queries(sides: Sequence[Side], p: Plan, budget: float) -> tuple[Json, list[str]]:
    """The query set, GetEvents; each request identical on both sides."""
    rng = random.Random(p.seed + 1)
    out: Json = {}
    kinds: list[str] = []
    named = queries(p)
    for name, kind, requests in named:
        slow = kind == "related"
        with stage(name):
            samples, counts = time_requests(
                sides,
                requests,
                min_reps=3 if slow else 10,
                max_reps=5 if slow else 60,
                budget=budget,
            )
        out[name] = {
            "kind": kind,
            **{s: {**summary(t), "results": counts[s]} for s, t in samples.items()},
        }
        kinds.append(kind)
    # GetEvents: the same positions in each side's id list (the ids may differ).
    for k in (100, 1000):
        name = f"GetEvents {k} random ids"
        index_sets = random_index_sets(rng, len(sides[0].ids), k, 20)
        with stage(name):
            samples = {s.name: [] for s in sides}
            counts = {}
            for i, indexes in enumerate([index_sets[0], *index_sets]):
                order = sides if i % 2 == 0 else list(reversed(sides))
                for side in order:
                    req = {"cmd": "get", "ids": [side.ids[j] for j in indexes]}
                    reply = side.client.call({"cmd": "time", "request": req})
                    if i:  # the first round warms up
                        samples[side.name].append(reply["time"])
                    counts[side.name] = reply["count"]
        out[name] = {
            "kind": "simple",
            **{s: {**summary(t), "results": counts[s]} for s, t in samples.items()},
        }
    return out, kinds


def bench_monitor(sides: Sequence[Side], p: Plan) -> Json:
    """NotifyInsert latency of a monitor with no template, one event per call."""
    paths = {
        s.name: s.client.call({"cmd": "install_monitor", "time_range": ALWAYS, "templates": []})
        for s in sides
    }
    notify: dict[str, list[float]] = {s.name: [] for s in sides}
    reply: dict[str, list[float]] = {s.name: [] for s in sides}
    events = wire(p.extra)

    def step(side: Side, i: int) -> None:
        got = side.client.call({"cmd": "monitor_latency", "events": [events[i]]})
        notify[side.name].extend(got["notify"])
        reply[side.name].extend(got["reply"])

    with stage("monitor latency"):
        alternate(sides, step, len(events))
    for s in sides:
        s.client.call({"cmd": "remove_monitor", "path": paths[s.name]})
    return {s: {"notify": summary(notify[s]), "reply": summary(reply[s])} for s in notify}


def bench_deletes(sides: Sequence[Side], p: Plan, batches: int) -> Json:
    """DeleteEvents of random ids: ``4 * batches`` calls of one id, then ``batches`` of 100.

    TARGETS.md's anchor has both ("142 ms for one, 18 s for 100"): a Zeitgeist
    delete pays a fixed cost per call, so the two sizes give different ratios.
    """
    rng = random.Random(p.seed + 2)
    n = len(sides[0].ids)
    singles = 4 * batches
    positions = rng.sample(range(n), min(n, singles + 100 * batches))
    plans = {
        "batch_1": [[j] for j in positions[:singles]],
        "batch_100": [positions[i : i + 100] for i in range(singles, len(positions), 100)],
    }
    out: Json = {}
    for key, chunks in plans.items():
        size = len(chunks[0]) if chunks else 0
        with stage(f"DeleteEvents, {len(chunks)} calls of {size}"):
            times = _time_deletes(sides, chunks)
        out[key] = {name: summary(t, size) for name, t in times.items()}
    return out


def _time_deletes(sides: Sequence[Side], chunks: list[list[int]]) -> dict[str, list[float]]:
    """One DeleteEvents call per chunk of log positions, alternating the sides."""
    times: dict[str, list[float]] = {s.name: [] for s in sides}

    def step(side: Side, i: int) -> None:
        req = {"cmd": "delete", "ids": [side.ids[j] for j in chunks[i]]}
        times[side.name].append(side.client.call({"cmd": "time", "request": req})["time"])

    alternate(sides, step, len(chunks))
    return times


def memory_and_disk(sides: Sequence[Side], n: int) -> Json:
    out: Json = {}
    for side in sides:
        disk = side.disk()
        out[side.name] = {
            "status": side.status(),
            "files": disk,
            "disk_bytes": sum(disk.values()),
            "bytes_per_event": sum(disk.values()) / n,
        }
    return out


# -- the report ------------------------------------------------------------------


def checks(result: Json) -> list[Check]:
    ins = result["inserts"]
    out = [
        Check(
            f"InsertEvents, batches of {k}",
            ins[f"batch_{k}"]["zeitbus"]["rate_overall_per_s"],
            ins[f"batch_{k}"]["zeitgeist"]["rate_overall_per_s"],
            "ev/s",
            target,
        )
        for k, target in ((1, ">= 1"), (100, ">= 2"), (1000, ">= 2"))
    ]
    targets = {"simple": "<= 1", "grouped": "<= 0.5", "related": "<= 0.1"}
    for name, q in result["queries"].items():
        out.append(
            Check(
                name,
                q["zeitbus"]["median_ms"],
                q["zeitgeist"]["median_ms"],
                "ms",
                targets[q["kind"]],
            )
        )
    if "monitor" in result:
        m = result["monitor"]
        out.append(
            Check(
                "monitor NotifyInsert latency",
                m["zeitbus"]["notify"]["median_ms"],
                m["zeitgeist"]["notify"]["median_ms"],
                "ms",
                "",
            )
        )
    if "deletes" in result:
        for key, d in result["deletes"].items():
            out.append(
                Check(
                    f"DeleteEvents, {key.replace('_', ' ')} per call",
                    d["zeitbus"]["rate_per_s"],
                    d["zeitgeist"]["rate_per_s"],
                    "ev/s",
                    ">= 200",
                )
            )
    for when in ("after_inserts", "after_stop", "after_checkpoint"):
        if when in result.get("footprint", {}):
            f = result["footprint"][when]
            out.append(
                Check(
                    f"disk ({when.replace('_', ' ')}), bytes/event",
                    f["zeitbus"]["bytes_per_event"],
                    f["zeitgeist"]["bytes_per_event"],
                    "B/ev",
                    "<= 0.5",
                )
            )
    memory = (
        ("at_start", "VmRSS", "memory at start (RSS)"),
        ("after_inserts", "VmRSS", "memory after inserts (RSS)"),
        ("after_queries", "VmRSS", "memory after queries (RSS)"),
        ("after_queries", "VmHWM", "memory peak (VmHWM)"),
    )
    for when, key, label in memory:
        if when in result.get("footprint", {}):
            f = result["footprint"][when]
            ours = f["zeitbus"]["status"].get(key, 0) / 2**20
            theirs = f["zeitgeist"]["status"].get(key, 0) / 2**20
            out.append(Check(label + ", MiB", ours, theirs, "MiB", ""))
    return out


def fmt(value: float, unit: str) -> str:
    if unit == "ms":
        return fmt_ms(value / 1000)
    if unit == "MiB":
        return f"{value:.1f}"
    return f"{value:,.0f}"


def print_report(report: Report, result: Json) -> None:
    rows = []
    for c in checks(result):
        p95 = ""
        q = result["queries"].get(c.name)
        if q is not None:
            ours, theirs = q["zeitbus"]["p95_ms"] / 1000, q["zeitgeist"]["p95_ms"] / 1000
            p95 = f"{fmt_ms(ours)} / {fmt_ms(theirs)}"
        rows.append(
            [
                c.name,
                c.unit,
                fmt(c.ours, c.unit),
                fmt(c.theirs, c.unit),
                p95,
                f"{c.ratio:.3g}",
                c.target,
                c.verdict,
            ]
        )
    report.table(
        ["check", "unit", "zeitbus", "zeitgeist", "p95 ours/theirs", "ratio", "target", ""],
        rows,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Zeitbus vs zeitgeist-daemon over D-Bus")
    parser.add_argument("--events", type=int, default=100_000, help="size of the logs")
    parser.add_argument("--quick", action="store_true", help="10k events")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--single", type=int, default=1000, help="events inserted one per call")
    parser.add_argument("--budget", type=float, default=3.0, help="seconds per query (both)")
    parser.add_argument(
        "--delete-batches",
        type=int,
        default=5,
        help="DeleteEvents of 100 ids (and four times as many calls of one id)",
    )
    args = parser.parse_args(argv)
    n = 10_000 if args.quick else args.events
    reason = missing()
    if reason is not None:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    report = Report()
    started = time.time()
    result: Json = {
        "events": n,
        "seed": args.seed,
        "generator_version": GENERATOR_VERSION,
        "machine": machine(),
        "source": source_version(),
    }
    with stage(f"generate {n} events"):
        p = plan(n, args.seed)
    result["picks"] = {
        "actor": p.top_actor,
        "mimetype": p.top_mimetype,
        "busiest_file": [p.busiest_file, p.busiest_file_events],
        "file_10_20": [p.mid_file, p.mid_file_events],
    }
    with (
        tempfile.TemporaryDirectory(prefix="zb-dbus-bench-") as tmp,
        zeitbus_side(Path(tmp) / "zeitbus") as ours,
        zeitgeist_side(Path(tmp) / "zeitgeist") as theirs,
    ):
        sides = [ours, theirs]
        result["footprint"] = {"at_start": {s.name: {"status": s.status()} for s in sides}}
        result["inserts"] = bench_inserts(sides, p, args.single)
        assert len(ours.ids) == len(theirs.ids) == n, (len(ours.ids), len(theirs.ids))
        # Zeitbus folds and truncates its WAL once the writes have paused for 1 s;
        # measure both sides after that (Zeitgeist keeps its WAL either way).
        time.sleep(1.5)
        result["footprint"]["after_inserts"] = memory_and_disk(sides, n)
        result["queries"], _ = bench_queries(sides, p, args.budget)
        result["monitor"] = bench_monitor(sides, p)
        result["deletes"] = bench_deletes(sides, p, args.delete_batches)
        result["footprint"]["after_queries"] = memory_and_disk(sides, n)
        # A clean stop checkpoints the WAL: measure the files once both are gone.
        data_dirs = {s.name: s for s in sides}
        for side in sides:
            side.client.close()
        for side in sides:
            side.process.send_signal(signal.SIGTERM)
        for side in sides:
            side.process.wait(timeout=STOP_TIMEOUT)
        result["footprint"]["after_stop"] = {
            name: {
                "files": s.disk(),
                "disk_bytes": sum(s.disk().values()),
                "bytes_per_event": sum(s.disk().values()) / n,
            }
            for name, s in data_dirs.items()
        }
        # Zeitgeist leaves its WAL behind on SIGTERM: fold both WALs into their
        # database files (TRUNCATE) and count the files again.
        for side in sides:
            for db in side.data_dir.glob("*.sqlite"):
                checkpoint(db)
        result["footprint"]["after_checkpoint"] = {
            name: {
                "files": s.disk(),
                "disk_bytes": sum(s.disk().values()),
                "bytes_per_event": sum(s.disk().values()) / n,
            }
            for name, s in data_dirs.items()
        }
    result["elapsed_s"] = time.time() - started
    report()
    report(f"D-Bus benchmark, {n:,} events (seed {args.seed}); ratio = zeitbus / zeitgeist")
    print_report(report, result)
    result["report"] = report.lines
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2)
    (RESULTS / f"dbus_bench-{n}.json").write_text(text)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"dbus_bench-{n}-{stamp}.json").write_text(text)
    print(f"\nwritten to {RESULTS / f'dbus_bench-{n}.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
