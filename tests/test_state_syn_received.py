"""SYN-RECEIVED (RFC 9293 §3.10.7.4), reached two ways (MUST-11):

* passively, from LISTEN (fixture `syn_received`): the child of a listener;
* actively, from SYN-SENT by a simultaneous open (fixture `syn_received_active`, MUST-10).

The difference matters for RST (back to LISTEN silently vs. "connection
refused") and for SYN (back to LISTEN vs. challenge ACK).
"""
import pytest

from harness import (ACK, CLOSE_WAIT, CLOSED, ESTABLISHED, FIN, FIN_WAIT_1, FIN_WAIT_2, LISTEN,
                     LOCAL_ISS, LOCAL_SEQ, OUR_SYN_ACK, PEER_SYN, PEER_SYN_ACK, PSH, RECV,
                     REMOTE_ISS, REMOTE_SEQ, RST, SYN, SYN_RECEIVED, WINDOW, Tcp, kinds)

CHALLENGE = RECV._replace(flags=ACK, seq=LOCAL_SEQ, ack=REMOTE_SEQ)   # <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>


# ----------------------------------------------------------------- passive open

def test_syn_received_ack(syn_received):
    """RFC 9293 §3.10.7.4 fifth, SYN-RECEIVED: SND.UNA < SEG.ACK =< SND.NXT ->
    ESTABLISHED, SND.WND/WL1/WL2 from the segment; the listener has a
    connection to accept. Nothing is sent."""
    t = syn_received
    assert t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ, window=1234) == []
    c = t.conn
    assert c.state is ESTABLISHED
    assert (c.snd_una, c.snd_wnd, c.snd_wl1, c.snd_wl2) == (LOCAL_SEQ, 1234, REMOTE_SEQ, LOCAL_SEQ)
    assert kinds(t.events()) == ["connected", "acceptable"]
    assert t.accept() is c
    assert t.listener.syn_queue == {}


def test_syn_received_ack_with_data(syn_received):
    """RFC 9293 §3.10.7.4: after the ACK makes the connection ESTABLISHED,
    processing continues with the text, which is acknowledged."""
    t = syn_received
    assert t.send(flags=ACK | PSH, seq=REMOTE_SEQ, ack=LOCAL_SEQ, payload=b"hello") == [
        RECV._replace(flags=ACK, seq=LOCAL_SEQ, ack=REMOTE_SEQ + 5, window=WINDOW - 5)]
    assert t.conn.state is ESTABLISHED
    assert t.read() == b"hello"


def test_syn_received_ack_with_fin(syn_received):
    """RFC 9293 §3.10.7.4 eighth, SYN-RECEIVED: a FIN -> CLOSE-WAIT, ACKed."""
    t = syn_received
    assert t.send(flags=ACK | FIN, seq=REMOTE_SEQ, ack=LOCAL_SEQ) == [
        RECV._replace(flags=ACK, seq=LOCAL_SEQ, ack=REMOTE_SEQ + 1, window=WINDOW - 1)]
    assert t.conn.state is CLOSE_WAIT
    assert kinds(t.events()) == ["connected", "acceptable", "eof"]


@pytest.mark.parametrize("bad_ack", [LOCAL_ISS, LOCAL_ISS - 1, LOCAL_SEQ + 1, LOCAL_SEQ + 100_000])
def test_syn_received_ack_unacceptable_gets_rst(syn_received, bad_ack):
    """RFC 9293 §3.10.7.4 fifth, SYN-RECEIVED: an unacceptable ACK gets
    <SEQ=SEG.ACK><CTL=RST>; the half-open connection stays."""
    t = syn_received
    assert t.send(flags=ACK, seq=REMOTE_SEQ, ack=bad_ack) == [RECV._replace(flags=RST, seq=bad_ack, window=0)]
    assert t.conn.state is SYN_RECEIVED
    assert t.events() == []


