"""A blocking socket API shaped like Python's `socket` module, on a synack stack.

Change one import and the code runs on synack::

    from synack.api import socket            # instead of: import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.connect(("10.0.0.2", 7))
        s.sendall(b"hello")
        print(s.recv(1024))

The socket works on whichever stack is selected (``stack=`` argument,
`synack.api.using()`, or `synack.api.set_default_stack()`): on a `SimStack`
a blocking call runs the simulated network in virtual time, on a
`RealtimeStack` it waits in real time.

Semantics follow Linux (and CPython on Linux) where they are observable:

* errors are the standard library's classes with the standard errno
  (``ConnectionRefusedError``, ``ConnectionResetError``, ``BrokenPipeError``,
  ``TimeoutError``, ``BlockingIOError``, ``OSError`` with EADDRINUSE, EINVAL,
  ENOTCONN, EISCONN, EALREADY, EBADF ...);
* a connection's error (reset, refused, timed out) is reported once, by the
  next call that looks (recv, send, connect, SO_ERROR); afterwards recv
  returns b"" and send raises BrokenPipeError, as on Linux;
* a blocking send queues everything before it returns; with a timeout it
  returns what fit, like CPython's sockets;
* a non-blocking connect raises BlockingIOError(EINPROGRESS); connecting
  again raises EALREADY while the handshake runs, returns normally once
  after it completed, then raises EISCONN; the same after a connect with a
  timeout (CPython waits for it in non-blocking mode), as Linux does;
* a RST that arrives in CLOSE_WAIT is reported as EPIPE (BrokenPipeError),
  in any other state as ECONNRESET, as Linux's tcp_reset() does;
* loopback: every stack has 127.0.0.0/8 and ::1, "localhost" is 127.0.0.1
  (or ::1 for AF_INET6); `getaddrinfo`, `gethostname`, `gethostbyname` use
  the stack's resolver. tests/test_socket_differential.py runs the same
  call sequences against CPython on the kernel and compares.

Socket options, TCP_INFO and the SIOCINQ/SIOCOUTQ/SIOCOUTQNSD ioctls go
through the engine's one surface for them, `synack.engine.info` (docs/api.md
has the table). SO_RCVBUF and SO_SNDBUF are sized as Linux sizes them (the
value doubled, within Linux's limits) when the stack's config says so
(`Config.linux_sockbuf`: the `linux` profile; `tun_config` turns it off);
otherwise (the `rfc` profile, the simulator's default) they are not doubled: synack's
buffers hold payload octets only, so the number you set is the number you
get back and the largest window advertised.

Differences from Linux, on purpose: ``fileno()`` is -1
(there is no file descriptor: use blocking calls, timeouts, or asyncio);
names resolve only through the stack (`Stack.resolve`).

Dual stack, as Linux with ``net.ipv6.bindv6only = 0``: an AF_INET6 socket
bound to "::" that listens accepts IPv4 connections too, and shows their
addresses IPv4-mapped (``::ffff:192.0.2.1``), unless IPV6_V6ONLY is set
(RFC 4291 §2.5.5.2, RFC 3493 §3.7 and §5.3). An AF_INET6 socket connects to
an IPv4-mapped address over IPv4. `create_server(..., dualstack_ipv6=True)`
and `has_dualstack_ipv6()` work as in CPython.
"""
from __future__ import annotations

import errno as _errno
import ipaddress
import io as _io
import os as _os
import socket as _std
import struct as _struct
import weakref as _weakref
import zlib as _zlib

from ..engine.connection import CORK_SOCKET
from ..engine.info import (NotSupported, SockOpts, TcpInfo, inq_hint, queues, tcp_info,
                           unsent)
from ..engine.states import (CLOSE_WAIT, CLOSED, CLOSING, ESTABLISHED, FIN_WAIT_1, LAST_ACK,
                      SYN_RECEIVED, SYN_SENT)
from .fastopen import MSG_FASTOPEN, TCP_FASTOPEN_CONNECT, FastOpenSocket
from .stack import DUAL_STACK_LISTENERS, current_stack

# ------------------------------------------------------------------ constants
# The numbers are the platform's (Linux's where the platform lacks one), so
# code that mixes these with the standard module's constants still works.
AddressFamily = _std.AddressFamily
SocketKind = _std.SocketKind
AF_INET = _std.AF_INET
AF_INET6 = _std.AF_INET6
AF_UNSPEC = _std.AF_UNSPEC
SOCK_STREAM = _std.SOCK_STREAM
SOCK_NONBLOCK = getattr(_std, "SOCK_NONBLOCK", 0o4000)
SOCK_CLOEXEC = getattr(_std, "SOCK_CLOEXEC", 0o2000000)
SOL_SOCKET = _std.SOL_SOCKET
IPPROTO_IP = _std.IPPROTO_IP
IPPROTO_TCP = _std.IPPROTO_TCP
IPPROTO_IPV6 = getattr(_std, "IPPROTO_IPV6", 41)
SOMAXCONN = _std.SOMAXCONN
SO_REUSEADDR = _std.SO_REUSEADDR
SO_REUSEPORT = getattr(_std, "SO_REUSEPORT", 15)
SO_KEEPALIVE = _std.SO_KEEPALIVE
SO_LINGER = _std.SO_LINGER
SO_RCVBUF = _std.SO_RCVBUF
SO_SNDBUF = _std.SO_SNDBUF
SO_ERROR = _std.SO_ERROR
SO_TYPE = _std.SO_TYPE
SO_ACCEPTCONN = getattr(_std, "SO_ACCEPTCONN", 30)
SO_DOMAIN = getattr(_std, "SO_DOMAIN", 39)
SO_PROTOCOL = getattr(_std, "SO_PROTOCOL", 38)
TCP_NODELAY = _std.TCP_NODELAY
TCP_MAXSEG = getattr(_std, "TCP_MAXSEG", 2)
TCP_KEEPIDLE = getattr(_std, "TCP_KEEPIDLE", 4)
TCP_KEEPINTVL = getattr(_std, "TCP_KEEPINTVL", 5)
TCP_KEEPCNT = getattr(_std, "TCP_KEEPCNT", 6)
TCP_USER_TIMEOUT = getattr(_std, "TCP_USER_TIMEOUT", 18)
TCP_NOTSENT_LOWAT = getattr(_std, "TCP_NOTSENT_LOWAT", 25)
TCP_CORK = getattr(_std, "TCP_CORK", 3)
TCP_QUICKACK = getattr(_std, "TCP_QUICKACK", 12)
TCP_INFO = getattr(_std, "TCP_INFO", 11)
TCP_CONGESTION = getattr(_std, "TCP_CONGESTION", 13)
TCP_INQ = getattr(_std, "TCP_INQ", 36)
TCP_CM_INQ = TCP_INQ                    # the control message TCP_INQ turns on
IP_TOS = getattr(_std, "IP_TOS", 1)
IP_MTU_DISCOVER = getattr(_std, "IP_MTU_DISCOVER", 10)
IPV6_TCLASS = getattr(_std, "IPV6_TCLASS", 67)
IPV6_MTU_DISCOVER = getattr(_std, "IPV6_MTU_DISCOVER", 23)
SIOCINQ = FIONREAD = 0x541B             # Linux's ioctl numbers (termios.FIONREAD ...)
SIOCOUTQ = TIOCOUTQ = 0x5411
SIOCOUTQNSD = 0x894B
IPV6_V6ONLY = getattr(_std, "IPV6_V6ONLY", 26)
SHUT_RD = _std.SHUT_RD
SHUT_WR = _std.SHUT_WR
SHUT_RDWR = _std.SHUT_RDWR
MSG_OOB = _std.MSG_OOB
MSG_PEEK = _std.MSG_PEEK
MSG_DONTWAIT = getattr(_std, "MSG_DONTWAIT", 0x40)
MSG_WAITALL = getattr(_std, "MSG_WAITALL", 0x100)
MSG_NOSIGNAL = getattr(_std, "MSG_NOSIGNAL", 0x4000)
MSG_CTRUNC = getattr(_std, "MSG_CTRUNC", 0x8)
MSG_EOR = getattr(_std, "MSG_EOR", 0x80)
MSG_MORE = getattr(_std, "MSG_MORE", 0x8000)
_CMSG_LEN_INT = _std.CMSG_LEN(4) if hasattr(_std, "CMSG_LEN") else 20
EAI_NONAME = _std.EAI_NONAME
_EAI_ADDRFAMILY = getattr(_std, "EAI_ADDRFAMILY", -9)

