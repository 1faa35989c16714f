"""The HTTP API's request bodies and the JSON form of its answers (docs/http-api.md).

Events are the documented JSON object of docs/event-json.md (``jsonl``);
templates are the same objects, with Zeitgeist's operators in their fields.
Bodies decode strictly: an unknown key or a wrong type is an
``InvalidArgument`` naming the field, bytes that are not UTF-8 or an unpaired
escaped surrogate (``\\ud800``) one naming the byte; the app answers both with 400.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from zeitbus.errors import InvalidArgument
from zeitbus.jsonl import decode_reason, event_to_json
from zeitbus.model import (
    INT64_MAX,
    INT64_MIN,
    UINT32_MAX,
    Change,
    ChangeKind,
    Event,
    RelevantResultType,
    ResultType,
    StorageState,
    TimeRange,
)

_Id = Annotated[int, msgspec.Meta(ge=0, le=UINT32_MAX)]
_Ms = Annotated[int, msgspec.Meta(ge=INT64_MIN, le=INT64_MAX)]
_Count = Annotated[int, msgspec.Meta(ge=0, le=UINT32_MAX)]


class InsertBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /events``."""

    events: list[dict[str, Any]]


class DeleteBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /events/delete``."""

    ids: list[_Id]


class FindBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /events/find``: Zeitgeist's FindEvents, paged."""

    templates: list[dict[str, Any]] = msgspec.field(default_factory=list)
    time_range: tuple[_Ms, _Ms] | None = None
    storage_state: int | str = "any"
    result_type: int | str = "most_recent_events"
    limit: _Count = 0  # Zeitgeist's num_events: 0 for every match
    page_size: Annotated[int, msgspec.Meta(ge=1)] | None = None
    ids_only: bool = False


class RelatedBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /related-uris``: Zeitgeist's FindRelatedUris."""

    templates: list[dict[str, Any]] = msgspec.field(default_factory=list)
    result_templates: list[dict[str, Any]] = msgspec.field(default_factory=list)
    time_range: tuple[_Ms, _Ms] | None = None
    storage_state: int | str = "any"
    limit: _Count = 10
    result_type: Literal["recent", "related"] | int = "recent"


class SummaryBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /summary``: how much each value of a field was used."""

    group: str = "actor"
    templates: list[dict[str, Any]] = msgspec.field(default_factory=list)
    time_range: tuple[_Ms, _Ms] | None = None
    storage_state: int | str = "any"


class EnabledBody(msgspec.Struct, forbid_unknown_fields=True):
    """``PUT /data-sources/{id}/enabled``."""

    enabled: bool


class SearchBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /search``: full-text search, as SearchWithRelevancies."""

    query: str
    templates: list[dict[str, Any]] = msgspec.field(default_factory=list)
    time_range: tuple[_Ms, _Ms] | None = None
    storage_state: int | str = "any"
    offset: _Count = 0
    count: _Count = 10
    result_type: _Count = 100  # Relevancy; or a find's plain result type


class FeedFilterBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /changes``: the templates a feed's inserts must match."""

    templates: list[dict[str, Any]] = msgspec.field(default_factory=list)


def decode(body: bytes, kind: Any) -> Any:
    """A request body as ``kind``; InvalidArgument naming the bad field."""
    if not body.strip():
        raise InvalidArgument("the request needs a JSON body")
    try:
        return msgspec.json.decode(body, type=kind)
    except (msgspec.DecodeError, UnicodeError) as error:  # ValidationError included
        raise InvalidArgument(decode_reason(body, error, "body")) from None


def time_range(pair: tuple[int, int] | None) -> TimeRange | None:
    """A body's ``[start, end]`` (ms, inclusive) as a TimeRange."""
    return None if pair is None else TimeRange(pair[0], pair[1])


def result_type(value: int | str) -> ResultType:
    """A result type by number or name (``most_popular_subjects``, ``MostPopularSubjects``)."""
    return ResultType.parse(value)


def storage_state(value: int | str) -> StorageState:
    """A storage state by number or name (``any``, ``available``, ``not_available``)."""
    return StorageState.parse(value)


def relevant_type(value: int | str) -> RelevantResultType:
    """FindRelatedUris' order: ``recent`` (0) or ``related`` (1)."""
    if isinstance(value, str):
        return RelevantResultType[value.upper()]
    if isinstance(value, bool) or value not in (0, 1):
        raise InvalidArgument("result_type must be 'recent', 'related', 0 or 1")
    return RelevantResultType(value)


def event_json(event: Event | None) -> dict[str, Any] | None:
    """An event's JSON object (None stays None: an id that names nothing)."""
    return None if event is None else event_to_json(event)


def change_row(
    change: Change, doc: Event | None = None, include_doc: bool = False
) -> dict[str, Any]:
    """A changes-feed row in CouchDB's shape (docs/http-api.md, "The changes feed").

    ``id`` is the event's uid, the name it has on every machine. An event
    has two revisions at most: ``1-<uid>`` as inserted, ``2-<uid>`` deleted.
    """
    generation = 2 if change.kind is ChangeKind.DELETE else 1
    row: dict[str, Any] = {
        "seq": change.seq,
        "id": change.uid,
        "changes": [{"rev": f"{generation}-{change.uid.replace('-', '')}"}],
        "event_id": change.id,
        "timestamp": change.timestamp,
    }
    if change.kind is ChangeKind.DELETE:
        row["deleted"] = True
    if include_doc:
        row["doc"] = None if doc is None else event_to_json(doc)
    return row
