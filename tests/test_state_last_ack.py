"""LAST-ACK (RFC 9293 §3.10.7.4): we closed after the peer did; waiting for the ACK of our FIN.

Fixture `last_ack`: CLOSE-WAIT + CLOSE. Our FIN is LOCAL_SEQ (SND.NXT =
LOCAL_SEQ + 1), RCV.NXT = REMOTE_SEQ + 1.
"""
import pytest

from harness import (ACK, CLOSED, FIN, LAST_ACK, LOCAL_SEQ, PSH, RECV, REMOTE_SEQ, RST, SYN, WINDOW,
                     Tcp, kinds)

RCV_NXT = REMOTE_SEQ + 1
ACK_NOW = RECV._replace(flags=ACK, seq=LOCAL_SEQ + 1, ack=RCV_NXT, window=WINDOW - 1)
OUR_FIN = RECV._replace(flags=FIN | ACK, seq=LOCAL_SEQ, ack=RCV_NXT, window=WINDOW - 1)


def test_last_ack_ack_of_fin(last_ack):
    """RFC 9293 §3.10.7.4 fifth, LAST-ACK: "If our FIN is now acknowledged,
    delete the TCB, enter the CLOSED state" -- no TIME-WAIT for the passive
    closer; nothing is sent; MUST-12: a normal close, no error."""
    t = last_ack
    assert t.send(flags=ACK, seq=RCV_NXT, ack=LOCAL_SEQ + 1) == []
    assert t.state is CLOSED and t.entry is None
    assert t.conn.error is None
    assert t.events() == [("closed", "rcv ACK of FIN")]
    assert t.advance(1000) == []


def test_last_ack_ack_not_of_fin(last_ack):
    """RFC 9293 §3.10.7.4 fifth: an ACK below our FIN leaves us in LAST-ACK."""
    t = last_ack
    assert t.send(flags=ACK, seq=RCV_NXT, ack=LOCAL_SEQ) == []
    assert t.conn.state is LAST_ACK


def test_last_ack_ack_too_new(last_ack):
    """RFC 9293 §3.10.7.4 fifth: SEG.ACK > SND.NXT -> ACK, drop."""
    t = last_ack
    assert t.send(flags=ACK, seq=RCV_NXT, ack=LOCAL_SEQ + 2) == [ACK_NOW]
    assert t.conn.state is LAST_ACK


def test_last_ack_fin_retransmitted_acked(last_ack):
    """RFC 9293 §3.10.7.4 first: the peer's FIN again: ACK, stay."""
    t = last_ack
    assert t.send(flags=FIN | ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ) == [ACK_NOW]
    assert t.conn.state is LAST_ACK


def test_last_ack_data_ignored(last_ack):
    """RFC 9293 §3.10.7.4 seventh, LAST-ACK: ignore the segment text."""
    t = last_ack
    assert t.send(flags=ACK | PSH, seq=RCV_NXT, ack=LOCAL_SEQ, payload=b"late") == []
    assert t.conn.state is LAST_ACK


def test_last_ack_rst_exact(last_ack):
    """RFC 9293 §3.10.7.4 second, LAST-ACK: CLOSED, TCB deleted, no error."""
    t = last_ack
    assert t.send(flags=RST, seq=RCV_NXT) == []
    assert t.state is CLOSED and t.conn.error is None
    assert kinds(t.events()) == ["closed"]


def test_last_ack_rst_not_exact_challenge_ack(last_ack):
    """RFC 5961 §3.2 (RFC 9293 §3.10.7.4 second, check 3)."""
    t = last_ack
    assert t.send(flags=RST, seq=RCV_NXT + 1) == [ACK_NOW]
    assert t.conn.state is LAST_ACK


def test_last_ack_rst_out_of_window(last_ack):
    """RFC 9293 §3.10.7.4 second, check 1."""
    t = last_ack
    assert t.send(flags=RST, seq=RCV_NXT + WINDOW) == []
    assert t.conn.state is LAST_ACK


def test_last_ack_syn_challenge_ack(last_ack):
    """RFC 9293 §3.10.7.4 fourth (RFC 5961 §4)."""
    t = last_ack
    assert t.send(flags=SYN, seq=RCV_NXT + 5) == [ACK_NOW]
    assert t.conn.state is LAST_ACK


def test_last_ack_timer_retransmits_fin(last_ack):
    """RFC 9293 §3.10.8: our FIN is retransmitted with backoff."""
    t = last_ack
    assert t.advance_to(1) == [OUR_FIN]
    assert t.advance_to(3) == [OUR_FIN]
    assert t.conn.state is LAST_ACK


def test_last_ack_timer_gives_up():
    """MUST-20: R2 retransmissions of the FIN, then CLOSED (ETIMEDOUT)."""
    t = Tcp.last_ack(r2=1)
    assert t.advance_to(1) == [OUR_FIN]
    assert t.advance_to(3) == []
    assert t.state is CLOSED and t.conn.error == "ETIMEDOUT"


def test_last_ack_abort_sends_nothing(last_ack):
    """RFC 9293 §3.10.5 ABORT in LAST-ACK: "Respond with ok and delete the TCB"
    -- no RST."""
    t = last_ack
    t.abort()
    t.expect_nothing()
    assert t.state is CLOSED and t.entry is None


def test_last_ack_send_refused(last_ack):
    """RFC 9293 §3.10.2 SEND in LAST-ACK: "error: connection closing"."""
    with pytest.raises(BrokenPipeError):
        last_ack.write(b"x")
