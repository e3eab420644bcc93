"""The send path's socket options in the engine (issue 13): TCP_CORK
(Connection.set_cork), MSG_MORE and MSG_EOR (Connection.send's `more` and
`eor`), TCP_QUICKACK (Connection.set_quickack) and IP_TOS / IPV6_TCLASS
(Config.tos, on the packets of the simulator's pcap and the API's stacks).

Linux is the reference for all of them (RFC 9293 leaves the holding back of
data to the implementation, §3.7.4, and PSH to the caller, §3.9.1.2,
MUST-61); what Linux does was checked on the kernel by
tests/test_socket_differential.py (the wire_* and quickack cases), which
runs the same programs on synack over TUN. Here: the engine's rules one by
one, in virtual time.
"""
import struct

import pytest

from harness import ACK, FIN, LOCAL_SEQ, PSH, REMOTE_SEQ, Tcp, data_sent, established_client, peer_ack
from synack.engine.config import Config
from synack.engine.segment import Segment
from synack.wire import decode_ip, encode_ip


sent = data_sent                  # (offset, length, PSH) of each data segment
ack = peer_ack
conn = established_client


def write(t: Tcp, data: bytes, more: bool = False, eor: bool = False) -> int:
    return t.conn.send(t.now, data, push=not more, more=more, eor=eor)


# ------------------------------------------------------------------ TCP_CORK
def test_cork_sends_only_full_segments_until_uncorked():
    t = conn()
    t.conn.set_cork(t.now, True)
    write(t, b"a" * 40)
    write(t, b"b" * 40)
    t.expect_nothing()                           # nothing in flight, still held
    write(t, b"c" * 960)
    assert [n for _, n, _ in sent(t.take())] == [1000]
    assert sent(t.send(**ack(1000))) == []       # the 40 stay corked
    t.conn.set_cork(t.now, False)
    assert sent(t.take()) == [(1000, 40, True)]


def test_corked_partial_segment_goes_when_the_probe_timer_fires():
    """Linux (tcp_check_probe_timer, tcp_write_wakeup): with nothing in
    flight, the held data goes at max(RTO, rto_min), with PSH; on the kernel
    about 200 ms after the write (the differential's wire_cork)."""
    t = conn()
    c = t.conn
    c.set_cork(t.now, True)
    write(t, b"x" * 100, more=True)              # no push mark of its own
    t.expect_nothing()
    due = t.now + max(c.rtt.current(), c.cfg.rto_min)
    assert t.next_deadline() == pytest.approx(due)
    assert sent(t.advance_to(due - 0.001)) == []
    assert sent(t.advance_to(due)) == [(0, 100, True)]


def test_cork_does_not_hold_the_fin():
    t = conn()
    t.conn.set_cork(t.now, True)
    write(t, b"x" * 100)
    t.expect_nothing()
    t.close()
    got = t.take()
    assert sent(got) == [(0, 100, True)] and got[-1].flags & FIN


def test_nodelay_pushes_through_the_cork_once():
    """Linux: TCP_NODELAY on sets TCP_NAGLE_PUSH, which passes the cork for
    one push; the cork stays (the differential's wire_cork_nodelay)."""
    t = conn()
    c = t.conn
    c.nodelay = True
    c.set_cork(t.now, True)
    write(t, b"a" * 40)
    t.expect_nothing()                           # TCP_NODELAY does not open a cork
    c.push(t.now)
    assert sent(t.take()) == [(0, 40, True)]
    t.send(**ack(40)).ignore()
    write(t, b"b" * 40)
    t.expect_nothing()
    assert c.cork == 1                           # CORK_SOCKET


def test_uncork_without_nodelay_is_under_nagle():
    t = conn()
    c = t.conn
    write(t, b"a" * 10)
    assert sent(t.take()) == [(0, 10, True)]     # in flight
    c.set_cork(t.now, True)
    write(t, b"b" * 10)
    c.set_cork(t.now, False)
    t.expect_nothing()                           # Nagle: a small segment is in flight
    assert sent(t.send(**ack(10))) == [(10, 10, True)]


# ------------------------------------------------------------------ MSG_MORE
def test_msg_more_holds_until_a_send_without_it():
    t = conn()
    t.conn.nodelay = True
    write(t, b"a" * 100, more=True)
    write(t, b"b" * 60, more=True)
    t.expect_nothing()
    write(t, b"c" * 5)
    assert sent(t.take()) == [(0, 165, True)]


