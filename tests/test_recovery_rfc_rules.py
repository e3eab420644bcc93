"""RFC rules of loss recovery and sending that hold in both profiles.

Each test names the rule it checks; the engine is driven with crafted
segments through the bare-host harness (MSS 1000, initial window 10).
"""
import pytest

from harness import ACK, LOCAL_SEQ, PEER_SYN_ACK, PSH, REMOTE_SEQ, Options, Tcp
from recovery_util import BIG, MSS, ack, offsets
from synack.engine.config import linux_profile, rfc_profile



def conn(*, sack=False, window=BIG, **changes) -> Tcp:
    t = Tcp.syn_sent(sack=sack, initial_window=10, **changes)
    t.send(PEER_SYN_ACK._replace(window=window, options=Options(mss=MSS, sack_permitted=sack))).ignore()
    t.conn.nodelay = True
    return t


# ----------------------------------------------- RFC 5681 §3.2: FlightSize
@pytest.mark.parametrize("cc, expect", [("reno", 5), ("cubic", 7)])
def test_limited_transmit_not_counted_in_flightsize(cc, expect):
    """RFC 5681 §3.2 step 2: "When [RFC3042] is in use, additional data sent
    in limited transmit MUST NOT be included in this calculation" (also
    RFC 6675 §5 (4.2), RFC 9438 §4.6). Ten segments in flight, two more sent
    by limited transmit: ssthresh comes from 10 segments (Reno 5, CUBIC 7),
    not from 12 (6, 8)."""
    t = conn(congestion_control=cc)
    t.write(bytes(10 * MSS))
    assert len(offsets(t.take())) == 10
    t.write(bytes(5 * MSS))
    t.take()
    assert offsets(t.send(**ack(0))) == [(10 * MSS, MSS)]     # limited transmit
    assert offsets(t.send(**ack(0))) == [(11 * MSS, MSS)]
    assert offsets(t.send(**ack(0)))[0] == (0, MSS)           # fast retransmit
    assert t.conn.cc.ssthresh == expect * MSS


def test_limited_transmit_by_sack_not_counted_in_flightsize():
    """The same with SACK: new data the pipe released (RFC 6675 §5 (3)) is
    limited transmit and stays out of FlightSize (§5 (4.2))."""
    t = conn(sack=True, congestion_control="reno")
    t.write(bytes(10 * MSS))
    t.take()
    t.write(bytes(5 * MSS))
    t.take()
    assert offsets(t.send(**ack(0, (1000, 2000)))) == [(10 * MSS, MSS)]
    assert offsets(t.send(**ack(0, (1000, 3000)))) == [(11 * MSS, MSS)]
    t.send(**ack(0, (1000, 4000))).ignore()
    assert t.conn.sack_recovery and t.conn.cc.ssthresh == 5 * MSS


# ----------------------------------------------- RFC 1122 §4.2.3.4: sender SWS
def test_sender_sws_applies_with_nothing_outstanding():
    """RFC 1122 §4.2.3.4: with nothing outstanding, a window-limited partial
    segment still waits unless it is at least half the largest window (the
    "Fs * Max(SND.WND)" rule); the override timeout then sends what fits."""
    t = conn(window=4000)
    t.write(bytes(4000))
    assert sum(n for _, n in offsets(t.take())) == 4000
    # everything ACKed, but the window shrank to 10 octets (the peer's
    # application is slow): 10 octets into a 10-octet window is silly
    t.write(bytes(3000))
    assert offsets(t.send(**ack(4000, window=10))) == []
    assert t.conn.t_persist is not None
    # the override timeout (the persist timer) sends what the window takes
    out = offsets(t.advance(t.conn.t_persist - t.now))
    assert out == [(4000, 10)]
    # a useful window sends the rest at once
    assert sum(n for _, n in offsets(t.send(**ack(4010, window=4000)))) == 2990


def test_sender_sws_nothing_outstanding_half_window_goes_at_once():
    """The same rule lets a partial segment of half the largest window go."""
    t = conn(window=4000)
    t.write(bytes(4000))
    t.take()
    t.write(bytes(3000))
    assert offsets(t.send(**ack(4000, window=2000))) == [(4000, 1000), (5000, 1000)]


# ----------------------------------------------- RFC 2883 §4.2: partial duplicates
def data(off: int, payload: bytes):
    return dict(flags=ACK | PSH, seq=REMOTE_SEQ + off, ack=LOCAL_SEQ, payload=payload)


def sacks(seg) -> list[tuple[int, int]]:
    return [(a - REMOTE_SEQ, b - REMOTE_SEQ) for a, b in seg.options.sack]


def test_dsack_for_hole_filling_segment_that_duplicates_held_data():
    """RFC 2883 §4.2: a segment that fills the hole at RCV.NXT and runs on
    into data already held out of order: the ACK reports the duplicate
    sub-segment as a D-SACK block, before the remaining SACK blocks."""
    t = conn(sack=True, rcvbuf=65535)
    t.send(**data(0, b"a" * 500)).ignore()
    t.send(**data(1000, b"b" * 500)).ignore()          # held: 1000-1500
    t.send(**data(2000, b"c" * 500)).ignore()          # held: 2000-2500
    [reply] = t.send(**data(500, b"d" * 1000))  # 500-1500: fills 500-1000, repeats 1000-1500
    assert reply.ack == REMOTE_SEQ + 1500
    assert sacks(reply) == [(1000, 1500), (2000, 2500)]
    assert len(t.read()) == 1500


