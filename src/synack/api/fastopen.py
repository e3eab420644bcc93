"""Client TCP Fast Open for `synack.api.socket` (RFC 7413; the engine's half
is synack.engine.fastopen, the packetdrill runner's synack.packetdrill.fastopen).

Behaviour as CPython's socket on Linux (tests/sockdiff.py, the `tfo_*`
cases, compare them):

* ``setsockopt(IPPROTO_TCP, TCP_FASTOPEN_CONNECT, 1)``: EINVAL for a value
  other than 0/1 or once the socket connects, EOPNOTSUPP when the stack's
  `Config.fastopen` lacks the client bit (0x1);
* ``connect()`` with it set: returns at once, sending nothing, when a cookie
  for the server is cached (the SYN goes with the first send: "deferred
  connect"; a second connect() raises EISCONN); without a cookie it is an
  ordinary connect whose SYN asks for one;
* ``sendto(data, MSG_FASTOPEN, address)`` on an unconnected socket, and any
  send on a deferred one: connects with the data on the SYN. In blocking
  mode (no timeout) it waits for the handshake and sends the rest; in
  non-blocking mode, and with a timeout (CPython then calls the kernel in
  non-blocking mode and does not wait on EINPROGRESS), it returns the octets
  the SYN took, or raises BlockingIOError(EINPROGRESS) when it took none;
* MSG_FASTOPEN on a socket that has a connection: EALREADY, EISCONN or a
  plain send (see `_tfo_connected`); with a timeout CPython first polls for
  POLLOUT, which a connecting socket does not give: the call times out;
* recv on a deferred socket: EAGAIN when non-blocking, else it waits (the
  socket is in SYN-SENT in Linux, with no SYN sent).
"""
from __future__ import annotations

import errno as _errno
import os as _os

from ..engine.fastopen import CLIENT_ENABLE
from ..engine.states import CLOSED, SYN_RECEIVED, SYN_SENT

TCP_FASTOPEN_CONNECT = 30
MSG_FASTOPEN = 0x20000000


def _oserror(code: int) -> OSError:
    return OSError(code, _os.strerror(code))


class FastOpenSocket:
    """The Fast Open part of `synack.api.socket.socket` (a base class)."""

    _tfo_connect = 0                       # TCP_FASTOPEN_CONNECT
    _deferred: tuple[str, int] | None = None   # a deferred connect's address
    _tfo_req = False                       # Linux's fastopen_req kept by connect()

    def _tfo_enabled(self) -> bool:
        return bool(self._config().fastopen & CLIENT_ENABLE)

    def _tfo_setsockopt(self, value: int) -> None:
        if value not in (0, 1):
            raise _oserror(_errno.EINVAL)
        if not self._tfo_enabled():
            raise _oserror(_errno.EOPNOTSUPP)
        conn = self._conn
        if self._listener is not None or self._deferred is not None or (
                conn is not None and conn.state is not CLOSED):
            raise _oserror(_errno.EINVAL)
        self._tfo_connect = value

    def _tfo_defer(self, rip: str, rport: int) -> bool:
        """connect() with TCP_FASTOPEN_CONNECT: True when the connect is
        deferred (a cookie is cached: nothing is sent yet)."""
        if not self._tfo_connect or not self._tfo_enabled():
            return False
        with self._stack.lock:
            if not self._stack.host.fastopen_ready(rip, self._config()):
                return False
        self._deferred = (rip, rport)
        return True

    def _tfo_takes(self, flags: int) -> bool:
        """Whether a send goes through Fast Open (MSG_FASTOPEN, or a deferred socket)."""
        return self._deferred is not None or bool(flags & MSG_FASTOPEN)

    def _tfo_send(self, data, flags: int, address) -> int | None:
        """A Fast Open send; None when it is an ordinary send after all
        (the socket is connected)."""
        self._check()
        if not self._tfo_enabled():
            raise _oserror(_errno.EOPNOTSUPP)
        conn = self._conn
        if conn is not None:
            return self._tfo_connected(conn, self._timeout == 0.0 or bool(flags & 0x40))
        if self._listener is not None:
            return None
        if self._deferred is not None:
            rip, rport = self._deferred
        elif address is None:
            raise _oserror(_errno.EINVAL)          # Linux: connect without an address
        else:
            rip, rport = self._parse(address, "connect")
        self._deferred = None
        view = memoryview(data).cast("B")
        conn = self._tfo_open(rip, rport, bytes(view))
        taken = conn.tfo_taken
        if self._timeout is not None or flags & 0x40:        # MSG_DONTWAIT
            if taken:
                return taken
            raise _oserror(_errno.EINPROGRESS)
        if taken < len(view) and conn.tfo is not None:
            conn.tfo.write_pending = True     # Linux: the writer waits with more to send
        self._finish_connect(conn, None)
        if taken == len(view):
            return taken
        return taken + self._send(view[taken:], flags & ~MSG_FASTOPEN, True)

    def _tfo_connected(self, conn, nonblocking: bool) -> None:
        """MSG_FASTOPEN on a socket that has a connection, as Linux (its
        tcp_sendmsg_fastopen, then __inet_stream_connect as for a repeated
        connect): EALREADY while a TCP_FASTOPEN_CONNECT connect() keeps its
        Fast Open request; EISCONN once the socket is known to be connected
        (a blocking connect(), or a repeated one, said so); a socket still
        "connecting" (a non-blocking connect, one with a timeout, a Fast Open
        send) gets EALREADY in SYN-SENT when non-blocking, else the send goes
        on as a plain one (waiting for the handshake) and the socket is then
        taken as connected. Returns None for a plain send."""
        if self._tfo_req:
            raise _oserror(_errno.EALREADY)
        with self._stack.lock:
            state, error = conn.state, conn.error
        if state is CLOSED or error:
            return None                          # the send reports the error
        if not (self._connecting or self._connect_once):
            raise _oserror(_errno.EISCONN)
        if state in (SYN_SENT, SYN_RECEIVED):
            if nonblocking:
                raise _oserror(_errno.EALREADY)
            return None
        self._connect_once = False
        return None

    def _tfo_deferred_conn(self):
        """recv on a deferred socket: EAGAIN when non-blocking, else wait
        until a send (in another thread) connects it, or the timeout."""
        if self._timeout == 0.0:
            raise _oserror(_errno.EAGAIN)
        self._wait(lambda: self._conn is not None, self._deadline())
        return self._conn

    def _tfo_open(self, rip: str, rport: int, data: bytes):
        st = self._stack
        with st.op() as now:
            if self._bind_port is not None:
                lip = None if self._bind_ip in ("0.0.0.0", "::") else self._bind_ip
                lport = self._bind_port
            else:
                lip, lport = None, 0
            if rip.startswith("127."):
                if not st.claim_loopback(rip):
                    raise _oserror(_errno.ENETUNREACH)
                if lip is None:
                    lip = "127.0.0.1"
            conn = st.host.connect(now, rip, rport, local_ip=lip, local_port=lport,
                                   config=self._config(), fastopen=True, data=data)
            conn.linger = self._opts.linger
            self._conn = conn
            self._connecting = True
            self._err_reported = False
        return conn
