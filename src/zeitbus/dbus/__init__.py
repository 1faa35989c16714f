"""The Zeitgeist D-Bus adapter: ``zeitbus daemon`` (docs/dbus.md).

``codec`` converts Zeitgeist's wire structs, ``monitors`` decides who hears
of what, ``log`` serves ``org.gnome.zeitgeist.Log``, ``daemon`` is
zeitgeist-daemon's behaviour around it, and ``cli`` its command line. The
core never imports this package.
"""
