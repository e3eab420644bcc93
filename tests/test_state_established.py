"""ESTABLISHED (RFC 9293 §3.10.7.4): both sequence spaces synchronized.

Fixture `established`: an active open completed. SND.NXT = SND.UNA = LOCAL_SEQ,
RCV.NXT = REMOTE_SEQ, RCV.WND = WINDOW (4096), SND.WND = REMOTE_WINDOW (8192),
effective send MSS 1400 (the peer's MSS option), no options, delayed ACK off.
"""
import pytest

from harness import (ACK, CLOSE_WAIT, CLOSED, ESTABLISHED, FIN, LOCAL_SEQ, PSH, RECV, REMOTE_ISS,
                     REMOTE_SEQ, REMOTE_WINDOW, RST, SEND, SYN, URG, WINDOW, Options, Tcp, kinds)

ACK_NOW = RECV._replace(flags=ACK, seq=LOCAL_SEQ, ack=REMOTE_SEQ)      # <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>


def data(payload: bytes, offset: int = 0, **kw):
    """A data segment from the peer, `offset` octets past REMOTE_SEQ, ACKing nothing new."""
    fields = dict(flags=ACK | PSH, seq=REMOTE_SEQ + offset, ack=LOCAL_SEQ, payload=payload)
    fields.update(kw)
    return SEND._replace(**fields)


def acked(n: int, window: int = WINDOW) -> object:
    """Our ACK of n octets of peer data."""
    return ACK_NOW._replace(ack=REMOTE_SEQ + n, window=window)


# ------------------------------------------------------------- segment text

def test_established_data_in_window(established):
    """RFC 9293 §3.10.7.4 seventh: in-order text is delivered, RCV.NXT advances,
    RCV.WND shrinks by what is buffered, <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> is sent."""
    t = established
    assert t.send(data(b"abcdef")) == [acked(6, WINDOW - 6)]
    assert t.conn.rcv_nxt == REMOTE_SEQ + 6
    assert kinds(t.events()) == ["readable"]
    assert t.read() == b"abcdef"
    assert t.conn.state is ESTABLISHED


def test_established_data_fills_window(established):
    """RFC 9293 §3.10.7.4: a segment that exactly fills the window is accepted;
    the ACK then advertises a zero window."""
    t = established
    assert t.send(data(bytes(WINDOW))) == [acked(WINDOW, 0)]


def test_established_data_partly_beyond_window(established):
    """RFC 9293 §3.10.7.4 first: a segment that starts in the window is
    acceptable; the part past RCV.NXT+RCV.WND is trimmed off and not processed."""
    t = established
    assert t.send(data(b"x" * (WINDOW + 4))) == [acked(WINDOW, 0)]
    assert t.read() == b"x" * WINDOW


def test_established_data_partly_beyond_window_loses_fin(established):
    """RFC 9293 §3.10.7.4 first: the trimmed tail includes the FIN, which lies
    outside the window: the connection stays ESTABLISHED."""
    t = established
    assert t.send(data(b"x" * (WINDOW + 4), flags=ACK | FIN)) == [acked(WINDOW, 0)]
    assert t.conn.state is ESTABLISHED and not t.conn.eof


def test_established_data_beyond_window(established):
    """RFC 9293 §3.10.7.4 first, Table 6: RCV.NXT+RCV.WND =< SEG.SEQ -> not
    acceptable: send <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> and drop."""
    t = established
    assert t.send(data(b"late", offset=WINDOW)) == [ACK_NOW]
    assert t.conn.readable == 0 and t.conn.ooo == []


def test_established_data_old_duplicate(established):
    """RFC 9293 §3.10.7.4 first: a retransmission entirely before RCV.NXT is not
    acceptable: ACK and drop (nothing delivered twice)."""
    t = established
    t.send(data(b"abc")).ignore()
    assert t.send(data(b"abc")) == [acked(3, WINDOW - 3)]
    assert t.read() == b"abc"


def test_established_data_partly_old(established):
    """RFC 9293 §3.10.7.4: "If a segment's contents straddle the boundary between
    old and new, only the new parts are processed"."""
    t = established
    t.send(data(b"abc")).ignore()
    assert t.send(data(b"abcdef")) == [acked(6, WINDOW - 6)]
    assert t.read() == b"abcdef"


