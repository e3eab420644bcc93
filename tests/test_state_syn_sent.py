"""SYN-SENT (RFC 9293 §3.10.7.3): our SYN is out, nothing received yet.

First the ACK bit (SEG.ACK =< ISS or > SND.NXT: RST unless RST), then the RST
bit (believed only with an acceptable ACK), then the SYN bit (ESTABLISHED if
our SYN is acknowledged, SYN-RECEIVED otherwise), else drop.
"""
import pytest

from harness import (ACK, CLOSE_WAIT, CLOSED, ESTABLISHED, FIN, LOCAL_ISS, LOCAL_MSS, LOCAL_SEQ,
                     OUR_SYN, OUR_SYN_ACK, PEER_SYN, PEER_SYN_ACK, PSH, RECV, REMOTE_ISS,
                     REMOTE_SEQ, REMOTE_WINDOW, RST, SYN, SYN_RECEIVED, SYN_SENT, WINDOW, Options,
                     Tcp, cfg, kinds)


def test_syn_sent_sends_syn():
    """RFC 9293 §3.10.1 OPEN: <SEQ=ISS><CTL=SYN> with our MSS (MUST-14, MUST-67:
    MTU 1500 - 40); the window of a SYN is never scaled (RFC 7323 §2.2)."""
    t = Tcp()
    t.conn = t.host.connect(0.0, "198.51.100.2", 49500, local_port=80)
    t.expect(OUR_SYN)
    assert t.conn.state is SYN_SENT
    assert (t.conn.iss, t.conn.snd_una, t.conn.snd_nxt) == (LOCAL_ISS, LOCAL_ISS, LOCAL_SEQ)


def test_syn_sent_syn_ack(syn_sent):
    """RFC 9293 §3.10.7.3 fourth: SYN,ACK acknowledging our SYN -> IRS, RCV.NXT,
    SND.UNA set, ESTABLISHED, <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>; the user is
    told the connection is open."""
    t = syn_sent
    assert t.send(PEER_SYN_ACK) == [RECV._replace(flags=ACK, seq=LOCAL_SEQ, ack=REMOTE_SEQ)]
    c = t.conn
    assert c.state is ESTABLISHED
    assert (c.irs, c.rcv_nxt, c.snd_una, c.snd_nxt) == (REMOTE_ISS, REMOTE_SEQ, LOCAL_SEQ, LOCAL_SEQ)
    assert (c.snd_wnd, c.snd_wl1, c.snd_wl2) == (REMOTE_WINDOW, REMOTE_ISS, LOCAL_SEQ)
    assert c.snd_mss == 1400                     # MUST-14: the peer's MSS is honoured
    assert kinds(t.events()) == ["connected"]
    assert c.error is None


def test_syn_sent_syn_ack_without_mss_option_uses_536(syn_sent):
    """MUST-15 (RFC 9293 §3.7.1): no MSS option received -> send MSS 536 (IPv4)."""
    t = syn_sent
    t.send(PEER_SYN_ACK._replace(options=Options())).ignore()
    assert t.conn.snd_mss == 536


def test_syn_sent_syn_ack_mss_capped_by_our_mtu(syn_sent):
    """MUST-16 (RFC 9293 §3.7.1): effective send MSS = min(SendMSS, MTU - 40)."""
    t = syn_sent
    t.send(PEER_SYN_ACK._replace(options=Options(mss=9000))).ignore()
    assert t.conn.snd_mss == LOCAL_MSS


def test_syn_sent_syn_ack_with_data(syn_sent):
    """RFC 9293 §3.10.7.3: other text on the SYN,ACK continues at the sixth step
    of §3.10.7.4: the data is delivered and acknowledged in the one ACK."""
    t = syn_sent
    assert t.send(PEER_SYN_ACK._replace(flags=SYN | ACK | PSH, payload=b"hello")) == [
        RECV._replace(flags=ACK, seq=LOCAL_SEQ, ack=REMOTE_SEQ + 5, window=WINDOW - 5)]
    assert t.read() == b"hello"
    assert kinds(t.events()) == ["connected", "readable"]


