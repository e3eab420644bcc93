"""Congestion control behind a small interface, with a registry.

A controller owns `cwnd` and `ssthresh` (bytes) and is told about ACKs,
losses and timeouts by the connection; the connection only reads `cwnd`.
`reno` is RFC 5681; more algorithms register themselves with `register`.
"""
from __future__ import annotations

from typing import Callable

_REGISTRY: dict[str, Callable[..., "CongestionControl"]] = {}


def register(name: str):
    def deco(cls):
        _REGISTRY[name] = cls
        cls.name = name
        return cls
    return deco


def create(name: str, mss: int, initial_window: int | None) -> "CongestionControl":
    if name not in _REGISTRY:
        _load_builtin()
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown congestion control {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None
    return cls(mss, initial_window)


def available() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def _load_builtin() -> None:
    from . import cubic  # noqa: F401  (registers "cubic")


def rfc5681_initial_window(mss: int) -> int:
    """IW per RFC 5681 §3.1 (in bytes)."""
    if mss > 2190:
        return 2 * mss
    if mss > 1095:
        return 3 * mss
    return 4 * mss


class CongestionControl:
    name = "base"
    __slots__ = ("mss", "cwnd", "ssthresh", "in_recovery")

    def __init__(self, mss: int, initial_window: int | None):
        self.mss = mss
        self.cwnd = initial_window * mss if initial_window else rfc5681_initial_window(mss)
        self.ssthresh = 1 << 30          # RFC 5681 §3.1: arbitrarily high
        self.in_recovery = False

    def set_mss(self, mss: int, initial_window: int | None) -> None:
        self.mss = mss
        self.cwnd = initial_window * mss if initial_window else rfc5681_initial_window(mss)

    def on_ack(self, acked: int, flight: int, now: float) -> None:
        raise NotImplementedError

    def on_loss(self, flight: int, now: float) -> None:
        """Fast retransmit / first loss in a window (RFC 5681 §3.2 step 2)."""
        raise NotImplementedError

    def on_recovery_exit(self, now: float) -> None:
        self.in_recovery = False
        self.cwnd = self.ssthresh

    def on_timeout(self, flight: int, now: float) -> None:
        """RTO expiry: RFC 5681 §3.1 equation (4), cwnd to one segment."""
        self.ssthresh = max(flight // 2, 2 * self.mss)
        self.cwnd = self.mss
        self.in_recovery = False

    def on_idle_restart(self, iw: int) -> None:
        """RFC 5681 §4.1: restart window after an idle period longer than RTO."""
        self.cwnd = min(self.cwnd, iw)


@register("reno")
class Reno(CongestionControl):
    """RFC 5681: slow start, congestion avoidance, halve on loss."""
    __slots__ = ("_ca_acc",)

    def __init__(self, mss, initial_window):
        super().__init__(mss, initial_window)
        self._ca_acc = 0

    def on_ack(self, acked, flight, now):
        if self.in_recovery:
            return
        if self.cwnd < self.ssthresh:
            # §3.1 slow start: grow by at most one SMSS per ACK (RFC 3465 L=1)
            self.cwnd += min(acked, self.mss)
        else:
            # §3.1 congestion avoidance: about one SMSS per RTT
            self._ca_acc += acked
            if self._ca_acc >= self.cwnd:
                self._ca_acc -= self.cwnd
                self.cwnd += self.mss

    def on_loss(self, flight, now):
        # §3.2 step 2: ssthresh = max(FlightSize / 2, 2*SMSS)
        self.ssthresh = max(flight // 2, 2 * self.mss)
        self.cwnd = self.ssthresh + 3 * self.mss
        self.in_recovery = True
