"""Sequence numbers that wrap at 2**32 during the handshake and data transfer
(RFC 9293 §3.4: "all arithmetic dealing with sequence numbers must be performed
modulo 2**32"; REC-1 for windows).

Both ISNs are put a few octets below 2**32, so the SYN, the data and the FIN
all cross the wrap.
"""
import pytest

from harness import (ACK, CLOSE_WAIT, CLOSED, ESTABLISHED, FIN, FIN_WAIT_2, LOCAL_IP, LOCAL_PORT,
                     PSH, RECV, REMOTE_PORT, RST, SYN, TIME_WAIT, WINDOW, Options, Tcp, seq)

M = 2 ** 32


def active(local_iss: int, remote_iss: int = 300_000) -> Tcp:
    t = Tcp(local_iss=local_iss)
    t.conn = t.host.connect(0.0, "198.51.100.2", REMOTE_PORT, local_port=LOCAL_PORT)
    [syn] = t.take()
    assert (syn.flags, syn.seq) == (SYN, local_iss)
    replies = t.send(flags=SYN | ACK, seq=remote_iss, ack=seq(local_iss + 1), options=Options(mss=1400))
    assert replies == [RECV._replace(flags=ACK, seq=seq(local_iss + 1), ack=seq(remote_iss + 1))]
    assert t.conn.state is ESTABLISHED
    return t


def passive(remote_iss: int, local_iss: int = 10_000) -> Tcp:
    t = Tcp(local_iss=local_iss)
    t.listener = t.host.listen(t.now, LOCAL_PORT, LOCAL_IP)
    [synack] = t.send(flags=SYN, seq=remote_iss, options=Options(mss=1400))
    assert (synack.flags, synack.seq, synack.ack) == (SYN | ACK, local_iss, seq(remote_iss + 1))
    assert t.send(flags=ACK, seq=seq(remote_iss + 1), ack=local_iss + 1) == []
    t.conn = t.accept()
    assert t.conn.state is ESTABLISHED
    return t


@pytest.mark.parametrize("iss", [M - 1, M - 3])
def test_wrap_our_syn_across_the_wrap(iss):
    """RFC 9293 §3.4: ISS = 2**32 - 1 makes SND.NXT = 0 after the SYN; the
    SYN,ACK acknowledging 0 is acceptable (SND.UNA < SEG.ACK =< SND.NXT, mod 2**32)."""
    t = active(iss)
    assert t.conn.snd_una == seq(iss + 1) and t.conn.snd_nxt == seq(iss + 1)


def test_wrap_our_data_across_the_wrap():
    """RFC 9293 §3.4, §3.10.7.4 fifth: data from 2**32 - 2 to 8 (10 octets); ACKs
    on both sides of the wrap advance SND.UNA."""
    t = active(M - 3)
    t.write(b"0123456789")
    t.expect(flags=ACK | PSH, seq=M - 2, ack=300_001, payload=b"0123456789")
    assert t.conn.snd_nxt == 8
    assert t.send(flags=ACK, seq=300_001, ack=M - 1) == []
    assert t.conn.snd_una == M - 1
    assert t.send(flags=ACK, seq=300_001, ack=3) == []
    assert t.conn.snd_una == 3 and bytes(t.conn.sndq) == b"56789"
    assert t.send(flags=ACK, seq=300_001, ack=8) == []
    assert t.conn.unacked == 0 and t.next_deadline() is None


def test_wrap_ack_too_new_across_the_wrap():
    """RFC 9293 §3.10.7.4 fifth: SEG.ACK > SND.NXT, computed across the wrap."""
    t = active(M - 3)
    t.write(b"0123456789")
    t.take()
    assert t.send(flags=ACK, seq=300_001, ack=9) == [RECV._replace(flags=ACK, seq=8, ack=300_001)]
    assert t.conn.snd_una == M - 2


def test_wrap_ack_too_old_across_the_wrap():
    """RFC 5961 §5.2 across the wrap: SND.UNA - MAX.SND.WND is computed mod 2**32."""
    t = active(M - 3)
    t.write(b"01")
    t.take()
    t.send(flags=ACK, seq=300_001, ack=0)          # SND.UNA = 0
    too_old = seq(0 - 8192 - 1)
    assert t.send(flags=ACK | PSH, seq=300_001, ack=too_old, payload=b"x") == [
        RECV._replace(flags=ACK, seq=0, ack=300_001)]
    assert t.conn.readable == 0


def test_wrap_retransmission_across_the_wrap():
    """RFC 6298 (5.4): the retransmission starts at SND.UNA, past the wrap."""
    t = active(M - 3)
    t.write(b"0123456789")
    t.take()
    t.send(flags=ACK, seq=300_001, ack=2)
    assert t.advance_to(t.next_deadline()) == [
        RECV._replace(flags=ACK | PSH, seq=2, ack=300_001, payload=b"456789")]


def test_wrap_our_fin_across_the_wrap():
    """The FIN at sequence 0 after 2 octets from 2**32 - 2."""
    t = active(M - 3)
    t.write(b"ab")
    t.shutdown("wr")
    assert [(s.flags, s.seq) for s in t.take()] == [(ACK | PSH, M - 2), (FIN | ACK, 0)]
    t.send(flags=ACK, seq=300_001, ack=1)
    assert t.conn.state is FIN_WAIT_2


