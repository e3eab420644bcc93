"""What the engine tells the application (RFC 9293 §3.9.1.8 asynchronous reports).

Events are appended to `Host.events` as `Event` values; drivers and APIs
(simulator sockets, asyncio streams, the TUN loop) read them to wake waiters.
"""
from __future__ import annotations

from typing import Any, Final

CONNECTED: Final = "connected"      #: the connection reached ESTABLISHED
ACCEPTABLE: Final = "acceptable"    #: a listener has a connection ready to accept
READABLE: Final = "readable"        #: new in-order data can be read
EOF: Final = "eof"                  #: the peer's FIN arrived: no more data will come
WRITABLE: Final = "writable"        #: send-buffer space was freed by an ACK
URGENT: Final = "urgent"            #: urgent data announced (MUST-32)
ERROR: Final = "error"              #: reset / refused / timed out (detail: errno name)
CLOSED: Final = "closed"            #: the connection reached CLOSED (detail: cause)


class Event:
    __slots__ = ("kind", "conn", "detail")

    def __init__(self, kind: str, conn: Any, detail: Any = None):
        self.kind = kind
        self.conn = conn
        self.detail = detail

    def __repr__(self) -> str:
        d = f", {self.detail!r}" if self.detail is not None else ""
        return f"Event({self.kind}, {getattr(self.conn, 'name', self.conn)}{d})"