def test_msg_more_sends_full_segments_and_holds_the_rest_without_psh():
    """sendmsg_msg_more.pkt: 3100 octets with MSG_MORE, MSS 1000: three full
    segments without PSH, 100 held; an ACK is the next chance to send, and
    the held data then goes (TCP_NODELAY), still without PSH."""
    t = conn()
    t.conn.nodelay = True
    write(t, b"x" * 3100, more=True)
    assert sent(t.take()) == [(0, 1000, False), (1000, 1000, False), (2000, 1000, False)]
    assert sent(t.send(**ack(1000))) == [(3000, 100, False)]


def test_a_delayed_ack_timer_does_not_release_msg_more_data():
    """Linux's delayed-ACK timer sends an ACK, nothing else; the data MSG_MORE
    held waits for the probe timer (or an arriving segment)."""
    t = conn(delayed_ack=True, quickack=True)
    c = t.conn
    c.nodelay = True
    c.set_quickack(t.now, 0)                     # ping-pong: the ACK below is delayed
    assert t.send(flags=ACK | PSH, seq=REMOTE_SEQ, ack=LOCAL_SEQ, payload=b"q" * 10) == []
    write(t, b"m" * 100, more=True)
    t.expect_nothing()
    delack, probe = c.t_delack, c.t_persist
    assert delack is not None and probe is not None and delack < probe
    got = t.advance_to(delack)
    assert [(s.flags, len(s.payload)) for s in got] == [(ACK, 0)]
    assert sent(t.advance_to(probe)) == [(0, 100, True)]


def test_an_arriving_segment_releases_msg_more_data():
    t = conn()
    c = t.conn
    c.nodelay = True
    write(t, b"m" * 100, more=True)
    t.expect_nothing()
    assert sent(t.send(**ack(0))) == [(0, 100, False)]


# ------------------------------------------------------------------- MSG_EOR
def test_eor_keeps_records_apart_where_nagle_would_join_them():
    t = conn()
    write(t, b"a" * 300, eor=True)
    assert sent(t.take()) == [(0, 300, True)]
    write(t, b"b" * 300, eor=True)
    t.expect_nothing()                           # Nagle: the first is in flight
    write(t, b"c" * 300)
    # the second record is no longer the queue's last skb: Linux sends it
    assert sent(t.take()) == [(300, 300, True)]
    assert sent(t.send(**ack(600))) == [(600, 300, True)]


def test_without_eor_the_same_writes_share_a_segment():
    t = conn()
    write(t, b"a" * 300)
    assert sent(t.take()) == [(0, 300, True)]
    write(t, b"b" * 300)
    write(t, b"c" * 300)
    t.expect_nothing()
    assert sent(t.send(**ack(300))) == [(300, 600, True)]


@pytest.mark.parametrize("eor, first", [(True, 300), (False, 900)])
def test_a_retransmission_does_not_merge_across_a_record_end(eor, first):
    """Linux retransmits skbs and joins them only where they may be
    (tcp_retrans_try_collapse: not across an EOR mark); synack's
    retransmission of the head stops at a record end."""
    t = conn()
    t.conn.nodelay = True
    for part in (b"a" * 300, b"b" * 300, b"c" * 300):
        write(t, part, eor=eor)
    assert [n for _, n, _ in sent(t.take())] == [300, 300, 300]
    rto = t.conn.t_rexmt
    got = sent(t.advance_to(rto))
    assert got[0][:2] == (0, first)


def test_eor_mark_needs_the_whole_write():
    """Linux marks the record end only once all of the call's data is
    queued; a write cut short by the send buffer marks nothing."""
    t = conn(sndbuf=500)
    c = t.conn
    assert write(t, b"a" * 800, eor=True) == 500
    assert not c.eor_seqs
    t.take()


# -------------------------------------------------------------- TCP_QUICKACK
def test_quickack_reads_one_until_ping_pong():
    t = conn(delayed_ack=True, quickack=True)
    c = t.conn
    assert c.quickack_on == 1
    c.set_quickack(t.now, 0)
    assert c.quickack_on == 0
    c.set_quickack(t.now, 2)                     # any nonzero value: out of ping-pong
    assert c.quickack_on == 1


def test_quickack_sends_the_pending_ack_once_the_data_is_read():
    """Linux's __tcp_sock_set_quickack: with an ACK scheduled, it goes at
    once if nothing is left unread (tcp_cleanup_rbuf)."""
    t = conn(delayed_ack=True, quickack=True)
    c = t.conn
    c.set_quickack(t.now, 0)                     # ping-pong: ACKs are delayed
    assert t.send(flags=ACK | PSH, seq=REMOTE_SEQ, ack=LOCAL_SEQ, payload=b"q" * 100) == []
    c.set_quickack(t.now, 1)
    t.expect_nothing()                           # still unread: no ACK yet
    assert t.read() == b"q" * 100
    t.take()                                     # (a window update, if any)
    c.set_quickack(t.now, 0)
    c.set_quickack(t.now, 1)
    got = t.take()
    assert [(s.flags, s.ack) for s in got] == [(ACK, REMOTE_SEQ + 100)]
    assert c.t_delack is None


