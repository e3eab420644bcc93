"""Loss recovery and timers of the `linux` profile, each rule on its own:
the Linux RTO, an RTT sample from every ACK, RACK-TLP (RFC 8985), PRR
(RFC 6937). Driven with crafted segments through the bare-host harness
(MSS 1000, initial window 10); the packetdrill scripts that exercise the
same rules against Linux's own expectations are in
test_packetdrill_recovery.py.
"""
import pytest

from harness import ACK, LOCAL_SEQ, PEER_SYN_ACK, REMOTE_SEQ, Options, Tcp
from recovery_util import BIG, MSS, ack, offsets
from synack.engine.config import linux_profile
from synack.engine.rtt import RttEstimator



def conn(*, sack=False, rtt=0.1, **changes) -> Tcp:
    """A connection whose handshake took `rtt` seconds."""
    t = Tcp.syn_sent(sack=sack, initial_window=10, **changes)
    t.now = rtt
    t.send(PEER_SYN_ACK._replace(window=BIG, options=Options(mss=MSS, sack_permitted=sack))).ignore()
    t.conn.nodelay = True
    return t


# ------------------------------------------------------------------ the RTO
def test_linux_rto_minimum_bounds_the_variance_term():
    """Linux (tcp_set_rto): RTO = SRTT + max(4 * RTTVAR, rto_min). A 100 ms
    first sample gives 100 + max(200, 200) = 300 ms, where RFC 6298 (2.4)
    gives max(100 + 200, 200) = 300 too; a steady 100 ms path then gives
    300 ms under Linux and 200 ms (the floor) under RFC 6298."""
    lin = RttEstimator(1.0, 0.2, 120.0, linux=True)
    rfc = RttEstimator(1.0, 0.2, 120.0)
    for est in (lin, rfc):
        for _ in range(20):
            est.sample(0.1)
    assert lin.rto == pytest.approx(0.1 + 0.2, abs=1e-3)
    assert rfc.rto == pytest.approx(0.2)
    assert linux_profile().linux_rto


# ------------------------------------------------------------------ RTT per ACK
def test_every_ack_gives_an_rtt_sample_without_timestamps():
    """cfg.rtt_every_ack: without timestamps every ACK of new data is timed
    from the send time of the segments it covers (RFC 6298 would time one
    segment per round trip)."""
    t = conn(rtt_every_ack=True, timestamps=False)
    t.write(bytes(4 * MSS))
    t.take()
    seen = []
    for i, delay in enumerate((0.1, 0.15, 0.2, 0.25)):
        t.now = 0.1 + delay
        t.send(**ack((i + 1) * MSS))
        seen.append(t.conn.rtt.srtt)
    assert len(set(seen)) == 4                      # a new SRTT at each ACK


def test_one_sample_per_round_without_the_setting():
    t = conn(timestamps=False)
    t.write(bytes(4 * MSS))
    t.take()
    seen = []
    for i, delay in enumerate((0.1, 0.15, 0.2, 0.25)):
        t.now = 0.1 + delay
        t.send(**ack((i + 1) * MSS))
        seen.append(t.conn.rtt.srtt)
    assert len(set(seen)) == 1      # one timed segment (sent first, ACKed after 0.1 s): SRTT stays


def test_every_ack_sample_skips_retransmitted_segments():
    """Karn's rule (RFC 6298 §3, MUST-18) holds for per-ACK samples: the ACK
    of a retransmitted segment gives no sample."""
    t = conn(rtt_every_ack=True, timestamps=False)
    t.write(bytes(MSS))
    t.take()
    srtt = t.conn.rtt.srtt
    t.advance(1.5).ignore()                                  # RTO: the segment goes again
    assert t.stat("retransmits") == 1
    t.send(**ack(MSS))
    assert t.conn.rtt.srtt == srtt


# ------------------------------------------------------------------ tcpi_ca_state
def test_ca_state_open_disorder_recovery_open():
    """Linux's congestion states (tcpi_ca_state): Open; Disorder once SACKs
    arrive; Recovery at fast retransmit; Open when the recovery point is
    ACKed."""
    t = conn(sack=True)
    t.write(bytes(10 * MSS))
    t.take()
    assert t.conn.ca_state() == 0
    t.send(**ack(0, (1000, 2000)))
    assert t.conn.ca_state() == 1
    t.send(**ack(0, (1000, 4000))).ignore()
    assert t.conn.ca_state() == 3
    t.send(**ack(10 * MSS))
    assert t.conn.ca_state() == 0