def test_syn_received_rst_returns_to_listen(syn_received):
    """MUST-11, RFC 9293 §3.10.7.4 second: a RST at RCV.NXT on a passively opened
    connection returns it to LISTEN; "The user need not be informed"; the
    retransmission queue is flushed (no more SYN,ACKs)."""
    t = syn_received
    assert t.send(flags=RST, seq=REMOTE_SEQ) == []
    assert t.conn.state is LISTEN
    assert t.entry is None and t.listener.syn_queue == {}
    assert t.events() == []
    assert t.advance(100) == []
    # the listener itself is unaffected: the same peer can try again
    assert t.send(PEER_SYN) == [OUR_SYN_ACK]


def test_syn_received_rst_ack_returns_to_listen(syn_received):
    """MUST-11: the same with RST,ACK (an acceptable ACK changes nothing)."""
    t = syn_received
    assert t.send(flags=RST | ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ) == []
    assert t.conn.state is LISTEN and t.events() == []


def test_syn_received_rst_in_window_not_exact_challenge_ack(syn_received):
    """RFC 9293 §3.10.7.4 second (RFC 5961 §3.2): an in-window RST that is not
    exactly at RCV.NXT gets a challenge ACK and is dropped."""
    t = syn_received
    assert t.send(flags=RST, seq=REMOTE_SEQ + 1) == [CHALLENGE]
    assert t.conn.state is SYN_RECEIVED


def test_syn_received_rst_out_of_window_dropped(syn_received):
    """RFC 9293 §3.10.7.4 first: an unacceptable RST is dropped silently."""
    t = syn_received
    assert t.send(flags=RST, seq=REMOTE_SEQ + WINDOW) == []
    assert t.send(flags=RST, seq=REMOTE_ISS) == []
    assert t.conn.state is SYN_RECEIVED


def test_syn_received_syn_retransmitted_resends_syn_ack(syn_received):
    """The peer's SYN again (same ISN): our SYN,ACK was lost, so it is sent again
    (Linux; the plain ACK of §3.10.7.4's first step would not help the peer)."""
    t = syn_received
    assert t.send(PEER_SYN) == [OUR_SYN_ACK]
    assert t.conn.state is SYN_RECEIVED


def test_syn_received_syn_in_window_returns_to_listen(syn_received):
    """RFC 9293 §3.10.7.4 fourth, SYN-RECEIVED from a passive OPEN: a SYN in the
    window returns the connection to LISTEN (nothing sent, nobody told)."""
    t = syn_received
    assert t.send(PEER_SYN._replace(seq=REMOTE_SEQ + 10)) == []
    assert t.conn.state is LISTEN and t.entry is None
    assert t.events() == []


def test_syn_received_syn_out_of_window_acked(syn_received):
    """RFC 9293 §3.10.7.4 first: an unacceptable segment gets
    <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>."""
    t = syn_received
    assert t.send(PEER_SYN._replace(seq=REMOTE_SEQ + WINDOW + 10)) == [CHALLENGE]
    assert t.conn.state is SYN_RECEIVED


def test_syn_received_data_without_ack_dropped(syn_received):
    """RFC 9293 §3.10.7.4 fifth: "if the ACK bit is off, drop the segment"."""
    t = syn_received
    assert t.send(flags=PSH, seq=REMOTE_SEQ, payload=b"hello") == []
    assert t.send(flags=FIN, seq=REMOTE_SEQ) == []
    assert t.conn.state is SYN_RECEIVED and t.conn.readable == 0


def test_syn_received_data_out_of_window_acked(syn_received):
    """RFC 9293 §3.10.7.4 first: beyond RCV.NXT+RCV.WND -> ACK, drop."""
    t = syn_received
    assert t.send(flags=ACK, seq=REMOTE_SEQ + WINDOW, ack=LOCAL_SEQ, payload=b"x") == [CHALLENGE]
    assert t.conn.state is SYN_RECEIVED


