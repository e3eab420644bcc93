"""The socket call sequences of tests/test_socket_differential.py.

Each case is a function `case(sock, host)` taking a socket module (CPython's
`socket`, or `synack.api.socket`) and the address of the test servers, and
returning what happened: a value, or the exception's type and errno. The same
functions run against the kernel (a subprocess inside the test's namespace)
and against synack (over a TUN into that namespace).

    python tests/sockdiff.py serve HOST      the servers, in the namespace
    python tests/sockdiff.py run HOST        every case on the kernel: JSON
"""
from __future__ import annotations

import json
import sys
import threading
import time

ECHO, RESET, CLOSE, SILENT, CLOSED_PORT = 7001, 7002, 7003, 7004, 7009
#: an echo server that takes TCP Fast Open (TCP_FASTOPEN on the listener; the
#: serving process turns on the server bit of net.ipv4.tcp_fastopen in the
#: test's namespace): it hands out cookies and takes data on the SYN
TFO_ECHO = 7005
#: the wire server: it records the packets that reach it (an AF_PACKET
#: capture inside the namespace) and, when the client has shut down its
#: side, sends back those of that connection as JSON (_wire)
WIRE = 7006
#: an address inside the test's namespace that nobody answers: the test routes
#: it to a veth whose peer has no address, with a fixed neighbour entry, so
#: the kernel's SYNs leave and vanish; synack's SYNs reach the namespace's
#: kernel, which does not forward and drops them silently
UNROUTABLE = "10.79.8.9"


def outcome(fn, *args):
    try:
        v = fn(*args)
    except BaseException as e:            # noqa: BLE001 - the type is the result
        return ["raise", type(e).__name__, getattr(e, "errno", None)]
    if isinstance(v, bytes):
        return ["bytes", v.decode("latin-1")]
    if isinstance(v, tuple):
        return ["tuple", [str(x) for x in v]]
    return ["value", v if isinstance(v, (int, float, str, bool, type(None))) else repr(v)]


# ----------------------------------------------------------------- the cases
def _conn(sock, host, port, timeout=5.0):
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def c_refused(sock, host):
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    s.settimeout(5)
    try:
        return outcome(s.connect, (host, CLOSED_PORT))
    finally:
        s.close()


def c_connect_ex_refused(sock, host):
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    s.settimeout(5)
    try:
        return outcome(s.connect_ex, (host, CLOSED_PORT))
    finally:
        s.close()


def c_second_connect(sock, host):
    s = _conn(sock, host, ECHO)
    try:
        return outcome(s.connect, (host, ECHO))
    finally:
        s.close()


def c_second_connect_blocking(sock, host):
    s = _conn(sock, host, ECHO)
    s.settimeout(None)
    try:
        return outcome(s.connect, (host, ECHO))
    finally:
        s.close()


def c_accept_not_listening(sock, host):
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    s.settimeout(1)
    try:
        return outcome(s.accept)
    finally:
        s.close()


def c_recv_unconnected(sock, host):
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    try:
        return outcome(s.recv, 10)
    finally:
        s.close()


def c_send_unconnected(sock, host):
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    try:
        return outcome(s.send, b"x")
    finally:
        s.close()


def c_getpeername_unconnected(sock, host):
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    try:
        return outcome(s.getpeername)
    finally:
        s.close()


def c_getsockname_fresh(sock, host):
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    try:
        return outcome(s.getsockname)
    finally:
        s.close()


def c_shutdown_unconnected(sock, host):
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    try:
        return outcome(s.shutdown, sock.SHUT_RDWR)
    finally:
        s.close()


def c_bind_in_use(sock, host):
    a = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    b = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    try:
        a.bind(("", 7100))
        a.listen()
        return outcome(b.bind, ("", 7100))
    finally:
        a.close()
        b.close()


def c_bind_in_use_reuseaddr(sock, host):
    a = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    b = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    try:
        a.setsockopt(sock.SOL_SOCKET, sock.SO_REUSEADDR, 1)
        b.setsockopt(sock.SOL_SOCKET, sock.SO_REUSEADDR, 1)
        a.bind(("", 7101))
        a.listen()
        return outcome(b.bind, ("", 7101))       # a listener holds the port even so
    finally:
        a.close()
        b.close()


def c_bind_foreign_address(sock, host):
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    try:
        return outcome(s.bind, ("198.51.100.7", 0))
    finally:
        s.close()


def c_bind_twice(sock, host):
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    try:
        s.bind(("", 0))
        return outcome(s.bind, ("", 0))
    finally:
        s.close()


def c_listen_picks_a_port(sock, host):
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    try:
        s.listen()
        return ["value", s.getsockname()[1] != 0]
    finally:
        s.close()


def c_reuseaddr_default_and_set(sock, host):
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    try:
        before = s.getsockopt(sock.SOL_SOCKET, sock.SO_REUSEADDR)
        s.setsockopt(sock.SOL_SOCKET, sock.SO_REUSEADDR, 1)
        return ["value", [before, bool(s.getsockopt(sock.SOL_SOCKET, sock.SO_REUSEADDR))]]
    finally:
        s.close()


