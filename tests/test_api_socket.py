"""The blocking socket API (synack.api.socket) on the simulator and in real time."""
from __future__ import annotations

import errno
import os
import struct
import threading
import time

import pytest

from synack.api import (Deadlock, RealtimeStack, SimStack, current_stack, set_default_stack,
                        socket, using)
from synack.engine.segment import SYN
from synack.engine.states import CLOSED, ESTABLISHED, FIN_WAIT_2, TIME_WAIT

#: these tests run on simulated or in-memory stacks: no real network socket
#: may be created while they run (tests/sealing.py)
pytestmark = pytest.mark.usefixtures("sealed_network")

A, B = "10.0.0.1", "10.0.0.2"


@pytest.fixture
def sim():
    return SimStack.pair(seed=7, delay=0.005)


@pytest.fixture
def rt():
    a, b = RealtimeStack.pair()
    yield a, b
    a.close()
    b.close()


def served(b, port=7, **opts):
    srv = b.socket()
    for (level, name), value in opts.items():
        srv.setsockopt(level, name, value)
    srv.bind(("", port))
    srv.listen()
    return srv


def connected(a, b, port=7):
    """(client, server-side socket, listening socket) after a handshake."""
    srv = served(b, port)
    c = a.socket()
    c.connect((B, port))
    s, _ = srv.accept()
    return c, s, srv


def drop_from(net, src, flags=None):
    """Drop every segment sent by `src` (optionally only those with `flags`)."""
    return net.drop(lambda p: p.src == src and (flags is None or p.flags & flags == flags), count=None)


# ------------------------------------------------------------------- echo
def test_echo_blocking_in_turn_on_the_simulator(sim):
    a, b = sim
    srv = served(b)
    with a.socket() as c:
        c.connect((B, 7))
        s, addr = srv.accept()
        assert addr == c.getsockname()
        with s:
            for msg in (b"hello", b"x" * 5000, b"bye"):
                c.sendall(msg)
                got = b""
                while len(got) < len(msg):
                    got += s.recv(65536)
                s.sendall(got)
                back = b""
                while len(back) < len(msg):
                    back += c.recv(65536)
                assert back == msg
            c.shutdown(socket.SHUT_WR)
            assert s.recv(10) == b""
    srv.close()
    a.run()
    assert a.host.conns == {} and b.host.conns == {}