def test_established_data_out_of_order_held(established):
    """SHLD-31 (RFC 9293 §3.10.7.4): a segment past RCV.NXT is held for later;
    MAY-13: an ACK of RCV.NXT is sent at once (a duplicate ACK, RFC 5681 §4.2).
    The window does not shrink (the right edge never moves left, §3.8.6)."""
    t = established
    assert t.send(data(b"def", offset=3)) == [ACK_NOW]
    assert t.conn.readable == 0 and t.events() == []
    assert t.send(data(b"abc")) == [acked(6, WINDOW - 6)]
    assert t.read() == b"abcdef"


def test_established_data_out_of_order_several_holes(established):
    """SHLD-31: blocks held apart are delivered once the holes before them fill."""
    t = established
    assert t.send(data(b"gh", offset=6)) == [ACK_NOW]
    assert t.send(data(b"cd", offset=2)) == [ACK_NOW]
    assert t.send(data(b"ab")) == [acked(4, WINDOW - 4)]
    assert t.send(data(b"ef", offset=4)) == [acked(8, WINDOW - 8)]
    assert t.read() == b"abcdefgh"


def test_established_data_out_of_order_duplicates_trimmed(established):
    """RFC 9293 §3.10.7.4: overlapping out-of-order copies are merged; each
    octet is delivered once."""
    t = established
    t.send(data(b"cdef", offset=2)).ignore()
    t.send(data(b"de", offset=3)).ignore()
    t.send(data(b"efgh", offset=4)).ignore()
    assert t.send(data(b"abcd")) == [acked(8, WINDOW - 8)]
    assert t.read() == b"abcdefgh"


def test_established_fin_beyond_hole_waits(established):
    """RFC 9293 §3.10.7.4 eighth: a FIN is processed only in sequence; one that
    arrives beyond a hole is held and takes effect when the hole fills."""
    t = established
    assert t.send(data(b"def", offset=3, flags=ACK | FIN)) == [ACK_NOW]
    assert t.conn.state is ESTABLISHED
    assert t.send(data(b"abc")) == [acked(7, WINDOW - 7)]
    assert t.conn.state is CLOSE_WAIT
    assert t.read() == b"abcdef"
    assert t.read() == b""


def test_established_data_without_ack_dropped(established):
    """RFC 9293 §3.10.7.4 fifth: "if the ACK bit is off, drop the segment"."""
    t = established
    assert t.send(data(b"abc", flags=PSH)) == []
    assert t.conn.readable == 0 and t.conn.rcv_nxt == REMOTE_SEQ


def test_established_zero_window_rejects_data(established):
    """RFC 9293 §3.10.7.4 Table 6: SEG.LEN > 0 with RCV.WND = 0 is not acceptable;
    §3.8.6.1: the ACK still shows RCV.NXT and the zero window."""
    t = established
    t.send(data(bytes(WINDOW))).ignore()
    assert t.send(data(b"z", offset=WINDOW)) == [acked(WINDOW, 0)]
    assert t.conn.readable == WINDOW


def test_established_zero_window_accepts_ack(established):
    """RFC 9293 §3.10.7.4: with RCV.WND = 0 "special allowance should be made to
    accept valid ACKs": a zero-window probe carrying an ACK of our data still
    moves SND.UNA."""
    t = established
    t.write(b"12345")
    t.take()
    t.send(data(bytes(WINDOW))).ignore()
    assert t.send(data(b"z", offset=WINDOW, ack=LOCAL_SEQ + 5)) == [
        acked(WINDOW, 0)._replace(seq=LOCAL_SEQ + 5)]
    assert t.conn.snd_una == LOCAL_SEQ + 5


def test_established_zero_window_rst_processed(established):
    """MUST-66 (RFC 9293 §3.4): RST is processed even with a zero receive window."""
    t = established
    t.send(data(bytes(WINDOW))).ignore()
    assert t.send(flags=RST, seq=REMOTE_SEQ + WINDOW) == []
    assert t.state is CLOSED and t.conn.error == "ECONNRESET"


def test_established_zero_window_rst_with_data_processed(established):
    """MUST-66 with SHLD-2 (RFC 9293 §3.5.3: a RST may carry diagnostic data):
    with a zero window a RST at RCV.NXT still resets, its data notwithstanding."""
    t = established
    t.send(data(bytes(WINDOW))).ignore()
    assert t.send(flags=RST | ACK, seq=REMOTE_SEQ + WINDOW, ack=LOCAL_SEQ, payload=b"why") == []
    assert t.state is CLOSED and t.conn.error == "ECONNRESET"


