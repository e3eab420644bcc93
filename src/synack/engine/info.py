"""What a socket layer asks of a connection: a TCP_INFO-like snapshot, the
queue sizes of SIOCINQ / SIOCOUTQ / SIOCOUTQNSD, and socket options.

This is the one place that reads a `Connection` for introspection and that
applies socket options to it; `synack.api.socket`, `synack ss` and the
packetdrill runner all go through it. It is sans-I/O like the rest of the
engine: the time is passed in, nothing is read from a clock.

* `tcp_info(obj, now)` -> `TcpInfo`, an immutable record whose fields have
  the meaning of Linux's `struct tcp_info` (`tcpi_*`, units as Linux's:
  microseconds for times, milliseconds for the `last_*` clocks, segments
  for cwnd and ssthresh). A field the engine has no equivalent for is None;
  `TcpInfo.fields()` gives the known ones by their `tcpi_` names.
* `queues(conn)` -> `Queues`: what SIOCINQ, SIOCOUTQ and SIOCOUTQNSD return;
  `inq_hint(conn)`: the TCP_CM_INQ control message's value.
* `SockOpts`: the options of one socket. `set()` checks a value as Linux
  does (EINVAL for a bad value, ENOPROTOOPT for an option or level it does
  not know), keeps it, and applies it to the live connection if there is
  one; `get()` reads it back, from the connection where it lives there;
  `config(base)` is the `Config` for the socket's next connection or its
  listener.
"""
from __future__ import annotations

import dataclasses
import errno as _errno
import os
from dataclasses import dataclass

from .config import Config
from .connection import Connection
from .listener import Listener
from .seq import MASK
from .states import (CLOSE_WAIT, CLOSED, CLOSING, ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2,
                     LAST_ACK, LISTEN, SYN_RECEIVED, SYN_SENT, TIME_WAIT)
from .timewait import TimeWait

__all__ = ["TcpInfo", "tcp_info", "Queues", "queues", "inq_hint", "unsent", "SOCKET_CLOCKS", "SockOpts", "NotSupported",
           "LINUX_STATE", "OPTION_NAMES", "TCPI_OPT_TIMESTAMPS", "TCPI_OPT_SACK",
           "TCPI_OPT_WSCALE"]

# ------------------------------------------------------------------ TCP_INFO
#: Linux's tcpi_state numbers (include/net/tcp_states.h)
LINUX_STATE = {ESTABLISHED: 1, SYN_SENT: 2, SYN_RECEIVED: 3, FIN_WAIT_1: 4,
               FIN_WAIT_2: 5, TIME_WAIT: 6, CLOSED: 7, CLOSE_WAIT: 8,
               LAST_ACK: 9, LISTEN: 10, CLOSING: 11}
TCPI_OPT_TIMESTAMPS, TCPI_OPT_SACK, TCPI_OPT_WSCALE = 1, 2, 4
TCPI_OPT_SYN_DATA = 32                   #: the SYN's Fast Open data was acknowledged (RFC 7413)
_INFINITE_SSTHRESH = 0x7FFFFFFF          # what Linux reports while ssthresh is "infinite"


@dataclass(frozen=True, slots=True)
class TcpInfo:
    """A snapshot of one connection, with the meanings of Linux's tcp_info.
    None: the engine keeps nothing with that meaning (or, for the socket
    clocks at the end, the socket layer did not supply them)."""
    state: int                            #: Linux numbering (LINUX_STATE)
    ca_state: int | None = None           #: 0 Open, 1 Disorder, 3 Recovery, 4 Loss (2 CWR: no ECN)
    retransmits: int | None = None        #: consecutive RTO expiries without progress
    probes: int | None = None             #: unanswered window probes and refused local sends (icsk_probes_out)
    backoff: int | None = None            #: RTO doublings in force
    options: int | None = None            #: TCPI_OPT_TIMESTAMPS | _SACK | _WSCALE as negotiated
    snd_wscale: int | None = None         #: the peer's shift (applied to windows we receive)
    rcv_wscale: int | None = None         #: our shift
    rto: int | None = None                #: µs, backoff included
    snd_mss: int | None = None            #: effective send MSS, bytes
    rcv_mss: int | None = None            #: the peer's segment size as we estimate it, bytes
    unacked: int | None = None            #: segments outstanding
    sacked: int | None = None             #: outstanding segments SACKed
    lost: int | None = None               #: outstanding segments marked lost
    retrans: int | None = None            #: retransmissions in flight
    last_data_sent: int | None = None     #: ms since new data was last sent
    rtt: int | None = None                #: smoothed RTT, µs (0 before a sample)
    rttvar: int | None = None             #: µs
    snd_ssthresh: int | None = None       #: segments (0x7fffffff while infinite)
    snd_cwnd: int | None = None           #: segments
    advmss: int | None = None             #: the MSS we announced, bytes
    reordering: int | None = None         #: reordering degree in segments (3 before any is seen)
    reord_seen: int | None = None         #: reordering events seen
    min_rtt: int | None = None            #: smallest RTT sample, µs
    notsent_bytes: int | None = None      #: queued and not yet sent (FIN counted), bytes
    # socket-level clocks: Linux keeps them beside the protocol state; the
    # socket layer that samples them passes them to tcp_info()
    last_data_recv: int | None = None     #: ms since data last arrived (or since establishment)
    busy_time: int | None = None          #: µs with data queued or in flight
    rwnd_limited: int | None = None       #: µs held back by the peer's receive window
    sndbuf_limited: int | None = None     #: µs the application waited for buffer space

    def fields(self) -> dict[str, int]:
        """The known fields as {"tcpi_<name>": value}."""
        return {"tcpi_" + f.name: v for f in dataclasses.fields(self)
                if (v := getattr(self, f.name)) is not None}