def c_nodelay_default(sock, host):
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    try:
        return outcome(s.getsockopt, sock.IPPROTO_TCP, sock.TCP_NODELAY)
    finally:
        s.close()


def c_so_type(sock, host):
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    try:
        return outcome(s.getsockopt, sock.SOL_SOCKET, sock.SO_TYPE)
    finally:
        s.close()


def c_nonblocking_recv_idle(sock, host):
    s = _conn(sock, host, ECHO)
    s.setblocking(False)
    try:
        return outcome(s.recv, 10)
    finally:
        s.close()


def c_nonblocking_connect(sock, host):
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    s.setblocking(False)
    try:
        return outcome(s.connect, (host, ECHO))
    finally:
        s.close()


def c_nonblocking_connect_refused_so_error(sock, host):
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect_ex((host, CLOSED_PORT))
        time.sleep(0.3)
        return outcome(s.getsockopt, sock.SOL_SOCKET, sock.SO_ERROR)
    finally:
        s.close()


def c_timeout_recv(sock, host):
    s = _conn(sock, host, ECHO, timeout=0.3)
    try:
        return outcome(s.recv, 10)
    finally:
        s.close()


def c_gettimeout(sock, host):
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    try:
        s.settimeout(3)
        a = s.gettimeout()
        s.setblocking(False)
        b = s.gettimeout()
        s.setblocking(True)
        return ["value", [a, b, s.gettimeout()]]
    finally:
        s.close()


def c_negative_timeout(sock, host):
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    try:
        return outcome(s.settimeout, -1)
    finally:
        s.close()


def c_echo(sock, host):
    s = _conn(sock, host, ECHO)
    try:
        s.sendall(b"hello")
        return outcome(s.recv, 100)
    finally:
        s.close()


def c_sendall_large(sock, host):
    s = _conn(sock, host, ECHO, timeout=20)
    data = bytes(range(256)) * 4096                   # 1 MiB
    got = bytearray()

    def reader():
        while len(got) < len(data):
            d = s.recv(65536)
            if not d:
                return
            got.extend(d)
    th = threading.Thread(target=reader)
    th.start()
    try:
        r = outcome(s.sendall, data)
        th.join(20)
        return [r, len(got), bytes(got) == data]
    finally:
        s.close()


def c_makefile_readline(sock, host):
    s = _conn(sock, host, ECHO)
    try:
        f = s.makefile("rwb")
        f.write(b"one line\nand more")
        f.flush()
        line = f.readline()
        f.close()
        return ["bytes", line.decode()]
    finally:
        s.close()


def c_recv_after_shut_rd(sock, host):
    s = _conn(sock, host, ECHO)
    try:
        s.shutdown(sock.SHUT_RD)
        return outcome(s.recv, 10)
    finally:
        s.close()


def c_send_after_shut_wr(sock, host):
    s = _conn(sock, host, ECHO)
    try:
        s.shutdown(sock.SHUT_WR)
        return outcome(s.send, b"x")
    finally:
        s.close()


def c_recv_after_peer_close(sock, host):
    s = _conn(sock, host, CLOSE)
    try:
        return outcome(s.recv, 10)
    finally:
        s.close()


def c_recv_after_peer_reset(sock, host):
    s = _conn(sock, host, RESET)
    try:
        time.sleep(0.6)
        return outcome(s.recv, 10)
    finally:
        s.close()


def c_send_after_peer_reset(sock, host):
    s = _conn(sock, host, RESET)
    try:
        time.sleep(0.6)
        return outcome(s.send, b"x")
    finally:
        s.close()


def c_send_twice_after_peer_close(sock, host):
    s = _conn(sock, host, CLOSE)
    try:
        time.sleep(0.3)
        s.send(b"x")              # the peer answers this with a RST
        time.sleep(0.3)
        return outcome(s.send, b"y")
    finally:
        s.close()


def c_getpeername_after_close(sock, host):
    s = _conn(sock, host, ECHO)
    s.close()
    return outcome(s.getpeername)


def c_fileno_after_close(sock, host):
    s = _conn(sock, host, ECHO)
    s.close()
    return outcome(s.fileno)


def c_close_twice(sock, host):
    s = _conn(sock, host, ECHO)
    s.close()
    return outcome(s.close)


def c_send_after_close(sock, host):
    s = _conn(sock, host, ECHO)
    s.close()
    return outcome(s.send, b"x")


def c_linger_zero_close(sock, host):
    import struct
    s = _conn(sock, host, SILENT)
    s.setsockopt(sock.SOL_SOCKET, sock.SO_LINGER, struct.pack("ii", 1, 0))
    return outcome(s.close)


def c_getpeername_connected(sock, host):
    s = _conn(sock, host, ECHO)
    try:
        return outcome(s.getpeername)
    finally:
        s.close()


def c_create_connection_refused(sock, host):
    return outcome(sock.create_connection, (host, CLOSED_PORT), 5)


