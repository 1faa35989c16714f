#!/usr/bin/python3
"""A line-oriented JSON client for the reference zeitgeist-daemon (tests only).

This file runs under Debian's ``/usr/bin/python3``, the only interpreter that
has python3-zeitgeist and dbus-python, never under the project's venv. It
talks to the daemon on ``$DBUS_SESSION_BUS_ADDRESS`` with the real client
library's ``ZeitgeistDBusInterface`` and blocking calls.

Protocol: one JSON object per line on stdin, one JSON object per line on
stdout, ``{"ok": result}`` or ``{"error": dbus_error_name, "message": text}``.
An event is ``{"fields": [6 str], "subjects": [[9 str], ...], "payload":
base64}``, exactly the D-Bus struct ``(asaasay)``; a NULL event is ``null``.

    {"cmd": "insert", "events": [event, ...]}                -> [id, ...]
    {"cmd": "get", "ids": [id, ...]}                         -> [event | null, ...]
    {"cmd": "find_ids", "time_range": [start, end], "templates": [event, ...],
     "storage_state": 2, "num": 0, "result_type": 0}         -> [id, ...]
    {"cmd": "delete", "ids": [id, ...]}                      -> [start, end]
    {"cmd": "blacklist_add", "id": str, "template": event}    -> null
    {"cmd": "register_data_source", "unique_id": str, "name": str,
     "description": str, "templates": [event, ...]}          -> enabled
    {"cmd": "version"}                                       -> [major, minor, micro]
    {"cmd": "find_events", ...the arguments of find_ids...}  -> [event, ...]
    {"cmd": "find_related", "time_range": [start, end], "templates": [event, ...],
     "result_templates": [event, ...], "storage_state": 2, "num": 10,
     "result_type": 0}                                       -> [uri, ...]
    {"cmd": "property", "name": str}                         -> the Log property's value
    {"cmd": "install_monitor", "time_range": [start, end],
     "templates": [event, ...]}                              -> monitor path
    {"cmd": "remove_monitor", "path": str}                   -> null
    {"cmd": "notifications", "path": str, "count": n,
     "timeout": seconds}                                     -> [notification, ...]
    {"cmd": "insert_async", "events": [event, ...]}          -> {"ids": [id, ...],
                                                                 "notified_before_reply": n}
    {"cmd": "blacklist_get"}                                 -> {id: event, ...}
    {"cmd": "blacklist_remove", "id": str}                   -> null
    {"cmd": "data_sources"}                                  -> [[unique_id, name, description,
                                                                  [event, ...], running,
                                                                  last_seen, enabled], ...]
    {"cmd": "set_data_source_enabled", "unique_id": str,
     "enabled": bool}                                        -> null

Monitors are the real client's ``zeitgeist.client.Monitor`` objects, exported
on this client's connection; the notifications they receive are kept per path
until ``notifications`` returns them: it runs the GLib main loop until the path
has ``count`` of them or ``timeout`` passes, and returns (and forgets) what
arrived. A notification is ``{"kind": "insert", "time_range": [start, end],
"events": [event, ...]}`` or ``{"kind": "delete", "time_range": [start, end],
"ids": [id, ...]}``. ``insert_async`` sends InsertEvents without blocking and
runs the main loop until the reply, counting the notifications that were
dispatched before it (the daemon must send them first).
"""

from __future__ import annotations

import base64
import json
import sys
import time
from typing import Any

from dbus.mainloop.glib import DBusGMainLoop  # type: ignore[import-not-found]
from gi.repository import GLib  # type: ignore[import-not-found]
from zeitgeist.client import Monitor, ZeitgeistDBusInterface

import dbus  # type: ignore[import-not-found]

JsonEvent = dict[str, Any]

TIMEOUT = 600  # seconds; FindEventIds over 100k events takes well under one


def to_struct(event: JsonEvent) -> Any:
    fields = dbus.Array([str(f) for f in event["fields"]], signature="s")
    subjects = dbus.Array(
        [dbus.Array([str(v) for v in s], signature="s") for s in event["subjects"]],
        signature="as",
    )
    payload = dbus.ByteArray(base64.b64decode(event.get("payload", "")))
    return dbus.Struct((fields, subjects, payload), signature="asaasay")


def from_struct(struct: Any) -> JsonEvent | None:
    fields, subjects, payload = struct
    if len(fields) == 0:
        return None
    return {
        "fields": [str(f) for f in fields],
        "subjects": [[str(v) for v in s] for s in subjects],
        "payload": base64.b64encode(bytes(bytearray(payload))).decode("ascii"),
    }


