"""Per-connection settings and the named profiles `rfc` and `linux`.

Every tunable lives in `Config`; a profile is just a `Config` with different
values. `Config` is an ordinary dataclass, so `dataclasses.replace(cfg, ...)`
makes a variant for one connection or one test.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass


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
    # --- options (RFC 7323, RFC 2018) ------------------------------------------
    window_scaling: bool = True
    timestamps: bool = True
    sack: bool = True
    max_rcvbuf: int | None = None   #: largest receive buffer we may grow to: sets the wscale
    # --- sending ----------------------------------------------------------------
    nagle: bool = True              #: off = TCP_NODELAY (MUST-17)
    #: PSH placement. "write": PSH on the segment that carries the last octet
    #: of a SEND (MUST-61: the last buffered segment always has it). "linux":
    #: that, and also on every second segment of a transmission burst, as
    #: Linux's smallest TSO/GSO unit (tcp_min_tso_segs = 2) comes out.
    psh: str = "write"
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
    #: leave slow start on a rising round-trip time instead of by overflowing
    #: the bottleneck queue: None (off: RFC 5681 only), "rfc9406" (HyStart++)
    #: or "linux" (the delay test of Linux CUBIC's HyStart, on there by default)
    hystart: str | None = None
    #: Tail Loss Probe (RFC 8985 §7) on SACK connections
    tlp: bool = False
    tlp_max_ack_delay: float = 0.2  #: TLP.max_ack_delay, added to a one-segment flight's PTO
    tlp_extra: float = 0.0          #: added to 2*SRTT for a multi-segment flight (Linux: 2 ms)
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
    # --- listeners ----------------------------------------------------------------
    syn_cookies: str = "when-full"  #: "off", "when-full" (Linux's 1) or "always" (Linux's 2)
    # --- host-wide bits read from the host's config -------------------------------
    ephemeral_ports: tuple[int, int] = (32768, 60999)

    def replace(self, **changes) -> "Config":
        return dataclasses.replace(self, **changes)

    def announced_mss(self, ipv6: bool) -> int:
        if self.mss is not None:
            return self.mss
        return self.mtu - (60 if ipv6 else 40)


def rfc_profile() -> Config:
    """The RFCs' own defaults: RTO 1 s initial and minimum (RFC 6298), delayed ACK
    200 ms, initial window by RFC 5681 §3.1, receive buffer 64 KiB."""
    return Config()


def linux_profile() -> Config:
    """What Linux does by default (the defaults packetdrill's scripts assume,
    see ../shared/conformance/packetdrill/README.md): IW10, RTO min 200 ms,
    delayed ACK from 40 ms with quick-ack mode, wscale 8 from a 15 MiB maximum
    receive buffer, timestamps and SACK on, CUBIC, TIME_WAIT 60 s, 6 SYN
    retries, slow start by delivered segments only while cwnd-limited, Tail
    Loss Probe, PSH as Linux places it."""
    return Config(
        rto_min=0.2, rto_max=120.0, syn_retries=6, synack_retries=5,
        delayed_ack_timeout=0.2, delayed_ack_min=0.04,
        initial_window=10, rcvbuf=131072, sndbuf=16384 * 4,
        max_rcvbuf=15728640, msl=30.0, r2=15,   # tcp_rmem max 15 MiB -> wscale 8
        congestion_control="cubic",
        quickack=True, psh="linux", abc_limit=None, cwnd_validation=True, tlp=True, tlp_extra=0.002,
        hystart="linux",
    )


PROFILES = {"rfc": rfc_profile, "linux": linux_profile}


def profile(name: str) -> Config:
    try:
        return PROFILES[name]()
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; known: {', '.join(PROFILES)}") from None