def c_connect_unroutable_timeout(sock, host):
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    s.settimeout(1.0)
    try:
        return outcome(s.connect, (UNROUTABLE, ECHO))
    finally:
        s.close()


def c_connect_ex_unroutable_timeout(sock, host):
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    s.settimeout(1.0)
    try:
        return outcome(s.connect_ex, (UNROUTABLE, ECHO))
    finally:
        s.close()


def c_create_connection_unroutable_timeout(sock, host):
    return outcome(sock.create_connection, (UNROUTABLE, ECHO), 1.0)


def c_connect_port_zero(sock, host):
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    s.settimeout(2)
    try:
        return outcome(s.connect, (host, 0))
    finally:
        s.close()


# ----------------------------------------------------- options (issue 11, 13)
# Linux's numbers where the standard module lacks a name (both modules run on
# Linux here; synack.api.socket has them all)
def _num(sock, name, value):
    return getattr(sock, name, value)


def _opt_table(sock):
    T, S = sock.IPPROTO_TCP, sock.SOL_SOCKET
    IP, IP6 = sock.IPPROTO_IP, getattr(sock, "IPPROTO_IPV6", 41)
    return {
        "TCP_NODELAY": (T, sock.TCP_NODELAY), "TCP_MAXSEG": (T, sock.TCP_MAXSEG),
        "TCP_KEEPIDLE": (T, sock.TCP_KEEPIDLE), "TCP_KEEPINTVL": (T, sock.TCP_KEEPINTVL),
        "TCP_KEEPCNT": (T, sock.TCP_KEEPCNT), "TCP_USER_TIMEOUT": (T, sock.TCP_USER_TIMEOUT),
        "TCP_NOTSENT_LOWAT": (T, _num(sock, "TCP_NOTSENT_LOWAT", 25)),
        "TCP_INQ": (T, _num(sock, "TCP_INQ", 36)), "SO_KEEPALIVE": (S, sock.SO_KEEPALIVE),
        "SO_RCVBUF": (S, sock.SO_RCVBUF), "SO_SNDBUF": (S, sock.SO_SNDBUF),
        "IP_TOS": (IP, sock.IP_TOS), "IP_MTU_DISCOVER": (IP, _num(sock, "IP_MTU_DISCOVER", 10)),
        "IPV6_TCLASS": (IP6, _num(sock, "IPV6_TCLASS", 67)),
        "TCP_CONGESTION": (T, _num(sock, "TCP_CONGESTION", 13)),
    }


def _set_get(sock, s, name, value):
    level, opt = _opt_table(sock)[name]
    return [name, value, outcome(s.setsockopt, level, opt, value), outcome(s.getsockopt, level, opt)]


def c_opt_defaults(sock, host):
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    try:
        names = ("TCP_NODELAY", "TCP_MAXSEG", "TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT",
                 "TCP_USER_TIMEOUT", "TCP_NOTSENT_LOWAT", "TCP_INQ", "SO_KEEPALIVE", "IP_TOS",
                 "IP_MTU_DISCOVER")
        table = _opt_table(sock)
        return [[n, outcome(s.getsockopt, *table[n])] for n in names]
    finally:
        s.close()