def test_echo_nonblocking_large_on_the_simulator(sim):
    a, b = sim
    a.net.link(a.sim, b.sim, delay=0.01, loss=0.01)
    data = os.urandom(600_000)
    srv = served(b)
    srv.setblocking(False)
    c = a.socket(type=socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
    assert c.gettimeout() == 0.0 and not c.getblocking()
    with pytest.raises(BlockingIOError):
        c.connect((B, 7))
    s = None
    sent = 0
    echo = bytearray()
    back = bytearray()
    shut = server_done = False
    while True:
        if s is None:
            try:
                s, _ = srv.accept()
                s.setblocking(False)
            except BlockingIOError:
                pass
        if sent < len(data):
            try:
                sent += c.send(data[sent:sent + 100_000])
            except BlockingIOError:
                pass
        elif not shut:
            c.shutdown(socket.SHUT_WR)
            shut = True
        if s is not None and not server_done:
            try:
                d = s.recv(1 << 16)
                if d:
                    echo += d
                else:
                    server_done = True
            except BlockingIOError:
                pass
        while echo:
            try:
                del echo[:s.send(echo[:65536])]
            except BlockingIOError:
                break
        if server_done and not echo and not s._closed:
            s.close()
        try:
            d = c.recv(1 << 16)
            if not d:
                break
            back += d
        except BlockingIOError:
            pass
        a.run_for(0.005)
    assert bytes(back) == data
    c.close()


def test_echo_with_threads_on_the_realtime_pair(rt):
    a, b = rt
    data = os.urandom(1_000_000)
    srv = served(b)
    errors = []

    def server():
        try:
            s, _ = srv.accept()
            with s:
                while True:
                    d = s.recv(65536)
                    if not d:
                        break
                    s.sendall(d)
        except Exception as e:       # pragma: no cover - reported below
            errors.append(e)
    t = threading.Thread(target=server, daemon=True)
    t.start()
    c = a.create_connection((B, 7), timeout=20)
    got = bytearray()

    def reader():
        while True:
            d = c.recv(65536)
            if not d:
                break
            got.extend(d)
    r = threading.Thread(target=reader, daemon=True)
    r.start()
    c.sendall(data)
    c.shutdown(socket.SHUT_WR)
    r.join(30)
    t.join(30)
    c.close()
    assert not errors
    assert bytes(got) == data


def test_ipv6_echo(sim):
    net = sim[0].net
    a = SimStack(net, ("2001:db8::1",))
    b = SimStack(net, ("2001:db8::2",))
    srv = b.socket(socket.AF_INET6)
    srv.bind(("::", 80))
    srv.listen()
    assert srv.getsockname() == ("::", 80, 0, 0)
    c = a.socket(socket.AF_INET6)
    c.connect(("2001:db8::2", 80))
    s, addr = srv.accept()
    assert addr[0] == "2001:db8::1" and len(addr) == 4
    c.sendall(b"six")
    assert s.recv(10) == b"six"
    with pytest.raises(socket.gaierror):
        c2 = a.socket(socket.AF_INET6)
        c2.connect(("10.0.0.2", 80))


# ----------------------------------------------------------------- errors
def test_refused(sim):
    a, b = sim
    c = a.socket()
    with pytest.raises(ConnectionRefusedError) as ei:
        c.connect((B, 9))
    assert ei.value.errno == errno.ECONNREFUSED
    assert a.socket().connect_ex((B, 9)) == errno.ECONNREFUSED
    # Linux lets the same socket try again
    served(b, 9)
    c.connect((B, 9))
    assert c.getpeername() == (B, 9)


def test_reset_by_a_linger_zero_peer(sim):
    a, b = sim
    c, s, _ = connected(a, b)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    with pytest.raises(ConnectionResetError) as ei:
        c.recv(10)
    assert ei.value.errno == errno.ECONNRESET
    # reported once, then the socket reads as closed and writes as a broken pipe
    assert c.recv(10) == b""
    with pytest.raises(BrokenPipeError):
        c.send(b"x")
    assert a.ss() == []


def test_reset_seen_by_send_first(sim):
    a, b = sim
    c, s, _ = connected(a, b)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, (1, 0))
    s.close()
    a.run()
    with pytest.raises(ConnectionResetError):
        c.send(b"data")
    assert c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0


def test_epipe_after_shutdown_wr(sim):
    a, b = sim
    c, s, _ = connected(a, b)
    c.shutdown(socket.SHUT_WR)
    with pytest.raises(BrokenPipeError) as ei:
        c.send(b"late")
    assert ei.value.errno == errno.EPIPE
    assert s.recv(10) == b""
    s.sendall(b"still open the other way")
    assert c.recv(100) == b"still open the other way"


def test_nonblocking_connect_einprogress_ealready_eisconn(sim):
    a, b = sim
    served(b)
    c = a.socket()
    c.setblocking(False)
    with pytest.raises(BlockingIOError) as ei:
        c.connect((B, 7))
    assert ei.value.errno == errno.EINPROGRESS
    with pytest.raises(BlockingIOError) as ei:
        c.connect((B, 7))
    assert ei.value.errno == errno.EALREADY
    assert c.connect_ex((B, 7)) == errno.EALREADY
    with pytest.raises(BlockingIOError):
        c.recv(1)                                   # not connected yet: would block
    with pytest.raises(BlockingIOError):
        c.send(b"x")
    a.wait(lambda: c.connection.state is ESTABLISHED, 5)
    assert c.connect((B, 7)) is None                # once: the connect completed
    with pytest.raises(OSError) as ei:
        c.connect((B, 7))
    assert ei.value.errno == errno.EISCONN
    assert c.connect_ex((B, 7)) == errno.EISCONN