def test_established_rst_with_data_processed(established):
    """SHLD-2 (RFC 9293 §3.5.3): a RST carrying data is a RST."""
    t = established
    assert t.send(flags=RST | ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ, payload=b"diagnostic") == []
    assert t.state is CLOSED and t.conn.error == "ECONNRESET" and t.conn.readable == 0


def test_established_zero_window_urg_processed(established):
    """MUST-66: URG is processed even with a zero receive window (the urgent
    pointer of a bare ACK at RCV.NXT is recorded and signalled, MUST-32)."""
    t = established
    t.send(data(bytes(WINDOW))).ignore()
    t.events()
    t.send(flags=ACK | URG, seq=REMOTE_SEQ + WINDOW, ack=LOCAL_SEQ, urgent=10)
    assert ("urgent", 10) in t.events()


def test_established_window_reopens_after_read(established):
    """RFC 9293 §3.8.6.2.2 (MUST-39): after the application reads, the window is
    reopened with an update once it can grow by min(buffer/2, MSS)."""
    t = established
    t.send(data(bytes(WINDOW))).ignore()
    assert t.read(100) == bytes(100)
    t.expect_nothing()                          # 100 octets: too small to announce
    t.read()
    t.expect(acked(WINDOW, WINDOW))


def test_established_receiver_sws_no_small_window_increase(established):
    """MUST-39 (RFC 9293 §3.8.6.2.2): the offered window is not advanced in small
    steps: after a 4096-octet window closes and 1000 octets are read (less than
    min(RCV.BUFF/2, MSS) = 1460), ACKs keep offering 0."""
    t = established
    t.send(data(bytes(WINDOW))).ignore()
    t.read(1000)
    t.expect_nothing()
    assert t.send(data(b"q", offset=WINDOW)) == [acked(WINDOW, 0)]
    t.read(460)                                 # 1460 free now: worth announcing
    t.expect(acked(WINDOW, 1460))


# --------------------------------------------------------------------- ACKs

def test_established_ack_acceptable(established):
    """RFC 9293 §3.10.7.4 fifth: SND.UNA < SEG.ACK =< SND.NXT -> SND.UNA <- SEG.ACK,
    acknowledged data leaves the queue, the user may send more; no reply; the
    retransmission timer stops when everything is acknowledged (RFC 6298 (5.2))."""
    t = established
    t.write(b"hello")
    t.expect(flags=ACK | PSH, seq=LOCAL_SEQ, ack=REMOTE_SEQ, payload=b"hello")
    assert t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ + 5) == []
    assert t.conn.snd_una == LOCAL_SEQ + 5 and t.conn.unacked == 0
    assert kinds(t.events()) == ["writable"]
    assert t.conn.t_rexmt is None
    assert t.advance(100) == []


def test_established_ack_partial(established):
    """RFC 9293 §3.10.7.4 fifth and RFC 6298 (5.3): a partial ACK restarts the
    timer; only the acknowledged octets leave the send queue."""
    t = established
    t.write(b"hello")
    t.take()
    t.now = 0.5
    t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ + 2)
    assert t.conn.snd_una == LOCAL_SEQ + 2 and bytes(t.conn.sndq) == b"llo"
    assert t.conn.t_rexmt == pytest.approx(0.5 + t.conn.rtt.current())
    assert t.advance_to(t.conn.t_rexmt) == [RECV._replace(flags=ACK | PSH, seq=LOCAL_SEQ + 2, ack=REMOTE_SEQ,
                                                          payload=b"llo")]


def test_established_ack_duplicate_ignored(established):
    """RFC 9293 §3.10.7.4 fifth: "If the ACK is a duplicate (SEG.ACK =< SND.UNA),
    it can be ignored"."""
    t = established
    assert t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ) == []
    assert t.conn.state is ESTABLISHED


def test_established_ack_too_new(established):
    """RFC 9293 §3.10.7.4 fifth: SEG.ACK > SND.NXT -> send an ACK, drop the
    segment (its data too), and return."""
    t = established
    assert t.send(data(b"abc", ack=LOCAL_SEQ + 1)) == [ACK_NOW]
    assert t.conn.readable == 0 and t.conn.snd_una == LOCAL_SEQ