def c_opt_round_trips(sock, host):
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    try:
        return [_set_get(sock, s, n, v) for n, v in (
            ("TCP_NODELAY", 1), ("TCP_NODELAY", 0), ("TCP_MAXSEG", 1200), ("TCP_MAXSEG", 0),
            ("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 4),
            ("TCP_KEEPIDLE", 32767), ("TCP_KEEPCNT", 127), ("TCP_USER_TIMEOUT", 30000),
            ("TCP_NOTSENT_LOWAT", 16384), ("TCP_INQ", 1), ("TCP_INQ", 0), ("SO_KEEPALIVE", 1),
            ("SO_KEEPALIVE", 5), ("IP_TOS", 0x10), ("IP_TOS", 0x13), ("IP_TOS", 0),
            ("IP_MTU_DISCOVER", 2), ("IP_MTU_DISCOVER", 0))]
    finally:
        s.close()


def c_opt_bad_values(sock, host):
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    try:
        out = [_set_get(sock, s, n, v) for n, v in (
            ("TCP_MAXSEG", 10), ("TCP_MAXSEG", 87), ("TCP_MAXSEG", 40000),
            ("TCP_KEEPIDLE", 0), ("TCP_KEEPIDLE", 32768), ("TCP_KEEPINTVL", -1),
            ("TCP_KEEPCNT", 0), ("TCP_KEEPCNT", 128), ("TCP_USER_TIMEOUT", -1),
            ("TCP_INQ", 2), ("TCP_INQ", -1), ("IP_TOS", 256), ("IP_TOS", -1),
            ("IP_MTU_DISCOVER", 6), ("IP_MTU_DISCOVER", -1))]
        out.append(["unknown TCP option", outcome(s.setsockopt, sock.IPPROTO_TCP, 9999, 1),
                    outcome(s.getsockopt, sock.IPPROTO_TCP, 9999)])
        out.append(["unknown level", outcome(s.setsockopt, 99, 1, 1)])
        out.append(["short SO_LINGER", outcome(s.setsockopt, sock.SOL_SOCKET, sock.SO_LINGER,
                                               b"\1\0\0\0")])
        out.append(["unknown congestion control",
                    outcome(s.setsockopt, *_opt_table(sock)["TCP_CONGESTION"], b"nosuch")])
        return out
    finally:
        s.close()


def c_opt_buffer_sizes(sock, host):
    """SO_RCVBUF/SO_SNDBUF as Linux sizes them: doubled, at least 2304 / 4608.
    (Only values under net.core.{r,w}mem_max: above it Linux caps at the
    host's sysctl, synack at its default, 212992.)"""
    out = []
    for name in ("SO_RCVBUF", "SO_SNDBUF"):
        for v in (10000, 100000, 212992, 1, 0):
            s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
            try:
                out.append(_set_get(sock, s, name, v))
            finally:
                s.close()
    return out


def c_opt_ipv6_tclass(sock, host):
    s = sock.socket(sock.AF_INET6, sock.SOCK_STREAM)
    try:
        return [_set_get(sock, s, "IPV6_TCLASS", v) for v in (0x28, 0x2B, -1, 256, -2)]
    finally:
        s.close()


def c_opt_congestion(sock, host):
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    level, opt = _opt_table(sock)["TCP_CONGESTION"]
    try:
        before = s.getsockopt(level, opt, 16)       # the default is the host's choice
        s.setsockopt(level, opt, b"reno")
        return [len(before), before.rstrip(b"\0").isalnum(), outcome(s.getsockopt, level, opt, 16),
                outcome(s.getsockopt, level, opt, 4)]
    finally:
        s.close()


def c_opt_on_connected(sock, host):
    """Options on a live connection."""
    s = _conn(sock, host, ECHO)
    try:
        return [_set_get(sock, s, n, v) for n, v in (
            ("TCP_NODELAY", 1), ("SO_KEEPALIVE", 1), ("TCP_KEEPIDLE", 30),
            ("TCP_USER_TIMEOUT", 5000), ("SO_RCVBUF", 50000), ("SO_SNDBUF", 50000),
            ("TCP_NOTSENT_LOWAT", 4096))] + [
            # the MSS read back is the path's (loopback for the kernel's client)
            outcome(s.setsockopt, sock.IPPROTO_TCP, sock.TCP_MAXSEG, 10),
            s.getsockopt(sock.IPPROTO_TCP, sock.TCP_MAXSEG) > 500]
    finally:
        s.close()


def _tcp_info(sock, s):
    """(state, ca_state, options, snd_wscale>0, rcv_wscale>0, snd_mss>500,
    rto>0) from getsockopt(TCP_INFO)'s first 24 octets."""
    import struct
    raw = s.getsockopt(sock.IPPROTO_TCP, _num(sock, "TCP_INFO", 11), 104)
    state, ca, _rx, _pr, _bo, opts, wscales, _ = struct.unpack_from("8B", raw)
    rto, _ato, snd_mss, _rcv_mss = struct.unpack_from("4I", raw, 8)
    return [len(raw), state, ca, opts, (wscales & 15) > 0, (wscales >> 4) > 0, snd_mss > 500,
            rto > 0]


def c_tcp_info(sock, host):
    fresh = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    s = _conn(sock, host, ECHO)
    try:
        s.sendall(b"ping")
        s.recv(10)
        return [_tcp_info(sock, fresh)[:2], _tcp_info(sock, s)]
    finally:
        fresh.close()
        s.close()


def _ioctl(sock, s, name):
    num = {"SIOCINQ": 0x541B, "SIOCOUTQ": 0x5411, "SIOCOUTQNSD": 0x894B}[name]
    if sock.__name__ == "socket":                     # CPython: on the descriptor
        import fcntl
        import struct
        return struct.unpack("i", fcntl.ioctl(s.fileno(), num, b"\0" * 4))[0]
    return s.ioctl(num)


def c_ioctl_queues(sock, host):
    s = _conn(sock, host, ECHO)
    try:
        s.sendall(b"hello world")
        time.sleep(0.4)                               # the echo is back, our data acked
        out = [_ioctl(sock, s, n) for n in ("SIOCINQ", "SIOCOUTQ", "SIOCOUTQNSD")]
        s.recv(4)
        out.append(_ioctl(sock, s, "SIOCINQ"))
        return out
    finally:
        s.close()


def c_ioctl_listener(sock, host):
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    try:
        s.listen()
        return outcome(_ioctl, sock, s, "SIOCINQ")
    finally:
        s.close()


def c_recvmsg_inq(sock, host):
    import struct
    s = _conn(sock, host, ECHO)
    try:
        s.setsockopt(sock.IPPROTO_TCP, _num(sock, "TCP_INQ", 36), 1)
        s.sendall(b"hello world")
        time.sleep(0.4)
        data, anc, flags, _addr = s.recvmsg(4, 64)
        first = [data.decode(), [(lv, ty, struct.unpack("i", d)[0]) for lv, ty, d in anc], flags]
        data, anc, flags, _addr = s.recvmsg(100)          # no room for the message
        return [first, [data.decode(), anc, flags]]
    finally:
        s.close()


def c_sendmsg(sock, host):
    """sendmsg: several buffers as one write, the address ignored once
    connected, control messages as Linux's tcp_sendmsg takes them (other
    levels ignored, SCM_RIGHTS ignored, SO_PRIORITY with 4 octets taken,
    wrong sizes and unknown SOL_SOCKET types EINVAL), bad arguments TypeError,
    unconnected EPIPE."""
    import struct
    S = sock
    s = _conn(sock, host, ECHO)
    u = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    try:
        out = [outcome(s.sendmsg, [b"ab", b"cd"]),
               outcome(s.sendmsg, [b"e"], [(S.IPPROTO_TCP, 99, b"1234")]),
               outcome(s.sendmsg, [b"f"], [(S.SOL_SOCKET, 1, struct.pack("i", 0))]),
               outcome(s.sendmsg, [b"g"], [(S.SOL_SOCKET, 12, struct.pack("I", 5))]),
               outcome(s.sendmsg, [b"h"], [(S.SOL_SOCKET, 12, bytes(8))]),
               outcome(s.sendmsg, [b"i"], [(S.SOL_SOCKET, 50, b"")]),
               outcome(s.sendmsg, [b"j"], [(S.IPPROTO_TCP, 1, b"1234"), (S.SOL_SOCKET, 50, b"")]),
               outcome(s.sendmsg, []),
               outcome(s.sendmsg, [b"k"], [], 0, (host, CLOSED_PORT)),
               outcome(s.sendmsg, ["str"]),
               outcome(s.sendmsg, [b"l"], [(1, 2)]),
               outcome(u.sendmsg, [b"m"])]
        got = b""
        while len(got) < 8:
            d = s.recv(100)
            if not d:
                break
            got += d
        out.append(got.decode())
        return out
    finally:
        s.close()
        u.close()


# ------------------------------------------- on the wire (issue 13: sendpath)
def _wire(sock, host, steps, before=None):
    """Connect to the WIRE server (after `before(s)`, if any), run
    `steps(s)`, shut down our side and return what the server saw of the
    connection: per data segment or FIN [octets, PSH, FIN, TOS], and the
    SYN's TOS first; before it, what `steps` returned (the unsent octets
    it saw on the way, SIOCOUTQNSD)."""
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    try:
        if before is not None:
            before(s)
        s.settimeout(10)
        s.connect((host, WIRE))
        local = steps(s)
        s.shutdown(sock.SHUT_WR)
        got = bytearray()
        while True:
            d = s.recv(65536)
            if not d:
                break
            got.extend(d)
        return [local, json.loads(got.decode())]
    finally:
        s.close()


def _unsent(sock, s):
    return _ioctl(sock, s, "SIOCOUTQNSD")


def c_wire_cork(sock, host):
    """TCP_CORK: two small writes held, then one segment with PSH when the
    cork comes off; then, corked again, a partial segment goes by itself
    after the probe timer (about 200 ms here), with PSH."""
    T = sock.IPPROTO_TCP

    def steps(s):
        s.setsockopt(T, sock.TCP_CORK, 1)
        s.send(b"a" * 40)
        s.send(b"b" * 40)
        time.sleep(0.1)
        seen = [_unsent(sock, s)]
        s.setsockopt(T, sock.TCP_CORK, 0)
        time.sleep(0.1)
        s.setsockopt(T, sock.TCP_CORK, 1)
        s.send(b"c" * 100)
        time.sleep(0.05)
        seen.append(_unsent(sock, s))
        time.sleep(0.75)
        seen.append(_unsent(sock, s))        # the probe timer has sent it
        s.setsockopt(T, sock.TCP_CORK, 0)
        time.sleep(0.1)
        return seen
    return _wire(sock, host, steps)


def c_wire_cork_nodelay(sock, host):
    """TCP_NODELAY does not open a cork; setting it (again) pushes once."""
    T = sock.IPPROTO_TCP

    def steps(s):
        s.setsockopt(T, sock.TCP_NODELAY, 1)
        s.setsockopt(T, sock.TCP_CORK, 1)
        s.send(b"a" * 40)
        s.send(b"b" * 40)
        time.sleep(0.1)
        seen = _unsent(sock, s)
        s.setsockopt(T, sock.TCP_NODELAY, 1)
        time.sleep(0.1)
        return seen
    return _wire(sock, host, steps)


def c_wire_msg_more(sock, host):
    """MSG_MORE corks one call: held until a send without it (one segment,
    PSH)."""
    more = _num(sock, "MSG_MORE", 0x8000)

    def steps(s):
        s.setsockopt(sock.IPPROTO_TCP, sock.TCP_NODELAY, 1)
        s.send(b"a" * 100, more)
        s.send(b"b" * 60, more)
        time.sleep(0.1)
        seen = _unsent(sock, s)
        s.send(b"c" * 5)
        time.sleep(0.1)
        return seen
    return _wire(sock, host, steps)


def c_wire_msg_more_timer(sock, host):
    """Data MSG_MORE held with nothing in flight goes when the probe timer
    fires, with PSH."""
    more = _num(sock, "MSG_MORE", 0x8000)

    def steps(s):
        s.send(b"a" * 100, more)
        time.sleep(0.05)
        seen = [_unsent(sock, s)]
        time.sleep(0.75)
        return seen + [_unsent(sock, s)]
    return _wire(sock, host, steps)


def c_wire_msg_eor(sock, host):
    """MSG_EOR: under a cork, three writes that would share a segment go as
    three (a record's end is never coalesced with what follows; an skb that
    is not the last is sent past the cork); without MSG_EOR, one."""
    T = sock.IPPROTO_TCP
    eor = _num(sock, "MSG_EOR", 0x80)

    def steps(s):
        s.setsockopt(T, sock.TCP_CORK, 1)
        s.send(b"a" * 300, eor)
        s.send(b"b" * 300, eor)
        s.send(b"c" * 300)
        time.sleep(0.1)
        s.setsockopt(T, sock.TCP_CORK, 0)
        time.sleep(0.1)
        s.setsockopt(T, sock.TCP_CORK, 1)
        s.send(b"d" * 300)
        s.send(b"e" * 300)
        s.send(b"f" * 300)
        time.sleep(0.1)
        s.setsockopt(T, sock.TCP_CORK, 0)
        time.sleep(0.1)
    return _wire(sock, host, steps)


def c_wire_tos(sock, host):
    """IP_TOS on the packets: set before connect (the SYN has it, its ECN
    bits cleared) and changed on the live connection (the next packet)."""
    def before(s):
        s.setsockopt(sock.IPPROTO_IP, sock.IP_TOS, 0x2F)

    def steps(s):
        s.send(b"a" * 10)
        time.sleep(0.1)
        s.setsockopt(sock.IPPROTO_IP, sock.IP_TOS, 0x81)
        s.send(b"b" * 10)
        time.sleep(0.1)
    return [_wire(sock, host, steps, before)]


def c_opt_cork_quickack(sock, host):
    """getsockopt TCP_CORK and TCP_QUICKACK: fresh, set, and across connect
    (Linux: a connection starts out of ping-pong mode, quickack 1)."""
    T = sock.IPPROTO_TCP
    qa = _num(sock, "TCP_QUICKACK", 12)
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    try:
        out = [outcome(s.getsockopt, T, sock.TCP_CORK), outcome(s.getsockopt, T, qa)]
        for opt, v in ((sock.TCP_CORK, 2), (sock.TCP_CORK, -1), (sock.TCP_CORK, 0),
                       (qa, 0), (qa, 2), (qa, -1), (qa, 0)):
            out.append([v, outcome(s.setsockopt, T, opt, v), outcome(s.getsockopt, T, opt)])
        s.settimeout(5)
        s.connect((host, ECHO))
        out.append(outcome(s.getsockopt, T, qa))
        for v in (0, 1, 0, 3):
            out.append([v, outcome(s.setsockopt, T, qa, v), outcome(s.getsockopt, T, qa)])
        return out
    finally:
        s.close()


def c_quickack_after_exchange(sock, host):
    """An interactive exchange puts the connection in ping-pong mode
    (TCP_QUICKACK reads 0); setting TCP_QUICKACK ends it."""
    T = sock.IPPROTO_TCP
    qa = _num(sock, "TCP_QUICKACK", 12)
    s = _conn(sock, host, ECHO)
    try:
        out = [s.getsockopt(T, qa)]
        for _ in range(3):
            s.send(b"ping")
            s.recv(10)
        time.sleep(0.01)
        s.send(b"pong")                  # our data within the ACK timeout of theirs
        s.recv(10)
        out.append(s.getsockopt(T, qa))
        s.setsockopt(T, qa, 1)
        out.append(s.getsockopt(T, qa))
        return out
    finally:
        s.close()


# ------------------------------------------------ TCP Fast Open, client (RFC 7413)
# Each case first gets a cookie for the server address (a connect with
# TCP_FASTOPEN_CONNECT to TFO_ECHO), so it does not depend on the order the
# cases run in. UNROUTABLE never answers: there no cookie is cached and a
# connection stays in SYN-SENT, whatever the timing.
def _tfo_names(sock):
    return _num(sock, "TCP_FASTOPEN_CONNECT", 30), _num(sock, "MSG_FASTOPEN", 0x20000000)


def _tfo_warm(sock, host):
    opt, _ = _tfo_names(sock)
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.setsockopt(sock.IPPROTO_TCP, opt, 1)
        s.connect((host, TFO_ECHO))
        s.sendall(b"warm")
        got = b""
        while len(got) < 4:
            d = s.recv(16)
            if not d:
                break
            got += d
        return got.decode("latin-1")
    finally:
        s.close()


def c_tfo_option_values(sock, host):
    opt, _ = _tfo_names(sock)
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    try:
        return [outcome(s.getsockopt, sock.IPPROTO_TCP, opt),
                outcome(s.setsockopt, sock.IPPROTO_TCP, opt, 1),
                outcome(s.getsockopt, sock.IPPROTO_TCP, opt),
                outcome(s.setsockopt, sock.IPPROTO_TCP, opt, 2),
                outcome(s.setsockopt, sock.IPPROTO_TCP, opt, -1),
                outcome(s.setsockopt, sock.IPPROTO_TCP, opt, 0),
                outcome(s.getsockopt, sock.IPPROTO_TCP, opt)]
    finally:
        s.close()


def c_tfo_option_when_connected_or_listening(sock, host):
    opt, _ = _tfo_names(sock)
    s = _conn(sock, host, ECHO)
    ls = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    try:
        ls.bind(("", 0))
        ls.listen(1)
        return [outcome(s.setsockopt, sock.IPPROTO_TCP, opt, 1),
                outcome(ls.setsockopt, sock.IPPROTO_TCP, opt, 1)]
    finally:
        s.close()
        ls.close()


def c_tfo_deferred_connect(sock, host):
    """With a cookie cached, connect() returns at once and the data goes on
    the SYN of the first send; a second connect() is EISCONN."""
    opt, _ = _tfo_names(sock)
    warm = _tfo_warm(sock, host)
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.setsockopt(sock.IPPROTO_TCP, opt, 1)
        out = [warm, outcome(s.connect, (host, TFO_ECHO)),
               outcome(s.getpeername), outcome(s.connect, (host, TFO_ECHO)),
               outcome(s.setsockopt, sock.IPPROTO_TCP, opt, 1),
               outcome(s.send, b"hello")]
        out.append(outcome(s.recv, 16))
        return out
    finally:
        s.close()


def c_tfo_deferred_nonblocking_recv(sock, host):
    """A deferred socket is in SYN-SENT: a non-blocking recv says EAGAIN."""
    opt, _ = _tfo_names(sock)
    warm = _tfo_warm(sock, host)
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    try:
        s.setsockopt(sock.IPPROTO_TCP, opt, 1)
        s.setblocking(False)
        return [warm, outcome(s.connect, (host, TFO_ECHO)), outcome(s.recv, 16)]
    finally:
        s.close()


def c_tfo_sendto_blocking(sock, host):
    """sendto(MSG_FASTOPEN) on an unconnected blocking socket: connects, the
    SYN takes what fits, the rest follows; the whole write is reported."""
    _, flag = _tfo_names(sock)
    warm = _tfo_warm(sock, host)
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    try:
        n = outcome(s.sendto, b"q" * 5000, flag, (host, TFO_ECHO))
        s.settimeout(5)
        got = b""
        while len(got) < 5000:
            d = s.recv(65536)
            if not d:
                break
            got += d
        return [warm, n, len(got)]
    finally:
        s.close()


def c_tfo_sendto_refused(sock, host):
    _, flag = _tfo_names(sock)
    warm = _tfo_warm(sock, host)
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    try:
        return [warm, outcome(s.sendto, b"abc", flag, (host, CLOSED_PORT))]
    finally:
        s.close()


def c_tfo_sendto_no_cookie(sock, host):
    """No cookie for the address: the SYN asks for one and carries no data,
    so a non-blocking sendto(MSG_FASTOPEN) says EINPROGRESS; while the
    handshake runs: EALREADY for MSG_FASTOPEN and connect(), EAGAIN for a
    plain send and recv."""
    _, flag = _tfo_names(sock)
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    s.setblocking(False)
    try:
        return [outcome(s.sendto, b"abc", flag, (UNROUTABLE, ECHO)),
                outcome(s.sendto, b"abc", flag, (UNROUTABLE, ECHO)),
                outcome(s.send, b"abc"), outcome(s.recv, 10),
                outcome(s.connect, (UNROUTABLE, ECHO))]
    finally:
        s.close()


def c_tfo_sendto_no_cookie_timeout(sock, host):
    """The same with a timeout: CPython calls the kernel in non-blocking mode
    and does not wait on EINPROGRESS."""
    _, flag = _tfo_names(sock)
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    s.settimeout(1)
    try:
        return [outcome(s.sendto, b"abc", flag, (UNROUTABLE, ECHO)),
                outcome(s.sendto, b"abc", flag, (UNROUTABLE, ECHO))]
    finally:
        s.close()


def c_tfo_connect_no_cookie(sock, host):
    """TCP_FASTOPEN_CONNECT without a cookie: an ordinary (non-blocking) connect."""
    opt, _ = _tfo_names(sock)
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.setsockopt(sock.IPPROTO_TCP, opt, 1)
        return [outcome(s.connect, (UNROUTABLE, ECHO)), outcome(s.connect, (UNROUTABLE, ECHO)),
                outcome(s.setsockopt, sock.IPPROTO_TCP, opt, 0)]
    finally:
        s.close()


def c_tfo_flag_when_connected(sock, host):
    """MSG_FASTOPEN once connected, as Linux's repeated connect: after a
    connect with a timeout (CPython's non-blocking connect: the kernel still
    says "connecting") the first one is a plain send, the next EISCONN."""
    _, flag = _tfo_names(sock)
    s = _conn(sock, host, ECHO)
    try:
        return [outcome(s.sendto, b"abc", flag, (host, ECHO)), outcome(s.recv, 10),
                outcome(s.sendto, b"abc", flag, (host, ECHO))]
    finally:
        s.close()


def c_tfo_flag_after_blocking_connect(sock, host):
    """A blocking connect() leaves the socket connected: MSG_FASTOPEN is EISCONN."""
    _, flag = _tfo_names(sock)
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    try:
        s.connect((host, ECHO))
        return [outcome(s.sendto, b"abc", flag, (host, ECHO)), outcome(s.send, b"d")]
    finally:
        s.close()


CASES = {name[2:]: fn for name, fn in sorted(globals().items()) if name.startswith("c_")}


# ----------------------------------------------------------------- servers
def serve(host: str) -> None:
    import socket
    import struct

    def listener(port):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        s.listen(64)
        return s

    def echo_conn(c):
        with c:
            while True:
                try:
                    d = c.recv(65536)
                except OSError:
                    return
                if not d:
                    return
                c.sendall(d)

    def loop(port, handle):
        s = listener(port)
        while True:
            c, _ = s.accept()
            threading.Thread(target=handle, args=(c,), daemon=True).start()

    def reset(c):
        time.sleep(0.2)                      # after the client's connect() has returned
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()

    def silent(c):
        time.sleep(30)
        c.close()

    seen = _capture(WIRE)

    def wire(c):
        with c:
            peer = c.getpeername()
            while True:
                try:
                    if not c.recv(65536):
                        break
                except OSError:
                    return
            time.sleep(0.1)                  # the capture thread catches up
            c.sendall(json.dumps(seen.pop((peer[0], peer[1]), [])).encode())

    def tfo_listener(port):
        s = listener(port)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 16)
        return s

    def tfo_loop(port, handle):
        s = tfo_listener(port)
        while True:
            c, _ = s.accept()
            threading.Thread(target=handle, args=(c,), daemon=True).start()

    # the server bit (0x2) besides the client's (0x1), in this namespace only
    # (net.ipv4.tcp_fastopen is per network namespace; it goes with it)
    with open("/proc/sys/net/ipv4/tcp_fastopen", "w") as f:
        f.write("3")
    for port, h in ((ECHO, echo_conn), (RESET, reset), (CLOSE, lambda c: c.close()),
                    (SILENT, silent), (WIRE, wire)):
        threading.Thread(target=loop, args=(port, h), daemon=True).start()
    threading.Thread(target=tfo_loop, args=(TFO_ECHO, echo_conn), daemon=True).start()
    print("ready", flush=True)
    sys.stdin.read()                          # until the test closes our stdin


