"""The engine's one surface for TCP_INFO, the ioctl queue sizes and socket
options (synack.engine.info), and the socket API's use of it (issue 11; the
socket features of issue 13). The same calls are checked against the Linux
kernel in tests/test_socket_differential.py (tests/sockdiff.py, the `opt_*`,
`tcp_info`, `ioctl_*` and `recvmsg_inq` cases)."""
from __future__ import annotations

import errno
import struct

import pytest

from synack.api import SimStack, socket
from synack.engine.config import Config, linux_profile
from synack.engine.info import (LINUX_STATE, NotSupported, Queues, SockOpts, inq_hint, queues,
                                tcp_info)
from synack.engine.states import ESTABLISHED, TIME_WAIT
from synack.engine.timewait import TimeWait

pytestmark = pytest.mark.usefixtures("sealed_network")

A, B = "10.0.0.1", "10.0.0.2"
SOL, TCP = socket.SOL_SOCKET, socket.IPPROTO_TCP


def pair(config: Config | None = None, port: int = 7):
    """(stack a, stack b, client socket, accepted socket, listening socket)."""
    a, b = SimStack.pair(seed=3, delay=0.01, config=config)
    srv = b.socket()
    srv.bind(("", port))
    srv.listen()
    c = a.socket()
    c.connect((B, port))
    s, _ = srv.accept()
    return a, b, c, s, srv


def opt(name: str) -> tuple[int, int]:
    return SockOpts.number(name)


# ------------------------------------------------------------------- TCP_INFO
def test_snapshot_of_an_established_connection_reads_the_connection():
    a, _, c, s, _ = pair(linux_profile())
    c.sendall(b"x" * 3000)
    assert s.recv(3000, socket.MSG_WAITALL) == b"x" * 3000
    a.run_for(0.1)                                        # the last ACK is back
    conn = c.connection
    info = tcp_info(a.now(), conn)
    assert info.state == LINUX_STATE[ESTABLISHED] == 1
    assert info.options == 1 | 2 | 4                     # timestamps, SACK, window scale
    assert info.snd_mss == conn.snd_mss and info.advmss == conn.rcv_mss
    assert info.snd_cwnd == conn.cc.cwnd // conn.snd_mss >= 10
    assert info.snd_ssthresh == 0x7FFFFFFF                # no loss yet: "infinite"
    assert info.rtt == round(conn.rtt.srtt * 1e6) and info.rtt >= 20_000   # 2 x 10 ms links
    assert info.rto == round(conn.rtt.current() * 1e6)
    assert info.min_rtt is not None and info.min_rtt <= info.rtt
    assert (info.unacked, info.sacked, info.lost, info.retrans) == (0, 0, 0, 0)
    assert info.ca_state == 0 and info.retransmits == 0 and info.backoff == 0
    assert info.notsent_bytes == 0
    assert info.last_data_sent is not None and info.last_data_sent >= 0
    # the socket clocks are the socket layer's: absent unless given
    assert info.busy_time is None and "tcpi_busy_time" not in info.fields()
    fields = info.fields()
    assert fields["tcpi_snd_mss"] == conn.snd_mss
    assert all(k.startswith("tcpi_") and v is not None for k, v in fields.items())


