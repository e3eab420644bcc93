"""Congestion control between two simulated hosts, with traces of cwnd,
ssthresh, RTO and the data in flight (RFC 5681, RFC 6582, RFC 6675, RFC 9438,
RFC 9406, RFC 7661's cwnd validation as Linux does it).

`Pair` runs one bulk transfer from 10.0.0.1 to 10.0.0.2 over one link and
samples the sender's state every millisecond of virtual time; a test drops
chosen segments with the simulator's fault hooks and reads the trace.
"""
from __future__ import annotations

import random

import pytest

from synack.engine import congestion
from synack.engine import events as ev
from synack.engine.config import linux_profile, rfc_profile
from synack.engine.isn import FixedIsn
from synack.engine.seq import MASK
from synack.sim import Network

MSS = 1448                      # 1500 - 40 - 12 (timestamps) in the linux profile


class Pair:
    def __init__(self, cfg, *, delay=0.05, rate=None, queue=None, loss=0.0, seed=1,
                 receiver_cfg=None, isn=None, sample=0.001):
        self.net = net = Network(seed=seed, trace=False)
        self.a = net.add_host("10.0.0.1", config=cfg, isn=FixedIsn(isn) if isn is not None else None)
        self.b = net.add_host("10.0.0.2", config=receiver_cfg or cfg,
                              isn=FixedIsn(isn) if isn is not None else None)
        net.link(self.a, self.b, delay=delay, bandwidth=rate, loss=loss, queue_limit=queue)
        self.rtt = 2 * delay
        self.timers: list[tuple[float, str]] = []
        self.a.host.on_timer = lambda host, obj, what, now: self.timers.append((now, what))
        self.b.host.listen(0.0, 80)
        self.data = b""
        self.sent = 0
        self.received = bytearray()
        self.t_done = None
        self.conn = None
        self.trace: list[tuple] = []     # (t, cwnd, ssthresh, rto, inflight, in_recovery) in segments
        self.losses: list[tuple[float, int, int]] = []   # (t, flight, cwnd) at each on_loss
        self.step = sample
        net.on_event = self._on_event

    # ------------------------------------------------------------ the app
    def _on_event(self, sh, e):
        conn, kind, now = e.conn, e.kind, self.net.now
        if kind is ev.ACCEPTABLE:
            conn.accept()
        elif kind in (ev.CONNECTED, ev.WRITABLE) and not conn.passive:
            self._write(conn, now)
        elif kind is ev.READABLE and conn.passive:
            self.received += conn.recv(now, 1 << 30)
            if len(self.received) >= len(self.data) and self.t_done is None:
                self.t_done = now

    def _write(self, conn, now):
        while self.sent < len(self.data):
            k = conn.send(now, self.data[self.sent:self.sent + (1 << 20)])
            if not k:
                break
            self.sent += k

    def start(self, nbytes: int, *, data: bytes | None = None):
        self.data = data if data is not None else bytes(nbytes)
        losses = self.losses
        cfg = self.a.host.config
        base = type(congestion.create(cfg.congestion_control, MSS, None))

        class Traced(base):                  # record every loss response
            __slots__ = ()

            def on_loss(self, now, flight):
                losses.append((now, flight, self.cwnd))
                base.on_loss(self, now, flight)
        # a controller of our own, made by the connection like any other (a
        # __class__ swap would not reach the compiled build's method table)
        name = f"traced-{cfg.congestion_control}"
        congestion.register(name)(Traced)
        self.conn = self.a.host.connect(0.0, "10.0.0.2", 80, config=cfg.replace(congestion_control=name))
        assert type(self.conn.cc) is Traced
        self.net.flush_all()
        self.net.call_at(self.step, self._sample)
        return self

    def _sample(self):
        c = self.conn
        if c.cc is not None and c.snd_mss:
            m = c.snd_mss
            self.trace.append((self.net.now, c.cc.cwnd / m, min(c.cc.ssthresh, 1 << 30) / m,
                               c.rtt.current(), ((c.snd_nxt - c.snd_una) & MASK) / m,
                               c.cc.in_recovery))
        if self.t_done is None:
            self.net.call_at(self.net.now + self.step, self._sample)

    def run(self, until=120.0):
        self.net.run(until=until)
        return self

    # ------------------------------------------------------------ reading the trace
    def cwnd_at(self, t: float) -> float:
        return min(self.trace, key=lambda r: abs(r[0] - t))[1]

    def recovery_periods(self) -> list[tuple[float, float]]:
        out, start = [], None
        for t, *_, rec in self.trace:
            if rec and start is None:
                start = t
            elif not rec and start is not None:
                out.append((start, t))
                start = None
        return out

    def rtos(self) -> int:
        return sum(1 for _, what in self.timers if what == "RTO")