def test_syn_sent_syn_ack_with_fin(syn_sent):
    """RFC 9293 §3.10.7.3 then §3.10.7.4 eighth: a FIN on the SYN,ACK moves us
    on to CLOSE-WAIT and is acknowledged."""
    t = syn_sent
    # The window our SYN offered ends at IRS+1+4096; the FIN takes one sequence
    # number of it, and the right edge is not moved on by one octet (receiver
    # SWS avoidance, RFC 9293 §3.8.6.2.2, MUST-39): 4095 is offered.
    assert t.send(PEER_SYN_ACK._replace(flags=SYN | ACK | FIN)) == [
        RECV._replace(flags=ACK, seq=LOCAL_SEQ, ack=REMOTE_SEQ + 1, window=4095)]
    assert t.conn.state is CLOSE_WAIT
    assert kinds(t.events()) == ["connected", "eof"]
    assert t.read() == b""


def test_syn_sent_queued_data_goes_with_the_ack(syn_sent):
    """RFC 9293 §3.10.7.3: "Data or controls that were queued for transmission
    MAY be included" in the ACK that completes the handshake."""
    t = syn_sent
    assert t.write(b"GET /") == 5
    t.expect_nothing()                           # nothing before the handshake
    assert t.send(PEER_SYN_ACK) == [
        RECV._replace(flags=ACK | PSH, seq=LOCAL_SEQ, ack=REMOTE_SEQ, payload=b"GET /")]


@pytest.mark.parametrize("bad_ack", [LOCAL_ISS, LOCAL_ISS - 100, LOCAL_SEQ + 1, LOCAL_SEQ + 5000])
def test_syn_sent_syn_ack_unacceptable_ack_gets_rst(syn_sent, bad_ack):
    """RFC 9293 §3.10.7.3 first: SEG.ACK =< ISS or SEG.ACK > SND.NXT ->
    <SEQ=SEG.ACK><CTL=RST>, discard, stay in SYN-SENT."""
    t = syn_sent
    assert t.send(PEER_SYN_ACK._replace(ack=bad_ack)) == [RECV._replace(flags=RST, seq=bad_ack, window=0)]
    assert t.conn.state is SYN_SENT
    assert t.events() == []


def test_syn_sent_ack_unacceptable_gets_rst(syn_sent):
    """RFC 9293 §3.10.7.3 first, for a bare ACK (an old duplicate of some other
    connection)."""
    t = syn_sent
    assert t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_ISS) == [RECV._replace(flags=RST, seq=LOCAL_ISS, window=0)]
    assert t.conn.state is SYN_SENT


def test_syn_sent_ack_acceptable_without_syn_dropped(syn_sent):
    """RFC 9293 §3.10.7.3 fifth: neither SYN nor RST -> drop."""
    t = syn_sent
    assert t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ) == []
    assert t.conn.state is SYN_SENT


def test_syn_sent_data_without_syn_or_ack_dropped(syn_sent):
    """RFC 9293 §3.10.7.3 fifth; and the eighth step of §3.10.7.4 says a FIN
    cannot be validated in SYN-SENT."""
    t = syn_sent
    assert t.send(flags=PSH | FIN, seq=REMOTE_ISS, payload=b"x") == []
    assert t.conn.state is SYN_SENT and t.conn.readable == 0


def test_syn_sent_rst_ack_acceptable_refuses(syn_sent):
    """RFC 9293 §3.10.7.3 second: RST with an acceptable ACK -> "error:
    connection reset" (ECONNREFUSED to a connect()), CLOSED, TCB deleted."""
    t = syn_sent
    assert t.send(flags=RST | ACK, seq=0, ack=LOCAL_SEQ) == []
    assert t.state is CLOSED and t.entry is None
    assert t.conn.error == "ECONNREFUSED"
    assert t.events() == [("error", "ECONNREFUSED"), ("closed", "rcv RST")]
    with pytest.raises(ConnectionRefusedError):
        t.read()


