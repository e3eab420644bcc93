"""Retransmission in the synchronized states: RFC 9293 §3.8.1-3.8.3, §3.10.8;
RFC 6298 (RTO, backoff, Karn); RFC 5681 (loss recovery).

All from the `established` fixture: the handshake at t = 0 gave an RTT
sample of 0, so RTO = max(0 + G, RTO.min) = 1 s.
"""
import pytest

from harness import (ACK, CLOSED, ESTABLISHED, LOCAL_SEQ, PSH, RECV, REMOTE_SEQ, Tcp, kinds)


def seg(payload: bytes, off: int = 0, flags: int = ACK | PSH):
    return RECV._replace(flags=flags, seq=LOCAL_SEQ + off, ack=REMOTE_SEQ, payload=payload)


def ack(n: int, **kw):
    return dict(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ + n, **kw)


def test_retransmission_rto_backoff(established):
    """RFC 6298 (5.4)-(5.6), MUST-19: on expiry, resend the earliest
    unacknowledged segment, double the RTO (capped at RTO.max = 60 s), restart
    the timer: 1, 2, 4, 8, 16, 32, 60, 60 s between copies."""
    t = established
    t.write(b"hello")
    t.expect(seg(b"hello"))
    when = 0
    for gap in (1, 2, 4, 8, 16, 32, 60, 60):
        when += gap
        assert t.advance_to(when - 0.001) == []
        assert t.advance_to(when) == [seg(b"hello")], f"retransmission due {gap} s after the previous one"


def test_retransmission_r2_gives_up_with_etimedout(established):
    """MUST-20 (RFC 9293 §3.8.3): after R2 (15) retransmissions the connection
    is closed and the user told (ETIMEDOUT); no RST is sent."""
    t = established
    t.write(b"hello")
    t.take()
    expiries = [1, 3, 7, 15, 31, 63] + [63 + 60 * k for k in range(1, 11)]
    for when in expiries[:15]:
        assert t.advance_to(when) == [seg(b"hello")]
    assert t.conn.state is ESTABLISHED
    assert t.advance_to(expiries[15]) == []
    assert t.state is CLOSED and t.conn.error == "ETIMEDOUT"
    assert t.events()[-2:] == [("error", "ETIMEDOUT"), ("closed", "retransmissions exhausted (R2)")]
    with pytest.raises(TimeoutError):
        t.read()


def test_retransmission_r2_configurable():
    """MUST-21: R2 can be set per connection."""
    t = Tcp.established(r2=2)
    t.write(b"x")
    t.take()
    assert t.advance_to(1) == [seg(b"x")]
    assert t.advance_to(3) == [seg(b"x")]
    assert t.advance_to(7) == []
    assert t.conn.error == "ETIMEDOUT"


def test_retransmission_r1_advice_counted(established):
    """MUST-20: at R1 (3) retransmissions, negative advice to IP (counted)."""
    t = established
    t.write(b"x")
    t.take()
    t.advance_to(7).ignore()
    assert t.stat("r1_reached") == 1


def test_retransmission_ack_resets_retry_count():
    """MUST-20: the count is of retransmissions of the same data; progress
    starts it again (so R2 measures a stall, not a lifetime)."""
    t = Tcp.established(r2=2)
    t.write(b"a")
    t.take()
    t.advance_to(1).ignore()
    t.advance_to(3).ignore()
    t.send(**ack(1))
    t.write(b"b")
    t.take()
    assert t.advance_to(3 + 4) == [seg(b"b", 1)]          # backed-off RTO kept (no new sample)
    assert t.conn.state is ESTABLISHED


def test_retransmission_karn_no_sample_from_retransmitted_segment(established):
    """MUST-18 Karn (RFC 6298 §3): the ACK of a retransmitted segment gives no
    RTT sample (SRTT stays what the handshake measured)."""
    t = established
    srtt, rttvar = t.conn.rtt.srtt, t.conn.rtt.rttvar
    t.write(b"a")
    t.take()
    t.advance_to(1.0).ignore()                  # retransmitted
    t.now = 1.5
    t.send(**ack(1))
    assert (t.conn.rtt.srtt, t.conn.rtt.rttvar) == (srtt, rttvar)