def test_snapshot_counts_what_is_in_flight_and_unsent():
    a, _, c, _, _ = pair(linux_profile())
    a.net.drop(lambda p: p.src == A, count=None)          # nothing of ours arrives
    c.send(b"y" * 50_000)
    a.run_for(0.001)
    info = tcp_info(a.now(), c.connection)
    q = queues(c.connection)
    mss = c.connection.snd_mss
    in_flight = c.connection.snd_nxt - c.connection.snd_una
    assert info.unacked == -(-in_flight // mss) > 0       # segments
    assert q.outq == 50_000                               # queued, not acknowledged
    assert q.outq_nsd == info.notsent_bytes == 50_000 - in_flight > 0
    a.run_for(5.0)                                        # RTOs fire: backoff, Loss state
    info = tcp_info(a.now(), c.connection)
    assert info.retransmits >= 1 and info.backoff >= 1 and info.ca_state == 4


def test_listener_and_time_wait_have_a_state_only():
    a, b, c, s, srv = pair()
    assert tcp_info(b.now(), srv.listener).fields() == {"tcpi_state": 10}
    c.close()
    s.close()
    a.run_for(1.0)
    tws = [o for o in a.host.connections() if isinstance(o, TimeWait)]
    assert len(tws) == 1 and tws[0].state is TIME_WAIT
    assert tcp_info(a.now(), tws[0]).fields() == {"tcpi_state": 6}


def test_socket_clocks_are_passed_in_and_checked():
    a, _, c, _, _ = pair()
    info = tcp_info(a.now(), c.connection, {"busy_time": 7, "last_data_recv": 3})
    assert (info.busy_time, info.last_data_recv) == (7, 3)
    with pytest.raises(TypeError, match="not socket clocks: rtt"):
        tcp_info(a.now(), c.connection, {"rtt": 1})
    with pytest.raises(TypeError, match="takes a Connection"):
        tcp_info(0.0, object())
    with pytest.raises(dataclasses_frozen_error()):
        info.state = 2                                    # the record is immutable


def dataclasses_frozen_error():
    import dataclasses
    return dataclasses.FrozenInstanceError


# --------------------------------------------------------------------- queues
def test_queues_and_the_inq_hint():
    a, b, c, s, _ = pair()
    c.sendall(b"hello world")
    b.wait(lambda: s.connection.readable == 11, 1.0)
    b.run_for(0.5)                                        # our (delayed) ACK reaches the sender
    assert queues(s.connection) == Queues(11, 0, 0)
    assert inq_hint(s.connection) == 11
    assert queues(c.connection) == Queues(0, 0, 0)       # all acknowledged
    c.shutdown(socket.SHUT_WR)
    assert s.recv(100) == b"hello world"
    assert s.recv(100) == b""                            # the FIN came
    assert inq_hint(s.connection) == 1                   # Linux's tcp_inq_hint at EOF
    assert c.connection.state.name == "FIN_WAIT_1"       # the ACK of our FIN is on its way
    assert queues(c.connection).outq == 1                # the FIN, not yet acknowledged
    a.run_for(0.5)
    assert c.connection.state.name == "FIN_WAIT_2"
    assert queues(c.connection).outq == 0                # the FIN was acknowledged


def test_outq_counts_an_unacknowledged_fin():
    a, _, c, _, _ = pair()
    a.net.drop(lambda p: p.src == A, count=None)
    c.send(b"z" * 100)
    c.shutdown(socket.SHUT_WR)
    a.run_for(0.001)
    assert queues(c.connection) == Queues(0, 101, 0)     # 100 octets and the FIN, all sent


# -------------------------------------------------------------------- options
@pytest.mark.parametrize("name, value, code", [
    ("TCP_MAXSEG", 87, errno.EINVAL), ("TCP_MAXSEG", 32768, errno.EINVAL),
    ("TCP_KEEPIDLE", 0, errno.EINVAL), ("TCP_KEEPIDLE", 32768, errno.EINVAL),
    ("TCP_KEEPINTVL", 0, errno.EINVAL), ("TCP_KEEPCNT", 128, errno.EINVAL),
    ("TCP_USER_TIMEOUT", -1, errno.EINVAL), ("TCP_INQ", 2, errno.EINVAL),
    ("IPV6_TCLASS", 256, errno.EINVAL), ("IPV6_TCLASS", -2, errno.EINVAL),
    ("IP_MTU_DISCOVER", 6, errno.EINVAL), ("IPV6_MTU_DISCOVER", -1, errno.EINVAL),
    ("TCP_CONGESTION", "nosuch", errno.ENOENT),
])
def test_bad_values_raise_linux_errnos(name, value, code):
    o = SockOpts(Config())
    before = o.get(*opt(name), None, Config())
    with pytest.raises(OSError) as ei:
        o.set(0.0, *opt(name), value, None)
    assert ei.value.errno == code
    assert o.get(*opt(name), None, Config()) == before    # nothing changed


def test_unknown_options_and_levels_are_enoprotoopt():
    o = SockOpts(Config())
    for level, number in ((TCP, 9999), (99, 1), (SOL, socket.SO_REUSEADDR)):
        with pytest.raises(OSError) as ei:
            o.set(0.0, level, number, 1, None)
        assert ei.value.errno == errno.ENOPROTOOPT
        with pytest.raises(OSError) as ei:
            o.get(level, number, None, Config())
        assert ei.value.errno == errno.ENOPROTOOPT


def test_values_as_linux_keeps_them():
    o = SockOpts(Config())
    cfg = Config()
    for name, value, back in (("IP_TOS", 0x13, 0x10), ("IP_TOS", 256, 0), ("IP_TOS", -1, 0xFC),
                              ("IPV6_TCLASS", -1, 0), ("TCP_MAXSEG", 0, 536),
                              ("TCP_MAXSEG", 1200, 1200), ("SO_KEEPALIVE", 5, 1),
                              ("TCP_NOTSENT_LOWAT", -1, 0xFFFFFFFF), ("SO_LINGER", (1, -3), (1, 0)),
                              ("TCP_CONGESTION", "reno", "reno")):
        o.set(0.0, *opt(name), value, None)
        assert o.get(*opt(name), None, cfg) == back, name


def test_linux_buffer_sizes_and_the_config_they_make():
    base = linux_profile()
    assert base.linux_sockbuf and not Config().linux_sockbuf
    o = SockOpts(base)
    for name, value, size in (("SO_RCVBUF", 10_000, 20_000), ("SO_RCVBUF", 1, 2304),
                              ("SO_RCVBUF", 1 << 30, 425_984), ("SO_RCVBUF", -5, 425_984),
                              ("SO_SNDBUF", 0, 4608), ("SO_SNDBUF", 50_000, 100_000)):
        o.set(0.0, *opt(name), value, None)
        assert o.get(*opt(name), None, base) == size, (name, value)
    cfg = o.config(base)
    assert (cfg.rcvbuf, cfg.max_rcvbuf, cfg.sndbuf, cfg.sndbuf_auto) == (425_984, 425_984,
                                                                         100_000, False)
    plain = SockOpts(Config(max_rcvbuf=100_000))
    plain.set(0.0, *opt("SO_RCVBUF"), 12_345, None)
    assert plain.get(*opt("SO_RCVBUF"), None, Config()) == 12_345      # as set
    assert plain.config(Config(max_rcvbuf=100_000)).max_rcvbuf == 100_000
    plain.set(0.0, *opt("SO_RCVBUF"), 200_000, None)
    assert plain.config(Config(max_rcvbuf=100_000)).max_rcvbuf == 200_000   # scaled for it


def test_options_reach_a_live_connection():
    a, _, c, _, _ = pair()
    conn = c.connection
    o = SockOpts(a.host.config)
    now = a.now()
    o.set(now, *opt("SO_KEEPALIVE"), 1, conn)
    assert conn.cfg.keepalive and conn.t_keep == pytest.approx(now + conn.cfg.keepalive_idle)
    o.set(now, *opt("TCP_KEEPIDLE"), 10, conn)
    assert conn.t_keep == pytest.approx(now + 10)          # re-armed with the new idle time
    o.set(now, *opt("TCP_USER_TIMEOUT"), 2500, conn)
    assert conn.cfg.user_timeout == 2.5
    o.set(now, *opt("SO_RCVBUF"), 5000, conn)
    o.set(now, *opt("SO_SNDBUF"), 6000, conn)
    assert (conn.rcvbuf, conn.sndbuf, conn.sndbuf_auto) == (5000, 6000, False)
    o.set(now, *opt("TCP_NODELAY"), 1, conn)
    assert conn.nodelay and o.get(*opt("TCP_NODELAY"), conn, a.host.config) == 1
    o.set(now, *opt("SO_LINGER"), (1, 0), conn)
    assert conn.linger == 0
    assert o.get(*opt("TCP_MAXSEG"), conn, a.host.config) == conn.snd_mss
    with pytest.raises(NotSupported, match="connected socket"):
        o.set(now, *opt("TCP_CONGESTION"), "reno", conn)
    # an accepted socket inherits a copy
    child = o.copy()
    child.set(now, *opt("TCP_INQ"), 1, None)
    assert (child.inq, o.inq) == (1, 0) and child.linger == 0


def test_nodelay_pushes_what_nagle_held():
    a, _, c, _, _ = pair()
    conn = c.connection
    c.send(b"a")                                # goes at once (nothing in flight)
    c.send(b"b")                                # Nagle holds it: the first is unacknowledged
    assert conn.snd_nxt - conn.snd_una == 1 and queues(conn).outq_nsd == 1
    c.setsockopt(TCP, socket.TCP_NODELAY, 1)
    assert queues(conn).outq_nsd == 0           # sent on the spot


# ------------------------------------------------------------- the socket API
def test_socket_api_tcp_info_ioctl_and_recvmsg():
    _, b, c, s, srv = pair(linux_profile())
    raw = c.getsockopt(TCP, socket.TCP_INFO, 248)
    assert len(raw) == 248
    rec = c.tcp_info()
    state, ca, _, _, _, options, wscales = struct.unpack_from("7B", raw)
    rto, _, snd_mss = struct.unpack_from("3I", raw, 8)
    assert (state, ca, options, snd_mss, rto) == (rec.state, rec.ca_state, rec.options,
                                                  rec.snd_mss, rec.rto)
    assert wscales == rec.snd_wscale | (rec.rcv_wscale << 4)
    assert struct.unpack_from("I", raw, 80)[0] == rec.snd_cwnd
    assert socket.socket(stack=b).tcp_info().state == 7       # a new socket: TCP_CLOSE
    assert srv.tcp_info().fields() == {"tcpi_state": 10}
    s.setsockopt(TCP, socket.TCP_INQ, 1)
    c.sendall(b"0123456789")
    b.wait(lambda: s.ioctl(socket.SIOCINQ) == 10, 1.0)
    data, anc, flags, addr = s.recvmsg(4, 64)
    assert (data, anc, flags, addr) == (b"0123", [(TCP, socket.TCP_CM_INQ,
                                                   struct.pack("i", 6))], 0, None)
    assert s.recvmsg(2)[1:3] == ([], socket.MSG_CTRUNC)
    b.run_for(0.1)                                        # the ACK reaches the sender
    assert s.ioctl(socket.SIOCINQ) == 4 and c.ioctl(socket.SIOCOUTQ) == 0
    with pytest.raises(OSError) as ei:
        srv.ioctl(socket.SIOCINQ)
    assert ei.value.errno == errno.EINVAL
    with pytest.raises(OSError) as ei:
        c.ioctl(0x1234)
    assert ei.value.errno == errno.ENOTTY


def test_socket_api_sizes_buffers_by_the_profile():
    for config, size in ((linux_profile(), 20_000), (None, 10_000)):
        _, b, _, _, _ = pair(config)
        s = b.socket()
        s.setsockopt(SOL, socket.SO_RCVBUF, 10_000)
        assert s.getsockopt(SOL, socket.SO_RCVBUF) == size


def test_socket_api_corks_and_reports_congestion_as_linux():
    a, _, c, _, _ = pair()
    # TCP_CORK is the connection's (issue 13; it was refused before): any
    # nonzero value reads back 1, as on Linux (tests/sendpath_kernel.py)
    c.setsockopt(TCP, socket.TCP_CORK, 5)
    assert c.getsockopt(TCP, socket.TCP_CORK) == 1 and c.connection.cork == 1
    c.setsockopt(TCP, socket.TCP_CORK, 0)
    assert c.getsockopt(TCP, socket.TCP_CORK) == 0 and c.connection.cork == 0
    assert c.getsockopt(TCP, socket.TCP_CONGESTION, 16) == b"cubic".ljust(16, b"\0")
    with pytest.raises(OSError) as ei:
        c.setsockopt(TCP, socket.TCP_CONGESTION, b"reno")
    assert ei.value.errno == errno.EOPNOTSUPP and "connected socket" in str(ei.value)
    fresh = a.socket()
    fresh.setsockopt(TCP, socket.TCP_CONGESTION, b"reno")
    fresh.connect((B, 7))
    assert type(fresh.connection.cc).__name__.lower().startswith("reno")
