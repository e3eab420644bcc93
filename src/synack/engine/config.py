"""Per-connection settings and the named profiles `rfc` and `linux`.

Every tunable lives in `Config`; a profile is just a `Config` with different
values. `Config` is an ordinary dataclass, so `dataclasses.replace(cfg, ...)`
makes a variant for one connection or one test.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

# The checks Config.validate makes, one per kind of setting: each raises a
# TypeError or ValueError naming the field.
def _integer(name: str, v: object, lo: int, hi: int | None = None,
             none_ok: bool = False) -> None:
    if v is None and none_ok:
        return
    if not isinstance(v, int) or isinstance(v, bool):
        raise TypeError(f"Config.{name} must be an integer"
                        + (" or None" if none_ok else "") + f", not {v!r}")
    if v < lo or (hi is not None and v > hi):
        rng = f"from {lo} to {hi}" if hi is not None else f"at least {lo}"
        raise ValueError(f"Config.{name} must be {rng}, not {v!r}")


def _seconds(name: str, v: object, positive: bool = True, none_ok: bool = False,
             hi: float | None = None) -> None:
    if v is None and none_ok:
        return
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        raise TypeError(f"Config.{name} must be a number of seconds"
                        + (" or None" if none_ok else "") + f", not {v!r}")
    f = float(v)
    if f != f or f in (float("inf"), float("-inf")) or f < 0 or (positive and f == 0) \
            or (hi is not None and f > hi):
        rng = "greater than 0" if positive else "0 or more"
        if hi is not None:
            rng += f" and at most {hi:g}"
        raise ValueError(f"Config.{name} must be {rng} seconds, not {v!r}")


def _flag(name: str, v: object) -> None:
    if not isinstance(v, bool):
        raise TypeError(f"Config.{name} must be True or False, not {v!r}")


def _choice(name: str, v: object, allowed: tuple) -> None:
    if v not in allowed:
        raise ValueError(f"Config.{name} must be one of "
                         f"{', '.join(repr(a) for a in allowed)}, not {v!r}")


def _mem_levels(name: str, mem: object) -> None:
    """None, or tcp_mem's three levels in octets: 0 < min <= pressure <= max."""
    if mem is not None and not (
            isinstance(mem, tuple) and len(mem) == 3
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in mem)
            and mem[0] <= mem[1] <= mem[2]):
        raise ValueError(f"Config.{name} must be None or (min, pressure, max) octets with "
                         f"0 < min <= pressure <= max, not {mem!r}")


def rfc_profile() -> Config:
    """The RFCs' own defaults: RTO 1 s initial and minimum (RFC 6298), delayed ACK
    200 ms, initial window by RFC 5681 §3.1, receive buffer 64 KiB."""
    return Config()


