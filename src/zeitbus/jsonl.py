"""The JSON form of an event, and export and import of a log as JSON Lines.

An event is one JSON object (docs/event-json.md)::

    {"id": 7, "uid": "0190…", "node": "5f1c…", "timestamp": 1767225600000,
     "interpretation": "…zg#AccessEvent", "manifestation": "…zg#UserActivity",
     "actor": "application://firefox.desktop", "origin": "",
     "subjects": [{"uri": "https://example.com/", "interpretation": "…", …}],
     "payload": "aGVsbG8="}

Decoding is strict (msgspec structs with ``forbid_unknown_fields``): an
unknown key, a wrong type, a float where an integer belongs, a number out of
range or bad base64 raises InvalidArgument naming the field; bytes that are
not UTF-8 and an escaped unpaired surrogate one naming the byte
(``text_problem``). Missing keys take the model's defaults, so a
hand-written event may leave out what it does not need (``timestamp`` then
means "now").

Import is two passes, so that a bad line imports nothing: the first decodes
and checks every line (as ``Engine.import_events`` would) and spools the good
ones to a temporary file; the second feeds the spool to the engine in batches.
Memory stays bounded by the batch size on both sides, also for stdin.
"""

from __future__ import annotations

import re
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Annotated, Any, BinaryIO

import msgspec

from zeitbus.engine import Engine
from zeitbus.errors import BadRecord, InvalidArgument, InvalidEvent
from zeitbus.model import INT64_MAX, INT64_MIN, UINT32_MAX, Event, Subject, TimeRange
from zeitbus.validation import check_types, check_unique_uris, prepare_imported

__all__ = [
    "ImportReport",
    "decode_events",
    "decode_line",
    "encode_line",
    "encode_lines",
    "event_from_json",
    "event_to_json",
    "events_from_json",
    "export_events",
    "import_events",
    "iter_events",
]

Progress = Callable[[int, int], None]

EXPORT_PAGE = 1000  # events per read while exporting
IMPORT_BATCH = 5000  # events per engine.import_events call (one transaction each)
SPOOL_IN_MEMORY = 32 * 1024 * 1024  # bytes of checked lines kept in memory before a temp file
MAX_PROBLEMS = 100  # skipped lines whose reason an ImportReport keeps


class _SubjectJSON(msgspec.Struct, forbid_unknown_fields=True):
    uri: str = ""
    interpretation: str = ""
    manifestation: str = ""
    origin: str = ""
    mimetype: str = ""
    text: str = ""
    storage: str = ""
    current_uri: str = ""
    current_origin: str = ""


_EventId = Annotated[int, msgspec.Meta(ge=0, le=UINT32_MAX)]
_Timestamp = Annotated[int, msgspec.Meta(ge=INT64_MIN, le=INT64_MAX)]


class _EventJSON(msgspec.Struct, forbid_unknown_fields=True):
    id: _EventId = 0
    uid: str = ""
    node: str = ""
    timestamp: _Timestamp | None = None
    interpretation: str = ""
    manifestation: str = ""
    actor: str = ""
    origin: str = ""
    subjects: list[_SubjectJSON] = msgspec.field(default_factory=list)
    payload: bytes = b""  # base64 in JSON (RFC 4648, with padding)


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(_EventJSON)


def _to_struct(event: Event) -> _EventJSON:
    return _EventJSON(
        id=event.id,
        uid=event.uid,
        node=event.node,
        timestamp=event.timestamp,
        interpretation=event.interpretation,
        manifestation=event.manifestation,
        actor=event.actor,
        origin=event.origin,
        subjects=[
            _SubjectJSON(
                uri=s.uri,
                interpretation=s.interpretation,
                manifestation=s.manifestation,
                origin=s.origin,
                mimetype=s.mimetype,
                text=s.text,
                storage=s.storage,
                current_uri=s.current_uri,
                current_origin=s.current_origin,
            )
            for s in event.subjects
        ],
        payload=event.payload,
    )


