"""CUBIC congestion control (RFC 9438), registered as "cubic".

Windows are kept in segments (floats) internally, as the RFC writes them, and
exposed in bytes through `cwnd`/`ssthresh` like every controller here.

  W_cubic(t) = C * (t - K)^3 + W_max                      (§4.2, Figure 1)
  K = cbrt((W_max - cwnd_epoch) / C)                      (Figure 2)
  target = clamp(W_cubic(t + RTT), cwnd, 1.5 * cwnd)      (§4.2)
  W_est += alpha_cubic * segments_acked / cwnd             (§4.3, Figure 4)
  on loss: ssthresh = flight * beta; W_max per fast convergence (§4.6, §4.7)
"""
from __future__ import annotations

from typing import Final

from .._mypyc import mypyc_attr
from .congestion import CongestionControl, register

C: Final = 0.4
BETA: Final = 0.7
ALPHA: Final = 3 * (1 - BETA) / (1 + BETA)

# Linux's tcp_cubic.c in its own fixed-point units (the `linux` profile):
# beta 717/1024, C = 410/1024 with time in 1/1024 s, tick rate HZ of the
# reference kernel (Linux 6.18 here, built with HZ=250)
LINUX_HZ: Final = 250
L_BETA: Final = 717
L_CUBE_RTT_SCALE: Final = 410                     # bic_scale 41 * 10
L_CUBE_FACTOR: Final = (1 << 40) // 410           # 2^(10 + 3 * BICTCP_HZ) / cube_rtt_scale
L_BETA_SCALE: Final = 8 * (1024 + 717) // 3 // (1024 - 717)   # 15: the Reno-friendly slope


