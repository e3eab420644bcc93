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


@mypyc_attr(allow_interpreted_subclasses=True)
class Cubic(CongestionControl):
    __slots__ = ("w_max", "k", "t_epoch", "cwnd_epoch", "w_est", "cwnd_prior",
                 "fast_convergence", "_frac")

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

    def on_timeout(self, now: float, flight: int) -> None:
        self._reduce(flight)                        # §4.8: ssthresh with beta_cubic
        self.w_max = 0.0                            # K = 0, W_max = cwnd at CA start
        self.cwnd = self.mss
        self.in_recovery = False


# registered by a call, not as a decorator: mypyc compiles only undecorated classes natively
register("cubic")(Cubic)