# the standard exceptions, under the names the socket module gives them
error = OSError
timeout = TimeoutError
herror = _std.herror
gaierror = _std.gaierror

# pure helpers that need no stack
inet_aton = _std.inet_aton
inet_ntoa = _std.inet_ntoa
inet_pton = _std.inet_pton
inet_ntop = _std.inet_ntop
htons, ntohs, htonl, ntohl = _std.htons, _std.ntohs, _std.htonl, _std.ntohl

__all__ = [
    "socket", "SocketType", "create_connection", "create_server", "getdefaulttimeout",
    "setdefaulttimeout", "has_dualstack_ipv6", "error", "timeout", "herror", "gaierror",
    "AF_INET", "AF_INET6", "AF_UNSPEC", "SOCK_STREAM", "SOCK_NONBLOCK", "SOCK_CLOEXEC",
    "SOL_SOCKET", "IPPROTO_IP", "IPPROTO_TCP", "IPPROTO_IPV6", "SOMAXCONN",
    "SO_REUSEADDR", "SO_REUSEPORT", "SO_KEEPALIVE", "SO_LINGER", "SO_RCVBUF", "SO_SNDBUF",
    "SO_ERROR", "SO_TYPE", "SO_ACCEPTCONN", "SO_DOMAIN", "SO_PROTOCOL",
    "TCP_NODELAY", "TCP_MAXSEG", "TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT",
    "TCP_USER_TIMEOUT", "TCP_NOTSENT_LOWAT", "TCP_CORK", "TCP_QUICKACK", "TCP_INFO", "TCP_CONGESTION",
    "TCP_INQ", "TCP_CM_INQ", "TCP_FASTOPEN_CONNECT", "MSG_FASTOPEN", "IP_TOS", "IP_MTU_DISCOVER", "IPV6_TCLASS", "IPV6_MTU_DISCOVER",
    "SIOCINQ", "FIONREAD", "SIOCOUTQ", "TIOCOUTQ", "SIOCOUTQNSD", "TcpInfo", "IPV6_V6ONLY", "SHUT_RD", "SHUT_WR", "SHUT_RDWR",
    "MSG_OOB", "MSG_PEEK", "MSG_DONTWAIT", "MSG_WAITALL", "MSG_NOSIGNAL", "MSG_CTRUNC",
    "MSG_EOR", "MSG_MORE",
    "has_ipv6", "getaddrinfo", "gethostname", "getfqdn", "gethostbyname", "getservbyname",
    "AI_PASSIVE", "AI_NUMERICHOST", "AI_NUMERICSERV", "AI_CANONNAME", "AI_ADDRCONFIG",
    "EAI_NONAME", "EAI_SERVICE", "EAI_FAMILY", "EAI_SOCKTYPE",
]

#: synack speaks IPv6 (each stack may or may not have an IPv6 address)
has_ipv6 = True
AI_PASSIVE = _std.AI_PASSIVE
AI_NUMERICHOST = _std.AI_NUMERICHOST
AI_NUMERICSERV = getattr(_std, "AI_NUMERICSERV", 0x400)
AI_CANONNAME = _std.AI_CANONNAME
AI_ADDRCONFIG = _std.AI_ADDRCONFIG
EAI_SERVICE = _std.EAI_SERVICE
EAI_FAMILY = _std.EAI_FAMILY
EAI_SOCKTYPE = _std.EAI_SOCKTYPE
getservbyname = _std.getservbyname      # the services file: no network

_WILDCARDS = ("0.0.0.0", "::")
_CONNECTING = (SYN_SENT, SYN_RECEIVED)
_CAN_SEND = (ESTABLISHED, CLOSE_WAIT)
_LINGERING = (FIN_WAIT_1, CLOSING, LAST_ACK)

_default_timeout: float | None = None


def getdefaulttimeout() -> float | None:
    """The timeout new synack sockets start with (None: blocking)."""
    return _default_timeout


def setdefaulttimeout(value: float | None) -> None:
    global _default_timeout
    _default_timeout = _check_timeout(value)


def has_dualstack_ipv6() -> bool:
    return True


def _mapped_v4(ip: str) -> str | None:
    """The IPv4 address inside an IPv4-mapped IPv6 address (::ffff:a.b.c.d), or None."""
    try:
        m = ipaddress.IPv6Address(ip).ipv4_mapped
    except ValueError:
        return None
    return None if m is None else str(m)


def _check_timeout(value):
    if value is None:
        return None
    value = float(value)
    if value < 0:
        raise ValueError("Timeout value out of range")
    return value


def _oserror(code: int, text: str | None = None) -> OSError:
    """OSError picks the subclass from the errno (EPIPE -> BrokenPipeError ...)."""
    return OSError(code, text or _os.strerror(code))


def _engine_error(name: str) -> OSError:
    return _oserror(getattr(_errno, name))


def _overlap(a: str, b: str, a_dual: bool = False, b_dual: bool = False) -> bool:
    """Do two bound addresses share a port's space? A dual-stack "::"
    (IPV6_V6ONLY off) covers the IPv4 addresses too, as on Linux."""
    if a == b:
        return True
    if (a == "::" and a_dual) or (b == "::" and b_dual):
        return True
    if a in _WILDCARDS:
        return (a == "::") == (":" in b)
    if b in _WILDCARDS:
        return (b == "::") == (":" in a)
    return False