def test_nonblocking_connect_refused_through_so_error(sim):
    a, b = sim
    c = a.socket()
    c.setblocking(False)
    assert c.connect_ex((B, 9)) == errno.EINPROGRESS
    a.run()
    assert c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == errno.ECONNREFUSED
    assert c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0


def test_eisconn(sim):
    a, b = sim
    c, s, srv = connected(a, b)
    with pytest.raises(OSError) as ei:
        c.connect((B, 7))
    assert ei.value.errno == errno.EISCONN
    with pytest.raises(OSError) as ei:
        srv.connect((A, 7))
    assert ei.value.errno == errno.EISCONN


def test_eaddrinuse(sim):
    a, b = sim
    s1 = b.socket()
    s1.bind((B, 80))
    s2 = b.socket()
    with pytest.raises(OSError) as ei:
        s2.bind((B, 80))
    assert ei.value.errno == errno.EADDRINUSE
    with pytest.raises(OSError) as ei:
        s2.bind(("", 80))                          # the wildcard overlaps too
    assert ei.value.errno == errno.EADDRINUSE
    # SO_REUSEADDR on both: binding is fine, but only one may listen
    s1.close()
    r1, r2 = b.socket(), b.socket()
    for s in (r1, r2):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("", 81))
    r1.listen()
    with pytest.raises(OSError) as ei:
        r2.listen()
    assert ei.value.errno == errno.EADDRINUSE
    # a listener takes the port even from SO_REUSEADDR sockets
    r3 = b.socket()
    r3.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    with pytest.raises(OSError) as ei:
        r3.bind(("", 81))
    assert ei.value.errno == errno.EADDRINUSE
    # closing frees it
    s1b = b.socket()
    s1b.bind((B, 80))


def test_eaddrinuse_over_time_wait_unless_reuseaddr(sim):
    a, b = sim
    c, s, srv = connected(a, b, port=80)
    s.close()                                       # server closes first: TIME-WAIT on b
    assert c.recv(1) == b""
    c.close()
    srv.close()
    a.run_for(1)
    assert any(r.state == "TIME-WAIT" for r in b.ss())
    fresh = b.socket()
    with pytest.raises(OSError) as ei:
        fresh.bind(("", 80))
    assert ei.value.errno == errno.EADDRINUSE
    fresh.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    fresh.bind(("", 80))
    fresh.listen()


def test_enotconn(sim):
    a, _ = sim
    s = a.socket()
    for call in (lambda: s.recv(1), s.getpeername, lambda: s.shutdown(socket.SHUT_WR)):
        with pytest.raises(OSError) as ei:
            call()
        assert ei.value.errno == errno.ENOTCONN
    with pytest.raises(BrokenPipeError):       # Linux: send() on an unconnected TCP socket
        s.send(b"x")
    s.bind(("", 5555))
    s.listen()
    with pytest.raises(OSError) as ei:
        s.recv(1)
    assert ei.value.errno == errno.ENOTCONN


def test_einval(sim):
    a, b = sim
    s = a.socket()
    s.bind(("", 5000))
    with pytest.raises(OSError) as ei:
        s.bind(("", 5001))
    assert ei.value.errno == errno.EINVAL
    with pytest.raises(OSError) as ei:
        s.accept()                                  # not listening
    assert ei.value.errno == errno.EINVAL
    c, _, _ = connected(a, b)
    with pytest.raises(OSError) as ei:
        c.listen()
    assert ei.value.errno == errno.EINVAL
    with pytest.raises(OSError) as ei:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 10)
    assert ei.value.errno == errno.EINVAL
    with pytest.raises(OSError) as ei:
        c.shutdown(7)
    assert ei.value.errno == errno.EINVAL
    with pytest.raises(OSError) as ei:
        c.getsockopt(socket.IPPROTO_TCP, 9999)
    assert ei.value.errno == errno.ENOPROTOOPT
    with pytest.raises(OSError) as ei:
        a.socket().bind(("10.9.9.9", 1))
    assert ei.value.errno == errno.EADDRNOTAVAIL
    with pytest.raises(OverflowError):
        a.socket().bind(("", 70000))


