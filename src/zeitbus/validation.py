"""Checking and completing events before they are stored (Zeitgeist §2.2).

``prepare`` does what Zeitgeist's ``preprocess_event`` does, in the same
order, plus the checks a Python API needs that D-Bus's type system gave
Zeitgeist for free (types, ranges, encodable strings). It never touches the
database, so a batch is checked whole before anything is written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from zeitbus.errors import InvalidArgument, InvalidEvent
from zeitbus.ids import uid_from_str
from zeitbus.model import INT64_MAX, INT64_MIN, UINT32_MAX, Event, Subject
from zeitbus.ontology import (
    MOVE_EVENT,
    interpretation_for_mimetype,
    manifestation_for_uri,
    storage_for_uri,
)

Clock = Callable[[], int]


def now_ms() -> int:
    """The current time in ms since the epoch."""
    return time.time_ns() // 1_000_000


def _check_text(value: object, what: str) -> None:
    if not isinstance(value, str):
        raise InvalidArgument(f"{what} must be a string, got {type(value).__name__}")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidArgument(f"{what} is not valid Unicode text") from None
    if "\x00" in value:
        raise InvalidArgument(f"{what} contains a NUL character")


def check_types(event: Event, what: str = "event") -> None:
    """Raise InvalidArgument unless every field of ``event`` has a sane type."""
    if not isinstance(event, Event):
        raise InvalidArgument(f"{what} must be an Event, got {type(event).__name__}")
    if (
        isinstance(event.id, bool)
        or not isinstance(event.id, int)
        or not 0 <= event.id <= UINT32_MAX
    ):
        raise InvalidArgument(f"{what} id must be an unsigned 32-bit integer, got {event.id!r}")
    if event.timestamp is not None and (
        isinstance(event.timestamp, bool)
        or not isinstance(event.timestamp, int)
        or not INT64_MIN <= event.timestamp <= INT64_MAX
    ):
        raise InvalidArgument(f"{what} timestamp must be a 64-bit integer, got {event.timestamp!r}")
    if not isinstance(event.payload, bytes):
        raise InvalidArgument(f"{what} payload must be bytes")
    if not isinstance(event.subjects, tuple):
        raise InvalidArgument(f"{what} subjects must be a tuple of Subject")
    texts: list[object] = [
        event.interpretation,
        event.manifestation,
        event.actor,
        event.origin,
        event.node,
        event.uid,
    ]
    for subject in event.subjects:
        if type(subject) is not Subject:
            raise InvalidArgument(f"{what} subjects must be a tuple of Subject")
        texts.extend(subject.values())
    # Fast path: one C-level pass over everything (join also rejects non-str
    # items); the slow path names the culprit.
    try:
        clean = _clean("".join(texts))  # type: ignore[arg-type]
    except TypeError:
        clean = False
    if not clean:
        _name_bad_text(event, what)
    if event.uid:
        try:
            uid_from_str(event.uid)
        except ValueError:
            raise InvalidArgument(f"{what} uid {event.uid!r} is not a UUID") from None


def _clean(text: str) -> bool:
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _name_bad_text(event: Event, what: str) -> None:
    for name in ("interpretation", "manifestation", "actor", "origin", "node", "uid"):
        _check_text(getattr(event, name), f"{what} {name}")
    for n, subject in enumerate(event.subjects):
        for name in Subject.__struct_fields__:
            _check_text(getattr(subject, name), f"{what} subject {n} {name}")


def prepare(event: Event, clock: Clock = now_ms) -> Event:
    """The event as Zeitgeist would store it, or InvalidArgument.

    Fills the timestamp, current_uri/current_origin, subject manifestation
    (from the URI scheme), interpretation (from the mimetype) and storage.
    """
    check_types(event)
    if not (event.interpretation and event.manifestation and event.actor):
        raise InvalidArgument(
            "Incomplete event: interpretation, manifestation and actor are required"
        )
    moving = event.interpretation == MOVE_EVENT
    subjects = []
    filled = False  # whether any subject needed filling in
    for subject in event.subjects:
        if not subject.uri:
            raise InvalidArgument("Incomplete event: subject without URI")
        current_uri = subject.current_uri or subject.uri
        current_origin = subject.current_origin or subject.origin
        if moving and subject.uri == current_uri:
            raise InvalidArgument(
                "Redundant event: event.interpretation indicates the uri has been moved yet "
                "the subject.uri and subject.current_uri are identical"
            )
        if not moving and subject.uri != current_uri:
            raise InvalidArgument(
                "Illegal event: unless event.interpretation is 'MOVE_EVENT' then "
                "subject.uri and subject.current_uri have to be the same"
            )
        if not moving and subject.origin != current_origin:
            raise InvalidArgument(
                "Illegal event: unless event.interpretation is 'MOVE_EVENT' then "
                "subject.origin and subject.current_origin have to be the same"
            )
        if (
            subject.interpretation
            and subject.manifestation
            and subject.storage
            and subject.current_uri
            and subject.current_origin
        ):
            subjects.append(subject)  # nothing to fill: complete_subject's output, say
            continue
        filled = True
        subjects.append(
            Subject(
                subject.uri,
                subject.interpretation or interpretation_for_mimetype(subject.mimetype),
                subject.manifestation or manifestation_for_uri(subject.uri),
                subject.origin,
                subject.mimetype,
                subject.text,
                subject.storage or storage_for_uri(subject.uri),
                current_uri,
                current_origin,
            )
        )
    if not filled and event.timestamp is not None and type(event) is Event:
        return event  # already as it would be stored: the copy would be equal
    timestamp = clock() if event.timestamp is None else event.timestamp
    return Event(
        event.id,
        timestamp,
        event.interpretation,
        event.manifestation,
        event.actor,
        event.origin,
        tuple(subjects),
        event.payload,
        event.uid,
        event.node,
    )


def complete_subject(values: Sequence[str]) -> Subject:
    """The subject of nine wire strings with what ``prepare`` fills in filled in.

    No checks: ``prepare`` still checks the result, and prepares it to the
    same event as the subject left empty (it only fills fields that are
    empty, from fields it does not change), so a caller that fills early
    saves building the subject twice.
    """
    (
        uri,
        interpretation,
        manifestation,
        origin,
        mimetype,
        text,
        storage,
        current_uri,
        current_origin,
    ) = values
    return Subject(
        uri,
        interpretation or interpretation_for_mimetype(mimetype),
        manifestation or manifestation_for_uri(uri),
        origin,
        mimetype,
        text,
        storage or storage_for_uri(uri),
        current_uri or uri,
        current_origin or origin,
    )


def prepare_imported(event: Event, clock: Clock = now_ms) -> Event:
    """An event restored from an export or another log, kept as it was.

    Only what every stored event must have is checked; nothing is filled in
    but an empty current_uri (and current_origin, unless the subject was
    moved), and the MoveEvent rules are not applied, because a stored event's
    current_uri may have moved since.
    """
    check_types(event)
    if not (event.interpretation and event.manifestation and event.actor):
        raise InvalidArgument(
            "Incomplete event: interpretation, manifestation and actor are required"
        )
    if not event.subjects:
        raise InvalidArgument("Incomplete event: a stored event has at least one subject")
    subjects = []
    for subject in event.subjects:
        if not subject.uri:
            raise InvalidArgument("Incomplete event: subject without URI")
        moved = bool(subject.current_uri) and subject.current_uri != subject.uri
        # A moved subject's current_origin may be empty on purpose (a move
        # without origins); an unmoved one's empty value means "same as origin".
        current_origin = subject.current_origin
        if not moved and not current_origin:
            current_origin = subject.origin
        subjects.append(
            subject.with_changes(
                current_uri=subject.current_uri or subject.uri,
                current_origin=current_origin,
            )
        )
    timestamp = clock() if event.timestamp is None else event.timestamp
    return event.with_changes(timestamp=timestamp, subjects=tuple(subjects))


def check_unique_uris(event: Event) -> None:
    """InvalidEvent if two subjects of ``event`` share a URI."""
    uris = [s.uri for s in event.subjects]
    if len(set(uris)) != len(uris):
        raise InvalidEvent("Events with two subjects with the same URI are not supported")


def check_template(template: Event, what: str = "template") -> None:
    """InvalidArgument unless ``template`` is usable as an event template."""
    check_types(template, what)