#: SOL_SOCKET control messages of a TCP sendmsg (Linux's __sock_cmsg_send)
_SCM_IGNORED = (1, 2)                  # SCM_RIGHTS, SCM_CREDENTIALS: AF_UNIX's
_SO_PRIORITY, _SO_MARK, _SO_TIMESTAMPING_OLD = 12, 36, 37


def _cmsg_check(level: int, kind: int, cdata: bytes) -> None:
    """One control message of sendmsg (see socket.sendmsg)."""
    if level != SOL_SOCKET or kind in _SCM_IGNORED:
        return
    if kind not in (_SO_PRIORITY, _SO_MARK, _SO_TIMESTAMPING_OLD) or len(cdata) != 4:
        raise _oserror(_errno.EINVAL)
    value = _struct.unpack("I", cdata)[0]
    if kind == _SO_MARK and _os.geteuid() != 0:
        raise _oserror(_errno.EPERM)
    if kind == _SO_PRIORITY and value > 6 and _os.geteuid() != 0:
        raise _oserror(_errno.EPERM)
    if kind == _SO_TIMESTAMPING_OLD and value:
        raise _oserror(_errno.EOPNOTSUPP, "synack has no transmit timestamps (SO_TIMESTAMPING)")


class socket(FastOpenSocket):
    """A TCP socket on a synack stack (see the module documentation)."""

    def __init__(self, family: int = -1, type: int = -1, proto: int = -1, fileno=None, *,
                 stack=None):
        if fileno is not None:
            raise ValueError("synack sockets have no file descriptor to wrap")
        family = AF_INET if family == -1 else family
        type = SOCK_STREAM if type == -1 else type
        proto = 0 if proto == -1 else proto
        if family not in (AF_INET, AF_INET6):
            raise _oserror(_errno.EAFNOSUPPORT)
        if type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC) != SOCK_STREAM:
            raise _oserror(_errno.ESOCKTNOSUPPORT, "synack only provides SOCK_STREAM (TCP)")
        if proto not in (0, IPPROTO_TCP):
            raise _oserror(_errno.EPROTONOSUPPORT)
        st = stack if stack is not None else current_stack()
        self._stack = st
        self._family = AddressFamily(family)
        self._proto = proto
        self._timeout = 0.0 if type & SOCK_NONBLOCK else _default_timeout
        self._closed = False
        self._io_refs = 0
        self._bind_ip: str | None = None
        self._bind_port: int | None = None
        self._listener = None
        self._listener4 = None               # a dual-stack "::" listener's IPv4 half
        self._v6only = False                 # IPV6_V6ONLY (Linux's default: bindv6only=0)
        self._conn = None
        self._connecting = False
        self._connect_once = False          # see _connect: Linux's one quiet repeat
        self._err_reported = False
        self._reuse = False
        # the options: applied to the Config of the next connection or
        # listener and to the live connection (synack.engine.info)
        self._opts = SockOpts(st.host.config)

    # ------------------------------------------------------------ identity
    @property
    def family(self) -> AddressFamily:
        return self._family

    @property
    def type(self) -> SocketKind:
        return SOCK_STREAM

    @property
    def proto(self) -> int:
        return self._proto

    @property
    def timeout(self) -> float | None:
        return self._timeout

    @property
    def stack(self):
        return self._stack

    @property
    def connection(self):
        """The engine's `Connection` (None before connect/accept)."""
        return self._conn

    @property
    def listener(self):
        """The engine's `Listener` (None unless listening)."""
        return self._listener

    def fileno(self) -> int:
        """Always -1: a synack socket is not an OS file descriptor."""
        return -1

    def __repr__(self) -> str:
        parts = [f"<synack.api.socket.socket{' [closed]' if self._closed else ''}",
                 f" family={self._family.name}, type=SOCK_STREAM, proto={self._proto}",
                 f", stack={self._stack.host.name}"]
        if not self._closed:
            try:
                parts.append(f", laddr={self.getsockname()}")
            except OSError:
                pass
            try:
                parts.append(f", raddr={self.getpeername()}")
            except OSError:
                pass
        return "".join(parts) + ">"

    def __getstate__(self):
        raise TypeError(f"cannot pickle {type(self).__name__!r} object")

    def __enter__(self) -> "socket":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------ timeouts
    def settimeout(self, value: float | None) -> None:
        self._timeout = _check_timeout(value)

    def gettimeout(self) -> float | None:
        return self._timeout

    def setblocking(self, flag: bool) -> None:
        self._timeout = None if flag else 0.0

    def getblocking(self) -> bool:
        return self._timeout != 0.0

    # ------------------------------------------------------------- helpers
    def _check(self) -> None:
        if self._closed:
            raise _oserror(_errno.EBADF)

    def _deadline(self) -> float | None:
        t = self._timeout
        return None if t is None else self._stack.now() + t

    def _wait(self, cond, deadline: float | None) -> None:
        """Block until cond() (TimeoutError at the deadline); wakes on close()."""
        st = self._stack

        def ready():
            return self._closed or cond()
        if deadline is None:
            st.wait(ready, None)
            return
        if not st.wait(ready, max(0.0, deadline - st.now())):
            raise TimeoutError("timed out")

    def _parse(self, address, what: str) -> tuple[str, int]:
        """(ip, port) from an address tuple; "" is the wildcard for bind and
        this host for connect."""
        if self._family == AF_INET:
            if not isinstance(address, tuple) or len(address) != 2:
                raise TypeError(f"{what}(): AF_INET address must be tuple, not {type(address).__name__}"
                                if not isinstance(address, tuple) else
                                "AF_INET address must be a pair (host, port)")
        elif not isinstance(address, tuple) or not 2 <= len(address) <= 4:
            raise TypeError("AF_INET6 address must be a tuple (host, port[, flowinfo[, scopeid]])")
        host, port = address[0], address[1]
        if isinstance(host, (bytes, bytearray)):
            host = bytes(host).decode("idna")
        if not isinstance(host, str):
            raise TypeError(f"str, bytes or bytearray expected, not {type(host).__name__}")
        if not isinstance(port, int) or isinstance(port, bool):
            raise TypeError(f"'{type(port).__name__}' object cannot be interpreted as an integer")
        if not 0 <= port <= 0xFFFF:
            raise OverflowError(f"{what}(): port must be 0-65535.")
        v6 = self._family == AF_INET6
        if host == "":
            ip = ("::" if v6 else "0.0.0.0") if what == "bind" else self._stack.address(self._family)
        else:
            ip = self._stack.resolve(host, self._family)
        if v6 and ip.startswith("::ffff:"):
            mapped = _mapped_v4(ip)
            if mapped is not None:
                if self._v6only:
                    # Linux: an IPv6-only socket cannot reach an IPv4-mapped address
                    raise _oserror(_errno.ENETUNREACH if what == "connect" else _errno.EADDRNOTAVAIL)
                return mapped, port             # IPv4 underneath (RFC 4291 §2.5.5.2)
        if (":" in ip) != v6:
            raise gaierror(_EAI_ADDRFAMILY, "Address family for hostname not supported")
        return ip, port

    def _sockaddr(self, ip: str, port: int):
        if self._family == AF_INET6:
            if ":" not in ip:
                ip = "::ffff:" + ip             # an IPv4 peer of an AF_INET6 socket
            return (ip, port, 0, 0)
        return (ip, port)

    def _dual(self) -> bool:
        """An AF_INET6 socket that also takes IPv4 (IPV6_V6ONLY off)."""
        return self._family == AF_INET6 and not self._v6only

    # ----------------------------------------------------- port bookkeeping
    def _conflict(self, ip: str, port: int) -> bool:
        """Linux's bind rule: the port is taken unless both sockets set
        SO_REUSEADDR and the other is not listening; listeners always take
        it; connections (TIME-WAIT included) take it unless we set SO_REUSEADDR."""
        st = self._stack
        dual = self._dual()
        for ref in st._bound.get(port, ()):
            other = ref()
            if other is None or other is self or other._closed or other._bind_ip is None:
                continue
            if not _overlap(ip, other._bind_ip, dual, other._dual()):
                continue
            if self._reuse and other._reuse and other._listener is None:
                continue
            return True
        host = st.host
        for (lip, lport), lst in host.listeners.items():
            if lport == port and lst is not self._listener and lst is not self._listener4 \
                    and _overlap(ip, lip, dual):
                return True
        if not self._reuse:
            for key, obj in host.conns.items():
                if key[1] == port and obj.state is not CLOSED and _overlap(ip, key[0], dual):
                    return True
        return False

    def _pick_port(self, ip: str) -> int:
        st = self._stack
        lo, hi = st.host.config.ephemeral_ports
        span = hi - lo + 1
        if st._next_bind_port is None:
            st._next_bind_port = lo + _zlib.crc32(st.host.name.encode()) % span
        for _ in range(span):
            p = st._next_bind_port
            st._next_bind_port = lo + (p - lo + 1) % span
            if not self._conflict(ip, p):
                return p
        raise _oserror(_errno.EADDRINUSE)

    def _register(self, ip: str, port: int) -> None:
        self._bind_ip, self._bind_port = ip, port
        refs = self._stack._bound.setdefault(port, [])
        refs[:] = [r for r in refs if r() is not None and not r()._closed]
        refs.append(_weakref.ref(self))

    def _unregister(self) -> None:
        port = self._bind_port
        if port is None:
            return
        refs = self._stack._bound.get(port)
        if refs is not None:
            refs[:] = [r for r in refs if r() is not None and r() is not self]
            if not refs:
                del self._stack._bound[port]

    # ---------------------------------------------------------- the config
    def _config(self):
        return self._opts.config(self._stack.host.config)

    # ---------------------------------------------------------------- bind
    def bind(self, address) -> None:
        self._check()
        ip, port = self._parse(address, "bind")
        st = self._stack
        with st.lock:
            if self._bind_port is not None or self._conn is not None or self._listener is not None:
                raise _oserror(_errno.EINVAL)
            if ip not in _WILDCARDS and not st.claim_loopback(ip):
                raise _oserror(_errno.EADDRNOTAVAIL)
            if port == 0:
                port = self._pick_port(ip)
            elif self._conflict(ip, port):
                raise _oserror(_errno.EADDRINUSE)
            self._register(ip, port)

    # -------------------------------------------------------------- listen
    def listen(self, backlog: int | None = None) -> None:
        self._check()
        if backlog is None:
            backlog = min(SOMAXCONN, 128)
        backlog = max(int(backlog), 0)
        st = self._stack
        with st.op() as now:
            if self._conn is not None:
                raise _oserror(_errno.EINVAL)
            if self._listener is not None and self._listener.state is not CLOSED:
                self._listener.backlog = max(1, backlog)       # listen() again: new backlog
                if self._listener4 is not None:
                    self._listener4.backlog = self._listener.backlog
                return
            if self._bind_port is None:
                ip = "::" if self._family == AF_INET6 else "0.0.0.0"
                self._register(ip, self._pick_port(ip))
            elif self._conflict(self._bind_ip, self._bind_port):
                raise _oserror(_errno.EADDRINUSE)
            self._listener = st.host.listen(now, self._bind_port, ip=self._bind_ip,
                                            backlog=backlog, config=self._config())
            if self._bind_ip == "::" and self._dual():
                # dual stack: the same socket takes IPv4 connections too
                self._listener4 = st.host.listen(now, self._bind_port, ip="0.0.0.0",
                                                 backlog=backlog, config=self._config())
                DUAL_STACK_LISTENERS[self._listener] = self._listener4

    # -------------------------------------------------------------- accept
    def accept(self) -> tuple["socket", tuple]:
        """(new socket, peer address) for the oldest established connection."""
        self._check()
        lst = self._listener
        if lst is None:
            raise _oserror(_errno.EINVAL)
        st = self._stack
        lst4 = self._listener4
        deadline = self._deadline()
        while True:
            with st.op():
                self._check()
                if lst.state is CLOSED:
                    raise _oserror(_errno.EINVAL)
                conn = lst.accept()
                if conn is None and lst4 is not None:
                    conn = lst4.accept()
            if conn is not None:
                break
            if self._timeout == 0.0:
                raise _oserror(_errno.EAGAIN)
            self._wait(lambda: bool(lst.accept_queue) or lst.state is CLOSED
                       or (lst4 is not None and bool(lst4.accept_queue)), deadline)
        child = socket(self._family, SOCK_STREAM, self._proto, stack=st)
        child._opts = self._opts.copy()
        child._conn = conn
        conn.linger = self._opts.linger
        if self._opts.cork:
            conn.cork |= CORK_SOCKET              # Linux: the child is a copy of the listener
        return child, child._sockaddr(conn.remote_ip, conn.remote_port)

    # ------------------------------------------------------------- connect
    def connect(self, address) -> None:
        self._connect(address)

    def connect_ex(self, address) -> int:
        """connect() that returns an errno (0 for success) instead of raising."""
        try:
            self._connect(address)
        except TimeoutError as e:
            return e.errno or _errno.EWOULDBLOCK
        except OSError as e:
            if isinstance(e, gaierror) or e.errno is None:
                raise
            return e.errno
        return 0

    def _connect(self, address) -> None:
        self._check()
        rip, rport = self._parse(address, "connect")
        st = self._stack
        nonblocking = self._timeout == 0.0
        conn = self._conn
        if self._listener is not None or self._deferred is not None:
            raise _oserror(_errno.EISCONN)
        if conn is None and self._tfo_defer(rip, rport):
            return                              # Fast Open: the SYN waits for a send
        if conn is not None:
            if not self._connecting:
                if self._connect_once:
                    # Linux: the first connect() after a connect that waited in
                    # non-blocking mode (CPython's with a timeout) returns 0
                    self._connect_once = False
                    return
                raise _oserror(_errno.EISCONN)
            # a connect is in progress (non-blocking, or an earlier one timed out)
            if nonblocking:
                with st.lock:
                    if conn.state in _CONNECTING and not conn.error:
                        raise _oserror(_errno.EALREADY)
            self._finish_connect(conn, self._deadline())
            return
        deadline = self._deadline()
        with st.op() as now:
            if self._bind_port is not None:
                lip = None if self._bind_ip in _WILDCARDS else self._bind_ip
                lport = self._bind_port
            else:
                lip, lport = None, 0
            if rip.startswith("127."):
                if not st.claim_loopback(rip):
                    raise _oserror(_errno.ENETUNREACH)   # 127.255.255.255, the /8's broadcast
                if lip is None:
                    lip = "127.0.0.1"   # Linux: the /8's local route has src 127.0.0.1
            conn = st.host.connect(now, rip, rport, local_ip=lip, local_port=lport,
                                   config=self._config(), fastopen=self._tfo_connect == 1)
            self._tfo_req = conn.tfo is not None
            conn.linger = self._opts.linger
            if self._opts.cork:
                conn.set_cork(now, True)
            self._conn = conn
            self._connecting = True
            self._err_reported = False
        if nonblocking:
            raise _oserror(_errno.EINPROGRESS)
        self._finish_connect(conn, deadline)
        self._connect_once = self._timeout is not None

    def _finish_connect(self, conn, deadline) -> None:
        self._wait(lambda: conn.state not in _CONNECTING or conn.error is not None, deadline)
        with self._stack.lock:
            self._check()
            self._connecting = False
            if conn.state in (ESTABLISHED, CLOSE_WAIT) or (conn.established and not conn.error):
                return
            # failed: back to an unconnected socket that may connect again
            self._conn = None
            self._err_reported = True
            raise _engine_error(conn.error or "ECONNABORTED")

    # ---------------------------------------------------------- addresses
    def getsockname(self):
        self._check()
        conn = self._conn
        if conn is not None:
            return self._sockaddr(conn.local_ip, conn.local_port)
        if self._bind_port is not None:
            return self._sockaddr(self._bind_ip, self._bind_port)
        return self._sockaddr("::" if self._family == AF_INET6 else "0.0.0.0", 0)

    def getpeername(self):
        self._check()
        conn = self._conn
        if conn is None or conn.state in (CLOSED, SYN_SENT):
            raise _oserror(_errno.ENOTCONN)
        return self._sockaddr(conn.remote_ip, conn.remote_port)

    # ---------------------------------------------------------------- recv
    def _pending_error(self, conn) -> OSError | None:
        """The connection's error, the first time anyone asks (then None)."""
        if conn.error and not self._err_reported:
            self._err_reported = True
            if conn.error == "ECONNRESET" and conn.eof and not conn.wr_shut:
                # a RST in CLOSE_WAIT (the peer's FIN had come) is EPIPE on
                # Linux (tcp_reset), ECONNRESET in every other state
                return _oserror(_errno.EPIPE)
            return _engine_error(conn.error)
        return None

    def _recv_step(self, conn, n: int, flags: int, now: float):
        """Bytes, b"" at the end, or None when the call would block."""
        if conn.rcvq:
            if flags & MSG_PEEK:
                return bytes(conn.rcvq[:n])
            return conn.recv(now, n)
        err = self._pending_error(conn)
        if err is not None:
            raise err
        if conn.error or conn.eof or conn.rd_shut or conn.state is CLOSED:
            return b""
        return None

    def _recv_conn(self):
        self._check()
        conn = self._conn
        if conn is None and self._deferred is not None:
            conn = self._tfo_deferred_conn()    # Linux: SYN-SENT, nothing to read yet
        if conn is None:
            raise _oserror(_errno.ENOTCONN)
        return conn

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        if bufsize < 0:
            raise ValueError("negative buffersize in recv")
        if flags & MSG_OOB:
            raise _oserror(_errno.EINVAL)
        conn = self._recv_conn()
        if bufsize == 0:
            return b""
        st = self._stack
        nonblocking = self._timeout == 0.0 or bool(flags & MSG_DONTWAIT)
        waitall = bool(flags & MSG_WAITALL) and not flags & MSG_PEEK and not nonblocking
        deadline = self._deadline()
        got = bytearray()
        while True:
            with st.op() as now:
                self._check()
                try:
                    data = self._recv_step(conn, bufsize - len(got), flags, now)
                except OSError:
                    if got:
                        return bytes(got)
                    raise
            if data is not None:
                if not waitall:
                    return data
                got += data
                if not data or len(got) >= bufsize:
                    return bytes(got)
            if nonblocking:
                raise _oserror(_errno.EAGAIN)
            try:
                self._wait(lambda: bool(conn.rcvq) or conn.error is not None or conn.eof
                           or conn.rd_shut or conn.state is CLOSED, deadline)
            except TimeoutError:
                if got:
                    return bytes(got)
                raise

    def recv_into(self, buffer, nbytes: int = 0, flags: int = 0) -> int:
        view = memoryview(buffer).cast("B")
        if nbytes < 0:
            raise ValueError("negative buffersize in recv_into")
        if nbytes == 0:
            nbytes = len(view)
        elif nbytes > len(view):
            raise ValueError("buffer too small for requested bytes")
        data = self.recv(nbytes, flags)
        view[:len(data)] = data
        return len(data)

    def recvmsg(self, bufsize: int, ancbufsize: int = 0, flags: int = 0):
        """(data, ancdata, msg_flags, address) like `socket.recvmsg`. With
        TCP_INQ on, ancdata holds the TCP_CM_INQ message (IPPROTO_TCP,
        TCP_CM_INQ, a native int: octets still to read, 1 at the peer's FIN
        when none are), if `ancbufsize` has room for it (else MSG_CTRUNC)."""
        if ancbufsize < 0:
            raise ValueError("negative buffer size in recvmsg()")
        data = self.recv(bufsize, flags)
        anc: list = []
        mflags = 0
        conn = self._conn
        if self._opts.inq and conn is not None:
            with self._stack.lock:
                hint = inq_hint(conn)
            if ancbufsize >= _CMSG_LEN_INT:
                anc.append((IPPROTO_TCP, TCP_CM_INQ, _struct.pack("i", hint)))
            else:
                mflags |= MSG_CTRUNC
        return data, anc, mflags, None

    def recvfrom(self, bufsize: int, flags: int = 0):
        return self.recv(bufsize, flags), None

    # ---------------------------------------------------------------- send
    def _send_step(self, conn, data, now: float, flags: int = 0):
        """Octets queued (0 for empty data), or None when the call would block."""
        err = self._pending_error(conn)
        if err is not None:
            raise err
        st = conn.state
        if conn.error:
            raise _oserror(_errno.EPIPE)
        if st in _CONNECTING:
            return None                   # the handshake is still running
        if conn.wr_shut or st not in _CAN_SEND:
            raise _oserror(_errno.EPIPE)
        if not len(data):
            return 0
        more = bool(flags & MSG_MORE)
        eor = bool(flags & MSG_EOR)
        lowat = self._opts.notsent_lowat
        if not lowat:
            return conn.send(now, data, push=not more, more=more, eor=eor) or None
        # TCP_NOTSENT_LOWAT (as Linux's tcp_sendmsg): take data only while
        # the unsent part of the queue is under the mark, a segment at a time
        # (Linux fills buffers of several segments, so it may take a little
        # more before it stops)
        taken = 0
        while taken < len(data) and unsent(conn) < lowat:
            part = data[taken:taken + max(1, conn.snd_mss)]
            last = taken + len(part) >= len(data)
            n = conn.send(now, part, push=not more and last, more=more, eor=eor and last)
            if not n:
                break
            taken += n
        return taken or None

    def _send(self, data, flags: int, everything: bool, address=None) -> int:
        self._check()
        if flags & MSG_OOB:
            raise _oserror(_errno.EOPNOTSUPP)
        if self._tfo_takes(flags):
            sent = self._tfo_send(data, flags, address)
            flags &= ~MSG_FASTOPEN
            if sent is not None:
                rest = memoryview(data).cast("B")[sent:]
                if not everything or not len(rest):
                    return sent
                return sent + self._send(rest, flags, True)
        view = memoryview(data).cast("B")
        conn = self._conn
        if conn is None:
            raise _oserror(_errno.EPIPE)       # Linux: send() on an unconnected TCP socket
        st = self._stack
        nonblocking = self._timeout == 0.0 or bool(flags & MSG_DONTWAIT)
        if self._timeout is None and not nonblocking:
            everything = True                  # a blocking send queues it all, as Linux does
        deadline = self._deadline()
        total = 0
        while True:
            with st.op() as now:
                self._check()
                n = self._send_step(conn, view[total:], now, flags)
            if n is not None:
                total += n
                if total >= len(view) or not everything:
                    return total
            if nonblocking:
                if total and not everything:
                    return total
                raise _oserror(_errno.EAGAIN)
            self._wait(lambda: conn.error is not None or (
                conn.state not in _CONNECTING and (
                    (conn.send_space > 0 and self._lowat_wake(conn)) or conn.wr_shut
                    or conn.state not in _CAN_SEND)), deadline)

    def _lowat_wake(self, conn) -> bool:
        """Linux wakes a writer held by TCP_NOTSENT_LOWAT once the unsent
        data is under half the mark (tcp_stream_memory_free with wake)."""
        lowat = self._opts.notsent_lowat
        return not lowat or 2 * unsent(conn) < lowat

    def send(self, data, flags: int = 0) -> int:
        """Queue what fits; returns the number of octets queued."""
        return self._send(data, flags, everything=False)

    def sendall(self, data, flags: int = 0) -> None:
        """Queue everything (the timeout, if any, is for the whole call)."""
        self._send(data, flags, everything=True)

    def sendmsg(self, buffers, ancdata=(), flags: int = 0, address=None) -> int:
        """Like `socket.sendmsg`: the buffers go as one write (so MSG_MORE and
        MSG_EOR apply to their end), the address as `sendto`'s. Control
        messages as Linux's tcp_sendmsg takes them (sock_cmsg_send, checked
        on the kernel): any level but SOL_SOCKET is ignored; of SOL_SOCKET,
        SCM_RIGHTS and SCM_CREDENTIALS are ignored, SO_MARK, SO_PRIORITY and
        SO_TIMESTAMPING need a 4-octet value (SO_MARK needs privilege, and
        SO_PRIORITY above 6 too: EPERM), anything else is EINVAL. synack
        keeps no mark or priority; it has no transmit timestamps, so
        SO_TIMESTAMPING asking for them is EOPNOTSUPP, not ignored."""
        data = b"".join(bytes(memoryview(b).cast("B")) for b in buffers)
        for item in ancdata:
            if not isinstance(item, tuple) or len(item) != 3:
                raise TypeError("sendmsg() ancillary data items must be (level, type, data) tuples")
            level, kind, cdata = item
            _cmsg_check(int(level), int(kind), bytes(memoryview(cdata).cast("B")))
        return self.sendto(data, flags, address) if address is not None else \
            self._send(data, flags, False)

    def sendto(self, data, flags_or_addr, addr=None) -> int:
        """On a connected TCP socket the address is ignored, as on Linux; with
        MSG_FASTOPEN an unconnected socket connects to it (TCP Fast Open,
        synack.api.fastopen)."""
        if addr is None:
            return self._send(data, 0, False, flags_or_addr)
        return self._send(data, flags_or_addr, False, addr)

    # ------------------------------------------------------------ shutdown
    def shutdown(self, how: int) -> None:
        self._check()
        if how not in (SHUT_RD, SHUT_WR, SHUT_RDWR):
            raise _oserror(_errno.EINVAL)
        st = self._stack
        with st.op() as now:
            lst = self._listener
            if lst is not None:
                # Linux: SHUT_RD on a listener stops it; accept() then fails (EINVAL)
                if how != SHUT_WR and lst.state is not CLOSED:
                    lst.close(now)
                    st._changed.add(lst)
                    self._close_listener4(now)
                return
            conn = self._conn
            if conn is None or conn.state is CLOSED:
                raise _oserror(_errno.ENOTCONN)
            if conn.state is SYN_SENT:
                conn.abort(now)                 # Linux disconnects a pending connect
                self._connecting = False
                return
            conn.shutdown(now, {SHUT_RD: "rd", SHUT_WR: "wr", SHUT_RDWR: "rdwr"}[how])
            st._changed.add(conn)

    # --------------------------------------------------------------- close
    def close(self) -> None:
        """Close (a FIN, or a RST with SO_LINGER 0 or unread data). Idempotent.
        With SO_LINGER on and a positive time, waits up to that long for the
        FIN to be acknowledged, as Linux does."""
        if self._closed:
            return
        self._closed = True
        if self._io_refs <= 0:
            self._real_close()

    def _real_close(self) -> None:
        st = self._stack
        conn = self._conn
        with st.op() as now:
            self._unregister()
            if self._listener is not None:
                if self._listener.state is not CLOSED:
                    self._listener.close(now)
                st._changed.add(self._listener)
                self._close_listener4(now)
            elif conn is not None:
                conn.close(now)
                st._changed.add(conn)
        linger = self._opts.linger
        if conn is not None and linger:
            st.wait(lambda: conn.state not in _LINGERING, float(linger))

    def _close_listener4(self, now: float) -> None:
        lst4 = self._listener4
        if lst4 is not None:
            DUAL_STACK_LISTENERS.pop(self._listener, None)
            if lst4.state is not CLOSED:
                lst4.close(now)
            self._stack._changed.add(lst4)

    def detach(self) -> int:
        raise _oserror(_errno.EOPNOTSUPP, "synack sockets have no file descriptor to detach")

    def _decref_socketios(self) -> None:
        if self._io_refs > 0:
            self._io_refs -= 1
        if self._closed and self._io_refs <= 0:
            self._real_close()

    def makefile(self, mode: str = "r", buffering: int | None = None, *, encoding=None,
                 errors=None, newline=None):
        """A file object over the socket, like `socket.socket.makefile`."""
        if not set(mode) <= {"r", "w", "b"}:
            raise ValueError(f"invalid mode {mode!r} (only r, w, b allowed)")
        reading = "r" in mode
        writing = "w" in mode
        if not reading and not writing:
            reading = True
        binary = "b" in mode
        raw = _std.SocketIO(self, ("r" if reading else "") + ("w" if writing else ""))
        self._io_refs += 1
        if buffering is None:
            buffering = -1
        if buffering < 0:
            buffering = _io.DEFAULT_BUFFER_SIZE
        if buffering == 0:
            if not binary:
                raise ValueError("unbuffered streams must be binary")
            return raw
        if reading and writing:
            buf = _io.BufferedRWPair(raw, raw, buffering)
        elif reading:
            buf = _io.BufferedReader(raw, buffering)
        else:
            buf = _io.BufferedWriter(raw, buffering)
        if binary:
            return buf
        text = _io.TextIOWrapper(buf, encoding, errors, newline)
        text.mode = mode
        return text

    # ------------------------------------------------------------- options
    def setsockopt(self, level: int, optname: int, value, optlen: int | None = None) -> None:
        """Linux's options and errnos (synack.engine.info.SockOpts); the
        socket layer's own: SO_REUSEADDR. TCP_CORK, TCP_QUICKACK and
        IP_TOS/IPV6_TCLASS act on the connection (docs/api.md)."""
        self._check()
        if value is None:
            raise _oserror(_errno.EINVAL)
        st = self._stack
        with st.op() as now:
            if level == SOL_SOCKET and optname == SO_REUSEADDR:
                self._reuse = bool(self._int_value(value))
                return
            if level == IPPROTO_TCP and optname == TCP_FASTOPEN_CONNECT:
                self._tfo_setsockopt(self._int_value(value))
                return
            if level == IPPROTO_IPV6 and optname == IPV6_V6ONLY and self._family == AF_INET6:
                if self._bind_port is not None or self._conn is not None:
                    raise _oserror(_errno.EINVAL)     # Linux: only before bind/connect
                self._v6only = bool(self._int_value(value))
                return
            if level == SOL_SOCKET and optname == SO_LINGER:
                if isinstance(value, (tuple, list)):
                    v = tuple(value)
                else:
                    raw = bytes(value) if not isinstance(value, int) else None
                    if raw is None or len(raw) < 8:
                        raise _oserror(_errno.EINVAL)
                    v = _struct.unpack("ii", raw[:8])
            elif level == IPPROTO_TCP and optname == TCP_CONGESTION:
                v = value if isinstance(value, str) else bytes(value).decode("latin-1")
            else:
                v = self._int_value(value)
            conn = self._conn
            try:
                self._opts.set(now, level, optname, v, conn)
            except NotSupported as e:
                raise _oserror(_errno.EOPNOTSUPP, f"synack: {e}") from None
            if self._opts.tos and ((level, optname) in ((IPPROTO_IP, IP_TOS),
                                                        (IPPROTO_IPV6, IPV6_TCLASS))):
                st.host.tos_used = True        # a listener's SYN,ACKs carry it too
            if conn is not None and (level, optname) in ((SOL_SOCKET, SO_SNDBUF),
                                                         (IPPROTO_TCP, TCP_NOTSENT_LOWAT)):
                st._changed.add(conn)          # send space changed: writers may go on
            if self._listener is not None:
                self._listener.cfg = self._config()      # connections accepted later inherit it
                if self._listener4 is not None:
                    self._listener4.cfg = self._listener.cfg

    @staticmethod
    def _int_value(value) -> int:
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        try:
            raw = bytes(value)
        except TypeError:
            raise TypeError("a bytes-like object or an integer is required") from None
        if len(raw) < 4:
            raise _oserror(_errno.EINVAL)
        return _struct.unpack("i", raw[:4])[0]

    def getsockopt(self, level: int, optname: int, buflen: int | None = None):
        self._check()
        with self._stack.lock:
            v = self._get_option(level, optname, buflen)
        if isinstance(v, bytes):
            return v[:buflen] if buflen else v
        if isinstance(v, tuple):                       # SO_LINGER
            return _struct.pack("ii", *v)[:buflen] if buflen else v[0]
        if isinstance(v, str):                         # TCP_CONGESTION: char[16]
            raw = v.encode().ljust(16, b"\0")
            return raw[:buflen] if buflen else _struct.unpack("i", raw[:4])[0]
        if not buflen:
            return v
        return _struct.pack("i", v)[:buflen]

    def _get_option(self, level: int, opt: int, buflen: int | None):
        conn = self._conn
        if level == SOL_SOCKET:
            if opt == SO_REUSEADDR:
                return int(self._reuse)
            if opt == SO_ERROR:
                if conn is None:
                    return 0
                err = self._pending_error(conn)
                return err.errno if err is not None else 0
            if opt == SO_TYPE:
                return int(SOCK_STREAM)
            if opt == SO_ACCEPTCONN:
                return int(self._listener is not None and self._listener.state is not CLOSED)
            if opt == SO_DOMAIN:
                return int(self._family)
            if opt == SO_PROTOCOL:
                return IPPROTO_TCP
            if opt == SO_REUSEPORT:
                return 0
        if level == IPPROTO_TCP and opt == TCP_FASTOPEN_CONNECT:
            return self._tfo_connect
        if level == IPPROTO_IPV6 and opt == IPV6_V6ONLY and self._family == AF_INET6:
            return int(self._v6only)
        if level == IPPROTO_TCP and opt == TCP_INFO:
            return _pack_tcp_info(self._tcp_info_now())
        base = self._listener.cfg if self._listener is not None else self._stack.host.config
        return self._opts.get(level, opt, conn, base)

    def _tcp_info_now(self) -> TcpInfo:
        obj = self._conn if self._conn is not None else self._listener
        if obj is None:
            return TcpInfo(state=7)                    # TCP_CLOSE, as Linux for a new socket
        return tcp_info(self._stack.now(), obj)

    def tcp_info(self) -> TcpInfo:
        """The connection's TCP_INFO as a record (synack.engine.info.TcpInfo):
        the fields of getsockopt(IPPROTO_TCP, TCP_INFO), None where synack
        keeps nothing with that meaning."""
        self._check()
        with self._stack.lock:
            return self._tcp_info_now()

    def ioctl(self, request: int, arg=0) -> int:
        """SIOCINQ (FIONREAD), SIOCOUTQ (TIOCOUTQ), SIOCOUTQNSD: octets to
        read, not yet acknowledged, not yet sent (our FIN counts one until
        it is acknowledged, as Linux counts it); EINVAL on a listener. (A
        synack extension: CPython's socket has ioctl() only on Windows; on
        Linux one calls fcntl.ioctl on the descriptor.)"""
        self._check()
        if request not in (SIOCINQ, SIOCOUTQ, SIOCOUTQNSD):
            raise _oserror(_errno.ENOTTY)
        with self._stack.lock:
            if self._listener is not None:
                raise _oserror(_errno.EINVAL)
            if self._conn is None:
                return 0
            q = queues(self._conn)
        return q.inq if request == SIOCINQ else q.outq if request == SIOCOUTQ else q.outq_nsd


