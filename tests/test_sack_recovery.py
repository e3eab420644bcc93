"""Loss recovery on one connection driven with crafted segments: fast
retransmit (RFC 5681 §3.2), NewReno (RFC 6582), limited transmit (RFC 3042),
SACK-based recovery (RFC 6675), the receiver's SACK and D-SACK blocks
(RFC 2018, RFC 2883), Tail Loss Probe (RFC 8985 §7), and the timestamp rules
these rely on (RFC 7323).

The sender's MSS is 1000 (the peer's SYN,ACK says so), its initial window 10
segments; the peer's ACKs offer a 64 KiB window, so cwnd is the only limit.
"""
import pytest

from harness import ACK, LOCAL_SEQ, PEER_SYN_ACK, PSH, REMOTE_SEQ, RST, Options, Tcp

MSS = 1000
BIG = 65535


def sack_conn(*, sack=True, **changes) -> Tcp:
    t = Tcp.syn_sent(sack=sack, initial_window=10, **changes)
    t.send(PEER_SYN_ACK._replace(window=BIG, options=Options(mss=MSS, sack_permitted=sack))).ignore()
    t.conn.nodelay = True
    return t


def ack(n: int, *blocks, window=BIG):
    """The peer's ACK of our first n octets, with SACK blocks given as octet
    offsets [(start, end), ...]."""
    sack = tuple((LOCAL_SEQ + a, LOCAL_SEQ + b) for a, b in blocks)
    return dict(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ + n, window=window,
                options=Options(sack=sack))


def offsets(segs) -> list[tuple[int, int]]:
    return [(s.seq - LOCAL_SEQ, len(s.payload)) for s in segs if s.payload]


def send_window(t: Tcp, nbytes: int) -> list:
    t.write(bytes(nbytes))
    return offsets(t.take())


# ------------------------------------------------------------------ NewReno
def test_three_dupacks_exactly_one_fast_retransmit():
    """RFC 5681 §3.2: the third duplicate ACK retransmits the missing segment,
    once; more duplicates inflate cwnd (step 4) and send new data, never the
    same segment again (RFC 6582)."""
    t = sack_conn(sack=False)
    assert len(send_window(t, 10 * MSS)) == 10
    t.write(bytes(10 * MSS))                          # more data waiting
    t.take()
    out = [offsets(t.send(**ack(0))) for _ in range(6)]
    assert out[0] == [(10 * MSS, MSS)] and out[1] == [(11 * MSS, MSS)]   # limited transmit
    assert out[2] == [(0, MSS)]                       # the fast retransmit
    assert all(o[0][0] >= 12 * MSS for o in out[3:] if o)              # only new data after it
    assert t.stat("fast_retransmits") == 1 and t.stat("retransmits") == 1


def test_limited_transmit_one_new_segment_per_first_two_dupacks():
    """RFC 3042: the first and second duplicate ACKs each release one new
    segment (cwnd itself unchanged); the third one retransmits."""
    t = sack_conn(sack=False)
    send_window(t, 10 * MSS)
    t.write(bytes(5 * MSS))
    t.take()
    cwnd = t.conn.cc.cwnd
    assert offsets(t.send(**ack(0))) == [(10 * MSS, MSS)]
    assert offsets(t.send(**ack(0))) == [(11 * MSS, MSS)]
    assert t.conn.cc.cwnd == cwnd
    assert offsets(t.send(**ack(0))) == [(0, MSS)]


def test_newreno_partial_ack_retransmits_next_hole():
    """RFC 6582 §3.2 step 4: a partial ACK retransmits the first unacknowledged
    segment at once; the full ACK of `recover` ends recovery with cwnd = ssthresh."""
    t = sack_conn(sack=False)
    send_window(t, 10 * MSS)
    for _ in range(3):
        t.send(**ack(0)).ignore()
    assert offsets(t.send(**ack(2 * MSS))) == [(2 * MSS, MSS)]
    t.send(**ack(10 * MSS))
    assert not t.conn.cc.in_recovery and t.conn.cc.cwnd == t.conn.cc.ssthresh == 5 * MSS