def data_segment_dropper(indices):
    """Drop the sender's data segments whose index (counting first
    transmissions in sequence order, from 0) is in `indices`, once each."""
    wanted = set(indices)
    first: dict[int, int] = {}

    def match(pkt):
        seg = pkt.seg
        if pkt.src != "10.0.0.1" or not seg.payload:
            return False
        if seg.seq not in first:
            first[seg.seq] = len(first)
            if first[seg.seq] in wanted:
                wanted.discard(first[seg.seq])
                return True
        return False
    return match


def rfc_sack(**changes):
    base = dict(sack=True, rcvbuf=4 << 20, sndbuf=4 << 20)
    base.update(changes)
    return rfc_profile().replace(**base)


# ------------------------------------------------------------------ slow start
def test_slow_start_doubles_per_rtt():
    """RFC 5681 §3.1: one SMSS per ACK; with every segment ACKed (no delayed
    ACK at the receiver) cwnd doubles each round trip."""
    p = Pair(rfc_sack(), receiver_cfg=rfc_sack(delayed_ack=False), delay=0.05)
    p.start(3_000_000).run()
    # the link is infinitely fast: a round's ACKs all arrive together, so
    # mid-round the window is a clean step function of the round number
    rounds = [p.cwnd_at(0.1 + k * p.rtt + p.rtt / 2) for k in range(1, 7)]
    assert rounds[0] == 2 * 3                   # IW = 3 segments (RFC 5681 §3.1, SMSS 1460)
    assert [b / a for a, b in zip(rounds, rounds[1:])] == [2.0] * 5
    assert p.received == p.data


def test_slow_start_with_delayed_acks_grows_by_delivered_segments_in_linux_mode():
    """Linux's slow start (abc_limit=None): cwnd grows by every segment an ACK
    delivers, so delayed ACKs (one per two segments) still double it per RTT;
    RFC 5681's one-SMSS-per-ACK would give 1.5x."""
    cfg = linux_profile().replace(rcvbuf=4 << 20, sndbuf=4 << 20, hystart=None, tlp=False)
    p = Pair(cfg, delay=0.05)
    p.start(3_000_000).run()
    rounds = [p.cwnd_at(0.1 + k * p.rtt + p.rtt / 2) for k in range(1, 5)]
    assert rounds[0] == 20
    for a, b in zip(rounds, rounds[1:]):
        assert b / a == pytest.approx(2.0, abs=0.1)