def test_ca_state_loss_after_rto_until_recovery_point():
    t = conn(sack=True)
    t.write(bytes(3 * MSS))
    t.take()
    t.advance(1.5).ignore()
    assert t.stat("retransmits") >= 1 and t.conn.ca_state() == 4
    t.send(**ack(3 * MSS))
    assert t.conn.ca_state() == 0


# ------------------------------------------------------------------ PRR
def _recovery_pattern(prr: bool) -> list[list[tuple[int, int]]]:
    """Ten segments out, ten more queued; the first is lost and the peer
    SACKs the others one ACK at a time (Reno: ssthresh = 5 segments)."""
    t = conn(sack=True, congestion_control="reno", prr=prr)
    t.write(bytes(10 * MSS))
    t.take()
    t.write(bytes(10 * MSS))
    t.take()
    out = []
    for top in range(2, 12):
        out.append(offsets(t.send(**ack(0, (1000, top * MSS)))))
    return out


def test_prr_spreads_sending_over_the_recovery_round():
    """RFC 6937 §3: while pipe > ssthresh, sndcnt = CEIL(prr_delivered *
    ssthresh / RecoverFS) - prr_out: with ssthresh = RecoverFS / 2 one
    segment goes for every second segment delivered, from the first ACK of
    recovery on (the fast retransmit itself always goes)."""
    out = _recovery_pattern(prr=True)
    assert out[:2] == [[(10 * MSS, MSS)], [(11 * MSS, MSS)]]          # limited transmit
    assert out[2] == [(0, MSS)]                                        # fast retransmit
    # pipe 8 > ssthresh 5: one segment per two delivered (the 5th SACKed
    # segment); then pipe = ssthresh: conservation, one out per one delivered
    # once pipe drops below it (PRR-SSRB)
    assert out[3:] == [[], [], [(12 * MSS, MSS)], [], [], [(13 * MSS, MSS)], [(14 * MSS, MSS)]]


def test_rfc6675_waits_then_sends_one_per_ack():
    """Without PRR, RFC 6675 (cwnd = ssthresh at once) sends nothing until
    pipe falls below cwnd, then one segment per ACK."""
    out = _recovery_pattern(prr=False)
    assert out[2] == [(0, MSS)]
    # cwnd 5, pipe 9 after the retransmission: four ACKs in silence, then
    # one segment per ACK
    assert out[3:] == [[], [], [], [], [(12 * MSS, MSS)], [(13 * MSS, MSS)], [(14 * MSS, MSS)]]