def test_closed_socket(sim):
    a, _ = sim
    with a.socket() as s:
        pass
    s.close()                                       # idempotent
    with pytest.raises(OSError) as ei:
        s.recv(1)
    assert ei.value.errno == errno.EBADF
    with pytest.raises(OSError):
        s.getsockname()
    assert "[closed]" in repr(s)


def test_unsupported_types():
    a, _ = SimStack.pair()
    with pytest.raises(OSError):
        socket.socket(socket.AF_INET, 2, stack=a)   # SOCK_DGRAM
    with pytest.raises(OSError):
        socket.socket(1, socket.SOCK_STREAM, stack=a)  # AF_UNIX


# --------------------------------------------------------------- timeouts
def test_recv_timeout_is_virtual(sim):
    a, b = sim
    c, s, _ = connected(a, b)
    c.settimeout(5)
    t0, r0 = a.now(), time.monotonic()
    with pytest.raises(TimeoutError) as ei:
        c.recv(10)
    assert str(ei.value) == "timed out"
    assert a.now() - t0 == pytest.approx(5)
    assert time.monotonic() - r0 < 1
    s.sendall(b"late")
    assert c.recv(10) == b"late"


def test_accept_timeout_and_nonblocking_accept(sim):
    _, b = sim
    srv = served(b)
    srv.settimeout(2.5)
    t0 = b.now()
    with pytest.raises(TimeoutError):
        srv.accept()
    assert b.now() - t0 == pytest.approx(2.5)
    srv.setblocking(False)
    with pytest.raises(BlockingIOError) as ei:
        srv.accept()
    assert ei.value.errno == errno.EAGAIN


def test_connect_timeout_and_syn_retries_exhausted(sim):
    a, b = sim
    served(b)
    drop_from(a.net, A, SYN)                        # every SYN vanishes
    c = a.socket()
    c.settimeout(3)
    t0 = a.now()
    with pytest.raises(TimeoutError) as ei:
        c.connect((B, 7))
    assert ei.value.errno is None and a.now() - t0 == pytest.approx(3)
    c.settimeout(None)                              # the connect is still running: wait it out
    with pytest.raises(TimeoutError) as ei:
        c.connect((B, 7))
    assert ei.value.errno == errno.ETIMEDOUT
    assert a.now() - t0 > 100                       # SYN retransmissions backed off
    d = a.socket()
    assert d.connect_ex((B, 7)) == errno.ETIMEDOUT


def test_sendall_timeout_when_the_peer_does_not_read(sim):
    a, b = sim
    c, s, _ = connected(a, b)
    c.settimeout(10)
    t0 = a.now()
    with pytest.raises(TimeoutError):
        c.sendall(b"x" * 1_000_000)
    assert a.now() - t0 == pytest.approx(10)
    c.settimeout(1)
    with pytest.raises(TimeoutError):               # still no room
        c.send(b"y")
    s.recv(100_000)                                 # the reader makes room ...
    c.settimeout(30)
    assert 0 < c.send(b"y" * 1_000_000) < 1_000_000   # ... and a timed send returns what fit


def test_blocking_wait_with_nothing_to_happen_is_a_deadlock(sim):
    _, b = sim
    srv = served(b)
    with pytest.raises(Deadlock, match="would block forever: nothing is left to happen"):
        srv.accept()


