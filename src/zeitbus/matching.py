"""In-memory template matching: Zeitgeist's semantics for monitors and the blacklist.

Theory of operation. Zeitgeist matches templates in two places, with two different
semantics (docs/ZEITGEIST.md §2.5). Queries compile templates to SQL (``templates.py``).
Monitor notifications and the blacklist instead test each inserted event in memory
(upstream ``Event.matches_template``), and that is what this module does. It is pure: no
I/O, no errors, and it never looks at a database.

An event matches a template if every field the template sets matches:

* An empty template field is a wildcard.
* A leading ``!`` negates the field's test. A lone ``!`` is a wildcard, not a negation.
* Symbol fields (interpretation and manifestation, of the event and of subjects) match if
  the event's value equals the template's, or if the event's value is a descendant of it
  in the ontology (``ontology().parents``). There is no prefix search and no ``+`` here:
  ``+x`` and ``x*`` are compared literally.
* actor, event origin, and subject uri, current_uri, origin, current_origin and mimetype
  match on equality, or, if the template value ends in ``*``, as a prefix.
* An empty event field is NULL: it matches no non-empty template value (not even ``*``),
  so a negated one (``!text/plain``, ``!*``) does match it. The SQL semantics differ.
* Subjects are ORed: if the template has subjects, at least one subject of the event must
  match at least one of them. A template without subjects ignores the event's subjects.
  (Queries AND subject templates against one subject row instead.)
* A subject's text and storage, and the event's id, timestamp and payload are not tested.

Like Zeitgeist, ``nie#InformationElement`` and ``nie#DataObject``, the roots of the
interpretation and manifestation trees, count as every symbol's ancestor in their tree
(the ontology registers them as symbols).
"""

from __future__ import annotations

from collections.abc import Sequence

from zeitbus.model import Event, Subject
from zeitbus.ontology import ontology


def _field_matches(value: str, pattern: str, *, symbol: bool = False, prefix: bool = False) -> bool:
    negated = pattern.startswith("!")
    if negated:
        pattern = pattern[1:]
    if not pattern:
        return True
    if not value:
        matched = False
    elif value == pattern or (symbol and pattern in ontology().parents(value)):
        matched = True
    else:
        matched = prefix and pattern.endswith("*") and value.startswith(pattern[:-1])
    return matched != negated


def _subject_matches(subject: Subject, template: Subject) -> bool:
    return (
        _field_matches(subject.uri, template.uri, prefix=True)
        and _field_matches(subject.current_uri, template.current_uri, prefix=True)
        and _field_matches(subject.interpretation, template.interpretation, symbol=True)
        and _field_matches(subject.manifestation, template.manifestation, symbol=True)
        and _field_matches(subject.origin, template.origin, prefix=True)
        and _field_matches(subject.current_origin, template.current_origin, prefix=True)
        and _field_matches(subject.mimetype, template.mimetype, prefix=True)
    )


def matches(event: Event, template: Event) -> bool:
    """True if ``event`` matches ``template`` with Zeitgeist's in-memory semantics."""
    if not (
        _field_matches(event.interpretation, template.interpretation, symbol=True)
        and _field_matches(event.manifestation, template.manifestation, symbol=True)
        and _field_matches(event.actor, template.actor, prefix=True)
        and _field_matches(event.origin, template.origin, prefix=True)
    ):
        return False
    if not template.subjects:
        return True
    return any(
        _subject_matches(subject, wanted)
        for subject in event.subjects
        for wanted in template.subjects
    )


def matches_any(event: Event, templates: Sequence[Event]) -> bool:
    """True if ``event`` matches at least one of ``templates`` (so never for none).

    This is the blacklist's reading of an empty list. A monitor installed without
    templates is notified of every event: check ``not templates or matches_any(...)``.
    """
    return any(matches(event, template) for template in templates)
