"""Retransmission timeout per RFC 6298.

SRTT and RTTVAR follow §2.2/§2.3 with alpha = 1/8 and beta = 1/4; K = 4;
G, the clock granularity, is taken as 1 ms (the TSval tick). The RTO is kept
between `rto_min` (§2.4) and `rto_max` (§2.5) and doubled on each expiry
(§5.5). With `linux` the minimum applies to the variance term instead, as
Linux computes it (tcp_set_rto: RTO = SRTT + max(4 * RTTVAR, rto_min)), so
a 100 ms path gets 300 ms, not 200 ms. Karn's algorithm (MUST-18, RFC 6298 §3) is the caller's duty: it
feeds samples only from segments that were not retransmitted, or from
timestamps (RFC 7323 §4), which are unambiguous.
"""
from __future__ import annotations

from typing import Final

G: Final = 0.001


class RttEstimator:
    __slots__ = ("srtt", "rttvar", "rto", "rto_min", "rto_max", "backoff", "linux", "min_rtt")

    def __init__(self, rto_initial: float, rto_min: float, rto_max: float, linux: bool = False):
        self.srtt: float | None = None
        self.rttvar = 0.0
        self.rto = rto_initial          # §2.1: before any sample
        self.rto_min = rto_min
        self.rto_max = rto_max
        self.backoff = 0                # how many times the timer has doubled
        self.linux = linux              # RTO = SRTT + max(4 * RTTVAR, rto_min)
        self.min_rtt = float("inf")     # the smallest sample seen (RACK's min_RTT, RFC 8985 §6.2)

    def sample(self, r: float) -> None:
        """Take one RTT measurement R (seconds)."""
        if r < 0:
            return
        if r < self.min_rtt:
            self.min_rtt = r
        if self.srtt is None:           # §2.2: the first measurement
            self.srtt = r
            self.rttvar = r / 2
        else:                           # §2.3: later measurements (RTTVAR first)
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - r)
            self.srtt = 0.875 * self.srtt + 0.125 * r
        if self.linux:
            var = 4 * self.rttvar
            rto = self.srtt + (var if var > self.rto_min else self.rto_min)
        else:
            rto = self.srtt + max(G, 4 * self.rttvar)
        self.rto = min(max(rto, self.rto_min), self.rto_max)
        self.backoff = 0

    def current(self) -> float:
        """The RTO to arm now, including exponential backoff (§5.5)."""
        return min(self.rto * (1 << self.backoff), self.rto_max)

    def back_off(self) -> None:
        """§5.5: double the timer after it expires (bounded by rto_max)."""
        if self.rto * (1 << self.backoff) < self.rto_max:
            self.backoff += 1