def _capture(port: int) -> dict:
    """Record the TCP packets to `port` that this host receives on any
    interface (AF_PACKET, network layer: the loopback of the kernel's own
    client and the TUN device of synack's alike): per (source, source port)
    the SYN's TOS and then [octets, PSH, FIN, TOS] of each segment carrying
    data or a FIN, in order, retransmissions included."""
    import socket
    import struct
    seen: dict = {}
    raw = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))

    def loop():
        while True:
            pkt, addr = raw.recvfrom(65536)
            if addr[2] == socket.PACKET_OUTGOING or len(pkt) < 40 or pkt[9] != 6:
                continue
            ihl = (pkt[0] & 15) * 4
            total = struct.unpack_from("!H", pkt, 2)[0]
            sport, dport = struct.unpack_from("!HH", pkt, ihl)
            if dport != port:
                continue
            flags = pkt[ihl + 13]
            doff = (pkt[ihl + 12] >> 4) * 4
            n = total - ihl - doff
            key = (socket.inet_ntoa(pkt[12:16]), sport)
            if flags & 0x02:
                seen[key] = [["SYN", pkt[1]]]
            elif n > 0 or flags & 0x01:
                seen.setdefault(key, []).append([n, bool(flags & 0x08), bool(flags & 0x01),
                                                 pkt[1]])
    threading.Thread(target=loop, daemon=True).start()
    return seen


def run_all(sock, host) -> dict:
    return {name: outcome(fn, sock, host) if False else _safe(fn, sock, host)
            for name, fn in CASES.items()}


def _safe(fn, sock, host):
    try:
        return fn(sock, host)
    except BaseException as e:               # noqa: BLE001 - set-up failed: that is a result too
        return ["setup-failed", type(e).__name__, getattr(e, "errno", None)]


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2])
    else:
        import socket
        print(json.dumps(run_all(socket, sys.argv[2])))
