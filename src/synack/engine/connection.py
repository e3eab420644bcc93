"""One TCP connection: the TCB and its state machine (RFC 9293 §3.3 and §3.10).

Sans-I/O: a `Connection` never reads a clock, sleeps or does I/O. Its owner,
a `Host`, hands it segments (`on_segment`), timer expiries (`on_timer`) and
user calls (`send`, `recv`, `shutdown`, `close`, `abort`), each with `now`.
It answers by appending `(local_ip, remote_ip, Segment)` to `host.outbox`,
`Event`s to `host.events`, and by keeping `deadline`, its next timer.

Segment arrival follows RFC 9293 §3.10.7 step by step; each step carries the
section it implements. Variables carry the RFC's names in lower case
(SND.UNA -> snd_una). `snd_nxt` is the highest sequence number sent so far
plus one (it never moves back); retransmissions are sent from `snd_una`
without rewinding it, as BSD and Linux do.
"""
from __future__ import annotations

import errno as _errno
from typing import TYPE_CHECKING, Any, Final

from . import events as ev
from .config import Config
from .congestion import CongestionControl, HyStart
from .congestion import create as create_cc
from .congestion import rfc5681_initial_window as _iw_bytes
from .fastopen import CLIENT_NO_COOKIE, FastOpen, peer_option, syn_room
from .fastopen import option as _tfo_option
from .fastopen import ready as _tfo_ready
from .reassembly import Reassembly
from .recovery import LOST, PSH_SEND, PSH_UNIT, Prr, Rack, Transmissions
from .rtt import RttEstimator
from .sack import Scoreboard
from .segment import (ACK, FIN, NO_OPTIONS, PSH, RST, SYN, URG, Options, Segment, make_options,
                      make_segment)
from .seq import HALF, MASK
from .seq import le as _le
from .seq import lt as _lt
from .states import (CAN_RECEIVE, CAN_SEND, CLOSE_WAIT, CLOSED, CLOSING, ESTABLISHED,
                     FIN_WAIT_1, FIN_WAIT_2, LAST_ACK, LISTEN, SYN_RECEIVED, SYN_SENT,
                     SUCCESSORS, TIME_WAIT, IllegalTransition, State)

if TYPE_CHECKING:
    from .host import Host
    from .listener import Listener

#: the value of a short queue that has never been used: sharing one empty tuple
#: saves a 56-byte list per queue per connection (idle connections are many)
_EMPTY: Final = ()
#: `deadline` when no timer is armed (a float, so the compiled build keeps it unboxed)
NEVER: Final = float("inf")
_TS_OPTION_LEN: Final = 12        # NOP, NOP, kind 8 len 10 (RFC 7323 Appendix A layout)
_MAX_WINDOW_FIELD: Final = 0xFFFF
_PAWS_IDLE: Final = 24 * 86400.0  # RFC 7323 §5.5: TS.Recent is invalid after 24 days idle
_MAX_QUICKACKS: Final = 16        # Linux TCP_MAX_QUICKACKS
_MIN_RCV_MSS: Final = 536         # Linux TCP_MSS_DEFAULT: the first guess at the peer's segment size
_SENDING: Final = frozenset((ESTABLISHED, CLOSE_WAIT, FIN_WAIT_1, CLOSING, LAST_ACK))
_ERRORS = {
    "ECONNRESET": ConnectionResetError,
    "ECONNREFUSED": ConnectionRefusedError,
    "ETIMEDOUT": TimeoutError,
    "ECONNABORTED": ConnectionAbortedError,
}


def wanted_wscale(cfg: Config, rcvbuf: int) -> int:
    """RFC 7323 §2.3: the smallest shift that lets the window cover the
    receive buffer (its largest size, where it may grow)."""
    if not cfg.window_scaling:
        return 0
    biggest = cfg.max_rcvbuf or (max(rcvbuf, cfg.rcvbuf) if cfg.rcvbuf_auto else rcvbuf)
    s = 0
    while (0xFFFF << s) < biggest and s < 14:
        s += 1
    return s


def _ceil_ms(x: float) -> float:
    """`x` seconds rounded up to a whole millisecond (Linux's jiffy at
    HZ=1000), ignoring float noise below a microsecond."""
    t = x * 1000.0
    n = int(t)
    if t - n > 1e-6:
        n += 1
    return n / 1000.0


def syn_options(cfg: Config, peer: Options | None, rcv_mss: int, rcv_wscale: int | None,
                ts_val: int, ts_ecr: int) -> Options:
    """The options of our SYN (`peer` None) or of our SYN,ACK answering a SYN
    that carried `peer`. A SYN,ACK carries window scale, timestamps and
    SACK-permitted only if the SYN did (RFC 7323 §1.3, §3.2; RFC 2018 §2).
    Both the connection and the stateless SYN-cookie answer build them here."""
    if peer is None:
        ts_on, ws_on, sack_on = cfg.timestamps, cfg.window_scaling, cfg.sack
    else:
        ts_on = cfg.timestamps and peer.timestamp is not None
        ws_on = cfg.window_scaling and peer.wscale is not None
        sack_on = cfg.sack and peer.sack_permitted
    return make_options(rcv_mss, rcv_wscale if ws_on else None, sack_on, (),
                        (ts_val, ts_ecr) if ts_on else None, ())


def os_error(name: str, text: str | None = None) -> OSError:
    """The exception a `socket` user expects for an errno name."""
    code = getattr(_errno, name)
    cls = _ERRORS.get(name, OSError)
    import os
    return cls(code, text or os.strerror(code))


#: Connection.cork: TCP_CORK is set; a MSG_MORE send holds its partial segment
CORK_SOCKET: Final = 1
CORK_MORE: Final = 2


