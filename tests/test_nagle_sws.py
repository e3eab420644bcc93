"""Sending small segments: Nagle (RFC 896, RFC 9293 §3.7.4, MUST-17),
silly-window avoidance on both sides (MUST-38, MUST-39), PSH placement
(MUST-61), the MSS a user sets (TCP_MAXSEG), and the user calls around them
(push, set_rcvbuf, shutdown after a reset).
"""
import errno

import pytest

from harness import (ACK, FIN, LOCAL_SEQ, PEER_SYN, PEER_SYN_ACK, PSH, REMOTE_SEQ, RST, WINDOW,
                     Options, Tcp, data_sent, established_client, peer_ack)


sent = data_sent                  # (offset, length, PSH) of each data segment
ack = peer_ack
conn = established_client


# ------------------------------------------------------------------ Nagle
def test_nagle_holds_a_small_segment_while_data_is_unacknowledged():
    """RFC 9293 §3.7.4: with data in flight, a partial segment waits for the
    ACK."""
    t = conn()
    t.write(b"a")
    assert sent(t.take()) == [(0, 1, True)]
    t.write(b"b")
    t.expect_nothing()
    assert sent(t.send(**ack(1))) == [(1, 1, True)]


def test_nodelay_sends_small_segments_at_once():
    """MUST-17: the application can switch Nagle off (TCP_NODELAY)."""
    t = conn(nagle=False)
    t.write(b"a")
    t.write(b"b")
    assert sent(t.take()) == [(0, 1, True), (1, 1, True)]


def test_push_sends_what_nagle_holds():
    """Connection.push(): the held partial segment goes now (what a switch to
    TCP_NODELAY does on Linux)."""
    t = conn()
    t.write(b"a")
    t.write(b"bc")
    assert sent(t.take()) == [(0, 1, True)]
    t.conn.push(t.now)
    assert sent(t.take()) == [(1, 2, True)]
    assert not t.conn.nodelay                     # push is one pass, not a mode


def test_fin_pushes_held_data():
    """A queued FIN does not wait behind Nagle: the last data goes with it."""
    t = conn()
    t.write(b"a")
    t.write(b"bc")
    t.take()
    t.shutdown("wr")
    [seg] = t.take()
    assert seg.payload == b"bc" and seg.flags & FIN


# ------------------------------------------------------------------ SWS
def test_sender_sws_waits_for_a_useful_window():
    """MUST-38 (RFC 9293 §3.8.6.2.1): a window-limited partial segment waits
    unless it is at least half the largest window the peer offered."""
    t = conn(window=4000)
    t.write(bytes(6000))
    assert sum(n for _, n, _ in sent(t.take())) == 4000
    # the peer acknowledges 100 octets: a 100-octet window opening is silly
    assert sent(t.send(**ack(100, window=3900))) == []
    # 2000 octets (half the largest window) may go
    assert sent(t.send(**ack(2000, window=4000))) == [(4000, 1000, False), (5000, 1000, True)]


def test_receiver_sws_no_small_window_increases():
    """MUST-39 (RFC 9293 §3.8.6.2.2): the offered window opens only in steps
    of min(buffer / 2, MSS)."""
    t = Tcp.established()
    t.send(flags=ACK | PSH, seq=REMOTE_SEQ, ack=LOCAL_SEQ, payload=bytes(WINDOW)).ignore()
    t.take()
    t.read(100)
    t.expect_nothing()                            # 100 octets: no update
    t.read(1400)
    [upd] = t.take()
    assert upd.window == 1500


def test_window_update_check_caps_free_space_at_the_field():
    """The window field says at most 65535 << Rcv.Wind.Shift (RFC 7323 §2.3):
    with an unscaled window already at 65535, reading from a bigger buffer is
    no reason for an update (as Linux: no spurious ACK)."""
    t = Tcp.established(rcvbuf=131072)
    t.send(flags=ACK | PSH, seq=REMOTE_SEQ, ack=LOCAL_SEQ, payload=bytes(1000)).ignore()
    t.take()
    t.read(1000)
    t.expect_nothing()


def test_set_rcvbuf_growth_sends_a_window_update():
    """A receive buffer that grows (SO_RCVBUF) opens the window: an update at
    once; a shrinking one sends nothing and never shrinks the offered edge."""
    t = Tcp.established()
    t.conn.set_rcvbuf(t.now, 2048)
    t.expect_nothing()
    t.conn.set_rcvbuf(t.now, 16384)
    [upd] = t.take()
    assert upd.flags == ACK and upd.window == 16384


