#!/usr/bin/python3
"""The timing client of bench/dbus_bench.py (runs under Debian's /usr/bin/python3).

It speaks tests/zg_client.py's JSON-lines protocol (every command of that file
works here, answered by its ``run``) and adds timed commands. The timing is
done here, around the blocking D-Bus call of python3-zeitgeist's
``ZeitgeistDBusInterface`` only: the D-Bus arguments are built before the
clock starts and the reply is not converted, so neither JSON nor argument
building is measured. Times are seconds (``time.perf_counter``).

    {"cmd": "insert_timed", "events": [event, ...], "batch": k}
        -> {"times": [s per call], "ids": [id, ...]}
    {"cmd": "time", "request": <a zg_client request: find_ids, find_events,
     get, find_related or delete>}
        -> {"time": s, "count": number of results}
    {"cmd": "monitor_latency", "events": [event, ...]}
        -> {"notify": [s], "reply": [s]}: one InsertEvents per event, sent
           asynchronously; the time until the first NotifyInsert reaches the
           monitor installed with "install_monitor", and until the reply.
"""

import importlib
import importlib.util
import os
import sys
import time
from collections.abc import Callable
from typing import Any

# By file path: tests/ holds a ``dbus`` package that must not shadow dbus-python.
_spec = importlib.util.spec_from_file_location(
    "zg_client",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "zg_client.py"),
)
assert _spec is not None
assert _spec.loader is not None
zg: Any = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(zg)
dbus: Any = importlib.import_module("dbus")
GLib: Any = importlib.import_module("gi.repository.GLib")

TIMEOUT = zg.TIMEOUT
ALWAYS = [0, 2**63 - 1]


def _range(request: dict[str, Any]) -> Any:
    start, end = request.get("time_range", ALWAYS)
    return dbus.Struct((dbus.Int64(start), dbus.Int64(end)), signature="xx")


def _templates(request: dict[str, Any], key: str = "templates") -> Any:
    return dbus.Array([zg.to_struct(t) for t in request.get(key, [])], signature="(asaasay)")


def _ids(request: dict[str, Any]) -> Any:
    return dbus.Array([dbus.UInt32(i) for i in request["ids"]], signature="u")


def prepare(iface: Any, request: dict[str, Any]) -> Callable[[], Any]:
    """The blocking call a request makes, with its arguments built."""
    cmd = request["cmd"]
    if cmd in ("find_ids", "find_events"):
        method = iface.FindEventIds if cmd == "find_ids" else iface.FindEvents
        args = (
            _range(request),
            _templates(request),
            dbus.UInt32(request.get("storage_state", 2)),
            dbus.UInt32(request.get("num", 0)),
            dbus.UInt32(request.get("result_type", 0)),
        )
        return lambda: method(*args, timeout=TIMEOUT)
    if cmd == "get":
        ids = _ids(request)
        return lambda: iface.GetEvents(ids, timeout=TIMEOUT)
    if cmd == "delete":
        ids = _ids(request)
        return lambda: iface.DeleteEvents(ids, timeout=TIMEOUT)
    if cmd == "find_related":
        related = (
            _range(request),
            _templates(request),
            _templates(request, "result_templates"),
            dbus.UInt32(request.get("storage_state", 2)),
            dbus.UInt32(request.get("num", 10)),
            dbus.UInt32(request.get("result_type", 0)),
        )
        return lambda: iface.FindRelatedUris(*related, timeout=TIMEOUT)
    raise ValueError(f"cannot time {cmd!r}")


def insert_timed(iface: Any, request: dict[str, Any]) -> dict[str, Any]:
    structs = [zg.to_struct(e) for e in request["events"]]
    size = int(request.get("batch", 1))
    batches = [
        dbus.Array(structs[i : i + size], signature="(asaasay)")
        for i in range(0, len(structs), size)
    ]
    times: list[float] = []
    ids: list[int] = []
    for batch in batches:
        t0 = time.perf_counter()
        reply = iface.InsertEvents(batch, timeout=TIMEOUT)
        times.append(time.perf_counter() - t0)
        ids.extend(int(i) for i in reply)
    return {"times": times, "ids": ids}


def monitor_latency(iface: Any, request: dict[str, Any]) -> dict[str, Any]:
    context = GLib.MainContext.default()
    notify: list[float] = []
    replies: list[float] = []
    for event in request["events"]:
        batch = dbus.Array([zg.to_struct(event)], signature="(asaasay)")
        before = zg.RECEIVED[0]
        state: dict[str, float] = {}
        failure: list[Any] = []

        def replied(_ids: Any, state: dict[str, float] = state) -> None:
            state["reply"] = time.perf_counter()

        t0 = time.perf_counter()
        iface.InsertEvents(
            batch, reply_handler=replied, error_handler=failure.append, timeout=TIMEOUT
        )
        deadline = t0 + 30
        while time.perf_counter() < deadline and not failure:
            if "notify" not in state and zg.RECEIVED[0] > before:
                state["notify"] = time.perf_counter()
            if "notify" in state and "reply" in state:
                break
            context.iteration(True)
        if failure:
            raise failure[0]
        notify.append(state.get("notify", float("nan")) - t0)
        replies.append(state.get("reply", float("nan")) - t0)
    zg.NOTIFICATIONS.clear()
    return {"notify": notify, "reply": replies}


def run(iface: Any, request: dict[str, Any]) -> Any:
    cmd = request["cmd"]
    if cmd == "insert_timed":
        return insert_timed(iface, request)
    if cmd == "time":
        call = prepare(iface, request["request"])
        t0 = time.perf_counter()
        result = call()
        elapsed = time.perf_counter() - t0
        count = len(result) if isinstance(result, list | tuple) else 1
        return {"time": elapsed, "count": count}
    if cmd == "monitor_latency":
        return monitor_latency(iface, request)
    return zg.run(iface, request)


def main() -> None:
    zg.DBusGMainLoop(set_as_default=True)
    iface = zg.ZeitgeistDBusInterface()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply = {"ok": run(iface, zg.json.loads(line))}
        except dbus.exceptions.DBusException as error:
            reply = {"error": error.get_dbus_name(), "message": error.get_dbus_message()}
        except Exception as error:  # report, keep serving
            reply = {"error": type(error).__name__, "message": str(error)}
        sys.stdout.write(zg.json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
