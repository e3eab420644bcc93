"""TIME-WAIT as a light table entry (RFC 9293 §3.6.1, §3.10.7.4; MUST-13).

When a connection enters TIME-WAIT its buffers and timers are released and the
4-tuple is held by a `TimeWait` entry instead: a handful of numbers and an
expiry time. It re-acknowledges a retransmitted FIN and restarts 2*MSL (the
reason TIME-WAIT exists: the final ACK may have been lost), answers old
duplicates with an ACK, and lets a new SYN with a higher sequence number (or
timestamp) take over the 4-tuple (RFC 9293 §3.10.7.4 note, RFC 6191).

The entry keeps its Connection (a plain reference: the compiled build's
native classes take no weak ones) and moves it to CLOSED when the entry
closes, as the application may still hold it. The connection's send buffer
and timers are released on entry, but the TCB itself stays allocated until
the entry closes, also when nobody else holds it: about 1.0 KB more per
4-tuple in TIME-WAIT in the compiled build, 1.2 KB in the pure one, than
with the weak reference this replaced (tracemalloc, 2,000 entries whose
application had dropped its connections).
"""
from __future__ import annotations

import bisect

from .connection import NEVER, Connection
from .segment import ACK, FIN, RST, SYN, NO_OPTIONS, Options, Segment
from .seq import MASK, gt
from .states import CLOSED, TIME_WAIT


class TimeWait:
    __slots__ = ("host", "key", "local_ip", "local_port", "remote_ip", "remote_port",
                 "snd_nxt", "rcv_nxt", "rcv_wnd_field", "rcv_wnd", "ts_recent", "ts_offset", "ts_ok",
                 "deadline", "msl2", "conn", "rst_kills", "challenge_limit", "ts_on", "dead", "state",
                 "oow_gap", "last_oow_ack")

    def __init__(self, now: float, conn: Connection):
        self.host = conn.host
        self.key = conn.key
        self.local_ip, self.local_port = conn.local_ip, conn.local_port
        self.remote_ip, self.remote_port = conn.remote_ip, conn.remote_port
        self.snd_nxt = conn.snd_nxt
        self.rcv_nxt = conn.rcv_nxt
        ws = conn.rcv_wscale
        assert ws is not None                     # None only on a child reading its SYN
        self.rcv_wnd_field = min((conn.rcv_adv - conn.rcv_nxt) & MASK, 0xFFFF << ws) >> ws
        self.rcv_wnd = self.rcv_wnd_field << ws   # RCV.WND, for the RST checks
        self.ts_ok = conn.ts_ok
        self.ts_recent = conn.ts_recent
        self.ts_offset = conn.ts_offset
        self.msl2 = 2 * conn.cfg.msl
        self.rst_kills = conn.cfg.rst_in_time_wait
        self.challenge_limit = conn.cfg.challenge_ack_limit
        self.oow_gap = conn.cfg.invalid_ratelimit   # as the connection's (Connection._oow_ack_allowed)
        self.last_oow_ack = conn.last_oow_ack
        self.ts_on = conn.cfg.timestamps          # would a new incarnation use timestamps?
        self.deadline = now + self.msl2           # NEVER once the entry has closed
        # The connection, so that it too goes CLOSED when the entry does (an
        # application may still hold it and look at its state). A strong
        # reference: a connection the application has dropped stays allocated
        # until the entry closes (see the module docstring).
        self.conn: Connection | None = conn
        self.dead = False
        self.state = TIME_WAIT

    @property
    def name(self) -> str:
        """local>remote, as Connection.name (made on demand)."""
        return f"{self.local_ip}:{self.local_port}>{self.remote_ip}:{self.remote_port}"

    def __repr__(self) -> str:
        return f"<TimeWait {self.name} until {self.deadline:.3f}>"

    def on_segment(self, now: float, seg: Segment, can_reopen: bool = True) -> bool:
        """Handle a segment for the 4-tuple. Returns True when a new SYN takes the
        4-tuple over and the host should give the segment to a listener (only
        when `can_reopen`: there is a listener to give it to)."""
        flags = seg.flags
        host = self.host
        if flags & RST:
            # RFC 9293 §3.10.7.4 second (RFC 5961 §3.2): RST at RCV.NXT exactly ->
            # CLOSED; elsewhere in the window -> challenge ACK; outside -> drop.
            # With rst_in_time_wait off, RFC 1337 TW-assassination protection:
            # every RST is ignored.
            if not self.rst_kills:
                host.count("time_wait_rst_ignored")
            elif seg.seq == self.rcv_nxt:
                self._close(now, "rcv RST")
            elif ((seg.seq - self.rcv_nxt) & MASK) < self.rcv_wnd:
                self._challenge_ack(now)
            else:
                host.count("time_wait_rst_ignored")
            return False
        if flags & SYN and not flags & ACK:
            if self._syn_is_new(seg) and can_reopen:
                host.count("time_wait_reused")
                self._close(now, "new SYN takes over the 4-tuple")
                return True
            self._challenge_ack(now)            # RFC 9293 §3.10.7.4 fourth (RFC 5961 §4)
            return False
        if flags & FIN and ((seg.seq + len(seg.payload) + 1) & MASK) == self.rcv_nxt:
            # The peer retransmitted its FIN: our last ACK was lost. ACK it again
            # and restart the 2*MSL timeout (§3.10.7.4, TIME-WAIT STATE).
            host.count("time_wait_fin_reacked")
            self._ack(now)
            self.deadline = deadline = now + self.msl2
            host._schedule_time_wait(self, deadline)
            return False
        if seg.seq != self.rcv_nxt or seg.payload:
            # an old duplicate: ACK and drop (§3.10.7.4 first step); one without
            # data or FIN at most once per invalid_ratelimit
            if seg.payload or flags & FIN or self._oow_ack_allowed(now):
                self._ack(now)
        return False

    def _syn_is_new(self, seg: Segment) -> bool:
        """RFC 6191 §2 (SHLD-4), falling back to RFC 1122 §4.2.2.13's sequence
        number test: may this SYN open a new incarnation?"""
        seq_newer = gt(seg.seq, self.rcv_nxt)
        ts = seg.options.timestamp if self.ts_on else None
        if ts is None:                            # the new incarnation would not use timestamps
            return seq_newer
        if not self.ts_ok:                        # the old one did not: timestamps protect the new
            return True
        return gt(ts[0], self.ts_recent) or (ts[0] == self.ts_recent and seq_newer)

    def on_timer(self, now: float) -> None:
        if not self.dead and now >= self.deadline:
            self.host._timer_fired(now, self, "TIME_WAIT 2MSL")
            self.host.count("time_wait_expired")
            self._close(now, "2MSL timeout")

    def _challenge_ack(self, now: float) -> None:
        """RFC 5961 §3.2/§4.2 challenge ACK, limited per entry as a connection's
        (Connection._oow_ack_allowed; RFC 5961 §7), and host-wide only if set."""
        limit = self.challenge_limit
        if self._oow_ack_allowed(now) and (limit is None or self.host.challenge_ack_allowed(now, limit)):
            self.host.count("time_wait_challenge_acks")
            self._ack(now)
        else:
            self.host.count("challenge_acks_suppressed")

    def _oow_ack_allowed(self, now: float) -> bool:
        gap = self.oow_gap
        if gap > 0.0 and 0.0 <= now - self.last_oow_ack < gap:
            self.host.count("invalid_acks_suppressed")
            return False
        self.last_oow_ack = now
        return True

    def _ack(self, now: float) -> None:
        opts = NO_OPTIONS
        if self.ts_ok:
            opts = Options(timestamp=((int(now * 1000) + self.ts_offset) & MASK, self.ts_recent))
        self.host.outbox.append((self.local_ip, self.remote_ip,
                                 Segment(self.local_port, self.remote_port, self.snd_nxt,
                                         self.rcv_nxt, ACK, self.rcv_wnd_field, 0, opts)))

    def _close(self, now: float, cause: str) -> None:
        self.dead = True
        self.deadline = NEVER
        self.state = CLOSED
        conn = self.conn
        self.conn = None                          # the entry may wait in its queue a while
        if conn is not None and conn.state is TIME_WAIT:
            conn._set_state(now, CLOSED, cause)
            conn._event("closed", cause)
        else:
            self.host._state_changed(now, self, TIME_WAIT, CLOSED, cause)
        self.host._forget(self)


