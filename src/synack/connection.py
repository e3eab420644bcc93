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

from . import events as ev
from .config import Config
from .congestion import create as create_cc
from .rtt import RttEstimator
from .segment import ACK, FIN, NO_OPTIONS, PSH, RST, SYN, URG, Options, Segment
from .seq import HALF, MASK
from .states import (CAN_RECEIVE, CAN_SEND, CLOSE_WAIT, CLOSED, CLOSING, ESTABLISHED,
                     FIN_WAIT_1, FIN_WAIT_2, LAST_ACK, LISTEN, SYN_RECEIVED, SYN_SENT,
                     TIME_WAIT, TRANSITIONS, IllegalTransition, State)

_TS_OPTION_LEN = 12        # NOP, NOP, kind 8 len 10 (RFC 7323 Appendix A layout)
_MAX_WINDOW_FIELD = 0xFFFF
_PAWS_IDLE = 24 * 86400.0  # RFC 7323 §5.5: TS.Recent is invalid after 24 days idle
_ERRORS = {
    "ECONNRESET": ConnectionResetError,
    "ECONNREFUSED": ConnectionRefusedError,
    "ETIMEDOUT": TimeoutError,
    "ECONNABORTED": ConnectionAbortedError,
}


def _lt(a: int, b: int) -> bool:
    return 0 < ((b - a) & MASK) < HALF


def _le(a: int, b: int) -> bool:
    return ((b - a) & MASK) < HALF


def os_error(name: str, text: str | None = None) -> OSError:
    """The exception a `socket` user expects for an errno name."""
    code = getattr(_errno, name)
    cls = _ERRORS.get(name, OSError)
    import os
    return cls(code, text or os.strerror(code))


