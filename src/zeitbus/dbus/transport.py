"""A work-around for dbus-fast dropping the connection when the socket is full.

dbus-fast's asyncio writer (5.2.0, inherited from python-dbus-next, upstream
issue altdesktop/python-dbus-next#153) sends on its non-blocking socket and
treats *any* exception as a lost connection, including ``BlockingIOError``
(EAGAIN), which only means the kernel's send buffer is full. A large reply
(GetEvents of many ids, a blacklist of long templates) sent while an earlier
one is still being written makes it hit EAGAIN, and the daemon then thinks the
bus went away and stops. tests/dbus/test_fuzz.py found it.

The writer reads ``sock.send``'s return value as the number of bytes written
and, when that is short of the message, keeps its writer callback registered
and resumes when the socket is writable. So the socket it writes to is
wrapped here: a send that would block reports 0 bytes written, which the
writer already handles as "wait for writable".
"""

from __future__ import annotations

import socket
from typing import Any

from dbus_fast.aio import MessageBus


class _NonBlockingSendSocket:
    """A socket whose ``send``/``sendmsg`` answer 0 instead of raising EAGAIN."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def send(self, data: Any, *args: Any) -> int:
        """``socket.send``, with "would block" reported as 0 bytes sent."""
        try:
            return self._sock.send(data, *args)
        except (BlockingIOError, InterruptedError):
            return 0

    def sendmsg(self, buffers: Any, *args: Any) -> int:
        """``socket.sendmsg``, with "would block" reported as 0 bytes sent."""
        try:
            return self._sock.sendmsg(buffers, *args)
        except (BlockingIOError, InterruptedError):
            return 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def tolerate_full_socket(bus: MessageBus) -> MessageBus:
    """Make ``bus``'s writer wait for a full socket instead of disconnecting."""
    writer = getattr(bus, "_writer", None)
    sock = getattr(writer, "sock", None)
    if isinstance(sock, socket.socket):
        writer.sock = _NonBlockingSendSocket(sock)  # type: ignore[union-attr]
    return bus
