"""FIN-WAIT-1 (RFC 9293 §3.10.7.4): our FIN is sent and not yet acknowledged.

Fixture `fin_wait_1`: ESTABLISHED + shutdown(SHUT_WR) (RFC 9293's CLOSE, a
half-close: the application can still read). Our FIN occupies LOCAL_SEQ, so
SND.NXT = LOCAL_SEQ + 1; RCV.NXT = REMOTE_SEQ.
"""
import pytest

from harness import (ACK, CLOSED, CLOSING, FIN, FIN_WAIT_1, FIN_WAIT_2, LOCAL_SEQ, PSH, RECV,
                     REMOTE_SEQ, RST, SYN, TIME_WAIT, WINDOW, Tcp, kinds)

ACK_NOW = RECV._replace(flags=ACK, seq=LOCAL_SEQ + 1, ack=REMOTE_SEQ)
OUR_FIN = RECV._replace(flags=FIN | ACK, seq=LOCAL_SEQ, ack=REMOTE_SEQ)


def test_fin_wait_1_ack_of_fin(fin_wait_1):
    """RFC 9293 §3.10.7.4 fifth, FIN-WAIT-1: "if the FIN segment is now
    acknowledged, then enter FIN-WAIT-2". Nothing is sent."""
    t = fin_wait_1
    assert t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ + 1) == []
    assert t.conn.state is FIN_WAIT_2
    assert t.conn.t_rexmt is None
    assert t.events() == []


def test_fin_wait_1_ack_of_data_not_fin():
    """RFC 9293 §3.10.7.4 fifth: an ACK of the data before our FIN leaves us in
    FIN-WAIT-1, the FIN still to be acknowledged."""
    t = Tcp.established()
    t.write(b"data")
    t.shutdown("wr")
    assert [(s.flags, s.seq) for s in t.take()] == [(ACK | PSH, LOCAL_SEQ), (FIN | ACK, LOCAL_SEQ + 4)]
    assert t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ + 4) == []
    assert t.conn.state is FIN_WAIT_1
    assert t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ + 5) == []
    assert t.conn.state is FIN_WAIT_2


def test_fin_wait_1_fin(fin_wait_1):
    """RFC 9293 §3.10.7.4 eighth, FIN-WAIT-1: a FIN that does not acknowledge our
    FIN -> CLOSING (simultaneous close, §3.6 Figure 13), ACK it."""
    t = fin_wait_1
    assert t.send(flags=FIN | ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ) == [
        ACK_NOW._replace(ack=REMOTE_SEQ + 1, window=WINDOW - 1)]
    assert t.conn.state is CLOSING
    assert kinds(t.events()) == ["eof"]


def test_fin_wait_1_fin_ack_goes_to_time_wait(fin_wait_1):
    """RFC 9293 §3.10.7.4 eighth: "If our FIN has been ACKed (perhaps in this
    segment), then enter TIME-WAIT" -- directly, without FIN-WAIT-2."""
    t = fin_wait_1
    assert t.send(flags=FIN | ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ + 1) == [
        ACK_NOW._replace(ack=REMOTE_SEQ + 1, window=WINDOW - 1)]
    assert t.state is TIME_WAIT
    assert [(o.value, n.value) for _, o, n, _ in t.conn.transitions[-1:]] == [("FIN_WAIT_1", "TIME_WAIT")]


def test_fin_wait_1_data(fin_wait_1):
    """RFC 9293 §3.10.7.4 seventh, FIN-WAIT-1: text is still delivered (the peer's
    direction is open) and acknowledged."""
    t = fin_wait_1
    assert t.send(flags=ACK | PSH, seq=REMOTE_SEQ, ack=LOCAL_SEQ, payload=b"more") == [
        ACK_NOW._replace(ack=REMOTE_SEQ + 4, window=WINDOW - 4)]
    assert t.read() == b"more"
    assert t.conn.state is FIN_WAIT_1


def test_fin_wait_1_data_out_of_window(fin_wait_1):
    """RFC 9293 §3.10.7.4 first: unacceptable -> ACK, drop."""
    t = fin_wait_1
    assert t.send(flags=ACK, seq=REMOTE_SEQ + WINDOW, ack=LOCAL_SEQ, payload=b"x") == [ACK_NOW]