def test_established_ack_too_old(established):
    """RFC 9293 §3.10.7.4 fifth, RFC 5961 §5.2 (MAY-12): SEG.ACK <
    SND.UNA - MAX.SND.WND -> discard and send an ACK."""
    t = established
    assert t.conn.max_snd_wnd == REMOTE_WINDOW
    assert t.send(data(b"abc", ack=LOCAL_SEQ - REMOTE_WINDOW - 1)) == [ACK_NOW]
    assert t.conn.readable == 0


def test_established_ack_old_but_within_max_window(established):
    """RFC 5961 §5.2: (SND.UNA - MAX.SND.WND) =< SEG.ACK is acceptable: an old
    ACK (a duplicate, ignored) on a segment whose text is processed."""
    t = established
    assert t.send(data(b"abc", ack=LOCAL_SEQ - REMOTE_WINDOW)) == [acked(3, WINDOW - 3)]
    assert t.read() == b"abc"


def test_established_ack_too_old_accepted_without_rfc5961():
    """Without the RFC 5961 §5 check (MAY-12 not taken) an old ACK is just a
    duplicate and the text is processed."""
    t = Tcp.established(rfc5961=False)
    assert t.send(data(b"abc", ack=LOCAL_SEQ - REMOTE_WINDOW - 1000)) == [acked(3, WINDOW - 3)]


def test_established_window_update(established):
    """RFC 9293 §3.10.7.4 fifth: if SND.WL1 < SEG.SEQ, or SND.WL1 = SEG.SEQ and
    SND.WL2 =< SEG.ACK: SND.WND <- SEG.WND, SND.WL1 <- SEG.SEQ, SND.WL2 <- SEG.ACK."""
    t = established
    t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ, window=3000)
    assert (t.conn.snd_wnd, t.conn.snd_wl1, t.conn.snd_wl2) == (3000, REMOTE_SEQ, LOCAL_SEQ)
    t.send(data(b"ab", window=5000)).ignore()
    assert (t.conn.snd_wnd, t.conn.snd_wl1) == (5000, REMOTE_SEQ)
    t.send(data(b"cd", offset=2, window=6000)).ignore()
    assert (t.conn.snd_wnd, t.conn.snd_wl1) == (6000, REMOTE_SEQ + 2)


def test_established_window_not_updated_by_old_segment(established):
    """RFC 9293 §3.10.7.4: "The check here prevents using old segments to update
    the window": a segment with SEG.SEQ < SND.WL1 leaves SND.WND alone."""
    t = established
    t.send(data(b"abcd", window=5000)).ignore()                   # WL1 = REMOTE_SEQ
    t.send(data(b"ef", offset=4, window=6000)).ignore()           # WL1 = REMOTE_SEQ + 4
    t.send(data(b"abcdef", window=100)).ignore()                  # starts before WL1: old
    assert (t.conn.snd_wnd, t.conn.snd_wl1) == (6000, REMOTE_SEQ + 4)


def test_established_window_field_unsigned(established):
    """MUST-1 (RFC 9293 §3.1): the window is an unsigned 16-bit number."""
    t = established
    t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ, window=0xFFFF)
    assert t.conn.snd_wnd == 65535


def test_established_send_window_respected(established):
    """MUST-34/SHLD-15 (RFC 9293 §3.8.6): no more new data than the usable window
    SND.UNA + SND.WND - SND.NXT allows. (A window below half the largest one
    is silly with nothing outstanding too, RFC 1122 §4.2.3.4: the segment
    waits for the override timeout.)"""
    t = established
    t.conn.nodelay = True
    t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ, window=1000)
    t.write(b"x" * 3000)
    t.expect_nothing()
    segs = t.advance_to(t.conn.t_persist)
    assert [(s.seq, len(s.payload)) for s in segs] == [(LOCAL_SEQ, 1000)]
    # the window shrinks to zero while data is outstanding: nothing new is sent
    t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ + 1000, window=0)
    t.expect_nothing()
    assert t.conn.state is ESTABLISHED


