"""A sync batch as JSON, the same both ways between Zeitbus daemons.

``{"source": <node>, "last_seq": N, "pending": P, "events": [...], "tombstones": [uid...]}``:
``source`` is the node the changes were read from, ``last_seq`` the last of
its seqs looked at (the target's checkpoint once stored), ``events`` in the
form of docs/event-json.md (each with its uid and node), ``tombstones`` the
uids deleted there. Decoding is strict: an unknown key, a wrong type, a seq
past SQLite's integers or a malformed event is an InvalidArgument naming it,
so a bad peer's batch is refused whole and nothing of it is stored.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from zeitbus.errors import InvalidArgument
from zeitbus.jsonl import EventJSON, decode_reason, event_struct, struct_to_event
from zeitbus.model import INT64_MAX
from zeitbus.sync.replicator import Batch

Seq = Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)]
Node = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class _BatchJSON(msgspec.Struct, forbid_unknown_fields=True):
    source: Node
    last_seq: Seq
    events: list[EventJSON] = []
    tombstones: list[str] = []
    pending: Seq | None = None


_encode = msgspec.json.Encoder().encode
_decoder = msgspec.json.Decoder(_BatchJSON)


def encode_batch(batch: Batch, source: str) -> bytes:
    """``batch`` read from node ``source`` as JSON."""
    return _encode(
        {
            "source": source,
            "last_seq": batch.last_seq,
            "pending": batch.pending,
            "events": [event_struct(event) for event in batch.events],
            "tombstones": list(batch.tombstones),
        }
    )


def decode_batch(data: bytes) -> tuple[str, Batch]:
    """The source node and the batch in ``data``; InvalidArgument naming what is wrong."""
    try:
        raw = _decoder.decode(data)
    except (msgspec.DecodeError, UnicodeError) as error:
        raise InvalidArgument(decode_reason(data, error, "batch")) from None
    # The receiving engine checks every event (validation.prepare_imported): not twice.
    events = [struct_to_event(event, check=False) for event in raw.events]
    for n, event in enumerate(events, start=1):
        if not event.uid or not event.node:
            raise InvalidArgument(f"event {n}: an event from another node needs its uid and node")
    return raw.source, Batch(tuple(events), tuple(raw.tombstones), raw.last_seq, raw.pending)
