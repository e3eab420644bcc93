"""CLOSE-WAIT (RFC 9293 §3.10.7.4): the peer's FIN is received; we may still send.

Fixture `close_wait`: ESTABLISHED + FIN. RCV.NXT = REMOTE_SEQ + 1 (past the
FIN), SND.NXT = LOCAL_SEQ; the right edge of our window stays at
REMOTE_SEQ + WINDOW, so we offer WINDOW - 1.
"""
import pytest

from harness import (ACK, CLOSE_WAIT, CLOSED, FIN, LAST_ACK, LOCAL_SEQ, PSH, RECV, REMOTE_SEQ, RST,
                     SYN, URG, WINDOW, kinds)

RCV_NXT = REMOTE_SEQ + 1
ACK_NOW = RECV._replace(flags=ACK, seq=LOCAL_SEQ, ack=RCV_NXT, window=WINDOW - 1)


def test_close_wait_fin_retransmitted_acked(close_wait):
    """RFC 9293 §3.10.7.4 first: the peer's FIN again (our ACK was lost) is an
    old duplicate: ACK it, drop it; the state does not change."""
    t = close_wait
    assert t.send(flags=FIN | ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ) == [ACK_NOW]
    assert t.conn.state is CLOSE_WAIT
    assert t.events() == []


def test_close_wait_data_ignored(close_wait):
    """RFC 9293 §3.10.7.4 seventh, CLOSE-WAIT: "This should not occur since a FIN
    has been received from the remote side. Ignore the segment text."""
    t = close_wait
    assert t.send(flags=ACK | PSH, seq=RCV_NXT, ack=LOCAL_SEQ, payload=b"zombie") == []
    assert t.conn.readable == 0 and t.conn.rcv_nxt == RCV_NXT
    assert t.read() == b""


def test_close_wait_urg_ignored(close_wait):
    """RFC 9293 §3.10.7.4 sixth, CLOSE-WAIT: ignore the URG."""
    t = close_wait
    t.send(flags=ACK | URG, seq=RCV_NXT, ack=LOCAL_SEQ, urgent=5)
    assert "urgent" not in kinds(t.events())


def test_close_wait_ack_of_data(close_wait):
    """RFC 9293 §3.10.7.4 fifth, CLOSE-WAIT: "Do the same processing as for the
    ESTABLISHED state": we can still send and have it acknowledged."""
    t = close_wait
    t.write(b"reply")
    t.expect(ACK_NOW._replace(flags=ACK | PSH, payload=b"reply"))
    assert t.send(flags=ACK, seq=RCV_NXT, ack=LOCAL_SEQ + 5) == []
    assert t.conn.snd_una == LOCAL_SEQ + 5
    assert kinds(t.events()) == ["writable"]


def test_close_wait_ack_too_new(close_wait):
    """RFC 9293 §3.10.7.4 fifth: SEG.ACK > SND.NXT -> ACK, drop."""
    t = close_wait
    assert t.send(flags=ACK, seq=RCV_NXT, ack=LOCAL_SEQ + 3) == [ACK_NOW]


def test_close_wait_out_of_window_acked(close_wait):
    """RFC 9293 §3.10.7.4 first."""
    t = close_wait
    assert t.send(flags=ACK, seq=RCV_NXT + WINDOW, ack=LOCAL_SEQ, payload=b"x") == [ACK_NOW]


def test_close_wait_rst_exact(close_wait):
    """RFC 9293 §3.10.7.4 second, CLOSE-WAIT: "connection reset", CLOSED. The
    already-received EOF does not hide the reset (MUST-12)."""
    t = close_wait
    assert t.send(flags=RST, seq=RCV_NXT) == []
    assert t.state is CLOSED and t.conn.error == "ECONNRESET"
    assert t.events() == [("error", "ECONNRESET"), ("closed", "rcv RST")]
    with pytest.raises(ConnectionResetError):
        t.write(b"x")


def test_close_wait_rst_not_exact_challenge_ack(close_wait):
    """RFC 5961 §3.2 (RFC 9293 §3.10.7.4 second, check 3)."""
    t = close_wait
    assert t.send(flags=RST, seq=RCV_NXT + 1) == [ACK_NOW]
    assert t.conn.state is CLOSE_WAIT


def test_close_wait_rst_at_fin_is_old(close_wait):
    """RFC 9293 §3.10.7.4 second, check 1: a RST at the FIN's sequence number
    (RCV.NXT - 1) is outside the window: dropped."""
    t = close_wait
    assert t.send(flags=RST, seq=REMOTE_SEQ) == []
    assert t.conn.state is CLOSE_WAIT


def test_close_wait_syn_challenge_ack(close_wait):
    """RFC 9293 §3.10.7.4 fourth (RFC 5961 §4)."""
    t = close_wait
    assert t.send(flags=SYN, seq=RCV_NXT + 100) == [ACK_NOW]
    assert t.conn.state is CLOSE_WAIT


def test_close_wait_close_sends_fin(close_wait):
    """RFC 9293 §3.10.4 CLOSE in CLOSE-WAIT: queued SENDs first, then a FIN;
    LAST-ACK."""
    t = close_wait
    t.close()
    t.expect(ACK_NOW._replace(flags=FIN | ACK))
    assert t.conn.state is LAST_ACK


def test_close_wait_close_after_data_fin_follows_data(close_wait):
    """RFC 9293 §3.10.4: "Queue this request until all preceding SENDs have been
    segmentized; then send a FIN segment"."""
    t = close_wait
    t.write(b"a")
    t.take()
    t.write(b"b")                                 # Nagle holds it
    t.close()
    t.expect(ACK_NOW._replace(flags=FIN | ACK | PSH, seq=LOCAL_SEQ + 1, payload=b"b"))


def test_close_wait_timer_retransmits_data(close_wait):
    """RFC 9293 §3.10.8 in CLOSE-WAIT: unacknowledged data is retransmitted."""
    t = close_wait
    t.write(b"data")
    t.take()
    assert t.advance_to(1) == [ACK_NOW._replace(flags=ACK | PSH, payload=b"data")]


def test_close_wait_keeps_no_timer_when_idle(close_wait):
    """Nothing outstanding: CLOSE-WAIT lasts as long as the application wants."""
    t = close_wait
    assert t.next_deadline() is None
    assert t.advance(7200) == []
    assert t.conn.state is CLOSE_WAIT
