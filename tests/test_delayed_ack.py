"""When ACKs go out: RFC 1122 §4.2.3.2 / RFC 9293 §3.8.6.3 delayed ACK
(MUST-40, MUST-58, MUST-59), RFC 5681 §4.2 (out-of-order data and holes ACKed
at once), and Linux's quick-ack mode (the `linux` profile's `quickack`).
"""
from harness import ACK, FIN, LOCAL_IP, LOCAL_SEQ, PSH, REMOTE_IP, REMOTE_SEQ, SEND, Tcp


def data(off: int, n: int, **kw):
    return dict(flags=ACK | PSH, seq=REMOTE_SEQ + off, ack=LOCAL_SEQ, payload=b"x" * n, **kw)


def acks(segs) -> list[int]:
    return [s.ack - REMOTE_SEQ for s in segs if s.flags & ACK]


# ------------------------------------------------------------------ RFC 1122
def rfc(**changes) -> Tcp:
    return Tcp.established(delayed_ack=True, **changes)


def test_single_segment_ack_delayed_but_bounded():
    """MUST-40: an ACK may be delayed, by less than 0.5 s (here the RFC
    profile's 200 ms)."""
    t = rfc()
    assert t.send(**data(0, 100)) == []
    assert t.advance(0.199) == []
    assert acks(t.advance(0.002)) == [100]


def test_every_second_full_sized_segment_acked():
    """MUST-58: an ACK for at least every second full-sized segment."""
    t = rfc()
    assert t.send(**data(0, 1000)) == []
    assert acks(t.send(**data(1000, 1000))) == [2000]
    assert t.send(**data(2000, 1000)) == []
    assert acks(t.send(**data(3000, 1000))) == [4000]


def test_a_segment_worth_two_full_sized_ones_acked_at_once():
    """MUST-58 counts data, not segments: one segment carrying two full-sized
    segments' worth (a TSO sender) is acknowledged at once."""
    t = rfc(rcvbuf=65535)
    assert t.send(**data(0, 1000)) == []           # learns the peer's segment size
    t.advance(0.3).ignore()
    assert acks(t.send(**data(1000, 2000))) == [3000]


def test_out_of_order_and_hole_filling_acked_at_once():
    """RFC 5681 §4.2 (SHOULD): an out-of-order segment is ACKed at once (a
    duplicate ACK), and so is the one that fills the hole."""
    t = rfc()
    assert acks(t.send(**data(100, 100))) == [0]
    assert acks(t.send(**data(0, 100))) == [200]


def test_batch_processed_before_acking():
    """MUST-59: segments that arrive together are all processed before the
    ACK: Host.receive_batch answers a burst with one ACK covering all."""
    t = Tcp.established()                           # no delayed ACK at all
    segs = [SEND._replace(**data(i * 100, 100)) for i in range(4)]
    t.host.receive_batch(t.now, [(REMOTE_IP, LOCAL_IP, s) for s in segs])
    assert acks(t.take()) == [400]
    # one at a time, each is answered
    for i in range(4, 8):
        t.host.receive(t.now, REMOTE_IP, LOCAL_IP, SEND._replace(**data(i * 100, 100)))
    assert acks(t.take()) == [500, 600, 700, 800]


def test_batch_with_reply_data_piggybacks_the_ack():
    """MUST-59 with data to send: the reply carries the one ACK."""
    t = Tcp.established()
    t.write(b"reply")
    t.take()
    t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ + 5)
    segs = [SEND._replace(**data(i * 10, 10)) for i in range(3)]
    t.host.receive_batch(t.now, [(REMOTE_IP, LOCAL_IP, s) for s in segs])
    assert acks(t.take()) == [30]


# ------------------------------------------------------------------ Linux quick-ack
def linux(**changes) -> Tcp:
    return Tcp.established(delayed_ack=True, quickack=True, delayed_ack_min=0.04, **changes)


def test_quickack_first_data_acked_at_once():
    """Linux quick-ack mode: the first data of a connection is ACKed at once
    (a sender in slow start is not held back by the delayed-ACK timer); the
    number of quick ACKs is rcv_wnd / (2 * rcv_mss): 4096 / 1072 = 3 here."""
    t = linux()
    assert acks(t.send(**data(0, 100))) == [100]
    assert acks(t.send(**data(100, 100))) == [200]
    assert acks(t.send(**data(200, 100))) == [300]
    assert t.send(**data(300, 100)) == []                 # quick ACKs used up
    assert t.advance(0.039) == []
    assert acks(t.advance(0.002)) == [400]               # 40 ms delayed ACK


def test_quickack_at_most_sixteen():
    """Linux TCP_MAX_QUICKACKS: never more than 16 quick ACKs at a time."""
    t = linux(rcvbuf=1 << 20)
    quick = 0
    for i in range(40):
        if t.send(**data(i * 10, 10)):
            quick += 1
        else:
            t.advance(0.05).ignore()
            break
    assert quick == 16


def test_quickack_again_after_an_idle_gap_longer_than_the_rto():
    """Linux tcp_event_data_recv: data after a gap longer than the RTO finds
    the sender restarting: quick ACKs again."""
    t = linux()
    for i in range(3):
        t.send(**data(i * 100, 100)).ignore()
    assert t.send(**data(300, 100)) == []
    t.advance(5.0).ignore()
    assert acks(t.send(**data(400, 100))) == [500]


def test_more_than_one_full_sized_segment_unacked_acked_at_once():
    """Linux __tcp_ack_snd_check: an ACK as soon as more than one full-sized
    segment (as estimated from what arrives) is unacknowledged."""
    t = linux(rcvbuf=65535)
    for i in range(16):                                   # use up the quick ACKs
        t.send(**data(i * 10, 10)).ignore()
    t.advance(0.05)
    base = 160
    assert t.send(**data(base, 1000)) == []              # one full-sized: may wait
    assert acks(t.send(**data(base + 1000, 1000))) == [base + 2000]


def test_fin_acked_at_once():
    """RFC 9293 §3.10.7.4 eighth step: the FIN is acknowledged right away."""
    t = linux()
    for i in range(3):
        t.send(**data(i * 100, 100)).ignore()
    assert acks(t.send(flags=FIN | ACK, seq=REMOTE_SEQ + 300, ack=LOCAL_SEQ)) == [301]
