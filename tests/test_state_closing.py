"""CLOSING (RFC 9293 §3.10.7.4): simultaneous close, both FINs sent, ours unacknowledged.

Fixture `closing`: FIN-WAIT-1 + the peer's FIN (not acknowledging ours).
Our FIN is LOCAL_SEQ (SND.NXT = LOCAL_SEQ + 1), RCV.NXT = REMOTE_SEQ + 1.
"""
from harness import (ACK, CLOSED, CLOSING, FIN, LOCAL_SEQ, PSH, RECV, REMOTE_SEQ, RST, SYN,
                     TIME_WAIT, WINDOW, Tcp, kinds)

RCV_NXT = REMOTE_SEQ + 1
ACK_NOW = RECV._replace(flags=ACK, seq=LOCAL_SEQ + 1, ack=RCV_NXT, window=WINDOW - 1)
OUR_FIN = RECV._replace(flags=FIN | ACK, seq=LOCAL_SEQ, ack=RCV_NXT, window=WINDOW - 1)


def test_closing_ack_of_fin(closing):
    """RFC 9293 §3.10.7.4 fifth, CLOSING: "if the ACK acknowledges our FIN, then
    enter the TIME-WAIT state"; nothing is sent."""
    t = closing
    assert t.send(flags=ACK, seq=RCV_NXT, ack=LOCAL_SEQ + 1) == []
    assert t.state is TIME_WAIT
    assert t.entry.deadline == t.now + 2 * t.config.msl


def test_closing_simultaneous_close_end_to_end():
    """RFC 9293 §3.6 Figure 13: both sides CLOSE at once; each goes FIN-WAIT-1 ->
    CLOSING -> TIME-WAIT."""
    from synack.engine.host import Host
    from synack.engine.isn import FixedIsn
    a = Host(["192.0.2.1"], Tcp().config, secret=bytes(32), isn=FixedIsn(100))
    b = Host(["192.0.2.2"], Tcp().config, secret=bytes(32), isn=FixedIsn(300))
    b.listen(0.0, 80)
    ca = a.connect(0.0, "192.0.2.2", 80, local_port=1000)

    def pump(now):
        moved = True
        while moved:
            moved = False
            for src, dst, s in a.take_outbox():
                b.receive(now, src, dst, s)
                moved = True
            for src, dst, s in b.take_outbox():
                a.receive(now, src, dst, s)
                moved = True
    pump(0.0)
    cb = b.listeners[("192.0.2.2", 80)].accept()
    ca.shutdown(0.1, "wr")
    cb.shutdown(0.1, "wr")
    fin_a, fin_b = a.take_outbox(), b.take_outbox()
    assert ca.state is cb.state and ca.state.name == "FIN_WAIT_1"
    for src, dst, s in fin_a:
        b.receive(0.2, src, dst, s)
    for src, dst, s in fin_b:
        a.receive(0.2, src, dst, s)
    assert ca.state is CLOSING and cb.state is CLOSING
    pump(0.3)
    assert ca.state is TIME_WAIT and cb.state is TIME_WAIT


def test_closing_ack_not_of_fin_ignored(closing):
    """RFC 9293 §3.10.7.4 fifth, CLOSING: "otherwise, ignore the segment"."""
    t = closing
    assert t.send(flags=ACK, seq=RCV_NXT, ack=LOCAL_SEQ) == []
    assert t.conn.state is CLOSING


def test_closing_fin_retransmitted_acked(closing):
    """RFC 9293 §3.10.7.4 first: the peer's FIN again is old: ACK, drop, stay."""
    t = closing
    assert t.send(flags=FIN | ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ) == [ACK_NOW]
    assert t.conn.state is CLOSING


def test_closing_data_ignored(closing):
    """RFC 9293 §3.10.7.4 seventh, CLOSING: ignore the segment text."""
    t = closing
    assert t.send(flags=ACK | PSH, seq=RCV_NXT, ack=LOCAL_SEQ, payload=b"??") == []
    assert t.conn.readable == 0


def test_closing_rst_exact(closing):
    """RFC 9293 §3.10.7.4 second, CLOSING: "enter the CLOSED state, delete the
    TCB, and return" -- no "connection reset" signal for this state."""
    t = closing
    assert t.send(flags=RST, seq=RCV_NXT) == []
    assert t.state is CLOSED and t.entry is None
    assert t.conn.error is None
    assert kinds(t.events()) == ["closed"]


def test_closing_rst_not_exact_challenge_ack(closing):
    """RFC 5961 §3.2 (RFC 9293 §3.10.7.4 second, check 3)."""
    t = closing
    assert t.send(flags=RST, seq=RCV_NXT + 2) == [ACK_NOW]
    assert t.conn.state is CLOSING


def test_closing_syn_challenge_ack(closing):
    """RFC 9293 §3.10.7.4 fourth (RFC 5961 §4)."""
    t = closing
    assert t.send(flags=SYN, seq=RCV_NXT) == [ACK_NOW]
    assert t.conn.state is CLOSING


def test_closing_timer_retransmits_fin(closing):
    """RFC 9293 §3.10.8: our unacknowledged FIN is retransmitted."""
    t = closing
    assert t.advance_to(1) == [OUR_FIN]
    assert t.advance_to(3) == [OUR_FIN]
    assert t.conn.state is CLOSING


def test_closing_abort_sends_nothing(closing):
    """RFC 9293 §3.10.5 ABORT in CLOSING: delete the TCB, no RST."""
    t = closing
    t.abort()
    t.expect_nothing()
    assert t.state is CLOSED
