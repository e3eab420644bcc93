"""The system calls of a packetdrill script, mapped onto synack's engine.

Each script socket is a `Sock`: the file-descriptor side of a Linux TCP
socket (flags, socket options, bound address) in front of an engine
`Listener` or `Connection`. The calls follow Linux's socket-layer
semantics where the engine's interface is lower-level: blocking versus
non-blocking, a connection error reported once (then EOF / EPIPE), write
blocking until everything is queued. Socket options go through the
engine's `SockOpts` (synack.engine.info), with socket buffer sizes doubled
as Linux does.

A call either completes (`Done`) or, on a blocking socket, would block:
it then raises `WouldBlock` with a function the runner calls again after
every step of virtual time until it completes.
"""
from __future__ import annotations

import errno as _errno
import os
from dataclasses import dataclass, field
from typing import Callable

from ..engine.info import OPTION_NAMES, NotSupported, SockOpts, queues
from ..engine.states import (CLOSE_WAIT, CLOSED, CLOSING, ESTABLISHED, FIN_WAIT_1,
                      FIN_WAIT_2, LAST_ACK, SYN_RECEIVED, SYN_SENT,
                      TIME_WAIT)
from . import ast as A
from .outcome import ScriptFailure, unsupported

# --------------------------------------------------------------------------
# symbols (Linux values)

SYMBOLS: dict[str, int] = {
    "AF_INET": 2, "AF_INET6": 10, "AF_UNSPEC": 0, "PF_INET": 2, "PF_INET6": 10,
    "SOCK_STREAM": 1, "SOCK_DGRAM": 2, "SOCK_RAW": 3,
    "SOCK_NONBLOCK": 0o4000, "SOCK_CLOEXEC": 0o2000000,
    "IPPROTO_IP": 0, "IPPROTO_TCP": 6, "IPPROTO_UDP": 17, "IPPROTO_IPV6": 41,
    "SOL_SOCKET": 1, "SOL_TCP": 6, "SOL_IP": 0, "SOL_IPV6": 41,
    "SO_DEBUG": 1, "SO_REUSEADDR": 2, "SO_TYPE": 3, "SO_ERROR": 4,
    "SO_DONTROUTE": 5, "SO_BROADCAST": 6, "SO_SNDBUF": 7, "SO_RCVBUF": 8,
    "SO_KEEPALIVE": 9, "SO_OOBINLINE": 10, "SO_LINGER": 13, "SO_REUSEPORT": 15,
    "SO_RCVLOWAT": 18, "SO_SNDLOWAT": 19, "SO_RCVTIMEO": 20, "SO_SNDTIMEO": 21,
    "SO_ZEROCOPY": 60, "SO_MAX_PACING_RATE": 47,
    "TCP_NODELAY": 1, "TCP_MAXSEG": 2, "TCP_CORK": 3, "TCP_KEEPIDLE": 4,
    "TCP_KEEPINTVL": 5, "TCP_KEEPCNT": 6, "TCP_SYNCNT": 7, "TCP_LINGER2": 8,
    "TCP_DEFER_ACCEPT": 9, "TCP_WINDOW_CLAMP": 10, "TCP_INFO": 11,
    "TCP_QUICKACK": 12, "TCP_CONGESTION": 13, "TCP_MD5SIG": 14,
    "TCP_THIN_LINEAR_TIMEOUTS": 16, "TCP_USER_TIMEOUT": 18, "TCP_REPAIR": 19,
    "TCP_FASTOPEN": 23, "TCP_TIMESTAMP": 24, "TCP_NOTSENT_LOWAT": 25,
    "TCP_CC_INFO": 26, "TCP_SAVE_SYN": 27, "TCP_SAVED_SYN": 28,
    "TCP_FASTOPEN_CONNECT": 30, "TCP_INQ": 36,
    "F_GETFD": 1, "F_SETFD": 2, "F_GETFL": 3, "F_SETFL": 4, "FD_CLOEXEC": 1,
    "O_RDONLY": 0, "O_WRONLY": 1, "O_RDWR": 2, "O_NONBLOCK": 0o4000,
    "O_NDELAY": 0o4000,
    "SIOCINQ": 0x541B, "FIONREAD": 0x541B, "SIOCOUTQ": 0x5411,
    "TIOCOUTQ": 0x5411, "SIOCOUTQNSD": 0x894B, "FIONBIO": 0x5421,
    "SHUT_RD": 0, "SHUT_WR": 1, "SHUT_RDWR": 2,
    "MSG_OOB": 0x1, "MSG_PEEK": 0x2, "MSG_DONTROUTE": 0x4, "MSG_TRUNC": 0x20,
    "MSG_DONTWAIT": 0x40, "MSG_EOR": 0x80, "MSG_WAITALL": 0x100,
    "MSG_CONFIRM": 0x800, "MSG_ERRQUEUE": 0x2000, "MSG_NOSIGNAL": 0x4000,
    "MSG_MORE": 0x8000, "MSG_FASTOPEN": 0x20000000, "MSG_ZEROCOPY": 0x4000000,
    "POLLIN": 0x1, "POLLPRI": 0x2, "POLLOUT": 0x4, "POLLERR": 0x8,
    "POLLHUP": 0x10, "POLLNVAL": 0x20, "POLLRDNORM": 0x40, "POLLRDBAND": 0x80,
    "POLLWRNORM": 0x100, "POLLWRBAND": 0x200, "POLLMSG": 0x400,
    "POLLREMOVE": 0x1000, "POLLRDHUP": 0x2000,
    "INADDR_ANY": 0, "NULL": 0,
    # IP-level options and epoll (used by sockext)
    "IP_TOS": 1, "IP_TTL": 2, "IP_MTU_DISCOVER": 10, "IPV6_MTU_DISCOVER": 23,
    "IPV6_TCLASS": 67, "IP_PMTUDISC_DONT": 0, "IP_PMTUDISC_WANT": 1, "IP_PMTUDISC_DO": 2,
    "IP_PMTUDISC_PROBE": 3, "IP_PMTUDISC_INTERFACE": 4, "IP_PMTUDISC_OMIT": 5,
    "IPV6_PMTUDISC_DONT": 0, "IPV6_PMTUDISC_WANT": 1, "IPV6_PMTUDISC_DO": 2,
    "IPV6_PMTUDISC_PROBE": 3, "TCP_CM_INQ": 36,
    "EPOLLIN": 0x1, "EPOLLPRI": 0x2, "EPOLLOUT": 0x4, "EPOLLERR": 0x8, "EPOLLHUP": 0x10,
    "EPOLLRDNORM": 0x40, "EPOLLRDBAND": 0x80, "EPOLLWRNORM": 0x100, "EPOLLWRBAND": 0x200,
    "EPOLLMSG": 0x400, "EPOLLRDHUP": 0x2000, "EPOLLEXCLUSIVE": 1 << 28,
    "EPOLLWAKEUP": 1 << 29, "EPOLLONESHOT": 1 << 30, "EPOLLET": 1 << 31,
    "EPOLL_CTL_ADD": 1, "EPOLL_CTL_DEL": 2, "EPOLL_CTL_MOD": 3, "EPOLL_CLOEXEC": 0o2000000,
}
SOL_SOCKET, SOL_TCP = 1, 6
O_NONBLOCK = 0o4000
_MSG_FLAGS_OK = SYMBOLS["MSG_DONTWAIT"] | SYMBOLS["MSG_NOSIGNAL"] | SYMBOLS["MSG_ZEROCOPY"]
_MSG_FLAGS_RECV_OK = SYMBOLS["MSG_DONTWAIT"] | SYMBOLS["MSG_PEEK"] | SYMBOLS["MSG_NOSIGNAL"]