def test_retransmission_backed_off_rto_kept_until_new_sample(established):
    """RFC 6298 §5 (after (5.7)) and Karn's algorithm: the backed-off RTO stays
    until a new RTT measurement -- which only new, never retransmitted data can
    give -- collapses it."""
    t = established
    t.write(b"a")
    t.take()
    t.advance_to(1.0).ignore()                  # RTO 1 s expires: RTO <- 2 s
    t.now = 1.5
    t.send(**ack(1))                   # no sample (Karn)
    t.write(b"b")
    t.expect(seg(b"b", 1))
    assert t.advance_to(3.499) == []
    assert t.advance_to(3.5) == [seg(b"b", 1)]          # 2 s, not 1 s
    t.now = 3.6
    t.send(**ack(2))                   # still a retransmission: no sample
    t.write(b"c")
    t.take()
    t.now = 3.7
    t.send(**ack(3))                   # first-transmission ACK: a sample of 0.1 s
    assert t.conn.rtt.srtt == pytest.approx(0.0125)         # 7/8 * 0 + 1/8 * 0.1
    assert t.conn.rtt.current() == 1.0                  # collapsed to RTO.min


def test_retransmission_rtt_sample_per_flight(established):
    """RFC 6298 §3 and (2.2)/(2.3): a non-retransmitted segment's ACK updates
    SRTT = 7/8 SRTT + 1/8 R and RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|."""
    t = established
    t.write(b"a")
    t.take()
    t.now = 0.4
    t.send(**ack(1))
    assert t.conn.rtt.rttvar == pytest.approx(0.1)
    assert t.conn.rtt.srtt == pytest.approx(0.05)
    assert t.conn.rtt.rto == 1.0                         # RTO.min (RFC 6298 (2.4))


def test_retransmission_rto_goes_back_one_segment_at_a_time(established):
    """RFC 6298 (5.4) and RFC 5681 §3.1: after an RTO only the earliest segment
    is resent (cwnd = 1 SMSS); each ACK lets the next one go."""
    t = established
    t.write(b"x" * 2800)
    t.take()
    assert t.advance_to(1) == [seg(b"x" * 1400, flags=ACK)]
    assert t.conn.cc.cwnd == 1400
    assert t.send(**ack(1400)) == [seg(b"x" * 1400, 1400)]


def test_retransmission_fast_retransmit_on_three_dupacks(established):
    """MUST-19, RFC 5681 §3.2: the third duplicate ACK retransmits the missing
    segment at once, without waiting for the RTO."""
    t = established
    t.conn.nodelay = True
    t.write(b"x" * 4200)
    assert len(t.take()) == 3
    assert t.send(**ack(0)) == []
    assert t.send(**ack(0)) == []
    assert t.send(**ack(0)) == [seg(b"x" * 1400, flags=ACK)]
    assert t.stat("fast_retransmits") == 1


def test_retransmission_user_timeout(established):
    """RFC 9293 §3.10.8 USER TIMEOUT (MUST-20's alternative, RFC 5482): data
    unacknowledged for user_timeout seconds -> "connection aborted due to user
    timeout" (ETIMEDOUT), at that time, not at a later RTO."""
    t = Tcp.established(user_timeout=5.0)
    t.write(b"data")
    t.take()
    assert t.advance_to(1) == [seg(b"data")]
    assert t.advance_to(3) == [seg(b"data")]
    assert t.advance_to(4.999) == []
    assert t.conn.state is ESTABLISHED
    assert t.advance_to(5.0) == []
    assert t.state is CLOSED and t.conn.error == "ETIMEDOUT"
    assert kinds(t.events())[-2:] == ["error", "closed"]


def test_retransmission_user_timeout_counts_from_last_progress():
    """The user timeout measures time without progress: an ACK of part of the
    data restarts it."""
    t = Tcp.established(user_timeout=5.0, nagle=False)
    t.write(b"ab")
    t.take()
    t.now = 4.0
    t.send(**ack(1))
    assert t.advance_to(8.999) == [seg(b"b", 1), seg(b"b", 1)]     # at 5 and 7
    assert t.conn.state is ESTABLISHED
    t.advance_to(9.0)
    assert t.conn.error == "ETIMEDOUT"


def test_retransmission_stops_when_all_acked(established):
    """RFC 6298 (5.2): all data acknowledged -> timer off; no retransmission."""
    t = established
    t.write(b"abc")
    t.take()
    t.send(**ack(3))
    assert t.next_deadline() is None


def test_retransmission_sends_no_new_data_beyond_the_window(established):
    """RFC 6298 (5.4) resends the earliest unacknowledged segment; new data
    stays within SND.UNA + SND.WND (RFC 9293 §3.8.6, SHLD-15): with a 100-octet
    window the retransmission is those 100 octets, not a full MSS. (The first
    100 octets wait for the override timeout of sender SWS avoidance, RFC 1122
    §4.2.3.4, which applies with nothing outstanding too.)"""
    t = established
    t.send(**ack(0, window=100))
    t.write(b"x" * 3000)
    assert t.take() == []
    assert t.advance_to(1.0) == [seg(b"x" * 100, flags=ACK)]
    assert t.advance_to(2.0) == [seg(b"x" * 100, flags=ACK)]
    assert t.conn.snd_nxt == LOCAL_SEQ + 100