def test_user_timeout_aborts(sim):
    a, b = sim
    c, s, _ = connected(a, b)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, 4000)
    assert c.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 4000
    drop_from(a.net, B)                             # the server goes silent
    t0 = a.now()
    c.sendall(b"anyone there?")
    with pytest.raises(TimeoutError) as ei:
        c.recv(10)
    assert ei.value.errno == errno.ETIMEDOUT
    assert 4 - 1e-6 <= a.now() - t0 < 20


def test_keepalive_detects_a_dead_peer(sim):
    a, b = sim
    c, s, _ = connected(a, b)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 10)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 2)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
    assert c.connection.cfg.keepalive
    drop_from(a.net, B)
    t0 = a.now()
    with pytest.raises(TimeoutError) as ei:
        c.recv(10)
    assert ei.value.errno == errno.ETIMEDOUT
    assert 15 <= a.now() - t0 <= 20


# ---------------------------------------------------------------- options
def test_sockopt_round_trips(sim):
    a, _ = sim
    s = a.socket()
    SOL, TCP = socket.SOL_SOCKET, socket.IPPROTO_TCP
    cases = [
        (SOL, socket.SO_REUSEADDR, 1), (SOL, socket.SO_KEEPALIVE, 1),
        (SOL, socket.SO_RCVBUF, 12345), (SOL, socket.SO_SNDBUF, 23456),
        (TCP, socket.TCP_NODELAY, 1), (TCP, socket.TCP_MAXSEG, 1200),
        (TCP, socket.TCP_USER_TIMEOUT, 30000), (TCP, socket.TCP_KEEPIDLE, 60),
        (TCP, socket.TCP_KEEPINTVL, 5), (TCP, socket.TCP_KEEPCNT, 4),
    ]
    for level, name, value in cases:
        s.setsockopt(level, name, value)
        assert s.getsockopt(level, name) == value, name
        assert s.getsockopt(level, name, 4) == struct.pack("i", value)
    s.setsockopt(SOL, socket.SO_REUSEADDR, struct.pack("i", 0))      # bytes work too
    assert s.getsockopt(SOL, socket.SO_REUSEADDR) == 0
    assert s.getsockopt(SOL, socket.SO_LINGER) == 0
    s.setsockopt(SOL, socket.SO_LINGER, struct.pack("ii", 1, 7))
    assert s.getsockopt(SOL, socket.SO_LINGER, 8) == struct.pack("ii", 1, 7)
    assert s.getsockopt(SOL, socket.SO_LINGER) == 1
    assert s.getsockopt(SOL, socket.SO_TYPE) == socket.SOCK_STREAM
    assert s.getsockopt(TCP, socket.TCP_MAXSEG) == 1200
    assert socket.socket(stack=a).getsockopt(TCP, socket.TCP_MAXSEG) == 536   # Linux's default


def test_options_reach_the_connection_and_accepted_sockets(sim):
    a, b = sim
    srv = b.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8000)       # not doubled
    srv.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    srv.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1000)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, (1, 0))
    srv.bind(("", 7))
    srv.listen(5)
    assert srv.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
    c = a.socket()
    c.connect((B, 7))
    s, _ = srv.accept()
    assert s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) == 8000
    assert s.connection.rcvbuf == 8000
    assert c.connection.snd_wnd <= 8000             # the window it advertised
    assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    assert s.connection.nodelay
    assert c.connection.peer_mss == 1000            # the MSS the server announced
    assert c.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG) == c.connection.snd_mss
    assert s.connection.linger == 0
    c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    assert c.connection.sndbuf == 4096
    assert c.send(b"z" * 10_000) == 10_000         # blocking: all of it, in turns
    s.close()                                       # SO_LINGER 0 inherited: RST
    with pytest.raises(ConnectionResetError):
        c.recv(1)


def test_nodelay_pushes_held_data(sim):
    a, b = sim
    c, s, _ = connected(a, b)
    c.setblocking(False)
    c.send(b"a" * 100)
    c.send(b"b" * 100)                              # Nagle holds this one back
    a.run_for(0.001)
    assert len(c.connection.sndq) == 200 and c.connection.unacked == 100
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    assert c.connection.unacked == 200


