"""The Host check: the TCP listener answers only to the names it is meant for.

Tokens guard the API, but with ``trust_loopback = true`` any request from
this machine is trusted, and that includes a browser's. A web page can point
a name of its own at 127.0.0.1 (DNS rebinding) and then read the whole log
through the visitor's browser, as a same-origin request to its own name. The
browser sends that name as ``Host``, so a request whose ``Host`` is not one of
ours is refused with 421 Misdirected Request, as Jupyter and Syncthing do. Ours
are ``localhost``, ``127.0.0.1`` and ``[::1]``, the address the API listens on,
and the names in ``http.hosts`` of config.toml (for a machine reached by name
or by another address). The port is not checked: a rebinding page can use
ours. CORS stays closed: no answer carries Access-Control-Allow-Origin.

The owner's Unix socket needs no check: no browser can reach it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_WILDCARDS = ("0.0.0.0", "::", "")


def allowed_hosts(listen_host: str, configured: Iterable[str] = ()) -> frozenset[str]:
    """The names (lower case, no port, no brackets) a request's Host may give."""
    names = {*LOOPBACK_NAMES, *(normalize(name) for name in configured)}
    if listen_host not in _WILDCARDS:
        names.add(normalize(listen_host))
    return frozenset(names)


def normalize(name: str) -> str:
    """A host name as compared: lower case, no brackets around IPv6, no final dot."""
    name = name.strip().lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    return name.rstrip(".")


def host_name(header: str) -> str:
    """The name in a Host header value, without its port."""
    value = header.strip()
    if value.startswith("["):  # [v6]:port
        end = value.find("]")
        return normalize(value[: end + 1]) if end > 0 else normalize(value)
    name, _, port = value.rpartition(":")
    if name and port.isdigit():
        return normalize(name)
    return normalize(value)


def check_host(app: ASGIApp, allowed: frozenset[str]) -> ASGIApp:
    """``app`` behind the Host check; a refusal is 421 with the API's JSON error body."""

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await app(scope, receive, send)
            return
        raw = next((value for key, value in scope["headers"] if key == b"host"), None)
        header = raw.decode("latin-1") if raw is not None else ""
        if raw is not None and host_name(header) in allowed:
            await app(scope, receive, send)
            return
        shown = repr(header) if raw is not None else "no Host header"
        reason = (
            f"this server does not answer to {shown}; it answers to "
            f"{', '.join(sorted(allowed))} (add a name to http.hosts in config.toml)"
        )
        body = json.dumps({"error": "misdirected_request", "reason": reason}).encode()
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await send(
            {
                "type": "http.response.start",
                "status": 421,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return serve