def test_syn_sent_rst_without_ack_dropped(syn_sent):
    """RFC 9293 §3.10.7.3 second: "Otherwise (no ACK), drop the segment"."""
    t = syn_sent
    assert t.send(flags=RST, seq=REMOTE_SEQ) == []
    assert t.conn.state is SYN_SENT and t.events() == []


def test_syn_sent_rst_with_unacceptable_ack_dropped(syn_sent):
    """RFC 9293 §3.10.7.3 first: an unacceptable ACK on a RST is dropped, with
    no RST in reply."""
    t = syn_sent
    assert t.send(flags=RST | ACK, seq=0, ack=LOCAL_SEQ + 1) == []
    assert t.send(flags=RST | ACK, seq=0, ack=LOCAL_ISS) == []
    assert t.conn.state is SYN_SENT


def test_syn_sent_syn_rst_ack_refuses(syn_sent):
    """RFC 9293 §3.10.7.3: the RST check precedes the SYN check."""
    t = syn_sent
    assert t.send(PEER_SYN_ACK._replace(flags=SYN | ACK | RST)) == []
    assert t.state is CLOSED and t.conn.error == "ECONNREFUSED"


def test_syn_sent_syn_simultaneous_open(syn_sent):
    """MUST-10, RFC 9293 §3.5 Figure 8 and §3.10.7.3 fourth: a SYN without ACK
    -> SYN-RECEIVED, <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>; SND.WND from the SYN."""
    t = syn_sent
    assert t.send(PEER_SYN) == [OUR_SYN_ACK]
    c = t.conn
    assert c.state is SYN_RECEIVED and not c.passive          # MUST-11: remembers it was active
    assert (c.irs, c.rcv_nxt, c.snd_una, c.snd_wnd) == (REMOTE_ISS, REMOTE_SEQ, LOCAL_ISS, REMOTE_WINDOW)
    assert t.events() == []


def test_syn_sent_timer_retransmits_syn_with_backoff():
    """RFC 6298 §5.4-5.6 applied to the SYN (MUST-19, MUST-22): the SYN is sent
    again after 1, 2, 4, 8, 16, 32, 60, 60 s (RTO doubled, capped at 60 s)."""
    t = Tcp.syn_sent()
    when = 0
    for gap in (1, 2, 4, 8, 16, 32, 60, 60):
        when += gap
        assert t.advance_to(when - 0.001) == []
        assert t.advance_to(when) == [OUR_SYN], f"SYN due {gap} s after the previous one"
        assert t.conn.state is SYN_SENT


def test_syn_sent_timer_gives_up_with_etimedout():
    """MUST-20/22/23 (RFC 9293 §3.8.3): after syn_retries retransmissions the
    connection is closed and the user told (ETIMEDOUT); with the default 8
    retries and RTO cap 60 s that is 243 s, above the 3 minutes MUST-23 asks."""
    t = Tcp.syn_sent()
    deadline = 1 + 2 + 4 + 8 + 16 + 32 + 60 + 60 + 60
    assert deadline >= 180
    t.advance_to(deadline - 0.001).ignore()
    assert t.conn.state is SYN_SENT
    assert t.advance_to(deadline) == []          # no RST: the peer never answered
    assert t.state is CLOSED and t.conn.error == "ETIMEDOUT"
    assert t.events() == [("error", "ETIMEDOUT"), ("closed", "SYN retransmissions exhausted")]
    with pytest.raises(TimeoutError):
        t.read()


def test_syn_sent_syn_retries_configurable():
    """MUST-21: R2 (here the SYN retry count) can be set per connection."""
    t = Tcp.syn_sent(syn_retries=2)
    t.advance(1).ignore()
    t.advance(2).ignore()
    assert t.conn.state is SYN_SENT
    t.advance(4)
    assert t.state is CLOSED and t.conn.error == "ETIMEDOUT"


