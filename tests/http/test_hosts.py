"""The Host check against DNS rebinding, on a real daemon that trusts loopback."""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.http.daemons import Daemon, spawn
from zeitbus.client import Client
from zeitbus.http.hosts import allowed_hosts, host_name


class TestHostNames:
    @pytest.mark.parametrize(
        ("header", "name"),
        [
            ("localhost", "localhost"),
            ("LocalHost:5680", "localhost"),
            ("127.0.0.1:80", "127.0.0.1"),
            ("[::1]:5680", "::1"),
            ("[::1]", "::1"),
            ("localhost.:5680", "localhost"),
            ("evil.example", "evil.example"),
            ("localhost.evil.example:5680", "localhost.evil.example"),
            ("127.0.0.1.nip.io", "127.0.0.1.nip.io"),
        ],
    )
    def test_the_name_is_read_without_port_brackets_or_final_dot(
        self, header: str, name: str
    ) -> None:
        assert host_name(header) == name

    def test_loopback_names_the_listening_address_and_configured_names_are_allowed(self) -> None:
        assert allowed_hosts("127.0.0.1") == {"localhost", "127.0.0.1", "::1"}
        assert allowed_hosts("0.0.0.0", ["Laptop.LAN", "[fe80::1]"]) == {
            "localhost",
            "127.0.0.1",
            "::1",
            "laptop.lan",
            "fe80::1",
        }
        assert "192.168.1.5" in allowed_hosts("192.168.1.5")


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    """One daemon for the module: no test here writes."""
    root = Path(tempfile.mkdtemp(prefix="zbh-"))
    config = root / "trusting.toml"
    config.write_text(
        '[http]\nport = 0\ntrust_loopback = true\nhosts = ["laptop.lan"]\n', encoding="utf-8"
    )
    running = spawn(root / "data", ZEITBUS_CONFIG=str(config))
    try:
        yield running
    finally:
        assert running.stop() == 0
        shutil.rmtree(root, ignore_errors=True)


def get(daemon: Daemon, path: str, **headers: str) -> httpx.Response:
    return httpx.get(f"{daemon.url}{path}", headers=headers, timeout=10)


def raw_request(daemon: Daemon, request: bytes) -> tuple[int, bytes]:
    """Send bytes as they are (httpx always sends a Host); the status and the body."""
    parts = urlsplit(daemon.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.mark.parametrize(
    "host", ["evil.example", "attacker.example:5680", "localhost.evil.example", "10.0.0.1"]
)
def test_a_foreign_host_is_refused_with_421_even_when_loopback_is_trusted(
    daemon: Daemon, host: str
) -> None:
    answer = get(daemon, "/stats", Host=host)
    assert answer.status_code == 421
    body = answer.json()
    assert body["error"] == "misdirected_request"
    assert repr(host) in body["reason"]
    assert "events" not in body


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]", "laptop.lan", "LAPTOP.lan"])
def test_our_own_names_are_served_with_any_port(daemon: Daemon, host: str) -> None:
    port = urlsplit(daemon.url).port
    for value in (host, f"{host}:{port}", f"{host}:8080"):
        answer = get(daemon, "/stats", Host=value)
        assert answer.status_code == 200, (value, answer.text)
        assert answer.json()["events"] == 0


def test_a_request_without_a_host_header_is_refused(daemon: Daemon) -> None:
    status, body = raw_request(daemon, b"GET /stats HTTP/1.0\r\n\r\n")
    assert status == 421
    assert json.loads(body)["error"] == "misdirected_request"


def test_cors_stays_closed(daemon: Daemon) -> None:
    origin = {"Origin": "http://evil.example"}
    answer = get(daemon, "/stats", **origin)
    assert answer.status_code == 200
    assert not any(name.lower().startswith("access-control-") for name in answer.headers)
    preflight = httpx.options(
        f"{daemon.url}/events",
        headers={**origin, "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert preflight.status_code in (400, 405)
    assert not any(name.lower().startswith("access-control-") for name in preflight.headers)


def test_the_owners_socket_is_not_checked(daemon: Daemon) -> None:
    """The client library names the socket's host "zeitbus"; no browser reaches a socket."""
    with Client(socket=daemon.socket) as client:
        assert client.stats()["events"] == 0