def test_fin_wait_1_data_after_close_resets():
    """SHLD-3 (RFC 9293 §3.6.1): after a full close() nobody will read, so new
    data is answered with a RST and the connection is gone. The RST is
    <SEQ=SEG.ACK>, as Linux sends it (tcp_v4_send_reset for the segment; the
    shared packetdrill script user_timeout.pkt expects `R 1:1(0)` with our FIN
    at 1 unacknowledged). This test used to expect <SEQ=SND.NXT> (one past our
    FIN), which a peer that has not yet received the FIN would find outside
    its window (RFC 5961 §3) and ignore."""
    t = Tcp.established()
    t.close()
    t.take()
    assert t.send(flags=ACK | PSH, seq=REMOTE_SEQ, ack=LOCAL_SEQ, payload=b"late") == [
        RECV._replace(flags=RST, seq=LOCAL_SEQ, window=0)]
    assert t.state is CLOSED and t.entry is None


def test_fin_wait_1_rst_exact(fin_wait_1):
    """RFC 9293 §3.10.7.4 second, FIN-WAIT-1: "connection reset", CLOSED."""
    t = fin_wait_1
    assert t.send(flags=RST, seq=REMOTE_SEQ) == []
    assert t.state is CLOSED and t.conn.error == "ECONNRESET"
    assert t.events() == [("error", "ECONNRESET"), ("closed", "rcv RST")]


def test_fin_wait_1_rst_not_exact_challenge_ack(fin_wait_1):
    """RFC 5961 §3.2 (RFC 9293 §3.10.7.4 second, check 3)."""
    t = fin_wait_1
    assert t.send(flags=RST, seq=REMOTE_SEQ + 1) == [ACK_NOW]
    assert t.conn.state is FIN_WAIT_1


def test_fin_wait_1_rst_out_of_window(fin_wait_1):
    """RFC 9293 §3.10.7.4 second, check 1: silently dropped."""
    t = fin_wait_1
    assert t.send(flags=RST, seq=REMOTE_SEQ - 1) == []
    assert t.conn.state is FIN_WAIT_1


def test_fin_wait_1_syn_challenge_ack(fin_wait_1):
    """RFC 9293 §3.10.7.4 fourth (RFC 5961 §4)."""
    t = fin_wait_1
    assert t.send(flags=SYN, seq=REMOTE_SEQ) == [ACK_NOW]
    assert t.conn.state is FIN_WAIT_1


def test_fin_wait_1_ack_too_new(fin_wait_1):
    """RFC 9293 §3.10.7.4 fifth: SEG.ACK > SND.NXT -> ACK, drop."""
    t = fin_wait_1
    assert t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ + 2) == [ACK_NOW]
    assert t.conn.state is FIN_WAIT_1


def test_fin_wait_1_timer_retransmits_fin(fin_wait_1):
    """RFC 9293 §3.10.8, RFC 6298 (5.4-5.6): the FIN is retransmitted with
    backoff (1, 2, 4 s ...)."""
    t = fin_wait_1
    assert t.advance_to(1) == [OUR_FIN]
    assert t.advance_to(3 - 0.001) == []
    assert t.advance_to(3) == [OUR_FIN]
    assert t.advance_to(7) == [OUR_FIN]
    assert t.conn.state is FIN_WAIT_1


def test_fin_wait_1_timer_gives_up():
    """MUST-20 (RFC 9293 §3.8.3): after R2 retransmissions of the FIN, the
    connection is closed and the user is told (ETIMEDOUT)."""
    t = Tcp.fin_wait_1(r2=2)
    assert t.advance_to(1) == [OUR_FIN]
    assert t.advance_to(3) == [OUR_FIN]
    assert t.advance_to(7) == []
    assert t.state is CLOSED and t.conn.error == "ETIMEDOUT"


def test_fin_wait_1_close_sends_no_second_fin(fin_wait_1):
    """RFC 9293 §3.10.4 CLOSE in FIN-WAIT-1: "ok" is acceptable "as long as a
    second FIN is not emitted"."""
    t = fin_wait_1
    t.close()
    t.expect_nothing()
    assert t.conn.state is FIN_WAIT_1


def test_fin_wait_1_send_refused(fin_wait_1):
    """RFC 9293 §3.10.2 SEND in FIN-WAIT-1: "error: connection closing" (EPIPE)."""
    t = fin_wait_1
    with pytest.raises(BrokenPipeError):
        t.write(b"x")


def test_fin_wait_1_abort_sends_rst(fin_wait_1):
    """RFC 9293 §3.10.5 ABORT in FIN-WAIT-1: <SEQ=SND.NXT><CTL=RST>."""
    t = fin_wait_1
    t.abort()
    t.expect(flags=RST | ACK, seq=LOCAL_SEQ + 1, ack=REMOTE_SEQ)
    assert t.state is CLOSED
