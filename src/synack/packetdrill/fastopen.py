"""Client TCP Fast Open in the runner's system calls (RFC 7413; the engine's
half is synack.engine.fastopen).

Linux's socket-layer behaviour, checked against the kernel
(tests/test_socket_differential.py, the `fastopen` cases):

* setsockopt TCP_FASTOPEN_CONNECT: EINVAL for a value other than 0/1,
  EOPNOTSUPP while net.ipv4.tcp_fastopen lacks the client bit (0x1),
  EINVAL once the socket is connecting or connected;
* connect() with it set: when a cookie for the server is cached (or
  cookie-less mode, 0x4, is on), returns 0 at once and sends nothing: the
  SYN goes out with the first write ("deferred connect"); a second
  connect() then says EISCONN. Without a cookie it starts an ordinary
  handshake whose SYN asks for one (EINPROGRESS when non-blocking);
* sendto/sendmsg with MSG_FASTOPEN on an unconnected socket, and any write
  on a deferred one: connect with the data on the SYN. Non-blocking, the
  call returns the octets the SYN took, or EINPROGRESS if it took none (no
  cookie, an empty or unreadable buffer); blocking, it waits for the
  handshake and then writes the rest. A NULL buffer is not EFAULT here: the
  kernel falls back to a plain cookie request and answers EINPROGRESS;
* MSG_FASTOPEN on a socket with a connection: see `_tfo_connected`
  (EALREADY, EISCONN, or a plain write); with the client bit off or an
  AF_UNSPEC address: EOPNOTSUPP.
"""
from __future__ import annotations

from ..engine.fastopen import CLIENT_ENABLE
from ..engine.states import CLOSED, SYN_RECEIVED, SYN_SENT
from . import ast as A

MSG_FASTOPEN = 0x20000000
MSG_DONTWAIT = 0x40


def _done(result: int, errno: str | None = None):
    from .syscalls import Done
    return Done(result, errno)