class Connection:
    """The TCB (RFC 9293 §3.3.1) and everything done to it."""

    __slots__ = (
        "host", "cfg", "key", "local_ip", "local_port", "remote_ip", "remote_port", "name",
        "state", "passive", "listener", "ipv6",
        # send sequence space (RFC 9293 §3.3.1, Figure 4)
        "iss", "snd_una", "snd_nxt", "snd_wnd", "snd_wl1", "snd_wl2", "max_snd_wnd", "snd_up",
        # receive sequence space (Figure 5)
        "irs", "rcv_nxt", "rcv_adv", "rcv_up",
        # options negotiated on the SYNs
        "snd_mss", "peer_mss", "rcv_mss", "snd_wscale", "rcv_wscale", "ts_ok", "ts_recent",
        "ts_recent_time", "ts_offset", "last_ack_sent", "sack_ok",
        # buffers
        "sndq", "sndq_seq", "rcvq", "ooo", "ooo_bytes", "rcvbuf", "sndbuf",
        "fin_queued", "fin_sent", "fin_seq", "peer_fin_seq",
        # app-facing flags
        "rd_shut", "wr_shut", "orphan", "linger", "nodelay", "eof", "error", "urgent_pending",
        # retransmission and congestion
        "rtt", "cc", "retries", "rtt_seq", "rtt_time", "rtx_nxt", "dupacks", "recover",
        "progress_time", "last_send_time", "syn_opts", "syn_acked",
        # ACK policy
        "ack_now", "delack_segs", "quickack",
        # timers: absolute deadlines or None, and the earliest of them
        "t_rexmt", "t_delack", "t_persist", "t_keep", "t_fin2", "persist_backoff",
        "keep_probes", "deadline", "transitions", "__weakref__",
    )

    def __init__(self, host, cfg: Config, local_ip: str, local_port: int,
                 remote_ip: str, remote_port: int):
        self.host = host
        self.cfg = cfg
        self.local_ip, self.local_port = local_ip, local_port
        self.remote_ip, self.remote_port = remote_ip, remote_port
        self.key = (local_ip, local_port, remote_ip, remote_port)
        self.name = f"{local_ip}:{local_port}>{remote_ip}:{remote_port}"
        self.ipv6 = ":" in local_ip
        self.state = CLOSED
        self.passive = False
        self.listener = None
        self.iss = self.snd_una = self.snd_nxt = 0
        self.snd_wnd = self.snd_wl1 = self.snd_wl2 = self.max_snd_wnd = self.snd_up = 0
        self.irs = self.rcv_nxt = self.rcv_adv = self.rcv_up = 0
        self.rcv_mss = cfg.announced_mss(self.ipv6)
        self.peer_mss = 1220 if self.ipv6 else 536          # MUST-15 default
        self.snd_mss = self.peer_mss
        self.snd_wscale = self.rcv_wscale = 0
        self.ts_ok = self.sack_ok = False
        self.ts_recent = 0
        self.ts_recent_time = 0.0
        self.ts_offset = 0
        self.last_ack_sent = 0
        self.sndq = bytearray()
        self.sndq_seq = 0
        self.rcvq = bytearray()
        self.ooo: list[list] = []          # [[seq, bytes], ...] sorted, disjoint
        self.ooo_bytes = 0
        self.rcvbuf = cfg.rcvbuf
        self.sndbuf = cfg.sndbuf
        self.fin_queued = self.fin_sent = False
        self.fin_seq = 0
        self.peer_fin_seq = None
        self.rd_shut = self.wr_shut = self.orphan = False
        self.linger = None
        self.nodelay = not cfg.nagle
        self.eof = False
        self.error: str | None = None
        self.urgent_pending = 0
        self.rtt = RttEstimator(cfg.rto_initial, cfg.rto_min, cfg.rto_max)
        self.cc = None
        self.retries = 0
        self.rtt_seq = None
        self.rtt_time = 0.0
        self.rtx_nxt = None
        self.dupacks = 0
        self.recover = 0
        self.progress_time = 0.0
        self.last_send_time = 0.0
        self.syn_opts = NO_OPTIONS
        self.syn_acked = False             # our SYN has been acknowledged
        self.ack_now = False
        self.delack_segs = 0
        self.quickack = 0
        self.t_rexmt = self.t_delack = self.t_persist = self.t_keep = self.t_fin2 = None
        self.persist_backoff = 0
        self.keep_probes = 0
        self.deadline = None
        self.transitions: list | None = None

    def __repr__(self) -> str:
        return f"<Connection {self.name} {self.state}>"

    # ------------------------------------------------------------------ states
    def _set_state(self, new: State, cause: str, now: float) -> None:
        """The one place a state changes: checked against TRANSITIONS, recorded."""
        old = self.state
        if (old, new) not in TRANSITIONS:
            raise IllegalTransition(f"{self.name}: {old} -> {new} ({cause}) is not an RFC 9293 transition")
        self.state = new
        if self.transitions is not None:
            self.transitions.append((now, old, new, cause))
        self.host._state_changed(self, old, new, cause, now)

    # ------------------------------------------------------------ user calls
    def open_active(self, now: float, iss: int) -> None:
        """OPEN call, active (RFC 9293 §3.10.1): send SYN, enter SYN-SENT."""
        self.iss = iss
        self.snd_una = iss
        self.snd_nxt = (iss + 1) & MASK
        self.sndq_seq = self.snd_nxt
        self.rcv_wscale = self._wanted_wscale()
        self._init_cc()
        self._set_state(SYN_SENT, "active OPEN / snd SYN", now)
        self._send_syn(now)
        self.t_rexmt = now + self.rtt.current()
        self.progress_time = now
        self._update_deadline()

    def send(self, data, now: float) -> int:
        """SEND call (§3.10.2): queue what fits in the send buffer; return its size."""
        st = self.state
        if self.error:
            raise os_error(self.error)
        if self.wr_shut or st not in CAN_SEND:
            if st is CLOSED or st is LISTEN:
                raise os_error("ENOTCONN")
            raise os_error("EPIPE")
        room = self.sndbuf - len(self.sndq)
        if room <= 0 or not data:
            return 0
        n = len(data) if len(data) <= room else room
        self.sndq += data[:n] if n < len(data) else data
        if st is ESTABLISHED or st is CLOSE_WAIT:
            self._output(now)
            self._update_deadline()
        return n

    def recv(self, n: int, now: float) -> bytes:
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

    def shutdown(self, how: str, now: float) -> None:
        """shutdown(2): "rd", "wr" or "rdwr". SHUT_WR queues our FIN (half-close)."""
        if self.state in (CLOSED, LISTEN, SYN_SENT) and not self.error:
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
        if self.cfg.abort_on_unread_close and (self.rcvq or self.ooo) and st is not TIME_WAIT:
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
            self._emit(RST | ACK, self.snd_nxt, self.rcv_nxt, now)
        self.sndq.clear()
        self.rcvq.clear()
        self.orphan = True
        if st is not CLOSED and st is not LISTEN:
            self._terminate(now, "ABORT / snd RST", error=None)

    # ------------------------------------------------------------ properties
    def set_keepalive(self, on: bool, now: float) -> None:
        """SO_KEEPALIVE (MUST-24): switch keep-alives on or off for this connection."""
        self.cfg = self.cfg.replace(keepalive=on)
        self.keep_probes = 0
        self.t_keep = now + self.cfg.keepalive_idle if on and self.state in (ESTABLISHED, CLOSE_WAIT) else None
        self._update_deadline()

    @property
    def readable(self) -> int:
        """Bytes ready for recv()."""
        return len(self.rcvq)

    @property
    def send_space(self) -> int:
        return max(0, self.sndbuf - len(self.sndq))

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
                    self._emit_rst_for(seg, now)
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
        self.last_ack_sent = self.rcv_nxt
        self._take_syn_options(seg, now)
        if ack_ok:
            self.snd_una = seg.ack
            self.rtt_sample_syn(now)
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
            self._set_state(ESTABLISHED, "rcv SYN,ACK / snd ACK", now)
            self._event(ev.CONNECTED)
            self.ack_now = True
            if seg.payload or flags & (FIN | URG):
                # continue at the sixth step of §3.10.7.4 with the SYN trimmed off
                self._rcv_text_and_fin(now, (seg.seq + 1) & MASK, seg.payload, flags, seg)
        else:
            # simultaneous open (MUST-10): SYN-RECEIVED, send <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>
            self.passive = False
            self._set_state(SYN_RECEIVED, "rcv SYN (simultaneous open) / snd SYN,ACK", now)
            self._send_syn(now)
            self.t_rexmt = now + self.rtt.current()

    def _rcv_synchronized(self, now: float, seg: Segment) -> None:
        """RFC 9293 §3.10.7.4, for SYN-RECEIVED and every synchronized state."""
        flags = seg.flags
        seq = seg.seq
        payload = seg.payload
        opts = seg.options
        st = self.state

        # RFC 7323 §5.3 PAWS, before the sequence-number check: R1) a segment
        # whose TSval is older than TS.Recent is a duplicate: ACK it, drop it.
        ts = opts.timestamp if self.ts_ok else None
        if ts is not None and not flags & RST and st is not SYN_RECEIVED:
            if ((self.ts_recent - ts[0]) & MASK) and ((ts[0] - self.ts_recent) & 0x80000000):
                if now - self.ts_recent_time <= _PAWS_IDLE:
                    self.host.count("drop_paws")
                    self._send_ack(now)
                    return
                self.ts_recent_time = now     # §5.5: an idle connection takes it anyway

        if st is SYN_RECEIVED and flags & SYN and flags & ACK and seq == self.irs:
            # Simultaneous open (RFC 9293 §3.5 Figure 8, line 6): the peer's SYN,ACK
            # repeats a SYN we already hold. Only the new part is processed
            # (§3.10.7.4: trim what lies before RCV.NXT, the SYN included), so its
            # ACK completes the handshake instead of failing the Table 6 test.
            flags &= ~SYN
            seq = (seq + 1) & MASK

        # First, check the sequence number (Table 6).
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
            zero_window_allowance = wnd == 0 and seq == rcv_nxt and not flags & SYN
            if flags & RST and not zero_window_allowance:
                self.host.count("drop_rst_out_of_window")
                return
            if st is SYN_RECEIVED and flags & SYN and seq == self.irs and not flags & ACK:
                # A retransmitted SYN: our SYN,ACK was lost, so send it again
                # (Linux does the same; the RFC's plain ACK would not help the peer).
                self.host.count("syn_retransmit_seen")
                self._send_syn(now)
                return
            # Zero window: "special allowance should be made to accept valid
            # ACKs, URGs, and RSTs" (MUST-66) -- a probe at RCV.NXT still carries
            # an ACK, and a RST there resets even if it carries data (SHLD-2).
            if zero_window_allowance and flags & (ACK | RST):
                self.host.count("zero_window_probe_seen")
                payload = b""
                flags &= ~(FIN | PSH)
                plen = slen = 0
                if not flags & RST:
                    self.ack_now = True
            else:
                self.host.count("drop_unacceptable_seq")
                self._send_ack(now)
                return
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
                payload = payload[before:]
                seq = (seq + before) & MASK
                plen = len(payload)
                self.ack_now = True               # a duplicate: ACK at once
            room = (rcv_nxt + wnd - seq) & MASK
            if plen > room:                       # past the right edge: drop the tail
                payload = payload[:room]
                plen = room
                flags &= ~FIN
                self.ack_now = True

        # Second, check the RST bit (RFC 5961 §3 checks).
        if flags & RST:
            if seg.seq != rcv_nxt and self.cfg.rfc5961:
                self._challenge_ack(now)
                return
            if st is SYN_RECEIVED:
                if self.passive:
                    self._return_to_listen(now)
                else:
                    self._terminate(now, "rcv RST (active open)", error="ECONNREFUSED")
            elif st in (ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2, CLOSE_WAIT):
                self._terminate(now, "rcv RST", error="ECONNRESET")
            else:                                 # CLOSING, LAST-ACK
                self._terminate(now, "rcv RST", error=None)
            return

        # Fourth, check the SYN bit (third, security, does not apply).
        if flags & SYN:
            if st is SYN_RECEIVED and self.passive:
                # §3.10.7.4: return this connection to LISTEN
                self._return_to_listen(now)
                return
            if self.cfg.rfc5961:
                self._challenge_ack(now)          # RFC 5961 §4
            else:
                self._emit(RST, self.snd_nxt, 0, now)
                self._terminate(now, "rcv SYN in window", error="ECONNRESET")
            return

        # Fifth, check the ACK field.
        if not flags & ACK:
            self.host.count("drop_no_ack")
            return
        if ts is not None and _le(seq, self.last_ack_sent):
            # RFC 7323 §4.3: update TS.Recent from in-sequence segments
            if ((ts[0] - self.ts_recent) & MASK) < HALF:
                self.ts_recent = ts[0]
                self.ts_recent_time = now
        a = seg.ack
        if st is SYN_RECEIVED:
            if _lt(self.snd_una, a) and _le(a, self.snd_nxt):
                if self.passive and self.listener is not None and not self.listener.can_accept():
                    # Accept queue full: like Linux, ignore the ACK; the half-open
                    # entry stays and its SYN,ACK timer keeps running.
                    self.host.count("listen_overflow")
                    self.listener.stats_overflow += 1
                    return
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
                self._set_state(ESTABLISHED, "rcv ACK of SYN", now)
                self._event(ev.CONNECTED)
                if self.passive and self.listener is not None:
                    self.listener.established(self)
                st = ESTABLISHED
            else:
                self.host.count("drop_bad_ack_syn_received")
                self._emit(RST, a, 0, now)
                return
        else:
            # RFC 5961 §5: (SND.UNA - MAX.SND.WND) =< SEG.ACK =< SND.NXT
            if _lt(self.snd_nxt, a):
                self.host.count("drop_ack_too_new")
                self._send_ack(now)
                return
            if self.cfg.rfc5961 and _lt(a, (self.snd_una - self.max_snd_wnd) & MASK):
                self.host.count("drop_ack_too_old")
                self._send_ack(now)
                return
            # a FIN next in sequence: FIN-WAIT-1 may go straight to TIME-WAIT (eighth step)
            fin_next = bool(flags & FIN) and seq == rcv_nxt
            self._process_ack(now, seg, a, seq, ts, plen, fin_next)
            if self.state is CLOSED:
                return
            st = self.state
            if st is CLOSING:
                if self._fin_acked():
                    # the peer's FIN was ACKed on the way into CLOSING: nothing to send
                    self._enter_time_wait(now, "rcv ACK of FIN", send_ack=self.ack_now)
                return
            if st is LAST_ACK:
                if self._fin_acked():
                    self._terminate(now, "rcv ACK of FIN", error=None)
                return
        self._rcv_text_and_fin(now, seq, payload, flags, seg)

    def _rcv_text_and_fin(self, now: float, seq: int, payload: bytes, flags: int, seg: Segment) -> None:
        """Sixth (URG), seventh (text) and eighth (FIN) steps of §3.10.7.4."""
        st = self.state
        # Sixth, check the URG bit (MUST-30..33): remember the urgent pointer.
        if flags & URG and st in CAN_RECEIVE:
            up = (seq + seg.urgent) & MASK
            if _lt(self.rcv_up, up) or self.urgent_pending == 0:
                self.rcv_up = up
                pending = (up - self.rcv_nxt) & MASK
                if pending < HALF and pending > 0:
                    self.urgent_pending = pending
                    self._event(ev.URGENT, pending)
        # Seventh, process the segment text.
        if payload and st in CAN_RECEIVE:
            if self.orphan:
                # Data after close(): nobody will read it. Linux resets (tcp_rcv_state_process).
                self.host.count("data_after_close")
                self._emit(RST, self.snd_nxt, 0, now)
                self._terminate(now, "ABORT / snd RST", error=None)
                return
            if seq == self.rcv_nxt:
                self._rcv_in_order(now, payload, flags)
            else:
                self._rcv_out_of_order(seq, payload, flags)
        elif payload:
            self.host.count("data_after_fin")
        # Eighth, check the FIN bit.
        if flags & FIN:
            fin_seq = (seq + len(payload)) & MASK
            if fin_seq == self.rcv_nxt:
                self._rcv_fin(now)
            elif self.peer_fin_seq is None:
                self.peer_fin_seq = fin_seq       # FIN beyond a hole: wait for the data
                self.ack_now = True

    def _rcv_in_order(self, now: float, payload: bytes, flags: int) -> None:
        self.rcvq += payload
        self.rcv_nxt = (self.rcv_nxt + len(payload)) & MASK
        if self.ooo:
            self._drain_ooo()
            self.ack_now = True                    # a hole was filled: ACK at once
        self._event(ev.READABLE)                   # before EOF: the data comes first
        if self.peer_fin_seq is not None and self.peer_fin_seq == self.rcv_nxt:
            self.peer_fin_seq = None
            self._rcv_fin(now)
        if self.urgent_pending:
            self.urgent_pending = max(0, (self.rcv_up - self.rcv_nxt) & MASK if _lt(self.rcv_nxt, self.rcv_up) else 0)
        # Delayed ACK (RFC 9293 §3.8.6.3, RFC 1122 §4.2.3.2): ACK at least every
        # second full-sized segment (MUST-58); otherwise wait, at most 500 ms (MUST-40).
        self.delack_segs += 1
        if not self.cfg.delayed_ack or self.quickack > 0 or self.delack_segs >= 2:
            self.ack_now = True
            if self.quickack > 0:
                self.quickack -= 1

    def _rcv_out_of_order(self, seq: int, payload: bytes, flags: int) -> None:
        """Hold a segment that starts past RCV.NXT (SHLD-31); ACK at once."""
        self.ack_now = True
        self.host.count("ooo_segments")
        end = (seq + len(payload)) & MASK
        ooo = self.ooo
        # insert, merging overlaps (sequence arithmetic relative to RCV.NXT)
        base = self.rcv_nxt
        s_off = (seq - base) & MASK
        e_off = (end - base) & MASK
        merged = []
        placed = False
        for blk in ooo:
            b_off = (blk[0] - base) & MASK
            b_end = b_off + len(blk[1])
            if b_end < s_off or e_off < b_off:
                if not placed and e_off < b_off:
                    merged.append([s_off, payload])
                    placed = True
                merged.append([b_off, blk[1]])
                continue
            # overlap or adjacent: union
            lo = min(b_off, s_off)
            buf = bytearray(max(b_end, e_off) - lo)
            buf[b_off - lo:b_end - lo] = blk[1]
            buf[s_off - lo:e_off - lo] = payload
            s_off, e_off, payload = lo, lo + len(buf), bytes(buf)
        if not placed:
            merged.append([s_off, payload])
        merged.sort(key=lambda b: b[0])
        self.ooo = [[(base + o) & MASK, d] for o, d in merged]
        self.ooo_bytes = sum(len(d) for _, d in self.ooo)

    def _drain_ooo(self) -> None:
        ooo = self.ooo
        while ooo:
            s, data = ooo[0]
            off = (self.rcv_nxt - s) & MASK
            if off >= HALF:            # still a hole before this block
                break
            ooo.pop(0)
            self.ooo_bytes -= len(data)
            if off < len(data):
                chunk = data[off:]
                self.rcvq += chunk
                self.rcv_nxt = (self.rcv_nxt + len(chunk)) & MASK

    def _rcv_fin(self, now: float) -> None:
        """Eighth step: the peer's FIN, in sequence."""
        self.rcv_nxt = (self.rcv_nxt + 1) & MASK
        self.ack_now = True
        if not self.eof:
            self.eof = True
            self._event(ev.EOF)
        st = self.state
        if st is ESTABLISHED or st is SYN_RECEIVED:
            self._set_state(CLOSE_WAIT, "rcv FIN / snd ACK", now)
        elif st is FIN_WAIT_1:
            if self._fin_acked():
                self._enter_time_wait(now, "rcv FIN,ACK of FIN / snd ACK")
            else:
                self._set_state(CLOSING, "rcv FIN / snd ACK", now)
        elif st is FIN_WAIT_2:
            self._enter_time_wait(now, "rcv FIN / snd ACK")

    # ------------------------------------------------------------ ACK processing
    def _process_ack(self, now: float, seg: Segment, a: int, seq: int, ts, plen: int,
                     fin_next: bool = False) -> None:
        """Fifth step for synchronized states: SND.UNA, the send window, RTT, loss."""
        una = self.snd_una
        acked = (a - una) & MASK
        if acked and acked < HALF:
            self._ack_advance(now, a, acked, ts)
            self.dupacks = 0
        elif (acked == 0 and plen == 0 and not seg.flags & (SYN | FIN)
              and self.snd_nxt != una and (seg.window << self.snd_wscale) == self.snd_wnd
              and self.t_rexmt is not None):
            # RFC 5681 §2: a duplicate ACK (no data, no window change, data
            # outstanding under the retransmission timer: answers to zero-window
            # probes are not duplicate ACKs, as in BSD)
            self._dupack(now)
        # Window update (SND.WL1/SND.WL2 rule of §3.10.7.4)
        if _lt(self.snd_wl1, seq) or (self.snd_wl1 == seq and _le(self.snd_wl2, a)):
            wnd = seg.window << self.snd_wscale
            self.snd_wnd = wnd
            self.snd_wl1 = seq
            self.snd_wl2 = a
            if wnd > self.max_snd_wnd:
                self.max_snd_wnd = wnd
            if wnd and self.t_persist is not None:
                self.t_persist = None          # the window opened: stop probing
                self.persist_backoff = 0
                if self.snd_nxt != self.snd_una and self.t_rexmt is None:
                    # The probe octet was not taken: resend from SND.UNA now
                    # rather than leave a hole until the RTO; it is data in
                    # flight under the retransmission timer from here on.
                    self.rtx_nxt = self.snd_una
                    self.t_rexmt = self._rto_deadline(now)
            elif not wnd:
                # The peer answers, with a zero window: retransmissions into a
                # zero window are probes, and while they are answered the
                # connection stays open (MUST-37, SHLD-17); R2 counts silence only.
                self.retries = 0
        if self.state is FIN_WAIT_1 and self._fin_acked() and not fin_next:
            # (with the peer's FIN in this segment, the eighth step of §3.10.7.4
            # takes FIN-WAIT-1 straight to TIME-WAIT: "our FIN has been ACKed
            # (perhaps in this segment)")
            self._set_state(FIN_WAIT_2, "rcv ACK of FIN", now)
            if self.orphan and self.cfg.fin_wait_2_timeout is not None:
                self.t_fin2 = now + self.cfg.fin_wait_2_timeout

    def _ack_advance(self, now: float, a: int, acked: int, ts) -> None:
        """New data acknowledged: SND.UNA moves, the send buffer shrinks."""
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
        if ts is not None and ts[1]:
            r = (self._ts_now(now) - ts[1]) & MASK
            if r < HALF:
                self.rtt.sample(r / 1000.0)
        elif self.rtt_seq is not None and _le(self.rtt_seq, a):
            self.rtt.sample(now - self.rtt_time)
            self.rtt_seq = None
        # No `backoff = 0` here: RFC 6298 §5 keeps the backed-off RTO until a
        # new RTT sample (which `rtt.sample` takes care of) collapses it.
        cc = self.cc
        flight = (self.snd_nxt - a) & MASK
        if cc.in_recovery:
            if _le(self.recover, a):
                cc.on_recovery_exit(now)       # RFC 6582 §3.2 step 3: full ACK
                self.rtx_nxt = None
            else:
                # RFC 6582 partial ACK: retransmit the next hole, deflate cwnd
                self._retransmit_head(now)
                cc.cwnd = max(cc.cwnd - acked + self.snd_mss, self.snd_mss)
        else:
            cc.on_ack(acked, flight, now)
        if self.rtx_nxt is not None and _lt(self.rtx_nxt, a):
            self.rtx_nxt = a
        if self.rtx_nxt is not None and self.rtx_nxt == self.snd_nxt:
            self.rtx_nxt = None
        # RFC 6298 §5.2/5.3: stop the timer when all is acked, else restart it
        self.t_rexmt = None if a == self.snd_nxt else self._rto_deadline(now)
        if data_acked:
            self._event(ev.WRITABLE)

    def _dupack(self, now: float) -> None:
        """RFC 5681 §3.2 fast retransmit; RFC 6582 NewReno fast recovery."""
        self.dupacks += 1
        cc = self.cc
        if cc.in_recovery:
            cc.cwnd += self.snd_mss                # step 4: inflate
        elif self.dupacks == 3 and _lt(self.recover, self.snd_una):
            # RFC 6582 §3.2 step 2: only if the ACK covers more than `recover`
            self.host.count("fast_retransmits")
            self.recover = self.snd_nxt
            cc.on_loss((self.snd_nxt - self.snd_una) & MASK, now)
            self.rtt_seq = None
            self._retransmit_head(now)
            self.t_rexmt = now + self.rtt.current()

    def _fin_acked(self) -> bool:
        return self.fin_sent and self.snd_una == ((self.fin_seq + 1) & MASK)

    # --------------------------------------------------------------- timers
    def on_timer(self, now: float) -> None:
        """Fire whichever timers are due (RFC 9293 §3.10.8)."""
        if self.t_rexmt is not None and now >= self.t_rexmt:
            self.t_rexmt = None
            self._on_rto(now)
            if self.state is CLOSED:
                self._update_deadline()
                return
        if self.t_delack is not None and now >= self.t_delack:
            self.t_delack = None
            self.host._timer_fired(self, "delayed ACK", now)
            self.ack_now = True
        if self.t_persist is not None and now >= self.t_persist:
            self.t_persist = None
            self._on_persist(now)
        if self.t_keep is not None and now >= self.t_keep:
            self.t_keep = None
            self._on_keepalive(now)
            if self.state is CLOSED:
                self._update_deadline()
                return
        if self.t_fin2 is not None and now >= self.t_fin2:
            self.t_fin2 = None
            if self.state is FIN_WAIT_2:
                self.host._timer_fired(self, "FIN_WAIT_2", now)
                self._terminate(now, "FIN-WAIT-2 timeout", error=None)
                self._update_deadline()
                return
        if self.state is not CLOSED:
            self._output(now)
        self._update_deadline()

    def _on_rto(self, now: float) -> None:
        """RETRANSMISSION TIMEOUT: resend the head, back off (RFC 6298 §5.4-5.6)."""
        self.host._timer_fired(self, "RTO", now)
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
            self.cc.on_timeout(flight, now)
            self.recover = self.snd_nxt
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
        window, backing off like the RTO; the connection never gives up on it.

        The probe octet is really sent: SND.NXT moves over it, so the ACK of a
        receiver that has reopened its window and taken the octet is acceptable.
        Until then the persist timer (not the retransmission timer, which would
        count towards R2) resends it."""
        self.host._timer_fired(self, "persist", now)
        if self.snd_wnd != 0 or self.t_rexmt is not None:
            return
        una, nxt = self.snd_una, self.snd_nxt
        outstanding = (nxt - una) & MASK
        if outstanding == 0:
            off = (nxt - self.sndq_seq) & MASK
            if off < len(self.sndq):
                self._emit(ACK, nxt, self.rcv_nxt, now, bytes(self.sndq[off:off + 1]))
                self.snd_nxt = (nxt + 1) & MASK
            else:
                self._emit(ACK, (nxt - 1) & MASK, self.rcv_nxt, now)
        elif outstanding == 1:
            self._send_from(una, now, 1, retransmit=False)   # the probe octet again
        else:
            return
        self.persist_backoff += 1
        self.t_persist = now + min(self.rtt.rto * (1 << min(self.persist_backoff, 10)), self.cfg.rto_max)

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
            self.host._timer_fired(self, "keepalive", now)
            self._emit(ACK, (self.snd_nxt - 1) & MASK, self.rcv_nxt, now)
            self.keep_probes += 1
            self.t_keep = now + cfg.keepalive_interval
        else:
            self.t_keep = now + cfg.keepalive_idle

    def _update_deadline(self) -> None:
        d = None
        for t in (self.t_rexmt, self.t_delack, self.t_persist, self.t_keep, self.t_fin2):
            if t is not None and (d is None or t < d):
                d = t
        if d != self.deadline:
            self.deadline = d
            if d is not None:
                self.host._schedule(self, d)

    # ---------------------------------------------------------------- output
    def _output(self, now: float) -> None:
        """Send what is due: new data within min(SND.WND, cwnd), our FIN, an ACK."""
        st = self.state
        sent = False
        if st is ESTABLISHED or st is CLOSE_WAIT or st is FIN_WAIT_1 or st is CLOSING or st is LAST_ACK:
            if self.rtx_nxt is not None:
                sent = self._output_retransmissions(now)
            sent = self._output_data(now) or sent
        if self.ack_now and not sent:
            if st is not CLOSED and st is not SYN_SENT and st is not LISTEN:
                self._send_ack(now)
        elif not sent and self.delack_segs and self.t_delack is None and st is not CLOSED:
            timeout = self.cfg.delayed_ack_min or self.cfg.delayed_ack_timeout
            self.t_delack = now + timeout

    def _output_retransmissions(self, now: float) -> bool:
        """After an RTO: resend what was outstanding, as cwnd allows (go-back-N)."""
        sent = False
        mss = self.snd_mss
        while self.rtx_nxt is not None:
            r = self.rtx_nxt
            if not _lt(r, self.snd_nxt):
                self.rtx_nxt = None
                break
            pipe = (r - self.snd_una) & MASK
            if pipe + mss > self.cc.cwnd and pipe:
                break
            n = self._send_from(r, now, mss, retransmit=True)
            if n == 0:
                self.rtx_nxt = None
                break
            self.rtx_nxt = (r + n) & MASK
            sent = True
        return sent

    def _output_data(self, now: float) -> bool:
        sent = False
        mss = self.snd_mss
        q = self.sndq
        while True:
            una = self.snd_una
            nxt = self.snd_nxt
            off = (nxt - self.sndq_seq) & MASK
            avail = len(q) - off
            flight = (nxt - una) & MASK
            if avail <= 0:
                if self.fin_queued and not self.fin_sent:
                    # FIN needs no window; it goes once all data has been sent
                    self._send_fin_segment(now)
                    sent = True
                break
            wnd = self.snd_wnd if self.snd_wnd < self.cc.cwnd else self.cc.cwnd
            usable = wnd - flight
            if usable <= 0:
                if self.snd_wnd == 0 and flight == 0 and self.t_persist is None:
                    self.t_persist = now + self.rtt.current()   # start the persist timer
                break
            n = avail if avail < mss else mss
            if n > usable:
                n = usable
            if n < mss and flight:
                if n < avail:
                    # RFC 9293 §3.8.6.2.1 sender SWS avoidance: a window-limited
                    # partial segment waits unless it is half the largest window.
                    if n < (self.max_snd_wnd >> 1):
                        break
                elif not self.nodelay and not self.fin_queued:
                    break                          # Nagle (RFC 896, §3.7.4); FIN pushes
            fin = self.fin_queued and n == avail
            self._send_data(nxt, off, n, now, fin)
            sent = True
        return sent

    def _send_data(self, seq: int, off: int, n: int, now: float, fin: bool) -> None:
        flags = ACK | PSH if off + n == len(self.sndq) else ACK   # PSH on the last segment (MUST-61)
        if fin:
            flags |= FIN
        if self.snd_nxt == self.snd_una:
            self.progress_time = now
        self._emit(flags, seq, self.rcv_nxt, now, bytes(self.sndq[off:off + n]))
        new_nxt = (seq + n + (1 if fin else 0)) & MASK
        if fin:
            self.fin_sent = True
            self.fin_seq = (seq + n) & MASK
        self.snd_nxt = new_nxt
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
        self._emit(FIN | ACK, seq, self.rcv_nxt, now)
        self.fin_sent = True
        self.fin_seq = seq
        self.snd_nxt = (seq + 1) & MASK
        if self.t_rexmt is None:
            self.t_rexmt = self._rto_deadline(now)

    def _send_from(self, seq: int, now: float, limit: int, retransmit: bool) -> int:
        """(Re)send up to `limit` octets starting at `seq`; return the sequence space used.
        Only octets already sent (below SND.NXT) go out: new data beyond them is
        _output_data's, within the window (RFC 9293 §3.8.6, SHLD-15)."""
        off = (seq - self.sndq_seq) & MASK
        q = self.sndq
        sent_end = self.fin_seq if self.fin_sent else self.snd_nxt
        sent = (sent_end - seq) & MASK
        if off < len(q) and 0 < sent < HALF:
            n = min(limit, len(q) - off, sent)
            end = (seq + n) & MASK
            fin = self.fin_sent and end == self.fin_seq
            flags = ACK | (FIN if fin else 0) | (PSH if off + n == len(q) else 0)
            self._emit(flags, seq, self.rcv_nxt, now, bytes(q[off:off + n]))
            if retransmit:
                self.host.count("retransmits")
            return n + (1 if fin else 0)
        if self.fin_sent and seq == self.fin_seq:
            self._emit(FIN | ACK, seq, self.rcv_nxt, now)
            if retransmit:
                self.host.count("retransmits")
            return 1
        return 0

    def _retransmit_head(self, now: float) -> None:
        n = self._send_from(self.snd_una, now, self.snd_mss, retransmit=True)
        if self.rtx_nxt is not None and n:
            self.rtx_nxt = (self.snd_una + n) & MASK

    def _queue_fin(self, now: float) -> None:
        """CLOSE / SHUT_WR: FIN after all queued data (§3.10.4); state changes now."""
        st = self.state
        self.fin_queued = True
        if st is ESTABLISHED or st is SYN_RECEIVED:
            self._set_state(FIN_WAIT_1, "CLOSE / snd FIN", now)
        elif st is CLOSE_WAIT:
            self._set_state(LAST_ACK, "CLOSE / snd FIN", now)
        if self.state is not SYN_RECEIVED:
            self._output(now)

    def _send_ack(self, now: float) -> None:
        """<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>"""
        self._emit(ACK, self.snd_nxt, self.rcv_nxt, now)

    def _challenge_ack(self, now: float) -> None:
        """RFC 5961 §3.2/§4.2 challenge ACK, rate-limited host-wide (§7)."""
        if self.host.challenge_ack_allowed(now, self.cfg.challenge_ack_limit):
            self.host.count("challenge_acks")
            self._send_ack(now)
        else:
            self.host.count("challenge_acks_suppressed")

    def _emit(self, flags: int, seq: int, ack: int, now: float, payload: bytes = b"") -> None:
        """Build one segment with the window and options due, and queue it."""
        if flags & ACK:
            win = self._window_to_advertise()
            self.last_ack_sent = ack
            self.t_delack = None
            self.delack_segs = 0
            self.ack_now = False
        else:
            win = 0 if flags & RST else self._window_to_advertise()
        opts = NO_OPTIONS
        if self.ts_ok and not flags & RST:
            sack = self._sack_blocks() if self.sack_ok and self.ooo else ()
            opts = Options(None, None, False, sack,
                           (self._ts_now(now), self.ts_recent if flags & ACK else 0))
        elif self.sack_ok and self.ooo and not flags & RST:
            opts = Options(None, None, False, self._sack_blocks())
        self.last_send_time = now
        self.host.outbox.append((self.local_ip, self.remote_ip,
                                 Segment(self.local_port, self.remote_port, seq, ack, flags,
                                         win, 0, opts, payload)))

    def _sack_blocks(self) -> tuple:
        """RFC 2018 §4: the most recently changed block first; at most 3 with TS."""
        blocks = [((s), (s + len(d)) & MASK) for s, d in self.ooo]
        return tuple(blocks[-1:] + blocks[:-1])[:3 if self.ts_ok else 4]

    def _window_to_advertise(self) -> int:
        """The window field: free receive-buffer space, scaled, never shrinking the
        right edge (RFC 9293 §3.8.6, RFC 7323 §2.4), with receiver SWS avoidance
        (§3.8.6.2.2: open in steps of min(buffer/2, MSS))."""
        free = self.rcvbuf - len(self.rcvq) - self.ooo_bytes
        if free < 0:
            free = 0
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
        free = self.rcvbuf - len(self.rcvq) - self.ooo_bytes
        step = min(self.rcvbuf >> 1, self.rcv_mss)
        if free - cur >= step and (cur < step or free >= 2 * cur):
            self._send_ack(now)
            self._update_deadline()

    # ------------------------------------------------------- SYN and options
    def _wanted_wscale(self) -> int:
        """RFC 7323 §2.3: the smallest shift that lets the window cover the buffer."""
        if not self.cfg.window_scaling:
            return 0
        biggest = self.cfg.max_rcvbuf or self.rcvbuf
        s = 0
        while (0xFFFF << s) < biggest and s < 14:
            s += 1
        return s

    def _send_syn(self, now: float) -> None:
        """SYN (SYN-SENT) or SYN,ACK (SYN-RECEIVED), with our options."""
        cfg = self.cfg
        active = self.state is SYN_SENT
        # On a SYN,ACK an option is sent only if the peer's SYN carried it.
        peer = self.syn_opts
        ts = None
        if cfg.timestamps and (active or peer.timestamp is not None):
            ts = (self._ts_now(now), 0 if active else self.ts_recent)
        ws = self.rcv_wscale if cfg.window_scaling and (active or peer.wscale is not None) else None
        sackp = cfg.sack and (active or peer.sack_permitted)
        opts = Options(self.rcv_mss, ws, sackp, (), ts)
        win = min(self.rcvbuf, _MAX_WINDOW_FIELD)             # never scaled on a SYN
        self.rcv_adv = (self.rcv_nxt + win) & MASK
        flags = SYN if active else SYN | ACK
        self.last_send_time = now
        if self.rtt_seq is None and self.retries == 0:
            self.rtt_seq = self.snd_nxt
            self.rtt_time = now
        self.host.outbox.append((self.local_ip, self.remote_ip,
                                 Segment(self.local_port, self.remote_port, self.iss,
                                         self.rcv_nxt if not active else 0, flags, win, 0, opts)))
        if not active:
            self.last_ack_sent = self.rcv_nxt

    def _take_syn_options(self, seg: Segment, now: float) -> None:
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
        self._set_mss()

    def _set_mss(self) -> None:
        # MUST-16: effective send MSS = min(peer MSS, what our MTU allows) - option bytes
        mss = min(self.peer_mss, self.cfg.mtu - (60 if self.ipv6 else 40))
        if self.ts_ok:
            mss -= _TS_OPTION_LEN
        self.snd_mss = max(mss, 64)
        if self.cc is not None:
            self.cc.set_mss(self.snd_mss, self.cfg.initial_window)

    def _init_cc(self) -> None:
        self.cc = create_cc(self.cfg.congestion_control, self.snd_mss, self.cfg.initial_window)

    def rtt_sample_syn(self, now: float) -> None:
        """RTT from the handshake, if the SYN was not retransmitted (Karn, MUST-18).
        Call before `retries` is reset. If the SYN (or SYN,ACK) timer did expire,
        RFC 6298 (5.7): an RTO below 3 s is re-initialized to 3 s for the data."""
        if self.rtt_seq is not None and self.retries == 0:
            self.rtt.sample(now - self.rtt_time)
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

    def _emit_rst_for(self, seg: Segment, now: float) -> None:
        """RFC 9293 §3.10.7.3: <SEQ=SEG.ACK><CTL=RST> for an unacceptable ACK."""
        self.host.outbox.append((self.local_ip, self.remote_ip,
                                 Segment(self.local_port, self.remote_port, seg.ack, 0, RST, 0)))

    def _return_to_listen(self, now: float) -> None:
        """MUST-11: a passive SYN-RECEIVED connection goes back to LISTEN."""
        self._set_state(LISTEN, "rcv RST (passive open)", now)
        self._clear_timers()
        self.host._forget(self)
        if self.listener is not None:
            self.listener.half_open_gone(self)

    def _enter_time_wait(self, now: float, cause: str, send_ack: bool = True) -> None:
        """TIME-WAIT for 2*MSL (MUST-13): hand the 4-tuple to a light table entry.
        `send_ack`: acknowledge the peer's FIN that brought us here."""
        self._set_state(TIME_WAIT, cause, now)
        self._clear_timers()
        self.sndq.clear()
        if send_ack:
            self._send_ack(now)
        self.ack_now = False
        self.delack_segs = 0
        self.host._enter_time_wait(self, now)

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
            self._set_state(CLOSED, cause, now)
        self._event(ev.CLOSED, cause)
        self.host._forget(self)

    def _clear_timers(self) -> None:
        self.t_rexmt = self.t_delack = self.t_persist = self.t_keep = self.t_fin2 = None
        self.deadline = None
