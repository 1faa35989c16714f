"""The OpenAPI 3.1 document the daemon serves at ``/openapi.json``.

Written out by hand from the routes (app.py) and bodies (wire.py); the
schemathesis test checks every answer against it, so it cannot drift.
"""

from __future__ import annotations

import functools
from typing import Any

from zeitbus.model import (
    INT64_MAX,
    INT64_MIN,
    UINT32_MAX,
    GroupField,
    ResultType,
    StorageState,
    Subject,
)

_STR = {"type": "string"}
_MS = {"type": "integer", "minimum": INT64_MIN, "maximum": INT64_MAX}
_ID = {"type": "integer", "minimum": 0, "maximum": UINT32_MAX}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _ok(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, **_json(schema)}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, **_json(_ref("Error"))}


_ERRORS = {
    "400": _error("Malformed input (the reason names the field)"),
    "401": _error("No token, or an invalid one"),
    "403": _error("The token's scope is too small"),
}


def _op(
    summary: str,
    ok: dict[str, Any],
    *,
    body: dict[str, Any] | None = None,
    params: list[dict[str, Any]] | None = None,
    errors: tuple[str, ...] = (),
) -> dict[str, Any]:
    responses = {"200": ok, **_ERRORS}
    extra = {
        "404": _error("Nothing by that id"),
        "410": _error("The cursor expired"),
        "413": _error("The body or batch is too large"),
        "429": _error("Too many open feeds"),
    }
    for status in errors:
        responses[status] = extra[status]
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if body is not None:
        op["requestBody"] = {"required": True, **_json(body)}
    if params:
        op["parameters"] = params
    return op


def _query(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema, "description": description}