#: options that live in the socket layer alone (no connection is concerned)
_SOCKET_ONLY = ("SO_REUSEADDR", "SO_REUSEPORT", "SO_DEBUG", "SO_OOBINLINE", "SO_ZEROCOPY")
SYNCHRONIZED = (ESTABLISHED, CLOSE_WAIT, FIN_WAIT_1, FIN_WAIT_2, CLOSING,
                LAST_ACK, TIME_WAIT)


def errno_name(exc: OSError) -> str:
    if isinstance(exc, BlockingIOError):
        return "EAGAIN"
    code = exc.errno
    if code is None:
        return "EIO"
    return _errno.errorcode.get(code, f"E{code}")


def strerror(name: str) -> str:
    code = getattr(_errno, name, None)
    return os.strerror(code) if code is not None else name


# --------------------------------------------------------------------------
# expressions

def eval_int(expr: A.Expr, what: str = "argument") -> int:
    """An integer-valued expression: numbers, symbols, `a|b`, htons(),
    htonl() (values are kept in host order), `[x]`."""
    if isinstance(expr, A.IntExpr):
        return expr.value
    if isinstance(expr, A.Ident):
        if expr.name in SYMBOLS:
            return SYMBOLS[expr.name]
        raise unsupported(f"unknown symbol {expr.name} in {what}")
    if isinstance(expr, A.BinaryExpr) and expr.op == "|":
        return eval_int(expr.left, what) | eval_int(expr.right, what)
    if isinstance(expr, A.CallExpr) and expr.name in ("htons", "htonl", "ntohs", "ntohl") \
            and len(expr.args) == 1:
        return eval_int(expr.args[0], what)
    if isinstance(expr, A.ArrayExpr) and len(expr.items) == 1:
        return eval_int(expr.items[0], what)
    raise unsupported(f"expression {expr} as {what}")


def eval_box(expr: A.Expr, what: str) -> int | None:
    """`[x]` -> x; `...` or `NULL` -> None (not checked)."""
    if isinstance(expr, A.EllipsisExpr):
        return None
    if isinstance(expr, A.Ident) and expr.name == "NULL":
        return None
    if isinstance(expr, A.ArrayExpr):
        if len(expr.items) != 1:
            raise unsupported(f"{what} {expr}: expected [value]")
        item = expr.items[0]
        if isinstance(item, A.EllipsisExpr):
            return None
        return eval_int(item, what)
    return eval_int(expr, what)


def is_ellipsis(expr: A.Expr) -> bool:
    return isinstance(expr, A.EllipsisExpr)


def iov_total(expr: A.Expr, what: str) -> int:
    """Total length of an iovec array `[{..., 40}, {..., 60}]`."""
    if not isinstance(expr, A.ArrayExpr):
        raise unsupported(f"{what} {expr}: expected an iovec array")
    total = 0
    for item in expr.items:
        if not (isinstance(item, A.StructExpr) and len(item.items) == 2
                and isinstance(item.items[0], A.EllipsisExpr)):
            raise unsupported(f"iovec {item}: expected {{..., len}}")
        total += eval_int(item.items[1], "iovec length")
    return total


# --------------------------------------------------------------------------
# socket state