def _to_event(raw: _EventJSON, *, check: bool = True) -> Event:
    uid = raw.uid
    if uid and not _CANONICAL_UUID.fullmatch(uid):
        try:
            uid = str(uuid.UUID(uid))
        except ValueError:
            raise InvalidArgument(f"uid: {uid!r} is not a UUID") from None
    event = Event(
        id=raw.id,
        timestamp=raw.timestamp,
        interpretation=raw.interpretation,
        manifestation=raw.manifestation,
        actor=raw.actor,
        origin=raw.origin,
        subjects=tuple(
            Subject(
                uri=s.uri,
                interpretation=s.interpretation,
                manifestation=s.manifestation,
                origin=s.origin,
                mimetype=s.mimetype,
                text=s.text,
                storage=s.storage,
                current_uri=s.current_uri,
                current_origin=s.current_origin,
            )
            for s in raw.subjects
        ),
        payload=raw.payload,
        uid=uid,
        node=raw.node,
    )
    if check:
        check_types(event)  # NUL characters and the like, which JSON can carry
    return event


# An escaped UTF-16 surrogate with the low half that may follow it, or any
# other escape: matching every escape from the left keeps an escaped backslash
# followed by "ud800" (the text \ud800) from being read as a surrogate.
_ESCAPE = re.compile(
    rb"\\u(?P<high>[dD][89abAB][0-9a-fA-F]{2})(?P<low>\\u[dD][c-fC-F][0-9a-fA-F]{2})?"
    rb"|\\u(?P<lone>[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|\\.",
    re.DOTALL,
)


def text_problem(data: bytes) -> str | None:
    """The first byte that keeps ``data`` from being JSON text, and why; None if none does.

    JSON text is UTF-8 (RFC 8259), and an escaped surrogate (``\\ud800``)
    must be half of a pair: alone it is no character, and text holding one
    cannot be encoded again (for SQLite, D-Bus or an answer). Positions are
    byte offsets into ``data``.
    """
    end = len(data)
    problem = None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        end = error.start
        problem = f"not valid UTF-8: {error.reason} (byte {error.start})"
    for match in _ESCAPE.finditer(data, 0, end):
        lone = match["lone"] or (match["low"] is None and match["high"])
        if lone:
            code = match.group()[2:6].decode("ascii").lower()
            return f"not valid JSON: unpaired UTF-16 surrogate \\u{code} (byte {match.start()})"
    return problem


def decode_reason(
    data: bytes | str, error: msgspec.MsgspecError | UnicodeError, whole: str = "event"
) -> str:
    """Why ``data`` did not decode: a byte-level problem first, naming its byte.

    msgspec raises UnicodeDecodeError (not a DecodeError) for bytes that are
    not UTF-8 inside a string and says only "truncated" for an unpaired
    surrogate at a string's end; so the bytes are looked at here, once
    decoding has failed anyway (a good body pays nothing).
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    problem = text_problem(raw)
    if problem is not None:
        return problem
    if isinstance(error, UnicodeError):  # not seen: text_problem finds what msgspec did
        return f"not valid UTF-8: {error}"
    if str(error) == "Input data was truncated":
        return f"not valid JSON: the text ends early (byte {len(raw)})"
    return error_reason(error, whole)


def error_reason(error: msgspec.MsgspecError, whole: str = "event") -> str:
    """msgspec's message, reworded to start with the field it is about (``whole``: the top)."""
    text = str(error)
    if isinstance(error, msgspec.DecodeError) and not isinstance(error, msgspec.ValidationError):
        return "not valid JSON: " + text.removeprefix("JSON is malformed: ")
    message, sep, where = text.rpartition(" - at `")
    if not sep:
        message, where = text, "$`"
    path = where.removesuffix("`").removeprefix("$").lstrip(".") or whole
    return f"{path}: {message[:1].lower()}{message[1:]}"


# For formats that carry events inside a larger JSON document (a sync batch):
# the struct msgspec encodes and decodes in one pass, and the event it stands for.
EventJSON = _EventJSON
event_struct = _to_struct


def struct_to_event(raw: _EventJSON, *, check: bool = True) -> Event:
    """The event a decoded ``EventJSON`` describes (``check=False``: the caller validates)."""
    return _to_event(raw, check=check)


def event_to_json(event: Event) -> dict[str, Any]:
    """The documented JSON object for ``event`` (payload as base64)."""
    result: dict[str, Any] = msgspec.to_builtins(_to_struct(event))
    return result


