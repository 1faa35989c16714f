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
"""

from __future__ import annotations

import base64
import json
import sys
from typing import Any

import dbus  # type: ignore[import-not-found]
from zeitgeist.client import ZeitgeistDBusInterface

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
    if cmd == "version":
        return [int(v) for v in iface.get_property("version")]
    raise ValueError(f"unknown command {cmd!r}")


def main() -> None:
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