def test_wrap_peer_handshake_across_the_wrap():
    """RFC 9293 §3.10.7.2: RCV.NXT = SEG.SEQ + 1 = 0 for IRS = 2**32 - 1."""
    t = passive(M - 1)
    assert t.conn.rcv_nxt == 0


def test_wrap_peer_data_across_the_wrap():
    """RFC 9293 §3.10.7.4: in-order data across the wrap is accepted; RCV.NXT wraps."""
    t = passive(M - 3)
    assert t.send(flags=ACK | PSH, seq=M - 2, ack=10_001, payload=b"0123456789") == [
        RECV._replace(flags=ACK, seq=10_001, ack=8, window=WINDOW - 10)]
    assert t.read() == b"0123456789"


def test_wrap_peer_out_of_order_across_the_wrap():
    """SHLD-31 across the wrap: a block after the wrap waits for the one before."""
    t = passive(M - 3)
    assert t.send(flags=ACK | PSH, seq=3, ack=10_001, payload=b"56789") == [
        RECV._replace(flags=ACK, seq=10_001, ack=M - 2)]
    assert t.send(flags=ACK | PSH, seq=M - 2, ack=10_001, payload=b"01234") == [
        RECV._replace(flags=ACK, seq=10_001, ack=8, window=WINDOW - 10)]
    assert t.read() == b"0123456789"


def test_wrap_peer_duplicate_across_the_wrap():
    """RFC 9293 §3.10.7.4: a segment straddling RCV.NXT across the wrap is trimmed."""
    t = passive(M - 3)
    t.send(flags=ACK | PSH, seq=M - 2, ack=10_001, payload=b"0123").ignore()
    assert t.send(flags=ACK | PSH, seq=M - 2, ack=10_001, payload=b"012345") == [
        RECV._replace(flags=ACK, seq=10_001, ack=4, window=WINDOW - 6)]
    assert t.read() == b"012345"


def test_wrap_peer_window_check_across_the_wrap():
    """RFC 9293 §3.10.7.4 Table 6 across the wrap: RCV.NXT + RCV.WND wraps."""
    t = passive(M - 3)
    assert t.send(flags=ACK | PSH, seq=seq(M - 2 + WINDOW), ack=10_001, payload=b"x") == [
        RECV._replace(flags=ACK, seq=10_001, ack=M - 2)]
    assert t.send(flags=ACK | PSH, seq=seq(M - 2 + WINDOW - 1), ack=10_001, payload=b"x") == [
        RECV._replace(flags=ACK, seq=10_001, ack=M - 2)]
    assert t.conn.ooo == [[seq(M - 2 + WINDOW - 1), b"x"]]


def test_wrap_peer_rst_across_the_wrap():
    """RFC 5961 §3.2 across the wrap: RST at RCV.NXT = 3 resets, one at 4 is challenged."""
    t = passive(M - 3)
    t.send(flags=ACK | PSH, seq=M - 2, ack=10_001, payload=b"01234").ignore()
    assert t.send(flags=RST, seq=4) == [RECV._replace(flags=ACK, seq=10_001, ack=3, window=WINDOW - 5)]
    assert t.send(flags=RST, seq=M - 3) == []
    assert t.conn.state is ESTABLISHED
    assert t.send(flags=RST, seq=3) == []
    assert t.state is CLOSED and t.conn.error == "ECONNRESET"


def test_wrap_peer_fin_at_zero():
    """The peer's FIN on sequence number 0: RCV.NXT wraps to 1; CLOSE-WAIT."""
    t = passive(M - 3)
    assert t.send(flags=ACK | PSH | FIN, seq=M - 2, ack=10_001, payload=b"ab") == [
        RECV._replace(flags=ACK, seq=10_001, ack=1, window=WINDOW - 3)]
    assert t.conn.state is CLOSE_WAIT


def test_wrap_both_sides_full_exchange():
    """Both ISNs near the wrap: data both ways and a full close, TIME-WAIT at the end."""
    t = Tcp(local_iss=M - 2)
    t.conn = t.host.connect(0.0, "198.51.100.2", REMOTE_PORT, local_port=LOCAL_PORT)
    t.take()
    t.send(flags=SYN | ACK, seq=M - 1, ack=M - 1, options=Options(mss=1400)).ignore()
    assert t.conn.state is ESTABLISHED and t.conn.rcv_nxt == 0
    t.write(b"req")
    t.expect(flags=ACK | PSH, seq=M - 1, ack=0, payload=b"req")
    assert t.send(flags=ACK | PSH, seq=0, ack=2, payload=b"resp") == [
        RECV._replace(flags=ACK, seq=2, ack=4, window=WINDOW - 4)]
    t.read()
    t.shutdown("wr")
    t.expect(flags=FIN | ACK, seq=2, ack=4, window=WINDOW - 4)      # right edge held (MUST-39)
    assert t.send(flags=FIN | ACK, seq=4, ack=3) == [RECV._replace(flags=ACK, seq=3, ack=5, window=WINDOW - 5)]
    assert t.state is TIME_WAIT
