"""Zero windows: probing (RFC 9293 §3.8.6.1; MUST-35, MUST-36, MUST-37, SHLD-29,
SHLD-30) and a shrinking window (MUST-34, SHLD-16, SHLD-17).

From the `established` fixture; the peer closes its window with an ACK
carrying window 0 while nothing is outstanding.
"""
from harness import ACK, CLOSED, ESTABLISHED, LOCAL_SEQ, PSH, RECV, REMOTE_SEQ, REMOTE_WINDOW, Tcp


def closed_window(**changes) -> Tcp:
    t = Tcp.established(**changes)
    assert t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ, window=0) == []
    assert t.conn.snd_wnd == 0
    return t


def probe(octet: bytes, seq: int = LOCAL_SEQ):
    return RECV._replace(flags=ACK, seq=seq, ack=REMOTE_SEQ, payload=octet)


def test_zero_window_nothing_sent_until_probe():
    """RFC 9293 §3.8.6: no new data beyond SND.UNA + SND.WND; SHLD-29: the first
    probe after one RTO (1 s)."""
    t = closed_window()
    t.write(b"hello")
    t.expect_nothing()
    assert t.advance_to(0.999) == []
    assert t.advance_to(1.0) == [probe(b"h")]


def test_zero_window_probe_is_one_octet_of_new_data():
    """RFC 9293 §3.8.6.1, MUST-36: the probe carries "at least one octet of new
    data (if available)"; the peer, still closed, answers with its window."""
    t = closed_window()
    t.write(b"hello")
    assert t.advance_to(1.0) == [probe(b"h")]
    assert t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ, window=0) == []
    assert t.conn.state is ESTABLISHED


def test_zero_window_probes_back_off():
    """SHLD-30: the interval between probes grows exponentially (1, 2, 4, ...
    capped at RTO.max = 60 s); each probe resends the same octet."""
    t = closed_window()
    t.write(b"hello")
    when = 0
    for gap in (1, 2, 4, 8, 16, 32, 60, 60):
        when += gap
        assert t.advance_to(when - 0.001) == []
        assert t.advance_to(when) == [probe(b"h")], f"probe due {gap} s after the previous one"
        assert t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ, window=0) == []


def test_zero_window_never_aborts_while_probes_answered():
    """MUST-37 (RFC 9293 §3.8.6.1): while the receiver keeps acknowledging the
    probes, the connection stays open -- here for three hours, far past R2."""
    t = closed_window()
    t.write(b"hello")
    probes = 0
    while t.now < 3 * 3600:
        out = t.advance_to(t.next_deadline())
        if out:
            assert out == [probe(b"h")]
            probes += 1
            t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ, window=0)
    assert t.conn.state is ESTABLISHED and t.conn.error is None
    assert probes > 100


def test_zero_window_probe_accepted_when_window_opens():
    """MUST-35/36: when the window has opened, the receiver accepts the probe
    octet and acknowledges it with its new window; the rest of the data follows
    at once."""
    t = closed_window()
    t.write(b"hello")
    t.advance_to(1.0).ignore()
    assert t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ + 1, window=REMOTE_WINDOW) == [
        RECV._replace(flags=ACK | PSH, seq=LOCAL_SEQ + 1, ack=REMOTE_SEQ, payload=b"ello")]
    assert t.conn.snd_una == LOCAL_SEQ + 1
    assert t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ + 5, window=REMOTE_WINDOW) == []
    assert t.next_deadline() is None


def test_zero_window_probe_accepted_window_still_zero():
    """The receiver took the probe octet but has no more room: the next probe
    carries the next octet."""
    t = closed_window()
    t.write(b"hello")
    t.advance_to(1.0).ignore()
    assert t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ + 1, window=0) == []
    assert t.advance_to(3.0) == [probe(b"e", LOCAL_SEQ + 1)]


def test_zero_window_update_without_probe_ack():
    """A window update that does not acknowledge the probe octet: sending resumes
    at SND.UNA at once (the octet again; no hole left for the RTO to fill), and
    the rest follows its ACK."""
    t = closed_window()
    t.write(b"hello")
    t.advance_to(1.0).ignore()
    assert t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ, window=REMOTE_WINDOW) == [probe(b"h")]
    assert t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ + 1, window=REMOTE_WINDOW) == [
        RECV._replace(flags=ACK | PSH, seq=LOCAL_SEQ + 1, ack=REMOTE_SEQ, payload=b"ello")]


def test_zero_window_without_data_no_probe():
    """Nothing to send: nothing to probe for."""
    t = closed_window()
    assert t.next_deadline() is None
    assert t.advance(100) == []


def test_zero_window_shrunk_with_data_in_flight_stays_open():
    """MUST-34, MUST-37, SHLD-17: the window shrinks to zero with data
    outstanding; the retransmissions act as probes, and as long as the peer
    acknowledges them (window still zero) the connection is not timed out."""
    t = Tcp.established()
    t.write(b"x" * 2800)
    t.take()
    t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ + 1400, window=0)
    for _ in range(40):
        out = t.advance_to(t.next_deadline())
        assert [(s.seq, len(s.payload)) for s in out] == [(LOCAL_SEQ + 1400, 1400)]   # SHLD-16 / MAY-7
        t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ + 1400, window=0)
    assert t.conn.state is ESTABLISHED


def test_zero_window_shrunk_peer_silent_times_out():
    """MUST-20: the same, but the peer never answers: R2 still applies."""
    t = Tcp.established(r2=3)
    t.write(b"x" * 2800)
    t.take()
    t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ + 1400, window=0)
    for _ in range(4):
        t.advance_to(t.next_deadline()).ignore()
    assert t.state is CLOSED and t.conn.error == "ETIMEDOUT"


def test_zero_window_receiver_answers_probe():
    """RFC 9293 §3.8.6.1: "When the receiving TCP peer has a zero window and a
    segment arrives, it must still send an acknowledgment showing its next
    expected sequence number and current window (zero)"; MAY-8: we keep the
    window closed as long as the application does not read."""
    t = Tcp.established()
    t.send(flags=ACK | PSH, seq=REMOTE_SEQ, ack=LOCAL_SEQ, payload=bytes(4096)).ignore()
    for i in range(5):
        t.now += 60
        assert t.send(flags=ACK, seq=REMOTE_SEQ + 4096, ack=LOCAL_SEQ, payload=b"p") == [
            RECV._replace(flags=ACK, seq=LOCAL_SEQ, ack=REMOTE_SEQ + 4096, window=0)]
    assert t.conn.state is ESTABLISHED