class FastOpenMixin:
    """Mixed into the runner with SyscallsMixin (which calls these)."""

    def _tfo_enabled(self) -> bool:
        return bool(self.base_cfg.fastopen & CLIENT_ENABLE)

    # -- TCP_FASTOPEN_CONNECT --------------------------------------------------------
    def tfo_setsockopt(self, sock, value: int):
        """setsockopt(TCP_FASTOPEN_CONNECT) as Linux's do_tcp_setsockopt."""
        if value not in (0, 1):
            return _done(-1, "EINVAL")
        if not self._tfo_enabled():
            return _done(-1, "EOPNOTSUPP")
        if sock.listener is not None or sock.deferred is not None or (
                sock.conn is not None and sock.conn.state is not CLOSED):
            return _done(-1, "EINVAL")
        sock.tfo_connect = value
        return _done(0)

    def tfo_connect(self, sock, rip: str, rport: int):
        """connect() of a socket with TCP_FASTOPEN_CONNECT; None when the
        ordinary connect applies (the option is off)."""
        if not sock.tfo_connect or not self._tfo_enabled():
            return None
        if self.host.fastopen_ready(rip, sock.cfg):
            sock.deferred = (rip, rport)          # the SYN waits for the first write
            return _done(0)
        conn = self._tfo_open(sock, rip, rport, b"")
        if isinstance(conn, str):
            return _done(-1, conn)
        sock.tfo_req = True
        if sock.nonblock:
            sock.connecting = True
            return _done(-1, "EINPROGRESS")
        return self._block_connect(sock, conn)

    # -- writes ------------------------------------------------------------------------
    def tfo_send(self, sock, n: int, flags: int, efault: bool, addr_e: A.Expr | None):
        """A write that Fast Open takes: MSG_FASTOPEN, or any write on a
        deferred socket. None when it is an ordinary write."""
        if sock.deferred is None and not flags & MSG_FASTOPEN:
            return None
        if not self._tfo_enabled() or (isinstance(addr_e, A.Ident)
                                       and addr_e.name == "AF_UNSPEC"):
            return _done(-1, "EOPNOTSUPP")
        conn = sock.conn
        nonblock = sock.nonblock or bool(flags & MSG_DONTWAIT)
        if conn is not None:
            return self._tfo_connected(sock, conn, nonblock)
        if sock.listener is not None:
            return None
        if sock.deferred is not None:
            rip, rport = sock.deferred
        else:
            rip, rport = self._sockaddr(addr_e if addr_e is not None else A.EllipsisExpr(),
                                        (self.addr.remote_ip, self.addr.connect_port))
        sock.deferred = None
        conn = self._tfo_open(sock, rip, rport, None if efault else bytes(n))
        if isinstance(conn, str):
            return _done(-1, conn)
        taken = conn.tfo_taken
        if nonblock:
            sock.connecting = True
            return _done(taken) if taken else _done(-1, "EINPROGRESS")
        if conn.tfo is not None and n > taken:
            conn.tfo.write_pending = True      # Linux: the writer waits with more to send
        return self._tfo_block(sock, conn, n, taken, flags, efault)

    def _tfo_connected(self, sock, conn, nonblock: bool):
        """MSG_FASTOPEN on a socket that has a connection (Linux's
        tcp_sendmsg_fastopen, then __inet_stream_connect as for a repeated
        connect): EALREADY while a TCP_FASTOPEN_CONNECT connect() keeps its
        Fast Open request; EISCONN once the socket is known to be connected
        (a connect() said so); still "connecting" (a non-blocking or Fast Open
        connect nobody checked): EALREADY in SYN-SENT when non-blocking, else
        a plain write (which waits for the handshake), the socket then taken
        as connected. None: a plain write."""
        if sock.tfo_req:
            return _done(-1, "EALREADY")
        if conn.state is CLOSED:
            return None                          # the write reports the error
        if not sock.connecting:
            return _done(-1, "EISCONN")
        if conn.state in (SYN_SENT, SYN_RECEIVED):
            return _done(-1, "EALREADY") if nonblock else None
        sock.connecting = False
        return None

    def _tfo_open(self, sock, rip: str, rport: int, data):
        """The engine's Fast Open connect; an errno name if it fails."""
        local_ip, local_port = sock.bound or (None, 0)
        if local_ip in ("0.0.0.0", "::"):
            local_ip = None
        try:
            conn = self.host.connect(self.now, rip, rport,
                                     local_ip=local_ip or self.addr.local_ip,
                                     local_port=local_port, config=sock.cfg,
                                     fastopen=True, data=data)
        except OSError as e:
            from .syscalls import errno_name
            return errno_name(e)
        sock.conn = conn
        conn.linger = sock.opts.linger
        self.sut_connecting(sock, (rip, rport))
        return conn

    def _tfo_block(self, sock, conn, n: int, taken: int, flags: int, efault: bool):
        """A blocking Fast Open write: wait for the handshake (Linux's
        inet_wait_for_connect), then write what the SYN did not take."""
        from .syscalls import SYNCHRONIZED, WouldBlock
        state: dict = {"rest": None}

        def rest_done(got):
            if got is None or got.result < 0:
                return got if taken == 0 or got is None else _done(taken)
            return _done(taken + got.result)

        def attempt():
            if state["rest"] is not None:
                return rest_done(state["rest"]())
            failed = self._conn_failed(sock, conn)
            if failed is not None:
                return failed
            if conn.state is CLOSED:
                return _done(-1, "ECONNREFUSED")
            if conn.state not in SYNCHRONIZED:
                return None
            if n == taken:
                return _done(taken)
            if conn.cfg.quickack:
                # Linux: the writer waiting at the SYN,ACK makes it enter quick-ack
                # mode with ato 40 ms; the data sent at once is a reply within the
                # ato of the SYN,ACK: ping-pong mode (tcp_event_data_sent)
                conn.pingpong = True
            try:
                return rest_done(self._send(sock, n - taken, flags & ~MSG_FASTOPEN, efault))
            except WouldBlock as wb:
                state["rest"] = wb.retry
                return None

        got = attempt()
        if got is not None:
            return got
        raise WouldBlock(attempt, why="a Fast Open write waits for the handshake", conn=conn)
