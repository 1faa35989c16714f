"""Zeitgeist's extensions, as core logic any adapter can use (docs/dbus.md).

``conf`` keeps their small persistent state, ``blacklist`` and
``datasources`` drop events through the engine's pre-insert hooks,
``histogram`` counts subjects per local day, and ``storage`` tracks storage
media. None of them imports an adapter library: ``zeitbus.dbus`` serves them
on D-Bus.
"""