# ------------------------------------------------------------------ slow start after idle
@pytest.mark.parametrize("after_idle, restarts", [(True, True), (False, False)])
def test_slow_start_after_idle_setting(after_idle, restarts):
    """RFC 5681 §4.1's restart window applies only with
    slow_start_after_idle (Linux's net.ipv4.tcp_slow_start_after_idle,
    which packetdrill's defaults.sh sets to 0)."""
    t = conn(sack=True, slow_start_after_idle=after_idle)
    t.conn.cc.cwnd = 30 * MSS
    t.write(bytes(MSS))
    t.take()
    t.send(**ack(MSS))
    cwnd = t.conn.cc.cwnd
    assert cwnd >= 30 * MSS
    t.now += 5.0                                  # idle far longer than the RTO
    t.write(bytes(40 * MSS))
    sent = len(offsets(t.take()))
    assert sent == (10 if restarts else cwnd // MSS)    # RW = min(IW, cwnd), or cwnd kept


def test_slow_start_after_idle_sysctl_is_read():
    from synack.packetdrill.initcmd import read_init
    plan = read_init("sysctl -q net.ipv4.tcp_slow_start_after_idle=0", linux_profile())
    assert plan.changes == {"slow_start_after_idle": False}


# ------------------------------------------------------------------ zero-window probes
def test_linux_zero_window_probe_is_zero_length_at_una_minus_one():
    """Linux (tcp_send_probe0 / tcp_xmit_probe_skb): the probe is a bare
    segment at SND.UNA - 1, carrying no data; the `octet` flavour (RFC 9293
    §3.8.6.1) sends one octet past the window."""
    for flavour, expect in (("linux", (MSS - 1, 0)), ("octet", (MSS, 1))):
        t = conn(zero_window_probe=flavour)
        t.write(bytes(MSS))
        t.take()
        t.send(**ack(MSS, window=0))
        t.write(bytes(MSS))
        assert t.take() == []
        [probe] = t.advance(t.conn.t_persist - t.now)
        assert (probe.seq - LOCAL_SEQ, len(probe.payload)) == expect, flavour


def test_linux_fin_waits_behind_a_zero_window():
    """With the `linux` flavour a FIN needs room in the window (Linux's
    tcp_snd_wnd_test): behind a zero window it waits, the probes go, and it
    is sent once the window opens."""
    from harness import FIN
    t = conn(zero_window_probe="linux")
    t.write(bytes(MSS))
    t.take()
    t.send(**ack(MSS, window=0))
    t.shutdown("wr")
    assert t.take() == []
    [probe] = t.advance(t.conn.t_persist - t.now)
    assert not probe.flags & FIN and probe.seq == LOCAL_SEQ + MSS - 1
    [fin] = t.send(**ack(MSS, window=BIG))
    assert fin.flags & FIN and fin.seq == LOCAL_SEQ + MSS


# ------------------------------------------------------------------ RACK
def rack_conn(**changes) -> Tcp:
    """SACK, 100 ms handshake RTT (min_RTT 0.1 s), RACK on."""
    return conn(sack=True, rack=True, rtt_every_ack=True, tlp=False, rto_min=0.2,
                linux_rto=True, **changes)


def test_rack_reordering_timer_retransmits_before_the_rto():
    """RFC 8985 §6.2-6.3: one segment SACKed above a hole (fewer than
    DupThresh): not lost yet; the reordering timer fires at the hole's send
    time + RACK.rtt + reo_wnd (min_RTT / 4), rounded up to 1 ms plus 2 ms
    as Linux, and the hole goes then -- long before the RTO."""
    t = rack_conn()
    t.write(bytes(4 * MSS))
    t.take()                                       # sent at 0.1
    t.now = 0.2
    assert offsets(t.send(**ack(0, (1000, 2000)))) == []
    assert t.conn.t_reo == pytest.approx(0.1 + 0.1 + 0.025 + 0.002)
    out = t.advance_to(t.conn.t_reo)
    assert offsets(out) == [(0, MSS)]
    assert t.conn.cc.in_recovery and t.conn.ca_state() == 3
    assert t.conn.t_rexmt > t.conn.t_reo if t.conn.t_reo else True


def test_rfc6675_waits_for_dupthresh_where_rack_times_out():
    """Without RACK the same single SACK starts nothing: DupThresh needs
    three segments SACKed above the hole (RFC 6675 IsLost), so the hole
    waits for the RTO."""
    t = conn(sack=True, rack=False, rtt_every_ack=True, tlp=False, rto_min=0.2)
    t.write(bytes(4 * MSS))
    t.take()
    t.now = 0.2
    t.send(**ack(0, (1000, 2000)))
    assert t.conn.t_reo is None
    assert t.advance(0.1) == [] and not t.conn.cc.in_recovery


def test_rack_tolerates_reordering_inside_the_window():
    """The hole is delivered (reordered, not lost) before the timer fires:
    nothing is retransmitted; reordering is recorded (tcpi_reordering)."""
    t = rack_conn()
    t.write(bytes(4 * MSS))
    t.take()
    t.now = 0.2
    t.send(**ack(0, (1000, 2000)))
    t.now = 0.21
    assert offsets(t.send(**ack(2 * MSS))) == []
    assert t.conn.t_reo is None and t.stat("retransmits") == 0
    assert t.conn.rack.reord_seen == 1 and t.conn.rack.reordering >= 2


def test_rack_three_sacks_without_reordering_mark_lost_at_once():
    """With no reordering seen and DupThresh segments SACKed, reo_wnd is 0
    (RFC 8985 §6.2 step 4): the hole is lost on that ACK."""
    t = rack_conn()
    t.write(bytes(6 * MSS))
    t.take()
    t.now = 0.2
    t.send(**ack(0, (1000, 2000)))
    t.send(**ack(0, (1000, 3000)))
    assert offsets(t.send(**ack(0, (1000, 4000)))) == [(0, MSS)]


def test_rack_dsack_widens_the_reordering_window():
    """RFC 8985 §6.2 step 4: a D-SACK (a spurious retransmission) raises
    RACK.reo_wnd_mult, once per round trip, kept for 16 recoveries."""
    t = rack_conn()
    t.write(bytes(4 * MSS))
    t.take()
    t.now = 0.2
    t.send(**ack(0, (1000, 2000)))
    t.advance_to(t.conn.t_reo).ignore()                     # 0..1000 retransmitted
    t.now += 0.01
    t.send(**ack(4 * MSS))                         # everything arrived: the original was late
    assert t.conn.rack.reo_wnd_mult == 1
    t.write(bytes(2 * MSS))                        # data outstanding: the D-SACK round spans it
    t.take()
    t.send(**ack(4 * MSS, (0, 1000)))              # D-SACK of the retransmission
    assert t.conn.rack.reo_wnd_mult == 2 and t.conn.rack.reo_wnd_persist == 16
    t.send(**ack(4 * MSS, (0, 1000)))              # the same round: no second step
    assert t.conn.rack.reo_wnd_mult == 2


def test_rack_lost_retransmission_found_by_time_order():
    """A retransmission is lost when a segment sent after it is delivered
    (RFC 8985 §6.2): it goes again without waiting for the RTO."""
    t = rack_conn(congestion_control="reno")
    t.write(bytes(10 * MSS))
    t.take()
    t.write(bytes(4 * MSS))                         # waiting for room in the window
    t.take()
    t.now = 0.2
    t.send(**ack(0, (1000, 2000))).ignore()
    t.send(**ack(0, (1000, 3000))).ignore()
    out = offsets(t.send(**ack(0, (1000, 4000))))
    assert out[0] == (0, MSS)                       # 0..1000 lost, retransmitted at 0.2
    # more SACKs: new data goes out after the retransmission
    t.now = 0.3
    later = []
    for top in (5, 6, 7, 8, 9):
        later += offsets(t.send(**ack(0, (1000, top * MSS))))
    new = [o for o in later if o[0] >= 10 * MSS]
    assert new, later
    # a segment sent after the retransmission is SACKed; the retransmission is not
    t.now = 0.45
    end = new[0][0] + MSS
    out = offsets(t.send(**ack(0, (1000, end))))
    assert (0, MSS) in out and t.stat("retransmits") == 2


def test_tlp_pto_rounded_up_to_the_tick_on_a_fast_path():
    """Linux's PTO for a multi-segment flight: 2*SRTT in 1 ms ticks, rounded
    up, plus TCP_TIMEOUT_MIN (2 ms): on a 0.1 ms path 3 ms, not 2.2 ms."""
    t = conn(sack=True, rtt=0.0001, tlp=True, tlp_extra=0.002)
    t.write(bytes(2 * MSS))
    t.take()
    assert t.conn.t_pto - t.now == pytest.approx(0.003)


def test_rack_orders_a_retransmission_after_new_data_sent_in_the_same_instant():
    """RFC 8985 §6.2 decides "sent after" by send time, breaking a tie by
    sequence number. A driver that reads its clock once per batch of ACKs
    sends, within one reading, new data for one ACK and then the
    retransmission of a lower sequence for the next. The retransmission was
    sent after that new data (as Linux's transmit stamps would say), so the
    delivery of the new data one RTT later must not mark the retransmission
    lost: no second retransmission (each loss was sent twice before, half of
    them spurious: the simulator's 1% grid saw 6 D-SACKs for 12 retransmissions)."""
    t = rack_conn(congestion_control="reno")
    t.write(bytes(10 * MSS))
    t.take()                                        # 0..10000 sent at 0.1
    t.write(bytes(4 * MSS))                         # waiting for room in the window
    t.take()
    t.now = 0.2                                     # one clock reading for three ACKs
    first = offsets(t.send(**ack(0, (1000, 2000))))
    first += offsets(t.send(**ack(0, (1000, 3000))))
    assert (10 * MSS, MSS) in first                 # new data went out at 0.2 ...
    out = offsets(t.send(**ack(0, (1000, 4000))))
    assert out[0] == (0, MSS)                       # ... then 0..1000, lost, at 0.2 too
    t.now = 0.4                                     # the new segment arrives, one RTT later
    again = offsets(t.send(**ack(0, (1000, 11 * MSS))))
    assert (0, MSS) not in again, "the retransmission was marked lost by the same-time tie"
    assert t.stat("retransmits") == 1


def _lose_the_segment_at_the_recovery_point(t: Tcp) -> tuple[int, list]:
    """One recovery (0..1000 lost) ended by an ACK of exactly its recovery
    point R; then the segment at R is lost and the three after it are
    SACKed. Returns R (an offset) and what the last SACK sent."""
    t.write(bytes(10 * MSS))
    t.take()                                        # 0..10000 sent at 0.1
    t.write(bytes(30 * MSS))
    t.take()
    t.now = 0.2
    for top in (2, 3, 4):
        t.send(**ack(0, (1000, top * MSS))).ignore()
    assert t.conn.cc.in_recovery
    r = (t.conn.recover - LOCAL_SEQ) & 0xFFFFFFFF
    t.now = 0.3
    after = offsets(t.send(**ack(r)))               # exactly RecoveryPoint: recovery ends
    assert not t.conn.cc.in_recovery
    sent = sorted(o for o, _ in after)
    assert sent and sent[0] == r, after             # the segment at R went out now
    t.now = 0.4                                     # one RTT on: R lost, the next three arrive
    out = []
    for k in (2, 3, 4):
        out += offsets(t.send(**ack(r, (r + MSS, r + k * MSS))))
    return r, out


def test_rack_recovers_a_loss_at_the_old_recovery_point_without_the_rto():
    """RFC 6582 §3.2 steps 1-2: a new recovery may start once the ACK covers
    more than `recover`, HighData of the last one. An ACK of exactly the
    recovery point covers it. The first segment sent after that point, lost,
    then starts a recovery when three later segments are SACKed (RACK, RFC
    8985 §6.2) -- before, SND.UNA had to pass it first, so it waited for the
    RTO (in the simulator's 20% grid: 0.22 s of silence, then cwnd 1)."""
    t = rack_conn(congestion_control="reno")
    r, out = _lose_the_segment_at_the_recovery_point(t)
    assert (r, MSS) in out, out
    assert t.conn.cc.in_recovery and t.stat("fast_retransmits") == 2


def test_rfc6675_recovers_a_loss_at_the_old_recovery_point_without_the_rto():
    """The same under RFC 6675 DupThresh (the `rfc` profile's recovery):
    IsLost(R) with three segments SACKed above it starts fast retransmit."""
    t = conn(sack=True, rack=False, prr=False, tlp=False, congestion_control="reno")
    r, out = _lose_the_segment_at_the_recovery_point(t)
    assert (r, MSS) in out, out
    assert t.conn.cc.in_recovery and t.stat("fast_retransmits") == 2


@pytest.mark.parametrize("from_cwnd, ssthresh", [(True, 10 * MSS), (False, 5 * MSS)])
def test_ssthresh_from_cwnd_when_the_peer_window_holds_the_flight(from_cwnd, ssthresh):
    """cfg.ssthresh_from_cwnd (the linux profile; Linux's tcp_reno_ssthresh
    and bictcp_recalc_ssthresh, allowed by RFC 9438 §4.6 with cwnd
    validation): a peer window of 10 segments holds the flight at 10 while
    slow start has taken cwnd to 20 (cwnd < 2 * the largest flight); a loss
    then halves cwnd (Reno), 10 segments, not the flight, 5. Off: RFC 5681
    §3.2 (4), FlightSize / 2."""
    t = rack_conn(congestion_control="reno", cwnd_validation=True, abc_limit=None,
                  ssthresh_from_cwnd=from_cwnd)
    t.write(bytes(40 * MSS))
    assert len(offsets(t.take())) == 10             # IW10 at 0.1
    t.now = 0.2
    t.send(**ack(10 * MSS, window=10 * MSS)).ignore()   # 10 more: the window is full
    assert t.conn.cc.cwnd == 20 * MSS
    assert (t.conn.snd_nxt - t.conn.snd_una) & 0xFFFFFFFF == 10 * MSS
    t.now = 0.3                                     # 10000..11000 lost, three SACKed
    for top in (12, 13, 14):
        t.send(**ack(10 * MSS, (11 * MSS, top * MSS), window=10 * MSS)).ignore()
    assert t.conn.cc.in_recovery
    assert t.conn.cc.ssthresh == ssthresh


def test_linux_profile_takes_ssthresh_from_cwnd():
    assert linux_profile().ssthresh_from_cwnd
    from synack.engine.config import rfc_profile
    assert not rfc_profile().ssthresh_from_cwnd


# ------------------------------------------------------------------ PRR without SACK
def _new_data_per_dupack(prr: bool) -> tuple[list[int], list]:
    """20 segments in flight without SACK (cwnd 20 after the first round),
    the first lost, then a duplicate ACK for each of the other 19. Returns
    the duplicate ACKs (1-based) after which new data went out, and the
    retransmissions."""
    t = conn(sack=False, prr=prr, congestion_control="reno", abc_limit=None,
             ssthresh_from_cwnd=True, rtt_every_ack=True)
    t.write(bytes(60 * MSS))
    t.take()                                        # IW10
    t.now = 0.2
    assert len(offsets(t.send(**ack(10 * MSS)))) == 20     # cwnd 20
    t.now = 0.3
    top = 30 * MSS
    when, rtx = [], []
    for k in range(1, 20):
        out = offsets(t.send(**ack(10 * MSS)))
        rtx += [o for o in out if o[0] < top]
        if any(o[0] >= top for o in out):
            when.append(k)
            top = max(o[0] + o[1] for o in out)
    return when, rtx


def test_prr_without_sack_spreads_new_data_over_the_recovery():
    """RFC 6937 §3 on a connection without SACK (cfg.prr, as Linux's
    tcp_cwnd_reduction for Reno): each duplicate ACK stands for a delivered
    segment; with RecoverFS 20 and ssthresh 10, one new segment goes for
    every second duplicate ACK from the fifth on (whole segments, as Linux). RFC 5681 §3.2's inflation
    sends nothing until cwnd (ssthresh + 3 + one per further duplicate ACK)
    passes the flight, then one per ACK. Both: limited transmit on the first
    two (RFC 3042) and the fast retransmit on the third."""
    when, rtx = _new_data_per_dupack(prr=True)
    assert rtx == [(10 * MSS, MSS)]
    assert when[:2] == [1, 2]                       # limited transmit
    # (by the 19th the pipe is down to ssthresh: PRR-SSRB, nothing more)
    assert when[2:] == [5, 7, 9, 11, 13, 15, 17]
    when, rtx = _new_data_per_dupack(prr=False)
    assert rtx == [(10 * MSS, MSS)]
    assert when[:2] == [1, 2]
    assert when[2] >= 13 and when[2:] == list(range(when[2], 20))


def test_prr_without_sack_partial_ack_retransmits_the_next_hole():
    """Two holes without SACK under PRR: the partial ACK that fills the
    first retransmits the second at once (RFC 6582 §3.2 step 4), and
    recovery ends at the recovery point with cwnd = ssthresh."""
    t = conn(sack=False, prr=True, congestion_control="reno", abc_limit=None,
             ssthresh_from_cwnd=True, rtt_every_ack=True)
    t.write(bytes(60 * MSS))
    t.take()
    t.now = 0.2
    t.send(**ack(10 * MSS)).ignore()
    t.now = 0.3
    for _ in range(3):                              # 10000 and 11000 lost
        t.send(**ack(10 * MSS)).ignore()
    assert t.conn.cc.in_recovery
    recover = (t.conn.recover - LOCAL_SEQ) & 0xFFFFFFFF
    for _ in range(10):
        t.send(**ack(10 * MSS)).ignore()
    out = offsets(t.send(**ack(11 * MSS)))          # partial: the next hole goes
    assert (11 * MSS, MSS) in out
    assert t.conn.cc.in_recovery
    t.send(**ack(recover)).ignore()
    assert not t.conn.cc.in_recovery
    assert t.conn.cc.cwnd == t.conn.cc.ssthresh == 10 * MSS