def test_syn_received_timer_retransmits_syn_ack(syn_received):
    """RFC 6298 §5.4-5.6 (MUST-19, MUST-22): the SYN,ACK is sent again after 1,
    2, 4, 8, 16 s; after synack_retries (5) the half-open child is deleted
    without a RST and the user, who never saw it, is not told."""
    t = syn_received
    when = 0
    for gap in (1, 2, 4, 8, 16):
        when += gap
        assert t.advance_to(when - 0.001) == []
        assert t.advance_to(when) == [OUR_SYN_ACK]
    assert t.advance_to(when + 32) == []
    assert t.state is CLOSED and t.listener.syn_queue == {}
    assert "error" not in kinds(t.events())


def test_syn_received_ack_after_synack_retransmission_no_rtt_sample():
    """MUST-18 Karn: no RTT sample when the SYN,ACK was retransmitted; RFC 6298
    (5.7): the data RTO starts at 3 s."""
    t = Tcp.syn_received()
    t.advance(1.0).ignore()
    t.now += 0.4
    t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ)
    c = t.conn
    assert c.state is ESTABLISHED and c.rtt.srtt is None
    assert c.rtt.current() == 3.0


def test_syn_received_rtt_sample_from_synack():
    """RFC 6298 §2.2: an un-retransmitted SYN,ACK gives the first RTT sample."""
    t = Tcp.syn_received()
    t.now = 0.1
    t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ)
    assert t.conn.rtt.srtt == pytest.approx(0.1)


# ------------------------------------------------------------------ active open

def test_syn_received_active_ack(syn_received_active):
    """MUST-10, RFC 9293 §3.5 Figure 8: the ACK of our SYN completes a
    simultaneous open; the user is told the connection is open."""
    t = syn_received_active
    assert t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ) == []
    assert t.conn.state is ESTABLISHED
    assert kinds(t.events()) == ["connected"]


def test_syn_received_active_syn_ack(syn_received_active):
    """MUST-10, RFC 9293 §3.5 Figure 8 line 6: the peer's SYN,ACK
    <SEQ=IRS><ACK=ISS+1> moves SYN-RECEIVED to ESTABLISHED. Its SYN is old (only
    the new parts are processed, §3.10.7.4), and the SYN,ACK window is not scaled."""
    t = syn_received_active
    assert t.send(PEER_SYN_ACK._replace(window=5000)) == []
    c = t.conn
    assert c.state is ESTABLISHED
    assert (c.snd_una, c.snd_nxt, c.rcv_nxt, c.snd_wnd) == (LOCAL_SEQ, LOCAL_SEQ, REMOTE_SEQ, 5000)
    assert kinds(t.events()) == ["connected"]


def test_syn_received_active_simultaneous_open_end_to_end():
    """MUST-10: two hosts that both actively open reach ESTABLISHED, each seeing
    Figure 8's exchange, and carry data both ways."""
    from synack.engine.host import Host
    from synack.engine.isn import FixedIsn
    a = Host(["192.0.2.1"], Tcp().config, secret=bytes(32), isn=FixedIsn(100))
    b = Host(["192.0.2.2"], Tcp().config, secret=bytes(32), isn=FixedIsn(300))
    ca = a.connect(0.0, "192.0.2.2", 2000, local_port=1000)
    cb = b.connect(0.0, "192.0.2.1", 1000, local_port=2000)
    [(_, _, syn_a)] = a.take_outbox()
    [(_, _, syn_b)] = b.take_outbox()
    b.receive(0.1, "192.0.2.1", "192.0.2.2", syn_a)
    a.receive(0.1, "192.0.2.2", "192.0.2.1", syn_b)
    [(_, _, synack_b)] = b.take_outbox()
    [(_, _, synack_a)] = a.take_outbox()
    assert (synack_a.flags, synack_a.seq, synack_a.ack) == (SYN | ACK, 100, 301)
    assert (synack_b.flags, synack_b.seq, synack_b.ack) == (SYN | ACK, 300, 101)
    b.receive(0.2, "192.0.2.1", "192.0.2.2", synack_a)
    a.receive(0.2, "192.0.2.2", "192.0.2.1", synack_b)
    assert ca.state is ESTABLISHED and cb.state is ESTABLISHED
    assert a.take_outbox() == [] and b.take_outbox() == []
    ca.send(0.3, b"ping")
    for _, _, s in a.take_outbox():
        b.receive(0.4, "192.0.2.1", "192.0.2.2", s)
    assert cb.recv(0.4, 100) == b"ping"