def _path(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _object(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
    return schema


_SELECTOR = {
    "storage_state": {
        "oneOf": [
            {"type": "integer", "minimum": 0, "maximum": 2},
            {"enum": [state.name.lower() for state in StorageState]},
        ]
    },
    "time_range": {
        "oneOf": [
            {"type": "array", "items": _MS, "minItems": 2, "maxItems": 2},
            {"type": "null"},
        ]
    },
}

_SCHEMAS: dict[str, Any] = {
    "Error": _object({"error": _STR, "reason": _STR}, ("error", "reason")),
    "Subject": _object({key: _STR for key in Subject.__struct_fields__}),
    "Event": _object(
        {
            "id": _ID,
            "uid": _STR,
            "node": _STR,
            "timestamp": {"oneOf": [_MS, {"type": "null"}]},
            "interpretation": _STR,
            "manifestation": _STR,
            "actor": _STR,
            "origin": _STR,
            "subjects": {"type": "array", "items": _ref("Subject")},
            "payload": {"type": "string", "contentEncoding": "base64"},
        }
    ),
    "FindBody": _object(
        {
            "templates": {"type": "array", "items": _ref("Event")},
            **_SELECTOR,
            "result_type": {
                "oneOf": [
                    {"type": "integer", "minimum": 0, "maximum": 34},
                    {"enum": [kind.name.lower() for kind in ResultType]},
                ]
            },
            "limit": {"type": "integer", "minimum": 0, "maximum": UINT32_MAX},
            "page_size": {"type": "integer", "minimum": 1},
            "ids_only": {"type": "boolean"},
        }
    ),
    "Page": _object(
        {
            "total": {"type": "integer", "minimum": 0},
            "next": {"oneOf": [_STR, {"type": "null"}]},
            "events": {"type": "array", "items": _ref("Event")},
            "ids": {"type": "array", "items": _ID},
        },
        ("total", "next"),
    ),
    "DataSource": _object(
        {
            "unique_id": _STR,
            "name": _STR,
            "description": _STR,
            "templates": {"type": "array", "items": _ref("Event")},
            "running": {"type": "boolean"},
            "last_seen": _MS,
            "enabled": {"type": "boolean"},
        }
    ),
    "ChangeRow": {
        "type": "object",
        "required": ["seq", "id", "changes", "event_id", "timestamp"],
        "properties": {
            "seq": {"type": "integer", "minimum": 1},
            "id": _STR,
            "changes": {"type": "array", "items": {"type": "object"}},
            "event_id": _ID,
            "timestamp": _MS,
            "deleted": {"type": "boolean"},
            "doc": {"oneOf": [_ref("Event"), {"type": "null"}]},
        },
    },
}

_SEQ = {"type": "integer", "minimum": 0, "maximum": INT64_MAX}
_SECONDS = {"oneOf": [{"type": "number"}, {"type": "null"}]}  # since the epoch, or unknown
_DIRECTION = {"enum": ["both", "pull", "push"]}
_PEER = {
    "id": _STR,
    "url": _STR,
    "kind": {"enum": ["zeitbus", "couchdb"]},
    "direction": _DIRECTION,
    "encrypt": {"type": "boolean"},
    "token": {"type": "boolean", "description": "whether the peer has a token (never shown)"},
    "created": _MS,
}
_SCHEMAS |= {
    "Batch": _object(
        {
            "source": _STR,
            "last_seq": _SEQ,
            "pending": {"oneOf": [_SEQ, {"type": "null"}]},
            "events": {"type": "array", "items": _ref("Event")},
            "tombstones": {"type": "array", "items": _STR},
        },
        ("source", "last_seq"),
    ),
    "Peer": _object(_PEER, tuple(_PEER)),
    "Replication": _object(
        {
            "direction": {"enum": ["pull", "push"]},
            "state": {"enum": ["idle", "catching up", "live", "retrying", "stopped", "failed"]},
            "source": _STR,
            "target": _STR,
            "last_seq": _SEQ,
            "pending": {"oneOf": [_SEQ, {"type": "null"}]},
            "events": {"type": "integer", "minimum": 0},
            "tombstones": {"type": "integer", "minimum": 0},
            "last_error": _STR,
            "last_error_at": _SECONDS,
            "last_success_at": _SECONDS,
            "caught_up_at": _SECONDS,
            "errors": {"type": "integer", "minimum": 0},
            "lag_events": {"oneOf": [_SEQ, {"type": "null"}]},
            "lag_seconds": _SECONDS,
        }
    ),
    "PeerStatus": _object(
        {**_PEER, "replications": {"type": "array", "items": _ref("Replication")}},
        (*_PEER, "replications"),
    ),
}


def _sync_paths() -> dict[str, Any]:
    """The sync routes: between daemons (read/write), and the peers (admin)."""
    peers = _ok(_object({"peers": {"type": "array", "items": _ref("Peer")}}, ("peers",)))
    peer_id = [_path("peer_id", _STR)]
    now = _op(
        "Catch up with a peer now; its status when done (admin)",
        _ok(_ref("PeerStatus")),
        body=_object({"direction": {"oneOf": [_DIRECTION, {"type": "null"}]}}),
        params=peer_id,
        errors=("404", "413"),
    )
    now["requestBody"]["required"] = False
    return {
        "/sync/changes": {
            "get": _op(
                "A batch of this log's changes for another node (a long poll with wait)",
                _ok(_ref("Batch")),
                params=[
                    _query("since", _SEQ),
                    _query("limit", {"type": "integer", "minimum": 0}),
                    _query("not_from", _STR, "leave out what came from this node"),
                    _query("wait", {"type": "integer", "minimum": 0, "maximum": 600_000}, "ms"),
                ],
            )
        },
        "/sync/receive": {
            "post": _op(
                "Store a batch from another node with its checkpoint (write)",
                _ok(
                    _object(
                        {
                            "stored": {"type": "integer", "minimum": 0},
                            "refused": {"type": "integer", "minimum": 0},
                            "last_seq": _SEQ,
                        },
                        ("stored", "refused", "last_seq"),
                    )
                ),
                body=_ref("Batch"),
                errors=("413",),
            )
        },
        "/sync/checkpoints/{node}": {
            "get": _op(
                "The last seq of a node this log took in (0: none)",
                _ok(_object({"node": _STR, "seq": _SEQ}, ("node", "seq"))),
                params=[_path("node", _STR)],
            )
        },
        "/sync/peers": {
            "get": _op("The peers this daemon syncs with (admin)", peers, errors=("404",)),
            "post": _op(
                "Add a peer and start syncing with it (admin)",
                _ok(_ref("Peer")),
                body=_object(
                    {
                        "url": _STR,
                        "token": _STR,
                        "direction": _DIRECTION,
                        "kind": {"enum": ["zeitbus", "couchdb"]},
                        "encrypt": {"type": "boolean"},
                    },
                    ("url",),
                ),
                errors=("404", "413"),
            ),
        },
        "/sync/peers/{peer_id}": {
            "delete": _op(
                "Remove a peer and stop syncing with it (admin)",
                _ok(_ref("Peer")),
                params=peer_id,
                errors=("404",),
            )
        },
        "/sync/peers/{peer_id}/now": {"post": now},
        "/sync/status": {
            "get": _op(
                "Each peer with the status of each direction (admin)",
                _ok(_object({"peers": {"type": "array", "items": _ref("PeerStatus")}}, ("peers",))),
                errors=("404",),
            )
        },
    }


@functools.cache
def document() -> dict[str, Any]:
    """The whole document."""
    range_result = _object({"time_range": _SELECTOR["time_range"]}, ("time_range",))
    feed_params = [
        _query("feed", {"enum": ["normal", "longpoll", "continuous", "eventsource"]}),
        _query("since", {"type": "string", "pattern": "^([0-9]+|now)$"}),
        _query("limit", {"type": "integer", "minimum": 0}),
        _query("descending", {"enum": ["true", "false"]}),
        _query("heartbeat", {"oneOf": [{"type": "integer", "minimum": 1}, {"enum": ["true"]}]}),
        _query("timeout", {"type": "integer", "minimum": 0}),
        _query("include_docs", {"enum": ["true", "false"]}),
        _query("templates", _STR, "a JSON array of event templates"),
    ]
    changes_ok = _ok(
        _object(
            {
                "results": {"type": "array", "items": _ref("ChangeRow")},
                "last_seq": {"type": "integer", "minimum": 0},
                "pending": {"type": "integer", "minimum": 0},
            },
            ("results", "last_seq", "pending"),
        ),
        "The changes (feed=normal); other modes stream (docs/http-api.md)",
    )
    paths: dict[str, Any] = {
        "/": {
            "get": _op(
                "Version, node id and the feed's end",
                _ok(_object({"zeitbus": _STR, "node": _STR, "last_seq": {"type": "integer"}})),
            )
        },
        "/health": {
            "get": {
                "summary": "Liveness",
                "security": [],
                "responses": {"200": _ok(_object({"ok": {"type": "boolean"}}))},
            }
        },
        "/events": {
            "post": _op(
                "Insert events (InsertEvents)",
                _ok(
                    _object(
                        {"ids": {"type": "array", "items": _ID}, "last_seq": {"type": "integer"}}
                    )
                ),
                body={
                    "oneOf": [
                        _object({"events": {"type": "array", "items": _ref("Event")}}, ("events",)),
                        {"type": "array", "items": _ref("Event")},
                    ]
                },
                errors=("413",),
            ),
            "get": _op(
                "Events by id (GetEvents); null for an id that names none",
                _ok(
                    _object(
                        {
                            "events": {
                                "type": "array",
                                "items": {"oneOf": [_ref("Event"), {"type": "null"}]},
                            }
                        }
                    )
                ),
                params=[
                    {
                        **_query("ids", {"type": "string", "pattern": "^[0-9]+(,[0-9]+)*$"}),
                        "required": True,
                    }
                ],
                errors=("413",),
            ),
        },
        "/events/find": {
            "post": _op(
                "Find events (FindEvents / FindEventIds), first page",
                _ok(_ref("Page")),
                body=_ref("FindBody"),
            )
        },
        "/events/find/{cursor}": {
            "get": _op(
                "The next page of a find",
                _ok(_ref("Page")),
                params=[_path("cursor", _STR)],
                errors=("410",),
            )
        },
        "/events/delete": {
            "post": _op(
                "Delete events (DeleteEvents)",
                _ok(range_result),
                body=_object({"ids": {"type": "array", "items": _ID}}, ("ids",)),
                errors=("413",),
            )
        },
        "/events/uid/{uid}": {
            "get": _op(
                "One event by uid", _ok(_ref("Event")), params=[_path("uid", _STR)], errors=("404",)
            )
        },
        "/events/{event_id}": {
            "get": _op(
                "One event by id",
                _ok(_ref("Event")),
                params=[_path("event_id", _ID)],
                errors=("404",),
            ),
            "delete": _op(
                "Delete one event",
                _ok(range_result),
                params=[_path("event_id", _ID)],
                errors=("404",),
            ),
        },
        "/related-uris": {
            "post": _op(
                "URIs used around the events the templates match (FindRelatedUris)",
                _ok(_object({"uris": {"type": "array", "items": _STR}})),
                body=_object(
                    {
                        "templates": {"type": "array", "items": _ref("Event")},
                        "result_templates": {"type": "array", "items": _ref("Event")},
                        **_SELECTOR,
                        "limit": {"type": "integer", "minimum": 0, "maximum": UINT32_MAX},
                        "result_type": {
                            "oneOf": [{"enum": ["recent", "related"]}, {"enum": [0, 1]}]
                        },
                    }
                ),
            )
        },
        "/summary": {
            "post": _op(
                "How much each value of a field was used (events per actor, ...)",
                _ok(
                    _object(
                        {
                            "groups": {
                                "type": "array",
                                "items": _object(
                                    {"value": _STR, "count": {"type": "integer"}, "newest": _MS}
                                ),
                            }
                        }
                    )
                ),
                body=_object(
                    {
                        "group": {"enum": [f.value.replace(" ", "_") for f in GroupField]},
                        "templates": {"type": "array", "items": _ref("Event")},
                        **_SELECTOR,
                    }
                ),
            )
        },
        "/histogram": {
            "get": _op(
                "Events per day",
                _ok(
                    _object(
                        {
                            "days": {
                                "type": "array",
                                "items": _object({"day": _MS, "count": {"type": "integer"}}),
                            }
                        }
                    )
                ),
            )
        },
        "/stats": {"get": _op("Counts over the whole log", _ok({"type": "object"}))},
        "/blacklist": {
            "get": _op(
                "The blacklisted templates by id",
                _ok(
                    _object(
                        {"templates": {"type": "object", "additionalProperties": _ref("Event")}}
                    )
                ),
                errors=("404",),
            )
        },
        "/blacklist/{template_id}": {
            "put": _op(
                "Blacklist a template under an id (admin)",
                _ok(_object({"id": _STR, "template": _ref("Event")})),
                body=_ref("Event"),
                params=[_path("template_id", _STR)],
                errors=("404", "413"),
            ),
            "delete": _op(
                "Remove a blacklisted template (admin)",
                _ok(_object({"id": _STR, "template": _ref("Event")})),
                params=[_path("template_id", _STR)],
                errors=("404",),
            ),
        },
        "/data-sources": {
            "get": _op(
                "The registered data sources",
                _ok(_object({"data_sources": {"type": "array", "items": _ref("DataSource")}})),
                errors=("404",),
            )
        },
        "/data-sources/{unique_id}/enabled": {
            "put": _op(
                "Enable or disable a data source (admin)",
                _ok(_ref("DataSource")),
                body=_object({"enabled": {"type": "boolean"}}, ("enabled",)),
                params=[_path("unique_id", _STR)],
                errors=("404", "413"),
            )
        },
        "/search": {
            "post": _op(
                "Full-text search (SearchWithRelevancies)",
                _ok(
                    _object(
                        {
                            "events": {"type": "array", "items": _ref("Event")},
                            "relevancies": {"type": "array", "items": {"type": "number"}},
                            "matches": {"type": "integer", "minimum": 0},
                        }
                    )
                ),
                body=_object(
                    {
                        "query": _STR,
                        "templates": {"type": "array", "items": _ref("Event")},
                        **_SELECTOR,
                        "offset": {"type": "integer", "minimum": 0, "maximum": UINT32_MAX},
                        "count": {"type": "integer", "minimum": 0, "maximum": UINT32_MAX},
                        "result_type": {"type": "integer", "minimum": 0},
                    },
                    ("query",),
                ),
                errors=("404", "413"),
            )
        },
        "/changes": {
            "get": _op("The changes feed", changes_ok, params=feed_params, errors=("429",)),
            "post": _op(
                "The changes feed, filtered by templates in the body",
                changes_ok,
                params=feed_params[:-1],
                body=_object({"templates": {"type": "array", "items": _ref("Event")}}),
                errors=("413", "429"),
            ),
        },
    }
    paths |= _sync_paths()
    return {
        "openapi": "3.1.0",
        "info": {"title": "Zeitbus", "version": "1", "description": "docs/http-api.md"},
        "paths": paths,
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"token": []}],
    }
