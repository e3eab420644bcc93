"""FIN-WAIT-2 (RFC 9293 §3.10.7.4): our FIN is acknowledged; the peer may still send.

Fixture `fin_wait_2`: FIN-WAIT-1 + ACK of our FIN, after shutdown(SHUT_WR).
SND.NXT = SND.UNA = LOCAL_SEQ + 1; RCV.NXT = REMOTE_SEQ.
"""
from harness import (ACK, CLOSED, FIN, FIN_WAIT_2, LOCAL_SEQ, PSH, RECV, REMOTE_SEQ, RST, SYN,
                     TIME_WAIT, WINDOW, Tcp, kinds)

ACK_NOW = RECV._replace(flags=ACK, seq=LOCAL_SEQ + 1, ack=REMOTE_SEQ)


def test_fin_wait_2_fin(fin_wait_2):
    """RFC 9293 §3.10.7.4 eighth, FIN-WAIT-2: FIN -> ACK it, TIME-WAIT, start the
    time-wait timer, turn off the other timers."""
    t = fin_wait_2
    assert t.send(flags=FIN | ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ + 1) == [
        ACK_NOW._replace(ack=REMOTE_SEQ + 1, window=WINDOW - 1)]
    assert t.state is TIME_WAIT
    assert t.entry.deadline == t.now + 2 * t.config.msl
    assert kinds(t.events()) == ["eof"]
    assert t.read() == b""


def test_fin_wait_2_fin_with_data(fin_wait_2):
    """RFC 9293 §3.10.7.4 seventh then eighth: the text stays readable after the
    connection has moved to TIME-WAIT."""
    t = fin_wait_2
    assert t.send(flags=FIN | ACK | PSH, seq=REMOTE_SEQ, ack=LOCAL_SEQ + 1, payload=b"bye") == [
        ACK_NOW._replace(ack=REMOTE_SEQ + 4, window=WINDOW - 4)]
    assert t.state is TIME_WAIT
    assert t.read() == b"bye"
    assert t.read() == b""


def test_fin_wait_2_data(fin_wait_2):
    """RFC 9293 §3.10.7.4 seventh, FIN-WAIT-2: text delivered and ACKed (half-close)."""
    t = fin_wait_2
    assert t.send(flags=ACK | PSH, seq=REMOTE_SEQ, ack=LOCAL_SEQ + 1, payload=b"xyz") == [
        ACK_NOW._replace(ack=REMOTE_SEQ + 3, window=WINDOW - 3)]
    assert t.read() == b"xyz"
    assert t.conn.state is FIN_WAIT_2


def test_fin_wait_2_data_out_of_window(fin_wait_2):
    """RFC 9293 §3.10.7.4 first: unacceptable -> ACK, drop."""
    t = fin_wait_2
    assert t.send(flags=ACK, seq=REMOTE_SEQ - 10, ack=LOCAL_SEQ + 1, payload=b"old") == [ACK_NOW]


def test_fin_wait_2_data_after_close_resets():
    """SHLD-3 (RFC 9293 §3.6.1): after close() (not a half-close) data cannot be
    delivered: RST, CLOSED."""
    t = Tcp.established()
    t.close()
    t.take()
    t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ + 1)
    assert t.conn.state is FIN_WAIT_2
    assert t.send(flags=ACK | PSH, seq=REMOTE_SEQ, ack=LOCAL_SEQ + 1, payload=b"x") == [
        RECV._replace(flags=RST, seq=LOCAL_SEQ + 1, window=0)]
    assert t.state is CLOSED


def test_fin_wait_2_rst_exact(fin_wait_2):
    """RFC 9293 §3.10.7.4 second, FIN-WAIT-2: "connection reset", CLOSED."""
    t = fin_wait_2
    assert t.send(flags=RST, seq=REMOTE_SEQ) == []
    assert t.state is CLOSED and t.conn.error == "ECONNRESET"


def test_fin_wait_2_rst_not_exact_challenge_ack(fin_wait_2):
    """RFC 5961 §3.2 (RFC 9293 §3.10.7.4 second, check 3)."""
    t = fin_wait_2
    assert t.send(flags=RST, seq=REMOTE_SEQ + 7) == [ACK_NOW]
    assert t.conn.state is FIN_WAIT_2


def test_fin_wait_2_rst_out_of_window(fin_wait_2):
    """RFC 9293 §3.10.7.4 second, check 1."""
    t = fin_wait_2
    assert t.send(flags=RST, seq=REMOTE_SEQ + WINDOW) == []
    assert t.conn.state is FIN_WAIT_2


def test_fin_wait_2_syn_challenge_ack(fin_wait_2):
    """RFC 9293 §3.10.7.4 fourth (RFC 5961 §4)."""
    t = fin_wait_2
    assert t.send(flags=SYN, seq=REMOTE_SEQ + 1) == [ACK_NOW]
    assert t.conn.state is FIN_WAIT_2


def test_fin_wait_2_ack_too_new(fin_wait_2):
    """RFC 9293 §3.10.7.4 fifth: SEG.ACK > SND.NXT -> ACK, drop."""
    t = fin_wait_2
    assert t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ + 9) == [ACK_NOW]


def test_fin_wait_2_waits_forever_after_half_close(fin_wait_2):
    """RFC 9293 has no FIN-WAIT-2 timer: a half-closed connection (the
    application may still read) waits for the peer's FIN indefinitely."""
    t = fin_wait_2
    assert t.advance(3600) == []
    assert t.conn.state is FIN_WAIT_2


def test_fin_wait_2_orphan_timeout():
    """Linux's tcp_fin_timeout (documented in config.py): after close() the
    orphaned FIN-WAIT-2 connection is deleted after fin_wait_2_timeout (60 s),
    silently."""
    t = Tcp.established()
    t.close()
    t.take()
    t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ + 1)
    assert t.advance_to(60 - 0.001) == []
    assert t.conn.state is FIN_WAIT_2
    assert t.advance_to(60) == []
    assert t.state is CLOSED and t.conn.error is None