#: the fields only a socket layer can supply (passed to tcp_info as clocks=)
SOCKET_CLOCKS = ("last_data_recv", "busy_time", "rwnd_limited", "sndbuf_limited")


def _us(seconds: float) -> int:
    return int(round(seconds * 1_000_000))


def unsent(conn: Connection) -> int:
    """Octets queued and not yet sent (our FIN, once sent, is past them)."""
    queued = len(conn.sndq)
    sent = (conn.snd_nxt - conn.sndq_seq) & MASK
    return queued - sent if sent < queued else 0


def tcp_info(now: float, obj, clocks: dict[str, int] | None = None) -> TcpInfo:
    """The snapshot of a Connection, TIME-WAIT entry or Listener at `now`
    (seconds, the engine's time). `clocks`: socket-level fields (SOCKET_CLOCKS)
    the caller keeps, copied in as they are."""
    extra = dict(clocks or {})
    bad = set(extra) - set(SOCKET_CLOCKS)
    if bad:
        raise TypeError(f"tcp_info: not socket clocks: {', '.join(sorted(bad))}")
    if isinstance(obj, (Listener, TimeWait)):
        return TcpInfo(state=LINUX_STATE[obj.state], **extra)
    if not isinstance(obj, Connection):
        raise TypeError(f"tcp_info() takes a Connection, Listener or TimeWait, "
                        f"not {type(obj).__name__}")
    c = obj
    mss = c.snd_mss
    cc = c.cc
    rtt = c.rtt
    cwnd = ssthresh = None
    if cc is not None and mss:
        cwnd = cc.cwnd // mss
        ssthresh = _INFINITE_SSTHRESH if cc.ssthresh >= (1 << 30) else cc.ssthresh // mss
    opts = ((TCPI_OPT_TIMESTAMPS if c.ts_ok else 0) | (TCPI_OPT_SACK if c.sack_ok else 0)
            | (TCPI_OPT_WSCALE if c.snd_wscale or c.rcv_wscale else 0)
            | (TCPI_OPT_SYN_DATA if c.tfo is not None and c.tfo.acked else 0))
    # segment counts: from the per-segment send log when the connection keeps
    # one (Config.rtt_every_ack / rack); all zero with nothing outstanding;
    # otherwise unknown
    counts: tuple[int | None, ...] = (None, None, None, None)
    if c.txlog is not None:
        counts = c.txlog.counts()
    elif c.snd_nxt == c.snd_una:
        counts = (0, 0, 0, 0)
    last_sent = None
    if c.last_data_send is not None:
        last_sent = (_us(now) - _us(c.last_data_send)) // 1000
    notsent = unsent(c) + (1 if c.fin_queued and not c.fin_sent else 0)
    return TcpInfo(
        state=LINUX_STATE[c.state], ca_state=c.ca_state(), retransmits=c.retries,
        probes=c.probes_out,
        backoff=rtt.backoff, options=opts, snd_wscale=c.snd_wscale, rcv_wscale=c.rcv_wscale,
        rto=_us(rtt.current()), snd_mss=mss, rcv_mss=c.rcv_seg_mss,
        unacked=counts[0], sacked=counts[1], lost=counts[2], retrans=counts[3],
        last_data_sent=last_sent, rtt=_us(rtt.srtt or 0.0), rttvar=_us(rtt.rttvar),
        snd_ssthresh=ssthresh, snd_cwnd=cwnd, advmss=c.rcv_mss,
        reordering=c.rack.reordering if c.rack is not None else 3,
        reord_seen=c.rack.reord_seen if c.rack is not None else 0,
        min_rtt=_us(rtt.min_rtt) if rtt.min_rtt != float("inf") else None,
        notsent_bytes=notsent, **extra)