def test_established_sender_sws_avoidance(established):
    """MUST-38 (RFC 9293 §3.8.6.2.1): with data queued, a window-limited segment
    smaller than both the MSS and half the largest window seen is not sent; it
    goes when the window allows a full segment."""
    t = established
    t.conn.nodelay = True
    t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ, window=1900)   # MAX(SND.WND) stays 8192
    t.write(b"x" * 3000)
    assert [(s.seq, len(s.payload)) for s in t.take()] == [(LOCAL_SEQ, 1400)]   # 500 more usable: held
    assert t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ + 1400, window=1900) == [
        RECV._replace(flags=ACK, seq=LOCAL_SEQ + 1400, ack=REMOTE_SEQ, payload=b"x" * 1400),
        RECV._replace(flags=ACK | PSH, seq=LOCAL_SEQ + 2800, ack=REMOTE_SEQ, payload=b"x" * 200)]


def test_established_sender_sws_sends_half_max_window(established):
    """MUST-38: a usable window of at least Fs * MAX(SND.WND) (Fs = 1/2) is used
    even when smaller than the MSS."""
    t = Tcp.established(peer_options=Options(mss=5000), mtu=9000, nagle=False)
    t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ, window=2000)
    t.write(b"x" * 100)
    t.take()
    t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ, window=4196)     # 4096 usable = 8192 / 2
    t.write(b"y" * 9000)
    assert [len(s.payload) for s in t.take()] == [4096]


def test_established_slow_start_and_congestion_avoidance(established):
    """MUST-19 (RFC 9293 §3.8.2, RFC 5681 §3.1): in slow start cwnd grows by at
    most one SMSS per ACK; above ssthresh by about one SMSS per RTT."""
    t = established
    cc = t.conn.cc
    assert cc.cwnd == 3 * 1400                      # RFC 5681 IW for SMSS 1400
    t.conn.nodelay = True
    t.write(b"x" * 2800)
    t.take()
    t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ + 2800)
    assert cc.cwnd == 3 * 1400 + 1400               # one SMSS for an ACK of two
    cc.ssthresh = cc.cwnd
    before = cc.cwnd
    t.write(b"y" * 1400)
    t.take()
    t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ + 4200)
    assert cc.cwnd == before                        # 1400 of 5600 acked: not yet
    t.write(b"z" * 4200)
    t.take()
    t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ + 8400)
    assert cc.cwnd == before + 1400                 # a cwnd's worth acked: + 1 SMSS


# ---------------------------------------------------------------------- SYN

def test_established_syn_in_window_challenge_ack(established):
    """RFC 9293 §3.10.7.4 fourth (RFC 5961 §4.2): a SYN in a synchronized state,
    whatever its sequence number, gets a challenge ACK and is dropped."""
    t = established
    assert t.send(flags=SYN, seq=REMOTE_SEQ + 10) == [ACK_NOW]
    assert t.conn.state is ESTABLISHED and t.events() == []


def test_established_syn_out_of_window_acked(established):
    """RFC 9293 §3.10.7.4 first: an out-of-window SYN fails the sequence test:
    <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>."""
    t = established
    assert t.send(flags=SYN, seq=REMOTE_ISS - 1000) == [ACK_NOW]
    assert t.conn.state is ESTABLISHED


def test_established_syn_ack_retransmitted_acked(established):
    """The peer's SYN,ACK again (our ACK was lost): old, unacceptable -> ACK,
    which is what the peer needs."""
    t = established
    assert t.send(flags=SYN | ACK, seq=REMOTE_ISS, ack=LOCAL_SEQ) == [ACK_NOW]
    assert t.conn.state is ESTABLISHED


def test_established_syn_in_window_without_rfc5961_resets():
    """RFC 9293 §3.10.7.4 fourth, RFC 793 behaviour (no RFC 5961): a SYN in the
    window is an error: send a reset, "connection reset" to the user, CLOSED."""
    t = Tcp.established(rfc5961=False)
    assert t.send(flags=SYN, seq=REMOTE_SEQ + 10) == [RECV._replace(flags=RST, seq=LOCAL_SEQ, window=0)]
    assert t.state is CLOSED and t.conn.error == "ECONNRESET"


# ---------------------------------------------------------------------- RST

def test_established_rst_exact(established):
    """RFC 9293 §3.10.7.4 second (RFC 5961 §3.2 check 2): RST at RCV.NXT ->
    "connection reset" to the user, queues flushed, CLOSED, TCB deleted; MUST-12:
    the user can tell an abort from a normal close."""
    t = established
    t.write(b"unsent?")
    t.take()
    assert t.send(flags=RST, seq=REMOTE_SEQ) == []
    assert t.state is CLOSED and t.entry is None
    assert t.conn.error == "ECONNRESET" and len(t.conn.sndq) == 0
    assert t.events() == [("error", "ECONNRESET"), ("closed", "rcv RST")]
    with pytest.raises(ConnectionResetError):
        t.read()
    with pytest.raises(ConnectionResetError):
        t.write(b"more")
    assert t.advance(100) == []