@dataclass(slots=True)
class Config:
    # --- segment size (RFC 9293 §3.7.1) --------------------------------------
    mtu: int = 1500                 #: link MTU used to derive the MSS we announce
    mss: int | None = None          #: MSS to announce, and a cap on the send MSS (TCP_MAXSEG);
                                    #: None = MTU - 40 (IPv4) / - 60 (IPv6)
    # --- buffers ----------------------------------------------------------------
    rcvbuf: int = 65535             #: receive buffer (bytes); bounds the advertised window
    sndbuf: int = 65536             #: send buffer (bytes); with sndbuf_auto, its largest size
    #: Send-buffer autotuning (Linux's tcp_wmem): the buffer starts at
    #: `sndbuf_min` and grows (never shrinks) to twice what the connection can
    #: have in flight, min(cwnd, the peer's largest window), up to `sndbuf`. A
    #: peer that stops reading then holds a small buffer, not `sndbuf`.
    #: SO_SNDBUF fixes the size (Linux: SOCK_SNDBUF_LOCK). Off: `sndbuf` from the start
    #: (the default, and the socket API's; the TUN services turn it on).
    sndbuf_auto: bool = False
    sndbuf_min: int = 16384         #: Linux's tcp_wmem[1]
    #: Receive-buffer autotuning, Dynamic Right-Sizing (Linux's
    #: tcp_rcv_space_adjust, net.ipv4.tcp_moderate_rcvbuf): the buffer starts
    #: at `rcvbuf_min` and grows, once per round trip, to about twice what the
    #: application read in the last one (plus 16 segments), up to `rcvbuf`;
    #: the window scale is chosen for `rcvbuf`. A reader that stops keeps a
    #: small buffer. SO_RCVBUF fixes the size (SOCK_RCVBUF_LOCK).
    rcvbuf_auto: bool = False
    rcvbuf_min: int = 131072        #: Linux's tcp_rmem[1]
    #: Host-wide memory levels (min, pressure, max) in octets of queued data
    #: (send, receive and out-of-order queues of every connection), Linux's
    #: tcp_mem (there in pages). Read from the host's config. Above
    #: `pressure` (until back under `min`): autotuned send buffers stop
    #: growing and shrink to half what they hold, and the receive window
    #: offered is held to 4 segments; at `max`: writes accept nothing more
    #: (a blocking write waits, a non-blocking one gets EAGAIN) and new data
    #: from peers is refused -- dropped unacknowledged, never acknowledged
    #: and lost. None: no host-wide limit (each connection's buffers only).
    tcp_mem: tuple[int, int, int] | None = None
    #: SO_RCVBUF/SO_SNDBUF as Linux sizes them (sock_setsockopt): the value asked
    #: for, at most net.core.{r,w}mem_max (212992), doubled, at least 2304 / 4608;
    #: off: the size is the value asked for (synack.engine.info.SockOpts)
    linux_sockbuf: bool = False
    # --- timers -----------------------------------------------------------------
    msl: float = 30.0               #: Maximum Segment Lifetime; TIME_WAIT lasts 2*MSL (MUST-13)
    rto_initial: float = 1.0        #: RFC 6298 §2.1
    rto_min: float = 1.0            #: RFC 6298 §2.4
    rto_max: float = 60.0           #: RFC 6298 §2.5 (at least 60 s)
    syn_retries: int = 8            #: R2 for SYN, as a count (MUST-22/23: >= 3 minutes with rto_max 60)
    synack_retries: int = 5         #: retransmissions of a half-open SYN,ACK before it is dropped
    r1: int = 3                     #: R1: retransmissions before negative advice to IP (MUST-20)
    r2: int = 15                    #: R2: retransmissions before the connection is closed (MUST-20/21)
    user_timeout: float | None = None  #: abort when data stays unacknowledged this long (MUST-20, RFC 5482)
    fin_wait_2_timeout: float | None = 60.0  #: orphaned FIN_WAIT_2 lifetime (Linux tcp_fin_timeout)
    # --- acknowledgements -------------------------------------------------------
    delayed_ack: bool = True
    delayed_ack_timeout: float = 0.2   #: at most 0.5 s (MUST-40)
    delayed_ack_min: float | None = None  #: Linux starts at 40 ms (quick-ack aside)
    #: Linux's quick-ack mode: the first data of a connection (and data after an
    #: idle gap longer than the RTO) is ACKed at once, for up to
    #: min(rcv_wnd / (2 * rcv_mss), 16) ACKs, and an ACK goes out as soon as
    #: more than one full-sized segment is unacknowledged. Off: RFC 1122
    #: §4.2.3.2 delayed ACK, an ACK at least every second full-sized segment
    #: (MUST-58), at most `delayed_ack_timeout` later (MUST-40).
    quickack: bool = False
    #: with quickack: ACK a FIN that arrives in ESTABLISHED as Linux 6.18 does
    #: (tcp_fin enters ping-pong mode before the ACK is decided): a delayed
    #: ACK at the delayed-ACK timer once data has been received, at once
    #: before any. Off: the ACK goes at once (RFC 9293 §3.10.7.4, eighth
    #: step). Off in the `linux` profile too, for now: the shared
    #: tcp/ioctl/ioctl-siocinq-fin.pkt (in TARGET.txt) expects the ACK at
    #: once, which Linux 6.18 itself fails by the same 40 ms.
    fin_delack: bool = False
    # --- options (RFC 7323, RFC 2018) ------------------------------------------
    window_scaling: bool = True
    timestamps: bool = True
    sack: bool = True
    max_rcvbuf: int | None = None   #: largest receive buffer we may grow to: sets the wscale
    #: TCP Fast Open, client side (RFC 7413; engine/fastopen.py), Linux's
    #: net.ipv4.tcp_fastopen bits: 0x1 lets a connection that asks for it
    #: (TCP_FASTOPEN_CONNECT, MSG_FASTOPEN) send the Fast Open option and data
    #: on its SYN; 0x4 sends the data without a cookie (and no option). Linux's
    #: default is 1. Nothing changes for a connection that does not ask.
    fastopen: int = 1
    # --- sending ----------------------------------------------------------------
    nagle: bool = True              #: off = TCP_NODELAY (MUST-17)
    #: PSH placement. "write": PSH on the segment that carries the last octet
    #: of a SEND (MUST-61: the last buffered segment always has it). "linux":
    #: that, and also on every second segment of a transmission burst, as
    #: Linux's smallest TSO/GSO unit (tcp_min_tso_segs = 2) comes out.
    psh: str = "write"
    #: with psh="linux": segments per TSO unit, Linux's tcp_min_tso_segs (2);
    #: above 2, a unit is also at most half the cwnd (Linux's tcp_cwnd_test)
    tso_segs: int = 2
    initial_window: int | None = None  #: segments; None = RFC 5681 §3.1 by MSS
    congestion_control: str = "cubic"   #: RFC 9438, the default; "reno" is RFC 5681
    #: slow-start increase per ACK, in segments (RFC 5681 §3.1: at most one
    #: SMSS per ACK; RFC 3465 allows 2); None = by every segment the ACK
    #: newly delivers, as Linux (tcp_slow_start) does
    abc_limit: int | None = 1
    #: grow cwnd only while it is being used (RFC 7661's idea, Linux's
    #: tcp_is_cwnd_limited): in slow start while cwnd < 2 * the largest flight
    #: of the current window, in congestion avoidance only when cwnd-limited
    cwnd_validation: bool = False
    #: CUBIC with Linux's own arithmetic (tcp_cubic.c: whole segments, the
    #: target recomputed per kernel tick, 20 ACKs per segment after a
    #: timeout) instead of RFC 9438's real-valued formulas
    cubic_linux: bool = False
    #: leave slow start on a rising round-trip time instead of by overflowing
    #: the bottleneck queue: None (off: RFC 5681 only), "rfc9406" (HyStart++)
    #: or "linux" (the delay test of Linux CUBIC's HyStart, on there by default)
    hystart: str | None = None
    #: Tail Loss Probe (RFC 8985 §7) on SACK connections
    tlp: bool = False
    tlp_max_ack_delay: float = 0.2  #: TLP.max_ack_delay, added to a one-segment flight's PTO
    tlp_extra: float = 0.0          #: added to 2*SRTT for a multi-segment flight (Linux: 2 ms)
    # --- loss recovery (docs/data-transfer.md, "Profiles") ------------------------
    #: the RTO as Linux computes it: SRTT + max(4 * RTTVAR, rto_min) (RFC 6298
    #: (2.3)-(2.4) when off: max(SRTT + 4 * RTTVAR, rto_min))
    linux_rto: bool = False
    #: the ssthresh of a fast recovery and of a retransmission timeout from
    #: cwnd, as Linux (bictcp_recalc_ssthresh, tcp_reno_ssthresh, called by
    #: tcp_enter_recovery and tcp_enter_loss) and RFC 9438 §4.6 allow with
    #: cwnd validation: a flight held below cwnd by the peer's window or by
    #: the application does not cut ssthresh further. Off: from FlightSize
    #: (RFC 5681 §3.1 (4) and §3.2 (4), RFC 9438 §4.6 Figure 5)
    ssthresh_from_cwnd: bool = False
    #: an RTT sample from every ACK of new data, from the send time of the
    #: newest segment it covers that was never retransmitted (Karn), with or
    #: without timestamps, as Linux does; off: one timed segment per RTT
    #: (RFC 6298 §3) or the timestamps (RFC 7323 §4)
    rtt_every_ack: bool = False
    #: RACK-TLP loss detection (RFC 8985 §6): time-based marking with a
    #: reordering window and the reordering timer, instead of RFC 6675's DupThresh
    rack: bool = False
    #: Proportional Rate Reduction (RFC 6937) as the sending rule in recovery,
    #: instead of RFC 6675's cwnd - pipe
    prr: bool = False
    #: RFC 6675 NextSeg () rule (4), the rescue retransmission (Linux has none)
    rescue_rxt: bool = True
    #: RFC 5681 §4.1: after an idle RTO, restart from the restart window
    #: (Linux's net.ipv4.tcp_slow_start_after_idle; its defaults turn it off)
    slow_start_after_idle: bool = True
    #: zero-window probes: "octet" sends one octet of new data past the
    #: window (RFC 9293 §3.8.6.1); "linux" sends a zero-length segment at
    #: SND.UNA - 1, as Linux's tcp_send_probe0, and holds a FIN until the
    #: window has room for it
    zero_window_probe: str = "octet"
    # --- keep-alive (RFC 9293 §3.8.4) -----------------------------------------
    keepalive: bool = False         #: off by default (MUST-25)
    keepalive_idle: float = 7200.0  #: >= 2 hours by default (MUST-28)
    keepalive_interval: float = 75.0
    keepalive_probes: int = 9
    # --- robustness -------------------------------------------------------------
    rfc5961: bool = True            #: challenge ACKs for in-window RST/SYN (RFC 5961 §3, §4)
    #: Per connection: at most one reply to an invalid segment every this many
    #: seconds -- challenge ACKs (RFC 5961 §3.2, §4.2), the ACKs for ACK
    #: failures (§5.2) and for out-of-window segments that carry no data
    #: (RFC 9293 §3.10.7.4 first step), and for PAWS drops. Linux's
    #: tcp_invalid_ratelimit (500 ms). 0 = no limit. A limit per connection,
    #: not per host: a host-wide budget is the side channel of CVE-2016-5696
    #: (see Connection._oow_ack_allowed and RFC 5961 §7 there).
    invalid_ratelimit: float = 0.5
    #: Host-wide challenge ACKs per second on top of `invalid_ratelimit`
    #: (RFC 5961 §7's global limit); None = off, the default, as in Linux
    #: since 2022 (tcp_challenge_ack_limit = INT_MAX). When on, each second's
    #: budget is drawn at random from [limit/2, 3*limit/2) so that an
    #: attacker cannot count it out.
    challenge_ack_limit: int | None = None
    rst_in_time_wait: bool = True   #: True: RST ends TIME_WAIT (RFC 9293); False: ignore it (RFC 1337)
    abort_on_unread_close: bool = True  #: close() with unread data sends RST (as Linux does)
    #: IP_TOS / IPV6_TCLASS: the IPv4 TOS / IPv6 traffic class octet of the
    #: connection's packets (the drivers put it on, Host.tos_of). Its two ECN
    #: bits stay 0: Linux keeps them to itself on TCP sockets (synack does no
    #: ECN), so the socket options clear them, as seen on the kernel.
    tos: int = 0
    # --- listeners ----------------------------------------------------------------
    syn_cookies: str = "when-full"  #: "off", "when-full" (Linux's 1) or "always" (Linux's 2)
    # --- host-wide bits read from the host's config -------------------------------
    ephemeral_ports: tuple[int, int] = (32768, 60999)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Refuse a setting of the wrong type or out of range, when the Config
        is made (and by `replace`): one ValueError or TypeError naming the
        field, never a failure deep inside a connection later."""
        # RFC 9293 §3.7.1: an IPv4 host must take 576-octet datagrams (MSS 536),
        # IPv6 links carry at least 1280 (RFC 8200 §5); 65535 is the IP limit
        _integer("mtu", self.mtu, 576, 65535)
        _integer("mss", self.mss, 64, 65495, none_ok=True)
        _integer("rcvbuf", self.rcvbuf, 1, 1 << 30)
        _integer("sndbuf", self.sndbuf, 1, 1 << 30)
        _integer("max_rcvbuf", self.max_rcvbuf, 1, 1 << 30, none_ok=True)
        _seconds("msl", self.msl)
        _seconds("rto_initial", self.rto_initial)
        _seconds("rto_min", self.rto_min)
        _seconds("rto_max", self.rto_max)
        if self.rto_min > self.rto_max:
            raise ValueError(f"Config.rto_min ({self.rto_min!r}) must not exceed rto_max "
                             f"({self.rto_max!r})")
        _integer("syn_retries", self.syn_retries, 0, 255)
        _integer("synack_retries", self.synack_retries, 0, 255)
        _integer("r1", self.r1, 0, 255)
        _integer("r2", self.r2, 0, 255)
        _seconds("user_timeout", self.user_timeout, none_ok=True)
        _seconds("fin_wait_2_timeout", self.fin_wait_2_timeout, none_ok=True)
        _flag("delayed_ack", self.delayed_ack)
        _seconds("delayed_ack_timeout", self.delayed_ack_timeout, hi=0.5)   # MUST-40
        _seconds("delayed_ack_min", self.delayed_ack_min, none_ok=True, hi=0.5)
        for name in ("quickack", "fin_delack", "window_scaling", "timestamps", "sack", "nagle",
                     "cwnd_validation", "tlp", "keepalive", "rfc5961", "rst_in_time_wait",
                     "abort_on_unread_close", "sndbuf_auto", "rcvbuf_auto", "linux_rto", "rtt_every_ack",
                     "rack", "prr", "rescue_rxt", "slow_start_after_idle",
                     "linux_sockbuf", "ssthresh_from_cwnd", "cubic_linux"):
            _flag(name, getattr(self, name))
        _integer("fastopen", self.fastopen, 0, 0xFFFFFFFF)
        _integer("sndbuf_min", self.sndbuf_min, 1, 1 << 30)
        _integer("rcvbuf_min", self.rcvbuf_min, 1, 1 << 30)
        _mem_levels("tcp_mem", self.tcp_mem)
        _choice("psh", self.psh, ("write", "linux"))
        _integer("tso_segs", self.tso_segs, 1, 1 << 16)
        _choice("zero_window_probe", self.zero_window_probe, ("octet", "linux"))
        _seconds("invalid_ratelimit", self.invalid_ratelimit, positive=False)
        _integer("initial_window", self.initial_window, 1, 1 << 16, none_ok=True)
        if not isinstance(self.congestion_control, str) or not self.congestion_control:
            raise TypeError(f"Config.congestion_control must be a name such as 'cubic' or "
                            f"'reno', not {self.congestion_control!r}")
        _integer("abc_limit", self.abc_limit, 1, 1 << 16, none_ok=True)
        _choice("hystart", self.hystart, (None, "rfc9406", "linux"))
        _seconds("tlp_max_ack_delay", self.tlp_max_ack_delay, positive=False)
        _seconds("tlp_extra", self.tlp_extra, positive=False)
        _seconds("keepalive_idle", self.keepalive_idle)
        _seconds("keepalive_interval", self.keepalive_interval)
        _integer("keepalive_probes", self.keepalive_probes, 1, 255)
        _integer("challenge_ack_limit", self.challenge_ack_limit, 0, none_ok=True)
        _choice("syn_cookies", self.syn_cookies, ("off", "when-full", "always"))
        _integer("tos", self.tos, 0, 255)
        ports = self.ephemeral_ports
        if not (isinstance(ports, tuple) and len(ports) == 2
                and all(isinstance(p, int) and not isinstance(p, bool) for p in ports)
                and 1 <= ports[0] <= ports[1] <= 65535):
            raise ValueError(f"Config.ephemeral_ports must be (low, high) with "
                             f"1 <= low <= high <= 65535, not {ports!r}")

    def replace(self, **changes) -> "Config":
        return dataclasses.replace(self, **changes)

    def announced_mss(self, ipv6: bool) -> int:
        if self.mss is not None:
            return self.mss
        return self.mtu - (60 if ipv6 else 40)



def linux_profile() -> Config:
    """What Linux does by default (the defaults packetdrill's scripts assume,
    see ../shared/conformance/packetdrill/README.md): IW10, RTO min 200 ms,
    delayed ACK from 40 ms with quick-ack mode, wscale 8 from a 15 MiB maximum
    receive buffer, timestamps and SACK on, CUBIC, TIME_WAIT 60 s, 6 SYN
    retries, slow start by delivered segments only while cwnd-limited, Tail
    Loss Probe, PSH as Linux places it, no slow-start restart after idle
    (tcp_slow_start_after_idle=0)."""
    return Config(
        rto_min=0.2, rto_max=120.0, syn_retries=6, synack_retries=5,
        delayed_ack_timeout=0.2, delayed_ack_min=0.04,
        initial_window=10, rcvbuf=131072, sndbuf=16384 * 4,
        max_rcvbuf=15728640, msl=30.0, r2=15,   # tcp_rmem max 15 MiB -> wscale 8
        congestion_control="cubic",
        quickack=True, psh="linux", abc_limit=None, cwnd_validation=True, tlp=True, tlp_extra=0.002,
        hystart="linux", linux_rto=True, rtt_every_ack=True, prr=True, rack=True,
        rescue_rxt=False, zero_window_probe="linux", slow_start_after_idle=False,
        linux_sockbuf=True, ssthresh_from_cwnd=True, cubic_linux=True,
    )


PROFILES = {"rfc": rfc_profile, "linux": linux_profile}


def profile(name: str) -> Config:
    try:
        return PROFILES[name]()
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; known: {', '.join(PROFILES)}") from None