def event_to_json(event: Any) -> JsonEvent:
    """A ``zeitgeist.datamodel.Event`` (as a monitor receives it) in the JSON form."""
    fields, subjects, payload = event[0], event[1], event[2]
    return {
        "fields": [str(f) for f in fields],
        "subjects": [[str(v) for v in s] for s in subjects],
        "payload": base64.b64encode(bytes(bytearray(payload or b""))).decode("ascii"),
    }


MONITORS: dict[str, Any] = {}  # path -> the client's Monitor object
NOTIFICATIONS: dict[str, list[dict[str, Any]]] = {}  # path -> received, not yet returned
RECEIVED = [0]  # notifications received by any monitor, ever


def install_monitor(iface: Any, request: dict[str, Any]) -> str:
    templates = [to_struct(t) for t in request.get("templates", [])]
    start, end = request.get("time_range", [0, 2**63 - 1])
    path: list[str] = []

    def inserted(time_range: Any, events: Any) -> None:
        RECEIVED[0] += 1
        NOTIFICATIONS.setdefault(path[0], []).append(
            {
                "kind": "insert",
                "time_range": [int(time_range[0]), int(time_range[1])],
                "events": [event_to_json(e) for e in events],
            }
        )

    def deleted(time_range: Any, ids: Any) -> None:
        RECEIVED[0] += 1
        NOTIFICATIONS.setdefault(path[0], []).append(
            {
                "kind": "delete",
                "time_range": [int(time_range[0]), int(time_range[1])],
                "ids": [int(i) for i in ids],
            }
        )

    monitor = Monitor((start, end), templates, inserted, deleted)
    path.append(str(monitor.path))
    MONITORS[path[0]] = monitor
    iface.InstallMonitor(
        monitor.path,
        dbus.Struct((dbus.Int64(start), dbus.Int64(end)), signature="xx"),
        dbus.Array(templates, signature="(asaasay)"),
        timeout=TIMEOUT,
    )
    return path[0]


def spin(done: Any, timeout: float) -> None:
    """Run the GLib main loop until ``done()`` or ``timeout`` seconds have passed."""
    context = GLib.MainContext.default()
    fired = [False]

    def wake() -> bool:
        fired[0] = True
        return False

    source = GLib.timeout_add(max(1, int(timeout * 1000)), wake)
    while not done() and not fired[0]:
        context.iteration(True)
    if not fired[0]:
        GLib.source_remove(source)