def test_established_rst_ack_exact(established):
    """RFC 9293 §3.10.7.4 second: the ACK bit on a RST changes nothing."""
    t = established
    assert t.send(flags=RST | ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ) == []
    assert t.conn.error == "ECONNRESET"


@pytest.mark.parametrize("offset", [1, 100, WINDOW - 1])
def test_established_rst_in_window_not_exact_challenge_ack(established, offset):
    """RFC 9293 §3.10.7.4 second, check 3 (RFC 5961 §3.2): in the window but not
    at RCV.NXT -> challenge ACK <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, drop."""
    t = established
    assert t.send(flags=RST, seq=REMOTE_SEQ + offset) == [ACK_NOW]
    assert t.conn.state is ESTABLISHED and t.events() == []


@pytest.mark.parametrize("offset", [-1, -1000, WINDOW, WINDOW + 5000])
def test_established_rst_out_of_window_dropped(established, offset):
    """RFC 9293 §3.10.7.4 first and second, check 1: RST outside the window ->
    silently dropped (no ACK, unlike other unacceptable segments)."""
    t = established
    assert t.send(flags=RST, seq=REMOTE_SEQ + offset) == []
    assert t.conn.state is ESTABLISHED


def test_established_rst_in_window_without_rfc5961_resets():
    """RFC 9293 §3.10.7.4 second, without RFC 5961: any RST in the window resets."""
    t = Tcp.established(rfc5961=False)
    assert t.send(flags=RST, seq=REMOTE_SEQ + 100) == []
    assert t.state is CLOSED and t.conn.error == "ECONNRESET"


def test_established_challenge_ack_rate_limited():
    """RFC 5961 §7 (and RFC 9293 §3.10.7.4's note on ACK throttling): challenge
    ACKs are throttled, per connection (Config.invalid_ratelimit, 500 ms by
    default, as Linux's tcp_invalid_ratelimit; see test_safety_challenge_ack.py
    for why not host-wide): one per 500 ms, renewed after that."""
    t = Tcp.established()
    assert t.send(flags=RST, seq=REMOTE_SEQ + 1) == [ACK_NOW]
    assert t.send(flags=SYN, seq=REMOTE_SEQ + 2) == []
    assert t.send(flags=RST, seq=REMOTE_SEQ + 3) == []
    t.now += 0.4
    assert t.send(flags=SYN, seq=REMOTE_SEQ + 3) == []
    assert t.stat("challenge_acks_suppressed") == 3
    t.now += 0.1
    assert t.send(flags=RST, seq=REMOTE_SEQ + 1) == [ACK_NOW]
    assert t.conn.state is ESTABLISHED


def test_established_challenge_ack_host_wide_limit():
    """RFC 5961 §7's host-wide limit, when a Config turns it on: at most
    challenge_ack_limit * 3/2 per second (each second's budget drawn from
    [limit/2, 3*limit/2), Linux's randomisation against CVE-2016-5696, so
    here 1 or 2); the budget is renewed the next second."""
    t = Tcp.established(challenge_ack_limit=2, invalid_ratelimit=0.0)
    got = []
    for i in range(4):
        got += t.send(flags=RST if i % 2 else SYN, seq=REMOTE_SEQ + 1 + i)
    assert got in ([ACK_NOW], [ACK_NOW, ACK_NOW])
    assert t.stat("challenge_acks_suppressed") == 4 - len(got)
    t.now += 1.0
    assert t.send(flags=RST, seq=REMOTE_SEQ + 1) == [ACK_NOW]
    assert t.conn.state is ESTABLISHED


# ---------------------------------------------------------------------- FIN

def test_established_fin(established):
    """RFC 9293 §3.10.7.4 eighth: FIN -> signal "connection closing", RCV.NXT
    over the FIN, ACK it, CLOSE-WAIT. The ACK's window keeps the right edge
    where it was (RCV.NXT+RCV.WND not reduced)."""
    t = established
    assert t.send(flags=FIN | ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ) == [acked(1, WINDOW - 1)]
    assert t.conn.state is CLOSE_WAIT
    assert kinds(t.events()) == ["eof"]
    assert t.read() == b""
    assert t.conn.error is None