def test_syn_received_active_rst_refused(syn_received_active):
    """MUST-11, RFC 9293 §3.10.7.4 second: a RST on an actively opened
    SYN-RECEIVED connection -> "connection refused", CLOSED, TCB deleted."""
    t = syn_received_active
    assert t.send(flags=RST, seq=REMOTE_SEQ) == []
    assert t.state is CLOSED and t.entry is None
    assert t.conn.error == "ECONNREFUSED"
    assert t.events() == [("error", "ECONNREFUSED"), ("closed", "rcv RST (active open)")]
    with pytest.raises(ConnectionRefusedError):
        t.read()


def test_syn_received_active_rst_not_exact_challenge_ack(syn_received_active):
    """RFC 5961 §3.2 in SYN-RECEIVED (active): challenge ACK, no state change."""
    t = syn_received_active
    assert t.send(flags=RST, seq=REMOTE_SEQ + 100) == [CHALLENGE]
    assert t.conn.state is SYN_RECEIVED


def test_syn_received_active_syn_in_window_challenge_ack(syn_received_active):
    """RFC 9293 §3.10.7.4 fourth: SYN-RECEIVED from an active OPEN handles a SYN
    as the synchronized states do: challenge ACK (RFC 5961 §4)."""
    t = syn_received_active
    assert t.send(PEER_SYN._replace(seq=REMOTE_SEQ + 5)) == [CHALLENGE]
    assert t.conn.state is SYN_RECEIVED


def test_syn_received_active_peer_syn_retransmitted(syn_received_active):
    """The peer's SYN again: our SYN,ACK is re-sent (as in the passive case)."""
    t = syn_received_active
    assert t.send(PEER_SYN) == [OUR_SYN_ACK]


def test_syn_received_active_timer_retransmits_syn_ack_then_etimedout():
    """MUST-22: the SYN,ACK of an active open is retransmitted like data; after
    syn_retries the user (who called connect) gets ETIMEDOUT."""
    t = Tcp.syn_received_active(syn_retries=2)
    assert t.advance(1) == [OUR_SYN_ACK]
    assert t.advance(2) == [OUR_SYN_ACK]
    assert t.advance(4) == []
    assert t.state is CLOSED and t.conn.error == "ETIMEDOUT"


def test_syn_received_active_close_sends_fin(syn_received_active):
    """RFC 9293 §3.10.4 CLOSE in SYN-RECEIVED: nothing queued to send, so form a
    FIN, send it, enter FIN-WAIT-1. The ACK of SYN and FIN goes to FIN-WAIT-2."""
    t = syn_received_active
    t.close()
    t.expect(flags=FIN | ACK, seq=LOCAL_SEQ, ack=REMOTE_SEQ)
    assert t.conn.state is FIN_WAIT_1
    assert t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ + 1) == []
    assert t.conn.state is FIN_WAIT_2


def test_syn_received_active_close_then_rto_resends_syn_ack():
    """RFC 9293 §3.10.8 RETRANSMISSION TIMEOUT: "send the segment at the front of
    the retransmission queue" -- after CLOSE in SYN-RECEIVED that is still our
    SYN,ACK, which the peer has not acknowledged."""
    t = Tcp.syn_received_active()
    t.close()
    t.take()
    replies = t.advance(1.0)
    assert replies[:1] == [OUR_SYN_ACK]
    assert t.conn.state is FIN_WAIT_1