@mypyc_attr(allow_interpreted_subclasses=True)
class Cubic(CongestionControl):
    __slots__ = ("w_max", "k", "t_epoch", "cwnd_epoch", "w_est", "cwnd_prior",
                 "fast_convergence", "_frac", "linux", "lx")

    def __init__(self, mss: int, initial_window: int | None):
        super().__init__(mss, initial_window)
        self.w_max = 0.0
        self.k = 0.0
        self.t_epoch: float | None = None
        self.cwnd_epoch = 0.0
        self.w_est = 0.0
        self.cwnd_prior = 0.0
        self.fast_convergence = True      # §4.7 SHOULD (Linux has it on)
        self._frac = 0.0                  # sub-byte growth carried between ACKs
        self.linux = False                # Linux's arithmetic (use_linux_arithmetic)
        # its state, as tcp_cubic.c's struct bictcp: [cnt, last_max_cwnd,
        # last_cwnd, last_time, origin, K, epoch_start (-1: none), ack_cnt,
        # tcp_cwnd, snd_cwnd_cnt]
        self.lx: list[int] = [2, 0, 0, 0, 0, 0, -1, 0, 0, 0]

    def use_linux_arithmetic(self) -> None:
        self.linux = True

    def _srtt(self) -> float:
        r = self.rtt
        return r.srtt if r is not None and r.srtt is not None else 0.1

    def on_ack(self, now: float, acked: int, flight: int) -> None:
        if self.in_recovery:
            return
        mss = self.mss
        if self.cwnd < self.ssthresh:
            acked = self._slow_start(acked)         # §4.10: standard slow start
            if not acked:
                return
        if self.linux:
            self._grow_linux(now, acked)
            return
        cw = self.cwnd / mss
        if self.t_epoch is None:                    # a congestion-avoidance stage begins
            self.t_epoch = now
            self.cwnd_epoch = cw
            self.w_est = cw
            if self.w_max <= cw:                    # §4.8: after a timeout (or first CA)
                self.k = 0.0
                self.w_max = cw
            else:
                self.k = ((self.w_max - cw) / C) ** (1 / 3)
        t = now - self.t_epoch
        segs = acked / mss
        w_cubic_t = C * (t - self.k) ** 3 + self.w_max
        alpha = 1.0 if self.w_est >= self.cwnd_prior else ALPHA
        self.w_est += alpha * segs / cw
        if w_cubic_t < self.w_est:                  # §4.3: Reno-friendly region
            new = self.w_est
        else:                                       # §4.4/§4.5: concave or convex
            w_next = C * (t + self._srtt() - self.k) ** 3 + self.w_max
            target = cw if w_next < cw else (1.5 * cw if w_next > 1.5 * cw else w_next)
            new = cw + (target - cw) / cw * segs
        grow = new * mss - self.cwnd + self._frac
        if grow > 0:
            whole = int(grow)
            self._frac = grow - whole
            self.cwnd += whole

    def _grow_linux(self, now: float, acked: int) -> None:
        """Congestion avoidance as Linux's bictcp_update and tcp_cong_avoid_ai
        compute it: the cubic target is recomputed at most once a tick, and
        not again within HZ/32 while cwnd is unchanged; after a timeout
        (no W_max) at most one segment per 20 ACKed; the Reno-friendly
        estimate counts ACKs; cwnd moves in whole segments, and credits kept
        from a larger `cnt` are paid out at once."""
        mss = self.mss
        lx = self.lx
        cwnd = self.cwnd // mss
        segs = (acked + mss - 1) // mss
        lx[7] += segs                                           # ack_cnt
        j = int(now * LINUX_HZ)
        if not (lx[2] == cwnd and j - lx[3] <= LINUX_HZ // 32):
            if not (lx[6] >= 0 and j == lx[3]):
                lx[2] = cwnd
                lx[3] = j
                if lx[6] < 0:                                   # an epoch begins
                    lx[6] = j
                    lx[7] = segs
                    lx[8] = cwnd
                    if lx[1] <= cwnd:
                        lx[5] = 0
                        lx[4] = cwnd
                    else:
                        lx[5] = int(round((L_CUBE_FACTOR * (lx[1] - cwnd)) ** (1 / 3)))
                        lx[4] = lx[1]
                r = self.rtt
                dmin = r.min_rtt if r is not None and r.min_rtt != float("inf") else 0.0
                t = j - lx[6] + int(-(-dmin * LINUX_HZ // 1))     # + usecs_to_jiffies(delay_min)
                t = (t << 10) // LINUX_HZ
                offs = lx[5] - t if t < lx[5] else t - lx[5]
                delta = (L_CUBE_RTT_SCALE * offs * offs * offs) >> 40
                target = lx[4] - delta if t < lx[5] else lx[4] + delta
                cnt = cwnd // (target - cwnd) if target > cwnd else 100 * cwnd
                if lx[1] == 0 and cnt > 20:
                    cnt = 20
                lx[0] = cnt
            d = (cwnd * L_BETA_SCALE) >> 3                       # tcp_friendliness
            if d > 0:
                while lx[7] > d:
                    lx[7] -= d
                    lx[8] += 1
            if lx[8] > cwnd:
                max_cnt = cwnd // (lx[8] - cwnd)
                if lx[0] > max_cnt:
                    lx[0] = max_cnt
            if lx[0] < 2:
                lx[0] = 2
        w = lx[0]
        if lx[9] >= w:                                          # tcp_cong_avoid_ai
            lx[9] = 0
            cwnd += 1
        lx[9] += segs
        if lx[9] >= w:
            grow = lx[9] // w
            lx[9] -= grow * w
            cwnd += grow
        self.cwnd = cwnd * mss

    def _reduce_linux(self, flight: int, timeout: bool) -> None:
        """bictcp_recalc_ssthresh: ssthresh = cwnd * 717/1024 (at least 2),
        W_max with fast convergence; at a timeout tcp_cubic's state is reset
        (bictcp_state on TCP_CA_Loss), W_max included."""
        mss = self.mss
        lx = self.lx
        cwnd = self.cwnd // mss
        if self.fast_convergence and cwnd < lx[1]:
            lx[1] = cwnd * (1024 + L_BETA) // 2048
        else:
            lx[1] = cwnd
        self.ssthresh = max(flight // mss * L_BETA // 1024, 2) * mss
        lx[6] = -1
        lx[9] = 0
        if timeout:
            self.lx = [2, 0, 0, 0, 0, 0, -1, 0, 0, 0]

    def _reduce(self, flight: int) -> None:
        mss = self.mss
        cw = self.cwnd / mss
        if self.fast_convergence and cw < self.w_max:
            self.w_max = cw * (1 + BETA) / 2        # §4.7
        else:
            self.w_max = cw
        self.cwnd_prior = cw
        self.ssthresh = max(int(flight * BETA), 2 * mss)   # §4.6 Figure 5
        self.t_epoch = None
        self._frac = 0.0

    def on_loss(self, now: float, flight: int) -> None:
        if self.linux:
            self._reduce_linux(flight, False)
        else:
            self._reduce(flight)
        self.cwnd = self.ssthresh                   # §4.6 Figure 5: cwnd = max(ssthresh, 2)
        self.in_recovery = True

    def on_idle_restart(self, iw: int) -> None:
        """RFC 5681 §4.1 restart window; the cubic epoch starts afresh, or
        W_cubic(t) would count the idle time as growth (Linux moves the
        epoch on CA_EVENT_TX_START for the same reason)."""
        super().on_idle_restart(iw)
        self.t_epoch = None
        self._frac = 0.0
        self.lx[6] = -1

    def on_timeout(self, now: float, flight: int) -> None:
        if self.linux:
            self._reduce_linux(flight, True)
        else:
            self._reduce(flight)                    # §4.8: ssthresh with beta_cubic
        self.w_max = 0.0                            # K = 0, W_max = cwnd at CA start
        self.cwnd = self.mss
        self.in_recovery = False


# registered by a call, not as a decorator: mypyc compiles only undecorated classes natively
register("cubic")(Cubic)
