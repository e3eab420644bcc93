"""Congestion control behind a small interface, with a registry.

A controller owns `cwnd` and `ssthresh` (bytes) and is told about ACKs,
losses and timeouts by the connection; the connection only reads `cwnd`
(and, for NewReno fast recovery, inflates it: RFC 5681 §3.2 steps 3-4 are
loss-recovery bookkeeping, not the algorithm's choice).
`reno` is RFC 5681; more algorithms register themselves with `register`.

The interface, all sizes in bytes:

    on_ack(delivered, flight, now)   new data cumulatively ACKed (the part not
                                     already credited through SACK or dupacks)
    on_loss(flight, now)             loss detected: ssthresh and cwnd reduced
                                     once per recovery (RFC 5681 §3.2 step 2)
    on_recovery_exit(now)            the recovery point was ACKed
    on_timeout(flight, now)          the retransmission timer expired
    on_idle_restart(iw)              RFC 5681 §4.1 restart window
"""
from __future__ import annotations

from typing import Callable, ClassVar, Final

from .._mypyc import mypyc_attr
from .rtt import RttEstimator

_REGISTRY: Final[dict[str, Callable[..., "CongestionControl"]]] = {}


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


# mypyc: controllers may be subclassed in Python (tests trace on_loss that way)
@mypyc_attr(allow_interpreted_subclasses=True)
class CongestionControl:
    name: ClassVar[str] = "base"
    __slots__ = ("mss", "cwnd", "ssthresh", "in_recovery", "abc_limit", "rtt")

    def __init__(self, mss: int, initial_window: int | None):
        self.mss = mss
        self.cwnd = initial_window * mss if initial_window else rfc5681_initial_window(mss)
        self.ssthresh = 1 << 30          # RFC 5681 §3.1: arbitrarily high
        self.in_recovery = False
        self.abc_limit: int | None = 1   # slow-start growth per ACK, in segments (None: no cap)
        #: the connection's RTT estimator, for a controller that reads SRTT
        #: (CUBIC, RFC 9438 §4.2); set by the connection
        self.rtt: RttEstimator | None = None

    def _slow_start(self, acked: int) -> int:
        """RFC 5681 §3.1 slow start: cwnd grows by what the ACK delivered, at
        most `abc_limit` segments (RFC 3465's L; Linux has no limit), and
        not past ssthresh. Returns the part of `acked` left for congestion
        avoidance (Linux's tcp_slow_start does the same)."""
        lim = self.abc_limit
        inc = acked if lim is None or acked <= lim * self.mss else lim * self.mss
        room = self.ssthresh - self.cwnd
        if inc > room:
            self.cwnd = self.ssthresh
            return acked - room if lim is None else 0
        self.cwnd += inc
        return 0

    def set_mss(self, mss: int, initial_window: int | None) -> None:
        self.mss = mss
        self.cwnd = initial_window * mss if initial_window else rfc5681_initial_window(mss)

    def on_ack(self, now: float, acked: int, flight: int) -> None:
        raise NotImplementedError

    def use_linux_arithmetic(self) -> None:
        """Grow as Linux's implementation of this controller does, in whole
        segments and kernel ticks (Config.cubic_linux); a controller without
        such a variant ignores it."""

    def on_loss(self, now: float, flight: int) -> None:
        """Fast retransmit / first loss in a window (RFC 5681 §3.2 step 2):
        set ssthresh and cwnd = ssthresh, and enter recovery."""
        raise NotImplementedError

    def on_recovery_exit(self, now: float) -> None:
        self.in_recovery = False
        self.cwnd = self.ssthresh

    def on_timeout(self, now: float, flight: int) -> None:
        """RTO expiry: RFC 5681 §3.1 equation (4), cwnd to one segment."""
        self.ssthresh = max(flight // 2, 2 * self.mss)
        self.cwnd = self.mss
        self.in_recovery = False

    def on_idle_restart(self, iw: int) -> None:
        """RFC 5681 §4.1: restart window after an idle period longer than RTO."""
        self.cwnd = min(self.cwnd, iw)


@mypyc_attr(allow_interpreted_subclasses=True)
class Reno(CongestionControl):
    """RFC 5681: slow start, congestion avoidance, halve on loss."""
    __slots__ = ("_ca_acc",)

    def __init__(self, mss: int, initial_window: int | None):
        super().__init__(mss, initial_window)
        self._ca_acc = 0

    def on_ack(self, now: float, acked: int, flight: int) -> None:
        if self.in_recovery:
            return
        if self.cwnd < self.ssthresh:
            acked = self._slow_start(acked)      # §3.1 slow start
            if not acked:
                return
        # §3.1 congestion avoidance: about one SMSS per RTT (byte counting)
        self._ca_acc += acked
        if self._ca_acc >= self.cwnd:
            self._ca_acc -= self.cwnd
            self.cwnd += self.mss

    def on_loss(self, now: float, flight: int) -> None:
        # §3.2 step 2: ssthresh = max(FlightSize / 2, 2*SMSS)
        self.ssthresh = max(flight // 2, 2 * self.mss)
        self.cwnd = self.ssthresh
        self._ca_acc = 0
        self.in_recovery = True

    def on_timeout(self, now: float, flight: int) -> None:
        super().on_timeout(now, flight)
        self._ca_acc = 0


# registered by a call, not as a decorator: mypyc compiles only undecorated classes natively
register("reno")(Reno)


class HyStart:
    """Leaving slow start on a rising round-trip time, before the bottleneck
    queue overflows. Used by the connection around any controller: `on_ack`
    says how to grow for this ACK. Two flavours:

    "rfc9406": HyStart++ (RFC 9406 §4): a round's minimum RTT (after
        N_RTT_SAMPLE samples) at least max(4 ms, min(lastRoundMinRTT / 8,
        16 ms)) above the previous round's moves to Conservative Slow Start
        (growth / 4) for CSS_ROUNDS rounds, then to congestion avoidance; an
        RTT that falls back below the CSS baseline resumes slow start.
    "linux": the delay test of Linux CUBIC's HyStart (hystart_update, on by
        default): from a window of 16 segments on, a round's minimum RTT
        (tested from the 9th sample of the round on) above the connection's minimum RTT plus
        clamp(minRTT / 8, 4 ms, 16 ms) ends slow start at once
        (ssthresh = cwnd).

    Rounds are RFC 9406 §4.2's: a round ends when an ACK covers `window_end`,
    SND.NXT at its start.
    """
    MIN_RTT_THRESH: Final = 0.004
    MAX_RTT_THRESH: Final = 0.016
    MIN_RTT_DIVISOR: Final = 8
    N_RTT_SAMPLE: Final = 8
    CSS_GROWTH_DIVISOR: Final = 4
    CSS_ROUNDS: Final = 5
    LOW_WINDOW: Final = 16          # Linux hystart_low_window, in segments

    SLOW_START: Final = 0
    CSS: Final = 1
    DONE: Final = 2

    __slots__ = ("mode", "phase", "window_end", "last_round_min", "cur_round_min", "samples",
                 "css_baseline", "css_rounds", "min_rtt")

    def __init__(self, mode: str = "rfc9406"):
        if mode not in ("rfc9406", "linux"):
            raise ValueError(f"unknown HyStart flavour {mode!r}")
        self.mode = mode
        self.phase = self.SLOW_START
        self.window_end: int | None = None
        self.last_round_min: float | None = None
        self.cur_round_min: float | None = None
        self.samples = 0
        self.css_baseline: float | None = None
        self.css_rounds = 0
        self.min_rtt: float | None = None

    @classmethod
    def _thresh(cls, base: float) -> float:
        t = base / cls.MIN_RTT_DIVISOR
        return cls.MIN_RTT_THRESH if t < cls.MIN_RTT_THRESH else (
            cls.MAX_RTT_THRESH if t > cls.MAX_RTT_THRESH else t)

    def on_ack(self, round_over: bool, snd_nxt: int, rtt: float | None, cwnd_segs: int) -> int:
        """One ACK of new data in slow start. `round_over`: the ACK covers
        `window_end` (the caller compares sequence numbers). Returns the
        growth divisor for this ACK (1 in slow start, 4 in CSS), or 0 when
        slow start is over (the caller sets ssthresh = cwnd)."""
        if self.phase == self.DONE:
            return 0
        if self.window_end is None or round_over:
            if self.phase == self.CSS:
                self.css_rounds += 1
                if self.css_rounds >= self.CSS_ROUNDS:
                    self.phase = self.DONE          # RFC 9406 §4.2: on to congestion avoidance
                    return 0
            self.last_round_min = self.cur_round_min
            self.cur_round_min = None
            self.samples = 0
            self.window_end = snd_nxt
        if rtt is not None:
            if self.min_rtt is None or rtt < self.min_rtt:
                self.min_rtt = rtt
            if self.cur_round_min is None or rtt < self.cur_round_min:
                self.cur_round_min = rtt
            self.samples += 1
        if self.samples >= self.N_RTT_SAMPLE and self.cur_round_min is not None:
            cur = self.cur_round_min
            if self.mode == "linux":
                # Linux counts HYSTART_MIN_SAMPLES samples first and tests
                # from the one after them on (hystart_update)
                if self.samples <= self.N_RTT_SAMPLE:
                    return 1
                min_rtt = self.min_rtt
                assert min_rtt is not None          # set with the first sample
                if cwnd_segs >= self.LOW_WINDOW and cur > min_rtt + self._thresh(min_rtt):
                    self.phase = self.DONE
                    return 0
            elif self.phase == self.SLOW_START and self.last_round_min is not None:
                if cur >= self.last_round_min + self._thresh(self.last_round_min):
                    self.css_baseline = cur          # RFC 9406 §4.2: enter CSS
                    self.phase = self.CSS
                    self.css_rounds = 0
            elif self.phase == self.CSS and cur < self.css_baseline:  # type: ignore[operator]
                self.css_baseline = None             # RFC 9406 §4.2: back to slow start
                self.phase = self.SLOW_START
        return self.CSS_GROWTH_DIVISOR if self.phase == self.CSS else 1

    def stop(self) -> None:
        """A loss (or timeout) ends it for this connection (RFC 9406 §4.2)."""
        self.phase = self.DONE