# -------------------------------------------------------------------- queues
@dataclass(frozen=True, slots=True)
class Queues:
    inq: int        #: SIOCINQ / FIONREAD: octets ready to read
    outq: int       #: SIOCOUTQ / TIOCOUTQ: queued and not acknowledged (a FIN counts one)
    outq_nsd: int   #: SIOCOUTQNSD: queued and not yet sent (a FIN counts one)


def queues(conn: Connection) -> Queues:
    """The ioctl queue sizes of a connection, as Linux counts them: SIOCOUTQ
    is write_seq - snd_una and SIOCOUTQNSD write_seq - snd_nxt, where
    write_seq includes our FIN once it is queued (until it is ACKed)."""
    fin = 1 if conn.fin_queued and conn.state is not CLOSED and not (
        conn.fin_sent and conn.snd_una == ((conn.fin_seq + 1) & MASK)) else 0
    return Queues(len(conn.rcvq), len(conn.sndq) + fin,
                  unsent(conn) + (1 if conn.fin_queued and not conn.fin_sent else 0))


_FIN_SEEN = (CLOSE_WAIT, LAST_ACK, CLOSING, TIME_WAIT, CLOSED)


def inq_hint(conn: Connection) -> int:
    """The TCP_CM_INQ control message's value after a read (TCP_INQ on),
    Linux's tcp_inq_hint: octets still to read, or 1 when there are none but
    the peer's FIN has come (so the reader knows to read once more)."""
    n = len(conn.rcvq)
    if n == 0 and (conn.eof or conn.state in _FIN_SEEN):
        return 1
    return n


# ----------------------------------------------------------- socket options
SOL_SOCKET, IPPROTO_IP, IPPROTO_TCP, IPPROTO_IPV6 = 1, 0, 6, 41

#: (level, option number) -> name, Linux's numbers
OPTION_NAMES: dict[tuple[int, int], str] = {
    (SOL_SOCKET, 7): "SO_SNDBUF", (SOL_SOCKET, 8): "SO_RCVBUF",
    (SOL_SOCKET, 9): "SO_KEEPALIVE", (SOL_SOCKET, 13): "SO_LINGER",
    (IPPROTO_TCP, 1): "TCP_NODELAY", (IPPROTO_TCP, 2): "TCP_MAXSEG",
    (IPPROTO_TCP, 3): "TCP_CORK", (IPPROTO_TCP, 4): "TCP_KEEPIDLE",
    (IPPROTO_TCP, 5): "TCP_KEEPINTVL", (IPPROTO_TCP, 6): "TCP_KEEPCNT",
    (IPPROTO_TCP, 7): "TCP_SYNCNT",
    (IPPROTO_TCP, 12): "TCP_QUICKACK",
    (IPPROTO_TCP, 13): "TCP_CONGESTION", (IPPROTO_TCP, 18): "TCP_USER_TIMEOUT",
    (IPPROTO_TCP, 25): "TCP_NOTSENT_LOWAT", (IPPROTO_TCP, 36): "TCP_INQ",
    (IPPROTO_IP, 1): "IP_TOS", (IPPROTO_IP, 10): "IP_MTU_DISCOVER",
    (IPPROTO_IPV6, 23): "IPV6_MTU_DISCOVER", (IPPROTO_IPV6, 67): "IPV6_TCLASS",
}
_NUMBERS = {name: key for key, name in OPTION_NAMES.items()}

# Linux's limits (net/core/sock.c, include/net/tcp.h)
MEM_MAX = 212992                       #: net.core.{r,w}mem_max, the default
SOCK_MIN_SNDBUF, SOCK_MIN_RCVBUF = 4608, 2304
TCP_MIN_MSS, MAX_TCP_WINDOW = 88, 32767
MAX_TCP_KEEPIDLE = MAX_TCP_KEEPINTVL = 32767
MAX_TCP_KEEPCNT = 127
MAX_TCP_SYNCNT = 127
TCP_MSS_DEFAULT = 536                  #: TCP_MAXSEG before a connection exists
_BUF_MIN, _BUF_MAX = 1, 1 << 30        #: without Linux sizing: the Config's own limits
IP_PMTUDISC_WANT = 1                   #: Linux's default for IP(V6)_MTU_DISCOVER


