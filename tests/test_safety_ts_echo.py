"""The ACK for a retransmission that followed a lost ACK echoes the
retransmission's TSval (RFC 7323 §4.3 rule (2), Appendix H (f)(1)), so the
sender's RTT sample does not hold its retransmission backoff (issue 17,
part 5: RTO inflation under random loss). On the bare engine and in the
simulator."""
from __future__ import annotations

from harness import ACK, LOCAL_SEQ, PSH, REMOTE_SEQ, Options, Tcp

from synack.engine.config import rfc_profile
from synack.sim import Network


def ts_established() -> Tcp:
    t = Tcp.established(peer_options=Options(mss=1460, timestamp=(100, 0)), timestamps=True)
    assert t.conn.ts_ok and t.conn.ts_recent == 100
    return t


def seg(ts: int, off: int = 0, ack: int = LOCAL_SEQ, payload: bytes = b"abc"):
    return dict(flags=ACK | PSH, seq=REMOTE_SEQ + off, ack=ack, payload=payload,
                options=Options(timestamp=(ts, 0)))


def test_ack_of_a_retransmission_after_a_lost_ack_echoes_it():
    t = ts_established()
    [a1] = t.send(**seg(200))
    assert a1.options.timestamp[1] == 200
    # our ACK is lost; one second later the peer retransmits with TSval 1200
    t.now += 1.0
    [a2] = t.send(**seg(1200))
    assert a2.ack == REMOTE_SEQ + 3
    assert a2.options.timestamp[1] == 1200 and t.conn.ts_recent == 1200


def test_a_blind_duplicate_does_not_move_ts_recent():
    """Far below the window, or with an unacceptable ACK: TS.Recent stays
    (otherwise one forged old segment would make PAWS drop the real ones)."""
    t = ts_established()
    t.send(**seg(200)).ignore()
    t.now += 1.0
    t.send(**seg(900_000, off=-1_000_000)).ignore()                  # far below RCV.NXT
    assert t.conn.ts_recent == 200
    t.send(**seg(900_000, ack=LOCAL_SEQ + 50_000)).ignore()          # ACK of unsent data
    assert t.conn.ts_recent == 200
    t.send(**seg(900_000, ack=LOCAL_SEQ - 3_000_000)).ignore()       # ACK too old (RFC 5961 §5)
    assert t.conn.ts_recent == 200


def test_no_rtt_sample_holds_the_backoff_under_random_loss():
    """1 MB over a 20 ms path with 20% loss both ways (rfc profile): before,
    ACKs of retransmissions after lost ACKs echoed the original TSval, RTT
    samples of up to 180 s (the backoff) came in and SRTT rose above 20 s;
    now SRTT stays near the path's RTT. (SRTT is read from the connection,
    which works on the compiled build too.)"""
    cfg = rfc_profile()
    net = Network(seed=2, trace=False)
    a = net.add_host("10.0.0.1", config=cfg)
    b = net.add_host("10.0.0.2", config=cfg)
    net.link(a, b, delay=0.01, loss=0.2)
    lst = b.listen(80)
    c = a.connect("10.0.0.2", 80)
    data = b"z" * 1_000_000
    sent = got = 0
    s = None
    max_srtt = 0.0
    while got < len(data) and net.now < 5000:
        net.run(until=net.now + 0.05)
        if s is None:
            s = lst.accept()
        if c.conn.established and sent < len(data):
            sent += c.send(data[sent:])
        if s is not None:
            got += len(s.recv())
        if c.conn.rtt.srtt is not None:
            max_srtt = max(max_srtt, c.conn.rtt.srtt)
    assert got == len(data)
    assert 0.0 < max_srtt < 1.0, f"SRTT reached {max_srtt:.2f} s"