SocketType = socket

#: struct tcp_info as Linux lays it out (include/uapi/linux/tcp.h, 248 octets)
_TCP_INFO = _struct.Struct("=8B24I4Q6IQ3Q2I2Q6I2HI")


def _pack_tcp_info(i: TcpInfo) -> bytes:
    """getsockopt(TCP_INFO)'s bytes. The fields synack keeps nothing for
    (TcpInfo's None, and those it does not list: ato, fackets, pmtu, the
    byte and segment counters ...) are 0."""
    def z(v):
        return 0 if v is None else v
    wscales = (z(i.snd_wscale) & 0xF) | ((z(i.rcv_wscale) & 0xF) << 4)
    return _TCP_INFO.pack(
        i.state, z(i.ca_state), min(255, z(i.retransmits)), min(255, z(i.probes)),
        min(255, z(i.backoff)),
        z(i.options), wscales, 0,
        z(i.rto), 0, z(i.snd_mss), z(i.rcv_mss), z(i.unacked), z(i.sacked), z(i.lost),
        z(i.retrans), 0,
        z(i.last_data_sent), 0, z(i.last_data_recv), 0,
        0, 0, z(i.rtt), z(i.rttvar), z(i.snd_ssthresh), z(i.snd_cwnd), z(i.advmss),
        z(i.reordering), 0, 0, 0,
        0, 0, 0, 0,
        0, 0, z(i.notsent_bytes), z(i.min_rtt) & 0xFFFFFFFF, 0, 0,
        0,
        z(i.busy_time), z(i.rwnd_limited), z(i.sndbuf_limited),
        0, 0, 0, 0,
        0, z(i.reord_seen), 0, 0, 0, 0,
        0, 0, 0)



