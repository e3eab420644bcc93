"""TCP timestamps (RFC 7323 §3-5; SHLD-4 builds on them): negotiation,
TS.Recent, RTT measurement and PAWS on the bare engine.

`ts_established()`: an active open whose SYN,ACK carried TSval 100; our TSval
clock is 1 ms ticks plus a per-connection offset (RFC 7323 §5.4).
"""
import pytest

from harness import (ACK, CLOSED, ESTABLISHED, LOCAL_SEQ, PSH, RECV, REMOTE_SEQ, RST, WINDOW,
                     Options, Tcp)


def ts_established(**changes) -> Tcp:
    t = Tcp.established(peer_options=Options(mss=1460, timestamp=(100, 0)), timestamps=True, **changes)
    assert t.conn.ts_ok and t.conn.ts_recent == 100
    return t


def tsval(t: Tcp) -> int:
    return (int(t.now * 1000) + t.conn.ts_offset) & 0xFFFFFFFF


def data(payload: bytes, ts: int, off: int = 0, **kw):
    return dict(flags=ACK | PSH, seq=REMOTE_SEQ + off, ack=LOCAL_SEQ, payload=payload,
                options=Options(timestamp=(ts, 0)), **kw)


def test_timestamps_on_every_segment():
    """RFC 7323 §3.2: once negotiated, TSopt is sent on every non-RST segment,
    with TSecr = TS.Recent."""
    t = ts_established()
    t.now = 0.25
    t.write(b"hi")
    [s] = t.take()
    assert s.options == Options(timestamp=(tsval(t), 100))


def test_timestamps_not_used_unless_both_syns_carry_them():
    """RFC 7323 §3.2: TSopt only if both SYNs carried it."""
    t = Tcp.established(timestamps=True)          # the SYN,ACK had no TSopt
    assert not t.conn.ts_ok
    t.write(b"x")
    assert t.take()[0].options.timestamp is None


def test_timestamps_ts_recent_updated_in_sequence():
    """RFC 7323 §4.3: TS.Recent <- SEG.TSval for a segment that covers
    Last.ACK.sent; our ACK echoes it."""
    t = ts_established()
    [reply] = t.send(**data(b"abc", 200))
    assert t.conn.ts_recent == 200 and reply.options.timestamp[1] == 200


def test_timestamps_ts_recent_not_updated_out_of_order():
    """RFC 7323 §4.3: an out-of-order segment (beyond Last.ACK.sent) does not
    update TS.Recent."""
    t = ts_established()
    [reply] = t.send(**data(b"def", 300, off=3))
    assert t.conn.ts_recent == 100 and reply.options.timestamp[1] == 100


def test_timestamps_paws_drops_old_segment():
    """RFC 7323 §5.3 R1 (PAWS): SEG.TSval < TS.Recent -> not acceptable: send an
    ACK, drop the segment (its data is not delivered)."""
    t = ts_established()
    t.send(**data(b"abc", 200)).ignore()
    t.now = 0.5
    [reply] = t.send(**data(b"def", 150, off=3))
    assert reply == RECV._replace(flags=ACK, seq=LOCAL_SEQ, ack=REMOTE_SEQ + 3, window=WINDOW - 3,
                                  options=Options(timestamp=(tsval(t), 200)))
    assert t.conn.readable == 3 and t.conn.rcv_nxt == REMOTE_SEQ + 3
    assert t.stat("drop_paws") == 1


def test_timestamps_paws_wraps():
    """RFC 7323 §5.2: timestamps compare modulo 2**32: a TSval just past the wrap
    is newer than one just below it."""
    t = Tcp.established(peer_options=Options(mss=1460, timestamp=(2**32 - 10, 0)), timestamps=True)
    [reply] = t.send(**data(b"abc", 5))
    assert reply.ack == REMOTE_SEQ + 3 and t.conn.ts_recent == 5


def test_timestamps_paws_half_the_circle_behind_is_not_older():
    """RFC 7323 §5.2 defines s < t as 0 < (t - s) < 2**31: a TSval exactly
    2**31 away from TS.Recent is not "less than" it, so PAWS does not drop
    the segment (its data is delivered); nor is it ">=", so TS.Recent keeps
    its value (§4.3 (2))."""
    t = ts_established()
    t.send(**data(b"abc", 200)).ignore()
    [reply] = t.send(**data(b"def", (200 + 2**31) & 0xFFFFFFFF, off=3))
    assert reply.ack == REMOTE_SEQ + 6 and t.stat("drop_paws") == 0
    assert t.conn.ts_recent == 200
    # One tick further back is older, and dropped.
    [reply] = t.send(**data(b"ghi", (200 + 2**31 + 1) & 0xFFFFFFFF, off=6))
    assert reply.ack == REMOTE_SEQ + 6 and t.stat("drop_paws") == 1


def test_timestamps_paws_does_not_drop_rst():
    """RFC 7323 §5.3 R1 applies only with the RST bit off: an old-TSval RST at
    RCV.NXT still resets."""
    t = ts_established()
    t.send(**data(b"abc", 200)).ignore()
    t.send(flags=RST, seq=REMOTE_SEQ + 3, options=Options(timestamp=(1, 0)))
    assert t.state is CLOSED and t.conn.error == "ECONNRESET"


def test_timestamps_paws_ignored_after_24_days_idle():
    """RFC 7323 §5.5: after more than 24 days idle TS.Recent is invalid and the
    PAWS test is skipped."""
    t = ts_established()
    t.send(**data(b"abc", 200)).ignore()
    t.now = 25 * 86400.0
    [reply] = t.send(**data(b"def", 150, off=3))
    assert reply.ack == REMOTE_SEQ + 6


def test_timestamps_rtt_from_tsecr_even_after_retransmission():
    """RFC 7323 §4.1 and RFC 6298 §3: with timestamps the echoed TSecr gives an
    unambiguous RTT, so a retransmitted segment's ACK is a valid sample."""
    t = ts_established()
    t.write(b"a")
    t.take()
    [rtx] = t.advance_to(1.0)
    t.now = 1.3
    t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ + 1, options=Options(timestamp=(300, rtx.options.timestamp[0])))
    assert t.conn.rtt.srtt == pytest.approx(0.3 / 8)     # 7/8 * 0 (handshake) + 1/8 * 0.3
    assert t.conn.rtt.backoff == 0


def test_timestamps_state_unchanged_by_paws_drop():
    """A PAWS-dropped segment changes nothing else: no RST, FIN or ACK processing."""
    t = ts_established()
    t.send(**data(b"abc", 200)).ignore()
    t.write(b"x")
    t.take()
    t.send(flags=ACK | PSH, seq=REMOTE_SEQ + 3, ack=LOCAL_SEQ + 1, payload=b"zz",
           options=Options(timestamp=(199, 0))).ignore()
    assert t.conn.snd_una == LOCAL_SEQ and t.conn.state is ESTABLISHED