@dataclass
class Sock:
    """One script file descriptor: a TCP socket."""
    fd: int
    family: int
    cfg: object                       # synack.engine.config.Config (a private copy)
    opts: SockOpts                    # the socket options (synack.engine.info)
    nonblock: bool = False
    bound: tuple[str, int] | None = None
    listener: object | None = None
    conn: object | None = None
    #: the options only the socket layer keeps (SO_REUSEADDR ...), and its
    #: own flags (("nospace",): Linux's SOCK_NOSPACE)
    sockopts: dict[tuple, int] = field(default_factory=dict)
    connecting: bool = False          # non-blocking connect() in progress
    error_reported: bool = False      # sk_err already handed to the app
    pushed_seq: int | None = None     # Linux's tp->pushed_seq: the last push mark (forced_push)
    tfo_connect: int = 0              # TCP_FASTOPEN_CONNECT (packetdrill/fastopen.py)
    deferred: tuple[str, int] | None = None   # a Fast Open connect() waiting for a write
    tfo_req: bool = False             # Linux's fastopen_req kept by a TCP_FASTOPEN_CONNECT connect()

    @property
    def kind(self) -> str:
        if self.listener is not None:
            return "listener"
        if self.conn is not None:
            return "connection"
        return "socket"


@dataclass
class Done:
    result: int
    errno: str | None = None
    detail: str | None = None          # e.g. the bytes read, for the trace


class WouldBlock(Exception):
    """The call blocks. `retry()` returns None while still blocked, else a
    `Done`; `wake_us` is a virtual time at which to call it again even if
    nothing happens (a poll() timeout), or None."""

    def __init__(self, retry: Callable[[], Done | None], wake_us: int | None = None,
                 why: str = "", conn=None):
        super().__init__(why)
        self.retry = retry
        self.wake_us = wake_us
        self.why = why
        self.conn = conn                 # a write waiting for this connection's buffer


def mismatch(message: str) -> ScriptFailure:
    return ScriptFailure("syscall", message)


# --------------------------------------------------------------------------
# the calls

def _ok(x: int = 0, detail: str | None = None) -> Done:
    return Done(x, None, detail)


def _err(name: str) -> Done:
    return Done(-1, name)