# ------------------------------------------------------------------ SACK recovery
def test_sack_block_for_later_segment_retransmits_only_the_hole():
    """RFC 6675: SACK blocks above SND.UNA are never resent; IsLost(SND.UNA)
    (three segments SACKed above it) starts recovery and only the hole goes."""
    t = sack_conn()
    send_window(t, 10 * MSS)
    t.write(bytes(10 * MSS))
    t.take()
    # limited transmit by pipe (RFC 6675 §5 step (3)): a new segment per SACKed one
    assert offsets(t.send(**ack(0, (1000, 2000)))) == [(10 * MSS, MSS)]
    assert offsets(t.send(**ack(0, (1000, 3000)))) == [(11 * MSS, MSS)]
    out = t.send(**ack(0, (1000, 4000)))
    assert offsets(out) == [(0, MSS)]
    assert t.conn.sack_recovery and t.stat("fast_retransmits") == 1
    # more SACKs: the SACKed range is never sent again
    for n in range(5, 12):
        out = t.send(**ack(0, (1000, n * MSS)))
        assert all(not 1000 <= off < n * MSS for off, _ in offsets(out))
    assert t.stat("retransmits") == 1


def test_sack_recovery_resends_every_lost_hole_at_once_within_cwnd():
    """RFC 6675 §5: one ACK whose SACK blocks leave three holes, each with
    DupThresh segments' worth SACKed above it (IsLost): the holes go out
    together (NextSeg rule 1) as cwnd - pipe allows, in sequence order."""
    t = sack_conn()
    send_window(t, 10 * MSS)
    out = t.send(**ack(0, (1000, 2000), (3000, 4000), (5000, 10000)))
    assert offsets(out) == [(0, MSS), (2 * MSS, MSS), (4 * MSS, MSS)]
    assert t.conn.cc.ssthresh == t.conn.cc.cwnd == 5 * MSS      # FlightSize / 2
    # the cumulative ACK of everything ends recovery (RFC 6675 §5 (A))
    t.send(**ack(10 * MSS))
    assert not t.conn.sack_recovery and not t.conn.cc.in_recovery


def test_sack_recovery_rescue_retransmission_of_the_tail():
    """RFC 6675 NextSeg rule (4): with nothing else to send, one segment that
    includes the highest unSACKed octet is retransmitted, once per recovery."""
    t = sack_conn()
    send_window(t, 10 * MSS)
    # holes: 0..1000 (lost) and the tail 9000..10000 (not SACKed above: not lost)
    assert offsets(t.send(**ack(0, (1000, 9000)))) == [(0, MSS)]
    # the retransmission arrives: HighACK passes RescueRxt; the tail is the
    # highest unSACKed data, not lost by IsLost (nothing SACKed above it)
    assert offsets(t.send(**ack(9 * MSS))) == [(9 * MSS, MSS)]
    assert t.conn.cc.in_recovery
    assert offsets(t.send(**ack(9 * MSS))) == []   # once per recovery


def test_lost_retransmission_sent_again_without_rto():
    """A retransmission is lost when data first sent after it is SACKed
    (RFC 8985 §6.2's rule on the RFC 6675 scoreboard): it is sent again at
    once, with no timeout."""
    t = sack_conn()
    send_window(t, 10 * MSS)
    t.write(bytes(30 * MSS))
    t.take()
    assert offsets(t.send(**ack(0, (1000, 2000), (3000, 4000), (5000, 6000)))) == [(0, MSS)]
    # The receiver gets everything but that retransmission; new data flows in
    # recovery (NextSeg rule 2) and is SACKed too. Once more than 2*SMSS sent
    # after the retransmission are SACKed, it is known lost and goes again.
    top = 10 * MSS
    sent = []
    for _ in range(6):
        out = offsets(t.send(**ack(0, (1000, top))))
        sent += out
        if (0, MSS) in out:
            break
        top = max([top] + [off + n for off, n in out])
    assert sent.count((0, MSS)) == 1
    assert t.stat("lost_retransmissions") == 1
    assert any(off >= 10 * MSS for off, _ in sent)      # new data went meanwhile


def test_rto_keeps_sack_information_and_skips_sacked_data():
    """After a first timeout the SACK scoreboard is kept (RFC 6675 §5.1):
    go-back-N resends only what the receiver has not SACKed."""
    t = sack_conn()
    send_window(t, 3 * MSS)
    t.send(**ack(0, (2000, 3000)))                 # one SACK: no recovery
    [rtx] = t.advance_to(1.0)
    assert offsets([rtx]) == [(0, MSS)]
    out = offsets(t.send(**ack(MSS, (2000, 3000))))
    assert out == [(MSS, MSS)]                     # 2000..3000 is skipped
    assert offsets(t.send(**ack(3 * MSS))) == []