class TimeWaitQueue:
    """TIME-WAIT entries in deadline order, for one value of 2*MSL.

    Every entry's deadline is now + 2*MSL, so with a clock that does not go
    backwards they arrive in order: a FIFO (a list with a moving head) does the
    work of a heap at O(1). A host keeps one per 2*MSL in use; many thousand
    connections in TIME-WAIT then cost nothing to the heap of live timers.
    Linux keeps its TIME-WAIT sockets on a timer wheel for the same reason. An
    entry whose deadline has moved (a retransmitted FIN restarted 2*MSL, or it
    closed) is stale and skipped."""

    __slots__ = ("deadlines", "entries", "head")

    def __init__(self) -> None:
        self.deadlines: list[float] = []
        self.entries: list[TimeWait] = []
        self.head = 0

    def push(self, deadline: float, tw: TimeWait) -> None:
        deadlines = self.deadlines
        if self.head == len(deadlines) or deadlines[-1] <= deadline:
            deadlines.append(deadline)
            self.entries.append(tw)
        else:                                     # a driver whose clock went backwards
            i = bisect.bisect_right(deadlines, deadline, self.head)
            deadlines.insert(i, deadline)
            self.entries.insert(i, tw)

    def first(self) -> float:
        """The earliest live deadline (NEVER if none); stale entries go."""
        deadlines = self.deadlines
        entries = self.entries
        h = self.head
        n = len(deadlines)
        while h < n and entries[h].deadline != deadlines[h]:
            h += 1
        if h == n:
            if n:
                deadlines.clear()
                entries.clear()
            self.head = 0
            return NEVER
        if h > 256 and 2 * h > n:                # reclaim the consumed front
            del deadlines[:h]
            del entries[:h]
            h = 0
        self.head = h
        return deadlines[h]

    def pop(self) -> TimeWait:
        """Remove and return the head (call `first()` before)."""
        tw = self.entries[self.head]
        self.head += 1
        return tw

    def __len__(self) -> int:
        return len(self.deadlines) - self.head