def test_syn_sent_rtt_sample_from_syn(syn_sent):
    """RFC 6298 §2.2: the handshake gives the first RTT measurement when the SYN
    was not retransmitted: SRTT = R, RTTVAR = R/2."""
    t = syn_sent
    t.now = 0.25
    t.send(PEER_SYN_ACK).ignore()
    assert t.conn.rtt.srtt == pytest.approx(0.25)
    assert t.conn.rtt.rttvar == pytest.approx(0.125)


def test_syn_sent_retransmitted_syn_gives_no_sample_and_rto_3s():
    """MUST-18 Karn (RFC 6298 §3): no RTT sample from the retransmitted SYN; and
    RFC 6298 (5.7): after a SYN timeout with RTO < 3 s, the RTO is set to 3 s
    when data transmission begins."""
    t = Tcp.syn_sent()
    t.advance(1.0).ignore()                                # SYN retransmitted
    t.now += 0.5
    t.send(PEER_SYN_ACK).ignore()
    assert t.conn.state is ESTABLISHED and t.conn.rtt.srtt is None
    t.write(b"data")
    t.expect(flags=ACK | PSH, seq=LOCAL_SEQ, ack=REMOTE_SEQ, payload=b"data")
    assert t.advance_to(1.5 + 3.0 - 0.001) == []
    assert t.advance_to(1.5 + 3.0) == [RECV._replace(flags=ACK | PSH, seq=LOCAL_SEQ, ack=REMOTE_SEQ, payload=b"data")]


def test_syn_sent_close_deletes_tcb_silently(syn_sent):
    """RFC 9293 §3.10.4 CLOSE in SYN-SENT: delete the TCB; nothing is sent."""
    t = syn_sent
    t.close()
    t.expect_nothing()
    assert t.state is CLOSED and t.entry is None
    assert t.conn.error is None
    assert t.advance(10) == []                    # no SYN retransmission either


def test_syn_sent_abort_sends_nothing(syn_sent):
    """RFC 9293 §3.10.5 ABORT in SYN-SENT: no RST (nothing synchronized yet)."""
    t = syn_sent
    t.abort()
    t.expect_nothing()
    assert t.state is CLOSED


def test_syn_sent_late_syn_ack_after_close_gets_rst(syn_sent):
    """After CLOSE the 4-tuple is CLOSED (RFC 9293 §3.10.7.1): a late SYN,ACK gets
    <SEQ=SEG.ACK><CTL=RST>, which also clears the peer's half-open state."""
    t = syn_sent
    t.close()
    assert t.send(PEER_SYN_ACK) == [RECV._replace(flags=RST, seq=LOCAL_SEQ, window=0)]


def test_syn_sent_window_scale_needs_both_syns():
    """RFC 7323 §1.3/§2.2: we offer a shift on our SYN; if the SYN,ACK carries no
    Window Scale option, neither direction is scaled."""
    t = Tcp.syn_sent(window_scaling=True, rcvbuf=1 << 20)
    assert t.conn.rcv_wscale == 5
    t.send(PEER_SYN_ACK).ignore()
    assert (t.conn.snd_wscale, t.conn.rcv_wscale) == (0, 0)
    t2 = Tcp.syn_sent(window_scaling=True, rcvbuf=1 << 20)
    t2.send(PEER_SYN_ACK._replace(options=Options(mss=1400, wscale=15))).ignore()
    assert (t2.conn.snd_wscale, t2.conn.rcv_wscale) == (14, 5)    # RFC 7323 §2.3: >14 taken as 14


def test_syn_sent_syn_carries_offered_options():
    """RFC 7323 §2.2/§3.2, RFC 2018 §2: with all options on, our SYN offers
    window scale, SACK-permitted and timestamps (TSecr 0)."""
    t = Tcp(cfg(timestamps=True, sack=True, window_scaling=True))
    c = t.host.connect(0.0, "198.51.100.2", 49500, local_port=80)
    [syn] = t.take()
    assert syn.options == Options(mss=LOCAL_MSS, wscale=0, sack_permitted=True,
                                  timestamp=(c.ts_offset, 0))