def test_second_rto_in_a_row_forgets_sacks():
    """RFC 2018 §8: a receiver may renege; after a second timeout in a row
    the SACK information is dropped and everything is resent."""
    t = sack_conn()
    send_window(t, 3 * MSS)
    t.send(**ack(0, (2000, 3000)))
    t.advance_to(1.0).ignore()
    t.advance_to(3.0).ignore()
    assert not t.conn.board.blocks


# ------------------------------------------------------------------ receiver side
def data(off: int, payload: bytes, **kw):
    return dict(flags=ACK | PSH, seq=REMOTE_SEQ + off, ack=LOCAL_SEQ, payload=payload, **kw)


def sacks(seg) -> list[tuple[int, int]]:
    return [(a - REMOTE_SEQ, b - REMOTE_SEQ) for a, b in seg.options.sack]


def test_receiver_sack_blocks_most_recent_first():
    """RFC 2018 §4: the first block holds the segment that triggered the ACK,
    the others follow most recently changed first."""
    t = sack_conn(rcvbuf=65535)
    assert sacks(t.send(**data(200, b"b" * 100))[0]) == [(200, 300)]
    assert sacks(t.send(**data(400, b"c" * 100))[0]) == [(400, 500), (200, 300)]
    assert sacks(t.send(**data(600, b"d" * 100))[0]) == [(600, 700), (400, 500), (200, 300)]
    assert sacks(t.send(**data(300, b"e" * 50))[0]) == [(200, 350), (600, 700), (400, 500)]


def test_receiver_dsack_for_data_below_rcv_nxt():
    """RFC 2883 §4: a duplicate segment is reported in a D-SACK block, first,
    once."""
    t = sack_conn(rcvbuf=65535)
    t.send(**data(0, b"a" * 100)).ignore()
    [reply] = t.send(**data(0, b"a" * 100))
    assert reply.ack == REMOTE_SEQ + 100 and sacks(reply) == [(0, 100)]
    [reply] = t.send(**data(0, b"a" * 100))
    assert sacks(reply) == [(0, 100)]


def test_receiver_dsack_for_out_of_order_duplicate():
    """RFC 2883 §4: a duplicate of data held out of order: the D-SACK block,
    then the block that holds it."""
    t = sack_conn(rcvbuf=65535)
    t.send(**data(200, b"b" * 300)).ignore()
    t.send(**data(600, b"c" * 100)).ignore()
    [reply] = t.send(**data(300, b"b" * 100))
    assert sacks(reply) == [(300, 400), (200, 500), (600, 700)]
    [reply] = t.send(**data(800, b"x" * 10))
    assert sacks(reply)[0] == (800, 810)           # the D-SACK went once


def test_sender_ignores_dsack_below_una_for_recovery():
    """A D-SACK for already-acknowledged data is not a duplicate ACK
    (RFC 2883 §4, RFC 6675 §2: it SACKs nothing new)."""
    t = sack_conn()
    send_window(t, 4 * MSS)
    t.send(**ack(2 * MSS))
    for _ in range(4):
        t.send(**ack(2 * MSS, (0, 1000)))
    assert t.stat("fast_retransmits") == 0 and t.conn.board.dsacks == 4


# ------------------------------------------------------------------ TLP
def tlp_conn(rto_min=0.2, **changes) -> Tcp:
    """Handshake with a 100 ms RTT: SRTT 0.1, RTTVAR 0.05, RTO 0.3 s."""
    t = Tcp.syn_sent(sack=True, tlp=True, initial_window=10, rto_min=rto_min, **changes)
    t.now = 0.1
    t.send(PEER_SYN_ACK._replace(window=BIG, options=Options(mss=MSS, sack_permitted=True))).ignore()
    t.conn.nodelay = True
    return t


def test_tlp_probe_at_two_srtt_retransmits_the_last_segment():
    """RFC 8985 §7.2-7.3: with several segments out, PTO = 2*SRTT; with no new
    data the probe is the last segment sent; then the RTO, not another PTO,
    is armed (now + RTO)."""
    t = tlp_conn(rto_min=1.0)
    assert len(send_window(t, 3 * MSS)) == 3
    assert t.advance_to(0.299) == []
    assert offsets(t.advance_to(0.301)) == [(2 * MSS, MSS)]     # 0.1 + 2 * 0.1
    assert t.stat("tlp_probes") == 1
    assert t.advance_to(1.299) == []
    assert offsets(t.advance_to(1.301)) == [(0, MSS)]   # the RTO, from the probe's time


