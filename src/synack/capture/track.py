"""Connections in a capture, and the states a monitor can infer for both ends.

A capture shows segments, not states. What it does show is enough to follow
RFC 9293's state diagram (§3.3.2) from the outside, the way a monitor on the
path can:

* a side's own transitions (an active OPEN, a CLOSE) happen when it sends the
  SYN or the FIN, and are drawn on that segment;
* a transition caused by receiving something and answered at once ("rcv SYN /
  snd SYN,ACK", "rcv FIN / snd ACK") is drawn on the answer: until the answer
  is seen, the capture cannot tell whether the segment arrived;
* a transition caused by receiving an ACK alone (of a SYN, of a FIN) or a RST
  has no answer: it is drawn when the segment is seen, and taken back if the
  receiver later shows it never got it (it retransmits what was acknowledged:
  then that ACK was lost, and is drawn lost).

What the capture cannot tell is said, not guessed: a side whose state no
segment has shown yet is "unknown" (a capture that starts in the middle of a
connection, a direction that is not in the capture), and the timers no
segment reveals (2*MSL ending TIME_WAIT, a SYN_SENT giving up) are left out.

Connections are keyed by their 4-tuple; a SYN with a new ISN on a 4-tuple
whose previous connection has closed (or is in TIME_WAIT, RFC 9293 §3.10.7.4
and RFC 6191) starts a new connection.

`Tracker` streams: per connection it keeps a few counters and sequence
numbers, and (for the connections asked for in `detail`) the trace events the
ladder renderers draw. Memory is bounded by the number of connections and
the data in flight, not by the length of the capture.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Iterable

from ..engine.segment import ACK, FIN, RST, SYN, flag_names
from ..engine.seq import MASK, gt
from .reader import Packet

CLOSED, LISTEN, SYN_SENT, SYN_RECEIVED, ESTABLISHED = (
    "CLOSED", "LISTEN", "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED")
FIN_WAIT_1, FIN_WAIT_2, CLOSE_WAIT, CLOSING, LAST_ACK, TIME_WAIT = (
    "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT")
UNKNOWN = "unknown"
SYNCHRONIZED = {ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2, CLOSE_WAIT, CLOSING, LAST_ACK, TIME_WAIT}

#: a segment repeated within this time is a duplicate, not a retransmission: no
#: retransmission timer is this short (RFC 6298 §2.4: 1 s; Linux: 200 ms)
DUP_WINDOW = 0.001
#: so many half-open connections to one server make the summary suspect a SYN flood
FLOOD_HALF_OPEN = 3


#: a > b in sequence space (RFC 9293 §3.4)
after = gt


class Side:
    """One end of a connection, as the capture shows it."""
    __slots__ = ("ep", "state", "isn", "nxt", "fin", "fin_acked", "peer_fin_acked", "ack",
                 "win", "bytes", "packets", "rexmits", "dups", "ooo", "unseen", "zero_windows",
                 "probes", "keepalives", "sent", "order", "chain", "gaps", "last", "prov",
                 "syn_rexmits", "wscale", "first_state", "syn_t", "chain_seq", "data_pkts", "fin_t", "recent",
                 "fin_ack_early")

    def __init__(self, ep: str, state: str | None):
        self.ep = ep
        self.state = state            #: None: unknown
        self.first_state = state
        self.isn: int | None = None
        self.nxt: int | None = None   #: the highest sequence number sent + 1 (SND.MAX)
        self.fin: int | None = None   #: the sequence number of our FIN
        self.fin_acked = False
        self.peer_fin_acked = False   #: we acknowledged the peer's FIN
        self.ack: int | None = None   #: the last ack we sent
        self.win: int | None = None
        self.bytes = 0
        self.packets = 0
        self.rexmits = 0
        self.syn_rexmits = 0
        self.dups = 0
        self.ooo = 0
        self.unseen = 0               #: octets the peer acknowledged that the capture never saw
        self.zero_windows = 0
        self.probes = 0
        self.keepalives = 0
        self.sent: dict[int, float] = {}      #: seq -> last time sent (unacknowledged only)
        #: (end, seq) in sending order, to forget what is acknowledged (made when needed)
        self.order: deque | None = None
        self.chain: list[float] | tuple = ()  #: intervals of the current retransmission chain
        self.gaps: list | tuple = ()          #: (start, end, t) holes not yet filled
        self.last: tuple | None = None        #: (seq, ack, flags, len, t) of the last segment
        self.prov: tuple | None = None        #: a transition the peer's ACK caused, unconfirmed
        self.wscale: int | None = None
        self.syn_t: float | None = None
        self.chain_seq: int | None = None
        self.data_pkts = 0
        self.fin_t: float | None = None
        self.recent: dict[int, float] = {}    #: seq -> time, for a few acknowledged lately
        self.fin_ack_early = False            #: the ACK of our FIN came behind the peer's FIN

    def shown(self) -> str:
        return self.state if self.state is not None else UNKNOWN


@dataclass
class Conn:
    """One connection (one incarnation of a 4-tuple)."""
    number: int
    a: Side                      #: the side that opened (sent the first SYN), or the first sender
    b: Side
    first_t: float
    last_t: float
    handshake_seen: bool
    notes: list = field(default_factory=list)          #: capture-level remarks
    ended: str = ""
    events: list | None = None                         #: trace events (detail only)
    explain: dict = field(default_factory=dict)        #: packet number in conn -> texts
    tags: dict = field(default_factory=dict)           #: packet number in conn -> tags
    packets: int = 0
    reused: bool = False                               #: a new incarnation of a 4-tuple
    transitions: list = field(default_factory=list)    #: (t, ep, from, to, cause)
    rst_by: str | None = None
    rst_reason: str | None = None
    refused: bool = False
    tw_fin_answered: int = 0
    flood: bool = False
    post: list = field(default_factory=list)           #: receiver transitions of this packet
    ka: dict | None = None                             #: ep -> peer's packets at its last probe
    ka_unanswered: dict | None = None                  #: ep -> probes in a row with no answer

    def side(self, ep: str) -> Side:
        return self.a if ep == self.a.ep else self.b

    def names(self) -> tuple[str, str]:
        return ("client", "server") if self.handshake_seen else ("A", "B")

    def name(self, side: Side) -> str:
        n = self.names()
        return n[0] if side is self.a else n[1]

    @property
    def duration(self) -> float:
        return self.last_t - self.first_t

    def done(self) -> bool:
        """Closed for good (a new SYN on the 4-tuple is a new connection)."""
        sa, sb = self.a.state, self.b.state
        if self.rst_by is not None:
            return True
        return (sa in (CLOSED, TIME_WAIT, None) and sb in (CLOSED, TIME_WAIT, None)
                and (sa is not None or sb is not None))


class Tracker:
    """Feed `Packet`s in capture order; read `conns` (all, in order of first packet).

    `detail`: connection numbers (1-based) for which to keep the trace events
    (or True for all)."""

    def __init__(self, detail=()):
        self.detail = detail
        self.conns: list[Conn] = []
        self.current: dict[tuple[str, str], Conn] = {}
        self.half_open: dict[str, int] = {}          # server ep -> SYN-ACKs never answered

    # ----------------------------------------------------------------- demux
    def feed(self, p: Packet) -> None:
        src, dst = p.src, p.dst
        key = (src, dst) if src < dst else (dst, src)
        c = self.current.get(key)
        flags = p.seg.flags
        if c is not None and flags & SYN and not flags & ACK:
            s = c.side(src)
            if s.isn is not None and p.seg.seq != s.isn and (
                    c.done() or (s.state == SYN_SENT and c.side(dst).state in (None, CLOSED))):
                if c.a.state == TIME_WAIT or c.b.state == TIME_WAIT:
                    c.notes.append(f"the 4-tuple is reused by connection "
                                   f"{len(self.conns) + 1} (a new SYN with a new ISN), "
                                   "ending TIME_WAIT early (RFC 6191)")
                c = None
        if c is None:
            c = self._new(p, key)
        self._packet(c, p)

    def _new(self, p: Packet, key) -> Conn:
        flags = p.seg.flags
        old = self.current.get(key)
        if flags & SYN and not flags & ACK:
            a, b = Side(p.src, CLOSED), Side(p.dst, None)
            hs = True
        elif flags & SYN:                  # the capture starts with the SYN-ACK
            a, b = Side(p.dst, None), Side(p.src, None)
            hs = True
        else:
            a, b = Side(p.src, None), Side(p.dst, None)
            hs = False
        n = len(self.conns) + 1
        c = Conn(n, a, b, p.t, p.t, hs)
        c.reused = old is not None
        if self.detail is True or n in self.detail:
            c.events = []
        if not hs:
            c.notes.append("the capture starts in the middle of this connection: the states "
                           "before its first segment are unknown")
        self.conns.append(c)
        self.current[key] = c
        return c

    # ---------------------------------------------------------------- events
    def _state(self, c: Conn, side: Side, to: str, cause: str, t: float,
               receiver: bool = False) -> None:
        """`side` moves to `to`. A receiver's move (drawn after the segment) on an ACK
        or RST alone stays provisional until that side shows otherwise."""
        frm = side.state
        if frm == to:
            return
        if frm is None:
            frm = LISTEN if to == SYN_RECEIVED else UNKNOWN
            if side.first_state is None:
                side.first_state = frm
        side.state = to
        other = c.b if side is c.a else c.a
        rec = (t, side.ep, frm, to, cause)
        c.transitions.append(rec)
        ev = None
        if c.events is not None:
            ev = {"t": t - c.first_t, "type": "state", "host": c.name(side),
                  "local": side.ep, "remote": other.ep, "from": frm, "to": to, "cause": cause}
        if receiver:
            prov = [frm, rec, ev, None]      # the deliver event, filled in by _segment_event
            c.post.append((ev, prov))
            side.prov = prov
        else:
            side.prov = None
            if ev is not None:
                c.events.append(ev)

    def _retract(self, c: Conn, side: Side, why: str) -> None:
        """`side` shows it never got the ACK that moved it: undo the move and draw that
        ACK as lost."""
        frm, rec, ev, deliver = side.prov
        side.prov = None
        side.state = frm
        if rec in c.transitions:
            c.transitions.remove(rec)
        if c.events is not None:
            c.events[:] = [e for e in c.events if e is not ev]
            if deliver is not None:
                deliver["event"] = "drop"
                deliver["reason"] = why
        return None

    def _unopen(self, c: Conn, side: Side) -> None:
        """`side` shows it never opened: the SYN under its name was not its own."""
        side.state = side.first_state = CLOSED
        side.prov = None
        c.transitions[:] = [x for x in c.transitions if not (x[1] == side.ep and x[3] == SYN_SENT)]
        if c.events is not None:
            c.events[:] = [e for e in c.events if not (
                e is not None and e["type"] == "state" and e["local"] == side.ep
                and e["to"] == SYN_SENT)]

    def _note(self, c: Conn, k: int, text: str, tag: str | None = None) -> None:
        if c.events is None:
            return
        if text:
            c.explain.setdefault(k, []).append(text)
        if tag:
            c.tags.setdefault(k, []).append(tag)

    def _segment_event(self, c: Conn, p: Packet) -> None:
        if c.events is not None:
            seg = p.seg
            e = {"t": p.t - c.first_t, "type": "segment", "event": "send", "src": p.src,
                 "dst": p.dst, "flags": flag_names(seg.flags), "seq": seg.seq, "ack": seg.ack,
                 "len": p.length, "win": seg.window, "options": seg.options.describe(),
                 "frame": p.index}
            d = dict(e, event="deliver")
            c.events.append(e)
            c.events.append(d)
            for ev, prov in c.post:
                prov[3] = d
                if ev is not None:
                    c.events.append(ev)
        c.post.clear()

    # ---------------------------------------------------------------- packets
    def _packet(self, c: Conn, p: Packet) -> None:
        seg = p.seg
        S = c.side(p.src)
        R = c.b if S is c.a else c.a
        flags = seg.flags
        seq, ack, n, t = seg.seq, seg.ack, p.length, p.t
        c.packets += 1
        k = c.packets
        c.last_t = t
        S.packets += 1
        syn, fin, rst, has_ack = flags & SYN, flags & FIN, flags & RST, flags & ACK
        slen = n + (1 if syn else 0) + (1 if fin else 0)
        who, other = (c.name(S), c.name(R)) if c.events is not None else ("", "")
        dup = False
        last = S.last
        S.last = (seq, ack, flags, n, t)
        if (last is not None and slen and last[0] == seq and last[1] == ack and
                last[2] == flags and last[3] == n and t - last[4] < DUP_WINDOW):
            dup = True
            S.dups += 1
            self._note(c, k, f"The same segment again, {(t - last[4]) * 1e6:.0f} µs later: too "
                             "soon for any retransmission timer, so a duplicate (the network "
                             "or the capture saw it twice).", "duplicate")

        # ---- the SYNs: the sender's own transitions, drawn on this segment
        if syn:
            if not has_ack:
                if S.isn is None:
                    self._first_syn(S, seq, t, seg)
                    if S.state in (None, CLOSED):
                        S.state = S.first_state = CLOSED      # a SYN alone: an active OPEN
                        self._state(c, S, SYN_SENT, "active OPEN / snd SYN", t)
                elif seq == S.isn:
                    if not dup:
                        S.syn_rexmits += 1
                        self._rexmit(c, S, k, seq, t, "SYN")
                else:
                    self._note(c, k, f"A SYN with a new ISN while the connection is open: "
                                     f"{other} should answer with an ACK of what it expects "
                                     "(a challenge ACK, RFC 5961 §4) rather than reset.",
                               "SYN in window")
            else:
                if S.isn is None:
                    self._first_syn(S, seq, t, seg)
                    if R.isn is not None and ack != (R.isn + 1) & MASK:
                        self._note(c, k, f"This SYN,ACK acknowledges a SYN {other} did not send "
                                         f"(an old duplicate SYN?): {other} must answer with RST "
                                         "(RFC 9293 §3.10.7.3).", "bad ack")
                    if S.state == SYN_SENT:
                        self._state(c, S, SYN_RECEIVED,
                                    "rcv SYN (simultaneous open) / snd SYN,ACK", t)
                    elif S.state in (None, CLOSED, LISTEN):
                        self._state(c, S, SYN_RECEIVED, "rcv SYN / snd SYN,ACK", t)
                    if R.isn is None:            # the SYN was not captured
                        R.isn = (ack - 1) & MASK
                        R.nxt = ack
                elif seq == S.isn and S.state == SYN_SENT:     # simultaneous open
                    self._state(c, S, SYN_RECEIVED, "rcv SYN (simultaneous open) / snd SYN,ACK", t)
                    if R.ack == (S.isn + 1) & MASK and R.state in (SYN_RECEIVED, ESTABLISHED):
                        # R's SYN,ACK, crossing this one, acknowledges our SYN
                        self._state(c, S, ESTABLISHED, "rcv ACK of SYN", t, receiver=True)
                elif seq == S.isn:
                    if not dup:
                        if S.prov is not None:
                            self._retract(c, S, f"inferred: the {who} repeats its "
                                                f"SYN,ACK")
                        S.syn_rexmits += 1
                        self._rexmit(c, S, k, seq, t, "SYN,ACK")
                # in a simultaneous open the SYN,ACK is R's ACK of SYN
                if R.state == SYN_RECEIVED and R.isn is not None and ack == (R.isn + 1) & MASK:
                    self._state(c, R, ESTABLISHED, "rcv ACK of SYN", t, receiver=True)
            S.ack = ack if has_ack else S.ack
            S.win = seg.window
            self._segment_event(c, p)
            return

        if rst:
            self._rst(c, S, R, p, k)
            self._segment_event(c, p)
            return

        # ---- what this segment acknowledges: the sender's "rcv X / snd ACK" moves
        if has_ack:
            if S.state == SYN_SENT and R.isn is not None and ack == (R.isn + 1) & MASK:
                self._state(c, S, ESTABLISHED, "rcv SYN,ACK / snd ACK", t)
            if R.fin is not None and ack == (R.fin + 1) & MASK:
                if not S.peer_fin_acked:
                    S.peer_fin_acked = True
                    if S.state in (ESTABLISHED, SYN_RECEIVED):
                        self._state(c, S, CLOSE_WAIT, "rcv FIN / snd ACK", t)
                    elif S.state == FIN_WAIT_1:
                        if S.fin_acked:         # R's FIN brought the ACK of ours
                            self._state(c, S, TIME_WAIT, "rcv FIN,ACK of FIN / snd ACK", t)
                        else:
                            self._state(c, S, CLOSING, "rcv FIN / snd ACK", t)
                            if S.fin_ack_early:     # and R's ACK of our FIN follows it
                                S.fin_acked = True
                                self._state(c, S, TIME_WAIT, "rcv ACK of FIN", t, receiver=True)
                    elif S.state == FIN_WAIT_2:
                        self._state(c, S, TIME_WAIT, "rcv FIN / snd ACK", t)
                elif (S.state == TIME_WAIT and n == 0 and not fin and R.last is not None
                      and R.last[2] & FIN and R.chain_seq is not None):
                    c.tw_fin_answered += 1
                    self._note(c, k, f"The {who} is in TIME_WAIT and answers the retransmitted "
                                     f"FIN with its ACK again, restarting the 2*MSL timer "
                                     f"(RFC 9293 §3.10.7.4): what TIME_WAIT is for.",
                               "FIN in TIME_WAIT")
        if fin:
            fs = (seq + n) & MASK
            if S.fin is None or fs != S.fin:
                S.fin = fs
                S.fin_t = t
                if S.state in (ESTABLISHED, SYN_RECEIVED):
                    self._state(c, S, FIN_WAIT_1, "CLOSE / snd FIN", t)
                elif S.state == CLOSE_WAIT:
                    self._state(c, S, LAST_ACK, "CLOSE / snd FIN", t)
            elif not dup and S.prov is not None and S.fin_acked:
                S.fin_acked = False
                self._retract(c, S, f"inferred: the {who} repeats its FIN")
        # ---- the receiver's moves on an ACK alone (provisional)
        if has_ack:
            if R.state == SYN_RECEIVED and R.isn is not None and ack == (R.isn + 1) & MASK:
                self._state(c, R, ESTABLISHED, "rcv ACK of SYN", t, receiver=True)
            if (R.fin is not None and not R.fin_acked and ack == (R.fin + 1) & MASK and
                    R.state == FIN_WAIT_1 and S.fin is not None and not R.peer_fin_acked
                    and not fin):
                # S's FIN went first on the same path, so R gets it before this ACK: R
                # will pass through CLOSING (a simultaneous close, RFC 9293 Figure 13)
                R.fin_ack_early = True
            elif R.fin is not None and not R.fin_acked and ack == (R.fin + 1) & MASK:
                R.fin_acked = True
                if R.state == FIN_WAIT_1 and not fin:
                    self._state(c, R, FIN_WAIT_2, "rcv ACK of FIN", t, receiver=True)
                elif R.state == CLOSING:
                    self._state(c, R, TIME_WAIT, "rcv ACK of FIN", t, receiver=True)
                elif R.state == LAST_ACK:
                    self._state(c, R, CLOSED, "rcv ACK of FIN", t, receiver=True)
        self._analyse(c, S, R, p, k, slen, dup)
        self._segment_event(c, p)

    def _first_syn(self, S: Side, seq: int, t: float, seg) -> None:
        S.isn = seq
        S.nxt = (seq + 1) & MASK
        S.syn_t = t
        S.wscale = seg.options.wscale
        S.sent[seq] = t
        S.order = deque((((seq + 1) & MASK, seq),))

    def _rexmit(self, c: Conn, S: Side, k: int, seq: int, t: float, what: str) -> None:
        """A retransmission of `seq`: its interval, and whether the intervals back off."""
        S.rexmits += 1
        prev = S.sent.get(seq)
        if prev is None:
            prev = S.recent.get(seq)
        S.sent[seq] = t
        if prev is None:
            return
        iv = t - prev
        if S.chain_seq == seq:
            S.chain.append(iv)
        else:
            S.chain_seq = seq
            S.chain = [iv]
        if c.events is None:
            return
        nth = len(S.chain)
        if nth < 2 and what != "data":
            return          # the ladder's own words cover a first SYN/FIN retransmission
        text = f"{what} retransmission #{nth}, {fmt_iv(iv)} after the previous copy"
        if nth >= 2 and S.chain[-2] > 0:
            ratio = iv / S.chain[-2]
            if ratio >= 1.6:
                text += (f"; the interval grew {ratio:.1f}x: the retransmission timer is "
                         f"backing off (RFC 6298 §5.5; RFC 9293 §3.8.1 for the SYN)")
            elif ratio > 0.8:
                text += "; the same interval as before: not backing off"
            else:
                text += "; a shorter interval than before"
        self._note(c, k, text + ".")

    def _rst(self, c: Conn, S: Side, R: Side, p: Packet, k: int) -> None:
        seg, t = p.seg, p.t
        who, other = c.name(S), c.name(R)
        port = S.ep.rpartition(":")[2]
        if (R.state == SYN_SENT and S.isn is None and seg.flags & ACK and R.isn is not None
                and seg.ack == (R.isn + 1) & MASK):
            c.refused = True
            c.rst_by, c.rst_reason = who, f"refused: nothing listens on port {port}"
            S.state = S.first_state = CLOSED
            self._note(c, k, "RFC 9293 §3.10.7.1: a segment for a connection that does "
                             "not exist (CLOSED) is answered with a RST.", "refused")
            self._state(c, R, CLOSED, "rcv RST (active open)", t, receiver=True)
            return
        if S.state == SYN_SENT and R.state == SYN_RECEIVED:
            # the SYN,ACK acknowledged a SYN the sender has no connection for
            c.rst_by, c.rst_reason = who, "old duplicate SYN: no such connection"
            self._note(c, k, f"The {who} has no connection that sent this SYN (it was an old "
                             f"duplicate, or the {who} has forgotten it): it resets the SYN,ACK "
                             f"(RFC 9293 §3.5, Figure 8) and the {other} goes back to LISTEN.",
                       "old duplicate")
            self._unopen(c, S)
            self._state(c, R, LISTEN, "rcv RST (passive open)", t, receiver=True)
            return
        acceptable = S.nxt is None or seg.seq == S.nxt or R.state in (None, SYN_SENT)
        if S.state in SYNCHRONIZED or S.state in (SYN_RECEIVED, SYN_SENT):
            if S.state == TIME_WAIT:
                c.rst_by, c.rst_reason = who, "reset from TIME_WAIT"
            else:
                c.rst_by = who
                c.rst_reason = "abort (SO_LINGER 0, or close with unread data)"
                self._note(c, k, "Why a RST: likely the application closed with SO_LINGER "
                                 "set to 0, or closed while received data was still unread "
                                 "(RFC 2525 §2.17; RFC 9293 §3.10.5, ABORT).", "abort")
                self._state(c, S, CLOSED, "ABORT / snd RST", t)
        else:
            c.rst_by = who
            c.rst_reason = "no such connection (half-open)"
            was = "has closed it" if S.state == CLOSED else "has no record of it"
            self._note(c, k, f"The {who} {was}: a segment for a connection it does not have "
                             f"gets a RST (RFC 9293 §3.10.7.1). If the {other} still thought the "
                             f"connection open, it was half-open (RFC 9293 §3.5.1).", "no connection")
            if S.state is None:
                S.state = CLOSED
        if not acceptable and R.state in SYNCHRONIZED:
            self._note(c, k, f"The RST's seq is not the {other}'s RCV.NXT: it does not reset "
                             f"the connection, only draws a challenge ACK (RFC 5961 §3.2).",
                       "RST out of window")
            return
        if R.state in SYNCHRONIZED and R.state != TIME_WAIT or R.state == SYN_SENT:
            self._state(c, R, CLOSED, "rcv RST", t, receiver=True)
        elif R.state == SYN_RECEIVED:
            self._state(c, R, LISTEN, "rcv RST (passive open)", t, receiver=True)

    def _analyse(self, c: Conn, S: Side, R: Side, p: Packet, k: int, slen: int,
                 dup: bool) -> None:
        """Data-level annotations: retransmissions, gaps, out-of-order, unseen data,
        zero windows, probes and keep-alives."""
        seg, t = p.seg, p.t
        seq, ack, n, flags = seg.seq, seg.ack, p.length, seg.flags
        who, other = (c.name(S), c.name(R)) if c.events is not None else ("", "")
        if flags & ACK:
            if R.nxt is not None and after(ack, R.nxt):
                gap = (ack - R.nxt) & MASK
                R.unseen += gap
                R.nxt = ack
                self._note(c, k, f"This ACK covers {gap} octet(s) of the {other}'s that the "
                                 f"capture never saw: lost before the capture point, or missed "
                                 f"by the capture.", "ACKed unseen")
            order = R.order
            if order and not after(order[0][0], ack):
                recent = R.recent
                if len(recent) > 16:
                    recent.clear()
                while order and not after(order[0][0], ack):
                    s0 = order.popleft()[1]
                    t0 = R.sent.pop(s0, None)
                    if t0 is not None:
                        recent[s0] = t0
                if not order:
                    R.order = None
            if R.chain and R.chain_seq is not None and after(ack, R.chain_seq):
                R.chain = ()
                R.chain_seq = None
            S.ack = ack
        win = seg.window
        if win == 0 and S.win != 0:
            S.zero_windows += 1
            self._note(c, k, "", None)
        S.win = win
        S.bytes += n
        if n:
            S.data_pkts += 1
        if S.nxt is None:                         # first segment from a side we join late
            S.nxt = (seq + slen) & MASK
            if slen:
                S.sent[seq] = t
                if S.order is None:
                    S.order = deque()
                S.order.append((S.nxt, seq))
            return
        nxt = S.nxt
        if R.win == 0 and n <= 1 and not flags & FIN and (seq == nxt or seq == (nxt - 1) & MASK):
            S.probes += 1               # persist timer: RFC 9293 §3.8.6.1
            if seq == nxt and n:
                S.nxt = (nxt + 1) & MASK
            self._note(c, k, "", "window probe")
            return
        if n <= 1 and not flags & FIN and seq == (nxt - 1) & MASK and R.ack == nxt:
            S.keepalives += 1
            if c.ka is None:
                c.ka, c.ka_unanswered = {}, {}
            prev = c.ka.get(S.ep)
            c.ka[S.ep] = R.packets
            if prev is not None and prev == R.packets:
                c.ka_unanswered[S.ep] = c.ka_unanswered.get(S.ep, 0) + 1
                self._note(c, k, f"The previous keep-alive probe got no answer: the {other} "
                                 f"is unreachable, or gone; if it lost the connection while the "
                                 f"{who} keeps it, the connection is half-open (RFC 9293 "
                                 f"§3.5.1).", "unanswered")
            else:
                c.ka_unanswered[S.ep] = 0
            return
        if not slen:
            if seq != nxt and after(seq, nxt):
                self._gap(c, S, k, nxt, seq, t)
                S.nxt = seq
            return
        end = (seq + slen) & MASK
        if after(end, nxt):
            if after(seq, nxt):
                self._gap(c, S, k, nxt, seq, t)
            elif seq != nxt:
                self._rexmit(c, S, k, seq, t, "data")
            else:
                S.sent[seq] = t
            if seq not in S.sent:
                S.sent[seq] = t
            if S.order is None:
                S.order = deque()
            S.order.append((end, seq))
            S.nxt = end
            return
        if dup:
            return
        for i, (g0, g1, gt) in enumerate(S.gaps):
            if not after(g0, seq) and after(g1, seq):
                del S.gaps[i]
                if t - gt < 0.5 * max(self._rtt(c), 0.002):
                    S.ooo += 1
                    self._note(c, k, f"Out of order: this segment fills a hole a later one "
                                     f"left {fmt_iv(t - gt)} ago, sooner than any "
                                     f"retransmission could: it was overtaken on the way.",
                               "out-of-order")
                    return
                break
        self._rexmit(c, S, k, seq, t, "FIN" if flags & FIN and not n else "data")

    def _gap(self, c: Conn, S: Side, k: int, frm: int, to: int, t: float) -> None:
        size = (to - frm) & MASK
        if not S.gaps:
            S.gaps = []
        if len(S.gaps) < 64:
            S.gaps.append((frm, to, t))
        self._note(c, k, f"{size} octet(s) before this segment were not seen: a segment was "
                         f"lost before the capture point, is arriving out of order, or the "
                         f"capture missed it.", "previous segment not seen")

    def _rtt(self, c: Conn) -> float:
        if c.a.syn_t is not None and c.b.syn_t is not None:
            return abs(c.b.syn_t - c.a.syn_t) * 2
        return 0.0

    # ------------------------------------------------------------------ end
    def finish(self) -> list[Conn]:
        """Conclude every connection (how it ended; half-open; floods) and return them."""
        half: dict[str, list[Conn]] = {}
        for c in self.conns:
            a, b = c.a, c.b
            if b.state == SYN_RECEIVED and a.state != ESTABLISHED:
                half.setdefault(b.ep, []).append(c)
            c.ended = self._ending(c)
        for ep, cs in half.items():
            if len(cs) >= FLOOD_HALF_OPEN:
                rex = sum(x.b.syn_rexmits for x in cs)
                for x in cs:
                    x.flood = True
                    x.notes.append(f"one of {len(cs)} half-open connections to {ep} "
                                   f"({rex} SYN,ACK retransmissions, no ACK): a SYN flood?")
        return self.conns

    def _ending(self, c: Conn) -> str:
        a, b = c.a, c.b
        if c.refused:
            return "refused (RST to the SYN)"
        if c.rst_by is not None:
            return f"reset by {c.rst_by}: {c.rst_reason}"
        if a.state == SYN_SENT and b.isn is None:
            return f"no answer (SYN sent {1 + a.syn_rexmits} times)"
        if b.state == SYN_RECEIVED and a.state != ESTABLISHED:
            return f"handshake not completed (SYN,ACK sent {1 + b.syn_rexmits} times, no ACK)"
        for s in (a, b):
            if c.ka_unanswered and c.ka_unanswered.get(s.ep, 0) >= 2:
                return (f"{c.ka_unanswered[s.ep]} keep-alive probes from {c.name(s)} unanswered "
                        f"(peer gone: half-open)")
        if a.fin is not None and b.fin is not None:
            assert a.fin_t is not None and b.fin_t is not None
            if abs(a.fin_t - b.fin_t) < 1e-9 or (a.state == b.state == TIME_WAIT):
                return "closed: FIN both ways (simultaneous close)"
            first = a if a.fin_t < b.fin_t else b
            return f"closed: FIN both ways ({c.name(first)} first)"
        for s in (a, b):
            if s.fin is not None:
                return f"half-closed: FIN from {c.name(s)} only"
        return "open at the end of the capture"

    def run(self, packets: Iterable[Packet]) -> list[Conn]:
        feed = self.feed
        for p in packets:
            feed(p)
        return self.finish()


def fmt_iv(s: float) -> str:
    if s >= 10:
        return f"{s:.0f} s"
    if s >= 1:
        return f"{s:.2f}".rstrip("0").rstrip(".") + " s"
    if s >= 0.001:
        return f"{s * 1000:.0f} ms"
    return f"{s * 1e6:.0f} µs"