def event_from_json(obj: object) -> Event:
    """The event a parsed JSON object describes; InvalidArgument naming the bad field."""
    try:
        raw = msgspec.convert(obj, _EventJSON)
    except msgspec.ValidationError as error:
        raise InvalidArgument(error_reason(error)) from None
    return _to_event(raw)


def events_from_json(items: Iterable[object], what: str = "event") -> list[Event]:
    """Events (or templates) from parsed JSON objects; InvalidArgument naming the bad one."""
    out = []
    for n, item in enumerate(items, start=1):
        try:
            out.append(event_from_json(item))
        except InvalidArgument as error:
            raise InvalidArgument(f"{what} {n}: {error.message}") from None
    return out


def decode_line(line: bytes | str, *, check: bool = True) -> Event:
    """The event on one line of JSON; InvalidArgument naming the bad field.

    ``check=False`` leaves out the text checks (NUL characters, a valid
    uid) for callers that run ``validation`` on the event anyway.
    """
    try:
        raw = _decoder.decode(line)
    except (msgspec.DecodeError, UnicodeError) as error:
        raise InvalidArgument(decode_reason(line, error)) from None
    return _to_event(raw, check=check)


def decode_events(data: bytes | str) -> list[Event]:
    """Events from a JSON array of event objects, or from JSON Lines.

    A bad element raises InvalidArgument naming its position; a bad line
    raises BadRecord with its line number. Blank lines are ignored.
    """
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")  # a lone surrogate is refused below
    if data.strip()[:1] == b"[":
        try:
            items = msgspec.json.decode(data)  # not stripped: error positions count from 0
        except (msgspec.DecodeError, UnicodeError) as error:
            raise InvalidArgument(decode_reason(data, error)) from None
        if not isinstance(items, list):
            raise InvalidArgument("expected a JSON array of events")
        return events_from_json(items)
    events = []
    # Lines end at \n only, as JSON Lines and ``import`` have them (\r is whitespace).
    for number, line in enumerate(data.split(b"\n"), start=1):
        if line.strip():
            try:
                events.append(decode_line(line))
            except InvalidArgument as error:
                raise BadRecord(number, error.message) from None
    return events


def encode_line(event: Event) -> bytes:
    """``event`` as one line of JSON, newline included."""
    return _encoder.encode(_to_struct(event)) + b"\n"


def encode_lines(events: Iterable[Event]) -> bytes:
    """Several events as JSON Lines (each line ends with a newline)."""
    return _encoder.encode_lines([_to_struct(event) for event in events])


# -- export --------------------------------------------------------------------


def iter_events(
    engine: Engine, *, time_range: TimeRange | None = None, page_size: int = EXPORT_PAGE
) -> Iterator[Event]:
    """Every event (in ``time_range``), oldest first, from one read snapshot."""
    return engine.iter_events(time_range, page_size)


def export_events(
    engine: Engine,
    out: BinaryIO | IO[bytes],
    *,
    time_range: TimeRange | None = None,
    page_size: int = EXPORT_PAGE,
) -> int:
    """Write every event (in ``time_range``) to ``out`` as JSON Lines, oldest first.

    Returns the number of events written. Memory use is bounded by ``page_size``.
    """
    count = 0
    page: list[Event] = []
    for event in iter_events(engine, time_range=time_range, page_size=page_size):
        page.append(event)
        if len(page) >= page_size:
            out.write(encode_lines(page))
            count += len(page)
            page = []
    if page:
        out.write(encode_lines(page))
        count += len(page)
    return count


