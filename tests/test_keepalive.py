"""Keep-alives (RFC 9293 §3.8.4; MUST-24..29, SHLD-12, MAY-5) on the bare engine."""
from harness import ACK, CLOSED, ESTABLISHED, LOCAL_SEQ, PSH, RECV, REMOTE_SEQ, Tcp, cfg

PROBE = RECV._replace(flags=ACK, seq=LOCAL_SEQ - 1, ack=REMOTE_SEQ)     # <SEQ=SND.NXT-1>, no data


def test_keepalive_off_by_default(established):
    """MUST-25: keep-alives are off unless the application asks."""
    t = established
    assert not t.conn.cfg.keepalive
    assert t.next_deadline() is None
    assert t.advance(10 * 86400) == []


def test_keepalive_default_interval_at_least_two_hours():
    """MUST-28: the idle interval defaults to no less than two hours."""
    assert cfg().keepalive_idle >= 7200


def test_keepalive_switched_on_per_connection(established):
    """MUST-24 (SO_KEEPALIVE), SHLD-12: after keepalive_idle of silence a probe
    <SEQ=SND.NXT-1><ACK=RCV.NXT> with no data is sent."""
    t = established
    t.conn.set_keepalive(t.now, True)
    assert t.advance_to(7199.999) == []
    assert t.advance_to(7200) == [PROBE]


def test_keepalive_answered_probe_restarts_idle(established):
    """MUST-26: an answered probe means the peer is alive: the next probe only
    after another idle interval."""
    t = established
    t.conn.set_keepalive(t.now, True)
    t.advance_to(7200).ignore()
    assert t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ) == []
    assert t.advance_to(7200 + 7199.999) == []
    assert t.advance_to(7200 + 7200) == [PROBE]


def test_keepalive_only_when_idle(established):
    """MUST-26: segments received restart the idle timer."""
    t = established
    t.conn.set_keepalive(t.now, True)
    t.now = 7000
    t.send(flags=ACK | PSH, seq=REMOTE_SEQ, ack=LOCAL_SEQ, payload=b"x").ignore()
    t.read()
    assert t.advance_to(7000 + 7199.999) == []
    assert t.advance_to(7000 + 7200) == [PROBE._replace(ack=REMOTE_SEQ + 1, window=4095)]


def test_keepalive_not_while_data_outstanding():
    """MUST-26: no keep-alive while data is in flight (the RTO is in charge)."""
    t = Tcp.established(keepalive=True, keepalive_idle=10.0, r2=100)
    t.write(b"x")
    t.take()
    out = t.advance_to(12)
    assert all(s.payload == b"x" for s in out)


def test_keepalive_interval_configurable_and_lost_acks_tolerated():
    """MUST-27 (configurable), MUST-29 (one unanswered probe is not death): with
    idle 100 s, interval 10 s, 3 probes: probes at 100, 110, 120; a late answer
    keeps the connection."""
    t = Tcp.established(keepalive=True, keepalive_idle=100.0, keepalive_interval=10.0,
                        keepalive_probes=3)
    assert t.advance_to(100) == [PROBE]
    assert t.advance_to(110) == [PROBE]
    assert t.advance_to(120) == [PROBE]
    t.now = 125
    t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ)
    assert t.conn.state is ESTABLISHED
    assert t.advance_to(224.999) == []
    assert t.advance_to(225) == [PROBE]


def test_keepalive_unanswered_times_out():
    """RFC 9293 §3.8.4: a peer that answers none of keepalive_probes probes is
    dead: the connection is closed with ETIMEDOUT."""
    t = Tcp.established(keepalive=True, keepalive_idle=100.0, keepalive_interval=10.0,
                        keepalive_probes=3)
    t.advance_to(120).ignore()
    assert t.advance_to(129.999) == [] and t.conn.state is ESTABLISHED
    assert t.advance_to(130) == []
    assert t.state is CLOSED and t.conn.error == "ETIMEDOUT"


def test_keepalive_probe_is_answered_by_receiver(established):
    """RFC 9293 §3.8.4: a keep-alive (SEG.SEQ = RCV.NXT - 1) is unacceptable and
    so draws an ACK (§3.10.7.4 first step)."""
    t = established
    assert t.send(flags=ACK, seq=REMOTE_SEQ - 1, ack=LOCAL_SEQ) == [
        RECV._replace(flags=ACK, seq=LOCAL_SEQ, ack=REMOTE_SEQ)]


def test_keepalive_with_garbage_octet_answered(established):
    """MAY-6's peer side: a keep-alive carrying one old ("garbage") octet is a
    duplicate: ACKed, not delivered."""
    t = established
    assert t.send(flags=ACK, seq=REMOTE_SEQ - 1, ack=LOCAL_SEQ, payload=b"\x00") == [
        RECV._replace(flags=ACK, seq=LOCAL_SEQ, ack=REMOTE_SEQ)]
    assert t.conn.readable == 0