def test_established_fin_with_data(established):
    """RFC 9293 §3.10.7.4 seventh and eighth: text first, then the FIN ("FIN
    implies PUSH")."""
    t = established
    assert t.send(data(b"bye", flags=FIN | ACK)) == [acked(4, WINDOW - 4)]
    assert t.conn.state is CLOSE_WAIT
    assert kinds(t.events()) == ["readable", "eof"]
    assert t.read() == b"bye"
    assert t.read() == b""


def test_established_fin_out_of_window_acked(established):
    """RFC 9293 §3.10.7.4 first: a FIN beyond the window is not acceptable."""
    t = established
    assert t.send(flags=FIN | ACK, seq=REMOTE_SEQ + WINDOW, ack=LOCAL_SEQ) == [ACK_NOW]
    assert t.conn.state is ESTABLISHED


def test_established_fin_without_ack_dropped(established):
    """RFC 9293 §3.10.7.4 fifth: a FIN without the ACK bit is dropped."""
    t = established
    assert t.send(flags=FIN, seq=REMOTE_SEQ) == []
    assert t.conn.state is ESTABLISHED


# -------------------------------------------------------------- user calls

def test_established_send(established):
    """RFC 9293 §3.10.2 SEND: data goes out with <SEQ=SND.NXT><ACK=RCV.NXT>, PSH
    on the last segment of what is buffered (MUST-61)."""
    t = established
    assert t.write(b"hello") == 5
    t.expect(flags=ACK | PSH, seq=LOCAL_SEQ, ack=REMOTE_SEQ, payload=b"hello")
    assert t.conn.snd_nxt == LOCAL_SEQ + 5


def test_established_send_segments_by_peer_mss(established):
    """MUST-14 (RFC 9293 §3.7.1): segments are no larger than the peer's MSS
    (1400 here); SHLD-28: full-sized when possible."""
    t = established
    t.write(b"x" * 2800)
    segs = t.take()
    assert [(s.seq, len(s.payload), s.flags) for s in segs] == [
        (LOCAL_SEQ, 1400, ACK), (LOCAL_SEQ + 1400, 1400, ACK | PSH)]


def test_established_nagle_holds_small_segment(established):
    """SHLD-7 (RFC 9293 §3.7.4, RFC 896): a small segment waits while data is
    outstanding; it goes when the ACK arrives."""
    t = established
    t.write(b"a")
    t.take()
    t.write(b"b")
    t.expect_nothing()
    assert t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ + 1) == [
        RECV._replace(flags=ACK | PSH, seq=LOCAL_SEQ + 1, ack=REMOTE_SEQ, payload=b"b")]


def test_established_nagle_can_be_disabled():
    """MUST-17 (RFC 9293 §3.7.4): the application can disable Nagle (TCP_NODELAY)."""
    t = Tcp.established(nagle=False)
    t.write(b"a")
    t.take()
    t.write(b"b")
    t.expect(flags=ACK | PSH, seq=LOCAL_SEQ + 1, ack=REMOTE_SEQ, payload=b"b")


def test_established_piggybacks_ack_on_data():
    """RFC 9293 §3.10.7.4 seventh: the acknowledgment "should be piggybacked on
    a segment being transmitted if possible": with delayed ACK on, data sent
    before the delayed-ACK timer carries the ACK, and no bare ACK follows."""
    t = Tcp.established(delayed_ack=True)
    assert t.send(data(b"ping")) == []
    t.write(b"pong")
    t.expect(flags=ACK | PSH, seq=LOCAL_SEQ, ack=REMOTE_SEQ + 4, window=WINDOW - 4, payload=b"pong")
    assert t.conn.t_delack is None
    assert t.advance(0.5) == []                 # no delayed ACK left to fire


def test_established_abort_sends_rst(established):
    """RFC 9293 §3.10.5 ABORT in ESTABLISHED: <SEQ=SND.NXT><CTL=RST> (synack also
    sets ACK, as Linux does), queues flushed, CLOSED."""
    t = established
    t.abort()
    t.expect(flags=RST | ACK, seq=LOCAL_SEQ, ack=REMOTE_SEQ)
    assert t.state is CLOSED and t.conn.error is None
    assert kinds(t.events()) == ["closed"]