# -- import --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did.

    ``read`` counts the good events in the input; each was either newly
    stored (``imported``) or was already in the log under the same uid or
    dedup key, including repeats within the input (``already_present``). ``skipped``
    counts bad lines left out with ``skip_bad``; ``problems`` keeps the line
    number and reason of the first ``MAX_PROBLEMS`` of them.
    """

    read: int
    imported: int
    already_present: int
    skipped: int = 0
    problems: tuple[tuple[int, str], ...] = ()


class _Checker:
    """The first pass: every line decoded and checked, good lines spooled."""

    def __init__(self, engine: Engine, spool: IO[bytes], *, skip_bad: bool, keep_ids: bool):
        self.engine = engine
        self.spool = spool
        self.skip_bad = skip_bad
        self.keep_ids = keep_ids
        self.good = 0
        self.skipped = 0
        self.problems: list[tuple[int, str]] = []
        # keep_ids only: id -> (uid, line) of the lines seen so far, and lines
        # waiting for a check of their ids against the log.
        self.ids: dict[int, tuple[str, int]] = {}
        self.pending: list[tuple[int, bytes, Event]] = []

    def bad(self, number: int, reason: str) -> None:
        if not self.skip_bad:
            raise BadRecord(number, reason)
        self.skipped += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append((number, reason))

    def line(self, number: int, line: bytes) -> None:
        if not line.strip():
            return
        try:
            # Decoded as read, so that an error's byte offset counts from the line's start.
            event = decode_line(line, check=False)  # prepare_imported checks it
            check_unique_uris(prepare_imported(event))
        except (InvalidArgument, InvalidEvent) as error:
            self.bad(number, error.message)
            return
        line = line.strip()
        if self.keep_ids and event.id:
            self.pending.append((number, line, event))
            if len(self.pending) >= EXPORT_PAGE:
                self.flush()
        else:
            self.keep(line)

    def keep(self, line: bytes) -> None:
        self.spool.write(line + b"\n")
        self.good += 1

    def flush(self) -> None:
        """Check kept ids against the file so far and against the log."""
        pending, self.pending = self.pending, []
        stored = self.engine.get_events([event.id for _, _, event in pending])
        for (number, line, event), current in zip(pending, stored, strict=True):
            earlier = self.ids.get(event.id)
            if earlier is not None and (not event.uid or earlier[0] != event.uid):
                self.bad(number, f"id: event id {event.id} is also used on line {earlier[1]}")
            elif current is not None and (not event.uid or current.uid != event.uid):
                self.bad(number, f"id: event id {event.id} is already used in this log")
            else:
                self.ids.setdefault(event.id, (event.uid, number))
                self.keep(line)


def import_events(
    engine: Engine,
    lines: Iterable[bytes],
    *,
    skip_bad: bool = False,
    keep_ids: bool = False,
    batch_size: int = IMPORT_BATCH,
    progress: Progress | None = None,
) -> ImportReport:
    """Import JSON Lines of events, restoring uids, nodes, timestamps and payloads.

    A bad line raises BadRecord(line number, reason) before anything is
    stored, unless ``skip_bad``, which leaves bad lines out and counts them.
    Blank lines are ignored. With ``keep_ids`` local ids are kept too; an id
    used by another event (in the log or earlier in the input) makes the line
    bad. Events already in the log (same uid or dedup key) are not stored
    again, so importing an export into the same log changes nothing.
    ``progress(done, total)`` is called after each batch.
    """
    if batch_size < 1:
        raise InvalidArgument(f"batch size must be positive, got {batch_size}")
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, mode="w+b") as spool:
        checker = _Checker(engine, spool, skip_bad=skip_bad, keep_ids=keep_ids)
        for number, line in enumerate(lines, start=1):
            checker.line(number, line)
        checker.flush()
        total = checker.good
        spool.seek(0)
        imported = _import_spooled(engine, spool, total, keep_ids, batch_size, progress)
    return ImportReport(
        read=total,
        imported=imported,
        already_present=total - imported,
        skipped=checker.skipped,
        problems=tuple(checker.problems),
    )


def _import_spooled(
    engine: Engine,
    spool: IO[bytes],
    total: int,
    keep_ids: bool,
    batch_size: int,
    progress: Progress | None,
) -> int:
    done = imported = 0
    batch: list[Event] = []

    def store(events: Sequence[Event]) -> None:
        nonlocal done, imported
        try:
            result = engine.import_events(events, keep_ids=keep_ids)
        except Exception as error:
            if imported:
                error.add_note(
                    f"{imported} of {total} events were stored before this failure; "
                    "importing the same input again is safe"
                )
            raise
        imported += result.stored
        done += len(events)
        if progress is not None:
            progress(done, total)

    if progress is not None:
        progress(0, total)
    for line in spool:
        batch.append(decode_line(line, check=False))  # checked in the first pass
        if len(batch) >= batch_size:
            store(batch)
            batch = []
    if batch:
        store(batch)
    return imported
