"""A listening socket: LISTEN processing, the SYN queue and the accept queue.

RFC 9293 §3.10.7.2 says what LISTEN does with a segment. Around it sit the two
queues every real stack has (RFC 4987 §3): the SYN (half-open) queue of
connections in SYN-RECEIVED, and the accept queue of ESTABLISHED connections
the application has not yet accepted. Both are bounded by the backlog, as in
Linux: a SYN that finds the SYN queue full is dropped, or answered with a SYN
cookie (RFC 4987 §3.6) when cookies are on; a SYN that finds the accept queue
full is dropped; a final ACK that finds it full does not create a connection.
"""
from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from . import events as ev
from .config import Config
from .connection import Connection, syn_options, wanted_wscale
from .cookies import CookieJar, ts_decode, ts_encode
from .segment import ACK, FIN, RST, SYN, Options, Segment
from .seq import MASK
from .states import CLOSED, LISTEN

if TYPE_CHECKING:
    from .host import Host


class Listener:
    """Not a TCB of its own: the LISTEN state of one local (address, port)."""

    def __init__(self, host: Host, cfg: Config, local_ip: str, local_port: int, backlog: int):
        self.host = host
        self.cfg = cfg
        self.local_ip = local_ip
        self.local_port = local_port
        self.backlog = max(1, backlog)
        self.syn_queue: dict[tuple, Connection] = {}
        self.accept_queue: deque[Connection] = deque()
        self.state = LISTEN
        self.name = f"{local_ip}:{local_port}"
        self.stats_overflow = 0
        self.stats = host.stats

    def __repr__(self) -> str:
        return (f"<Listener {self.name} syn_queue={len(self.syn_queue)} "
                f"accept_queue={len(self.accept_queue)}/{self.backlog}>")

    # ---------------------------------------------------------------- queues
    def can_accept(self) -> bool:
        return len(self.accept_queue) < self.backlog

    def established(self, conn: Connection) -> None:
        """A half-open connection completed the handshake: to the accept queue."""
        self.syn_queue.pop(conn.key, None)
        self.accept_queue.append(conn)
        self.host.events.append(ev.Event(ev.ACCEPTABLE, self))

    def half_open_gone(self, conn: Connection) -> None:
        self.syn_queue.pop(conn.key, None)

    def accept(self) -> Connection | None:
        """The oldest established connection, or None."""
        while self.accept_queue:
            conn = self.accept_queue.popleft()
            conn.listener = None
            return conn
        return None

    # ---------------------------------------------------------- segment arrives
    def on_segment(self, now: float, src_ip: str, dst_ip: str, seg: Segment,
                   iss: int | None = None) -> None:
        """RFC 9293 §3.10.7.2, LISTEN STATE. `iss`, when given, is the ISS to use
        (a SYN that took a 4-tuple over from TIME-WAIT)."""
        host = self.host
        flags = seg.flags
        if flags & RST:                       # First: an incoming RST is ignored
            host.count("drop_rst_in_listen")
            return
        if flags & ACK:                       # Second: any ACK is bad here ...
            if self.cfg.syn_cookies != "off" and not flags & SYN and self._cookie_ack(now, src_ip, dst_ip, seg):
                return
            # ... answer <SEQ=SEG.ACK><CTL=RST>
            host.count("rst_to_ack_in_listen")
            host.outbox.append((dst_ip, src_ip, Segment(seg.dst_port, seg.src_port, seg.ack, 0, RST, 0)))
            return
        if not flags & SYN:                   # Fourth: anything else is dropped
            host.count("drop_no_syn_in_listen")
            return
        if flags & FIN:
            # SYN+FIN: no real stack sends it; it is a scanner's probe or an
            # attempt to slip past filters that look for a bare SYN. RFC 9293
            # §3.10.7.2 would take the SYN and queue the FIN for later; Linux
            # drops it (tcp_rcv_state_process, SKB_DROP_REASON_TCP_FLAGS),
            # and so does synack: no half-open connection, no reply, counted.
            host.count("drop_syn_fin_in_listen")
            return
        # Third: a SYN.
        if not self.can_accept():
            # Linux drops SYNs while the accept queue is full; the client retries.
            host.count("listen_drops_accept_full")
            self.stats_overflow += 1
            return
        mode = self.cfg.syn_cookies
        if mode == "always" or len(self.syn_queue) >= self.backlog:
            if mode == "off":
                host.count("syn_queue_drops")
                return
            self._send_cookie(now, src_ip, dst_ip, seg)
            return
        conn = self._new_child(now, src_ip, dst_ip, seg, iss=iss)
        self.syn_queue[conn.key] = conn
        conn.answer_syn(now)
        if seg.payload or seg.flags & 0x01:
            # §3.10.7.2: "any other control or text should be queued for processing
            # later"; we keep it simple and let the peer retransmit it (no TFO).
            host.count("syn_data_ignored")

    def _new_child(self, now: float, src_ip: str, dst_ip: str, seg: Segment, iss: int | None,
                   cause: str = "rcv SYN / snd SYN,ACK",
                   ) -> Connection:
        host = self.host
        conn = Connection(host, self.cfg, dst_ip, seg.dst_port, src_ip, seg.src_port)
        if iss is None:
            iss = host.isn(now, dst_ip, seg.dst_port, src_ip, seg.src_port)
        conn.open_passive(now, self, seg, iss, cause)
        return conn

    # ----------------------------------------------------------- SYN cookies
    def _send_cookie(self, now: float, src_ip: str, dst_ip: str, seg: Segment) -> None:
        """Answer a SYN statelessly (RFC 4987 §3.6): the SYN,ACK a child would
        send, built from the SYN and the listener's settings alone."""
        host = self.host
        cfg = self.cfg
        key4 = (dst_ip, seg.dst_port, src_ip, seg.src_port)
        peer = seg.options
        mss_in = peer.mss or (1220 if ":" in src_ip else 536)
        isn, _mss, ts_off = host.cookies.make(now, key4, seg.seq, mss_in)
        host.count("syn_cookies_sent")
        ts_val = ts_ecr = 0
        if cfg.timestamps and peer.timestamp is not None:
            # Our TSval carries the peer's window scale and SACK-permitted,
            # which the ACK's TSecr brings back (no state is kept here). Its
            # offset (RFC 7323 §7.1) comes with the cookie's MAC: one hash.
            base = (int(now * 1000) + ts_off) & MASK
            ts_val = ts_encode(base, peer.wscale if cfg.window_scaling else None,
                               peer.sack_permitted and cfg.sack)
            ts_ecr = peer.timestamp[0]
        opts = syn_options(cfg, peer, cfg.announced_mss(":" in dst_ip),
                           wanted_wscale(cfg, cfg.rcvbuf), ts_val, ts_ecr)
        host.outbox.append((dst_ip, src_ip, Segment(
            seg.dst_port, seg.src_port, isn, (seg.seq + 1) & MASK, SYN | ACK,
            min(cfg.rcvbuf, 0xFFFF), 0, opts)))       # a SYN's window is never scaled

    def _cookie_ack(self, now: float, src_ip: str, dst_ip: str, seg: Segment) -> bool:
        """A bare ACK in LISTEN may complete a cookie handshake."""
        host = self.host
        key4 = (dst_ip, seg.dst_port, src_ip, seg.src_port)
        client_isn = (seg.seq - 1) & MASK
        mss = host.cookies.check(now, key4, client_isn, (seg.ack - 1) & MASK)
        if mss is None:
            return False
        if not self.can_accept():
            host.count("listen_overflow")
            self.stats_overflow += 1
            return True                           # drop silently, as Linux does
        host.count("syn_cookies_accepted")
        ts = seg.options.timestamp
        ws, sackp = (None, False)
        if ts is not None and self.cfg.timestamps:
            ws, sackp = ts_decode(ts[1])
        syn_opts = Options(mss=mss, wscale=ws if self.cfg.window_scaling else None,
                           sack_permitted=sackp, timestamp=(ts[0], 0) if ts else None)
        fake_syn = Segment(seg.src_port, seg.dst_port, client_isn, 0, SYN, seg.window, 0, syn_opts)
        conn = self._new_child(now, src_ip, dst_ip, fake_syn, iss=(seg.ack - 1) & MASK,
                               cause="rcv ACK with a valid SYN cookie (RFC 4987 §3.6)")
        if ts is not None and conn.ts_ok:
            conn.ts_offset = (ts[1] - int(now * 1000)) & MASK   # keep our TSval clock continuous
        conn.syn_opts = syn_opts
        Connection.on_segment(conn, now, seg)      # the ACK completes the handshake
        return True

    # ------------------------------------------------------------------ close
    def close(self, now: float) -> None:
        """Closing a listener resets the connections nobody accepted (as Linux does)."""
        host = self.host
        for conn in list(self.syn_queue.values()) + list(self.accept_queue):
            conn.abort(now)
        self.syn_queue.clear()
        self.accept_queue.clear()
        host._unlisten(self)
        host._state_changed(now, self, LISTEN, CLOSED, "CLOSE")
        self.state = CLOSED
