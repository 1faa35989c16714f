"""``org.gnome.zeitgeist.Blacklist`` on ``/org/gnome/zeitgeist/blacklist``.

A thin adapter over ``zeitbus.extensions.blacklist``: it decodes templates,
calls the blacklist in a worker thread (a change is saved before it is
applied), and emits upstream's signals before the method's reply, as
upstream does. TemplateAdded carries the template as the client sent it;
TemplateRemoved the stored one. A NULL event as a template is
``DataModelError.NullEvent``, too few fields ``DataModelError.InvalidSignature``;
nothing is stored then.
"""

from __future__ import annotations

import asyncio
from typing import Any

from dbus_fast.aio import MessageBus

from zeitbus.dbus.codec import WireEvent, event_from_wire, event_to_wire
from zeitbus.dbus.errors import NullEvent
from zeitbus.dbus.objects import ExportedObject, Method, Signal
from zeitbus.extensions.blacklist import Blacklist
from zeitbus.model import Event

PATH = "/org/gnome/zeitgeist/blacklist"
INTERFACE = "org.gnome.zeitgeist.Blacklist"
EVENT = "(asaasay)"

METHODS = (
    Method("AddTemplate", (("template_id", "s"), ("event_template", EVENT)), ()),
    Method("GetTemplates", (), ("a{s(asaasay)}",)),
    Method("RemoveTemplate", (("template_id", "s"),), ()),
)
SIGNALS = (
    Signal("TemplateAdded", (("template_id", "s"), ("event_template", EVENT))),
    # Upstream introspects this one as "(asassay)" (a typo) and sends "(asaasay)".
    Signal(
        "TemplateRemoved",
        (("template_id", "s"), ("event_template", EVENT)),
        introspected=("s", "(asassay)"),
    ),
)


class BlacklistService:
    """Serves ``blacklist`` on ``bus``."""

    def __init__(self, blacklist: Blacklist, bus: MessageBus) -> None:
        self.blacklist = blacklist
        self._object = ExportedObject(
            bus,
            PATH,
            INTERFACE,
            METHODS,
            {
                "AddTemplate": self.add_template,
                "GetTemplates": self.get_templates,
                "RemoveTemplate": self.remove_template,
            },
            SIGNALS,
            ordered=True,
        )

    async def start(self) -> None:
        """Export the interface."""
        self._object.export()

    async def stop(self) -> None:
        """Stop taking calls."""
        await self._object.stop()

    async def add_template(self, sender: str, template_id: str, struct: WireEvent) -> None:
        """AddTemplate: blacklist a template under an id (replacing one there)."""
        template = event_from_wire(struct)
        if template is None:
            raise NullEvent("This is an empty event.")
        await asyncio.to_thread(self.blacklist.add, template_id, template)
        self._object.emit("TemplateAdded", template_id, struct)  # as sent, as upstream

    async def add(self, template_id: str, template: Event) -> Event:
        """Blacklist a template and tell the bus (changes made over HTTP)."""
        stored = await asyncio.to_thread(self.blacklist.add, template_id, template)
        self._object.emit("TemplateAdded", template_id, event_to_wire(template))
        return stored

    async def get_templates(self, sender: str) -> dict[str, Any]:
        """GetTemplates: every blacklisted template by id."""
        return {key: event_to_wire(t) for key, t in self.blacklist.templates().items()}

    async def remove_template(self, sender: str, template_id: str) -> None:
        """RemoveTemplate: an unknown id is a silent no-op."""
        await self.remove(template_id)

    async def remove(self, template_id: str) -> Event | None:
        """Remove a template and tell the bus; the removed template, or None."""
        removed = await asyncio.to_thread(self.blacklist.remove, template_id)
        if removed is not None:
            self._object.emit("TemplateRemoved", template_id, event_to_wire(removed))
        return removed
