"""The blacklist: event templates whose matching events are never stored.

Theory of operation (upstream ``extensions/blacklist.vala``). The blacklist is
a map from a client-chosen template id to an event template. Every batch
passes through ``filter`` (an engine pre-insert hook) after the engine has
completed the events (so a template on ``current_uri`` also catches events
that only set ``uri``), and each event that matches any template with the
in-memory semantics of ``zeitbus.matching`` is dropped: it gets id 0.
Existing events are not deleted. Adding under a taken id replaces that
template; removing an unknown id does nothing.

The map is saved (``ExtensionConf``, key ``blacklist``) before it changes,
so a change that could not be saved is not applied. The hook runs on the
engine's calling thread while D-Bus calls change the map on the event loop:
the map is replaced, never mutated, so a batch sees one consistent version.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from zeitbus.engine import Engine
from zeitbus.extensions.conf import ExtensionConf
from zeitbus.jsonl import event_from_json, event_to_json
from zeitbus.matching import matches
from zeitbus.model import Event
from zeitbus.validation import Clock, check_template, now_ms

logger = logging.getLogger(__name__)

EXTENSION = "blacklist"
KEY = "blacklist"


class Blacklist:
    """Blacklisted templates by id; ``filter`` is the engine's pre-insert hook."""

    def __init__(self, conf: ExtensionConf | None = None, *, clock: Clock = now_ms) -> None:
        self._conf = conf
        self._clock = clock
        self._lock = threading.Lock()
        self._templates: Mapping[str, Event] = self._load()

    def _load(self) -> dict[str, Event]:
        stored = None if self._conf is None else self._conf.load(EXTENSION, KEY)
        if stored is None:
            return {}
        try:
            return {str(key): event_from_json(value) for key, value in dict(stored).items()}
        except (TypeError, ValueError):
            logger.warning("Could not load the stored blacklist; starting empty")
            return {}

    def install(self, engine: Engine) -> None:
        """Have ``engine`` drop blacklisted events from every batch."""
        engine.add_pre_insert_hook(self.filter)

    def templates(self) -> dict[str, Event]:
        """The blacklisted templates by id."""
        return dict(self._templates)

    def add(self, template_id: str, template: Event) -> Event:
        """Blacklist ``template`` under ``template_id`` (replacing one there); returns it.

        As upstream, an empty timestamp is read as "now" (it is stored and
        returned so; matching ignores timestamps).
        """
        check_template(template, "blacklist template")
        if template.timestamp is None:
            template = template.with_changes(timestamp=self._clock())
        with self._lock:
            templates = {**self._templates, template_id: template}
            self._save(templates)
            self._templates = templates
        logger.debug("Added blacklist template [#%d]", len(templates))
        return template

    def remove(self, template_id: str) -> Event | None:
        """Remove a template; the removed template, or None if there was none."""
        with self._lock:
            removed = self._templates.get(template_id)
            if removed is None:
                return None
            templates = {k: v for k, v in self._templates.items() if k != template_id}
            self._save(templates)
            self._templates = templates
        return removed

    def _save(self, templates: Mapping[str, Event]) -> None:
        if self._conf is not None:
            value = {key: event_to_json(template) for key, template in templates.items()}
            self._conf.save(EXTENSION, KEY, value)

    def filter(self, batch: list[Event | None], sender: str | None) -> list[Event | None]:
        """The batch with every event that matches a blacklisted template set to None."""
        templates = tuple(self._templates.values())
        if not templates:
            return batch
        return [
            None
            if event is None or any(matches(event, template) for template in templates)
            else event
            for event in batch
        ]
