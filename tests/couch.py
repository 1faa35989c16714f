"""pouchdb-server on 127.0.0.1, for the CouchDB sync tests (tests/sync/conftest.py).

``./dev test`` installs pouchdb-server 4.2.0 from the lock in tools/couch
into .tools/couch; ``POUCHDB_SERVER`` names another executable. A missing
server fails the tests that need it instead of skipping them: CI installs it,
so a skip there would only hide a broken install.

Each server runs from a working directory of its own (it writes config.json
and log.txt into it, and keeps its uuid there) on a free port; starting waits
for its first HTTP 200, polling with a deadline, and stopping kills it.
PROTOCOLS.md §3.5 lists pouchdb-server's gaps: send ``Accept-Encoding:
identity`` when following a feed, and give a long poll your own read deadline.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
INSTALLED = ROOT / ".tools" / "couch" / "node_modules" / ".bin" / "pouchdb-server"
START_TIMEOUT = 30.0  # seconds to the first 200: it takes about 0.4 s on 2 cores
STOP_TIMEOUT = 10.0
PORT_TRIES = 3  # a free port may be taken by another process before the server binds it


@dataclass(frozen=True)
class PouchServer:
    """A running pouchdb-server: ``url`` ends without a slash; ``log`` is its output."""

    url: str
    workdir: Path
    process: subprocess.Popen[bytes]

    @property
    def log(self) -> str:
        return (self.workdir / "server.log").read_text(errors="replace")


def executable() -> Path:
    """The pouchdb-server to run; fails the test, saying how to install it, if there is none."""
    named = os.environ.get("POUCHDB_SERVER")
    path = Path(named) if named else INSTALLED
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"pouchdb-server is not installed at {path}: `./dev test` installs it "
            "(npm ci from tools/couch into .tools/couch), or set POUCHDB_SERVER",
            pytrace=False,
        )
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def pouchdb_server(workdir: Path, *args: str) -> Iterator[PouchServer]:
    """pouchdb-server running in ``workdir`` until the block ends.

    ``args`` choose the storage: ``--in-memory`` (the tests' default), or
    ``-d DIR`` for LevelDB files that survive a restart.
    """
    program = executable()
    workdir.mkdir(parents=True, exist_ok=True)
    server = None
    for _ in range(PORT_TRIES):
        server = _start(program, workdir, args)
        if server is not None:
            break
    if server is None:
        log = (workdir / "server.log").read_text(errors="replace")
        pytest.fail(f"pouchdb-server found no free port:\n{log}", pytrace=False)
    try:
        yield server
    finally:
        _stop(server.process)


def _start(program: Path, workdir: Path, args: tuple[str, ...]) -> PouchServer | None:
    """A started server, or None if its port was taken; fails the test on any other failure."""
    port = free_port()
    command = [str(program), *args, "--host", "127.0.0.1", "--port", str(port), "--no-color"]
    with (workdir / "server.log").open("wb") as log:
        process = subprocess.Popen(
            command, cwd=workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    server = PouchServer(f"http://127.0.0.1:{port}", workdir, process)
    deadline = time.monotonic() + START_TIMEOUT
    with httpx.Client(timeout=2.0) as client:
        while True:
            try:
                if client.get(server.url + "/").status_code == 200:
                    return server
            except httpx.TransportError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                _stop(process)
                pytest.fail(f"pouchdb-server gave no 200 in {START_TIMEOUT} s:\n{server.log}")
            # Waiting on the process, not sleeping: an early exit ends the wait at once.
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.05)
            if process.returncode is not None:
                if "is already in use" in server.log:  # it says so, and exits with 0
                    return None
                pytest.fail(
                    f"pouchdb-server exited with status {process.returncode}:\n{server.log}",
                    pytrace=False,
                )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