def test_dsack_example_5_reports_the_part_below_rcv_nxt_first():
    """RFC 2883 §4.2.2 example 5 (500-octet segments, offsets from 500): the
    1000-2499 segment arrives when 1000-1499 and 3000-3499 are in: the ACK
    is 2500 with D-SACK 1000-1500 (the first duplicate sub-segment), then
    3000-3500; 2000-2499 (also a duplicate) is not reported."""
    t = conn(sack=True, rcvbuf=65535)
    t.send(**data(0, b"x" * 500)).ignore()             # 500-999
    t.send(**data(2500, b"y" * 500)).ignore()          # 3000-3499
    t.send(**data(500, b"z" * 500)).ignore()           # 1000-1499: ACK 1500
    t.send(**data(1500, b"w" * 500)).ignore()          # 2000-2499 held
    [reply] = t.send(**data(500, b"v" * 1500))  # 1000-2499
    assert reply.ack == REMOTE_SEQ + 2000
    assert sacks(reply) == [(500, 1000), (2500, 3000)]


# ----------------------------------------------- the rfc profile stays RFC 6298 / RFC 6675
def test_rfc_profile_keeps_rfc6298_rto():
    """RFC 6298 (2.3)-(2.4): RTO = SRTT + max(G, 4 * RTTVAR), then at least
    1 s; the `rfc` profile keeps exactly that."""
    from synack.engine.rtt import RttEstimator
    cfg = rfc_profile()
    assert cfg.rto_min == 1.0 and cfg.rto_initial == 1.0
    est = RttEstimator(cfg.rto_initial, cfg.rto_min, cfg.rto_max, linux=cfg.linux_rto)
    est.sample(0.1)                           # SRTT 0.1, RTTVAR 0.05
    assert est.rto == 1.0                     # 0.1 + 0.2 = 0.3 < 1 s
    est.sample(0.1)
    est.sample(2.0)
    assert est.rto == pytest.approx(est.srtt + 4 * est.rttvar)


def test_rfc_profile_keeps_rfc6675_rescue_retransmission():
    """RFC 6675 NextSeg rule (4) stays on in the `rfc` profile (and RACK and
    PRR stay off there)."""
    cfg = rfc_profile()
    assert cfg.rescue_rxt and not cfg.rack and not cfg.prr
    t = conn(sack=True)
    t.write(bytes(10 * MSS))
    t.take()
    assert offsets(t.send(**ack(0, (1000, 9000)))) == [(0, MSS)]
    assert offsets(t.send(**ack(9 * MSS))) == [(9 * MSS, MSS)]


def test_linux_profile_has_no_rescue_retransmission():
    """Linux has no NextSeg rule (4): the `linux` profile turns it off."""
    assert not linux_profile().rescue_rxt
    t = conn(sack=True, rescue_rxt=False)
    t.write(bytes(10 * MSS))
    t.take()
    assert offsets(t.send(**ack(0, (1000, 9000)))) == [(0, MSS)]
    assert offsets(t.send(**ack(9 * MSS))) == []


# ----------------------------------------------- RFC 2883 §4: D-SACK, received
def test_repeated_sack_block_is_not_a_dsack():
    """RFC 2883 §4: a first SACK block is a D-SACK when it lies below the
    cumulative ACK or inside the second block. An ACK that merely repeats
    the SACK information the sender already holds (a window update, say)
    reports no duplicate: counting it would widen RACK's reordering window
    for nothing (RFC 8985 §6.2 step 4)."""
    from synack.engine.sack import Scoreboard
    b = Scoreboard()
    una, nxt = 1000, 20000
    b.update(una, nxt, [(3000, 4000)])
    b.update(una, nxt, [(3000, 4000)])                  # the same block again
    assert b.dsacks == 0 and b.last_dsack is None
    b.update(una, nxt, [(3000, 3500), (3000, 4000)])    # inside the second: a duplicate
    assert b.dsacks == 1 and b.last_dsack == (3000, 3500)
    b.update(una, nxt, [(500, 1000), (3000, 4000)])     # below SND.UNA
    assert b.dsacks == 2


def test_data_segment_with_sack_blocks_stays_within_the_mss():
    """A data segment that carries SACK blocks (our receive side holds
    out-of-order data) gives up payload for them: MSS counts the options
    beyond the fixed ones (RFC 9293 §3.7.1, as Linux's tcp_current_mss),
    so no segment exceeds the path's MTU."""
    t = conn(sack=True, rcvbuf=65535)
    t.send(**data(1000, b"x" * 100)).ignore()            # held out of order: one SACK block
    t.write(bytes(3 * MSS))
    segs = [s for s in t.take() if s.payload]
    assert segs and all(s.options.sack for s in segs)
    assert max(len(s.payload) for s in segs) == MSS - (4 + 8)