# -------------------------------------------------------------------- IP_TOS
def test_config_tos_is_checked():
    with pytest.raises((TypeError, ValueError)):
        Config(tos=256)
    assert Config(tos=0x2C).tos == 0x2C


@pytest.mark.parametrize("src, dst", [("192.0.2.1", "192.0.2.2"), ("2001:db8::1", "2001:db8::2")])
def test_encode_ip_puts_the_tos_on_the_header(src, dst):
    seg = Segment(src_port=1, dst_port=2, seq=5, ack=0, flags=ACK, window=100)
    raw = encode_ip(src, dst, seg, tos=0xB8)
    if ":" in src:
        assert (struct.unpack_from("!I", raw)[0] >> 20) & 0xFF == 0xB8
    else:
        assert raw[1] == 0xB8
    decode_ip(raw)                               # the header checksum holds


def test_host_tos_of_finds_the_connection_and_the_listener():
    t = conn(tos=0x48)
    h = t.host
    assert h.tos_used is True
    assert h.tos_of(*t.key) == 0x48
    assert h.tos_of(t.key[0], 9999, t.key[2], 1) == 0     # no such connection
    h.listen(t.now, 8080, config=t.config.replace(tos=0x20))
    assert h.tos_of(t.key[0], 8080, "198.51.100.9", 4444) == 0x20


def test_sim_pcap_carries_the_sockets_tos(tmp_path):
    """IP_TOS through the socket API on the simulator: the client's packets
    carry 0x2C (0x2F with the ECN bits cleared), the listener's SYN,ACK and
    its accepted socket's packets 0x48 (inherited), as on the kernel."""
    from synack.api import SimStack, socket
    from synack.pcap import PcapWriter, read_pcap
    a, b = SimStack.pair(seed=3, delay=0.001)
    path = tmp_path / "tos.pcap"
    a.net.pcap = PcapWriter(str(path))
    srv = b.socket()
    srv.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0x49)
    srv.bind(("", 7))
    srv.listen()
    c = a.socket()
    c.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0x2F)
    assert c.getsockopt(socket.IPPROTO_IP, socket.IP_TOS) == 0x2C
    c.connect(("10.0.0.2", 7))
    s, _ = srv.accept()
    assert s.getsockopt(socket.IPPROTO_IP, socket.IP_TOS) == 0x48
    c.sendall(b"hello")
    assert s.recv(10) == b"hello"
    c.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0x80)
    c.sendall(b"again")
    assert s.recv(10) == b"again"
    writer, a.net.pcap = a.net.pcap, None
    writer.close()
    by_src: dict[str, list[int]] = {}
    for _t, raw in read_pcap(str(path)):
        src = ".".join(str(x) for x in raw[12:16])
        by_src.setdefault(src, []).append(raw[1])
    client, server = by_src["10.0.0.1"], by_src["10.0.0.2"]
    assert set(server) == {0x48}
    assert client[0] == 0x2C and client[-1] == 0x80 and set(client) == {0x2C, 0x80}


def test_api_sendmsg_is_one_write_with_the_flags():
    """sendmsg on the simulator: the buffers go as one write; with MSG_EOR
    the next write does not share a segment with it (the differential test
    compares the rest with CPython on the kernel); SO_TIMESTAMPING asking
    for transmit timestamps is refused (synack has none), not ignored."""
    import errno
    import struct

    from synack.api import SimStack, socket
    a, b = SimStack.pair(seed=3, delay=0.001)
    srv = b.socket()
    srv.bind(("", 7))
    srv.listen()
    c = a.socket()
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
    c.connect(("10.0.0.2", 7))
    s, _ = srv.accept()
    conn = c.connection
    assert c.sendmsg([b"ab", memoryview(b"cd"), bytearray(b"e")], [], socket.MSG_EOR) == 5
    assert list(conn.eor_seqs) == [(conn.sndq_seq + 5) & 0xFFFFFFFF]
    assert c.sendmsg([b"fg"]) == 2
    got = b""
    while len(got) < 7:
        got += s.recv(10)
    assert got == b"abcdefg"
    with pytest.raises(OSError) as e:
        c.sendmsg([b"x"], [(socket.SOL_SOCKET, 37, struct.pack("I", 2))])
    assert e.value.errno == errno.EOPNOTSUPP
    assert c.sendmsg([b"x"], [(socket.SOL_SOCKET, 37, struct.pack("I", 0))]) == 1