# ----------------------------------------------------------- names and addresses
def gethostname(*, stack=None) -> str:
    """The name of the stack's host (its first address when it has no other)."""
    st = stack if stack is not None else current_stack()
    return st.host.name


def getfqdn(name: str = "", *, stack=None) -> str:
    return name or gethostname(stack=stack)


def gethostbyname(name: str, *, stack=None) -> str:
    """An IPv4 address for `name`: a literal, "localhost" (127.0.0.1), or a
    name the stack knows (`stack.hosts`, hosts of the simulated network)."""
    st = stack if stack is not None else current_stack()
    return st.resolve(name, AF_INET)


def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0, *, stack=None) -> list:
    """Like `socket.getaddrinfo`, with synack's resolver (`Stack.resolve`:
    literals, localhost, the stack's names) and TCP only: every entry is
    (family, SOCK_STREAM, IPPROTO_TCP, '', sockaddr). `host` None means the
    wildcard with AI_PASSIVE and loopback without, as in CPython."""
    if type not in (0, SOCK_STREAM):
        raise gaierror(EAI_SOCKTYPE, "ai_socktype not supported")
    if proto not in (0, IPPROTO_TCP):
        raise gaierror(EAI_SOCKTYPE, "ai_socktype not supported")
    if family not in (0, AF_UNSPEC, AF_INET, AF_INET6):
        raise gaierror(EAI_FAMILY, "ai_family not supported")
    if port is None:
        num = 0
    elif isinstance(port, int):
        num = port
    else:
        text = port.decode() if isinstance(port, bytes) else str(port)
        if text.isdigit():
            num = int(text)
        elif flags & AI_NUMERICSERV:
            raise gaierror(EAI_NONAME, "Name or service not known")
        else:
            try:
                num = _std.getservbyname(text, "tcp")
            except OSError:
                raise gaierror(EAI_SERVICE, "Servname not supported for ai_socktype") from None
    if isinstance(host, bytes):
        host = host.decode("idna")
    families = [AF_INET6, AF_INET] if family in (0, AF_UNSPEC) else [family]
    out = []
    for fam in families:
        if host is None:
            ip = ("::" if fam == AF_INET6 else "0.0.0.0") if flags & AI_PASSIVE else \
                ("::1" if fam == AF_INET6 else "127.0.0.1")
        else:
            name = host.split("%", 1)[0]
            try:
                lit = ipaddress.ip_address(name)
            except ValueError:
                if flags & AI_NUMERICHOST:
                    raise gaierror(EAI_NONAME, "Name or service not known") from None
                st = stack if stack is not None else current_stack()
                try:
                    ip = st.resolve(host, fam)
                except (gaierror, OSError):
                    continue
                if (":" in ip) != (fam == AF_INET6):
                    continue
            else:
                if (lit.version == 6) != (fam == AF_INET6):
                    continue
                ip = str(lit)
        sockaddr = (ip, num, 0, 0) if fam == AF_INET6 else (ip, num)
        out.append((_std.AddressFamily(fam), _std.SocketKind.SOCK_STREAM, IPPROTO_TCP, "",
                    sockaddr))
    if not out:
        raise gaierror(EAI_NONAME, "Name or service not known")
    return out