def test_established_so_linger_zero_close_resets(established):
    """SO_LINGER {on, 0}: close() is an abort: RST, no FIN, no TIME-WAIT."""
    t = established
    t.conn.linger = 0
    t.close()
    t.expect(flags=RST | ACK, seq=LOCAL_SEQ, ack=REMOTE_SEQ)
    assert t.state is CLOSED and t.entry is None


def test_established_close_with_unread_data_resets(established):
    """SHLD-3 (RFC 9293 §3.6.1, RFC 2525 §2.17): closing with received data
    unread loses it, so the peer is told with a RST instead of a FIN."""
    t = established
    t.send(data(b"unread")).ignore()
    t.close()
    t.expect(flags=RST | ACK, seq=LOCAL_SEQ, ack=REMOTE_SEQ + 6, window=WINDOW - 6)
    assert t.state is CLOSED and t.entry is None


def test_established_close_with_unread_data_fin_when_disabled():
    """abort_on_unread_close=False: close() sends a FIN even with unread data."""
    t = Tcp.established(abort_on_unread_close=False)
    t.send(data(b"unread")).ignore()
    t.close()
    t.expect(flags=FIN | ACK, seq=LOCAL_SEQ, ack=REMOTE_SEQ + 6, window=WINDOW - 6)


def test_established_close_sends_fin_after_data(established):
    """RFC 9293 §3.10.4 CLOSE in ESTABLISHED: queued data first, then the FIN;
    FIN-WAIT-1 at once."""
    t = established
    t.write(b"last words")
    t.take()
    t.write(b"!")                               # held back by Nagle
    t.expect_nothing()
    t.close()
    assert t.conn.state.name == "FIN_WAIT_1"
    t.expect(flags=ACK | PSH | FIN, seq=LOCAL_SEQ + 10, ack=REMOTE_SEQ, payload=b"!")


# ------------------------------------------------------------ delayed ACK

def test_established_delayed_ack_single_segment():
    """SHLD-18, MUST-40 (RFC 9293 §3.8.6.3): one segment's ACK may wait, but less
    than 0.5 s (here 0.2 s)."""
    t = Tcp.established(delayed_ack=True)
    assert t.send(data(b"abc")) == []
    assert t.advance(0.199) == []
    assert t.advance(0.001) == [acked(3, WINDOW - 3)]


def test_established_delayed_ack_every_second_segment():
    """SHLD-19 / MUST-58 (RFC 9293 §3.8.6.3, §3.10.7.4): ACK at least every
    second (full-sized) segment: two segments, one ACK, at once."""
    t = Tcp.established(delayed_ack=True)
    assert t.send(data(b"a" * 1400)) == []
    assert t.send(data(b"b" * 1400, offset=1400)) == [acked(2800, WINDOW - 2800)]
    assert t.advance(1) == []


def test_established_delayed_ack_not_for_out_of_order():
    """RFC 5681 §4.2: an out-of-order segment is ACKed at once (a duplicate
    ACK), and so is the segment that fills the hole."""
    t = Tcp.established(delayed_ack=True)
    assert t.send(data(b"b", offset=1)) == [ACK_NOW]
    assert t.send(data(b"a")) == [acked(2, WINDOW - 2)]


def test_established_delayed_ack_fin_acked_at_once():
    """RFC 9293 §3.10.7.4 eighth: the FIN is acknowledged without delay."""
    t = Tcp.established(delayed_ack=True)
    assert t.send(flags=FIN | ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ) == [acked(1, WINDOW - 1)]


# ------------------------------------------------------------- URG

def test_established_urgent_signalled(established):
    """MUST-30/32/62 (RFC 9293 §3.8.5, §3.10.7.4 sixth): URG with SEG.UP: RCV.UP
    <- max(RCV.UP, SEG.SEQ+SEG.UP) (the pointer to the octet after the urgent
    data); the user is told once, with how much is urgent (MUST-33)."""
    t = established
    t.send(data(b"abcdef", flags=ACK | URG, urgent=10)).ignore()
    assert ("urgent", 10) in t.events()
    # the same urgent sequence continued: not signalled again
    t.send(data(b"ghij", offset=6, flags=ACK | URG, urgent=4)).ignore()
    assert not [e for e in t.events() if e[0] == "urgent"]
    assert t.conn.rcv_up == REMOTE_SEQ + 10
