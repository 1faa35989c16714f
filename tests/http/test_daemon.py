"""``zeitbus daemon`` serving HTTP as a real process: sockets, tokens, streams, crashes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.http.conftest import event_json
from tests.zeitgeist_reference import _clean_env

START_TIMEOUT = 30.0
T0 = 1_767_225_600_000


@dataclass
class Daemon:
    """A daemon without a session bus, serving HTTP on a free port."""

    data: Path
    process: subprocess.Popen[bytes]
    url: str
    socket: str

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        return self.process.wait(timeout=START_TIMEOUT)


def _env(data: Path) -> dict[str, str]:
    env = _clean_env()  # no DBUS_SESSION_BUS_ADDRESS: the daemon runs without a bus
    config = data.parent / "config.toml"
    config.write_text("[http]\nport = 0\n", encoding="utf-8")
    env.update(ZEITBUS_CONFIG=str(config), ZEITGEIST_DATA_PATH=str(data))
    for name in ("ZEITGEIST_DATABASE_PATH", "ZEITBUS_DATA_DIR"):
        env.pop(name, None)
    return env


def spawn(data: Path) -> Daemon:
    """Start the daemon and wait (with a deadline) for its daemon.json."""
    discovery = data / "daemon.json"
    discovery.unlink(missing_ok=True)
    log = data.parent / "daemon.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "zeitbus", "daemon", "--log-level=INFO", f"--log-file={log}"],
        env=_env(data),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + START_TIMEOUT
    while not discovery.exists():
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "the daemon never wrote daemon.json"
        time.sleep(0.01)
    info = json.loads(discovery.read_text())
    assert info["pid"] == process.pid
    return Daemon(data, process, info["url"], info["socket"])


def make_token(data: Path, scope: str) -> str:
    """A token made with the CLI, as a user would."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "zeitbus",
            "--data-dir",
            str(data),
            "token",
            "create",
            "--scope",
            scope,
        ],
        capture_output=True,
        text=True,
        check=True,
        env=_env(data),
    )
    return done.stdout.strip()


@pytest.fixture
def data() -> Iterator[Path]:
    """A data directory with a short path (a Unix socket path must stay under 104 bytes)."""
    root = Path(tempfile.mkdtemp(prefix="zbh-"))
    (root / "data").mkdir()
    try:
        yield root / "data"
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_daemon_serves_http_without_a_session_bus(data: Path) -> None:
    token = make_token(data, "write")
    daemon = spawn(data)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=daemon.url, headers=headers) as client:
            stored = client.post("/events", json=[event_json("file:///a", T0)]).json()
            assert stored["ids"] == [1]
            found = client.post("/events/find", json={"ids_only": True}).json()
            assert found["ids"] == [1]
        with httpx.Client(base_url=daemon.url) as anonymous:
            assert anonymous.get("/stats").status_code == 401
        transport = httpx.HTTPTransport(uds=daemon.socket)
        with httpx.Client(transport=transport, base_url="http://zeitbus") as owner:
            assert owner.get("/stats").json()["events"] == 1  # the owner's socket: no token
        assert os.stat(daemon.socket).st_mode & 0o777 == 0o600
    finally:
        assert daemon.stop() == 0
    assert not (data / "daemon.json").exists()
    assert not Path(daemon.socket).exists()


def test_heartbeats_are_bytes_on_the_wire_until_a_change_comes(data: Path) -> None:
    daemon = spawn(data)
    try:
        transport = httpx.HTTPTransport(uds=daemon.socket)
        with httpx.Client(transport=transport, base_url="http://zeitbus", timeout=30) as client:
            params = {"feed": "continuous", "since": "now", "heartbeat": "50"}
            with client.stream("GET", "/changes", params=params) as feed:
                chunks = feed.iter_raw()
                for _ in range(3):
                    assert next(chunks) == b"\n"  # a heartbeat: one newline, nothing else
                with httpx.Client(transport=httpx.HTTPTransport(uds=daemon.socket)) as writer:
                    writer.post("http://zeitbus/events", json=[event_json("file:///a", T0)])
                received = b""
                while not received.strip():
                    received += next(chunks)
                while not received.endswith(b"\n"):
                    received += next(chunks)
                row = json.loads(received.strip().split(b"\n")[-1])
                assert row["seq"] == 1
                assert row["event_id"] == 1
    finally:
        assert daemon.stop() == 0


def _insert_until_stopped(url: str, token: str, stop: threading.Event, acked: list[Any]) -> None:
    """Post batches of 20 events; record each batch the daemon acknowledged."""
    n = 0
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
        while not stop.is_set():
            batch = [event_json(f"file:///{n}/{k}", T0 + n * 100 + k) for k in range(20)]
            try:
                answer = client.post("/events", json=batch)
            except httpx.HTTPError:
                return  # the daemon is gone: this batch was never acknowledged
            if answer.status_code == 200:
                acked.append((batch, answer.json()["ids"]))
            n += 1


def test_kill_9_during_sustained_inserts_loses_nothing_acknowledged(data: Path) -> None:
    token = make_token(data, "write")
    daemon = spawn(data)
    stop = threading.Event()
    acked: list[Any] = []
    writer = threading.Thread(target=_insert_until_stopped, args=(daemon.url, token, stop, acked))
    writer.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while len(acked) < 50:  # about a thousand events acknowledged, and still writing
            assert time.monotonic() < deadline
            assert writer.is_alive()
            time.sleep(0.005)
        daemon.process.kill()
        daemon.process.wait()
    finally:
        stop.set()
        writer.join()
    restarted = spawn(data)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=restarted.url, headers=headers, timeout=60) as client:
            for batch, ids in acked:
                got = client.get("/events", params={"ids": ",".join(map(str, ids))}).json()
                for sent, stored in zip(batch, got["events"], strict=True):
                    assert stored is not None
                    assert stored["subjects"][0]["uri"] == sent["subjects"][0]["uri"]
                    assert stored["timestamp"] == sent["timestamp"]
            feed = client.get("/changes").json()
            seqs = [row["seq"] for row in feed["results"]]
            assert seqs == list(range(1, len(seqs) + 1))  # gap-free
            assert feed["last_seq"] == len(seqs) >= 20 * len(acked)
    finally:
        assert restarted.stop() == 0