def run(iface: Any, request: dict[str, Any]) -> Any:
    cmd = request["cmd"]
    if cmd == "insert":
        events = dbus.Array([to_struct(e) for e in request["events"]], signature="(asaasay)")
        return [int(i) for i in iface.InsertEvents(events, timeout=TIMEOUT)]
    if cmd == "get":
        ids = dbus.Array([dbus.UInt32(i) for i in request["ids"]], signature="u")
        return [from_struct(s) for s in iface.GetEvents(ids, timeout=TIMEOUT)]
    if cmd == "find_ids":
        start, end = request.get("time_range", [0, 2**63 - 1])
        time_range = dbus.Struct((dbus.Int64(start), dbus.Int64(end)), signature="xx")
        templates = dbus.Array(
            [to_struct(t) for t in request.get("templates", [])], signature="(asaasay)"
        )
        ids = iface.FindEventIds(
            time_range,
            templates,
            dbus.UInt32(request.get("storage_state", 2)),
            dbus.UInt32(request.get("num", 0)),
            dbus.UInt32(request.get("result_type", 0)),
            timeout=TIMEOUT,
        )
        return [int(i) for i in ids]
    if cmd == "delete":
        ids = dbus.Array([dbus.UInt32(i) for i in request["ids"]], signature="u")
        start, end = iface.DeleteEvents(ids, timeout=TIMEOUT)
        return [int(start), int(end)]
    if cmd == "blacklist_add":
        blacklist = iface.get_extension("Blacklist", "blacklist")
        blacklist.AddTemplate(request["id"], to_struct(request["template"]), timeout=TIMEOUT)
        return None
    if cmd == "register_data_source":
        registry = iface.get_extension("DataSourceRegistry", "data_source_registry")
        templates = dbus.Array(
            [to_struct(t) for t in request.get("templates", [])], signature="(asaasay)"
        )
        enabled = registry.RegisterDataSource(
            request["unique_id"],
            request["name"],
            request["description"],
            templates,
            timeout=TIMEOUT,
        )
        return bool(enabled)
    if cmd == "blacklist_get":
        blacklist = iface.get_extension("Blacklist", "blacklist")
        templates = blacklist.GetTemplates(timeout=TIMEOUT)
        return {str(key): from_struct(value) for key, value in templates.items()}
    if cmd == "blacklist_remove":
        blacklist = iface.get_extension("Blacklist", "blacklist")
        blacklist.RemoveTemplate(request["id"], timeout=TIMEOUT)
        return None
    if cmd == "data_sources":
        registry = iface.get_extension("DataSourceRegistry", "data_source_registry")
        return [
            [
                str(uid),
                str(name),
                str(description),
                [from_struct(t) for t in templates],
                bool(running),
                int(last_seen),
                bool(enabled),
            ]
            for uid, name, description, templates, running, last_seen, enabled in (
                registry.GetDataSources(timeout=TIMEOUT)
            )
        ]
    if cmd == "set_data_source_enabled":
        registry = iface.get_extension("DataSourceRegistry", "data_source_registry")
        registry.SetDataSourceEnabled(request["unique_id"], request["enabled"], timeout=TIMEOUT)
        return None
    if cmd == "version":
        return [int(v) for v in iface.get_property("version")]
    if cmd == "property":
        value = iface.get_property(request["name"])
        return json.loads(json.dumps(value))
    if cmd == "find_events":
        start, end = request.get("time_range", [0, 2**63 - 1])
        events = iface.FindEvents(
            dbus.Struct((dbus.Int64(start), dbus.Int64(end)), signature="xx"),
            dbus.Array([to_struct(t) for t in request.get("templates", [])], signature="(asaasay)"),
            dbus.UInt32(request.get("storage_state", 2)),
            dbus.UInt32(request.get("num", 0)),
            dbus.UInt32(request.get("result_type", 0)),
            timeout=TIMEOUT,
        )
        return [from_struct(s) for s in events]
    if cmd == "find_related":
        start, end = request.get("time_range", [0, 2**63 - 1])
        uris = iface.FindRelatedUris(
            dbus.Struct((dbus.Int64(start), dbus.Int64(end)), signature="xx"),
            dbus.Array([to_struct(t) for t in request.get("templates", [])], signature="(asaasay)"),
            dbus.Array(
                [to_struct(t) for t in request.get("result_templates", [])], signature="(asaasay)"
            ),
            dbus.UInt32(request.get("storage_state", 2)),
            dbus.UInt32(request.get("num", 10)),
            dbus.UInt32(request.get("result_type", 0)),
            timeout=TIMEOUT,
        )
        return [str(u) for u in uris]
    if cmd == "install_monitor":
        return install_monitor(iface, request)
    if cmd == "remove_monitor":
        iface.RemoveMonitor(dbus.ObjectPath(request["path"]), timeout=TIMEOUT)
        monitor = MONITORS.pop(request["path"], None)
        if monitor is not None:
            monitor.remove_from_connection()
        return None
    if cmd == "notifications":
        path, count = request["path"], request.get("count", 1)
        spin(lambda: len(NOTIFICATIONS.get(path, [])) >= count, request.get("timeout", 10))
        return NOTIFICATIONS.pop(path, [])
    if cmd == "insert_async":
        events = dbus.Array([to_struct(e) for e in request["events"]], signature="(asaasay)")
        answer: dict[str, Any] = {}
        before = RECEIVED[0]

        def replied(ids: Any) -> None:
            answer["ids"] = [int(i) for i in ids]
            answer["notified_before_reply"] = RECEIVED[0] - before

        def failed(error: Any) -> None:
            answer["error"] = error

        iface.InsertEvents(events, reply_handler=replied, error_handler=failed, timeout=TIMEOUT)
        deadline = time.monotonic() + TIMEOUT
        spin(lambda: bool(answer), deadline - time.monotonic())
        if "error" in answer:
            raise answer["error"]
        return answer
    raise ValueError(f"unknown command {cmd!r}")


def main() -> None:
    # Monitors need a main loop on the connection; it must be set before the
    # connection exists. Blocking calls work the same with it.
    DBusGMainLoop(set_as_default=True)
    iface = ZeitgeistDBusInterface()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply = {"ok": run(iface, json.loads(line))}
        except dbus.exceptions.DBusException as error:
            reply = {"error": error.get_dbus_name(), "message": error.get_dbus_message()}
        except Exception as error:  # report, keep serving
            reply = {"error": type(error).__name__, "message": str(error)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