def test_linger_close_waits_for_the_fin_to_be_acked(sim):
    a, b = sim
    c, s, _ = connected(a, b)
    a.net.link(a.sim, b.sim, delay=0.5)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 30))
    t0 = a.now()
    c.sendall(b"bye")
    c.close()
    assert c.connection.state is FIN_WAIT_2
    assert a.now() - t0 == pytest.approx(1.0, abs=0.05)


def test_shutdown_rd_on_a_listener_stops_it(sim):
    _, b = sim
    srv = served(b)
    srv.shutdown(socket.SHUT_RD)
    with pytest.raises(OSError) as ei:
        srv.accept()
    assert ei.value.errno == errno.EINVAL


# ------------------------------------------------------------ addressing
def test_names_and_autobind(sim):
    a, b = sim
    s = a.socket()
    assert s.getsockname() == ("0.0.0.0", 0)
    s.listen()
    name = s.getsockname()
    assert name[0] == "0.0.0.0" and 32768 <= name[1] <= 60999
    c = b.socket()
    c.connect(("10.0.0.1", name[1]))               # by address ...
    d = b.socket()
    d.connect(("10.0.0.1", name[1]))
    e = b.socket()
    e.connect((a.host.name, name[1]))               # ... and by host name on the simulator
    with pytest.raises(socket.gaierror):
        b.socket().connect(("no.such.host", 1))
    bound = b.socket()
    bound.bind(("", 40000))
    bound.connect((A, name[1]))
    assert bound.getsockname() == (B, 40000)


def test_peek_waitall_recv_into(sim):
    a, b = sim
    c, s, _ = connected(a, b)
    c.sendall(b"0123456789")
    a.run_for(1)
    assert s.recv(4, socket.MSG_PEEK) == b"0123"
    buf = bytearray(6)
    assert s.recv_into(buf) == 6 and buf == b"012345"
    c.sendall(b"abc")
    assert s.recv(7, socket.MSG_WAITALL) == b"6789abc"
    assert s.recv(0) == b""
    with pytest.raises(BlockingIOError):
        s.recv(1, socket.MSG_DONTWAIT)


def test_makefile_and_helpers(sim):
    a, b = sim
    srv = socket.create_server(("", 25), stack=b)
    assert srv.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 1
    c = socket.create_connection((B, 25), timeout=10, stack=a)
    s, _ = srv.accept()
    w = s.makefile("w")
    w.write("220 hello\r\nsecond line\r\n")
    w.flush()
    r = c.makefile("rb")
    assert r.readline() == b"220 hello\r\n"
    assert r.readline() == b"second line\r\n"
    w.close()
    s.close()                                       # the real close happens now
    assert r.readline() == b""
    r.close()
    c.close()


def test_stack_selection():
    set_default_stack(None)
    with pytest.raises(RuntimeError):
        socket.socket()
    a, b = SimStack.pair()
    with using(b):
        assert current_stack() is b
        assert socket.socket().stack is b
    set_default_stack(a)
    try:
        assert socket.socket().stack is a
        assert socket.getdefaulttimeout() is None
        socket.setdefaulttimeout(3)
        assert socket.socket().gettimeout() == 3
    finally:
        socket.setdefaulttimeout(None)
        set_default_stack(None)


# ------------------------------------------------------ errors in real time
def test_realtime_errors_and_timeouts(rt):
    a, b = rt
    with pytest.raises(ConnectionRefusedError):
        a.socket().connect((B, 9))
    c, s, _ = connected(a, b)
    c.settimeout(0.2)
    r0 = time.monotonic()
    with pytest.raises(TimeoutError):
        c.recv(1)
    assert 0.15 < time.monotonic() - r0 < 5
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    c.settimeout(5)
    with pytest.raises(ConnectionResetError):
        c.recv(1)
    assert a.ss() == []


