"""TCP_INFO fields a Linux socket keeps beside the protocol state, kept by
the runner for each connection as virtual time goes by.

The engine holds the protocol's state; Linux's `struct tcp_info` also has
a few socket-level clocks that say when things last happened and how long
the connection was held back by what. The runner samples each connection
after every step (an injected packet, a timer, a system call) and keeps
these (the engine's snapshot, `synack.engine.info.tcp_info`, takes them
as its `clocks`; it has the other fields, `tcpi_last_data_sent` and
`tcpi_rcv_mss` among them):

* `tcpi_last_data_recv`: milliseconds since data last arrived, or since the
  connection was established when none has (Linux's `icsk_ack.lrcvtime`,
  set by the handshake and by every data segment);
* `tcpi_busy_time`, `tcpi_rwnd_limited`, `tcpi_sndbuf_limited`: Linux's
  "chrono" statistics, in microseconds. At any time a connection is in at
  most one of: sending (data queued or in flight), held back by the peer's
  receive window (data waits and the offered window has no room), held back
  by the send buffer (the application ran out of buffer, everything queued
  is sent and cwnd is not the limit, until the writer is woken); a higher
  one of these wins. `tcpi_busy_time` is the sum of all three, as in
  `tcp_get_info`.
"""
from __future__ import annotations

from ..engine.connection import Connection
from ..engine.info import unsent as _unsent
from ..engine.seq import MASK
from ..engine.states import CLOSE_WAIT, CLOSING, ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2, LAST_ACK

_SYNCHRONIZED = (ESTABLISHED, CLOSE_WAIT, FIN_WAIT_1, FIN_WAIT_2, CLOSING, LAST_ACK)

#: the fields, with their meaning (listed in docs/packetdrill.md)
FIELDS = {
    "tcpi_last_data_recv": "ms since data last arrived (or since establishment)",
    "tcpi_busy_time": "µs with data queued or in flight (all three chronos)",
    "tcpi_rwnd_limited": "µs held back by the peer's receive window",
    "tcpi_sndbuf_limited": "µs the application waited for send-buffer space",
}

NONE, BUSY, RWND, SNDBUF = 0, 1, 2, 3


class _Clock:
    __slots__ = ("conn", "established_us", "chrono", "since_us", "totals", "rcv_nxt",
                 "last_rcv_us")

    def __init__(self, conn) -> None:
        self.conn = conn
        self.established_us: int | None = None
        self.rcv_nxt: int | None = None
        self.last_rcv_us: int | None = None     # when rcv_nxt last moved after the handshake
        self.chrono = NONE
        self.since_us = 0
        self.totals = [0, 0, 0, 0]


def _chrono(conn: Connection, nospace: bool, current: int) -> int:
    if conn.state not in _SYNCHRONIZED:
        return NONE                      # the handshake is not counted
    unsent = _unsent(conn)
    in_flight = (conn.snd_nxt - conn.snd_una) & MASK
    if nospace:
        # Linux (tcp_cwnd_validate): the application ran out of buffer, all
        # queued data is sent and cwnd is not the limit; it lasts until the
        # writer is woken (tcp_check_space)
        if current == SNDBUF:
            return SNDBUF
        cc = conn.cc
        if unsent <= 0 and cc is not None and in_flight < cc.cwnd:
            return SNDBUF
    if unsent > 0:
        # Linux's tcp_write_xmit tests cwnd before the window: only a
        # sender that cwnd would let go on is receive-window limited
        cc = conn.cc
        cwnd_room = cc is None or in_flight + min(unsent, conn.snd_mss) <= cc.cwnd
        room = (conn.snd_una + conn.snd_wnd - conn.snd_nxt) & MASK
        if cwnd_room and (room == 0 or room >= 1 << 31 or room < min(unsent, conn.snd_mss)):
            return RWND
        return BUSY
    return BUSY if in_flight else NONE


class SockStats:
    """The clocks of every connection the runner has seen."""

    def __init__(self) -> None:
        self._clocks: dict[int, _Clock] = {}

    def update(self, now_us: int, conns, blocked_writers: set[int]) -> None:
        """Sample `conns` (connections) at `now_us`; `blocked_writers` holds
        id()s of the connections whose application ran out of send buffer
        and has not been woken yet (Linux's SOCK_NOSPACE)."""
        for conn in conns:
            if not isinstance(conn, Connection):
                continue                         # a listener or TIME-WAIT entry has no clocks
            c = self._clocks.get(id(conn))
            if c is None or c.conn is not conn:
                c = self._clocks[id(conn)] = _Clock(conn)
                c.since_us = now_us
            if c.established_us is None and conn.state in _SYNCHRONIZED:
                c.established_us = now_us
                c.rcv_nxt = conn.rcv_nxt
            elif c.established_us is not None and conn.rcv_nxt != c.rcv_nxt:
                c.rcv_nxt = conn.rcv_nxt
                c.last_rcv_us = now_us
            new = _chrono(conn, id(conn) in blocked_writers, c.chrono)
            if new != c.chrono:
                c.totals[c.chrono] += now_us - c.since_us
                c.chrono, c.since_us = new, now_us

    def clocks(self, conn, now_us: int) -> dict[str, int]:
        """The clocks of `conn` at `now_us`, by their TcpInfo field names
        (synack.engine.info.SOCKET_CLOCKS); {} for anything but a Connection."""
        if not isinstance(conn, Connection):
            return {}
        out: dict[str, int] = {}
        c = self._clocks.get(id(conn))
        if c is not None and c.conn is not conn:
            c = None
        if c is not None and c.established_us is not None:
            last = c.last_rcv_us if c.last_rcv_us is not None else c.established_us
            out["last_data_recv"] = (now_us - last) // 1000
        if c is not None:
            totals = list(c.totals)
            totals[c.chrono] += now_us - c.since_us
            out["busy_time"] = totals[BUSY] + totals[RWND] + totals[SNDBUF]
            out["rwnd_limited"] = totals[RWND]
            out["sndbuf_limited"] = totals[SNDBUF]
        return out