class NotSupported(Exception):
    """A valid request the engine cannot carry out (the caller reports it
    in its own way: the socket API as EOPNOTSUPP, the packetdrill runner as
    an unsupported script line)."""


def _err(code: int, text: str | None = None) -> OSError:
    return OSError(code, text or os.strerror(code))


class SockOpts:
    """The socket options of one socket (see the module documentation).

    `linux_buffers` (default: `Config.linux_sockbuf` of the config given)
    sizes SO_RCVBUF/SO_SNDBUF as Linux does (sock_setsockopt): the value
    asked for, at most net.core.{r,w}mem_max (212992), doubled for Linux's
    bookkeeping, at least 2304 / 4608 octets; getsockopt then returns the
    doubled size, and the engine's buffer is that size. Without it the value
    is kept as given (1 .. 2^30): the number set is the number read back.

    Values: ints, except SO_LINGER, an (onoff, seconds) pair, and
    TCP_CONGESTION, a str.
    """

    __slots__ = ("linux_buffers", "changes", "linger", "notsent_lowat", "inq", "cork",
                 "tos", "mtu_discover", "mtu_discover6", "user_mss", "quickack")

    def __init__(self, cfg: Config, *, linux_buffers: bool | None = None):
        self.linux_buffers = cfg.linux_sockbuf if linux_buffers is None else linux_buffers
        #: Config fields the options changed (what config() applies)
        self.changes: dict[str, object] = {}
        self.linger: int | None = None        # SO_LINGER seconds, None: off
        self.notsent_lowat = 0                # TCP_NOTSENT_LOWAT; 0: not set
        self.inq = 0                          # TCP_INQ
        self.cork = 0                         # TCP_CORK (Connection.set_cork)
        self.tos = 0                          # IP_TOS / IPV6_TCLASS, ECN bits cleared (Config.tos)
        self.quickack = 1                     # TCP_QUICKACK before a connection (Linux: 1)
        self.mtu_discover = IP_PMTUDISC_WANT
        self.mtu_discover6 = IP_PMTUDISC_WANT
        self.user_mss = 0                     # TCP_MAXSEG as set (0: not set)

    def copy(self) -> "SockOpts":
        """For an accepted socket: it inherits the listener's options."""
        new = SockOpts.__new__(SockOpts)
        for name in SockOpts.__slots__:
            setattr(new, name, getattr(self, name))
        new.changes = dict(self.changes)
        return new

    # ---------------------------------------------------------------- config
    def config(self, base: Config) -> Config:
        """`base` with the options applied: for the socket's next connection
        or its listener (whose accepted connections inherit them)."""
        changes = dict(self.changes)
        if "rcvbuf" in changes and not self.linux_buffers:
            # a buffer larger than the largest one foreseen: scale for it
            size = changes["rcvbuf"]
            if base.max_rcvbuf is not None and isinstance(size, int) and size > base.max_rcvbuf:
                changes["max_rcvbuf"] = size
        return base.replace(**changes) if changes else base

    def _size(self, value: int, minimum: int) -> int:
        if self.linux_buffers:
            v = value & 0xFFFFFFFF                   # Linux compares as u32
            return max(min(v, MEM_MAX) * 2, minimum)
        return min(max(value, _BUF_MIN), _BUF_MAX)

    # ------------------------------------------------------------------- set
    def set(self, now: float, level: int, opt: int, value, conn: Connection | None) -> None:
        """setsockopt: check `value`, keep it, apply it to `conn` (the live
        connection, or None). OSError(EINVAL) for a bad value, OSError
        (ENOPROTOOPT) for an unknown option; NotSupported for what the
        engine cannot do."""
        name = OPTION_NAMES.get((level, opt))
        if name is None:
            raise _err(_errno.ENOPROTOOPT)
        live = conn if conn is not None and conn.state is not CLOSED else None
        if name == "SO_LINGER":
            onoff, secs = value
            self.linger = max(0, int(secs)) if onoff else None
            if conn is not None:
                conn.linger = self.linger
            return
        if name == "TCP_CONGESTION":
            from . import congestion
            text = value.decode() if isinstance(value, (bytes, bytearray)) else str(value)
            text = text.split("\0", 1)[0]
            if text not in congestion.available():
                raise _err(_errno.ENOENT)              # Linux: no such module
            if conn is not None:
                raise NotSupported("TCP_CONGESTION on a connected socket (the engine picks "
                                   "the controller when the connection opens)")
            self.changes["congestion_control"] = text
            return
        v = int(value)
        if name.startswith("SO_"):
            self._set_socket_level(now, name, v, conn, live)
        elif name.startswith("TCP_"):
            self._set_tcp_level(now, name, v, conn, live)
        else:
            self._set_ip_level(name, v, conn)

    def _set_socket_level(self, now: float, name: str, v: int,
                          conn: Connection | None, live: Connection | None) -> None:
        """SOL_SOCKET options of `set`: the buffers and keep-alive."""
        if name == "SO_RCVBUF":
            size = self._size(v, SOCK_MIN_RCVBUF)
            self.changes["rcvbuf"] = size
            if self.linux_buffers:
                # Linux (SOCK_RCVBUF_LOCK): the window scale follows this size
                self.changes["max_rcvbuf"] = size
            self.changes["rcvbuf_auto"] = False       # Linux: SOCK_RCVBUF_LOCK, no autotuning
            if conn is not None:
                conn.rcvbuf = size
                conn.rcvbuf_auto = False
        elif name == "SO_SNDBUF":
            size = self._size(v, SOCK_MIN_SNDBUF)
            self.changes["sndbuf"] = size
            self.changes["sndbuf_auto"] = False       # Linux: SOCK_SNDBUF_LOCK, no autotuning
            if conn is not None:
                conn.sndbuf = size
                conn.sndbuf_auto = False
        elif name == "SO_KEEPALIVE":
            self.changes["keepalive"] = bool(v)
            if live is not None:
                live.set_keepalive(now, bool(v))
            elif conn is not None:
                conn.cfg = conn.cfg.replace(keepalive=bool(v))

    def _set_tcp_level(self, now: float, name: str, v: int,
                       conn: Connection | None, live: Connection | None) -> None:
        """IPPROTO_TCP options of `set`."""
        if name == "TCP_NODELAY":
            self.changes["nagle"] = not v
            if conn is not None:
                conn.nodelay = bool(v)
                if v:
                    # Linux pushes what Nagle held at once (tcp_push_pending_frames)
                    conn.push(now)
        elif name == "TCP_MAXSEG":
            if v and not TCP_MIN_MSS <= v <= MAX_TCP_WINDOW:
                raise _err(_errno.EINVAL)
            # the MSS announced by (and capping) connections opened from now on
            self.user_mss = v
            if v:
                self.changes["mss"] = v
            else:
                self.changes.pop("mss", None)
        elif name == "TCP_USER_TIMEOUT":
            if v < 0:
                raise _err(_errno.EINVAL)
            self._cfg_field("user_timeout", v / 1000.0 if v else None, conn)
        elif name in ("TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT"):
            top = {"TCP_KEEPIDLE": MAX_TCP_KEEPIDLE, "TCP_KEEPINTVL": MAX_TCP_KEEPINTVL,
                   "TCP_KEEPCNT": MAX_TCP_KEEPCNT}[name]
            if not 1 <= v <= top:
                raise _err(_errno.EINVAL)
            field = {"TCP_KEEPIDLE": "keepalive_idle", "TCP_KEEPINTVL": "keepalive_interval",
                     "TCP_KEEPCNT": "keepalive_probes"}[name]
            self._cfg_field(field, v if name == "TCP_KEEPCNT" else float(v), conn)
            if name == "TCP_KEEPIDLE" and live is not None and live.cfg.keepalive:
                live.set_keepalive(now, True)         # re-armed with the new idle time
        elif name == "TCP_SYNCNT":
            # SYN retransmissions before connect() gives up (Linux icsk_syn_retries)
            if not 1 <= v <= MAX_TCP_SYNCNT:
                raise _err(_errno.EINVAL)
            self._cfg_field("syn_retries", v, conn)
        elif name == "TCP_NOTSENT_LOWAT":
            self.notsent_lowat = v & 0xFFFFFFFF
        elif name == "TCP_INQ":
            if v not in (0, 1):
                raise _err(_errno.EINVAL)
            self.inq = v
        elif name == "TCP_CORK":
            self.cork = 1 if v else 0
            if conn is not None:
                conn.set_cork(now, bool(v))
        elif name == "TCP_QUICKACK":
            # Linux: ping-pong mode off (1) or on (0); a connection starts
            # with it off, whatever was set before (seen on the kernel)
            if live is not None:
                live.set_quickack(now, v)
            else:
                self.quickack = 1 if v else 0

    def _set_ip_level(self, name: str, v: int, conn: Connection | None) -> None:
        """IPPROTO_IP / IPPROTO_IPV6 options of `set`: IP_TOS / IPV6_TCLASS
        go on the packets (Config.tos, from the next packet on, as Linux);
        the MTU discovery modes are kept and read back."""
        if name == "IP_TOS":
            # Linux takes the low byte of any value (checked against the
            # kernel: 256 reads back 0, -1 reads back 252) and keeps the ECN
            # bits of the byte to itself on TCP sockets (__ip_sock_set_tos)
            self.tos = v & 0xFC
            self._set_tos(conn)
        elif name == "IPV6_TCLASS":
            if not -1 <= v <= 255:
                raise _err(_errno.EINVAL)
            self.tos = (v & 0xFC) if v >= 0 else 0     # -1: the default, 0
            self._set_tos(conn)
        elif name in ("IP_MTU_DISCOVER", "IPV6_MTU_DISCOVER"):
            if not 0 <= v <= 5:
                raise _err(_errno.EINVAL)
            if name == "IP_MTU_DISCOVER":
                self.mtu_discover = v
            else:
                self.mtu_discover6 = v


    def _set_tos(self, conn: Connection | None) -> None:
        self._cfg_field("tos", self.tos, conn)
        if conn is not None and self.tos:
            conn.host.tos_used = True

    def _cfg_field(self, field: str, value, conn: Connection | None) -> None:
        self.changes[field] = value
        if conn is not None:
            conn.cfg = conn.cfg.replace(**{field: value})

    # ------------------------------------------------------------------- get
    def get(self, level: int, opt: int, conn: Connection | None, cfg: Config):
        """getsockopt: the value, read from `conn` where it lives there;
        `cfg` is the socket's config otherwise (its listener's, or the one
        its next connection gets, before config())."""
        name = OPTION_NAMES.get((level, opt))
        if name is None:
            raise _err(_errno.ENOPROTOOPT)
        cur = conn.cfg if conn is not None else self.config(cfg)
        if name == "SO_LINGER":
            return (1 if self.linger is not None else 0, self.linger or 0)
        if name == "TCP_CONGESTION":
            return cur.congestion_control
        if name == "SO_RCVBUF":
            return conn.rcvbuf if conn is not None else cur.rcvbuf
        if name == "SO_SNDBUF":
            if conn is None:
                return cur.sndbuf
            return conn.sndbuf_now if conn.sndbuf_auto else conn.sndbuf   # autotuned: its size now
        if name == "SO_KEEPALIVE":
            return int(cur.keepalive)
        if name == "TCP_NODELAY":
            return int(conn.nodelay if conn is not None else not cur.nagle)
        if name == "TCP_MAXSEG":
            # Linux: mss_cache, but what was set (or 536) while CLOSED / LISTEN
            if conn is not None and conn.state not in (CLOSED, LISTEN):
                return conn.snd_mss
            return self.user_mss or TCP_MSS_DEFAULT
        if name == "TCP_USER_TIMEOUT":
            ut = cur.user_timeout
            return int(round(ut * 1000)) if ut else 0
        if name == "TCP_KEEPIDLE":
            return int(cur.keepalive_idle)
        if name == "TCP_KEEPINTVL":
            return int(cur.keepalive_interval)
        if name == "TCP_KEEPCNT":
            return int(cur.keepalive_probes)
        if name == "TCP_SYNCNT":
            return int(cur.syn_retries)
        if name == "TCP_NOTSENT_LOWAT":
            return self.notsent_lowat
        if name == "TCP_INQ":
            return self.inq
        if name == "TCP_CORK":
            return self.cork
        if name == "TCP_QUICKACK":
            return conn.quickack_on if conn is not None else self.quickack
        if name in ("IP_TOS", "IPV6_TCLASS"):
            return self.tos
        if name == "IP_MTU_DISCOVER":
            return self.mtu_discover
        return self.mtu_discover6                    # IPV6_MTU_DISCOVER

    @staticmethod
    def number(name: str) -> tuple[int, int]:
        """(level, option number) of an option name ("TCP_NODELAY")."""
        return _NUMBERS[name]