def test_tlp_one_segment_waits_for_a_delayed_ack_but_not_past_the_rto():
    """RFC 8985 §7.2: one segment in flight adds TLP.max_ack_delay (200 ms)
    to the PTO; the PTO is never later than the RTO would fire."""
    t = tlp_conn(rto_min=1.0)
    send_window(t, MSS)
    assert t.advance_to(0.499) == []
    assert offsets(t.advance_to(0.501)) == [(0, MSS)]     # 0.1 + 2*0.1 + 0.2
    t2 = tlp_conn(rto_min=0.2)                             # RTO 0.3 < PTO 0.4
    send_window(t2, MSS)
    assert t2.advance_to(0.399) == []
    assert offsets(t2.advance_to(0.401)) == [(0, MSS)] and t2.stat("tlp_probes") == 1


def test_tlp_sends_new_data_when_the_window_allows():
    """RFC 8985 §7.3: new data, if any and the peer's window allows, is the
    probe (it may exceed cwnd by one segment)."""
    t = tlp_conn(rto_min=1.0)
    send_window(t, 10 * MSS)
    t.write(bytes(MSS))
    t.take()
    assert offsets(t.advance_to(0.301)) == [(10 * MSS, MSS)]


def test_tlp_not_once_data_is_sacked():
    """RFC 8985 §7.2: no PTO while segments are SACKed (the recovery
    mechanisms take over)."""
    t = tlp_conn(rto_min=1.0)
    send_window(t, 3 * MSS)
    t.send(**ack(0, (2000, 3000)))
    assert t.advance_to(0.9) == [] and t.stat("tlp_probes") == 0


def test_tlp_repairing_a_loss_reduces_cwnd():
    """RFC 8985 §7.4.2: an ACK beyond the probe's end with no sign the probe
    was a duplicate means the probe repaired a loss: cwnd is reduced as for
    a loss (RFC 5681)."""
    t = tlp_conn(rto_min=1.0)
    send_window(t, 3 * MSS)
    assert offsets(t.advance_to(0.301)) == [(2 * MSS, MSS)]   # the probe
    t.write(bytes(MSS))
    t.take()
    before = t.conn.cc.cwnd
    t.send(**ack(4 * MSS))
    assert t.stat("tlp_recoveries") == 1 and t.conn.cc.cwnd < before


# ------------------------------------------------------------------ timestamps
def ts_conn(**changes) -> Tcp:
    t = Tcp.established(peer_options=Options(mss=1460, timestamp=(100, 0)), timestamps=True,
                        **changes)
    return t


def test_ts_recent_not_taken_from_a_segment_with_an_ack_of_unsent_data():
    """RFC 9293 §3.10.7.4 fifth step: an ACK of something not yet sent is
    answered and the segment dropped; its TSval must not become TS.Recent
    (RFC 7323 §4.3 updates from accepted segments, as Linux does), or the
    next genuine segment would fail PAWS."""
    t = ts_conn()
    [reply] = t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ + 9999,
                     options=Options(timestamp=(200000, 0)))
    assert reply.ack == REMOTE_SEQ and t.conn.ts_recent == 100
    [reply] = t.send(flags=ACK | PSH, seq=REMOTE_SEQ, ack=LOCAL_SEQ, payload=b"ok",
                     options=Options(timestamp=(201, 0)))
    assert reply.ack == REMOTE_SEQ + 2 and t.stat("drop_paws") == 0
    assert t.conn.ts_recent == 201


def test_abort_rst_carries_timestamps():
    """RFC 7323 §5.2: an <RST> sent because of a user abort SHOULD carry the
    Timestamps option (TSecr = TS.Recent, as Linux does)."""
    t = ts_conn()
    t.now = 1.0
    t.abort()
    [rst] = t.take()
    assert rst.flags == RST | ACK
    assert rst.options.timestamp == ((1000 + t.conn.ts_offset) & 0xFFFFFFFF, 100)


def test_srtt_from_echoed_timestamp():
    """RFC 7323 §4.1 / RFC 6298 §2.2: the first sample from a TSecr echo sets
    SRTT = R, RTTVAR = R/2 (here the handshake at t=0 gave none: TSecr 0)."""
    t = Tcp.syn_sent(timestamps=True)
    t.now = 0.25
    t.send(PEER_SYN_ACK._replace(options=Options(mss=1460, timestamp=(5, (t.conn.ts_offset) & 0xFFFFFFFF)))).ignore()
    assert t.conn.rtt.srtt == pytest.approx(0.25)
    assert t.conn.rtt.rttvar == pytest.approx(0.125)