# ------------------------------------------------------------------ one loss
@pytest.mark.parametrize("cc, beta", [("reno", 0.5), ("cubic", 0.7)])
def test_single_loss_reduces_cwnd_by_beta(cc, beta):
    """One segment lost in slow start: fast retransmit; ssthresh = FlightSize/2
    (RFC 5681 §3.2 step 2) for Reno, FlightSize * 0.7 for CUBIC (RFC 9438
    §4.6); after recovery cwnd = ssthresh; no timeout."""
    p = Pair(rfc_sack(congestion_control=cc), delay=0.02)
    p.net.drop(data_segment_dropper([60]))
    p.start(2_000_000).run()
    assert p.received == p.data
    assert p.rtos() == 0 and p.a.stats["fast_retransmits"] == 1
    [(t, flight, cwnd_before)] = p.losses
    mss = p.conn.snd_mss
    expect = max(int(flight * beta) if cc == "cubic" else flight // 2, 2 * mss)
    after = [r for r in p.trace if r[0] > t and not r[5]]
    assert after, "recovery never ended"
    assert after[0][1] * mss == pytest.approx(expect, abs=mss)    # cwnd = ssthresh at exit
    assert after[0][2] * mss == expect
    # the trace shows the drop: from about cwnd before to beta times it
    assert after[0][1] == pytest.approx(beta * cwnd_before / mss, rel=0.15)


# ------------------------------------------------------------------ many losses
def test_several_losses_in_one_window_repaired_in_about_one_rtt_with_sack():
    """RFC 6675: five segments of one window lost; the SACK scoreboard lets
    the sender resend exactly the five holes within about one round trip,
    without a timeout. NewReno (RFC 6582), without SACK, needs a round trip
    per hole."""
    def run(sack):
        p = Pair(rfc_sack(sack=sack), delay=0.02)
        p.net.drop(data_segment_dropper([40, 43, 46, 49, 52]), count=None)
        p.start(1_500_000).run()
        assert p.received == p.data
        assert p.rtos() == 0
        [(start, end)] = p.recovery_periods()
        return p, end - start

    p, took = run(True)
    assert p.a.stats["retransmits"] == 5              # the holes, each once
    assert took <= 1.5 * p.rtt
    _, newreno_took = run(False)
    assert newreno_took >= 4 * p.rtt                  # one hole per round trip
    assert took < newreno_took / 3


def test_lost_retransmission_repaired_without_timeout():
    """A retransmission lost in SACK recovery is sent again once data sent
    after it is SACKed (RACK's rule, RFC 8985 §6.2), not after an RTO."""
    p = Pair(rfc_sack(), delay=0.02)
    dropped = []

    def match(pkt, seen=set()):
        seg = pkt.seg
        if pkt.src != "10.0.0.1" or not seg.payload:
            return False
        key = seg.seq
        if key == p.conn.iss + 1 + 40 * p.conn.snd_mss:
            dropped.append(p.net.now)
            return len(dropped) <= 2                 # the original and its first retransmission
        return False
    p.net.drop(match, count=None)
    p.start(1_500_000).run()
    assert p.received == p.data
    assert len(dropped) == 3
    assert p.rtos() == 0
    assert p.a.stats["lost_retransmissions"] == 1


# ------------------------------------------------------------------ timeout
def test_rto_collapses_cwnd_to_one_segment():
    """RFC 5681 §3.1 equation (4): after a retransmission timeout cwnd is one
    segment (the loss window) and ssthresh half the flight; RFC 6298 §5.5: the
    RTO doubles while the timeouts go on."""
    p = Pair(rfc_sack(), delay=0.02)
    window = {"on": False}
    p.net.drop(lambda pkt: window["on"] and pkt.src == "10.0.0.1", count=None)
    p.net.call_at(0.3, lambda: window.update(on=True))
    p.net.call_at(3.5, lambda: window.update(on=False))
    p.start(2_000_000).run()
    assert p.received == p.data
    assert p.rtos() >= 2
    during = [r for r in p.trace if 1.5 < r[0] < 3.4]
    assert min(r[1] for r in during) == 1.0
    rtos = [r[3] for r in during]
    assert max(rtos) >= 2 * min(rtos)            # backed off


def test_restart_after_idle():
    """RFC 5681 §4.1: after more than an RTO without sending, cwnd restarts
    from RW = min(IW, cwnd)."""
    p = Pair(rfc_sack(), delay=0.02)
    p.start(500_000).run(until=5.0)
    assert p.received == p.data
    c = p.conn
    grown = c.cc.cwnd
    assert grown > 10 * c.snd_mss
    c.send(p.net.now + 2.0, bytes(100_000))
    assert c.cc.cwnd == 3 * c.snd_mss            # IW for SMSS 1460 (RFC 5681 §3.1)


# ------------------------------------------------------------------ cwnd validation
@pytest.mark.parametrize("validate", [True, False])
def test_app_limited_sender_does_not_inflate_cwnd(validate):
    """Linux's tcp_is_cwnd_limited (the idea of RFC 7661): a sender that writes
    4 segments per round trip never fills its window, so cwnd must not grow
    past twice what it uses; without validation every ACK grows it."""
    cfg = linux_profile().replace(cwnd_validation=validate, hystart=None)
    p = Pair(cfg, delay=0.05)
    p.start(0)
    c = p.conn
    p.net.run(until=0.2)
    for k in range(30):
        p.net.call_at(0.2 + k * p.rtt, lambda: c.send(p.net.now, bytes(4 * c.snd_mss)))
    p.net.run(until=0.2 + 31 * p.rtt)
    cwnd = c.cc.cwnd // c.snd_mss
    if validate:
        # at most twice the largest flight: 8 segments, when a delayed ACK
        # leaves one write's segments unacknowledged as the next goes out
        assert cwnd <= 16
    else:
        assert cwnd > 40


# ------------------------------------------------------------------ HyStart
def _deep_queue_run(hystart):
    cfg = linux_profile().replace(rcvbuf=16 << 20, max_rcvbuf=16 << 20, sndbuf=16 << 20,
                                  hystart=hystart, congestion_control="reno")
    p = Pair(cfg, delay=0.01, rate=100e6, queue=1000)
    p.start(5_000_000).run()
    assert p.received == p.data
    return p


def test_hystart_linux_leaves_slow_start_before_the_queue_overflows():
    """Linux CUBIC's HyStart delay test: a round's minimum RTT more than
    clamp(minRTT/8, 4 ms, 16 ms) above the path's minimum ends slow start
    (ssthresh = cwnd) with no loss; plain slow start runs on until the deep
    queue (about 6 BDP) overflows."""
    p = _deep_queue_run("linux")
    assert p.net.stats["dropped"] == 0
    bdp = 100e6 * p.rtt / 8 / p.conn.snd_mss        # about 173 segments
    exit_window = p.conn.cc.ssthresh / p.conn.snd_mss
    assert bdp < exit_window < 3 * bdp
    q = _deep_queue_run(None)
    assert q.net.stats["dropped"] > 0


def test_hystart_rfc9406_enters_conservative_slow_start():
    """RFC 9406 §4.2: the RTT rise moves to Conservative Slow Start (growth /4)
    and after CSS_ROUNDS rounds to congestion avoidance: ssthresh ends up set
    from the window at that point, well below where plain slow start's loss
    would have put it."""
    p = _deep_queue_run("rfc9406")
    hs = p.conn.hystart
    assert hs.phase == hs.DONE
    assert p.conn.cc.ssthresh < 1 << 30


# ------------------------------------------------------------------ wrap
def test_transfer_across_the_wrap_at_high_bandwidth_with_timestamps_and_paws():
    """1 Gbit/s, ISNs just below 2**32: every segment after the first few
    megabytes is numbered past the wrap; timestamps and PAWS (RFC 7323 §5)
    are on and must drop nothing; the bytes arrive exact."""
    cfg = linux_profile().replace(rcvbuf=8 << 20, sndbuf=8 << 20)
    p = Pair(cfg, delay=0.0005, rate=1e9, queue=2000, isn=2**32 - 3_000_000)
    blob = random.Random(7).randbytes(8_000_000)
    p.start(len(blob), data=blob).run()
    assert bytes(p.received) == blob
    assert p.conn.ts_ok
    assert p.a.stats["drop_paws"] == 0 and p.b.stats["drop_paws"] == 0
    assert ((p.conn.snd_nxt - p.conn.iss) & MASK) > 2**32 - p.conn.iss   # it wrapped
    assert len(blob) * 8 / p.t_done > 500e6        # at high bandwidth