# --------------------------------------------------------------- helpers
def create_connection(address, timeout=_std._GLOBAL_DEFAULT_TIMEOUT, source_address=None, *,
                      all_errors: bool = False, stack=None) -> socket:
    """Connect to (host, port) and return the socket, like `socket.create_connection`."""
    st = stack if stack is not None else current_stack()
    host, port = address[0], address[1]
    family = AF_INET6 if ":" in str(host) else AF_INET
    sock = socket(family, SOCK_STREAM, stack=st)
    try:
        if timeout is not _std._GLOBAL_DEFAULT_TIMEOUT:
            sock.settimeout(timeout)
        if source_address:
            sock.bind(source_address)
        sock.connect((host, port))
        return sock
    except BaseException:
        sock.close()
        raise


def create_server(address, *, family=AF_INET, backlog=None, reuse_port: bool = False,
                  dualstack_ipv6: bool = False, stack=None) -> socket:
    """A listening socket bound to `address` with SO_REUSEADDR, like `socket.create_server`."""
    if reuse_port:
        raise ValueError("SO_REUSEPORT not supported on synack")
    if dualstack_ipv6 and family != AF_INET6:
        raise ValueError("dualstack_ipv6 requires AF_INET6 family")
    sock = socket(family, SOCK_STREAM, stack=stack)
    try:
        sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
        if family == AF_INET6:
            # as CPython: dual stack only when asked for, IPv6-only otherwise
            sock.setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, 0 if dualstack_ipv6 else 1)
        sock.bind(address)
        if backlog is None:
            sock.listen()
        else:
            sock.listen(backlog)
        return sock
    except BaseException:
        sock.close()
        raise