# ------------------------------------------------------------------ PSH
def test_psh_on_the_last_segment_of_each_write():
    """MUST-61 (RFC 9293 §3.9.1.2): PSH on the segment that carries the last
    octet of a SEND; the segments inside a long write carry none."""
    t = conn(nagle=False)
    t.write(bytes(2500))
    t.write(bytes(500))
    assert sent(t.take()) == [(0, 1000, False), (1000, 1000, False), (2000, 500, True),
                              (2500, 500, True)]
    # with Nagle the 500-octet tail waits; the second write completes it to a
    # full segment, which holds the end of both writes and carries PSH
    t = conn()
    t.write(bytes(2500))
    assert sent(t.take()) == [(0, 1000, False), (1000, 1000, False)]
    t.write(bytes(500))
    assert sent(t.take()) == [(2000, 1000, True)]


def test_psh_linux_pairs():
    """The `linux` PSH policy: also the last segment of every two-segment unit
    of a burst (Linux's smallest TSO/GSO unit, as the shared packetdrill
    scripts expect: limited-transmit, slow-start, https_client)."""
    t = conn(psh="linux")
    t.write(bytes(5000))
    assert [p for _, _, p in sent(t.take())] == [False, True, False, True, True]


def test_retransmission_keeps_no_push_inside_a_write():
    """A retransmitted segment from inside a write carries no PSH (Linux's
    retransmission in fr-4pkt.pkt is `. 1:1461`)."""
    t = conn()
    t.write(bytes(4000))
    t.take()
    t.send(**ack(0))
    t.send(**ack(0))
    [rtx] = t.send(**ack(0))                      # the third duplicate ACK
    assert rtx.seq == LOCAL_SEQ and len(rtx.payload) == 1000 and not rtx.flags & PSH


# ------------------------------------------------------------------ MSS
@pytest.mark.parametrize("user, peer, ts, expect", [
    (1100, 1460, False, 1100),     # TCP_MAXSEG below the peer's MSS caps it
    (1100, 1000, False, 1000),     # the peer's smaller MSS still rules (MUST-16)
    (1100, 1460, True, 1088),      # timestamps take their 12 octets off the cap
    (None, 1460, False, 1460),
])
def test_tcp_maxseg_caps_the_send_mss(user, peer, ts, expect):
    """RFC 9293 §3.7.1 (MUST-16): send MSS = min(peer's MSS, what the path
    allows) - options; a user MSS (TCP_MAXSEG, Config.mss) is announced and
    caps it too, as Linux's user_mss does."""
    t = Tcp.syn_sent(mss=user, timestamps=ts)
    opts = Options(mss=peer, timestamp=(1, 0) if ts else None)
    t.send(PEER_SYN_ACK._replace(options=opts)).ignore()
    assert t.conn.snd_mss == expect
    if user is not None:
        assert t.conn.rcv_mss == user


def test_tcp_maxseg_on_a_listener_applies_to_children():
    t = Tcp.listen(mss=1100)
    [synack] = t.send(PEER_SYN._replace(options=Options(mss=1300)))
    assert synack.options.mss == 1100
    assert t.entry.snd_mss == 1100


# ------------------------------------------------------------------ user calls
def test_shutdown_after_reset_is_enotconn_and_queues_nothing():
    """shutdown() on a connection a RST has closed: ENOTCONN (Linux
    inet_shutdown), and no FIN is queued on the dead connection."""
    t = Tcp.established()
    t.send(flags=RST | ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ)
    with pytest.raises(OSError) as e:
        t.shutdown("wr")
    assert e.value.errno == errno.ENOTCONN
    assert not t.conn.fin_queued
    t.expect_nothing()


def test_host_lists_a_half_open_connection_once():
    """Host.connections(): a SYN-RECEIVED child is in the 4-tuple table and in
    its listener's SYN queue, and is listed once."""
    t = Tcp.syn_received()
    conns = t.host.connections()
    assert conns.count(t.conn) == 1
    assert len(conns) == 1


def test_urgent_pending_counts_to_the_mark_from_what_was_read():
    """MUST-33: the application can learn how much urgent data remains to be
    read: from its read position up to the urgent pointer."""
    t = Tcp.established()
    t.send(flags=ACK | PSH | 0x20, seq=REMOTE_SEQ, ack=LOCAL_SEQ, urgent=6, payload=b"abcdefgh").ignore()
    assert t.conn.urgent_pending == 6
    t.read(4)
    assert t.conn.urgent_pending == 2
    t.read(4)
    assert t.conn.urgent_pending == 0