class SyscallsMixin:
    """System call implementations, mixed into the runner. The runner
    provides: host, now (engine seconds), fds, addr (Addresses), base_cfg,
    sut / new_sut(), note(), and the `expected_fd(ev)` helper."""

    # -- helpers ------------------------------------------------------------
    def _sock(self, expr: A.Expr) -> Sock:
        fd = eval_int(expr, "file descriptor")
        sock = self.fds.get(fd)
        if sock is None:
            raise _BadFd(fd)
        return sock

    def _args(self, ev: A.Syscall, n: int | tuple[int, ...]) -> list[A.Expr]:
        counts = (n,) if isinstance(n, int) else n
        if len(ev.args) not in counts:
            raise ScriptFailure("script", f"{ev.name}() takes {' or '.join(map(str, counts))} "
                                          f"arguments, the script gives {len(ev.args)}")
        return ev.args

    def _new_fd(self, ev: A.Syscall) -> int:
        want = ev.result.value if isinstance(ev.result, A.IntExpr) else -1
        used = set(self.fds) | set(getattr(self, "epolls", ()))
        if want >= 0 and want not in used:
            return want
        fd = 3
        while fd in used:
            fd += 1
        return fd

    def _family_default(self) -> int:
        return SYMBOLS["AF_INET6"] if self.addr.socket_v6 else SYMBOLS["AF_INET"]

    def _sockaddr(self, expr: A.Expr, default: tuple[str, int]) -> tuple[str, int]:
        """`...` -> default; a {sa_family=..., sin_port=htons(p),
        sin_addr=inet_addr("a")} struct -> (a, p)."""
        if is_ellipsis(expr):
            return default
        if isinstance(expr, A.StructExpr):
            f = expr.fields
            port_e = f.get("sin_port", f.get("sin6_port"))
            addr_e = f.get("sin_addr", f.get("sin6_addr"))
            port = default[1] if port_e is None else eval_int(port_e, "port")
            ip = default[0]
            if isinstance(addr_e, A.CallExpr) and addr_e.name in ("inet_addr", "inet6_addr") \
                    and addr_e.args and isinstance(addr_e.args[0], A.StrExpr):
                ip = addr_e.args[0].value
            elif isinstance(addr_e, A.Ident) and addr_e.name in ("INADDR_ANY", "in6addr_any"):
                ip = "::" if self.addr.socket_v6 and not self.addr.mapped else "0.0.0.0"
            elif addr_e is not None:
                raise unsupported(f"socket address {addr_e}")
            if ip.startswith("::ffff:") and "." in ip:
                ip = ip[len("::ffff:"):]
            return ip, port
        raise unsupported(f"socket address {expr}")

    def _conn_failed(self, sock: Sock, conn) -> Done | None:
        """Linux reports a connection's error once (sk_err), then behaves
        as after a full shutdown."""
        err = conn.error
        if err and not sock.error_reported:
            sock.error_reported = True
            return _err(err)
        return None

    def _set_conn_attr(self, conn, name: str, value) -> None:
        setattr(conn, name, value)

    def _cfg_replace(self, obj, **changes) -> None:
        """Give a socket, listener or connection a config with `changes`."""
        cfg = obj.cfg
        known = {k: v for k, v in changes.items() if hasattr(cfg, k)}
        missing = set(changes) - set(known)
        if missing:
            raise unsupported(f"engine Config has no {', '.join(sorted(missing))}")
        obj.cfg = cfg.replace(**known)

    # -- socket, bind, listen, accept, connect --------------------------------
    def sys_socket(self, ev: A.Syscall) -> Done:
        dom_e, type_e, proto_e = self._args(ev, 3)
        family = self._family_default() if is_ellipsis(dom_e) else eval_int(dom_e, "domain")
        stype = eval_int(type_e, "type")
        proto = 0 if is_ellipsis(proto_e) else eval_int(proto_e, "protocol")
        if family not in (2, 10):
            raise unsupported(f"socket domain {dom_e}")
        if stype & 0xF != SYMBOLS["SOCK_STREAM"]:
            raise unsupported(f"socket type {type_e} (synack does TCP only)")
        if proto not in (0, SYMBOLS["IPPROTO_TCP"]):
            raise unsupported(f"socket protocol {proto_e}")
        fd = self._new_fd(ev)
        # SO_RCVBUF/SO_SNDBUF as Linux sizes them, whatever the profile (the
        # scripts are Linux's)
        sock = Sock(fd, family, self.base_cfg.replace(),
                    SockOpts(self.base_cfg, linux_buffers=True),
                    nonblock=bool(stype & SYMBOLS["SOCK_NONBLOCK"]))
        self.fds[fd] = sock
        self.new_sut(sock)
        return _ok(fd)

    def sys_bind(self, ev: A.Syscall) -> Done:
        fd_e, addr_e, _len = self._args(ev, 3)
        sock = self._sock(fd_e)
        ip, port = self._sockaddr(addr_e, (self.addr.local_ip, self.addr.bind_port))
        if sock.bound is not None or sock.conn is not None or sock.listener is not None:
            return _err("EINVAL")
        if ip not in (self.addr.local_ip, "0.0.0.0", "::"):
            return _err("EADDRNOTAVAIL")
        for other in self.fds.values():
            if other is not sock and other.bound and other.bound[1] == port \
                    and not (other.sockopts.get((SOL_SOCKET, SYMBOLS["SO_REUSEADDR"]))
                             and sock.sockopts.get((SOL_SOCKET, SYMBOLS["SO_REUSEADDR"]))
                             and other.listener is None):
                return _err("EADDRINUSE")
        if port == 0:
            port = self.host.ephemeral_port(self.addr.local_ip, self.addr.remote_ip, 0)
        sock.bound = (ip, port)
        return _ok()

    def sys_listen(self, ev: A.Syscall) -> Done:
        fd_e, backlog_e = self._args(ev, 2)
        sock = self._sock(fd_e)
        backlog = eval_int(backlog_e, "backlog")
        if sock.conn is not None:
            return _err("EINVAL")
        if sock.listener is not None:
            sock.listener.backlog = max(1, backlog)
            return _ok()
        if sock.bound is None:
            sock.bound = ("0.0.0.0", self.host.ephemeral_port(self.addr.local_ip,
                                                             self.addr.remote_ip, 0))
        ip, port = sock.bound
        if ip == "::" and not self.addr.wire_v6:
            ip = "0.0.0.0"
        try:
            sock.listener = self.host.listen(self.now, port, ip, max(1, backlog),
                                             config=sock.cfg)
        except OSError as e:
            return _err(errno_name(e))
        self.sut_listening(sock)
        return _ok()

    def sys_accept(self, ev: A.Syscall) -> Done:
        args = self._args(ev, (3, 4))
        sock = self._sock(args[0])
        if len(args) == 4:
            flags = eval_int(args[3], "accept4 flags")
            if flags & ~(SYMBOLS["SOCK_NONBLOCK"] | SYMBOLS["SOCK_CLOEXEC"]):
                raise unsupported(f"accept4 flags {args[3]}")
        else:
            flags = 0
        if sock.listener is None:
            return _err("EINVAL")
        lst = sock.listener

        def attempt() -> Done | None:
            conn = lst.accept()
            if conn is None:
                return None
            fd = self._new_fd(ev)
            new = Sock(fd, sock.family, conn.cfg, sock.opts.copy(),
                       nonblock=bool(flags & SYMBOLS["SOCK_NONBLOCK"]),
                       bound=(conn.local_ip, conn.local_port), conn=conn)
            new.sockopts = dict(sock.sockopts)
            self.fds[fd] = new
            self.sut_accepted(new)
            return _ok(fd)

        got = attempt()
        if got is not None:
            return got
        if sock.nonblock:
            return _err("EAGAIN")
        raise WouldBlock(attempt, why="accept() waits for a connection")

    def sys_connect(self, ev: A.Syscall) -> Done:
        fd_e, addr_e, _len = self._args(ev, 3)
        sock = self._sock(fd_e)
        if sock.listener is not None or sock.deferred is not None:
            return _err("EISCONN")
        conn = sock.conn
        if conn is not None:
            failed = self._conn_failed(sock, conn)
            if failed is not None:
                return failed
            if conn.state in SYNCHRONIZED:
                if sock.connecting:
                    sock.connecting = False
                    return _ok()
                return _err("EISCONN")
            if conn.state in (SYN_SENT, SYN_RECEIVED):
                if sock.nonblock:
                    return _err("EALREADY")
                return self._block_connect(sock, conn)
            return _err("ECONNABORTED" if sock.connecting else "EISCONN")
        rip, rport = self._sockaddr(addr_e, (self.addr.remote_ip, self.addr.connect_port))
        tfo = self.tfo_connect(sock, rip, rport)
        if tfo is not None:
            return tfo
        local_ip, local_port = sock.bound or (None, 0)
        if local_ip in ("0.0.0.0", "::"):
            local_ip = None
        try:
            conn = self.host.connect(self.now, rip, rport, local_ip=local_ip or self.addr.local_ip,
                                     local_port=local_port, config=sock.cfg)
        except OSError as e:
            return _err(errno_name(e))
        sock.conn = conn
        conn.linger = sock.opts.linger
        self.sut_connecting(sock, (rip, rport))
        if sock.nonblock:
            sock.connecting = True
            return _err("EINPROGRESS")
        return self._block_connect(sock, conn)

    def _block_connect(self, sock: Sock, conn) -> Done:
        def attempt() -> Done | None:
            failed = self._conn_failed(sock, conn)
            if failed is not None:
                return failed
            if conn.state in SYNCHRONIZED:
                return _ok()
            if conn.state is CLOSED:
                return _err("ECONNREFUSED")
            return None
        got = attempt()
        if got is not None:
            return got
        raise WouldBlock(attempt, why="connect() waits for the handshake")

    # -- reading ----------------------------------------------------------------
    def _recv(self, sock: Sock, n: int, flags: int, nonblock_call: bool,
              efault: bool = False) -> Done:
        if flags & ~_MSG_FLAGS_RECV_OK:
            raise unsupported(f"recv flags {flags:#x}")
        conn = sock.conn
        if conn is None and sock.deferred is not None:
            # Linux: a deferred Fast Open socket is in SYN-SENT: nothing to read yet
            if sock.nonblock or nonblock_call or flags & SYMBOLS["MSG_DONTWAIT"]:
                return _err("EAGAIN")
            raise unsupported("a blocking read of a deferred Fast Open socket (it would "
                              "wait for ever: no SYN has been sent)")
        if conn is None:
            return _err("ENOTCONN")
        nonblock = sock.nonblock or nonblock_call or bool(flags & SYMBOLS["MSG_DONTWAIT"])
        peek = bool(flags & SYMBOLS["MSG_PEEK"])

        def attempt() -> Done | None:
            if peek and conn.readable:
                return _ok(min(n, conn.readable))
            if peek:
                failed = self._conn_failed(sock, conn)
                if failed is not None:
                    return failed
                if conn.eof or conn.rd_shut or conn.state is CLOSED:
                    return _ok(0)
                return None
            if sock.error_reported and not conn.readable:
                return _ok(0)
            if efault and conn.readable and n > 0:
                return _err("EFAULT")            # nowhere to copy the data to
            try:
                data = conn.recv(self.now, n)
            except BlockingIOError:
                return None
            except OSError as e:
                if conn.error == errno_name(e):
                    sock.error_reported = True
                return _err(errno_name(e))
            return _ok(len(data))

        got = attempt()
        if got is not None:
            return got
        if nonblock:
            return _err("EAGAIN")
        raise WouldBlock(attempt, why="read() waits for data")

    def sys_read(self, ev: A.Syscall) -> Done:
        fd_e, buf, n_e = self._args(ev, 3)
        return self._recv(self._sock(fd_e), eval_int(n_e, "count"), 0, False, _null(buf))

    def sys_recv(self, ev: A.Syscall) -> Done:
        fd_e, buf, n_e, flags_e = self._args(ev, 4)
        return self._recv(self._sock(fd_e), eval_int(n_e, "count"),
                          eval_int(flags_e, "flags"), False, _null(buf))

    def sys_recvfrom(self, ev: A.Syscall) -> Done:
        fd_e, buf, n_e, flags_e, _addr, _alen = self._args(ev, 6)
        return self._recv(self._sock(fd_e), eval_int(n_e, "count"),
                          eval_int(flags_e, "flags"), False, _null(buf))

    def sys_readv(self, ev: A.Syscall) -> Done:
        fd_e, iov_e, _cnt = self._args(ev, 3)
        return self._recv(self._sock(fd_e), iov_total(iov_e, "readv iov"), 0, False)

    def sys_recvmsg(self, ev: A.Syscall) -> Done:
        fd_e, msg_e, flags_e = self._args(ev, 3)
        n = self._msghdr_len(msg_e, control_ok=True)
        sock = self._sock(fd_e)
        control = next((i.value for i in msg_e.items
                        if isinstance(i, A.FieldExpr) and i.name == "msg_control"), None)
        if control is None:
            return self._recv(sock, n, eval_int(flags_e, "flags"), False)

        def checked(done: Done | None) -> Done | None:
            if done is not None and done.result >= 0:
                self.cmsg_inq_check(sock, control)
            return done
        try:
            return checked(self._recv(sock, n, eval_int(flags_e, "flags"), False))
        except WouldBlock as wb:
            retry = wb.retry
            wb.retry = lambda: checked(retry())
            raise

    def _msghdr_len(self, msg_e: A.Expr, control_ok: bool = False) -> int:
        if not isinstance(msg_e, A.StructExpr):
            raise unsupported(f"msghdr {msg_e}")
        n = None
        for item in msg_e.items:
            if isinstance(item, A.FieldExpr) and item.name == "msg_iov":
                n = iov_total(item.value, "msg_iov")
            if isinstance(item, A.FieldExpr) and item.name == "msg_control" and not control_ok:
                raise unsupported("msg_control (ancillary data) on sendmsg")
        if n is None:
            raise unsupported(f"msghdr without msg_iov: {msg_e}")
        return n

    # -- writing ----------------------------------------------------------------
    def _send(self, sock: Sock, n: int, flags: int, efault: bool = False,
              addr_e: A.Expr | None = None) -> Done:
        if flags & ~(_MSG_FLAGS_OK | SYMBOLS["MSG_MORE"] | SYMBOLS["MSG_EOR"]
                     | SYMBOLS["MSG_FASTOPEN"]):
            raise unsupported(f"send flags {flags:#x}")
        tfo = self.tfo_send(sock, n, flags, efault, addr_e)
        if tfo is not None:
            return tfo
        flags &= ~SYMBOLS["MSG_FASTOPEN"]
        conn = sock.conn
        if conn is None:
            return _err("EPIPE")
        nonblock = sock.nonblock or bool(flags & SYMBOLS["MSG_DONTWAIT"])
        state = {"done": 0}

        def attempt() -> Done | None:
            if sock.error_reported:
                return _err("EPIPE") if not state["done"] else _ok(state["done"])
            failed = self._conn_failed(sock, conn)
            if failed is not None:
                return failed if not state["done"] else _ok(state["done"])
            if conn.state in (SYN_SENT, SYN_RECEIVED):
                return None                      # Linux waits for the handshake
            if efault:
                return _err("EFAULT")            # the data cannot be copied from NULL
            try:
                if state.get("waited") and not self._writable(sock):
                    return None                  # Linux wakes a writer only at sk_stream_wspace >= half the queue
                # MSG_MORE and MSG_EOR go into the engine's SEND (Connection.send)
                state["done"] += self.linux_write(sock, conn, n - state["done"],
                                                  more=bool(flags & SYMBOLS["MSG_MORE"]),
                                                  eor=bool(flags & SYMBOLS["MSG_EOR"]),
                                                  cont=state["done"] > 0)
            except OSError as e:
                if conn.error == errno_name(e):
                    sock.error_reported = True
                if state["done"]:
                    return _ok(state["done"])
                return _err(errno_name(e))
            if state["done"] >= n:
                return _ok(n)
            sock.sockopts[("nospace",)] = 1      # Linux's SOCK_NOSPACE: wake writers later
            if nonblock:
                return _ok(state["done"]) if state["done"] else _err("EAGAIN")
            state["waited"] = 1
            return None

        if n == 0:
            return _ok(0)
        got = attempt()
        if got is not None:
            return got
        if nonblock:
            sock.sockopts[("nospace",)] = 1
            return _ok(state["done"]) if state["done"] else _err("EAGAIN")
        raise WouldBlock(attempt, why="write() waits for send-buffer space", conn=conn)

    def sys_write(self, ev: A.Syscall) -> Done:
        fd_e, buf, n_e = self._args(ev, 3)
        return self._send(self._sock(fd_e), eval_int(n_e, "count"), 0, _null(buf))

    def sys_send(self, ev: A.Syscall) -> Done:
        fd_e, buf, n_e, flags_e = self._args(ev, 4)
        return self._send(self._sock(fd_e), eval_int(n_e, "count"), eval_int(flags_e, "flags"),
                          _null(buf))

    def sys_sendto(self, ev: A.Syscall) -> Done:
        fd_e, buf, n_e, flags_e, addr_e, _alen = self._args(ev, 6)
        return self._send(self._sock(fd_e), eval_int(n_e, "count"), eval_int(flags_e, "flags"),
                          _null(buf), addr_e)

    def sys_writev(self, ev: A.Syscall) -> Done:
        fd_e, iov_e, _cnt = self._args(ev, 3)
        return self._send(self._sock(fd_e), iov_total(iov_e, "writev iov"), 0)

    def sys_sendmsg(self, ev: A.Syscall) -> Done:
        fd_e, msg_e, flags_e = self._args(ev, 3)
        return self._send(self._sock(fd_e), self._msghdr_len(msg_e), eval_int(flags_e, "flags"))

    # -- shutdown, close -------------------------------------------------------------
    def sys_shutdown(self, ev: A.Syscall) -> Done:
        fd_e, how_e = self._args(ev, 2)
        sock = self._sock(fd_e)
        how = {0: "rd", 1: "wr", 2: "rdwr"}.get(eval_int(how_e, "how"))
        if how is None:
            return _err("EINVAL")
        if sock.listener is not None:
            raise unsupported("shutdown() of a listening socket")
        if sock.conn is None:
            return _err("ENOTCONN")
        try:
            sock.conn.shutdown(self.now, how)
        except OSError as e:
            return _err(errno_name(e))
        return _ok()

    def sys_close(self, ev: A.Syscall) -> Done:
        (fd_e,) = self._args(ev, 1)
        epolls = getattr(self, "epolls", {})
        if eval_int(fd_e, "file descriptor") in epolls:
            del epolls[eval_int(fd_e, "file descriptor")]
            return _ok()
        sock = self._sock(fd_e)
        del self.fds[sock.fd]
        for ep in epolls.values():            # closing a file removes it from epoll sets
            ep.items.pop(sock.fd, None)
        if sock.listener is not None:
            sock.listener.close(self.now)
            return _ok()
        conn = sock.conn
        if conn is None:
            return _ok()
        linger = sock.opts.linger
        if linger is not None:
            conn.linger = linger
        conn.close(self.now)
        if linger is not None and linger > 0 and not sock.nonblock:
            # SO_LINGER with a timeout: close() blocks until our FIN is
            # acknowledged or the timeout passes.
            deadline = self.now_us + linger * 1_000_000

            def attempt() -> Done | None:
                if conn.state in (FIN_WAIT_2, TIME_WAIT, CLOSED) or self.now_us >= deadline:
                    return _ok()
                return None
            got = attempt()
            if got is None:
                raise WouldBlock(attempt, wake_us=deadline, why="close() lingers")
        return _ok()

    # -- fcntl, ioctl ----------------------------------------------------------------
    def sys_fcntl(self, ev: A.Syscall) -> Done:
        args = self._args(ev, (2, 3))
        sock = self._sock(args[0])
        cmd = eval_int(args[1], "fcntl command")
        if cmd == SYMBOLS["F_GETFL"]:
            return _ok(SYMBOLS["O_RDWR"] | (O_NONBLOCK if sock.nonblock else 0))
        if cmd == SYMBOLS["F_SETFL"] and len(args) == 3:
            sock.nonblock = bool(eval_int(args[2], "fcntl flags") & O_NONBLOCK)
            return _ok()
        if cmd in (SYMBOLS["F_GETFD"], SYMBOLS["F_SETFD"]):
            return _ok()
        raise unsupported(f"fcntl command {args[1]}")

    def sys_ioctl(self, ev: A.Syscall) -> Done:
        fd_e, req_e, val_e = self._args(ev, 3)
        sock = self._sock(fd_e)
        req = eval_int(req_e, "ioctl request")
        want = eval_box(val_e, "ioctl value")
        if req == SYMBOLS["FIONBIO"]:
            sock.nonblock = bool(want)
            return _ok()
        if req not in (SYMBOLS["SIOCINQ"], SYMBOLS["SIOCOUTQ"], SYMBOLS["SIOCOUTQNSD"]):
            raise unsupported(f"ioctl {req_e}")
        if sock.listener is not None:
            return _err("EINVAL")
        q = queues(sock.conn) if sock.conn is not None else None
        if req == SYMBOLS["SIOCINQ"]:
            value = q.inq if q is not None else 0
            name = "SIOCINQ"
        elif req == SYMBOLS["SIOCOUTQ"]:
            value = q.outq if q is not None else 0
            name = "SIOCOUTQ"
        else:
            value = q.outq_nsd if q is not None else 0
            name = "SIOCOUTQNSD"
        if want is not None and want != value:
            raise mismatch(f"ioctl {name}: expected [{want}], actual [{value}]")
        return _ok(0, detail=f"[{value}]")

    # -- poll ------------------------------------------------------------------------
    def _revents(self, sock: Sock | None, events: int) -> int:
        P = SYMBOLS
        if sock is None:
            return P["POLLNVAL"]
        mask = 0
        if sock.listener is not None:
            if len(sock.listener.accept_queue):
                mask |= P["POLLIN"] | P["POLLRDNORM"]
        else:
            conn = sock.conn
            if conn is None and sock.deferred is not None:
                mask |= P["POLLOUT"] | P["POLLWRNORM"]   # Linux: write() to send the SYN
            elif conn is None:
                mask |= P["POLLOUT"] | P["POLLWRNORM"] | P["POLLHUP"]
            else:
                st = conn.state
                if conn.error and not sock.error_reported:
                    mask |= P["POLLERR"]
                rd_done = bool(conn.eof or conn.rd_shut)
                if (rd_done and conn.wr_shut) or st is CLOSED:
                    mask |= P["POLLHUP"]
                if rd_done or (st is CLOSED and conn.error):
                    mask |= P["POLLIN"] | P["POLLRDNORM"] | P["POLLRDHUP"]
                if st not in (SYN_SENT, SYN_RECEIVED):
                    if conn.readable:
                        mask |= P["POLLIN"] | P["POLLRDNORM"]
                    if conn.wr_shut or st is CLOSED:
                        mask |= P["POLLOUT"] | P["POLLWRNORM"]
                    elif conn.send_space > 0 and self._writable(sock):
                        mask |= P["POLLOUT"] | P["POLLWRNORM"]
        always = P["POLLERR"] | P["POLLHUP"] | P["POLLNVAL"]
        return mask & (events | always)

    def sys_poll(self, ev: A.Syscall) -> Done:
        fds_e, nfds_e, timeout_e = self._args(ev, 3)
        if not isinstance(fds_e, A.ArrayExpr):
            raise unsupported(f"poll fds {fds_e}")
        entries = []
        for item in fds_e.items:
            if not isinstance(item, A.StructExpr):
                raise unsupported(f"pollfd {item}")
            f = item.fields
            fd = eval_int(f["fd"], "pollfd fd")
            events = eval_int(f.get("events", A.IntExpr(0)), "events")
            want = f.get("revents")
            entries.append((fd, events, None if want is None else eval_int(want, "revents")))
        timeout = eval_int(timeout_e, "timeout")
        start = self.now_us
        wake = None if timeout < 0 else start + timeout * 1000

        def attempt() -> Done | None:
            got = [(fd, self._revents(self.fds.get(fd), events), want)
                   for fd, events, want in entries]
            ready = sum(1 for _, r, _ in got if r)
            if not ready and (wake is None or self.now_us < wake):
                return None
            for fd, r, want in got:
                if want is not None and want != r:
                    raise mismatch(f"poll: fd {fd} revents expected {_poll_text(want)}, "
                                   f"actual {_poll_text(r)}")
            return _ok(ready, detail=", ".join(f"fd {fd} revents={_poll_text(r)}"
                                               for fd, r, _ in got))
        got = attempt()
        if got is not None:
            return got
        raise WouldBlock(attempt, wake_us=wake, why="poll() waits for events")

    # -- socket options ----------------------------------------------------------------
    def sys_setsockopt(self, ev: A.Syscall) -> Done:
        fd_e, level_e, name_e, val_e, _len = self._args(ev, 5)
        sock = self._sock(fd_e)
        level = eval_int(level_e, "level")
        name = name_e.name if isinstance(name_e, A.Ident) else str(name_e)
        optname = eval_int(name_e, "option name")
        value: object
        if level == SOL_SOCKET and name == "SO_LINGER":
            if not isinstance(val_e, A.StructExpr):
                raise unsupported(f"SO_LINGER value {val_e}")
            value = (eval_int(val_e.fields.get("l_onoff", A.IntExpr(0)), "l_onoff"),
                     eval_int(val_e.fields.get("l_linger", A.IntExpr(0)), "l_linger"))
        elif level == SOL_TCP and name == "TCP_CONGESTION":
            if not isinstance(val_e, A.StrExpr):
                raise unsupported(f"TCP_CONGESTION value {val_e}")
            value = val_e.value
        else:
            value = eval_box(val_e, f"{name} value")
            if value is None:
                raise unsupported(f"setsockopt {name} with value {val_e}")
        if level == SOL_SOCKET and name in _SOCKET_ONLY:
            sock.sockopts[(level, optname)] = (1 if value else 0) if name == "SO_ZEROCOPY" \
                else value
            return _ok()
        if level == SOL_TCP and name == "TCP_FASTOPEN_CONNECT":
            return self.tfo_setsockopt(sock, int(value))
        if (level, optname) not in OPTION_NAMES:
            raise unsupported(f"setsockopt {level_e} {name} (no engine equivalent)")
        conn = sock.conn
        try:
            sock.opts.set(self.now, level, optname, value, conn)
        except NotSupported as e:
            raise unsupported(f"setsockopt {name}: {e}") from None
        except OSError as e:
            return _err(errno_name(e))
        if name == "TCP_NOTSENT_LOWAT" and conn is not None:
            self.epoll_sample()                  # Linux wakes writers at once
        # the socket's next connection, or the listener's next children
        if sock.listener is not None:
            sock.listener.cfg = sock.opts.config(sock.listener.cfg)
        elif conn is None:
            sock.cfg = sock.opts.config(sock.cfg)
        return _ok()

    def sys_getsockopt(self, ev: A.Syscall) -> Done:
        fd_e, level_e, name_e, val_e, len_e = self._args(ev, 5)
        sock = self._sock(fd_e)
        level = eval_int(level_e, "level")
        name = name_e.name if isinstance(name_e, A.Ident) else str(name_e)
        optname = eval_int(name_e, "option name")
        conn = sock.conn
        if level == SOL_SOCKET and name == "SO_LINGER":
            onoff, secs = sock.opts.get(level, optname, conn, sock.cfg)
            if isinstance(val_e, A.StructExpr):
                for fname, actual in (("l_onoff", onoff), ("l_linger", secs)):
                    want = val_e.fields.get(fname)
                    if (want is not None and not is_ellipsis(want)
                            and eval_int(want, fname) != actual):
                        raise mismatch(f"getsockopt SO_LINGER {fname}: expected "
                                       f"{eval_int(want, fname)}, actual {actual}")
            return _ok(detail=f"{{l_onoff={onoff}, l_linger={secs}}}")
        if level == SOL_TCP and name == "TCP_INFO":
            return self._getsockopt_tcp_info(sock, val_e)
        if level == SOL_SOCKET and name in _SOCKET_ONLY:
            value = sock.sockopts.get((level, optname), 0)
        elif level == SOL_SOCKET and name == "SO_TYPE":
            value = SYMBOLS["SOCK_STREAM"]
        elif level == SOL_TCP and name == "TCP_FASTOPEN_CONNECT":
            value = sock.tfo_connect
        elif level == SOL_SOCKET and name == "SO_ERROR":
            err = conn.error if conn is not None else None
            if err and not sock.error_reported:
                sock.error_reported = True
                value = getattr(_errno, err, 0)
            else:
                value = 0
        elif (level, optname) in OPTION_NAMES and name != "TCP_CONGESTION":
            value = sock.opts.get(level, optname, conn, (sock.listener or sock).cfg)
        else:
            raise unsupported(f"getsockopt {level_e} {name}")
        want = eval_box(val_e, f"{name} value")
        if want is not None and want != value:
            raise mismatch(f"getsockopt {name}: expected [{want}], actual [{value}]")
        want_len = eval_box(len_e, "option length")
        if want_len is not None and want_len != 4:
            raise mismatch(f"getsockopt {name}: expected length [{want_len}], actual [4]")
        return _ok(detail=f"[{value}]")

    def _getsockopt_tcp_info(self, sock: Sock, val_e: A.Expr) -> Done:
        info = self.tcp_info(sock.conn or sock.listener)
        if not isinstance(val_e, A.StructExpr):
            if is_ellipsis(val_e):
                return _ok()
            raise unsupported(f"TCP_INFO value {val_e}")
        for fname, want_e in val_e.fields.items():
            if is_ellipsis(want_e):
                continue
            if fname not in info:
                raise unsupported(f"TCP_INFO field {fname} (no engine equivalent)")
            want = eval_int(want_e, fname)
            if info[fname] != want:
                raise mismatch(f"getsockopt TCP_INFO {fname}: expected {want}, "
                               f"actual {info[fname]}")
        return _ok()


def _null(expr: A.Expr) -> bool:
    """A NULL buffer pointer (Linux: EFAULT when data is to be copied)."""
    return isinstance(expr, A.Ident) and expr.name == "NULL"


class _BadFd(Exception):
    def __init__(self, fd: int):
        super().__init__(fd)
        self.fd = fd


def _poll_text(mask: int) -> str:
    names = [n for n in ("POLLIN", "POLLPRI", "POLLOUT", "POLLERR", "POLLHUP", "POLLNVAL",
                         "POLLRDNORM", "POLLRDBAND", "POLLWRNORM", "POLLWRBAND", "POLLRDHUP")
             if mask & SYMBOLS[n]]
    return "|".join(names) or "0"


SYSCALLS = {name[4:] for name in dir(SyscallsMixin) if name.startswith("sys_")}