class Connection:
    """The TCB (RFC 9293 §3.3.1) and everything done to it."""

    __slots__ = (
        "host", "cfg", "key", "local_ip", "local_port", "remote_ip", "remote_port",
        "state", "passive", "listener", "ipv6",
        # send sequence space (RFC 9293 §3.3.1, Figure 4)
        "iss", "snd_una", "snd_nxt", "snd_wnd", "snd_wl1", "snd_wl2", "max_snd_wnd",
        # receive sequence space (Figure 5)
        "irs", "rcv_nxt", "rcv_adv", "rcv_up",
        # options negotiated on the SYNs
        "snd_mss", "peer_mss", "rcv_mss", "snd_wscale", "rcv_wscale", "ts_ok", "ts_recent",
        "ts_recent_time", "ts_offset", "last_ack_sent", "sack_ok",
        # buffers
        "sndq", "sndq_seq", "rcvq", "reasm", "rcvbuf", "sndbuf",
        "fin_queued", "fin_sent", "fin_seq", "peer_fin_seq", "push_seqs", "psh_pairs", "rtx_chain",
        # the socket's sending options: the cork (TCP_CORK, MSG_MORE), the
        # record ends of MSG_EOR
        "cork", "eor_seqs",
        # app-facing flags
        "rd_shut", "wr_shut", "orphan", "linger", "nodelay", "eof", "error", "urg_mode",
        # retransmission and congestion
        "rtt", "cc", "retries", "rtt_seq", "rtt_time", "rtx_nxt", "dupacks", "recover",
        "progress_time", "last_data_send", "syn_opts", "syn_acked",
        # SACK-based loss recovery (RFC 6675) and the receiver's D-SACK (RFC 2883)
        "board", "sack_recovery", "high_rxt", "rescue_rxt", "pipe", "dsack", "rxt_marks",
        "rxt_again", "lt_sent", "txlog", "track_tx", "prr", "ca_loss", "rack", "t_reo",
        # cwnd validation (whether the window is in use) and Tail Loss Probe
        "cwnd_limited", "max_flight", "cwnd_usage_seq", "tlp_end", "tlp_is_retrans",
        "tlp_rtt_ok", "tail_seq", "hystart",
        # ACK policy
        "ack_now", "delack_segs", "quickack", "pingpong", "rcv_seg_mss", "last_data_rcv",
        # timers: absolute deadlines or None, and the earliest of them
        "t_rexmt", "t_delack", "t_persist", "t_keep", "t_fin2", "t_pto", "persist_backoff",
        "probes_out", "probe_tstamp",
        "keep_probes", "deadline", "transitions",
        # when the last reply to an invalid segment went out (invalid_ratelimit)
        "last_oow_ack",
        # send-buffer autotuning (cfg.sndbuf_auto): on, and the size reached so far
        "sndbuf_auto", "sndbuf_now",
        # octets charged to the host's memory total (Config.tcp_mem); -1 once released
        "mem_charged",
        # receive-buffer autotuning (cfg.rcvbuf_auto, Dynamic Right-Sizing):
        # on, octets read since the measurement began, when it began, last RTT's
        "rcvbuf_auto", "drs_copied", "drs_time", "drs_space",
        # TCP Fast Open (RFC 7413) of an active open that asked for it; else None
        "tfo",
    )

    def __init__(self, host: Host, cfg: Config, local_ip: str, local_port: int,
                 remote_ip: str, remote_port: int):
        self.host = host
        self.cfg = cfg
        self.local_ip, self.local_port = local_ip, local_port
        self.remote_ip, self.remote_port = remote_ip, remote_port
        self.key = (local_ip, local_port, remote_ip, remote_port)
        self.ipv6 = ":" in local_ip
        self.state = CLOSED
        self.passive = False
        self.listener: Listener | None = None
        self.iss = self.snd_una = self.snd_nxt = 0
        self.snd_wnd = self.snd_wl1 = self.snd_wl2 = self.max_snd_wnd = 0
        self.irs = self.rcv_nxt = self.rcv_adv = self.rcv_up = 0
        self.rcv_mss = cfg.announced_mss(self.ipv6)
        self.peer_mss = 1220 if self.ipv6 else 536          # MUST-15 default
        self.snd_mss = self.peer_mss
        self.snd_wscale = 0
        # None only on a passive child while its SYN's options are read (Listener)
        self.rcv_wscale: int | None = 0
        self.ts_ok = self.sack_ok = False
        self.ts_recent = self.ts_offset = self.last_ack_sent = 0
        self.ts_recent_time = 0.0
        self.sndq = bytearray()
        self.sndq_seq = 0
        self.rcvq = bytearray()
        # out-of-order data above RCV.NXT (reassembly.py); None while none is held
        self.reasm: Reassembly | None = None
        # short queues as lists (an empty deque is 760 bytes), and none until used
        self.push_seqs: Any = _EMPTY       # the sequence number after each SEND's last octet
        # PSH every `psh_pairs` segments of a burst ("linux" PSH policy; 0: off)
        self.psh_pairs = 2 if cfg.psh == "linux" else 0
        self.rtx_chain: Any = None         # [end, time, segments] of back-to-back retransmissions
        self.rcvbuf = cfg.rcvbuf
        self.sndbuf = cfg.sndbuf
        self.fin_queued = self.fin_sent = False
        self.fin_seq = 0
        self.peer_fin_seq: int | None = None
        self.rd_shut = self.wr_shut = self.orphan = False
        self.linger: int | None = None
        self.nodelay = not cfg.nagle
        self.eof = False
        self.error: str | None = None
        self.urg_mode = False              # urgent data announced and not all read yet
        self.rtt = RttEstimator(cfg.rto_initial, cfg.rto_min, cfg.rto_max, cfg.linux_rto)
        self.cc: CongestionControl | None = None  # made when the SYN goes out (_init_cc)
        self.hystart: HyStart | None = None  # HyStart state (RFC 9406 or Linux's), cfg.hystart
        self.retries = 0
        self.rtt_seq: int | None = None
        self.rtt_time = 0.0
        self.rtx_nxt: int | None = None
        self.dupacks = 0
        self.recover = 0
        self.progress_time = 0.0
        self.last_data_send: float | None = None  # when new data last went out (RFC 5681 §4.1)
        self.syn_opts = NO_OPTIONS
        self.syn_acked = False             # our SYN has been acknowledged
        self._init_loss_recovery()
        self.ack_now = False
        self.delack_segs = 0
        self.quickack = 0
        self.pingpong = False
        self.rcv_seg_mss = min(_MIN_RCV_MSS, self.rcv_mss)
        self.last_data_rcv: float | None = None
        self.t_rexmt: float | None = None
        self.t_delack: float | None = None
        self.t_persist: float | None = None
        self.probes_out = 0                      # Linux icsk_probes_out: unanswered window probes, probes a refusing local queue turned away
        self.probe_tstamp: float | None = None   # its first probe (icsk_probes_tstamp)
        self.t_keep: float | None = None
        self.t_fin2: float | None = None
        self.t_pto: float | None = None
        self.persist_backoff = 0
        self.keep_probes = 0
        self.last_oow_ack = -NEVER           # no reply to an invalid segment yet
        self._init_buffer_tuning()
        self.deadline = NEVER               # the earliest armed timer (NEVER: none)
        self.transitions: list | None = None
        self.tfo: FastOpen | None = None

    def _init_buffer_tuning(self) -> None:
        """Buffer autotuning and memory accounting of a new TCB: the send
        buffer sized from cwnd (Linux tcp_sndbuf_expand), the receive buffer
        grown by Dynamic Right-Sizing (tcp_rcv_space_adjust), and the octets
        charged to the host's tcp_mem; and the send queue's socket options:
        TCP_CORK (set_cork), the record ends of MSG_EOR (send)."""
        cfg = self.cfg
        self.cork = 0                       # CORK_SOCKET | CORK_MORE bits
        self.eor_seqs: Any = _EMPTY
        if cfg.tos:
            self.host.tos_used = True       # the drivers look up IP_TOS (Host.tos_of)
        self.sndbuf_auto = cfg.sndbuf_auto
        self.sndbuf_now = min(cfg.sndbuf_min, cfg.sndbuf)
        self.mem_charged = 0                # octets charged to the host's tcp_mem
        self.rcvbuf_auto = cfg.rcvbuf_auto
        if cfg.rcvbuf_auto and cfg.rcvbuf_min < cfg.rcvbuf:
            self.rcvbuf = cfg.rcvbuf_min
        self.drs_copied = 0                 # DRS: octets read in this measurement round
        self.drs_time = -1.0                # DRS: when the round began (-1: not yet)
        self.drs_space = 0                  # DRS: what was read in the last measured round

    def _init_loss_recovery(self) -> None:
        """The loss-recovery part of a new TCB: SACK-based recovery (RFC 6675),
        the D-SACK to report (RFC 2883), RACK-TLP (RFC 8985), PRR (RFC 6937)
        and cwnd validation, all idle."""
        cfg = self.cfg
        self.board: Scoreboard | None = None  # the RFC 6675 scoreboard, once SACK is on
        self.sack_recovery = False
        self.high_rxt: int | None = None
        self.rescue_rxt: int | None = None
        self.pipe = 0
        self.dsack: tuple[int, int] | None = None  # (start, end) to report first in the next ACK
        self.rxt_marks: Any = _EMPTY       # SACK recovery: (start, end, HighData) per retransmission
        self.rxt_again: Any = _EMPTY       # retransmissions found lost, to send once more
        self.lt_sent = 0                   # new octets limited transmit sent past cwnd (RFC 5681 §3.2)
        # per-segment send times (cfg.rtt_every_ack, cfg.rack), made at the first send
        self.txlog: Transmissions | None = None
        self.track_tx = cfg.rtt_every_ack or cfg.rack
        self.prr: Prr | None = None        # RFC 6937 state while in recovery (cfg.prr)
        self.ca_loss = False               # after an RTO, until its recovery point is ACKed
        self.rack: Rack | None = None      # RACK state (cfg.rack), made with txlog
        self.t_reo: float | None = None    # RACK's reordering timer (RFC 8985 §6.3)
        self.cwnd_limited = False
        self.max_flight = 0
        self.cwnd_usage_seq = 0
        self.tlp_end: int | None = None
        self.tlp_is_retrans = False
        self.tlp_rtt_ok = True             # an RTT sample since the last probe (RFC 8985 §7.3)
        self.tail_seq = 0                  # where the last new segment sent began

    @property
    def name(self) -> str:
        """local>remote, for messages and traces (made on demand: it is rarely read)."""
        return f"{self.local_ip}:{self.local_port}>{self.remote_ip}:{self.remote_port}"

    def __repr__(self) -> str:
        return f"<Connection {self.name} {self.state}>"

    # ------------------------------------------------------------------ states
    def _set_state(self, now: float, new: State, cause: str) -> None:
        """The one place a state changes: checked against TRANSITIONS, recorded."""
        old = self.state
        if new not in SUCCESSORS[old]:
            raise IllegalTransition(f"{self.name}: {old} -> {new} ({cause}) is not an RFC 9293 transition")
        self.state = new
        if self.transitions is not None:
            self.transitions.append((now, old, new, cause))
        self.host._state_changed(now, self, old, new, cause)

    # ------------------------------------------------------------ user calls
    def open_active(self, now: float, iss: int) -> None:
        """OPEN call, active (RFC 9293 §3.10.1): send SYN, enter SYN-SENT."""
        self.iss = iss
        self.snd_una = iss
        self.snd_nxt = (iss + 1) & MASK
        self.sndq_seq = self.snd_nxt
        self.rcv_wscale = wanted_wscale(self.cfg, self.rcvbuf)
        self._init_cc()
        self._set_state(now, SYN_SENT, "active OPEN / snd SYN")
        self._send_syn_and_arm(now)
        self.progress_time = now
        self._update_deadline()

    def open_passive(self, now: float, listener: Listener, seg: Segment, iss: int,
                     cause: str) -> None:
        """A LISTEN socket's SYN makes this connection (RFC 9293 §3.10.7.2,
        third check): take the peer's ISN, window and options, choose ours,
        enter SYN-RECEIVED. The caller sends the SYN,ACK
        (`answer_syn`), or, for a SYN-cookie child, feeds it the ACK that
        completed the handshake."""
        host = self.host
        self.passive = True
        self.listener = listener
        self.state = LISTEN                   # the child starts as a copy of the listener
        self.transitions = [] if host.record_transitions else None
        self.ts_offset = host.ts_offset(self.key)
        self.irs = seg.seq
        self.rcv_nxt = (seg.seq + 1) & MASK
        self.iss = iss
        self.snd_una = iss
        self.snd_nxt = (iss + 1) & MASK
        self.sndq_seq = self.snd_nxt
        self.snd_wnd = seg.window
        self.snd_wl1 = seg.seq
        self.snd_wl2 = seg.ack
        self.max_snd_wnd = seg.window
        self.recover = iss
        # RCV.WND as the SYN,ACK announces it (never scaled, RFC 7323 §2.2). A
        # SYN-cookie child never sends that SYN,ACK itself, so set it here, or its
        # receive window would start at zero (RFC 9293 §3.3.1, §3.10.7.4).
        self.rcv_adv = (self.rcv_nxt + min(self.rcvbuf, 0xFFFF)) & MASK
        self.rcv_wscale = (wanted_wscale(self.cfg, self.rcvbuf)
                           if (self.cfg.window_scaling and seg.options.wscale is not None) else None)
        self._take_syn_options(now, seg)
        if self.rcv_wscale is None:
            self.rcv_wscale = 0
        self._init_cc()
        host._attach(self)
        self._set_state(now, SYN_RECEIVED, cause)

    def answer_syn(self, now: float) -> None:
        """SYN-RECEIVED after a passive open: send the SYN,ACK and arm its timer."""
        self._send_syn_and_arm(now)
        self.progress_time = now
        self._update_deadline()

    def send(self, now: float, data, push: bool = True, more: bool = False,
             eor: bool = False, xmit: int = -1) -> int:
        """SEND call (§3.10.2): queue what fits in the send buffer; return its size.
        `push` False (MSG_MORE) queues the data without the push mark of the
        call's end (§3.9.1.2: PSH is the caller's choice). `more` (Linux's
        MSG_MORE): this call's own output is corked, only full segments go
        (see set_cork). `eor` (MSG_EOR): once all of `data` is queued, its
        end is a record end: no later octet shares a segment with it, also
        when retransmitted (Linux marks the skb EOR). `xmit`: -1 sends what
        the windows allow; 0 only queues; k > 0 sends at most k segments (a
        socket layer that copies a write in pieces, as Linux's tcp_sendmsg
        does, and sends between them as it does)."""
        st = self.state
        if self.error:
            raise os_error(self.error)
        if self.wr_shut or st not in CAN_SEND:
            if st is CLOSED or st is LISTEN:
                raise os_error("ENOTCONN")
            raise os_error("EPIPE")
        room = self._send_limit() - len(self.sndq)
        if room <= 0 or not data:
            return 0
        n = len(data) if len(data) <= room else room
        self.sndq += data[:n] if n < len(data) else data
        # where this SEND ends: its last segment carries PSH (MUST-61, §3.9.1.2)
        if push:
            ps = self.push_seqs
            if ps is _EMPTY:
                ps = self.push_seqs = []
            ps.append((self.sndq_seq + len(self.sndq)) & MASK)
        if eor and n == len(data):
            self._mark_record_end()
        if more:
            self.cork |= CORK_MORE
        elif self.cork & CORK_MORE:
            self.cork &= ~CORK_MORE
        if st is ESTABLISHED or st is CLOSE_WAIT:
            if xmit < 0:
                self._output(now)
            elif xmit:
                self._output_data(now, xmit)
            self._update_deadline()
        if self.host.mem_limits is not None:
            self._mem_sync()
        return n

    def _mark_record_end(self) -> None:
        """MSG_EOR: the queue's end is a record end (see send)."""
        es = self.eor_seqs
        if es is _EMPTY:
            es = self.eor_seqs = []
        end = (self.sndq_seq + len(self.sndq)) & MASK
        if not es or es[-1] != end:
            es.append(end)

    def set_cork(self, now: float, on: bool) -> None:
        """TCP_CORK. While set, a partial segment is not sent (only full
        segments, and the FIN with what precedes it), also with nothing in
        flight and with TCP_NODELAY on; held data with nothing in flight
        goes when the probe timer fires, at max(RTO, rto_min) (Linux's
        tcp_check_probe_timer and tcp_write_wakeup, with PSH; about 200 ms
        on a short path, as tcp(7) says). Clearing it sends what was held:
        ignoring Nagle when TCP_NODELAY is on (Linux sets TCP_NAGLE_PUSH
        then), under Nagle otherwise (__tcp_sock_set_cork).

        MSG_MORE (send's `more`) corks too (CORK_MORE, Linux's tcp_push with
        TCP_NAGLE_CORK), until the next send without it, the next segment
        that arrives (Linux's tcp_data_snd_check then sends under the
        socket's own setting), a push or an uncork; a timer (a delayed ACK)
        does not release it, but the probe timer sends it as above."""
        if on:
            self.cork |= CORK_SOCKET
            return
        self.cork = 0
        if self.nodelay:
            self.push(now)
        elif self.state is ESTABLISHED or self.state is CLOSE_WAIT:
            self._output(now)
            self._update_deadline()

    def set_quickack(self, now: float, value: int) -> None:
        """TCP_QUICKACK as Linux's __tcp_sock_set_quickack: 0 enters
        ping-pong (delayed-ACK) mode; any other value leaves it and, in
        ESTABLISHED or CLOSE-WAIT with an ACK pending, sends that ACK now
        when nothing is left unread or more than a segment is unacknowledged
        (tcp_cleanup_rbuf); an even value then enters ping-pong mode again."""
        if not value:
            self.pingpong = True
            return
        self.pingpong = False
        if (self.state is ESTABLISHED or self.state is CLOSE_WAIT) and (
                self.t_delack is not None or self.delack_segs):
            unacked = (self.rcv_nxt - self.last_ack_sent) & MASK
            if not self.rcvq or unacked > self.rcv_seg_mss:
                self._send_ack(now)
                self._update_deadline()
            if not value & 1:
                self.pingpong = True

    @property
    def quickack_on(self) -> int:
        """getsockopt TCP_QUICKACK: 1 unless in ping-pong mode (Linux)."""
        return 0 if self.pingpong else 1

    def push(self, now: float) -> None:
        """Send at once what Nagle is holding back (TCP_NODELAY switched on,
        or a caller that wants its queued data out): one output pass that
        ignores Nagle, within the windows as always. It ignores TCP_CORK
        too (Linux's TCP_NAGLE_PUSH, which passes a cork)."""
        if self.state is ESTABLISHED or self.state is CLOSE_WAIT or self.fin_queued:
            keep = self.nodelay
            cork = self.cork & CORK_SOCKET          # (a MSG_MORE cork ends here)
            self.nodelay = True
            self.cork = 0
            try:
                self._output(now)
            finally:
                self.nodelay = keep
                self.cork = cork
            self._update_deadline()

    def set_rcvbuf(self, now: float, size: int) -> None:
        """SO_RCVBUF on a live connection. A bigger buffer may open the window:
        tell the peer at once (a window update, §3.8.6.2.2); a smaller one
        never shrinks the window already offered (MUST-34's receiver side)."""
        grew = size > self.rcvbuf
        self.rcvbuf = max(1, int(size))
        if grew and self.state not in (CLOSED, LISTEN, SYN_SENT, SYN_RECEIVED):
            self._window_opened(now)

    def recv(self, now: float, n: int) -> bytes:
        """RECEIVE call (§3.10.3). Returns b"" at end of stream; raises
        BlockingIOError when nothing is there yet, and the connection's error
        (ECONNRESET, ETIMEDOUT, ...) once it has failed."""
        q = self.rcvq
        if q:
            if n >= len(q):
                data = bytes(q)
                q.clear()
            else:
                data = bytes(q[:n])
                del q[:n]
            if self.host.mem_limits is not None:
                self._mem_sync()
            if self.rcvbuf_auto:
                self._rcv_space_adjust(now, len(data))
            self._window_opened(now)
            return data
        if self.error:
            raise os_error(self.error)
        if self.eof or self.rd_shut:
            return b""
        if self.state in (CLOSED, LISTEN, SYN_SENT) and not self.eof:
            if self.state is SYN_SENT:
                raise BlockingIOError(_errno.EAGAIN, "connection not yet established")
            raise os_error("ENOTCONN")
        raise BlockingIOError(_errno.EAGAIN, "no data yet")

    def shutdown(self, now: float, how: str) -> None:
        """shutdown(2): "rd", "wr" or "rdwr". SHUT_WR queues our FIN (half-close).
        On a connection that is not (or no longer) connected: ENOTCONN, as
        Linux says, also after a reset or timeout (the error itself was or
        will be reported by the next read/write)."""
        if how not in ("rd", "wr", "rdwr"):
            raise ValueError(f"shutdown(now, how): how must be 'rd', 'wr' or 'rdwr', not {how!r}")
        if self.state in (CLOSED, LISTEN, SYN_SENT):
            if self.state is CLOSED and self.error:
                # Linux (inet_shutdown) records the shutdown, queues nothing
                self.rd_shut = self.rd_shut or how in ("rd", "rdwr")
                self.wr_shut = self.wr_shut or how in ("wr", "rdwr")
            raise os_error("ENOTCONN")
        if how in ("rd", "rdwr"):
            self.rd_shut = True
        if how in ("wr", "rdwr") and not self.wr_shut:
            self.wr_shut = True
            self._queue_fin(now)
        self._update_deadline()

    def close(self, now: float) -> None:
        """CLOSE call (§3.10.4), with the socket API's full-close meaning."""
        st = self.state
        self.orphan = True
        self.rd_shut = True
        if st is CLOSED:
            return
        if st is SYN_SENT:
            # §3.10.4 SYN-SENT: delete the TCB, "error: closing" to pending calls
            self._terminate(now, "CLOSE", error=None)
            return
        if self.linger == 0:
            self.abort(now)       # SO_LINGER {on, 0}: RST, no TIME_WAIT
            return
        if self.cfg.abort_on_unread_close and (self.rcvq or self.reasm is not None) and st is not TIME_WAIT:
            # Linux (tcp_close): unread data makes close() abortive (RFC 2525 §2.17)
            self.abort(now)
            return
        if not self.wr_shut:
            self.wr_shut = True
            self._queue_fin(now)
        if self.state is FIN_WAIT_2 and self.cfg.fin_wait_2_timeout is not None:
            self.t_fin2 = now + self.cfg.fin_wait_2_timeout
        self._update_deadline()

    def abort(self, now: float) -> None:
        """ABORT call (§3.10.5): send RST in synchronized states, flush, CLOSED."""
        st = self.state
        if st in (SYN_RECEIVED, ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2, CLOSE_WAIT):
            self._emit(now, RST | ACK, self.snd_nxt, self.rcv_nxt)
        self.sndq.clear()
        self.push_seqs = _EMPTY
        self.rcvq.clear()
        self.orphan = True
        if st is not CLOSED and st is not LISTEN:
            self._terminate(now, "ABORT / snd RST", error=None)

    # ------------------------------------------------------------ properties
    def set_keepalive(self, now: float, on: bool) -> None:
        """SO_KEEPALIVE (MUST-24): switch keep-alives on or off for this connection."""
        self.cfg = self.cfg.replace(keepalive=on)
        self.keep_probes = 0
        self.t_keep = now + self.cfg.keepalive_idle if on and self.state in (ESTABLISHED, CLOSE_WAIT) else None
        self._update_deadline()

    @property
    def ooo(self) -> list:
        """Out-of-order data held, as [[seq, bytes], ...] in sequence order
        (for inspection; the engine keeps chunk lists)."""
        r = self.reasm
        return [] if r is None else r.held()

    @property
    def ooo_bytes(self) -> int:
        """Octets held out of order (they count against the receive buffer)."""
        r = self.reasm
        return 0 if r is None else r.size

    def _read_seq(self) -> int:
        """The sequence number of the next octet recv() returns."""
        return (self.rcv_nxt - len(self.rcvq)) & MASK

    @property
    def urgent_pending(self) -> int:
        """Octets still to be read up to the urgent pointer (MUST-33): 0 when
        no urgent data is announced or it has all been read."""
        if not self.urg_mode:
            return 0
        n = (self.rcv_up - self._read_seq()) & MASK
        if n == 0 or n >= HALF:
            self.urg_mode = False
            return 0
        return n

    @property
    def readable(self) -> int:
        """Bytes ready for recv()."""
        return len(self.rcvq)

    @property
    def send_space(self) -> int:
        return max(0, self._send_limit() - len(self.sndq))

    def _rcv_space_adjust(self, now: float, n: int) -> None:
        """Dynamic Right-Sizing (cfg.rcvbuf_auto), as Linux's
        tcp_rcv_space_adjust: once per smoothed RTT, if the application read
        more than in the last measured RTT, the buffer becomes twice that
        plus 16 segments, plus twice the growth for a sender still in slow
        start; never above cfg.rcvbuf, never while the host is under memory
        pressure (Config.tcp_mem). The buffer never shrinks here, and the
        window already offered never does (MUST-34)."""
        self.drs_copied += n
        start = self.drs_time
        if start < 0:
            self.drs_time = now
            self.drs_copied = 0
            space = 10 * self.rcv_mss              # Linux: TCP_INIT_CWND * advmss
            self.drs_space = space if space < self.rcvbuf else self.rcvbuf
            return
        rtt = self.rtt.srtt
        if rtt is None or now - start < rtt:
            return
        copied = self.drs_copied
        space = self.drs_space
        if copied > space:
            cap = self.cfg.rcvbuf
            if self.rcvbuf < cap and not self.host.mem_level:
                win = 2 * copied + 16 * self.rcv_mss
                if space > 0:
                    win += 2 * (win * (copied - space) // space)
                if win > cap:
                    win = cap
                if win > self.rcvbuf:
                    self.rcvbuf = win
            self.drs_space = copied
        self.drs_copied = 0
        self.drs_time = now

    def _mem_sync(self) -> None:
        """Charge the host (Config.tcp_mem) with what this connection's queues
        hold now; nothing once the connection has left the host's table."""
        charged = self.mem_charged
        if charged < 0:
            return
        held = len(self.sndq) + len(self.rcvq) + self.ooo_bytes
        if held != charged:
            self.mem_charged = held
            self.host._mem_charge(held - charged)

    def _send_limit_mem(self) -> int:
        """The send buffer on a host with a memory limit (Config.tcp_mem):
        as `_send_limit` while the host is under its pressure level; under
        pressure an autotuned buffer stops growing and shrinks to half of
        what it holds, not below two segments (Linux's
        sk_stream_moderate_sndbuf; a size fixed by SO_SNDBUF stays). In
        every case no write takes the host past its limit, except one
        segment on a connection with nothing queued (Linux forces the first
        skb of an empty write queue), so that every connection can still
        make progress: the rest of the write blocks or gets EAGAIN."""
        host = self.host
        held = len(self.sndq)
        if not host.mem_level:
            size = self._send_limit_auto() if self.sndbuf_auto else self.sndbuf
        elif self.sndbuf_auto:
            size = self.sndbuf_now
            half = held >> 1
            floor = 2 * self.snd_mss
            if half < floor:
                half = floor
            if half < size:
                self.sndbuf_now = size = half
        else:
            size = self.sndbuf
        limits = host.mem_limits
        assert limits is not None
        headroom = limits[2] - host.mem_used
        if headroom < 0:
            headroom = 0
        if size - held > headroom:
            size = held + headroom
        if not held and size < self.snd_mss:
            size = self.snd_mss
        return size

    def _send_limit(self) -> int:
        """The send buffer's size now: `sndbuf`, or autotuned
        (`_send_limit_auto`), within the host's memory (`_send_limit_mem`)."""
        if self.host.mem_limits is not None:
            return self._send_limit_mem()
        if not self.sndbuf_auto:
            return self.sndbuf
        return self._send_limit_auto()

    def _send_limit_auto(self) -> int:
        """With autotuning (cfg.sndbuf_auto), Linux's tcp_sndbuf_expand:
        3 x max(10 segments, cwnd) x Linux's memory per segment,
        roundup_pow_of_two(MSS + 320) + 256 -- figures that reproduce this
        kernel's (6.18) SO_SNDBUF at the start of a connection, 69,120 at
        MSS 1448 and 3,939,840 at MSS 65483. Linux counts skb memory, we
        count payload, so at the same size we hold no more memory than it.
        Grown, never shrunk (but by memory pressure), between `sndbuf_min`
        and `sndbuf`: ten segments (TCP_INIT_CWND) at once, as Linux's
        tcp_init_buffer_space; beyond that only while the connection is
        cwnd-limited (tcp_should_expand_sndbuf), so a peer that stops
        reading does not make it grow. The peer's window is not a bound: a
        peer advertising one (large) segment must not starve a writer that
        Linux lets through (a blocking sendall hung that way)."""
        now_size = self.sndbuf_now
        cc = self.cc
        if cc is not None:
            mss = self.snd_mss
            cwnd = cc.cwnd
            segs = 10                                  # TCP_INIT_CWND
            if cwnd > segs * mss and ((self.snd_nxt - self.snd_una) & MASK) + mss > cwnd:
                segs = cwnd // mss                     # cwnd-limited: follow cwnd
            want = 3 * segs * ((1 << (mss + 319).bit_length()) + 256)
            if want > now_size:
                self.sndbuf_now = now_size = want if want < self.sndbuf else self.sndbuf
        return now_size

    @property
    def unacked(self) -> int:
        """Bytes sent and not yet acknowledged (SIOCOUTQ counts queued ones too)."""
        return (self.snd_nxt - self.snd_una) & MASK

    @property
    def established(self) -> bool:
        return self.state in (ESTABLISHED, CLOSE_WAIT, FIN_WAIT_1, FIN_WAIT_2, CLOSING,
                              LAST_ACK, TIME_WAIT)

    # -------------------------------------------------------- segment arrives
    def on_segment(self, now: float, seg: Segment) -> None:
        """SEGMENT ARRIVES (RFC 9293 §3.10.7) for every state but LISTEN and CLOSED."""
        if self.cfg.keepalive:
            self.keep_probes = 0                   # anything heard: the peer is alive
            self.t_keep = now + self.cfg.keepalive_idle
        if self.state is SYN_SENT:
            self._rcv_syn_sent(now, seg)
        else:
            self._rcv_synchronized(now, seg)
        if self.cork & CORK_MORE:
            self.cork &= ~CORK_MORE                # a chance to send what MSG_MORE held
        batch = self.host._batch
        if batch is not None and self.state is not CLOSED:
            batch[id(self)] = self                 # MUST-59: answer after the whole batch
            return
        if self.state is not CLOSED:
            self._output(now)
        self._update_deadline()

    def flush_output(self, now: float) -> None:
        """Send what segment processing left due (Host.receive_batch)."""
        if self.state is not CLOSED:
            self._output(now)
        self._update_deadline()

    def _rcv_syn_sent(self, now: float, seg: Segment) -> None:
        """RFC 9293 §3.10.7.3."""
        flags = seg.flags
        ack_ok = False
        # First, check the ACK bit.
        if flags & ACK:
            a = seg.ack
            if _le(a, self.iss) or _lt(self.snd_nxt, a):
                if not flags & RST:
                    self._emit_rst_for(now, seg)
                self.host.count("drop_bad_ack_syn_sent")
                return
            ack_ok = _lt(self.snd_una, a) and _le(a, self.snd_nxt)
        # Second, check the RST bit.
        if flags & RST:
            # RFC 5961 §3 / RFC 9293 SHOULD: a RST must carry exactly our SYN's
            # acknowledgement to be believed; RST without ACK is dropped.
            if ack_ok:
                self._terminate(now, "rcv RST", error="ECONNREFUSED")
            else:
                self.host.count("drop_rst_syn_sent")
            return
        # Fourth, check the SYN bit (third, security, does not apply).
        if not flags & SYN:
            self.host.count("drop_no_syn_syn_sent")   # Fifth: neither SYN nor RST
            return
        self.irs = seg.seq
        self.rcv_nxt = (seg.seq + 1) & MASK
        # The window our SYN offered (never scaled, RFC 7323 §2.2) counts from
        # RCV.NXT, which only now exists: rebase the right edge on it.
        self.rcv_adv = (self.rcv_nxt + min(self.rcvbuf, 0xFFFF)) & MASK
        self.last_ack_sent = self.rcv_nxt
        self._take_syn_options(now, seg)
        if ack_ok:
            self.snd_una = seg.ack
            self.rtt_sample_syn(now)
        if self.tfo is not None:
            self._tfo_synack(seg, ack_ok)
        self.snd_wnd = seg.window            # a SYN's window is never scaled (RFC 7323 §2.2)
        self.max_snd_wnd = self.snd_wnd
        self.snd_wl1 = seg.seq
        self.snd_wl2 = seg.ack
        if _lt(self.iss, self.snd_una):
            # our SYN has been ACKed: ESTABLISHED, send <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>
            self.syn_acked = True
            self.t_rexmt = None
            self.retries = 0
            self.rtt.backoff = 0
            self._set_state(now, ESTABLISHED, "rcv SYN,ACK / snd ACK")
            self.syn_opts = NO_OPTIONS               # needed only to resend a SYN,ACK
            self._event(ev.CONNECTED)
            self.ack_now = True
            if self.tfo is not None and self.tfo.write_pending and not seg.payload:
                self._tfo_hold_ack(now)
            if seg.payload or flags & (FIN | URG):
                # continue at the sixth step of §3.10.7.4 with the SYN trimmed off
                self._rcv_text_and_fin(now, (seg.seq + 1) & MASK, seg.payload, flags, seg)
        else:
            # simultaneous open (MUST-10): SYN-RECEIVED, send <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>
            self.passive = False
            self._set_state(now, SYN_RECEIVED, "rcv SYN (simultaneous open) / snd SYN,ACK")
            self._send_syn_and_arm(now)

    def _rcv_synchronized(self, now: float, seg: Segment) -> None:
        """RFC 9293 §3.10.7.4, for SYN-RECEIVED and every synchronized state:
        the checks in the RFC's order, one method each. PAWS (RFC 7323 §5.3)
        comes before them. The first step may trim the segment to the
        "idealized segment" inside the window; the later steps work on that,
        and read the segment as received only where the RFC asks for its
        own fields (the RST's exact SEG.SEQ, RFC 5961 §3.2)."""
        ts = seg.options.timestamp if self.ts_ok else None
        if (ts is not None and _lt(ts[0], self.ts_recent) and not seg.flags & RST
                and self.state is not SYN_RECEIVED):
            if self._paws_rejects(now, seg):
                return
        ideal = self._check_sequence(now, seg, ts)          # first
        if ideal is None:
            return
        flags = ideal.flags
        if flags & RST:                                                 # second
            self._check_rst(now, seg)
            return
        # Third, check security: synack keeps no security/compartment in the
        # TCB and its IP codec skips IP options (RFC 791 §3.1 option 130
        # included), so every segment matches and this step never resets.
        if flags & SYN:                                                 # fourth
            self._check_syn(now)
            return
        seq = ideal.seq
        payload = ideal.payload
        if not self._check_ack(now, seg, seq, flags, len(payload), ts):  # fifth
            return
        if flags & URG and self.state in CAN_RECEIVE:                  # sixth
            self._check_urg(seq, seg.urgent)
        if payload and not self._process_text(now, seq, payload, flags, seg):  # seventh
            return
        if flags & FIN:                                                 # eighth
            self._check_fin(now, seq, len(payload))

    def _paws_rejects(self, now: float, seg: Segment) -> bool:
        """RFC 7323 §5.3 R1, before the first step of §3.10.7.4: the segment's
        TSval is older than TS.Recent (the caller has seen that), so it is an
        old duplicate: ACK it and drop it, unless TS.Recent has gone stale
        after 24 days idle (§5.5), when the segment is taken as it is."""
        if now - self.ts_recent_time <= _PAWS_IDLE:
            self.host.count("drop_paws")
            if (seg.payload and not seg.flags & SYN) or self._oow_ack_allowed(now):
                self._send_ack(now)
            return True
        self.ts_recent_time = now             # §5.5: an idle connection takes it anyway
        return False

    def _check_sequence(self, now: float, seg: Segment, ts: tuple[int, int] | None) -> Segment | None:
        """First, check the sequence number (RFC 9293 §3.10.7.4, Table 6).
        Returns the segment to go on with -- `seg` itself, or trimmed to the
        part inside the window starting at RCV.NXT -- or None once an
        unacceptable segment has been answered (or not) and dropped."""
        flags = seg.flags
        seq = seg.seq
        payload = seg.payload
        if self.state is SYN_RECEIVED and flags & SYN and flags & ACK and seq == self.irs:
            # Simultaneous open (RFC 9293 §3.5 Figure 8, line 6): the peer's SYN,ACK
            # repeats a SYN we already hold. Only the new part is processed
            # (§3.10.7.4: trim what lies before RCV.NXT, the SYN included), so its
            # ACK completes the handshake instead of failing the Table 6 test.
            flags &= ~SYN
            seq = (seq + 1) & MASK
        plen = len(payload)
        slen = plen + (1 if flags & SYN else 0) + (1 if flags & FIN else 0)
        rcv_nxt = self.rcv_nxt
        wnd = (self.rcv_adv - rcv_nxt) & MASK
        if wnd >= HALF:
            wnd = 0
        off = (seq - rcv_nxt) & MASK           # how far past RCV.NXT the segment starts
        if slen == 0:
            acceptable = seq == rcv_nxt if wnd == 0 else off < wnd
        elif wnd == 0:
            acceptable = False
        else:
            end_off = (seq + slen - 1 - rcv_nxt) & MASK
            acceptable = off < wnd or end_off < wnd
        if not acceptable:
            if not (wnd == 0 and seq == rcv_nxt and not flags & SYN and flags & (ACK | RST)):
                self._unacceptable(now, seg, seq, flags, slen, ts)
                return None
            # Zero window: "special allowance should be made to accept valid
            # ACKs, URGs, and RSTs" (MUST-66) -- a probe at RCV.NXT still carries
            # an ACK, and a RST there resets even if it carries data (SHLD-2).
            self.host.count("zero_window_probe_seen")
            payload = b""
            flags &= ~(FIN | PSH)
            if not flags & RST:
                self.ack_now = True
        else:
            # Trim to the idealised segment starting at RCV.NXT inside the window.
            if off >= HALF:                       # starts before RCV.NXT: drop the old part
                before = (rcv_nxt - seq) & MASK
                if flags & SYN:
                    flags &= ~SYN                 # the SYN itself is old
                    before -= 1
                    seq = (seq + 1) & MASK
                if before > plen:                 # only a FIN (or nothing) left
                    before = plen
                if before and self.sack_ok:
                    # the part below RCV.NXT arrived twice: D-SACK it (RFC 2883 §4)
                    self.dsack = (seq, (seq + before) & MASK)
                payload = payload[before:]
                seq = (seq + before) & MASK
                plen = len(payload)
                self.ack_now = True               # a duplicate: ACK at once
            room = (rcv_nxt + wnd - seq) & MASK
            if plen > room:                       # past the right edge: drop the tail
                payload = payload[:room]
                flags &= ~FIN
                self.ack_now = True
        if seq == seg.seq and flags == seg.flags and payload is seg.payload:
            return seg
        return make_segment(seg.src_port, seg.dst_port, seq, seg.ack, flags, seg.window,
                            seg.urgent, seg.options, payload)

    def _unacceptable(self, now: float, seg: Segment, seq: int, flags: int, slen: int,
                      ts: tuple[int, int] | None) -> None:
        """First step, the segment is not acceptable (§3.10.7.4): "If an
        incoming segment is not acceptable, an acknowledgment should be sent
        in reply (unless the RST bit is set, if so drop the segment and
        return)", then drop it."""
        if flags & RST:
            self.host.count("drop_rst_out_of_window")
            return
        if self.state is SYN_RECEIVED and flags & SYN and seq == self.irs and not flags & ACK:
            # A retransmitted SYN: our SYN,ACK was lost, so send it again
            # (Linux does the same; the RFC's plain ACK would not help the peer).
            self.host.count("syn_retransmit_seen")
            self._send_syn(now)
            return
        self.host.count("drop_unacceptable_seq")
        rcv_nxt = self.rcv_nxt
        plen = len(seg.payload)
        if plen and self.sack_ok and ((seq + plen - rcv_nxt - 1) & MASK) >= HALF:
            # data wholly below RCV.NXT: a duplicate, reported as D-SACK (RFC 2883 §4)
            self.dsack = (seq, (seq + plen) & MASK)
        if ts is not None and slen and not flags & SYN and flags & ACK:
            self._ts_recent_from_duplicate(now, ts, seq, seg.ack, rcv_nxt)
        # Segments that occupy sequence space (data or FIN, no SYN) are
        # always answered: the peer is retransmitting because our ACK
        # was lost. Others are under the per-connection limit.
        if (slen and not flags & SYN) or self._oow_ack_allowed(now):
            self._send_ack(now)

    def _check_rst(self, now: float, seg: Segment) -> None:
        """Second, check the RST bit (RFC 9293 §3.10.7.4, with RFC 5961 §3.2:
        a RST in the window but not exactly at RCV.NXT gets a challenge ACK)."""
        if seg.seq != self.rcv_nxt and self.cfg.rfc5961:
            self._challenge_ack(now)
            return
        st = self.state
        if st is SYN_RECEIVED:
            if self.passive:
                self._return_to_listen(now)
            else:
                self._terminate(now, "rcv RST (active open)", error="ECONNREFUSED")
        elif st in (ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2, CLOSE_WAIT):
            self._terminate(now, "rcv RST", error="ECONNRESET")
        else:                                 # CLOSING, LAST-ACK
            self._terminate(now, "rcv RST", error=None)

    def _check_syn(self, now: float) -> None:
        """Fourth, check the SYN bit (RFC 9293 §3.10.7.4): a SYN-RECEIVED child
        of a listener goes back to LISTEN; otherwise a challenge ACK
        (RFC 5961 §4), or with cfg.rfc5961 off the RFC 793 answer, a reset."""
        if self.state is SYN_RECEIVED and self.passive:
            self._return_to_listen(now)
            return
        if self.cfg.rfc5961:
            self._challenge_ack(now)          # RFC 5961 §4
        else:
            self._emit(now, RST, self.snd_nxt, 0)
            self._terminate(now, "rcv SYN in window", error="ECONNRESET")

    def _check_ack(self, now: float, seg: Segment, seq: int, flags: int, plen: int,
                   ts: tuple[int, int] | None) -> bool:
        """Fifth, check the ACK field (RFC 9293 §3.10.7.4, with RFC 5961 §5's
        acceptable range). `seq`, `flags` and `plen` are the trimmed
        segment's. Returns whether to go on to the sixth step."""
        if not flags & ACK:
            self.host.count("drop_no_ack")
            return False
        a = seg.ack
        if self.state is SYN_RECEIVED:
            return self._ack_of_syn(now, seg, seq, ts)
        # RFC 5961 §5: (SND.UNA - MAX.SND.WND) =< SEG.ACK =< SND.NXT
        if _lt(self.snd_nxt, a):
            self.host.count("drop_ack_too_new")
            if self._oow_ack_allowed(now):
                self._send_ack(now)
            return False
        if self.cfg.rfc5961 and _lt(a, (self.snd_una - self.max_snd_wnd) & MASK):
            self.host.count("drop_ack_too_old")
            if self._oow_ack_allowed(now):
                self._send_ack(now)       # RFC 5961 §5.2: a challenge ACK
            return False
        if ts is not None:
            self._update_ts_recent(now, ts, seq)
        # a FIN next in sequence: FIN-WAIT-1 may go straight to TIME-WAIT (eighth step)
        fin_next = bool(flags & FIN) and seq == self.rcv_nxt
        self._process_ack(now, seg, a, seq, ts, plen, fin_next)
        st = self.state
        if st is CLOSED:
            return False
        if st is CLOSING:
            if self._fin_acked():
                # the peer's FIN was ACKed on the way into CLOSING: nothing to send
                self._enter_time_wait(now, "rcv ACK of FIN", send_ack=self.ack_now)
            return False
        if st is LAST_ACK:
            if self._fin_acked():
                self._terminate(now, "rcv ACK of FIN", error=None)
            return False
        return True

    def _ack_of_syn(self, now: float, seg: Segment, seq: int, ts: tuple[int, int] | None) -> bool:
        """Fifth step in SYN-RECEIVED (RFC 9293 §3.10.7.4): an ACK of our SYN
        (SND.UNA < SEG.ACK =< SND.NXT) enters ESTABLISHED and goes on;
        any other ACK is answered with <SEQ=SEG.ACK><CTL=RST>."""
        a = seg.ack
        if not (_lt(self.snd_una, a) and _le(a, self.snd_nxt)):
            self.host.count("drop_bad_ack_syn_received")
            self._emit(now, RST, a, 0)
            return False
        listener = self.listener
        if self.passive and listener is not None and not listener.can_accept():
            # Accept queue full: like Linux, ignore the ACK; the half-open
            # entry stays and its SYN,ACK timer keeps running.
            self.host.count("listen_overflow")
            listener.stats_overflow += 1
            return False
        if ts is not None:
            self._update_ts_recent(now, ts, seq)
        self.snd_una = a
        self.syn_acked = True
        self.t_rexmt = None
        self.rtt_sample_syn(now)
        self.retries = 0
        # a SYN's window is never scaled (RFC 7323 §2.2)
        self.snd_wnd = seg.window if seg.flags & SYN else seg.window << self.snd_wscale
        self.max_snd_wnd = max(self.max_snd_wnd, self.snd_wnd)
        self.snd_wl1 = seq
        self.snd_wl2 = a
        self._set_state(now, ESTABLISHED, "rcv ACK of SYN")
        self.syn_opts = NO_OPTIONS               # needed only to resend a SYN,ACK
        self._event(ev.CONNECTED)
        if self.passive and listener is not None:
            listener.established(self)
        return True

    def _ts_recent_from_duplicate(self, now: float, ts: tuple[int, int], seq: int, a: int,
                                  rcv_nxt: int) -> None:
        """A retransmission of data we already have: the peer resent it because
        our ACK was lost. RFC 7323 §4.3 rule (2) takes its TSval into TS.Recent
        (Appendix H (f)(1): RFC 1323 "failed to update TS.Recent for a
        retransmitted segment that resulted from a lost <ACK>"), so that our
        ACK echoes the retransmission; echoing the original instead hands the
        sender an RTT sample that holds its whole retransmission backoff
        (§4.3 (C)), and its RTO stays inflated. Only for a duplicate from the
        last receive buffer's worth below RCV.NXT whose ACK is acceptable
        (RFC 5961 §5), so that a blind forger needs what it would need for
        an in-window segment to move TS.Recent (and so PAWS)."""
        if ((rcv_nxt - seq) & MASK) > self.rcvbuf:
            return
        if _lt(self.snd_nxt, a) or _lt(a, (self.snd_una - self.max_snd_wnd) & MASK):
            return
        self._update_ts_recent(now, ts, seq)

    def _update_ts_recent(self, now: float, ts: tuple[int, int], seq: int) -> None:
        """RFC 7323 §4.3 (R3 of §5.3): SEG.TSval >= TS.Recent and SEG.SEQ <=
        Last.ACK.sent -> TS.Recent = SEG.TSval. Done only once the segment has
        passed the ACK check of §3.10.7.4 (fifth step), as Linux does
        (tcp_replace_ts_recent after tcp_ack): a segment that is dropped for
        an ACK of unsent data must not move TS.Recent, or one forged segment
        would make PAWS drop every genuine one after it."""
        if _le(seq, self.last_ack_sent) and _le(self.ts_recent, ts[0]):
            self.ts_recent = ts[0]
            self.ts_recent_time = now

    def _rcv_text_and_fin(self, now: float, seq: int, payload: bytes, flags: int, seg: Segment) -> None:
        """The sixth (URG), seventh (text) and eighth (FIN) steps of RFC 9293
        §3.10.7.4, on the trimmed segment (`seq`, `payload`, `flags`), as
        `_rcv_synchronized` makes them; for a SYN,ACK that carries more
        (§3.10.7.3: "continue processing at the sixth step")."""
        if flags & URG and self.state in CAN_RECEIVE:
            self._check_urg(seq, seg.urgent)
        if payload and not self._process_text(now, seq, payload, flags, seg):
            return
        if flags & FIN:
            self._check_fin(now, seq, len(payload))

    def _check_urg(self, seq: int, urgent: int) -> None:
        """Sixth, check the URG bit (§3.10.7.4; MUST-30..33): RCV.UP <-
        max(RCV.UP, SEG.UP), SEG.SEQ + SEG.UP being the octet after the
        urgent data (MUST-62). The user is told once per new urgent pointer
        (MUST-32), with how far it reaches past RCV.NXT (or, if it lies in
        data received but not yet read, past the read point);
        `urgent_pending` says at any time how much remains to be read up to
        it (MUST-33)."""
        up = (seq + urgent) & MASK
        if _lt(self.rcv_up, up) or not self.urg_mode:
            self.rcv_up = up
            pending = (up - self.rcv_nxt) & MASK
            if not 0 < pending < HALF:
                pending = (up - self._read_seq()) & MASK
            if 0 < pending < HALF:
                self.urg_mode = True
                self._event(ev.URGENT, pending)

    def _process_text(self, now: float, seq: int, payload: bytes, flags: int, seg: Segment) -> bool:
        """Seventh, process the segment text (§3.10.7.4): in order onto the
        receive queue, out of order into the reassembly queue. Returns False
        when the rest of the segment is not to be processed: the connection is
        gone (data after close() resets it), or the host's memory limit refused
        the data."""
        if self.state not in CAN_RECEIVE:
            self.host.count("data_after_fin")
            return True
        if self.orphan:
            # Data after close(): nobody will read it (SHLD-3, RFC 1122
            # §4.2.2.13: reset). Like Linux (tcp_rcv_state_process, then
            # tcp_v4_send_reset for the segment) the RST is <SEQ=SEG.ACK>:
            # the peer's own RCV.NXT, acceptable to it even when our FIN
            # has not reached it yet (SND.NXT would be one past its window).
            self.host.count("data_after_close")
            self._emit(now, RST, seg.ack, 0)
            self._terminate(now, "ABORT / snd RST", error=None)
            return False
        if self.host.mem_level == 2:
            # at the host's memory limit (Config.tcp_mem max) new data is
            # refused: dropped unacknowledged, so the peer sends it again,
            # never acknowledged and then lost (Linux: tcp_data_queue when
            # tcp_try_rmem_schedule fails, silently, TCPRcvQDrop); a FIN it
            # carries is refused with it
            self.host.count("drop_mem_limit")
            return False
        if seq == self.rcv_nxt:
            self._rcv_in_order(now, payload, flags)
        else:
            self._rcv_out_of_order(now, seq, payload)
        return True

    def _check_fin(self, now: float, seq: int, plen: int) -> None:
        """Eighth, check the FIN bit (§3.10.7.4): a FIN next in sequence is
        processed now (`_rcv_fin`); one beyond a hole waits for the data."""
        fin_seq = (seq + plen) & MASK
        if fin_seq == self.rcv_nxt:
            self._rcv_fin(now)
        elif self.peer_fin_seq is None:
            self.peer_fin_seq = fin_seq       # FIN beyond a hole: wait for the data
            self.ack_now = True

    def _rcv_in_order(self, now: float, payload: bytes, flags: int) -> None:
        n = len(payload)
        self.rcvq += payload
        self.rcv_nxt = (self.rcv_nxt + n) & MASK
        r = self.reasm
        if r is not None:
            if self.sack_ok and self.dsack is None:
                # RFC 2883 §4.2 (example 5/6): the segment filled the hole and
                # went on into data already held: the first duplicate
                # sub-segment is reported as a D-SACK block, first
                self.dsack = r.overlap_below(self.rcv_nxt)
            self.rcv_nxt = r.drain(self.rcv_nxt, self.rcvq)
            if not r.blocks:
                self.reasm = None
            self.ack_now = True                    # a hole was filled: ACK at once
        self._event(ev.READABLE)                   # before EOF: the data comes first
        if self.peer_fin_seq is not None and self.peer_fin_seq == self.rcv_nxt:
            self.peer_fin_seq = None
            self._rcv_fin(now)
        # The size of the peer's full-sized segments, as Linux estimates it
        # (tcp_measure_rcv_mss): the largest seen. A segment larger than our
        # MSS was glued by an offload (LRO/GRO) and says nothing about it.
        if self.rcv_seg_mss < n <= self.rcv_mss:
            self.rcv_seg_mss = n
        # Delayed ACK (RFC 9293 §3.8.6.3, RFC 1122 §4.2.3.2): ACK at least every
        # second full-sized segment (MUST-58); otherwise wait, at most 500 ms
        # (MUST-40). The ACK goes out from _output once the segment has been
        # processed -- after the whole batch with Host.receive_batch (MUST-59).
        self.delack_segs += 1
        cfg = self.cfg
        unacked = (self.rcv_nxt - self.last_ack_sent) & MASK
        if not cfg.delayed_ack:
            self.ack_now = True
        elif cfg.quickack:
            # Linux: quick-ack mode for the first data and after an idle gap
            # longer than the RTO (tcp_event_data_recv); in it, and whenever
            # more than one full-sized segment is unacknowledged
            # (__tcp_ack_snd_check), the ACK goes at once.
            last = self.last_data_rcv
            if last is None or now - last > self.rtt.rto:
                self._enter_quickack()
            self.last_data_rcv = now
            if unacked > self.rcv_seg_mss or (self.quickack and not self.pingpong
                                               and not (flags & FIN and cfg.fin_delack)):
                # (cfg.fin_delack: with a FIN, the FIN decides, _rcv_fin)
                self.ack_now = True
        elif self.delack_segs >= 2 or unacked >= 2 * self.rcv_seg_mss:
            self.ack_now = True

    def _enter_quickack(self) -> None:
        """Linux tcp_incr_quickack: up to rcv_wnd / (2 * rcv_mss) immediate
        ACKs (at least 2, at most 16) so a sender in slow start is not held
        back by delayed ACKs."""
        wnd = (self.rcv_adv - self.rcv_nxt) & MASK
        if wnd >= HALF:
            wnd = 0
        q = wnd // (2 * self.rcv_seg_mss)
        q = 2 if q < 2 else (_MAX_QUICKACKS if q > _MAX_QUICKACKS else q)
        if q > self.quickack:
            self.quickack = q

    def _rcv_out_of_order(self, now: float, seq: int, payload: bytes) -> None:
        """Hold a segment that starts past RCV.NXT (SHLD-31) in the reassembly
        queue; ACK at once (RFC 5681 §4.2: an out-of-order segment SHOULD be
        ACKed immediately). A segment held already in full is reported as a
        D-SACK block (RFC 2883 §4)."""
        self.ack_now = True
        if self.cfg.quickack:
            self.pingpong = False                  # Linux tcp_enter_quickack_mode
            self._enter_quickack()
        self.host.count("ooo_segments")
        r = self.reasm
        if r is None:
            r = self.reasm = Reassembly()
        if r.insert(self.rcv_nxt, seq, payload) and self.sack_ok:
            self.dsack = (seq, (seq + len(payload)) & MASK)

    def _rcv_fin(self, now: float) -> None:
        """Eighth step: the peer's FIN, in sequence.

        With cfg.fin_delack (and quickack) a FIN that arrives in
        ESTABLISHED is ACKed as Linux 6.18 does (tcp_fin enters ping-pong mode before
        __tcp_ack_snd_check decides; measured on the live kernel): with a
        delayed ACK, at the delayed-ACK timer (40 ms), unless the segment's
        data asks for an ACK at once (more than a full segment unacknowledged,
        a filled hole). Before any data was received the timer's ato is 0 and
        the ACK goes at the next tick: at once here."""
        self.rcv_nxt = (self.rcv_nxt + 1) & MASK
        st = self.state
        if (self.cfg.fin_delack and self.cfg.quickack and (st is ESTABLISHED or st is SYN_RECEIVED)
                and self.last_data_rcv is not None):
            self.pingpong = True
            self.delack_segs += 1
        else:
            self.ack_now = True
        if not self.eof:
            self.eof = True
            self._event(ev.EOF)
        if st is ESTABLISHED or st is SYN_RECEIVED:
            self._set_state(now, CLOSE_WAIT, "rcv FIN / snd ACK")
        elif st is FIN_WAIT_1:
            if self._fin_acked():
                self._enter_time_wait(now, "rcv FIN,ACK of FIN / snd ACK")
            else:
                self._set_state(now, CLOSING, "rcv FIN / snd ACK")
        elif st is FIN_WAIT_2:
            self._enter_time_wait(now, "rcv FIN / snd ACK")

    # ------------------------------------------------------------ ACK processing
    def _process_ack(self, now: float, seg: Segment, a: int, seq: int, ts: tuple[int, int] | None, plen: int,
                     fin_next: bool = False) -> None:
        """Fifth step for synchronized states: SND.UNA, the send window, RTT, loss."""
        una = self.snd_una
        acked = (a - una) & MASK
        advanced = 0 < acked < HALF
        board = self.board
        newly_sacked = 0
        already = 0
        sack_blocks = seg.options.sack if board is not None else ()
        if self.rack is not None:
            self.rack.prior_fack = self.rack.fack   # (reordering of the cumulative part)
        self.rtx_chain = None                       # each ACK starts its own burst (_rtx_psh)
        if self.probes_out:
            self.probes_out = 0                     # Linux tcp_ack: any ACK answers the probes
        if board is not None and (sack_blocks or board.blocks):
            newly_sacked, already = self._read_sack(now, board, a, advanced, sack_blocks)
        prr = self.prr
        if advanced:
            self._ack_advance(now, a, acked, ts, already)
            if newly_sacked:
                self._dupack(now, newly_sacked)   # RFC 6675 §2: new SACK info is a DupAck
        elif newly_sacked:
            self._dupack(now, newly_sacked)
        if self.rack is not None and board is not None:
            if board.last_dsack is not None:
                self.rack.on_dsack(self.snd_una, self.snd_nxt)
            if (newly_sacked or (advanced and (board.blocks or self.ca_loss or self.t_reo is not None
                                               or self.sack_recovery))):
                # (an in-order cumulative ACK with nothing SACKed and no loss
                # state leaves nothing sent before RACK.xmit_ts undelivered)
                delivered = (acked - already if advanced else 0) + newly_sacked
                self._rack_detect(now, delivered)
        if prr is not None and self.prr is prr and self.sack_recovery and (advanced or newly_sacked):
            # RFC 6937: DeliveredData = change in SND.UNA + change in SACKed octets
            delivered = (acked - already if advanced else 0) + newly_sacked
            if delivered > 0:
                self._prr_ack(delivered, advanced)
        elif (acked == 0 and plen == 0 and not seg.flags & (SYN | FIN) and not sack_blocks
              and self.snd_nxt != una and (seg.window << self.snd_wscale) == self.snd_wnd
              and self.t_rexmt is not None):
            # RFC 5681 §2: a duplicate ACK (no data, no window change, data
            # outstanding under the retransmission timer: answers to zero-window
            # probes are not duplicate ACKs, as in BSD)
            self._dupack(now)
        if self.tlp_end is not None:
            self._tlp_ack(now, a, advanced, plen, sack_blocks)
        if newly_sacked and self.t_pto is not None:
            self.t_pto = None                      # RFC 8985 §7.2: no PTO once data is SACKed
        if self.sack_recovery and self.rxt_marks and (newly_sacked or advanced):
            self._lost_retransmissions()
        # Window update (SND.WL1/SND.WL2 rule of §3.10.7.4), from a segment
        # at RCV.NXT only. The RFC's rule alone lets a forged acceptable pure
        # ACK with window 0 and SEG.SEQ far above RCV.NXT set SND.WL1 there,
        # after which every genuine ACK (SEG.SEQ = RCV.NXT < SND.WL1) fails
        # the rule and the send window stays shut (Linux has that weakness).
        # A genuine peer's pure ACKs are always at RCV.NXT; a segment beyond a
        # hole updates nothing until the hole is filled, and the segments
        # after that carry the window again (docs/rfc9293-requirements.md).
        if seq == self.rcv_nxt and (_lt(self.snd_wl1, seq) or (self.snd_wl1 == seq and _le(self.snd_wl2, a))):
            wnd = seg.window << self.snd_wscale
            self.snd_wnd = wnd
            self.snd_wl1 = seq
            self.snd_wl2 = a
            if wnd > self.max_snd_wnd:
                self.max_snd_wnd = wnd
            if wnd and self.t_persist is not None:
                self._window_reopened(now)
            elif not wnd:
                # The peer answers, with a zero window: retransmissions into a
                # zero window are probes, and while they are answered the
                # connection stays open (MUST-37, SHLD-17); R2 counts silence only.
                self.retries = 0
        if self.state is FIN_WAIT_1 and self._fin_acked() and not fin_next:
            # (with the peer's FIN in this segment, the eighth step of §3.10.7.4
            # takes FIN-WAIT-1 straight to TIME-WAIT: "our FIN has been ACKed
            # (perhaps in this segment)")
            self._set_state(now, FIN_WAIT_2, "rcv ACK of FIN")
            if self.orphan and self.cfg.fin_wait_2_timeout is not None:
                self.t_fin2 = now + self.cfg.fin_wait_2_timeout

    def _read_sack(self, now: float, board: Scoreboard, a: int, advanced: bool,
                   sack_blocks: tuple) -> tuple[int, int]:
        """RFC 6675 §5: every ACK with SACK information updates the scoreboard.
        Returns the octets newly SACKed and those of the cumulatively ACKed
        ones that had been SACKed before (credited then)."""
        una = self.snd_una
        already = 0
        if advanced and board.blocks:
            already = board.sacked_below(a, una)   # credited when it was SACKed
        newly_sacked = board.update(a if advanced else una, self.snd_nxt, sack_blocks)
        if board.last_dsack is not None:
            self.host.count("dsacks_received")    # a spurious retransmission (RFC 3708)
        if newly_sacked and self.txlog is not None:
            rack = self.rack
            whole = self.txlog.mark_sacked(now, board.blocks, rack, self.rtt.min_rtt)
            if rack is not None and rack.reord_low is not None:
                rack.reord_check()
            if not whole and rack is not None:
                # SACKed octets that complete no segment tell RACK nothing
                # (Linux marks whole segments only, tcp_match_skb_to_sack)
                newly_sacked = 0
        return newly_sacked, already

    def _window_reopened(self, now: float) -> None:
        """The send window opened while the persist timer ran: stop probing."""
        self.t_persist = None
        self.persist_backoff = 0
        self.retries = 0               # the probes were answered
        if self.snd_nxt != self.snd_una and self.t_rexmt is None:
            # The probe octet was not taken: resend from SND.UNA now
            # rather than leave a hole until the RTO; it is data in
            # flight under the retransmission timer from here on.
            self.rtx_nxt = self.snd_una
            self.t_rexmt = self._rto_deadline(now)

    def _ack_advance(self, now: float, a: int, acked: int, ts: tuple[int, int] | None,
                     already: int = 0) -> None:
        """New data acknowledged: SND.UNA moves, the send buffer shrinks.
        `already`: octets of it the receiver had SACKed before."""
        data_acked = min(acked, len(self.sndq))
        if data_acked:
            del self.sndq[:data_acked]
            self.sndq_seq = (self.sndq_seq + data_acked) & MASK
        self.snd_una = a
        self.syn_acked = True
        self.retries = 0
        self.progress_time = now
        # RTT: timestamps give a sample on every ACK of new data (RFC 7323 §4.1);
        # otherwise time one segment, never a retransmitted one (Karn, MUST-18).
        sample = None
        ca_sample = None
        log = self.txlog
        if log is not None:
            # cfg.rtt_every_ack: the send times of the segments this ACK
            # delivered, none of them retransmitted (Karn); RTO from the
            # oldest, HyStart from the newest (as Linux's seq_rtt / ca_rtt)
            first, last, retrans = log.acked(now, a, self.rack, self.rtt.min_rtt)
            rack = self.rack
            if rack is not None and rack.reord_low is not None:
                rack.reord_check()
            if first >= 0 and not retrans:
                sample = now - first
                ca_sample = now - last
        if sample is None and ts is not None and ts[1]:
            r = (self._ts_now(now) - ts[1]) & MASK
            if r < HALF:
                sample = r / 1000.0
        elif sample is None and self.rtt_seq is not None and _le(self.rtt_seq, a):
            sample = now - self.rtt_time
            self.rtt_seq = None
        if sample is not None:
            self.rtt.sample(sample)
            self.tlp_rtt_ok = True
            if ca_sample is None:
                ca_sample = sample
        # No `backoff = 0` here: RFC 6298 §5 keeps the backed-off RTO until a
        # new RTT sample (which `rtt.sample` takes care of) collapses it.
        cc = self.cc
        assert cc is not None
        flight = (self.snd_nxt - a) & MASK
        if self.ca_loss and _le(self.recover, a):
            self.ca_loss = False                   # the RTO's recovery point is ACKed
        if cc.in_recovery:
            self._ack_in_recovery(now, a, acked)
        else:
            # Grow by what this ACK newly delivered. Octets the receiver SACKed
            # before, or that duplicate ACKs already stood for (RFC 3042 limited
            # transmit sent new data for them), are not counted twice -- Linux's
            # tcp_remove_reno_sacks: max(acked - dupacks, 1) segments.
            credit = acked - already
            if self.dupacks and not already:
                credit = self._credit_after_dupacks(acked)
            hs = self.hystart if self.hystart is not None else self._get_hystart()
            if hs is not None and cc.cwnd < cc.ssthresh and hs.phase != HyStart.DONE:
                credit = self._hystart_ack(hs, a, credit, ca_sample)
            if credit > 0 and self._may_grow_cwnd():
                cc.on_ack(now, credit, flight)
        self.dupacks = 0                           # RFC 6675 §5: a cumulative ACK resets DupAcks
        self.lt_sent = 0
        if self.rtx_nxt is not None and _lt(self.rtx_nxt, a):
            self.rtx_nxt = a
        if self.rtx_nxt is not None and self.rtx_nxt == self.snd_nxt:
            self.rtx_nxt = None
        # RFC 6298 §5.2/5.3: stop the timer when all is acked, else restart it
        if a == self.snd_nxt:
            self.t_rexmt = None
            self.t_pto = None
        else:
            self.t_rexmt = self._rto_deadline(now)
            if self.t_pto is not None or self.cfg.tlp:
                # RFC 8985 §7.2: restart the PTO on an ACK of new data
                self._schedule_pto(now)
        if data_acked:
            self._event(ev.WRITABLE)

    def _credit_after_dupacks(self, acked: int) -> int:
        """The cwnd growth credit of a cumulative ACK after duplicate ACKs that
        limited transmit (RFC 3042) already sent new data for: Linux's
        tcp_remove_reno_sacks, max(acked - dupacks, 1) segments."""
        credit = acked - self.dupacks * self.snd_mss
        floor = acked if acked < self.snd_mss else self.snd_mss
        return floor if credit < floor else credit

    def _hystart_ack(self, hs: HyStart, a: int, credit: int, ca_sample: float | None) -> int:
        """HyStart on an ACK in slow start (cfg.hystart): it may end slow start
        (ssthresh = cwnd) or slow it down; returns the growth credit left."""
        cc = self.cc
        assert cc is not None
        end = hs.window_end
        div = hs.on_ack(end is not None and _le(end, a), self.snd_nxt, ca_sample,
                        cc.cwnd // self.snd_mss)
        if div == 0:
            cc.ssthresh = cc.cwnd          # slow start is over: congestion avoidance
        elif div > 1:
            credit //= div                 # conservative slow start
        return credit

    def _ack_in_recovery(self, now: float, a: int, acked: int) -> None:
        """An ACK of new data during fast recovery: the recovery point ACKed
        ends it (RFC 6582 §3.2 step 3, RFC 6675 §5 (A)); short of it, NewReno
        retransmits the next hole on the partial ACK (RFC 6582 §3.2 step 4)."""
        cc = self.cc
        assert cc is not None
        if _le(self.recover, a):
            # RFC 6582 §3.2 step 3 / RFC 6675 §5 (A): the recovery point is ACKed
            cc.on_recovery_exit(now)
            self.rtx_nxt = None
            self.sack_recovery = False
            self.prr = None
            if self.rack is not None:
                self.rack.recovery_ended()
            self.high_rxt = self.rescue_rxt = None
            self.rxt_marks = _EMPTY
            self.rxt_again = _EMPTY
        elif self.prr is not None and not self.sack_recovery:
            self._prr_reno_partial(now, acked)    # cfg.prr: RFC 6937 without SACK
        elif not self.sack_recovery:
            # RFC 6582 §3.2 step 4, partial ACK: retransmit the next hole,
            # deflate cwnd by what was ACKed, add back one SMSS
            self._retransmit_head(now)
            cc.cwnd = max(cc.cwnd - acked + self.snd_mss, self.snd_mss)
        # (SACK recovery: the scoreboard and pipe drive what is sent next)

    def _lost_retransmissions(self) -> None:
        """A retransmission sent in SACK recovery is lost when data first sent
        after it has reached the receiver while it has not: IsLost() (RFC 6675
        §4) holds for the HighData of the moment it was sent. RFC 6675 alone
        waits for the RTO here; this is RACK's rule (RFC 8985 §6.2: a segment
        is lost if one sent later was delivered), with DupThresh standing in
        for the reordering window. It is sent once more, ahead of NextSeg()."""
        board = self.board
        assert board is not None            # SACK recovery runs only with a scoreboard
        una = self.snd_una
        mss = self.snd_mss
        marks = self.rxt_marks
        while marks:
            start, end, high = marks[0]
            if not _lt(una, end) or board.sacked_end(start, una) is not None:
                marks.pop(0)                    # delivered
                continue
            if _lt(high, una) or board.is_lost(high, una, mss):
                marks.pop(0)
                self.host.count("lost_retransmissions")
                self._queue_again((start if _lt(una, start) else una, end))
                continue
            break

    def _may_grow_cwnd(self) -> bool:
        """cwnd validation (cfg.cwnd_validation; RFC 7661's concern, Linux's
        tcp_is_cwnd_limited): grow only a window that is in use -- in slow
        start while cwnd < 2 * the largest flight of the current window, in
        congestion avoidance only when the sender was cwnd-limited."""
        if not self.cfg.cwnd_validation or self.cwnd_limited:
            return True
        cc = self.cc
        assert cc is not None
        if cc.cwnd < cc.ssthresh:
            return cc.cwnd < 2 * self.max_flight
        return False

    def _cwnd_validate(self, limited: bool) -> None:
        """Linux tcp_cwnd_validate: per window of data (until SND.UNA passes
        the SND.NXT of the last update), remember whether cwnd was the limit,
        else the largest flight."""
        flight = (self.snd_nxt - self.snd_una) & MASK
        if (not _lt(self.snd_una, self.cwnd_usage_seq) or limited
                or (not self.cwnd_limited and flight > self.max_flight)):
            self.cwnd_limited = limited
            self.max_flight = flight
            self.cwnd_usage_seq = self.snd_nxt

    def _prr_ack(self, delivered: int, advanced: bool) -> None:
        """RFC 6937 on one ACK in SACK recovery: cwnd = pipe + sndcnt."""
        prr = self.prr
        board = self.board
        cc = self.cc
        assert prr is not None and board is not None and cc is not None
        log = self.txlog
        if self.rack is not None and log is not None:
            pipe = log.pipe()
        else:
            pipe = board.pipe(self.snd_una, self.snd_nxt, self.high_rxt, self.snd_mss)  # type: ignore[arg-type]
        cc.cwnd = pipe + prr.sndcnt(delivered, pipe, advanced)

    # ------------------------------------------------------------ RACK (RFC 8985)
    def _rack_detect(self, now: float, delivered: int) -> None:
        """RFC 8985 §6.2 step 5 on an ACK (or the reordering timer): mark the
        lost segments, arm the reordering timer for the ones whose time is
        not up yet, and start recovery on a first loss (§6.2: RACK replaces
        DupThresh as the trigger)."""
        rack = self.rack
        log = self.txlog
        cc = self.cc
        assert rack is not None and log is not None and cc is not None
        srtt = self.rtt.srtt if self.rtt.srtt is not None else 0.0
        min_rtt = self.rtt.min_rtt if self.rtt.min_rtt != float("inf") else 0.0
        board = self.board
        in_rec = cc.in_recovery or self.ca_loss
        # (the SACKed count matters only before any reordering, out of recovery)
        sacked = (log.sacked_count() if not rack.reord_seen and not in_rec
                  and board is not None and board.blocks else 0)
        reo_wnd = rack.reo_wnd(in_rec, sacked, min_rtt, srtt)
        lost, timeout = rack.detect_loss(now, log, self.snd_una, reo_wnd)
        if timeout > 0:
            # Linux rounds the timer up to its 1 ms tick and adds TCP_TIMEOUT_MIN (2 ms)
            self.t_reo = now + _ceil_ms(timeout) + 0.002
        else:
            self.t_reo = None
        if lost:
            self.host.count("rack_lost")
            if (not cc.in_recovery and not self.ca_loss and self.board is not None
                    and self._past_recovery_point()):
                self._rack_enter_recovery(now, delivered)

    def _past_recovery_point(self) -> bool:
        """RFC 6582 §3.2 steps 1-2: a new recovery may start once the
        cumulative ACK covers more than `recover`, the highest sequence
        number sent when the last one began (HighData, RFC 6675 §5 (4.1)).
        `self.recover` holds SND.NXT of that moment, HighData + 1, so an ACK
        of exactly it covers HighData: SND.UNA >= self.recover. (Requiring
        SND.UNA > self.recover left the first segment sent after the
        recovery point unrecoverable but by the RTO: lost, it holds SND.UNA
        at `recover`, and no loss after it could start a recovery.)"""
        return _le(self.recover, self.snd_una)

    def _enter_recovery(self, now: float) -> int:
        """The start of loss recovery, whoever detected the loss (DupThresh or
        RACK): RecoveryPoint = HighData, ssthresh and cwnd from the
        FlightSize (RFC 6675 §5 (4); RFC 5681 §3.2 steps 2-3), or from cwnd
        (cfg.ssthresh_from_cwnd, `_reduction_basis`), which it returns."""
        cc = self.cc
        assert cc is not None
        self.host.count("fast_retransmits")
        self.recover = self.snd_nxt                # RecoveryPoint = HighData
        # RFC 5681 §3.2 step 2 (RFC 6675 §5 (4.2)): what limited transmit sent
        # "MUST NOT be included" in the FlightSize that sets ssthresh
        flight = ((self.snd_nxt - self.snd_una) & MASK) - self.lt_sent
        self.lt_sent = 0
        if flight < 0:
            flight = 0
        flight = self._reduction_basis(flight)
        cc.on_loss(now, flight)
        self.rtt_seq = None
        self.tlp_end = None                        # RFC 8985 §7.1
        self.t_pto = None
        if self.cfg.hystart:
            self._get_hystart().stop()   # RFC 9406 §4.2: a loss ends it
        return flight

    def _reduction_basis(self, flight: int) -> int:
        """What the ssthresh of a fast recovery or a timeout is computed from
        (at a timeout Linux's tcp_enter_loss also asks the congestion control,
        which reads cwnd; RFC 5681 §3.1 (4) says FlightSize). RFC 5681 §3.2 (4)
        and RFC 9438 §4.6 say FlightSize; Linux takes cwnd (its CUBIC and Reno
        ssthresh functions), which RFC 9438 §4.6 allows where cwnd cannot grow
        unused (cfg.cwnd_validation). It matters when the peer's window holds
        the flight below cwnd: on the loss grid a Linux receiver's window held
        30 segments in flight under a cwnd of 74 at the first loss, and
        FlightSize gave ssthresh 20 where Linux sets 51. It is also RFC 6937's
        RecoverFS (Linux's prior_cwnd)."""
        if not self.cfg.ssthresh_from_cwnd:
            return flight
        cc = self.cc
        assert cc is not None
        return cc.cwnd

    def _rack_enter_recovery(self, now: float, delivered: int) -> None:
        """RFC 6675 §5 (4) entered on RACK's word: RecoveryPoint, ssthresh
        and cwnd, then the lost segments go first (the sending loop)."""
        cc = self.cc
        assert cc is not None
        una = self.snd_una
        flight = self._enter_recovery(now)
        self.sack_recovery = True
        self.high_rxt = self.rescue_rxt = una
        self.rxt_marks = _EMPTY
        self.rxt_again = _EMPTY
        if self.cfg.prr:
            self.prr = Prr(flight, cc.ssthresh, self.snd_mss)
            self._prr_ack(delivered if delivered > 0 else self.snd_mss, False)
        else:
            # RFC 6675 §5 (4.3): the first lost segment goes at once, whatever cwnd says
            log = self.txlog
            assert log is not None
            seg = log.next_lost()
            if seg is not None:
                start = seg[0] if _lt(una, seg[0]) else una
                n = (seg[1] - start) & MASK
                used = self._send_from(now, start, n if n < self.snd_mss else self.snd_mss,
                                             retransmit=True)
                self.high_rxt = (start + used) & MASK
        self.t_rexmt = self._rto_deadline(now)

    def _on_reo(self, now: float) -> None:
        """RFC 8985 §6.3: the reordering timer expired: detect losses again;
        if there are any, recovery starts (if it has not) and they go."""
        self.host._timer_fired(now, self, "RACK reordering")
        if self.rack is None or self.txlog is None or self.snd_nxt == self.snd_una:
            return
        self._rack_detect(now, self.snd_mss)

    def _grow_on_sack(self, now: float, delivered: int) -> None:
        """Linux's tcp_may_raise_cwnd: once the reordering degree exceeds
        tcp_reordering (3), out of recovery, an ACK that only SACKs new data
        is forward progress and grows cwnd by what it delivered, as a
        cumulative ACK would (below that degree only in-order delivery
        grows it, RFC 5681 §3.1)."""
        rack = self.rack
        cc = self.cc
        assert rack is not None and cc is not None
        if delivered <= 0 or rack.reordering <= 3 or self.ca_loss or cc.in_recovery:
            return
        if self._may_grow_cwnd():
            cc.on_ack(now, delivered, (self.snd_nxt - self.snd_una) & MASK)

    def _dupack(self, now: float, delivered: int = 0) -> None:
        """A duplicate ACK: RFC 5681 §3.2 fast retransmit and RFC 6582 NewReno
        fast recovery, or with SACK, RFC 6675 §5 steps (1)-(4). Limited
        transmit (RFC 3042; RFC 6675 step (3)) needs nothing here: the sending
        loop counts SACKed octets, and the first two duplicate ACKs, out of
        the data in the pipe."""
        self.dupacks += 1
        cc = self.cc
        assert cc is not None
        if cc.in_recovery:
            if self.prr is not None and not self.sack_recovery:
                self._prr_reno(self.prr.dupack((self.snd_nxt - self.snd_una) & MASK), False, False)
            elif not self.sack_recovery:
                cc.cwnd += self.snd_mss            # RFC 5681 §3.2 step 4: inflate
            return
        if self.rack is not None and self.board is not None:
            self._grow_on_sack(now, delivered)
            return                                 # RACK decides (RFC 8985 §6.2), not DupThresh
        if not self._past_recovery_point():
            # RFC 6582 §3.2 step 2 (and RFC 6675 §5.1 after an RTO): no new
            # recovery until the ACK covers more than `recover`
            return
        board = self.board
        mss = self.snd_mss
        if self.dupacks < 3 and not (board is not None and board.blocks
                                     and board.is_lost(self.snd_una, self.snd_una, mss)):
            return                                 # RFC 6675 §5 (1), (2)
        # RFC 6675 §5 (4) / RFC 5681 §3.2 steps 2-3: enter loss recovery
        una = self.snd_una
        flight = self._enter_recovery(now)
        if board is not None and board.blocks:
            self.sack_recovery = True
            if self.cfg.prr:
                # RFC 6937: RecoverFS is the FlightSize ssthresh came from
                self.prr = Prr(flight, cc.ssthresh, mss)
                self.high_rxt = una
                self._prr_ack(delivered, False)
            n = self._send_from(now, una, mss, retransmit=True)     # (4.3)
            if self.prr is not None:
                self.prr.out += n
            self.high_rxt = self.rescue_rxt = (una + n) & MASK
            self.rxt_marks = _EMPTY
            self.rxt_again = _EMPTY
            self._mark_rxt((una, self.high_rxt, self.snd_nxt))
        else:
            self.sack_recovery = False
            if self.cfg.prr:
                self._prr_reno_enter(now, flight)
            else:
                cc.cwnd = cc.ssthresh + 3 * mss        # RFC 5681 §3.2 step 3
                self._retransmit_head(now)
        self.t_rexmt = self._rto_deadline(now)

    # ------------------------------------------------- PRR without SACK (cfg.prr)
    def _prr_reno_enter(self, now: float, recover_fs: int) -> None:
        """Fast recovery without SACK under PRR (RFC 6937 §3, as Linux's
        tcp_cwnd_reduction for a Reno connection): the duplicate ACKs so far
        stand for segments that left the network, the head is lost; cwnd =
        pipe + sndcnt, and the head goes at once (RFC 6937 forces the fast
        retransmit)."""
        cc = self.cc
        assert cc is not None
        prr = self.prr = Prr(recover_fs, cc.ssthresh, self.snd_mss)
        flight = (self.snd_nxt - self.snd_una) & MASK
        for _ in range(self.dupacks):
            prr.dupack(flight)
        self._prr_reno(self.snd_mss, False, True)
        prr.out += self._send_from(now, self.snd_una, self.snd_mss, retransmit=True)

    def _prr_reno(self, delivered: int, safe_ack: bool, head_lost: bool) -> None:
        """cwnd = pipe + sndcnt on an ACK in recovery without SACK. The pipe
        is the flight less what the duplicate ACKs stand for, less the head
        when it is lost and not yet sent again (Linux's
        tcp_packets_in_flight)."""
        prr = self.prr
        cc = self.cc
        assert prr is not None and cc is not None
        mss = self.snd_mss
        pipe = ((self.snd_nxt - self.snd_una) & MASK) - prr.dup_segs * mss
        if head_lost:
            pipe -= mss
        if pipe < 0:
            pipe = 0
        # in whole segments, as Linux counts them (its sndcnt is in packets)
        n = prr.sndcnt(delivered, pipe, safe_ack)
        cc.cwnd = pipe + -(-n // mss) * mss

    def _prr_reno_partial(self, now: float, acked: int) -> None:
        """A partial ACK without SACK under PRR: NewReno's next hole is lost
        (RFC 6582 §3.2 step 4) and goes now; the rest follows PRR, with the
        extra segment of an ACK that advanced SND.UNA (RFC 6937 §3)."""
        prr = self.prr
        assert prr is not None
        self._prr_reno(prr.partial_ack(acked), True, True)
        prr.out += self._send_from(now, self.snd_una, self.snd_mss, retransmit=True)

    # ------------------------------------------------------------ Tail Loss Probe
    def _schedule_pto(self, now: float) -> None:
        """RFC 8985 §7.2 TLP_calc_PTO: arm the probe timer after new data is
        sent or ACKed, outside loss recovery and with nothing SACKed."""
        cc = self.cc
        assert cc is not None
        if (not self.cfg.tlp or not self.sack_ok or cc.in_recovery or self.rtx_nxt is not None
                or self._sacked_any() or self.tlp_end is not None
                or self.snd_nxt == self.snd_una or self.t_persist is not None):
            self.t_pto = None
            return
        srtt = self.rtt.srtt
        if srtt is None:
            pto = 1.0
        else:
            pto = 2 * srtt
            if ((self.snd_nxt - self.snd_una) & MASK) <= self.snd_mss:
                pto += self.cfg.tlp_max_ack_delay    # one segment: allow for a delayed ACK
            else:
                # Linux adds a small margin (TCP_TIMEOUT_MIN, 2 ms) so that a
                # sub-millisecond path (a TUN, loopback) does not probe
                # spuriously, on top of 2*SRTT rounded up to its 1 ms tick
                extra = self.cfg.tlp_extra
                if extra:
                    pto = _ceil_ms(pto) + extra
        d = now + pto
        if self.t_rexmt is not None and d > self.t_rexmt:
            d = self.t_rexmt                         # never later than the RTO would fire
        self.t_pto = d

    def _on_pto(self, now: float) -> None:
        """RFC 8985 §7.3 TLP_send_probe."""
        self.host._timer_fired(now, self, "PTO")
        if self.snd_nxt == self.snd_una or self.state not in _SENDING:
            return
        if self.tlp_end is None and self.tlp_rtt_ok:
            self.tlp_rtt_ok = False
            if self._output_data(now, 1, probe=True):
                self.tlp_is_retrans = False          # new data as the probe
            else:
                # the highest-sequence segment sent, once more: the last
                # segment as it went out (a FIN sent on its own goes alone)
                una = self.snd_una
                start = self.tail_seq
                if not (_le(una, start) and _lt(start, self.snd_nxt)):
                    span = (self.snd_nxt - una) & MASK
                    start = (self.snd_nxt - (span if span < self.snd_mss else self.snd_mss)) & MASK
                self._send_from(now, start, self.snd_mss, retransmit=True)
                self.tlp_is_retrans = True
            self.tlp_end = self.snd_nxt
            self.host.count("tlp_probes")
        # "the sender MUST re-arm the RTO timer, not the PTO timer"
        self.t_rexmt = self._rto_deadline(now)

    def _sacked_any(self) -> bool:
        """Anything SACKed: by the scoreboard, or with RACK by whole segments."""
        board = self.board
        if board is None or not board.blocks:
            return False
        if self.rack is not None and self.txlog is not None:
            return self.txlog.sacked_count() > 0
        return True

    def _tlp_ack(self, now: float, a: int, advanced: bool, plen: int, sack_blocks) -> None:
        """RFC 8985 §7.4.2 TLP_process_ack."""
        end = self.tlp_end
        assert end is not None              # called only while a probe is out
        if not _le(end, a):
            return
        if not self.tlp_is_retrans:
            self.tlp_end = None                      # TLP of new data delivered
            return
        board = self.board
        d = board.last_dsack if board is not None else None
        if d is not None and d[1] == end:
            self.tlp_end = None                      # Case 1: a D-SACK for the probe
        elif _lt(end, a):
            # the probe repaired a single loss: respond as to a loss (RFC 5681)
            self.tlp_end = None
            self.host.count("tlp_recoveries")
            cc = self.cc
            assert cc is not None
            if not cc.in_recovery:
                cc.on_loss(now, (self.snd_nxt - self.snd_una) & MASK)
                cc.on_recovery_exit(now)
        elif not advanced and not plen and not sack_blocks:
            self.tlp_end = None                      # Case 2: a plain duplicate ACK

    def ca_state(self) -> int:
        """The congestion state as Linux names it (tcpi_ca_state): 0 Open,
        1 Disorder (SACKs or duplicate ACKs seen, no recovery yet), 3 Recovery
        (fast recovery), 4 Loss (after an RTO, until its recovery point is
        ACKed). (2, CWR, belongs to ECN, which synack does not do.)"""
        cc = self.cc
        if self.ca_loss:
            return 4
        if cc is not None and cc.in_recovery:
            return 3
        if self.dupacks or self._sacked_any():
            return 1
        return 0

    def _fin_acked(self) -> bool:
        return self.fin_sent and self.snd_una == ((self.fin_seq + 1) & MASK)

    # --------------------------------------------------------------- timers
    def on_timer(self, now: float) -> None:
        """Fire whichever timers are due (RFC 9293 §3.10.8)."""
        if self.t_pto is not None and now >= self.t_pto:
            self.t_pto = None
            self._on_pto(now)                     # re-arms the RTO (RFC 8985 §7.3)
        if self.t_reo is not None and now >= self.t_reo:
            self.t_reo = None
            self._on_reo(now)
        if self.t_rexmt is not None and now >= self.t_rexmt:
            self.t_rexmt = None
            self._on_rto(now)
            if self.state is CLOSED:
                self._update_deadline()
                return
        if self.t_delack is not None and now >= self.t_delack:
            self.t_delack = None
            self.host._timer_fired(now, self, "delayed ACK")
            self.ack_now = True
            if self.pingpong and self.cfg.quickack:
                self.pingpong = False             # Linux: a missed delayed ACK ends ping-pong mode
        if self.t_persist is not None and now >= self.t_persist:
            self.t_persist = None
            self._on_persist(now)
            if self.state is CLOSED:
                self._update_deadline()
                return
        if self.t_keep is not None and now >= self.t_keep:
            self.t_keep = None
            self._on_keepalive(now)
            if self.state is CLOSED:
                self._update_deadline()
                return
        if self.t_fin2 is not None and now >= self.t_fin2:
            self.t_fin2 = None
            if self.state is FIN_WAIT_2:
                self.host._timer_fired(now, self, "FIN_WAIT_2")
                self._terminate(now, "FIN-WAIT-2 timeout", error=None)
                self._update_deadline()
                return
        if self.state is not CLOSED:
            self._output(now)
        self._update_deadline()

    def _on_rto(self, now: float) -> None:
        """RETRANSMISSION TIMEOUT: resend the head, back off (RFC 6298 §5.4-5.6)."""
        self.host._timer_fired(now, self, "RTO")
        self.retries += 1
        # Our SYN is at the front of the retransmission queue until it is ACKed:
        # in SYN-SENT, SYN-RECEIVED, and FIN-WAIT-1 after a CLOSE in SYN-RECEIVED.
        syn_unacked = not self.syn_acked
        if syn_unacked:
            limit = self.cfg.synack_retries if self.passive else self.cfg.syn_retries
            if self.retries > limit:
                # MUST-22: R2 for SYNs. A half-open entry just goes away.
                self.host.count("syn_timeouts")
                if self.passive:
                    self._terminate(now, "SYN,ACK retransmissions exhausted", error=None)
                else:
                    self._terminate(now, "SYN retransmissions exhausted", error="ETIMEDOUT")
                return
        else:
            if self.cfg.user_timeout is not None and now >= self.progress_time + self.cfg.user_timeout:
                self.host.count("user_timeouts")
                self._terminate(now, "user timeout", error="ETIMEDOUT")
                return
            if self.retries > self.cfg.r2:
                self.host.count("r2_timeouts")
                self._terminate(now, "retransmissions exhausted (R2)", error="ETIMEDOUT")
                return
            if self.retries == self.cfg.r1:
                self.host.count("r1_reached")     # negative advice to IP (MUST-20)
        self.rtt.back_off()
        self.rtt_seq = None                       # Karn: no sample from a retransmission
        if syn_unacked:
            self._send_syn(now)
        else:
            flight = (self.snd_nxt - self.snd_una) & MASK
            cc = self.cc
            assert cc is not None
            cc.on_timeout(now, self._reduction_basis(flight))
            self.ca_loss = True
            self.prr = None
            self.t_reo = None
            if self.rack is not None and self.txlog is not None:
                self.txlog.mark_all_lost()
            if self.cfg.hystart:
                self._get_hystart().stop()
            # RFC 6675 §5.1: RecoveryPoint = HighData, SACK recovery ends; the
            # SACK information is expunged (RFC 2018 §8: the receiver may have
            # reneged) and rebuilt from the ACKs that follow
            self.recover = self.snd_nxt
            self.sack_recovery = False
            self.high_rxt = self.rescue_rxt = None
            self.rxt_marks = _EMPTY
            self.rxt_again = _EMPTY
            if self.board is not None and self.retries > 1:
                # A second timeout in a row: the receiver may have reneged
                # (RFC 2018 §8), so forget its SACKs. After a first timeout
                # they are kept and used (RFC 6675 §5.1 and its erratum 1610;
                # Linux does the same), or go-back-N would resend everything
                # the receiver already holds.
                self.board.clear()
                if self.txlog is not None:
                    self.txlog.unsack_all()
            self.tlp_end = None                   # RFC 8985 §7.1
            self.t_pto = None
            self.dupacks = 0
            self.rtx_nxt = self.snd_una
            self._retransmit_head(now)
        self.t_rexmt = self._rto_deadline(now)

    def _rto_deadline(self, now: float) -> float:
        """When the retransmission timer armed now expires: RTO later (with
        backoff), but no later than the user timeout, which must fire on time
        (RFC 9293 §3.10.8 USER TIMEOUT; Linux clamps the RTO the same way)."""
        d = now + self.rtt.current()
        ut = self.cfg.user_timeout
        if ut is not None:
            limit = self.progress_time + ut
            if limit < d:
                d = limit if limit > now else now
        return d

    def _on_persist(self, now: float) -> None:
        """Zero-window probe (RFC 9293 §3.8.6.1, MUST-35..37): one octet past the
        window, backing off like the RTO; the connection stays open for as
        long as the receiver answers the probes (MUST-37).

        The probe octet is really sent: SND.NXT moves over it, so the ACK of a
        receiver that has reopened its window and taken the octet is acceptable.
        Until then the persist timer (not the retransmission timer) resends it.

        A probe nobody answers is a retransmission that is not acknowledged:
        `retries` counts the probes sent since the peer last answered (any
        answer resets it, _process_ack), and they fall under R2 (RFC 9293
        §3.8.3, MUST-20) and the user timeout (§3.10.8; RFC 5482), measured
        from the first unanswered probe. So a peer that vanishes behind a
        zero window is dropped with ETIMEDOUT, as Linux does (tcp_probe_timer:
        icsk_probes_out against tcp_retries2). Linux's TCP_USER_TIMEOUT runs
        from the first probe even while probes are answered; synack's from
        the first unanswered one, as MUST-37 keeps an answered window open."""
        # The same slot times sender SWS avoidance's override (RFC 1122
        # §4.2.3.4) while the window is open but too small: named apart, so
        # that a trace does not call that send a window probe.
        self.host._timer_fired(now, self, "persist" if self.snd_wnd == 0 else "SWS override")
        if self.t_rexmt is not None:
            return
        if self.snd_wnd != 0:
            if self.snd_nxt == self.snd_una:
                if self.host.xmit_blocked or self.probe_tstamp is not None:
                    self._resource_probe(now)
                else:
                    self._send_sws_override(now)
            return
        if self.retries:
            ut = self.cfg.user_timeout
            if ut is not None and now >= self.progress_time + ut:
                self.host.count("user_timeouts")
                self._terminate(now, "user timeout (zero-window probes unanswered)",
                                      error="ETIMEDOUT")
                return
            if self.retries >= self.cfg.r2:
                self.host.count("persist_timeouts")
                self._terminate(now, "zero-window probes unanswered (R2)", error="ETIMEDOUT")
                return
        else:
            self.progress_time = now              # the user timeout counts from the first probe
        una, nxt = self.snd_una, self.snd_nxt
        outstanding = (nxt - una) & MASK
        if outstanding == 0:
            off = (nxt - self.sndq_seq) & MASK
            if off < len(self.sndq) and self.cfg.zero_window_probe != "linux":
                self._emit(now, ACK, nxt, self.rcv_nxt, bytes(self.sndq[off:off + 1]))
                self.snd_nxt = (nxt + 1) & MASK
            else:
                self._emit(now, ACK, (nxt - 1) & MASK, self.rcv_nxt)
        elif outstanding == 1:
            self._send_from(now, una, 1, retransmit=False)   # the probe octet again
        else:
            return
        self.retries += 1
        self.probes_out += 1                      # (tcpi_probes)
        if self.retries == self.cfg.r1:
            self.host.count("r1_reached")         # negative advice to IP (MUST-20)
        self.persist_backoff += 1
        t = now + min(self.rtt.rto * (1 << min(self.persist_backoff, 10)), self.cfg.rto_max)
        ut = self.cfg.user_timeout
        if ut is not None and self.progress_time + ut < t:
            t = max(self.progress_time + ut, now)  # the user timeout fires on time (Linux clamps too)
        self.t_persist = t

    def _xmit_refused(self, now: float) -> None:
        """New data the local queue refused (host.xmit_blocked): it stays
        unsent. With nothing in flight and no other timer pending, the
        zero-window-probe timer takes over, as Linux's tcp_check_probe_timer
        after tcp_write_xmit fails (at max(RTO, rto_min), no backoff)."""
        self.host.count("xmit_refused")
        if (self.snd_nxt == self.snd_una and self.t_persist is None and self.t_rexmt is None
                and self.t_pto is None and self.t_reo is None):
            rto = self.rtt.current()
            self.t_persist = now + (rto if rto > self.cfg.rto_min else self.cfg.rto_min)

    def _resource_probe(self, now: float) -> None:
        """The probe timer with the window open and new data waiting (Linux's
        tcp_probe_timer and tcp_send_probe0, as seen on the live kernel with
        a qdisc that drops everything): the user timeout runs from the first
        such probe (icsk_probes_tstamp), tcp_retries2 bounds their number;
        each one tries to send, and while the local queue refuses it they
        count (tcpi_probes) and come every TCP_RESOURCE_PROBE_INTERVAL
        (500 ms, no backoff), the last one clamped to the user timeout."""
        ut = self.cfg.user_timeout
        if self.probe_tstamp is None:
            self.probe_tstamp = now
        elif ut is not None and now - self.probe_tstamp >= ut:
            self.host.count("user_timeouts")
            self._terminate(now, "user timeout (the local queue refused every probe)",
                                  error="ETIMEDOUT")
            return
        if self.probes_out >= self.cfg.r2:
            self.host.count("persist_timeouts")
            self._terminate(now, "probes refused by the local queue (R2)", error="ETIMEDOUT")
            return
        if not self.host.xmit_blocked:
            self.probes_out = 0
            self.probe_tstamp = None
            self._send_sws_override(now)
            return
        self.host.count("xmit_refused")
        self.probes_out += 1
        t = 0.5                                   # TCP_RESOURCE_PROBE_INTERVAL
        if ut is not None:
            left = self.probe_tstamp + ut - now
            if left < 0.002:
                left = 0.002                      # TCP_TIMEOUT_MIN
            if left < t:
                t = left
        self.t_persist = now + t

    def _send_sws_override(self, now: float) -> None:
        """RFC 1122 §4.2.3.4: the override timeout of sender SWS avoidance
        expired with nothing outstanding: send what the small window takes
        (Linux's tcp_write_wakeup does the same from its probe timer)."""
        off = (self.snd_nxt - self.sndq_seq) & MASK
        avail = len(self.sndq) - off
        if avail <= 0 or self.state not in _SENDING:
            return
        n = min(avail, self.snd_wnd, self.snd_mss)
        if self.eor_seqs:
            r = self._record_end(self.snd_nxt)
            if r and r < n:
                n = r
        if n == avail:
            # the rest of the queue (data a cork or MSG_MORE held): Linux's
            # tcp_write_wakeup sends it with PSH
            ps = self.push_seqs
            if ps is _EMPTY:
                ps = self.push_seqs = []
            ps.insert(0, (self.snd_nxt + n) & MASK)
        self._send_data(now, self.snd_nxt, off, n, self.fin_queued and n == avail)

    def _on_keepalive(self, now: float) -> None:
        """Keep-alive (RFC 9293 §3.8.4, MUST-24..29): <SEQ=SND.NXT-1> with no data."""
        cfg = self.cfg
        if not cfg.keepalive or self.state not in (ESTABLISHED, CLOSE_WAIT):
            return
        if self.keep_probes >= cfg.keepalive_probes:
            self.host.count("keepalive_timeouts")
            self._terminate(now, "keep-alive timeout", error="ETIMEDOUT")
            return
        if self.snd_nxt == self.snd_una:
            self.host._timer_fired(now, self, "keepalive")
            self._emit(now, ACK, (self.snd_nxt - 1) & MASK, self.rcv_nxt)
            self.keep_probes += 1
            self.t_keep = now + cfg.keepalive_interval
        else:
            self.t_keep = now + cfg.keepalive_idle

    def _mark_rxt(self, mark: tuple) -> None:
        if self.rxt_marks is _EMPTY:
            self.rxt_marks = []
        self.rxt_marks.append(mark)

    def _queue_again(self, rng: tuple) -> None:
        if self.rxt_again is _EMPTY:
            self.rxt_again = []
        self.rxt_again.append(rng)

    def _get_hystart(self):
        """HyStart's state, made when first needed (at the first ACK of data,
        or at a loss that stops it): idle connections never carry it."""
        hs = self.hystart
        if hs is None and self.cfg.hystart:
            hs = self.hystart = HyStart(self.cfg.hystart)
        return hs

    def _update_deadline(self) -> None:
        # the earliest armed timer, written out: this runs after every event
        d = NEVER
        t = self.t_rexmt
        if t is not None and t < d:
            d = t
        t = self.t_delack
        if t is not None and t < d:
            d = t
        t = self.t_persist
        if t is not None and t < d:
            d = t
        t = self.t_keep
        if t is not None and t < d:
            d = t
        t = self.t_fin2
        if t is not None and t < d:
            d = t
        t = self.t_pto
        if t is not None and t < d:
            d = t
        t = self.t_reo
        if t is not None and t < d:
            d = t
        if d != self.deadline:
            self.deadline = d
            if d != NEVER:
                self.host._schedule(self, d)

    # ---------------------------------------------------------------- output
    def _output(self, now: float) -> None:
        """Send what is due: retransmissions, new data within the windows, our
        FIN, an ACK."""
        st = self.state
        sent = False
        if st in _SENDING:
            if self.sack_recovery and self.rack is not None:
                sent = self._output_rack_recovery(now)
            elif self.sack_recovery:
                sent = self._output_sack_recovery(now)
            elif self.rtx_nxt is not None:
                sent = self._output_retransmissions(now)
            prr = self.prr
            if prr is not None and not self.sack_recovery:
                nxt = self.snd_nxt                # PRR without SACK counts prr_out here
                sent = bool(self._output_data(now)) or sent
                prr.out += (self.snd_nxt - nxt) & MASK
            else:
                sent = bool(self._output_data(now)) or sent
        if self.ack_now and not sent:
            if st is not CLOSED and st is not SYN_SENT and st is not LISTEN:
                self._send_ack(now)
        elif not sent and self.delack_segs and self.t_delack is None and st is not CLOSED:
            timeout = self.cfg.delayed_ack_min or self.cfg.delayed_ack_timeout
            self.t_delack = now + timeout

    def _pipe_estimate(self, outstanding: int) -> int:
        """Octets believed in the network, for the cwnd test. In SACK recovery
        the RFC 6675 pipe; otherwise the flight less what is known to have
        left it: SACKed octets (RFC 6675 §5 step (3)), or one segment for each
        of the first two duplicate ACKs (RFC 3042 limited transmit)."""
        if self.sack_recovery:
            return self.pipe
        prr = self.prr
        if prr is not None:                       # recovery without SACK under PRR
            return outstanding - prr.dup_segs * self.snd_mss
        board = self.board
        if board is not None and board.sacked:
            return outstanding - board.sacked
        cc = self.cc
        if self.dupacks and cc is not None and not cc.in_recovery:
            return outstanding - (self.dupacks if self.dupacks < 2 else 2) * self.snd_mss
        return outstanding

    def _output_sack_recovery(self, now: float) -> bool:
        """RFC 6675 §5 (C): while cwnd - pipe >= 1 SMSS, send what NextSeg()
        names -- (1) a lost hole above HighRxt, (2) new data, (3) any unSACKed
        hole below the highest SACK, (4) one rescue retransmission."""
        board = self.board
        assert board is not None            # SACK recovery runs only with a scoreboard
        cc = self.cc
        assert cc is not None
        mss = self.snd_mss
        una = self.snd_una
        self.pipe = board.pipe(una, self.snd_nxt, self.high_rxt, mss)  # type: ignore[arg-type]
        pipe0 = self.pipe
        sent = False
        again = self.rxt_again
        burst = 0
        while cc.cwnd - self.pipe >= mss:
            if again:
                # a retransmission found lost goes again first (see _lost_retransmissions)
                seq, end = again.pop(0)
                if not _lt(seq, end) or not _lt(seq, self.snd_nxt) or _lt(seq, una) \
                        or board.sacked_end(seq, una) is not None:
                    continue
                used = self._send_from(now, seq, (end - seq) & MASK, retransmit=True)
                if used:
                    self.host.count("retransmits_again")
                    self.pipe += used
                    self._mark_rxt((seq, (seq + used) & MASK, self.snd_nxt))
                    sent = True
                continue
            nxt = board.next_lost(una, self.snd_nxt, self.high_rxt, mss)  # type: ignore[arg-type]
            if nxt is None:
                if self._output_data(now, 1, False, burst):       # rule (2)
                    sent = True
                    burst += 1
                    continue
                nxt = board.next_lost(una, self.snd_nxt, self.high_rxt, mss,  # type: ignore[arg-type]
                                      require_lost=False)
            if nxt is not None:
                seq, n = nxt
                used = self._send_from(now, seq, n, retransmit=True)
                if not used:
                    break
                self.high_rxt = (seq + used) & MASK   # (C.2)
                self.pipe += used                     # (C.4)
                self._mark_rxt((seq, self.high_rxt, self.snd_nxt))
                sent = True
                continue
            # rule (4): one rescue retransmission per recovery, of the highest
            # unSACKed octet, when HighACK has passed RescueRxt
            if self.cfg.rescue_rxt and (self.rescue_rxt is None or _lt(self.rescue_rxt, una)):
                holes = board.holes(una, self.snd_nxt)
                if holes:
                    a, b = holes[-1]
                    start = b - mss if b - mss > a else a
                    used = self._send_from(now, (una + start) & MASK, b - start, retransmit=True)
                    if used:
                        self.rescue_rxt = self.recover
                        self.pipe += used
                        sent = True
                        continue
            break
        if self.prr is not None:
            self.prr.out += self.pipe - pipe0
        return sent

    def _output_rack_recovery(self, now: float) -> bool:
        """Recovery with RACK marks: while cwnd - pipe >= 1 SMSS, the lost
        segments first, in sequence order, then new data (Linux's
        tcp_xmit_retransmit_queue, then tcp_push); pipe from the marks."""
        log = self.txlog
        cc = self.cc
        assert log is not None and cc is not None
        mss = self.snd_mss
        self.pipe = log.pipe()
        pipe0 = self.pipe
        sent = False
        burst = 0
        while cc.cwnd - self.pipe >= mss:
            seg = log.next_lost()
            if seg is not None:
                start = seg[0]
                if _lt(start, self.snd_una):
                    start = self.snd_una
                n = (seg[1] - start) & MASK
                used = self._send_from(now, start, n if n < mss else mss, retransmit=True)
                if not used:
                    if self.host.xmit_blocked:
                        break                      # refused locally: still lost, not retransmitted
                    seg[3] &= ~LOST                # nothing to resend: not lost after all
                    continue
                self.pipe += used
                end = (start + used) & MASK
                if _lt(self.high_rxt, end):        # type: ignore[arg-type]
                    self.high_rxt = end
                sent = True
                continue
            if self._output_data(now, 1, False, burst):
                sent = True
                burst += 1
                continue
            break
        if self.prr is not None:
            self.prr.out += self.pipe - pipe0
        return sent

    def _output_retransmissions(self, now: float) -> bool:
        """After an RTO: resend what was outstanding, as cwnd allows (go-back-N),
        skipping what the receiver has SACKed since (RFC 6675 §5.1: "filling
        in the sequence space reported as missing")."""
        sent = False
        mss = self.snd_mss
        board = self.board
        cc = self.cc
        assert cc is not None
        while self.rtx_nxt is not None:
            r = self.rtx_nxt
            if not _lt(r, self.snd_nxt):
                self.rtx_nxt = None
                break
            una = self.snd_una
            pipe = (r - una) & MASK
            if board is not None and board.blocks:
                e = board.sacked_end(r, una)
                if e is not None:
                    self.rtx_nxt = e
                    continue
                pipe -= board.sacked_below(r, una)
            if pipe + mss > cc.cwnd and pipe:
                break
            n = self._send_from(now, r, mss, retransmit=True)
            if n == 0:
                self.rtx_nxt = None
                break
            self.rtx_nxt = (r + n) & MASK
            sent = True
        return sent

    def _output_data(self, now: float, max_segs: int = 0, probe: bool = False, burst: int = 0) -> int:
        """New data within min(send window, cwnd - pipe), then the FIN.
        Returns the number of segments sent. `max_segs` stops early; `probe`
        (a Tail Loss Probe) may exceed cwnd by one segment (RFC 8985 §7.3);
        `burst`: segments of new data already sent in this burst (PSH pairs)."""
        mss = self.snd_mss
        if self.sack_ok and (self.reasm is not None or self.dsack is not None):
            mss -= self._sack_option_len()   # SACK blocks ride on the data
        q = self.sndq
        cc = self.cc
        assert cc is not None
        count = 0
        limited = False
        if (self.snd_nxt == self.snd_una and self.last_data_send is not None
                and self.cfg.slow_start_after_idle and self.snd_wnd > 0
                and len(q) > ((self.snd_nxt - self.sndq_seq) & MASK)
                and now - self.last_data_send > self.rtt.rto):
            self._restart_after_idle(mss)
        pairs = self._tso_unit(mss) if self.psh_pairs else 0
        while True:
            una = self.snd_una
            nxt = self.snd_nxt
            off = (nxt - self.sndq_seq) & MASK
            avail = len(q) - off
            outstanding = (nxt - una) & MASK
            if avail <= 0:
                if self.fin_queued and not self.fin_sent:
                    count += self._output_fin(now, outstanding)
                break
            usable = self.snd_wnd - outstanding
            room = cc.cwnd - self._pipe_estimate(outstanding)
            if probe:
                room = mss
            if room < usable:
                if room < mss:
                    limited = True
                usable = room
            if usable <= 0:
                if self.snd_wnd == 0 and outstanding == 0 and self.t_persist is None:
                    self.t_persist = now + self.rtt.current()   # start the persist timer
                break
            n = avail if avail < mss else mss
            if self.eor_seqs:
                n = self._record_clip(nxt, n)
            if n > usable:
                n = usable
            if n < mss and not (self.eor_seqs and n < avail and self._record_end(nxt) == n):
                if n < avail:
                    # RFC 9293 §3.8.6.2.1 sender SWS avoidance: a window-limited
                    # partial segment waits unless it is half the largest window
                    # -- also with nothing outstanding (RFC 1122 §4.2.3.4); then
                    # the persist timer is the override timeout that sends it.
                    if n < (self.max_snd_wnd >> 1):
                        if not outstanding and self.t_persist is None:
                            self.t_persist = now + self.rtt.current()
                        break
                elif (outstanding and not self.nodelay and not self.fin_queued
                      and (self.tfo is None or not self._tfo_resending())):
                    break                          # Nagle (RFC 896, §3.7.4); FIN pushes
                elif self.cork and not self.fin_queued and self._corked(now, outstanding):
                    break                          # TCP_CORK, MSG_MORE (set_cork)
            fin = self.fin_queued and n == avail
            if self.host.xmit_blocked:
                self._xmit_refused(now)
                break
            self._send_data(now, nxt, off, n, fin, count + burst, pairs)
            count += 1
            over = outstanding + n - cc.cwnd
            if over > 0 and not probe and not cc.in_recovery:
                # sent only because duplicate ACKs or SACKed octets left the
                # pipe: limited transmit (RFC 3042; RFC 6675 §5 step (3))
                self.lt_sent += over if over < n else n
            if max_segs and count >= max_segs:
                break
        if (count or limited) and (self.cfg.cwnd_validation or self.cfg.tlp):
            self._after_output(now, count, limited, probe, mss)
        return count

    def _tso_unit(self, mss: int) -> int:
        """Segments per TSO unit under the `linux` PSH policy: Linux's
        tcp_min_tso_segs, but at most half the cwnd (tcp_cwnd_test); a unit
        of one segment carries no unit PSH."""
        cc = self.cc
        assert cc is not None
        pairs = self.psh_pairs
        half = (cc.cwnd // mss) >> 1
        if self.cfg.tso_segs > 2:
            self.psh_pairs = pairs = max(1, min(self.cfg.tso_segs, half))
        elif half < pairs:
            pairs = 1
        return pairs

    def _record_end(self, seq: int) -> int:
        """MSG_EOR: octets from `seq` to the first record end after it (0:
        none). Record ends at or below SND.UNA are dropped on the way."""
        es = self.eor_seqs
        una = self.snd_una
        while es and not 0 < ((es[0] - una) & MASK) < HALF:
            es.pop(0)
        for e in es:
            d = (e - seq) & MASK
            if 0 < d < HALF:
                return d
        return 0

    def _record_clip(self, seq: int, n: int) -> int:
        """MSG_EOR: a segment of `n` octets from `seq` stops at the first
        record end in it. (_output_data: a record's end with data after it
        is not the queue's last skb, which Linux sends past Nagle and cork,
        tcp_write_xmit.)"""
        r = self._record_end(seq)
        return r if r and r < n else n

    def _corked(self, now: float, outstanding: int) -> bool:
        """A partial segment held by the cork: with nothing in flight and no
        other timer pending, the probe timer sends it later (Linux's
        tcp_check_probe_timer: max(RTO, rto_min); _on_persist then sends it
        with PSH, as tcp_write_wakeup)."""
        if (not outstanding and self.t_persist is None and self.t_rexmt is None
                and self.t_pto is None and self.t_reo is None):
            rto = self.rtt.current()
            self.t_persist = now + (rto if rto > self.cfg.rto_min else self.cfg.rto_min)
        return True

    def _after_output(self, now: float, count: int, limited: bool, probe: bool, mss: int) -> None:
        """After `_output_data` sent `count` segments (or was held back by
        cwnd, `limited`): whether the cwnd is in use (cfg.cwnd_validation,
        as Linux's tcp_cwnd_validate), and the Tail Loss Probe timer
        (RFC 8985 §7.2)."""
        if count:
            if self.cfg.cwnd_validation:
                if not limited:
                    cc = self.cc
                    assert cc is not None
                    outstanding = (self.snd_nxt - self.snd_una) & MASK
                    limited = self._pipe_estimate(outstanding) + mss > cc.cwnd
                self._cwnd_validate(limited)
            if not probe and self.cfg.tlp:
                self._schedule_pto(now)
        elif self.cfg.cwnd_validation:
            self._cwnd_validate(True)

    def _restart_after_idle(self, mss: int) -> None:
        """RFC 5681 §4.1: idle for more than an RTO, restart from the restart
        window RW = min(IW, cwnd) -- when data can go out: a closed window
        sends none (Linux restarts as data is sent, tcp_event_data_sent; its
        zero-window probes are not data). The caller checks the conditions."""
        cc = self.cc
        assert cc is not None
        self.last_data_send = None
        iw = (self.cfg.initial_window * mss if self.cfg.initial_window
              else _iw_bytes(mss))
        cc.on_idle_restart(iw)

    def _output_fin(self, now: float, outstanding: int) -> int:
        """The queued FIN, once all data has been sent; returns the segments
        sent (0 or 1). The FIN needs no window -- but with the `linux`
        zero_window_probe policy it takes its place in the window as Linux's
        does (tcp_snd_wnd_test), and behind a zero window waits for the probes."""
        if self.cfg.zero_window_probe == "linux" and outstanding >= self.snd_wnd:
            if outstanding == 0 and self.t_persist is None:
                self.t_persist = now + self.rtt.current()
            return 0
        self._send_fin_segment(now)
        return 1

    def _send_data(self, now: float, seq: int, off: int, n: int, fin: bool, index: int = 0,
                   pairs: int = 0) -> None:
        """One segment of new data. PSH when it carries the last octet of a
        SEND (MUST-61); with the `linux` PSH policy also on the last segment
        of each TSO unit of `pairs` segments (`index` counts the segments of
        this burst; units of one segment carry none)."""
        base = self.snd_una
        s_off = (seq - base) & MASK
        e_off = s_off + n
        psh = False
        ps = self.push_seqs
        while ps:
            p_off = (ps[0] - base) & MASK
            if p_off >= HALF:
                ps.pop(0)                       # already ACKed (sent by a probe)
                continue
            if p_off > e_off:
                break
            ps.pop(0)
            if p_off > s_off:
                psh = True
        mark = 0
        if psh or (pairs > 1 and (index + 1) % pairs == 0):
            flags = ACK | PSH
            if self.psh_pairs:
                # for the retransmissions (_rtx_psh), in the send log: the end
                # of a SEND, or of a TSO unit of `pairs` segments
                mark = PSH_SEND if psh else PSH_UNIT
        else:
            flags = ACK
        if fin:
            flags |= FIN
        if self.snd_nxt == self.snd_una:
            self.progress_time = now
        self._emit(now, flags, seq, self.rcv_nxt, bytes(self.sndq[off:off + n]))
        self.tail_seq = seq
        new_nxt = (seq + n + (1 if fin else 0)) & MASK
        if self.track_tx:
            log = self.txlog
            if log is None:
                self._log_sent(now, seq, new_nxt)
                if mark:
                    self.txlog.segs[-1][3] = mark     # type: ignore[union-attr]
            else:
                o = log.order                   # (Transmissions.sent, written out)
                log.order = o + 1
                log.segs.append([seq, new_nxt, now, mark, o])
        if fin:
            self.fin_sent = True
            self.fin_seq = (seq + n) & MASK
        self.snd_nxt = new_nxt
        self.last_data_send = now
        if self.sack_recovery:
            self.pipe += n
        if self.pingpong is False and self.last_data_rcv is not None and self.cfg.quickack:
            # Linux tcp_event_data_sent: a reply within the ATO of the last
            # data received means an interactive exchange: delay ACKs again
            if now - self.last_data_rcv < (self.cfg.delayed_ack_min or self.cfg.delayed_ack_timeout):
                self.pingpong = True
        if self.rtt_seq is None:
            self.rtt_seq = new_nxt
            self.rtt_time = now
        if self.t_rexmt is None:
            self.t_rexmt = self._rto_deadline(now)
        self.ack_now = False

    def _send_fin_segment(self, now: float) -> None:
        seq = self.snd_nxt
        if self.snd_nxt == self.snd_una:
            self.progress_time = now
        self._emit(now, FIN | ACK, seq, self.rcv_nxt)
        self.tail_seq = seq
        self.fin_sent = True
        self.fin_seq = seq
        self.snd_nxt = (seq + 1) & MASK
        if self.track_tx:
            self._log_sent(now, seq, self.snd_nxt)
        if self.t_rexmt is None:
            self.t_rexmt = self._rto_deadline(now)
        if self.cfg.tlp:
            self._schedule_pto(now)

    def _send_from(self, now: float, seq: int, limit: int, retransmit: bool) -> int:
        """(Re)send up to `limit` octets starting at `seq`; return the sequence space used.
        Only octets already sent (below SND.NXT) go out: new data beyond them is
        _output_data's, within the window (RFC 9293 §3.8.6, SHLD-15).
        Returns 0 when the local queue refuses it (host.xmit_blocked)."""
        if self.host.xmit_blocked:
            self.host.count("xmit_refused")
            return 0
        off = (seq - self.sndq_seq) & MASK
        q = self.sndq
        if self.sack_ok and (self.reasm is not None or self.dsack is not None):
            room = self.snd_mss - self._sack_option_len()
            if limit > room:
                limit = room
        sent_end = self.fin_seq if self.fin_sent else self.snd_nxt
        sent = (sent_end - seq) & MASK
        if off < len(q) and 0 < sent < HALF:
            n = min(limit, len(q) - off, sent)
            if self.eor_seqs:
                r = self._record_end(seq)
                if r and r < n:
                    n = r                      # MSG_EOR: no merging across a record end
            end = (seq + n) & MASK
            fin = self.fin_sent and end == self.fin_seq
            if self.psh_pairs:
                psh = self._rtx_psh(now, seq, end, fin)
            else:
                psh = off + n == len(q)
            flags = ACK | (FIN if fin else 0) | (PSH if psh else 0)
            self._emit(now, flags, seq, self.rcv_nxt, bytes(q[off:off + n]))
            if retransmit:
                self.host.count("retransmits")
            if self.txlog is not None:
                self.txlog.resent(now, seq, (end + (1 if fin else 0)) & MASK)
            return n + (1 if fin else 0)
        if self.fin_sent and seq == self.fin_seq:
            self._emit(now, FIN | ACK, seq, self.rcv_nxt)
            if retransmit:
                self.host.count("retransmits")
            if self.txlog is not None:
                self.txlog.resent(now, seq, (seq + 1) & MASK)
            return 1
        return 0

    def _rtx_psh(self, now: float, seq: int, end: int, fin: bool) -> bool:
        """Does a retransmission of [seq, end) carry PSH? As Linux 6.18's
        (seen on the live kernel): the end of a SEND keeps its PSH (the flag
        stays with an skb's last octet when the skb is split, tcp_fragment,
        and is ORed in when skbs are joined, tcp_collapse_retrans); the PSH a
        multi-segment TSO unit carried comes back only when the whole unit is
        retransmitted at once (back-to-back segments in one burst: one ACK or
        one timer, glued again), not on a lone segment of it."""
        chain = self.rtx_chain
        if chain is not None and chain[0] == seq and chain[1] == now:
            chain[0] = end
            chain[2] += 1
            segs = chain[2]
        else:
            self.rtx_chain = [end, now, 1]
            segs = 1
        log = self.txlog
        if log is None:
            return ((end - self.sndq_seq) & MASK) == len(self.sndq)   # no marks: the queue's end
        n = ((end - seq) & MASK) + (1 if fin else 0)    # (a FIN's log entry ends past it)
        for s in log.segs:
            d = (s[1] - seq) & MASK
            if 0 < d <= n:
                f = s[3]
                if f & PSH_SEND or (f & PSH_UNIT and segs >= self.psh_pairs):
                    return True
            elif d > n and d < HALF:
                break
        return False

    def _log_sent(self, now: float, start: int, end: int) -> None:
        """Record a first transmission (cfg.rtt_every_ack)."""
        log = self.txlog
        if log is None:
            log = self.txlog = Transmissions()
            if self.cfg.rack and self.sack_ok:
                self.rack = Rack(self.snd_mss)
        log.sent(now, start, end)

    def _retransmit_head(self, now: float) -> None:
        n = self._send_from(now, self.snd_una, self.snd_mss, retransmit=True)
        if self.rtx_nxt is not None and n:
            self.rtx_nxt = (self.snd_una + n) & MASK

    def _queue_fin(self, now: float) -> None:
        """CLOSE / SHUT_WR: FIN after all queued data (§3.10.4); state changes now."""
        st = self.state
        self.fin_queued = True
        if st is ESTABLISHED or st is SYN_RECEIVED:
            self._set_state(now, FIN_WAIT_1, "CLOSE / snd FIN")
        elif st is CLOSE_WAIT:
            self._set_state(now, LAST_ACK, "CLOSE / snd FIN")
        if self.state is not SYN_RECEIVED:
            self._output(now)

    def _send_ack(self, now: float) -> None:
        """<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>"""
        self._emit(now, ACK, self.snd_nxt, self.rcv_nxt)

    def _challenge_ack(self, now: float) -> None:
        """RFC 5961 §3.2/§4.2 challenge ACK, rate-limited per connection, and
        host-wide only if `challenge_ack_limit` is set (§7; see _oow_ack_allowed)."""
        if not self._oow_ack_allowed(now):
            self.host.count("challenge_acks_suppressed")
            return
        limit = self.cfg.challenge_ack_limit
        if limit is None or self.host.challenge_ack_allowed(now, limit):
            self.host.count("challenge_acks")
            self._send_ack(now)
        else:
            self.host.count("challenge_acks_suppressed")

    def _oow_ack_allowed(self, now: float) -> bool:
        """May this connection answer an invalid segment now? At most one such
        reply (challenge ACK, ACK of a §5.2 ACK failure, ACK of an
        out-of-window or PAWS-failed segment without data) every
        `cfg.invalid_ratelimit` seconds; the others are counted and dropped
        silently (Linux: tcp_invalid_ratelimit, 500 ms).

        Why per connection, and not the system-wide count of RFC 5961 §7's
        example ("in any 5 second window, no more than 10 challenge ACKs"):
        §7 asks for a throttle (SHOULD), tunable in time and number (SHOULD),
        as a fail-safe against floods of challenge ACKs, and leaves its scope
        to the implementation. A count shared by the whole host is state an
        off-path attacker can read: it spends the budget on its own
        connection and counts what is left after its spoofed probes for a
        victim's connection (CVE-2016-5696; Cao et al., USENIX Security
        2016), which tells it whether a probe fell in the victim's window.
        A limit per connection is spent only by segments carrying that
        connection's 4-tuple, so what the attacker sees on its own
        connection does not depend on anyone else's. It still bounds the
        replies (one per 500 ms per connection: no reflection amplifier),
        which is what §7 is for, and both its time and (with
        `challenge_ack_limit`) a host-wide number stay tunable. The
        host-wide limit, when turned on, is randomised per second
        (Host.challenge_ack_allowed) so that it cannot be counted out."""
        gap = self.cfg.invalid_ratelimit
        last = self.last_oow_ack
        if gap > 0.0 and 0.0 <= now - last < gap:
            self.host.count("invalid_acks_suppressed")
            return False
        self.last_oow_ack = now
        return True

    def _emit(self, now: float, flags: int, seq: int, ack: int, payload: bytes = b"") -> None:
        """Build one segment with the window and options due, and queue it."""
        if flags & ACK:
            win = self._window_to_advertise()
            if self.quickack and ack != self.last_ack_sent:
                self.quickack -= 1                 # Linux tcp_dec_quickack_mode
            self.last_ack_sent = ack
            self.t_delack = None
            self.delack_segs = 0
            self.ack_now = False
        else:
            win = 0 if flags & RST else self._window_to_advertise()
        opts = NO_OPTIONS
        if not flags & RST:
            sack = self._sack_blocks() if self.sack_ok and (self.reasm is not None or self.dsack is not None) else ()
            if self.ts_ok:
                opts = make_options(None, None, False, sack,
                                    ((int(now * 1000) + self.ts_offset) & MASK,
                                     self.ts_recent if flags & ACK else 0), ())
            elif sack:
                opts = make_options(None, None, False, sack, None, ())
        elif self.ts_ok and flags & ACK:
            # RFC 7323 §5.2: an <RST> sent because of a user abort SHOULD carry
            # a Timestamps option (Linux: TSval now, TSecr TS.Recent)
            opts = Options(None, None, False, (), (self._ts_now(now), self.ts_recent))
        self.host.outbox.append((self.local_ip, self.remote_ip,
                                 make_segment(self.local_port, self.remote_port, seq, ack, flags,
                                              win, 0, opts, payload)))

    def _sack_option_len(self) -> int:
        """Octets the SACK option of the next segment takes (NOP, NOP, kind,
        length, 8 per block): the payload makes room for it, so a full-sized
        segment stays within the MSS (Linux's tcp_current_mss counts the
        SACK blocks the same way)."""
        r = self.reasm
        k = (0 if r is None else len(r.blocks)) + (1 if self.dsack is not None else 0)
        limit = 3 if self.ts_ok else 4
        return 4 + 8 * (k if k < limit else limit)

    def _sack_blocks(self) -> tuple:
        """RFC 2018 §4: the block holding the segment that triggered this ACK
        first, then the others, most recently changed first; a D-SACK block
        (RFC 2883 §4) before all of them, once. At most 3 blocks beside the
        Timestamps option, 4 without."""
        limit = 3 if self.ts_ok else 4
        r = self.reasm
        out = [] if r is None else r.sack_blocks()
        d = self.dsack
        if d is not None:
            self.dsack = None
            out.insert(0, d)
        return tuple(out[:limit])

    def _window_to_advertise(self) -> int:
        """The window field: free receive-buffer space, scaled, never shrinking the
        right edge (RFC 9293 §3.8.6, RFC 7323 §2.4), with receiver SWS avoidance
        (§3.8.6.2.2: open in steps of min(buffer/2, MSS))."""
        free = self.rcvbuf - len(self.rcvq)
        if self.reasm is not None:
            free -= self.reasm.size
        if free < 0:
            free = 0
        if self.host.mem_level and free > 4 * self.rcv_mss:
            free = 4 * self.rcv_mss            # Linux under tcp_mem pressure: rcv_ssthresh <= 4 MSS
        cur = (self.rcv_adv - self.rcv_nxt) & MASK
        if cur >= HALF:
            cur = 0
        if free > cur:
            step = self.rcvbuf >> 1
            if step > self.rcv_mss:
                step = self.rcv_mss
            if free - cur < step:
                free = cur                         # MUST-39: hold the right edge
        elif free < cur:
            free = cur
        ws = self.rcv_wscale
        assert ws is not None                  # settled by _take_syn_options
        field = free >> ws
        if (field << ws) < cur:
            field += 1
        if field > _MAX_WINDOW_FIELD:
            field = _MAX_WINDOW_FIELD
        edge = (self.rcv_nxt + (field << ws)) & MASK
        if _lt(self.rcv_adv, edge):
            self.rcv_adv = edge
        return field

    def _window_opened(self, now: float) -> None:
        """After the application reads: send a window update if it is worth it."""
        if self.state not in CAN_RECEIVE:
            return
        cur = (self.rcv_adv - self.rcv_nxt) & MASK
        free = self.rcvbuf - len(self.rcvq)
        if self.reasm is not None:
            free -= self.reasm.size
        # the window field can say at most 65535 << Rcv.Wind.Shift (RFC 7323
        # §2.3): space beyond that is no reason for an update (Linux caps
        # the same way in __tcp_select_window / tcp_cleanup_rbuf)
        ws = self.rcv_wscale
        assert ws is not None                  # settled by _take_syn_options
        top = _MAX_WINDOW_FIELD << ws
        if free > top:
            free = top
        step = min(self.rcvbuf >> 1, self.rcv_mss)
        if free - cur >= step and (cur < step or free >= 2 * cur):
            self._send_ack(now)
            self._update_deadline()

    # ------------------------------------------------------- SYN and options
    def _send_syn_and_arm(self, now: float) -> None:
        """Send our first SYN or SYN,ACK and arm its retransmission timer at
        the current RTO (RFC 6298 (2.1); RFC 9293 §3.8.1)."""
        self._send_syn(now)
        self.t_rexmt = now + self.rtt.current()

    def _send_syn(self, now: float) -> None:
        """SYN (SYN-SENT) or SYN,ACK (SYN-RECEIVED), with our options."""
        active = self.state is SYN_SENT
        opts = syn_options(self.cfg, None if active else self.syn_opts, self.rcv_mss,
                           self.rcv_wscale, self._ts_now(now),
                           0 if active else self.ts_recent)
        win = min(self.rcvbuf, _MAX_WINDOW_FIELD)             # never scaled on a SYN
        self.rcv_adv = (self.rcv_nxt + win) & MASK
        flags = SYN if active else SYN | ACK
        if self.rtt_seq is None and self.retries == 0:
            self.rtt_seq = self.snd_nxt
            self.rtt_time = now
        payload = b""
        if active and self.tfo is not None:
            opts, payload = self._tfo_syn(opts)
        self.host.outbox.append((self.local_ip, self.remote_ip,
                                 make_segment(self.local_port, self.remote_port, self.iss,
                                              self.rcv_nxt if not active else 0, flags, win, 0,
                                              opts, payload)))
        if not active:
            self.last_ack_sent = self.rcv_nxt

    # ------------------------------------------------- TCP Fast Open (client)
    def tfo_prepare(self, remote_ip: str, data) -> None:
        """Before the first SYN of an active open that asks for Fast Open
        (Host.connect): choose what the SYN carries (RFC 7413 §4.1.2, §4.2)
        and queue its data. `data` None: the caller's buffer cannot be read
        (Linux then sends a plain cookie request, tcp_send_syn_data's
        fallback). How much was taken: `tfo_taken`."""
        cfg = self.cfg
        cache = self.host.tfo_cache
        cookie, mss = cache.get(remote_ip)
        option: bytes | None = None if cfg.fastopen & CLIENT_NO_COOKIE else cookie
        taken = 0
        if data is None or not _tfo_ready(cfg.fastopen, cookie):
            if option:
                option = b""                   # no data to send: ask for a cookie
        else:
            mtu_mss = cfg.mtu - (60 if self.ipv6 else 40)
            taken = min(syn_room(mtu_mss, mss, cfg.mss), len(data), self.sndbuf)
            self.sndq += data[:taken]
        self.tfo = FastOpen(option, taken, cache.exp(remote_ip))

    @property
    def tfo_taken(self) -> int:
        """Octets of a Fast Open connect's data that ride on the SYN."""
        tfo = self.tfo
        return tfo.syn_data if tfo is not None else 0

    def _tfo_syn(self, opts: Options) -> tuple[Options, bytes]:
        """The Fast Open option and data of our SYN. A retransmitted SYN
        carries neither (as Linux: the server may not support Fast Open, or a
        middlebox may drop SYNs with data); the data is then sent after the
        handshake (RFC 7413 §4.2.2)."""
        tfo = self.tfo
        assert tfo is not None
        if self.retries:
            return opts, b""
        if tfo.cookie is not None:
            opts = make_options(opts.mss, opts.wscale, opts.sack_permitted, opts.sack,
                                opts.timestamp, opts.unknown + (_tfo_option(tfo.cookie, tfo.exp),))
        n = tfo.syn_data
        if not n:
            return opts, b""
        end = (self.iss + 1 + n) & MASK
        if self.snd_nxt != end:
            self.snd_nxt = end
            # the data ends a SEND: PSH when it goes again (Linux marks it ACK|PSH)
            self.push_seqs = [end]
        return opts, bytes(self.sndq[:n])

    def _tfo_synack(self, seg: Segment, ack_ok: bool) -> None:
        """A SYN,ACK answers our Fast Open SYN: keep the server's cookie (if
        we asked for one) and MSS (RFC 7413 §4.1.2); drop the SYN's data it
        acknowledges, and send the rest again after the handshake (§4.2.2)."""
        tfo = self.tfo
        assert tfo is not None
        cookie, exp = peer_option(seg.options)
        try_exp = 0
        if tfo.cookie is None:
            cookie = None                      # not asked for: ignored
        elif cookie is None and not tfo.syn_data and not self.retries:
            try_exp = 2 if tfo.exp else 1      # asked, no answer: try the other form
        # the server's own MSS, not as a user MSS clamps it (Linux reads the
        # SYN,ACK's option again in that case)
        self.host.tfo_cache.learn(self.remote_ip, cookie, seg.options.mss or 0, exp, try_exp)
        if not ack_ok:
            return
        acked = (self.snd_una - self.iss - 1) & MASK
        if acked:
            del self.sndq[:acked]
            self.sndq_seq = (self.sndq_seq + acked) & MASK
        tfo.acked = bool(tfo.syn_data) and acked == tfo.syn_data
        if self.snd_nxt != self.snd_una:
            self.snd_nxt = self.snd_una        # nothing past SND.UNA arrived: send it again

    def _tfo_hold_ack(self, now: float) -> None:
        """The SYN,ACK of a Fast Open connect whose writer has more to send
        (Linux: sk_write_pending): no ACK of its own, the data about to be
        written carries it; the delayed-ACK timer (Linux's TCP_DELACK_MAX,
        200 ms) sends it if nothing does."""
        self.ack_now = False
        self.t_delack = now + 0.2

    def _tfo_resending(self) -> bool:
        """Whether the next octet to send is data a Fast Open SYN carried and
        the SYN,ACK did not acknowledge: sent again, so Nagle does not hold
        it (Linux retransmits it)."""
        tfo = self.tfo
        assert tfo is not None
        return _lt(self.snd_nxt, (self.iss + 1 + tfo.syn_data) & MASK)

    def _take_syn_options(self, now: float, seg: Segment) -> None:
        """Negotiate from the peer's SYN: MSS (MUST-14..16), WS, TS, SACK-permitted."""
        o = seg.options
        self.syn_opts = o
        cfg = self.cfg
        if o.mss is not None:
            self.peer_mss = o.mss
        if cfg.window_scaling and o.wscale is not None and self.rcv_wscale is not None:
            self.snd_wscale = min(o.wscale, 14)   # RFC 7323 §2.3: a shift above 14 is taken as 14
        else:                                     # §1.3: scaling only if both SYNs carry it
            self.snd_wscale = 0
            self.rcv_wscale = 0
        if cfg.timestamps and o.timestamp is not None:
            self.ts_ok = True
            self.ts_recent = o.timestamp[0]
            self.ts_recent_time = now
        self.sack_ok = bool(cfg.sack and o.sack_permitted)
        if self.sack_ok and self.board is None:
            self.board = Scoreboard()
        self._set_mss()

    def _set_mss(self) -> None:
        """MUST-16: effective send MSS = min(peer MSS, what our MTU allows) -
        option bytes. A user MSS (TCP_MAXSEG, `cfg.mss`) caps it too, as
        Linux's user_mss clamps mss_clamp before the options are taken off."""
        cfg = self.cfg
        mss = min(self.peer_mss, cfg.mtu - (60 if self.ipv6 else 40))
        if cfg.mss is not None and cfg.mss < mss:
            mss = cfg.mss
        if self.ts_ok:
            mss -= _TS_OPTION_LEN
        self.snd_mss = max(mss, 64)
        cc = self.cc
        if cc is not None:
            cc.set_mss(self.snd_mss, cfg.initial_window)

    def _init_cc(self) -> None:
        cfg = self.cfg
        cc = create_cc(cfg.congestion_control, self.snd_mss, cfg.initial_window)
        cc.abc_limit = cfg.abc_limit
        cc.rtt = self.rtt                         # CUBIC reads SRTT (RFC 9438 §4.2)
        if cfg.cubic_linux:
            cc.use_linux_arithmetic()
        self.cc = cc
        self.hystart = None                       # made on first use (_get_hystart)

    def rtt_sample_syn(self, now: float) -> None:
        """RTT from the handshake, if the SYN was not retransmitted (Karn, MUST-18).
        Call before `retries` is reset. If the SYN (or SYN,ACK) timer did expire,
        RFC 6298 (5.7): an RTO below 3 s is re-initialized to 3 s for the data."""
        if self.rtt_seq is not None and self.retries == 0:
            self.rtt.sample(now - self.rtt_time)
            self.tlp_rtt_ok = True
        elif self.retries and self.rtt.srtt is None and self.rtt.rto < 3.0:
            self.rtt.rto = min(3.0, self.rtt.rto_max)
        self.rtt.backoff = 0
        self.rtt_seq = None

    def _ts_now(self, now: float) -> int:
        """Our TSval clock: 1 ms ticks plus a per-connection offset (RFC 7323 §5.4)."""
        return (int(now * 1000) + self.ts_offset) & MASK

    # ------------------------------------------------------------ endings
    def _event(self, kind: str, detail=None) -> None:
        self.host.events.append(ev.Event(kind, self, detail))

    def _emit_rst_for(self, now: float, seg: Segment) -> None:
        """RFC 9293 §3.10.7.3: <SEQ=SEG.ACK><CTL=RST> for an unacceptable ACK."""
        self.host.outbox.append((self.local_ip, self.remote_ip,
                                 Segment(self.local_port, self.remote_port, seg.ack, 0, RST, 0)))

    def _return_to_listen(self, now: float) -> None:
        """MUST-11: a passive SYN-RECEIVED connection goes back to LISTEN."""
        self._set_state(now, LISTEN, "rcv RST (passive open)")
        self._clear_timers()
        self.host._forget(self)
        if self.listener is not None:
            self.listener.half_open_gone(self)

    def _enter_time_wait(self, now: float, cause: str, send_ack: bool = True) -> None:
        """TIME-WAIT for 2*MSL (MUST-13): hand the 4-tuple to a light table entry.
        `send_ack`: acknowledge the peer's FIN that brought us here."""
        self._set_state(now, TIME_WAIT, cause)
        self._clear_timers()
        self.sndq.clear()
        if send_ack:
            self._send_ack(now)
        self.ack_now = False
        self.delack_segs = 0
        self.host._enter_time_wait(now, self)

    def _terminate(self, now: float, cause: str, error: str | None) -> None:
        """Enter CLOSED, delete the TCB; tell the user why (MUST-12)."""
        if error is not None and not self.error:
            self.error = error
            self._event(ev.ERROR, error)
        self._clear_timers()
        self.sndq.clear()
        if self.state is SYN_RECEIVED and self.passive and self.listener is not None:
            self.listener.half_open_gone(self)
        if self.state is not CLOSED:
            self._set_state(now, CLOSED, cause)
        self._event(ev.CLOSED, cause)
        self.host._forget(self)

    def _clear_timers(self) -> None:
        self.t_rexmt = self.t_delack = self.t_persist = self.t_keep = self.t_fin2 = None
        self.t_pto = self.t_reo = None
        self.deadline = NEVER