def test_realtime_connect_to_self(rt):
    a, _ = rt
    srv = served(a, 99)
    c = a.create_connection((A, 99), timeout=5)
    s, _ = srv.accept()
    c.sendall(b"loop")
    s.settimeout(5)
    assert s.recv(10) == b"loop"
    states = sorted(r.state for r in a.ss())
    assert states == ["ESTAB", "ESTAB", "LISTEN"]
    for x in (c, s, srv):
        x.close()


def test_realtime_close_wakes_nothing_left_behind(rt):
    a, b = rt
    c, s, srv = connected(a, b)
    c.close()
    s.settimeout(5)
    assert s.recv(1) == b""
    s.close()
    srv.close()
    deadline = time.monotonic() + 5
    while a.ss() and a.ss()[0].state != "TIME-WAIT" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [r.tcp_state for r in a.ss()] == [TIME_WAIT]
    assert b.ss() == []
    assert c.connection.state in (TIME_WAIT, CLOSED)


class SeqpacketDevice:
    """A stand-in for a plain-mode TUN device: one packet per message."""

    def __init__(self, sock):
        self.sock = sock
        sock.setblocking(False)

    def fileno(self):
        return self.sock.fileno()

    def read_packets(self, max=64):
        out = []
        try:
            while len(out) < max:
                out.append(self.sock.recv(70000))
        except BlockingIOError:
            pass
        return out

    def write_packet(self, frame):
        return self.sock.send(frame)


def test_realtime_stacks_over_a_packet_device():
    import socket as kernel
    from synack.api import DevicePacketIO
    ka, kb = kernel.socketpair(kernel.AF_UNIX, kernel.SOCK_SEQPACKET)
    a = RealtimeStack(DevicePacketIO(SeqpacketDevice(ka)), [A])
    b = RealtimeStack(DevicePacketIO(SeqpacketDevice(kb)), [B])
    try:
        srv = served(b)
        c = a.create_connection((B, 7), timeout=5)
        s, _ = srv.accept()
        data = os.urandom(200_000)
        t = threading.Thread(target=lambda: c.sendall(data), daemon=True)
        t.start()
        s.settimeout(10)
        got = bytearray()
        while len(got) < len(data):
            got += s.recv(65536)
        t.join(10)
        assert bytes(got) == data
    finally:
        a.close()
        b.close()
        ka.close()
        kb.close()


def test_notsent_lowat_option_as_linux_reports_it():
    """TCP_NOTSENT_LOWAT reads 0 until set, then what was set, as on the real
    Linux socket (checked here against one: no traffic, no interface)."""
    import socket as real

    from sealing import real_network_allowed
    with real_network_allowed():            # the kernel's socket is the reference
        r = real.socket(real.AF_INET, real.SOCK_STREAM)
    try:
        linux_default = r.getsockopt(real.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT)
        r.setsockopt(real.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, 4000)
        linux_set = r.getsockopt(real.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT)
    finally:
        r.close()
    a, _ = SimStack.pair(seed=7, delay=0.005)
    s = a.socket()
    assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT) == linux_default == 0
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, 4000)
    assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT) == linux_set == 4000


def test_notsent_lowat_limits_unsent_data(sim):
    a, b = sim
    c, s, _ = connected(a, b)
    c.setblocking(False)
    mss = c.connection.snd_mss
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, 2 * mss)
    n = c.send(b"x" * 100_000)
    conn = c.connection
    unsent = len(conn.sndq) - ((conn.snd_nxt - conn.sndq_seq) & 0xFFFFFFFF)
    assert n < 100_000 and 2 * mss <= unsent < 3 * mss       # stopped at the mark
    with pytest.raises(BlockingIOError):
        c.send(b"y")
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, 0)     # no mark
    assert c.send(b"z" * 10_000) == 10_000
