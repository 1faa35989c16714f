"""Fuzzing every Log and extension method (full-text search included) with malformed calls.

Each method of every exported interface (except Quit) gets, from a seeded
random source: calls with wrong signatures (no arguments, other types, one
argument too many or too few), and calls with the right signature but odd
values: empty, very long and unusual strings (control characters, U+FFFF,
RTL marks, astral characters; D-Bus itself forbids NUL and invalid UTF-8 in
strings, so those go into the ``ay`` payloads, where they are legal),
numbers at the edges of their types, NULL and short events, subjects with too
few fields, and arrays of up to 100,000 elements.

What must hold for every call: an answer comes back (a reply or an error,
never silence); an error is never ``org.freedesktop.DBus.Error.Failed``
(Zeitbus's answer to an exception it did not expect); a call answered with
an error leaves the log, the blacklist and the data sources exactly as they
were; a wrong signature is ``InvalidArgs``; and the daemon still serves
afterwards. ``ZEITBUS_FUZZ_SEED`` reproduces a run (the seed is printed).
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
from typing import Any

import pytest
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus
from dbus_fast.signature import SignatureTree, SignatureType

from tests.dbus.conftest import ZeitbusDaemon
from zeitbus.dbus import blacklist, datasources, histogram, log, storagemonitor
from zeitbus.dbus import index as fts_index
from zeitbus.dbus.log import ENGINE_BUS_NAME

pytestmark = pytest.mark.slow

CALLS_PER_METHOD = 40
INVALID_ARGS = "org.freedesktop.DBus.Error.InvalidArgs"
FAILED = "org.freedesktop.DBus.Error.Failed"

TARGETS: list[tuple[str, str, dict[str, str]]] = [
    (
        log.LOG_PATH,
        log.LOG_INTERFACE,
        {n: m.in_signature for n, m in log.METHODS.items() if n != "Quit"},
    ),
    *(
        (module.PATH, module.INTERFACE, {m.name: m.in_signature for m in module.METHODS})
        for module in (blacklist, datasources, histogram, storagemonitor, fts_index)
    ),
]

ODD_STRINGS = [
    "",
    " ",
    "*",
    "!",
    "+",
    "!*",
    "\x01\x1f\x7f",
    "\uffff\ufffe",
    "\u202eevil",
    "🙂" * 50,
    "x" * 100_000,
    "file:///" + "a/" * 2000,
    "http://zeitgeist-project.com/ontologies/2010/01/27/zg#AccessEvent",
    "application://x.desktop",
    "0x10",
    "-1",
    "18446744073709551616",
    "9223372036854775808",
]
ODD_BYTES = [b"", b"\x00", b"\xff\xfe\xfd", b"\x00" * 70_000, "é".encode()]
INTS: dict[str, list[int]] = {
    "u": [0, 1, 2, 7, 34, 35, 99, 100, 2**31, 2**32 - 1],
    "x": [0, -1, 1, -(2**63), 2**63 - 1, 1_600_000_000_000],
    "i": [0, -1, 2**31 - 1, -(2**31)],
    "b": [True, False],
}


def odd_value(t: SignatureType, rng: random.Random, depth: int = 0) -> Any:
    """A legal but odd value of type ``t``."""
    token = t.signature
    if token in INTS:
        return rng.choice(INTS[token])
    if token == "s":
        return rng.choice(ODD_STRINGS)
    if token == "o":
        return rng.choice(["/", "/a", "/org/gnome/zeitgeist/monitor/0", "/a/b_c/D9"])
    if token == "ay":
        return rng.choice(ODD_BYTES)
    if token.startswith("("):
        return [odd_value(child, rng, depth + 1) for child in t.children]
    if token.startswith("a{"):
        key, value = t.children[0].children if t.children[0].children else t.children
        return {odd_value(key, rng, depth + 1): odd_value(value, rng, depth + 1)}
    if token.startswith("a"):
        child = t.children[0]
        if child.token == "u" and rng.random() < 0.15:
            return [rng.choice(INTS["u"]) for _ in range(100_000)]
        if child.token == "s":
            size = rng.choice((0, 1, 2, 5, 7, 9, 12))  # around the 5/6 and 7/9 field counts
        else:
            size = rng.choice((0, 1, 2, 3)) if depth < 3 else 0
        return [odd_value(child, rng, depth + 1) for _ in range(size)]
    if token == "v":
        raise AssertionError("no method takes a variant")
    raise AssertionError(f"unexpected type {token}")


def wrong_signatures(signature: str, rng: random.Random) -> list[tuple[str, list[Any]]]:
    """Calls whose signature is not ``signature``: none, others, one more, one fewer."""
    types = SignatureTree(signature).types
    candidates: list[tuple[str, list[Any]]] = [
        ("", []),
        ("s", ["x"]),
        ("u", [1]),
        ("as", [["a", "b"]]),
        ("a(asaasay)", [[]]),
        ("ay", [b"\x00\xff"]),
        (signature + "s", [odd_value(t, rng) for t in types] + ["extra"]),
    ]
    if types:
        shorter = types[:-1]
        candidates.append(
            ("".join(t.signature for t in shorter), [odd_value(t, rng) for t in shorter])
        )
    return [(sig, body) for sig, body in candidates if sig != signature]


async def _call(
    bus: MessageBus, path: str, interface: str, member: str, sig: str, body: Any
) -> Message:
    reply = await bus.call(
        Message(
            destination=ENGINE_BUS_NAME,
            path=path,
            interface=interface,
            member=member,
            signature=sig,
            body=body,
        )
    )
    assert reply is not None
    return reply


async def _state(bus: MessageBus) -> tuple[Any, ...]:
    """Everything a call could have stored: event ids and events, blacklist, data sources."""
    ids = await _call(
        bus,
        log.LOG_PATH,
        log.LOG_INTERFACE,
        "FindEventIds",
        "(xx)a(asaasay)uuu",
        [[0, 2**63 - 1], [], 2, 0, 0],
    )
    events = await _call(bus, log.LOG_PATH, log.LOG_INTERFACE, "GetEvents", "au", ids.body)
    templates = await _call(bus, blacklist.PATH, blacklist.INTERFACE, "GetTemplates", "", [])
    sources = await _call(bus, datasources.PATH, datasources.INTERFACE, "GetDataSources", "", [])
    # A data source's last-seen time moves on every insert; compare the rest.
    return (
        ids.body,
        events.body,
        templates.body,
        [s[:5] + s[6:] for s in sources.body[0]],
    )


def test_malformed_calls_get_errors_and_store_nothing(zeitbus_daemon: ZeitbusDaemon) -> None:
    """Every method survives wrong signatures and odd values; an error stores nothing."""
    seed = int(os.environ.get("ZEITBUS_FUZZ_SEED") or secrets.randbelow(2**32))
    print(f"fuzz seed: {seed} (ZEITBUS_FUZZ_SEED={seed} reproduces it)")
    rng = random.Random(seed)
    problems: list[str] = []
    counts = {"calls": 0, "errors": 0}

    async def work(bus: MessageBus) -> None:
        for path, interface, methods in TARGETS:
            for member, signature in sorted(methods.items()):
                calls = wrong_signatures(signature, rng)
                types = SignatureTree(signature).types
                for _ in range(CALLS_PER_METHOD):
                    calls.append((signature, [odd_value(t, rng) for t in types]))
                wrong = len(calls) - CALLS_PER_METHOD
                for index, (sig, body) in enumerate(calls):
                    before = await _state(bus)
                    reply = await _call(bus, path, interface, member, sig, body)
                    counts["calls"] += 1
                    where = f"{interface}.{member}({sig}) #{index}"
                    if index < wrong:
                        if reply.error_name != INVALID_ARGS:
                            problems.append(f"{where}: wrong signature got {reply.error_name}")
                        continue
                    if reply.message_type is not MessageType.ERROR:
                        continue
                    counts["errors"] += 1
                    if reply.error_name == FAILED:
                        problems.append(f"{where}: unexpected failure {reply.body}")
                    if await _state(bus) != before:
                        problems.append(f"{where}: {reply.error_name} but the state changed")
        # Still serving.
        await _state(bus)

    async def main() -> None:
        bus = await MessageBus(bus_address=zeitbus_daemon.bus_address).connect()
        try:
            await work(bus)
        finally:
            bus.disconnect()

    asyncio.run(main())
    print(f"fuzz: {counts}")
    assert not problems, f"seed {seed}:\n" + "\n".join(problems[:30])
    assert zeitbus_daemon.process.poll() is None
